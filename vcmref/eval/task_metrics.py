"""Machine-task metrics: COCO mAP through pycocotools, top-k accuracy (docs/metrics.md).

COCO detection / instance segmentation
    ``coco_map`` runs pycocotools' ``COCOeval`` with its default parameters (IoU thresholds
    .50:.05:.95, 101 recall points, area ranges all/small/medium/large, maxDets 1/10/100) and
    returns its 12 summary numbers unchanged (``stats``; -1 where a range has no ground truth),
    ``map`` = stats[0] (AP@[.5:.95], area all, maxDets 100), ``map50`` = stats[1],
    ``map75`` = stats[2]. Per-class AP is read from ``COCOeval.eval['precision']`` (shape
    T x R x K x A x M) the standard way (detectron2's): for class k, the mean over IoU
    thresholds and recall points of ``precision[:, :, k, area 'all', maxDets 100]`` ignoring -1
    entries; a class with no (non-crowd) ground truth in the evaluated images gets NaN. No
    detections at all gives AP 0 (pycocotools' ``loadRes`` cannot take an empty list; an empty
    result set is built instead, which is what COCOeval would see).
Class-level mAP over sequences
    ``pooled_map`` merges the ground truths of several sequences into one COCO set (image and
    annotation ids renumbered, category ids kept) and the detections accordingly, then
    evaluates once. Each class's precision/recall curve then ranks all its detections over all
    sequences against all its instances, so every instance counts the same; averaging
    per-sequence mAPs instead would weight a class seen 3 times in one sequence like one seen
    300 times in another, and would drop or zero classes absent from a sequence.
Classification
    ``topk_accuracy``: the fraction of samples whose label is among the k highest scores
    (ties broken toward the lower class index) or among the first k entries of a ranked list.
Extending
    ``TaskMetric`` is the accumulate-then-report interface (``reset``, ``update(predictions,
    ground_truth)``, ``result()``) that the harness drives per picture or per sequence; a
    tracking metric (MOTA: ``1 - (FN + FP + IDSW) / GT`` summed over frames) is added by
    subclassing it, its ``update`` taking one frame's tracks and ground-truth boxes.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import numbers
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.eval.metric import Metric
from vcmref.registry import METRICS

__all__ = [
    "CocoMap", "MapResult", "TaskMetric", "TopKAccuracy", "coco_map", "pooled_map",
    "topk_accuracy",
]

IOU_TYPES = ("bbox", "segm")
STAT_NAMES = (
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)


def _pycocotools():
    try:
        from pycocotools import mask as mask_utils
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError("COCO mAP needs pycocotools: pip install pycocotools") from None
    return COCO, COCOeval, mask_utils


@dataclass(frozen=True)
class MapResult:
    """COCO evaluation: AP@[.5:.95], AP@.5, AP@.75, per-class APs and the 12 COCO stats."""

    map: float
    map50: float
    map75: float
    per_class: dict[int, float]
    per_class50: dict[int, float]
    stats: tuple[float, ...]
    category_names: dict[int, str] = field(default_factory=dict)
    iou_type: str = "bbox"
    num_images: int = 0
    num_detections: int = 0

    def per_class_by_name(self) -> dict[str, float]:
        return {self.category_names.get(k, str(k)): v for k, v in self.per_class.items()}

    def as_dict(self) -> dict[str, Any]:
        return {"iou_type": self.iou_type, "map": self.map, "map50": self.map50,
                "map75": self.map75, "stats": dict(zip(STAT_NAMES, self.stats, strict=True)),
                "per_class": self.per_class_by_name(), "num_images": self.num_images,
                "num_detections": self.num_detections}


# ---------------------------------------------------------------------------------------------
# loading and checking


def _load_json(source: object, what: str) -> Any:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{what}: {path} not found") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{what}: {path} is not JSON ({exc})") from None
    return _copy(source)


def _copy(source: object) -> object:
    """Copies of the dicts pycocotools assigns keys to (it never mutates values in place)."""
    if isinstance(source, dict):
        return {k: [dict(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list)
                else copy.deepcopy(v) for k, v in source.items()}
    if isinstance(source, list):
        return [dict(x) if isinstance(x, dict) else x for x in source]
    return source


def _ground_truth(source: object) -> dict:
    gt = _load_json(source, "ground truth")
    if not isinstance(gt, dict) or not all(
            isinstance(gt.get(k), list) for k in ("images", "annotations", "categories")):
        raise ValueError("ground truth: expected a COCO dict with 'images', 'annotations' and "
                         "'categories' lists")
    return gt


def _detections(source: object, gt: dict, iou_type: str) -> list[dict]:
    dets = _load_json(source, "detections")
    if not isinstance(dets, list):
        raise ValueError("detections: expected a list of COCO result dicts")
    image_ids = {img["id"] for img in gt["images"]}
    cat_ids = {c["id"] for c in gt["categories"]}
    key = "bbox" if iou_type == "bbox" else "segmentation"
    for i, d in enumerate(dets):
        if not isinstance(d, dict) or not all(k in d for k in ("image_id", "category_id",
                                                               "score", key)):
            raise ValueError(f"detection {i}: expected a dict with image_id, category_id, score "
                             f"and {key}")
        if d["image_id"] not in image_ids:
            raise ValueError(f"detection {i}: image_id {d['image_id']!r} is not an image of the "
                             "ground truth")
        if d["category_id"] not in cat_ids:
            raise ValueError(f"detection {i}: category_id {d['category_id']!r} is not a "
                             "category of the ground truth (check the label-to-id mapping)")
        s = d["score"]
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s):
            raise ValueError(f"detection {i}: score {s!r}, expected a finite number")
        if iou_type == "bbox":
            b = d["bbox"]
            if (not isinstance(b, list | tuple) or len(b) != 4
                    or not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in b)):
                raise ValueError(f"detection {i}: bbox {b!r}, expected [x, y, width, height] "
                                 "finite numbers")
    return dets


def _coco(dataset: dict):
    COCO, _, _ = _pycocotools()  # noqa: N806
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _results(coco_gt, dets: list[dict], iou_type: str):
    """pycocotools' loadRes, with polygon segmentations turned into RLE and [] allowed."""
    _, _, mask_utils = _pycocotools()
    if iou_type == "segm":
        for d in dets:
            seg = d["segmentation"]
            if isinstance(seg, list):  # polygons -> one RLE on the image's size
                img = coco_gt.imgs[d["image_id"]]
                d["segmentation"] = mask_utils.merge(
                    mask_utils.frPyObjects(seg, img["height"], img["width"]))
    if dets:
        with contextlib.redirect_stdout(io.StringIO()):
            return coco_gt.loadRes(dets)
    return _coco({"info": copy.deepcopy(coco_gt.dataset.get("info", {})),
                  "images": list(coco_gt.dataset["images"]),
                  "categories": copy.deepcopy(coco_gt.dataset["categories"]),
                  "annotations": []})


def _per_class(ev, iou_index: slice | int) -> dict[int, float]:
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    a = ev.params.areaRngLbl.index("all")
    m = ev.params.maxDets.index(100)
    out = {}
    for k, cat in enumerate(ev.params.catIds):
        p = precision[iou_index, :, k, a, m]
        p = p[p > -1]
        out[int(cat)] = float(np.mean(p)) if p.size else math.nan
    return out


def _evaluate(gt: dict, dets: list[dict], iou_type: str, image_ids) -> MapResult:
    if iou_type == "segm":
        for ann in gt["annotations"]:
            if "segmentation" not in ann:
                raise ValueError(f"ground truth: annotation {ann.get('id')!r} has no "
                                 "segmentation, expected one for iou_type 'segm'")
    _, COCOeval, _ = _pycocotools()  # noqa: N806
    coco_gt = _coco(gt)
    coco_dt = _results(coco_gt, dets, iou_type)
    ev = COCOeval(coco_gt, coco_dt, iou_type)
    if image_ids is not None:
        ids = sorted(set(image_ids))
        unknown = set(ids) - set(coco_gt.getImgIds())
        if unknown:
            raise ValueError(f"image_ids: {sorted(unknown)[:5]} are not images of the "
                             "ground truth")
        ev.params.imgIds = ids
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = tuple(float(s) for s in ev.stats)
    t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in gt["categories"]}
    return MapResult(stats[0], stats[1], stats[2], _per_class(ev, slice(None)),
                     _per_class(ev, t50), stats, names, iou_type, len(ev.params.imgIds),
                     len(dets))


def _check_iou_type(iou_type: str) -> None:
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")


def coco_map(ground_truth: dict | str | os.PathLike, detections: list[dict] | str | os.PathLike,
             iou_type: str = "bbox", image_ids: Iterable[int] | None = None) -> MapResult:
    """COCO mAP of `detections` (COCO result format) against `ground_truth` (COCO dict or
    JSON path), over `image_ids` (default: every ground-truth image). Inputs are not mutated."""
    _check_iou_type(iou_type)
    gt = _ground_truth(ground_truth)
    dets = _detections(detections, gt, iou_type)
    return _evaluate(gt, dets, iou_type, image_ids)


def pooled_map(sequences: Sequence[tuple[dict | str | os.PathLike, list[dict] | str
                                         | os.PathLike]],
               iou_type: str = "bbox") -> MapResult:
    """Class-level mAP over several sequences: their ground truths pooled, evaluated once.

    `sequences` is a list of (ground truth, detections) pairs, one per sequence. Image and
    annotation ids are renumbered 1.. in sequence order; category ids are kept, and a category
    id must have the same name in every sequence.
    """
    _check_iou_type(iou_type)
    if not sequences:
        raise ValueError("pooled_map: expected at least one (ground truth, detections) pair")
    merged: dict[str, Any] = {"images": [], "annotations": [], "categories": []}
    cats: dict[int, dict] = {}
    all_dets: list[dict] = []
    for s, pair in enumerate(sequences):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"pooled_map: sequence {s} is not a (ground truth, detections) pair")
        gt = _ground_truth(pair[0])
        dets = _detections(pair[1], gt, iou_type)
        for c in gt["categories"]:
            old = cats.get(c["id"])
            if old is not None and old.get("name") != c.get("name"):
                raise ValueError(f"pooled_map: category {c['id']} is {old.get('name')!r} in an "
                                 f"earlier sequence and {c.get('name')!r} in sequence {s}")
            cats.setdefault(c["id"], c)
        new_id = {}
        for img in gt["images"]:
            new_id[img["id"]] = len(merged["images"]) + 1
            merged["images"].append({**img, "id": new_id[img["id"]]})
        for ann in gt["annotations"]:
            if ann["image_id"] not in new_id:
                raise ValueError(f"pooled_map: sequence {s} has an annotation on image "
                                 f"{ann['image_id']!r}, which is not among its images")
            merged["annotations"].append({**ann, "id": len(merged["annotations"]) + 1,
                                          "image_id": new_id[ann["image_id"]]})
        all_dets.extend({**d, "image_id": new_id[d["image_id"]]} for d in dets)
    merged["categories"] = [cats[k] for k in sorted(cats)]
    return _evaluate(merged, all_dets, iou_type, None)


# ---------------------------------------------------------------------------------------------
# classification


def topk_accuracy(scores: object, labels: object, k: Sequence[int] = (1, 5),
                  ranked: bool = False) -> dict[int, float]:
    """Top-k accuracy for each k: the fraction of samples whose label is in their top k.

    `scores` is (N, classes) logits/probabilities (higher is better; ties go to the lower class
    index), or with ``ranked=True`` (N, m) class indices best first, m >= max(k).
    """
    s = np.asarray(scores)
    y = np.asarray(labels)
    if s.ndim != 2 or s.shape[0] == 0:
        raise ValueError(f"topk_accuracy: scores have shape {s.shape}, expected (samples, "
                         "classes) with at least one sample")
    if y.shape != (s.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"topk_accuracy: labels have shape {y.shape} and dtype {y.dtype}, "
                         f"expected ({s.shape[0]},) integers")
    ks = tuple(k)
    if not ks or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                     for v in ks):
        raise ValueError(f"topk_accuracy: k must be positive integers, got {k!r}")
    if max(ks) > s.shape[1]:
        raise ValueError(f"topk_accuracy: k = {max(ks)} exceeds the {s.shape[1]} "
                         f"{'ranked entries' if ranked else 'classes'}")
    if ranked:
        if not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"topk_accuracy: ranked lists have dtype {s.dtype}, expected "
                             "integer class indices")
        order = s
    else:
        if not (np.issubdtype(s.dtype, np.floating) or np.issubdtype(s.dtype, np.integer)) \
                or s.dtype == np.bool_:
            raise ValueError(f"topk_accuracy: scores have dtype {s.dtype}, expected numbers")
        if np.issubdtype(s.dtype, np.floating) and np.isnan(s).any():
            raise ValueError("topk_accuracy: scores hold NaN, expected numbers")
        if int(y.min()) < 0 or int(y.max()) >= s.shape[1]:
            raise ValueError(f"topk_accuracy: labels in [{int(y.min())}, {int(y.max())}], "
                             f"expected [0, {s.shape[1] - 1}]")
        order = np.argsort(-s.astype(np.float64), axis=1, kind="stable")
    hits = order[:, :max(ks)] == y[:, None]
    return {int(v): float(np.mean(hits[:, :v].any(axis=1))) for v in ks}


# ---------------------------------------------------------------------------------------------
# accumulate-then-report interface


class TaskMetric(ABC):
    """A task metric fed piece by piece (pictures, sequences, frames) and read at the end.

    ``update(predictions, ground_truth)`` adds one piece; ``result()`` computes the metric
    over everything added since ``reset()`` (result may be called more than once).
    """

    name: str = "metric"

    def __init__(self) -> None:
        self.reset()

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def update(self, predictions: Any, ground_truth: Any) -> None: ...

    @abstractmethod
    def result(self) -> Any: ...


class CocoMap(TaskMetric):
    """COCO mAP pooled over the (ground truth, detections) pieces given to ``update``."""

    name = "coco_map"

    def __init__(self, iou_type: str = "bbox") -> None:
        _check_iou_type(iou_type)
        self.iou_type = iou_type
        super().__init__()

    def reset(self) -> None:
        self._pieces: list[tuple[Any, Any]] = []

    def update(self, predictions: list[dict] | str | os.PathLike,
               ground_truth: dict | str | os.PathLike) -> None:
        self._pieces.append((_ground_truth(ground_truth), _load_json(predictions, "detections")))

    def result(self) -> MapResult:
        if not self._pieces:
            raise ValueError("coco_map: no ground truth given to update()")
        if len(self._pieces) == 1:
            return coco_map(*self._pieces[0], iou_type=self.iou_type)
        return pooled_map(self._pieces, iou_type=self.iou_type)


class TopKAccuracy(TaskMetric):
    """Top-k classification accuracy over all batches given to ``update``."""

    name = "topk_accuracy"

    def __init__(self, k: Sequence[int] = (1, 5), ranked: bool = False) -> None:
        self.k, self.ranked = tuple(k), ranked
        super().__init__()

    def reset(self) -> None:
        self._scores: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def update(self, predictions: object, ground_truth: object) -> None:
        s, y = np.asarray(predictions), np.asarray(ground_truth)
        topk_accuracy(s, y, self.k, self.ranked)  # validate the batch now
        self._scores.append(s)
        self._labels.append(y)

    def result(self) -> dict[int, float]:
        if not self._scores:
            raise ValueError("topk_accuracy: no samples given to update()")
        return topk_accuracy(np.concatenate(self._scores), np.concatenate(self._labels),
                             self.k, self.ranked)


# -- the CTC's task metric (vcmref.registry.METRICS; docs/ctc.md) -----------------------------

@METRICS.register("map")
class MapMetric(Metric):
    """COCO bbox mAP@[.5:.95] (and mAP@.5) of the task's detections: on decoded images (the
    whole network) or from decoded split tensors (the back). Per item the record keeps the
    detections; the report pools them over the dataset and each CTC class."""

    inputs = ("image", "features")
    task_output = "detections"
