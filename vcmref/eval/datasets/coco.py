"""COCO instance annotations (a JSON file) with a folder of images.

The JSON is checked field by field before use; every error names the file and the field, with
its index: ``instances.json: annotations[12].bbox: expected 4 numbers, got 3``.

Required: ``images[].id`` (int), ``images[].file_name`` (str, relative to the image folder),
``images[].width`` / ``height`` (positive ints); ``annotations[].image_id`` and
``category_id`` (ints naming an image and a category of the file), ``annotations[].bbox``
(``[x, y, w, h]``, 4 finite numbers, w and h >= 0); ``categories[].id`` (int) and ``name`` (str).
Checked when present: ``annotations[].id`` (int, unique), ``iscrowd`` (0 or 1), ``area``
(number >= 0). Everything else (segmentation, licences, urls) is kept untouched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vcmref.eval.datasets.base import (
    Dataset,
    DatasetError,
    DatasetKind,
    Item,
    image_size,
    listed,
)
from vcmref.params import Param
from vcmref.registry import DATASETS


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _type_name(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", int: "an integer", float: "a number"}.get(type(v), type(v).__name__)


class _Checker:
    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, field: str, reason: str) -> DatasetError:
        return DatasetError(self.file, field, reason)

    def list_of_objects(self, doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
        if key not in doc:
            raise self.fail(key, "missing")
        value = doc[key]
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {_type_name(value)}")
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                raise self.fail(f"{key}[{i}]", f"expected an object, got {_type_name(entry)}")
        return value

    def field(self, entry: dict[str, Any], where: str, key: str, kind: str,
              *, required: bool = True) -> Any:
        if key not in entry:
            if required:
                raise self.fail(f"{where}.{key}", "missing")
            return None
        v = entry[key]
        ok = {"int": _is_int(v), "positive int": _is_int(v) and v > 0,
              "str": isinstance(v, str) and v != "", "number": _is_number(v),
              "0 or 1": _is_int(v) and v in (0, 1)}[kind]
        if not ok:
            want = {"int": "an integer", "positive int": "a positive integer",
                    "str": "a non-empty string", "number": "a finite number",
                    "0 or 1": "0 or 1"}[kind]
            raise self.fail(f"{where}.{key}", f"expected {want}, got {v!r}")
        return v


def read_coco_json(annotations_json: str | Path) -> dict[str, Any]:
    """Load and check a COCO instances file (see the module docstring); returns the dict."""
    path = Path(annotations_json)
    if not path.is_file():
        raise DatasetError(path, None, "annotation file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(path, None, f"not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, None, f"not UTF-8 text: {exc.reason}") from None
    if not isinstance(doc, dict):
        raise DatasetError(path, None, f"expected a JSON object at the top, "
                           f"got {_type_name(doc)}")
    c = _Checker(path)
    images = c.list_of_objects(doc, "images")
    anns = c.list_of_objects(doc, "annotations")
    cats = c.list_of_objects(doc, "categories")

    cat_ids: set[int] = set()
    for i, cat in enumerate(cats):
        cid = c.field(cat, f"categories[{i}]", "id", "int")
        c.field(cat, f"categories[{i}]", "name", "str")
        if cid in cat_ids:
            raise c.fail(f"categories[{i}].id", f"category id {cid} is used twice")
        cat_ids.add(cid)
    image_ids: set[int] = set()
    for i, img in enumerate(images):
        where = f"images[{i}]"
        iid = c.field(img, where, "id", "int")
        c.field(img, where, "file_name", "str")
        c.field(img, where, "width", "positive int")
        c.field(img, where, "height", "positive int")
        if iid in image_ids:
            raise c.fail(f"{where}.id", f"image id {iid} is used twice")
        image_ids.add(iid)
    ann_ids: set[int] = set()
    for i, ann in enumerate(anns):
        where = f"annotations[{i}]"
        iid = c.field(ann, where, "image_id", "int")
        if iid not in image_ids:
            raise c.fail(f"{where}.image_id", f"image id {iid} is not in images")
        cid = c.field(ann, where, "category_id", "int")
        if cid not in cat_ids:
            raise c.fail(f"{where}.category_id", f"category id {cid} is not in categories")
        if "bbox" not in ann:
            raise c.fail(f"{where}.bbox", "missing")
        bbox = ann["bbox"]
        if not isinstance(bbox, list):
            raise c.fail(f"{where}.bbox", f"expected a list of 4 numbers, got {bbox!r}")
        if len(bbox) != 4:
            raise c.fail(f"{where}.bbox", f"expected 4 numbers, got {len(bbox)}")
        if not all(_is_number(v) for v in bbox):
            raise c.fail(f"{where}.bbox", f"expected 4 finite numbers, got {bbox!r}")
        if bbox[2] < 0 or bbox[3] < 0:
            raise c.fail(f"{where}.bbox", f"width and height must be >= 0, got {bbox!r}")
        aid = c.field(ann, where, "id", "int", required=False)
        if aid is not None:
            if aid in ann_ids:
                raise c.fail(f"{where}.id", f"annotation id {aid} is used twice")
            ann_ids.add(aid)
        c.field(ann, where, "iscrowd", "0 or 1", required=False)
        area = c.field(ann, where, "area", "number", required=False)
        if area is not None and area < 0:
            raise c.fail(f"{where}.area", f"must be >= 0, got {area!r}")
    return doc


def coco_dataset(annotations_json: str | Path, image_dir: str | Path, *,
                 check_sizes: bool = False) -> Dataset:
    """A COCO instances file with its image folder.

    Every image record's file must exist under `image_dir` (a clear error lists the first few
    missing). Widths and heights come from the JSON; with ``check_sizes`` each image header is
    read too and must agree. Item names are the ``file_name`` stems.
    """
    path = Path(annotations_json)
    image_dir = Path(image_dir)
    doc = read_coco_json(path)
    if not image_dir.is_dir():
        raise DatasetError(image_dir, None, "image folder not found")
    by_image: dict[int, list[dict[str, Any]]] = {img["id"]: [] for img in doc["images"]}
    for ann in doc["annotations"]:
        by_image[ann["image_id"]].append(ann)
    items, missing = [], []
    for img in doc["images"]:
        file = image_dir / img["file_name"]
        if not file.is_file():
            missing.append(img["file_name"])
            continue
        items.append(Item(id=img["id"], name=Path(img["file_name"]).stem, path=file,
                          width=img["width"], height=img["height"],
                          annotations=tuple(by_image[img["id"]]), record=img))
    if missing:
        raise DatasetError(path, "images[].file_name", f"{len(missing)} of "
                           f"{len(doc['images'])} image files are missing from {image_dir}: "
                           f"{listed(missing)}")
    if check_sizes:
        for it in items:
            size = image_size(it.path)
            if size != (it.width, it.height):
                raise DatasetError(path, f"images[id={it.id}].width/height",
                                   f"the JSON says {it.width}x{it.height}, {it.path.name} is "
                                   f"{size[0]}x{size[1]}")
    return Dataset(items, kind="coco", source=path, categories=doc["categories"])


@DATASETS.register("coco")
class CocoKind(DatasetKind):
    """``dataset.kind: coco``: ``images`` (the image folder) and ``annotations`` (the COCO
    instances JSON)."""

    annotated = True
    parameters = (Param("images", str, doc="the image folder"),
                  Param("annotations", str, doc="the COCO instances JSON"))
    required = ("images", "annotations")
    load = staticmethod(coco_dataset)

    def check_inputs(self) -> None:
        self.need_folder("images", "a folder of images")
        self.need_file("annotations", "a COCO annotations file")

    def open(self, scratch: Path) -> Dataset:
        return coco_dataset(self.settings["annotations"], self.settings["images"])
