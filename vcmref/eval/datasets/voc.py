"""Pascal VOC detection annotations: one XML file per image, parsed with lxml.

Read per file: ``filename`` (optional; else the XML stem plus the image suffix found),
``size/width`` and ``size/height`` (positive integers), and for each ``object`` its ``name``
(a class of the class list), ``bndbox/xmin, ymin, xmax, ymax`` (numbers) and ``difficult``
(0 or 1, absent means 0).

Coordinates: VOC boxes are 1-based inclusive pixel indices (pixel ``i`` covers the continuous
interval ``[i - 1, i]``). The COCO box is therefore
``[xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]`` (the conversion of Detectron2's VOC
loader); boxes are not clipped. ``xmax >= xmin`` and ``ymax >= ymin`` are required.

Difficult objects are kept with ``"iscrowd": 1`` (and ``"ignore": 1``, ``"difficult": 1``):
COCOeval then neither counts them as misses nor counts detections matched to them as false
positives, which is the VOC devkit's rule. ``iscrowd`` is the only flag pycocotools honours:
its ``COCOeval._prepare`` overwrites ``ignore`` with ``iscrowd``. The price is that a detection
is matched to a difficult object by crowd overlap (intersection over the detection's area)
rather than IoU, so slightly more detections near difficult objects are ignored than by the
devkit. With ``include_difficult=False`` difficult objects are left out altogether (detections
on them then count as false positives). Every annotation carries ``"difficult": 0/1``.

Category ids are 1 + the class's position in the class list (the 20 VOC classes in their
standard order by default); image ids are 1 + the position of the XML file in name order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vcmref.eval.datasets.base import (
    IMAGE_EXTENSIONS,
    Dataset,
    DatasetError,
    DatasetKind,
    Item,
    listed,
)
from vcmref.params import Param
from vcmref.registry import DATASETS

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


def _text(file: Path, parent: Any, tag: str, where: str) -> str:
    found = parent.find(tag)
    if found is None:
        raise DatasetError(file, f"{where}/{tag}", "missing")
    text = (found.text or "").strip()
    if not text:
        raise DatasetError(file, f"{where}/{tag}", "empty")
    return text


def _number(file: Path, parent: Any, tag: str, where: str) -> float:
    text = _text(file, parent, tag, where)
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(file, f"{where}/{tag}", f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DatasetError(file, f"{where}/{tag}", f"expected a finite number, got {text!r}")
    return value


def _positive_int(file: Path, parent: Any, tag: str, where: str) -> int:
    text = _text(file, parent, tag, where)
    if not text.isdigit() or int(text) <= 0:
        raise DatasetError(file, f"{where}/{tag}", f"expected a positive integer, got {text!r}")
    return int(text)


def parse_voc_xml(file: str | Path, class_names: Sequence[str] = VOC_CLASSES,
                  *, include_difficult: bool = True) -> dict[str, Any]:
    """One VOC XML file as ``{"filename", "width", "height", "objects": [annotation, ...]}``,
    each annotation a COCO dict without ``id``/``image_id`` (see the module docstring)."""
    from lxml import etree

    file = Path(file)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.parse(str(file), parser).getroot()
    except OSError:
        raise DatasetError(file, None, "annotation file not found or unreadable") from None
    except etree.XMLSyntaxError as exc:
        raise DatasetError(file, None, f"not well-formed XML: {exc}") from None
    if root.tag != "annotation":
        raise DatasetError(file, root.tag, "the root element must be <annotation>")
    fn = root.find("filename")
    filename = (fn.text or "").strip() if fn is not None else ""
    size = root.find("size")
    if size is None:
        raise DatasetError(file, "annotation/size", "missing")
    width = _positive_int(file, size, "width", "annotation/size")
    height = _positive_int(file, size, "height", "annotation/size")
    class_ids = {name: i + 1 for i, name in enumerate(class_names)}
    objects = []
    for k, obj in enumerate(root.findall("object")):
        where = f"annotation/object[{k + 1}]"
        name = _text(file, obj, "name", where)
        if name not in class_ids:
            raise DatasetError(file, f"{where}/name", f"class {name!r} is not in the class "
                               f"list ({listed(list(class_names))})")
        difficult = 0
        if obj.find("difficult") is not None:
            d = _text(file, obj, "difficult", where)
            if d not in ("0", "1"):
                raise DatasetError(file, f"{where}/difficult", f"expected 0 or 1, got {d!r}")
            difficult = int(d)
        box = obj.find("bndbox")
        if box is None:
            raise DatasetError(file, f"{where}/bndbox", "missing")
        bw = f"{where}/bndbox"
        xmin, ymin = _number(file, box, "xmin", bw), _number(file, box, "ymin", bw)
        xmax, ymax = _number(file, box, "xmax", bw), _number(file, box, "ymax", bw)
        if xmax < xmin or ymax < ymin:
            raise DatasetError(file, bw, f"xmax/ymax ({xmax:g}, {ymax:g}) below xmin/ymin "
                               f"({xmin:g}, {ymin:g})")
        if difficult and not include_difficult:
            continue
        w, h = xmax - xmin + 1.0, ymax - ymin + 1.0
        objects.append({"category_id": class_ids[name], "bbox": [xmin - 1.0, ymin - 1.0, w, h],
                        "area": w * h, "iscrowd": difficult, "ignore": difficult,
                        "difficult": difficult})
    return {"filename": filename, "width": width, "height": height, "objects": objects}


def voc_dataset(annotations_dir: str | Path, image_dir: str | Path,
                class_names: Sequence[str] | None = None, *,
                include_difficult: bool = True) -> Dataset:
    """Every ``*.xml`` in `annotations_dir` (VOC's ``Annotations/``) with its image in
    `image_dir` (``JPEGImages/``): the XML's ``filename`` when that file exists, else the XML
    stem with the first image suffix found. A missing image is an error naming the XML file."""
    ann_dir, image_dir = Path(annotations_dir), Path(image_dir)
    names = tuple(VOC_CLASSES if class_names is None else class_names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"class_names must be non-empty and distinct, got {list(names)}")
    if not ann_dir.is_dir():
        raise DatasetError(ann_dir, None, "annotation folder not found")
    if not image_dir.is_dir():
        raise DatasetError(image_dir, None, "image folder not found")
    xml_files = sorted(p for p in ann_dir.iterdir() if p.suffix.lower() == ".xml")
    if not xml_files:
        raise DatasetError(ann_dir, None, "no .xml annotation files")
    items, next_ann = [], 1
    for index, xml in enumerate(xml_files, start=1):
        parsed = parse_voc_xml(xml, names, include_difficult=include_difficult)
        image = image_dir / parsed["filename"] if parsed["filename"] else None
        if image is None or not image.is_file():
            candidates = [image_dir / (xml.stem + ext) for ext in IMAGE_EXTENSIONS]
            image = next((c for c in candidates if c.is_file()), None)
        if image is None:
            raise DatasetError(xml, "annotation/filename", f"no image "
                               f"{parsed['filename'] or xml.stem + '.*'} in {image_dir}")
        anns = []
        for obj in parsed["objects"]:
            anns.append({"id": next_ann, "image_id": index, **obj})
            next_ann += 1
        items.append(Item(id=index, name=xml.stem, path=image, width=parsed["width"],
                          height=parsed["height"], annotations=tuple(anns)))
    cats = [{"id": i + 1, "name": n, "supercategory": "none"} for i, n in enumerate(names)]
    return Dataset(items, kind="voc", source=ann_dir, categories=cats)


@DATASETS.register("voc")
class VocKind(DatasetKind):
    """``dataset.kind: voc``: ``annotations`` (VOC's Annotations/ folder of XML files),
    ``images`` (JPEGImages/), optional ``class_names`` (default: the 20 VOC classes, ids 1..20
    in that order)."""

    annotated = True
    parameters = (Param("annotations", str, doc="the folder of VOC XML files"),
                  Param("images", str, doc="the image folder"),
                  Param("class_names", list, optional=True, items=str))
    required = ("annotations", "images")
    load = staticmethod(voc_dataset)

    def check_inputs(self) -> None:
        self.need_folder("annotations", "a folder of VOC XML annotations")
        self.need_folder("images", "a folder of images")

    def open(self, scratch: Path) -> Dataset:
        s = self.settings
        return voc_dataset(s["annotations"], s["images"], s.get("class_names"))
