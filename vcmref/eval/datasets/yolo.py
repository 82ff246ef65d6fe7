"""YOLO text labels converted to COCO boxes.

Each image ``<stem>.<ext>`` in the image folder has its labels in ``<stem>.txt`` in the label
folder, one object a line: ``class cx cy w h``, the class an integer index into `class_names`
and the box centre and size normalized by the image width and height (in [0, 1]). Blank lines
are skipped. An image with no label file has no objects (YOLO's convention for background
images). Label files without an image are an error (a likely typo in a name).

Conversion with the image's size W x H, read from its header by Pillow (no decoding):
``[x, y, w, h] = [(cx - w/2) W, (cy - h/2) H, w W, h H]`` in pixels, continuous coordinates.
Category ids are ``category_ids[class]`` when given (e.g. COCO's 1..90 ids for a model trained
on the 80 COCO classes), else ``class + 1``. Image ids are 1 + the position of the image in the
image files sorted by name.
"""

from __future__ import annotations

import math
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


def parse_yolo_labels(file: str | Path, num_classes: int, width: int, height: int
                      ) -> list[tuple[int, list[float]]]:
    """(class index, COCO [x, y, w, h] in pixels) for each line of a YOLO label file."""
    file = Path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(file, None, f"not UTF-8 text: {exc.reason}") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {n}"
        if len(fields) != 5:
            raise DatasetError(file, where, f"expected 5 fields 'class cx cy w h', got "
                               f"{len(fields)}: {line.strip()!r}")
        if not fields[0].isdigit():
            raise DatasetError(file, f"{where} class", f"expected a class index, "
                               f"got {fields[0]!r}")
        cls = int(fields[0])
        if cls >= num_classes:
            raise DatasetError(file, f"{where} class", f"class {cls} is outside "
                               f"[0, {num_classes - 1}] ({num_classes} class names)")
        values = []
        for name, s in zip(("cx", "cy", "w", "h"), fields[1:], strict=True):
            try:
                v = float(s)
            except ValueError:
                raise DatasetError(file, f"{where} {name}",
                                   f"expected a number, got {s!r}") from None
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise DatasetError(file, f"{where} {name}",
                                   f"expected a normalized value in [0, 1], got {s}")
            values.append(v)
        cx, cy, w, h = values
        out.append((cls, [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]))
    return out


def yolo_dataset(images_dir: str | Path, labels_dir: str | Path, class_names: Sequence[str],
                 *, category_ids: Sequence[int] | None = None,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS) -> Dataset:
    """Images in `images_dir` with YOLO labels in `labels_dir` (see the module docstring)."""
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    names = list(class_names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"class_names must be non-empty and distinct, got {names}")
    ids = list(range(1, len(names) + 1)) if category_ids is None else list(category_ids)
    if len(ids) != len(names) or len(set(ids)) != len(ids):
        raise ValueError(f"category_ids must be {len(names)} distinct integers, got {ids}")
    if not labels_dir.is_dir():
        raise DatasetError(labels_dir, None, "label folder not found")
    images = find_images(images_dir, extensions, what="image")
    if not images:
        raise DatasetError(images_dir, None, "no image files")
    stems = [p.stem for p in images]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise DatasetError(images_dir, None, f"several images share a name: {listed(dup)}")
    known = set(stems)
    orphans = sorted(p.name for p in labels_dir.glob("*.txt") if p.stem not in known)
    if orphans:
        raise DatasetError(labels_dir, None, f"label files without an image in {images_dir}: "
                           f"{listed(orphans)}")
    items, next_ann = [], 1
    for index, image in enumerate(images, start=1):
        width, height = image_size(image)
        label = labels_dir / (image.stem + ".txt")
        anns = []
        if label.is_file():
            for cls, bbox in parse_yolo_labels(label, len(names), width, height):
                anns.append({"id": next_ann, "image_id": index, "category_id": ids[cls],
                             "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0})
                next_ann += 1
        items.append(Item(id=index, name=image.stem, path=image, width=width, height=height,
                          annotations=tuple(anns)))
    cats = [{"id": i, "name": n} for i, n in zip(ids, names, strict=True)]
    return Dataset(items, kind="yolo", source=labels_dir, categories=cats)


@DATASETS.register("yolo")
class YoloKind(DatasetKind):
    """``dataset.kind: yolo``: ``images``, ``labels`` (one .txt per image), ``class_names``
    and optional ``category_ids`` (default 1..N)."""

    annotated = True
    parameters = (Param("images", str, doc="the image folder"),
                  Param("labels", str, doc="the folder of YOLO label files"),
                  Param("class_names", list, items=str),
                  Param("category_ids", list, optional=True, items=int))
    required = ("images", "labels", "class_names")
    load = staticmethod(yolo_dataset)

    def check_inputs(self) -> None:
        self.need_folder("images", "a folder of images")
        self.need_folder("labels", "a folder of YOLO label files")

    def open(self, scratch: Path) -> Dataset:
        s = self.settings
        return yolo_dataset(s["images"], s["labels"], s["class_names"],
                            category_ids=s.get("category_ids"))
