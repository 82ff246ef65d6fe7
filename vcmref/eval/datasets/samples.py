"""scikit-image's sample photographs as a dataset (``dataset.kind: skimage``): the images named
(default: astronaut, coffee, chelsea, rocket) are written as PNG files to a folder once, then
read as an image folder. Grayscale samples become three equal channels; an alpha channel is
dropped."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vcmref.eval.datasets.base import Dataset, DatasetKind
from vcmref.eval.datasets.folder import image_folder
from vcmref.fileio import write_atomic
from vcmref.params import Param, ParamError
from vcmref.registry import DATASETS

SKIMAGE_DEFAULT = ("astronaut", "coffee", "chelsea", "rocket")


def write_samples(names: list[str], folder: Path) -> None:
    """FOLDER/NAME.png for each sample image (written whole: temporary file, then rename)."""
    import skimage.data
    from PIL import Image

    for name in names:
        fn = getattr(skimage.data, name, None)
        if not callable(fn):
            raise ValueError(f"scikit-image has no sample image {name!r}")
        image = np.asarray(fn())
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        buf = io.BytesIO()
        Image.fromarray(image[:, :, :3].astype(np.uint8)).save(buf, format="PNG")
        write_atomic(Path(folder) / f"{name}.png", buf.getvalue())


def sample_dataset(folder: str | Path, names: list[str] | None = None) -> Dataset:
    """The sample images `names` (default SKIMAGE_DEFAULT) as an image folder at `folder`
    (written there first when not all are)."""
    folder = Path(folder)
    names = list(names or SKIMAGE_DEFAULT)
    if not all((folder / f"{n}.png").is_file() for n in names):
        write_samples(names, folder)
    return image_folder(folder)


@DATASETS.register("skimage")
class SkimageKind(DatasetKind):
    """``dataset.kind: skimage``: ``names``, scikit-image sample photographs (skimage.data)."""

    parameters = (Param("names", list, optional=True, items=str,
                        doc=f"sample images of skimage.data (default: "
                            f"{', '.join(SKIMAGE_DEFAULT)})"),)
    load = staticmethod(sample_dataset)

    def check_inputs(self) -> None:
        import skimage.data

        for k, name in enumerate(self.settings.get("names") or []):
            if not callable(getattr(skimage.data, str(name), None)):
                raise ParamError(f"names[{k}]", f"expected a scikit-image sample image "
                                 f"(skimage.data), got {name!r}")

    def open(self, scratch: Path) -> Dataset:
        return sample_dataset(scratch, self.settings.get("names"))
