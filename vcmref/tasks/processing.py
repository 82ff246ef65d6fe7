"""Pre- and post-processing of task networks, registered by name so that a config can put a
network together from its keys (``task.pre``, ``task.post``: a mapping with ``kind`` and that
kind's own keys, declared as parameters and checked when the config loads).

Pre-processing (`vcmref.registry.PREPROCESSORS`) turns an (H, W, 3) uint8 RGB image into the
network input and records in `Prepared.meta` how network coordinates map back to the image:
``width``, ``height`` (the image), ``input_size`` (the network input's height and width),
``scale`` (sx, sy) and ``offset`` (dx, dy), so that an image x is (x_in - dx) / sx.

* ``letterbox``: YOLOX's: resize by r = min(H_in / H, W_in / W) (OpenCV-exact bilinear) onto a
  canvas of ``pad_value``, top-left or centred; BGR by default; values 0..255 unless
  ``divisor``, ``mean``, ``std`` say otherwise.
* ``resize-normalize``: resize to ``size`` (or keep the size), divide by ``divisor`` (255),
  subtract ``mean``, divide by ``std``; RGB or BGR; NCHW or NHWC.

Post-processing (`vcmref.registry.POSTPROCESSORS`) turns the network's outputs (a list of
arrays with a batch dimension of 1, in output order) into predictions:

* ``yolo``: YOLOX-style dense head, (1, N, 4 + [1] + C): grid decoding per stride
  ((xy + grid) * stride, exp(wh) * stride) unless the boxes are decoded already, scores =
  objectness x class score for every class (multi-label), class-wise greedy NMS, the best
  ``max_detections``;
* ``detr``: DETR-style set prediction: class logits (1, Q, C [+ 1 no-object]) and boxes
  (1, Q, 4) as normalised (cx, cy, w, h) of the network input; softmax (the best class of each
  query, no-object dropped) or sigmoid (the best query x class pairs); top-k, no NMS;
* ``classification``: (1, C) logits or probabilities -> the top-k classes with scores
  (predictions of kind "labels").

Detections are COCO dicts (``image_id``, ``category_id``, ``bbox`` [x, y, w, h] in image
pixels, ``score``); class indices become dataset category ids through ``categories``:
``coco80`` (the 80 COCO training classes in order -> COCO ids 1..90), ``coco91`` (the class
index is the COCO id, as DETR's), ``index`` (the class index), a list of category ids (one per
class) or a list of names (ids 1, 2, ...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from vcmref.params import Param, ParamError, check_settings
from vcmref.registry import POSTPROCESSORS, PREPROCESSORS, Registry
from vcmref.tasks.base import Predictions, Prepared, TaskModelError
from vcmref.tasks.resize import letterbox, resize_bilinear

# COCO's 80 detection classes in training order -> their category ids in the annotations.
COCO80_TO_COCO91 = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
    28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
    54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
    81, 82, 84, 85, 86, 87, 88, 89, 90)

COCO_CATEGORY_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush")

CATEGORY_TABLES = ("coco80", "coco91", "index")


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (x1, y1, x2, y2 boxes), best first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


# -- building a stage from a config mapping -------------------------------------------------

def stage_settings(registry: Registry, doc: Any, key: str) -> tuple[type, dict[str, Any]]:
    """The class `doc["kind"]` names in `registry` and its settings from the rest of `doc`,
    checked against what it declares (ParamError naming `key` and the setting otherwise)."""
    if not isinstance(doc, Mapping):
        raise ParamError(key, f"expected a mapping with kind (one of "
                         f"{', '.join(registry.names())}), got {doc!r}")
    kind = doc.get("kind")
    if kind not in registry:
        raise ParamError(f"{key}.kind", f"expected one of {', '.join(registry.names())}, "
                         f"got {kind!r}")
    cls = registry.get(kind)
    settings = check_settings(cls.parameters, {k: v for k, v in doc.items() if k != "kind"},
                              f"{key}.")
    cls.validate(settings, f"{key}.")
    return cls, settings


def build_stage(registry: Registry, doc: Any, key: str) -> Any:
    cls, settings = stage_settings(registry, doc, key)
    return cls(**settings)


def _numbers(value: Any, key: str, count: int, positive: bool = False) -> None:
    ok = (isinstance(value, list) and len(value) == count
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
          and (not positive or all(v > 0 for v in value)))
    if not ok:
        what = "numbers > 0" if positive else "numbers"
        raise ParamError(key, f"expected a list of {count} {what}, got {value!r}")


def _size(value: Any, key: str) -> None:
    """An int (square) or [height, width] of ints >= 1."""
    if isinstance(value, bool) or not (
            (isinstance(value, int) and value >= 1)
            or (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                        for v in value))):
        raise ParamError(key, f"expected an integer >= 1 or [height, width], got {value!r}")


def _hw(value: int | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else \
            type(image).__name__
        raise TaskModelError(f"expected an (H, W, 3) uint8 RGB image, got {got}")
    return image


CHANNELS = Param("channels", str, "rgb", choices=("rgb", "bgr"), doc="the channel order")
DIVISOR = Param("divisor", float, 255.0, positive=True, doc="sample values are divided by it")
MEAN = Param("mean", list, optional=True, items=(int, float),
             doc="subtracted per channel, after the divisor")
STD = Param("std", list, optional=True, items=(int, float),
            doc="divides per channel, after the mean")


def _normalize(x: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    """(1, C, H, W) float32: / divisor, - mean, / std (each only when set)."""
    if settings["divisor"] != 1:
        x = x / np.float32(settings["divisor"])
    if settings.get("mean") is not None:
        x = x - np.asarray(settings["mean"], np.float32)[None, :, None, None]
    if settings.get("std") is not None:
        x = x / np.asarray(settings["std"], np.float32)[None, :, None, None]
    return x


def _check_normalize(settings: Mapping[str, Any], prefix: str) -> None:
    if settings.get("mean") is not None:
        _numbers(settings["mean"], f"{prefix}mean", 3)
    if settings.get("std") is not None:
        _numbers(settings["std"], f"{prefix}std", 3, positive=True)


# -- pre-processing -------------------------------------------------------------------------

class Preprocessor(ABC):
    """Image -> network input, with the meta post-processing needs (see the module doc)."""

    parameters: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **settings: Any) -> None:
        self.settings = check_settings(self.parameters, settings)
        self.validate(self.settings)

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "") -> None:
        """Checks beyond the declared types (raise ParamError)."""
        return None  # nothing more to check

    @abstractmethod
    def __call__(self, image: np.ndarray, image_id: int = 0) -> Prepared:
        """The network input for an (H, W, 3) uint8 RGB image."""

    @abstractmethod
    def prepared_for(self, width: int, height: int, image_id: int = 0) -> Prepared:
        """The meta of an image of this size, without the image (input left empty)."""


@PREPROCESSORS.register("letterbox")
class Letterbox(Preprocessor):
    """YOLOX's ValTransform by default: BGR, top-left on a 416x416 canvas of 114, 0..255."""

    parameters = (
        Param("size", (int, list), 416, doc="the network input: an integer (square) or "
              "[height, width]"),
        Param("pad_value", int, 114, min=0, max=255),
        Param("center", bool, False, doc="centre the image on the canvas (else top-left)"),
        Param("channels", str, "bgr", choices=("rgb", "bgr"), doc="the channel order"),
        Param("divisor", float, 1.0, positive=True, doc="sample values are divided by it"),
        MEAN,
        STD,
    )

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "") -> None:
        _size(settings["size"], f"{prefix}size")
        _check_normalize(settings, prefix)

    def _meta(self, width: int, height: int, r: float, offset: tuple[int, int]) -> dict:
        return {"ratio": r, "width": width, "height": height,
                "input_size": _hw(self.settings["size"]), "scale": (r, r), "offset": offset}

    def __call__(self, image: np.ndarray, image_id: int = 0) -> Prepared:
        image = _check_image(image)
        if self.settings["channels"] == "bgr":
            image = image[:, :, ::-1]
        hin, win = _hw(self.settings["size"])
        canvas, r, offset = letterbox(image, hin, win, self.settings["pad_value"],
                                      self.settings["center"])
        tensor = _normalize(canvas.transpose(2, 0, 1)[None].astype(np.float32), self.settings)
        h, w = image.shape[:2]
        return Prepared(tensor, image_id, self._meta(w, h, r, offset))

    def prepared_for(self, width: int, height: int, image_id: int = 0) -> Prepared:
        hin, win = _hw(self.settings["size"])
        r = min(hin / height, win / width)
        nw, nh = int(width * r), int(height * r)
        offset = ((win - nw) // 2, (hin - nh) // 2) if self.settings["center"] else (0, 0)
        return Prepared(np.empty((1, 3, 0, 0), np.float32), image_id,
                        self._meta(width, height, r, offset))


@PREPROCESSORS.register("resize-normalize")
class ResizeNormalize(Preprocessor):
    """Resize (OpenCV-exact bilinear) to `size`, or keep the image size; then / divisor,
    - mean, / std; RGB by default; NCHW or NHWC."""

    parameters = (
        Param("size", (int, list), optional=True, doc="[height, width] or an integer "
              "(square); default: the image's size"),
        CHANNELS,
        DIVISOR,
        MEAN,
        STD,
        Param("layout", str, "nchw", choices=("nchw", "nhwc")),
    )

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "") -> None:
        if settings["size"] is not None:
            _size(settings["size"], f"{prefix}size")
        _check_normalize(settings, prefix)

    def _meta(self, width: int, height: int) -> dict:
        size = self.settings["size"]
        hin, win = (height, width) if size is None else _hw(size)
        return {"width": width, "height": height, "input_size": (hin, win),
                "scale": (win / width, hin / height), "offset": (0, 0)}

    def __call__(self, image: np.ndarray, image_id: int = 0) -> Prepared:
        image = _check_image(image)
        h, w = image.shape[:2]
        meta = self._meta(w, h)
        if self.settings["channels"] == "bgr":
            image = image[:, :, ::-1]
        hin, win = meta["input_size"]
        if (hin, win) != (h, w):
            image = resize_bilinear(np.ascontiguousarray(image), win, hin)
        tensor = _normalize(image.transpose(2, 0, 1)[None].astype(np.float32), self.settings)
        if self.settings["layout"] == "nhwc":
            tensor = tensor.transpose(0, 2, 3, 1)
        return Prepared(np.ascontiguousarray(tensor), image_id, meta)

    def prepared_for(self, width: int, height: int, image_id: int = 0) -> Prepared:
        return Prepared(np.empty((1, 3, 0, 0), np.float32), image_id, self._meta(width, height))


# -- post-processing ------------------------------------------------------------------------

CATEGORIES_DOC = ("coco80, coco91, index, a list of category ids (one per class) or a list "
                  "of class names")


def _check_categories(value: Any, key: str) -> None:
    if isinstance(value, str) and value in CATEGORY_TABLES:
        return
    if isinstance(value, list) and value and (
            all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or all(isinstance(v, str) for v in value)):
        return
    raise ParamError(key, f"expected {CATEGORIES_DOC}, got {value!r}")


class Postprocessor(ABC):
    """Network outputs -> predictions (see the module doc)."""

    parameters: ClassVar[tuple[Param, ...]] = ()
    predictions: ClassVar[str] = "detections"  # or "labels"

    def __init__(self, **settings: Any) -> None:
        self.settings = check_settings(self.parameters, settings)
        self.validate(self.settings)
        self._table = self.settings.get("categories", "index")
        self.category_names = self._names()

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "") -> None:
        if "categories" in settings:
            _check_categories(settings["categories"], f"{prefix}categories")

    def category_id(self, k: int) -> int:
        """The dataset category id of class index k."""
        table = self._table
        if table == "coco80":
            return COCO80_TO_COCO91[k]
        if isinstance(table, list):
            return table[k] if isinstance(table[0], int) else k + 1
        return k

    def _names(self) -> dict[int, str]:
        table = self._table
        if table in ("coco80", "coco91"):
            return dict(zip(COCO80_TO_COCO91, COCO_CATEGORY_NAMES, strict=True))
        if isinstance(table, list) and isinstance(table[0], str):
            return {k + 1: name for k, name in enumerate(table)}
        if isinstance(table, list):
            return {cid: f"class {k}" for k, cid in enumerate(table)}
        return {}

    @staticmethod
    def output(outputs: Sequence[np.ndarray], index: int) -> np.ndarray:
        if not 0 <= index < len(outputs):
            raise TaskModelError(f"the network has {len(outputs)} outputs; output {index} "
                                 "was asked for")
        return np.asarray(outputs[index])

    @abstractmethod
    def __call__(self, outputs: Sequence[np.ndarray], prepared: Prepared) -> Predictions:
        """Predictions from the outputs (batch of 1) for the image `prepared` describes."""


def to_image(boxes: np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 float32 boxes of the network input -> the image's pixels."""
    dx, dy = meta.get("offset", (0, 0))
    if dx or dy:
        boxes = boxes - np.asarray([dx, dy, dx, dy], np.float32)
    sx, sy = meta["scale"]
    return boxes / np.asarray([sx, sy, sx, sy], np.float32)


def _detection(image_id: int, category_id: int, box: np.ndarray, score: float) -> dict:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"image_id": image_id, "category_id": category_id,
            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}


SCORE = Param("score_threshold", float, 0.001, min=0, max=1)
OUTPUT = Param("output", int, 0, min=0, doc="which output of the network")


@POSTPROCESSORS.register("yolo")
class YoloHead(Postprocessor):
    """YOLOX's: grids per stride, objectness x class scores, class-wise NMS, the best N."""

    parameters = (
        OUTPUT,
        Param("strides", list, [8, 16, 32], items=int),
        Param("decode", bool, True, doc="decode grid offsets (false: boxes are input pixels)"),
        Param("objectness", bool, True, doc="an objectness score precedes the class scores"),
        SCORE,
        Param("nms_iou", float, 0.65, min=0, max=1),
        Param("max_detections", int, 300, min=1),
        Param("categories", (str, list), "coco80", doc=CATEGORIES_DOC),
    )

    def _grid(self, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        grids, strides = [], []
        for s in self.settings["strides"]:
            nh, nw = input_size[0] // s, input_size[1] // s
            yv, xv = np.meshgrid(np.arange(nh), np.arange(nw), indexing="ij")
            grids.append(np.stack((xv, yv), -1).reshape(-1, 2))
            strides.append(np.full((nh * nw, 1), s))
        return (np.concatenate(grids).astype(np.float32),
                np.concatenate(strides).astype(np.float32))

    def __call__(self, outputs: Sequence[np.ndarray], prepared: Prepared) -> Predictions:
        st = self.settings
        out = self.output(outputs, st["output"])[0].astype(np.float32).copy()
        if st["decode"]:
            hin, win = prepared.meta["input_size"]
            grid, stride = self._grid((hin, win))
            if grid.shape[0] != out.shape[0]:
                raise TaskModelError(f"model output has {out.shape[0]} predictions, the "
                                     f"{win}x{hin} input grid has {grid.shape[0]}")
            xy = (out[:, :2] + grid) * stride
            wh = np.exp(out[:, 2:4]) * stride
        else:
            xy, wh = out[:, :2], out[:, 2:4]
        boxes = to_image(np.concatenate([xy - wh / 2, xy + wh / 2], 1), prepared.meta)
        scores = out[:, 4:5] * out[:, 5:] if st["objectness"] else out[:, 4:]
        box_idx, cls = np.nonzero(scores > st["score_threshold"])
        cand_scores = scores[box_idx, cls]
        kept = []
        for c in np.unique(cls):
            sel = np.flatnonzero(cls == c)
            kept.append(sel[nms(boxes[box_idx[sel]], cand_scores[sel], st["nms_iou"])])
        if not kept:
            return []
        kept = np.concatenate(kept)
        kept = kept[np.argsort(-cand_scores[kept], kind="stable")[: st["max_detections"]]]
        return [_detection(prepared.image_id, self.category_id(int(cls[k])), boxes[box_idx[k]],
                           cand_scores[k]) for k in kept]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@POSTPROCESSORS.register("detr")
class DetrHead(Postprocessor):
    """DETR's: per query, class logits and a normalised (cx, cy, w, h) box; no NMS."""

    parameters = (
        Param("logits", int, 0, min=0, doc="the output holding the class logits"),
        Param("boxes", int, 1, min=0, doc="the output holding the boxes"),
        Param("activation", str, "softmax", choices=("softmax", "sigmoid")),
        Param("no_object", bool, True, doc="softmax: the last class is 'no object'"),
        Param("top_k", int, 100, min=1),
        Param("score_threshold", float, 0.0, min=0, max=1),
        Param("categories", (str, list), "coco91", doc=CATEGORIES_DOC),
    )

    def __call__(self, outputs: Sequence[np.ndarray], prepared: Prepared) -> Predictions:
        st = self.settings
        logits = self.output(outputs, st["logits"])[0].astype(np.float32)
        cxcywh = self.output(outputs, st["boxes"])[0].astype(np.float32)
        if logits.ndim != 2 or cxcywh.shape != (logits.shape[0], 4):
            raise TaskModelError(f"detr: expected logits (1, Q, C) and boxes (1, Q, 4), got "
                                 f"{logits.shape} and {cxcywh.shape} (batch removed)")
        if st["activation"] == "softmax":
            prob = _softmax(logits)
            if st["no_object"]:
                prob = prob[:, :-1]
            query, cls = np.arange(prob.shape[0]), prob.argmax(1)
        else:
            prob = 1.0 / (1.0 + np.exp(-logits))
            flat = np.argsort(-prob.ravel(), kind="stable")[: st["top_k"]]
            query, cls = np.unravel_index(flat, prob.shape)
        scores = prob[query, cls]
        order = np.argsort(-scores, kind="stable")[: st["top_k"]]
        order = order[scores[order] > st["score_threshold"]]
        hin, win = prepared.meta["input_size"]
        cx, cy, w, h = (cxcywh[:, i] for i in range(4))
        xyxy = np.stack([(cx - w / 2) * win, (cy - h / 2) * hin, (cx + w / 2) * win,
                         (cy + h / 2) * hin], 1).astype(np.float32)
        boxes = to_image(xyxy, prepared.meta)
        return [_detection(prepared.image_id, self.category_id(int(cls[k])), boxes[query[k]],
                           scores[k]) for k in order]


@POSTPROCESSORS.register("classification")
class ClassificationHead(Postprocessor):
    """(1, C) scores -> the top-k classes: {"image_id", "category_id", "score"}, best first."""

    predictions = "labels"
    parameters = (
        OUTPUT,
        Param("softmax", bool, True, doc="apply a softmax (false: the output is scores)"),
        Param("top_k", int, 5, min=1),
        Param("categories", (str, list), "index", doc=CATEGORIES_DOC),
    )

    def __call__(self, outputs: Sequence[np.ndarray], prepared: Prepared) -> Predictions:
        st = self.settings
        scores = self.output(outputs, st["output"]).reshape(-1).astype(np.float32)
        if st["softmax"]:
            scores = _softmax(scores)
        order = np.argsort(-scores, kind="stable")[: st["top_k"]]
        return [{"image_id": prepared.image_id, "category_id": self.category_id(int(k)),
                 "score": float(scores[k])} for k in order]


class StagedTask:
    """Config-level answers shared by the task kinds whose config names split points and a
    registered post-processing (`onnx`, `torch`)."""

    @classmethod
    def split_names(cls, settings: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(settings["splits"])

    @classmethod
    def prediction_kind(cls, settings: Mapping[str, Any]) -> str:
        return POSTPROCESSORS.get(settings["post"]["kind"]).predictions
