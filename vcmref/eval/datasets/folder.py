"""A plain folder of images, without annotations (for PSNR-only runs).

Images are the files directly in the folder whose suffix is one of `extensions`
(case-insensitive); names are the file stems; ids are 1 + the position in the files sorted by
name (so ``kodim01`` .. ``kodim24`` get ids 1..24). Sizes come from the image headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vcmref.eval.datasets.base import (
    IMAGE_EXTENSIONS,
    Dataset,
    DatasetError,
    DatasetKind,
    Item,
    find_images,
    image_size,
    listed,
)
from vcmref.params import Param
from vcmref.registry import DATASETS


def image_folder(directory: str | Path,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS) -> Dataset:
    """Every image in `directory` (not recursive), in name order."""
    directory = Path(directory)
    images = find_images(directory, extensions, what="image")
    if not images:
        raise DatasetError(directory, None, f"no image files with suffix {listed(extensions)}")
    stems = [p.stem for p in images]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DatasetError(directory, None, f"several images share a name: {listed(dup)}")
    items = []
    for index, path in enumerate(images, start=1):
        width, height = image_size(path)
        items.append(Item(id=index, name=path.stem, path=path, width=width, height=height))
    return Dataset(items, kind="folder", source=directory, annotated=False)


@DATASETS.register("folder")
class FolderKind(DatasetKind):
    """``dataset.kind: folder``: ``images``, a folder of images without annotations."""

    parameters = (Param("images", str, doc="the image folder"),)
    required = ("images",)
    load = staticmethod(image_folder)

    def check_inputs(self) -> None:
        self.need_folder("images", "a folder of images")

    def open(self, scratch: Path) -> Dataset:
        return image_folder(self.settings["images"])
