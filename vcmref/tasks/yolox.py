"""The reference detector: YOLOX-Nano (COCO, ONNX) with its exact pre- and post-processing.

Pre-processing (YOLOX's ValTransform): the RGB image goes to BGR, is resized by
r = min(416 / H, 416 / W) to (int(W * r), int(H * r)) with OpenCV's bilinear resize, placed at
the top-left of a 416x416 canvas of 114, as float32 0..255 in (1, 3, 416, 416).
Post-processing: grid predictions decoded per stride 8/16/32 ((xy + grid) * stride,
exp(wh) * stride), scores = objectness x class score for every class (multi-label), those
above 0.001 kept, class-wise NMS at IoU 0.65, the 300 best overall, boxes divided by r and
given as COCO [x, y, w, h] with COCO category ids.

Split points (graph tensor names of the official ``yolox_nano_416.onnx`` export):
``backbone``: the three backbone outputs dark3/dark4/dark5 (the inputs of the PAFPN),
``neck``: the three PAFPN outputs (the inputs of the detection head).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vcmref.assets import shared_dir
from vcmref.tasks.base import Predictions, Prepared, TaskModel, TaskModelError, Tensors
from vcmref.tasks.onnx_split import OnnxSplitModel
from vcmref.tasks.resize import resize_bilinear

YOLOX_NANO_SHA256 = "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd"
STRIDES = (8, 16, 32)
PAD_VALUE = 114
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


def default_model_path() -> Path:
    """Where the reference model is looked for: $VCMREF_SHARED/models/yolox_nano_416.onnx."""
    return shared_dir() / "models" / "yolox_nano_416.onnx"


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


class YoloxDetector(TaskModel):
    """YOLOX-Nano on COCO: front/back at 'backbone' or 'neck', or the whole network."""

    name = "yolox-nano"
    split_points = {
        "backbone": ("input.175", "input.283", "input.359"),
        "neck": ("input.471", "input.531", "input.591"),
    }
    tensor_labels = {"input.175": "dark3", "input.283": "dark4", "input.359": "dark5",
                     "input.471": "pan_out2", "input.531": "pan_out1", "input.591": "pan_out0"}

    category_names = dict(zip(COCO80_TO_COCO91, COCO_CATEGORY_NAMES, strict=True))

    def __init__(self, model_path: str | Path | None = None, *, sha256: str | None = None,
                 input_size: int = 416, score_threshold: float = 0.001, nms_iou: float = 0.65,
                 max_detections: int = 300, threads: int = 1) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if model_path is None and not path.is_file():
            raise TaskModelError(f"{path}: the YOLOX-Nano model is not there; download "
                                 "yolox_nano.onnx from the YOLOX release page "
                                 "(github.com/Megvii-BaseDetection/YOLOX) and pass its path")
        self.onnx = OnnxSplitModel(path, sha256, threads)
        self.input_size = input_size
        self.score_threshold, self.nms_iou = score_threshold, nms_iou
        self.max_detections = max_detections

    def preprocess(self, image: np.ndarray, image_id: int = 0) -> Prepared:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise TaskModelError(f"expected an (H, W, 3) uint8 RGB image, got {image.dtype} "
                                 f"{image.shape}")
        h, w = image.shape[:2]
        size = self.input_size
        r = min(size / h, size / w)
        nw, nh = int(w * r), int(h * r)
        canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
        canvas[:nh, :nw] = resize_bilinear(image[:, :, ::-1], nw, nh)
        tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        return Prepared(tensor, image_id, {"ratio": r, "width": w, "height": h})

    def split_labels(self, split: str) -> list[str]:
        """The names the split point's tensors get in `front`'s dict (dark3, ...)."""
        return [self.tensor_labels[k] for k in self.check_split(split)]

    def prepared_for(self, width: int, height: int, image_id: int = 0) -> Prepared:
        """What `back` needs for an image of this size, without the image: decoded split
        tensors and the dataset's image size are enough to map boxes back."""
        r = min(self.input_size / height, self.input_size / width)
        return Prepared(np.empty((1, 3, 0, 0), np.float32), image_id,
                        {"ratio": r, "width": width, "height": height})

    def _run(self, feeds: Tensors) -> np.ndarray:
        return self.onnx.run(feeds, self.onnx.outputs)[self.onnx.outputs[0]]

    def front(self, prepared: Prepared, split: str) -> Tensors:
        names = self.check_split(split)
        out = self.onnx.run({self.onnx.inputs[0]: prepared.input}, names)
        return {self.tensor_labels[k]: v[0] for k, v in out.items()}

    def back(self, tensors: Tensors, prepared: Prepared, split: str) -> Predictions:
        names = self.check_split(split)
        labels = [self.tensor_labels[k] for k in names]
        missing = [lb for lb in labels if lb not in tensors]
        if missing:
            raise TaskModelError(f"split point {split!r} needs tensors {labels}; missing "
                                 f"{missing}")
        feeds = {k: np.asarray(tensors[lb], np.float32)[None] for k, lb in zip(names, labels,
                                                                              strict=True)}
        return self.postprocess(self._run(feeds), prepared)

    def full(self, image: np.ndarray, image_id: int = 0) -> Predictions:
        prepared = self.preprocess(image, image_id)
        return self.postprocess(self._run({self.onnx.inputs[0]: prepared.input}), prepared)

    def postprocess(self, output: np.ndarray, prepared: Prepared) -> Predictions:
        """COCO detections from the raw (1, N, 85) grid predictions."""
        out = output[0].astype(np.float32).copy()
        grids, strides = [], []
        for s in STRIDES:
            n = self.input_size // s
            yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            grids.append(np.stack((xv, yv), -1).reshape(-1, 2))
            strides.append(np.full((n * n, 1), s))
        grid = np.concatenate(grids).astype(np.float32)
        stride = np.concatenate(strides).astype(np.float32)
        if grid.shape[0] != out.shape[0]:
            raise TaskModelError(f"model output has {out.shape[0]} predictions, the "
                                 f"{self.input_size} input grid has {grid.shape[0]}")
        xy = (out[:, :2] + grid) * stride
        wh = np.exp(out[:, 2:4]) * stride
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1) / prepared.meta["ratio"]
        scores = out[:, 4:5] * out[:, 5:]
        box_idx, cls = np.nonzero(scores > self.score_threshold)
        cand_scores = scores[box_idx, cls]
        kept = []
        for c in np.unique(cls):
            sel = np.flatnonzero(cls == c)
            kept.append(sel[nms(boxes[box_idx[sel]], cand_scores[sel], self.nms_iou)])
        if not kept:
            return []
        kept = np.concatenate(kept)
        kept = kept[np.argsort(-cand_scores[kept], kind="stable")[: self.max_detections]]
        dets = []
        for k in kept:
            x1, y1, x2, y2 = (float(v) for v in boxes[box_idx[k]])
            dets.append({"image_id": prepared.image_id,
                         "category_id": COCO80_TO_COCO91[int(cls[k])],
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(cand_scores[k])})
        return dets
