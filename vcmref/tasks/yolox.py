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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.params import Param, ParamError
from vcmref.registry import TASKS
from vcmref.tasks.base import Predictions, Prepared, TaskModelError
from vcmref.tasks.model_files import find_yolox_model
from vcmref.tasks.onnx_task import OnnxTaskModel
from vcmref.tasks.processing import (  # noqa: F401  (the COCO tables and nms lived here)
    COCO80_TO_COCO91,
    COCO_CATEGORY_NAMES,
    Letterbox,
    YoloHead,
    nms,
)

STRIDES = (8, 16, 32)
PAD_VALUE = 114


@TASKS.register("yolox-nano")
class YoloxDetector(OnnxTaskModel):
    """YOLOX-Nano on COCO: front/back at 'backbone' or 'neck', or the whole network. The task
    kind ``yolox-nano``, the default of a CTC config; the same network and processing as the
    generic kind ``onnx`` with a ``letterbox`` pre-processing and a ``yolo`` head."""

    name = "yolox-nano"
    split_points = {
        "backbone": ("input.175", "input.283", "input.359"),
        "neck": ("input.471", "input.531", "input.591"),
    }
    tensor_labels = {"input.175": "dark3", "input.283": "dark4", "input.359": "dark5",
                     "input.471": "pan_out2", "input.531": "pan_out1", "input.591": "pan_out0"}

    category_names = dict(zip(COCO80_TO_COCO91, COCO_CATEGORY_NAMES, strict=True))

    # its keys in a CTC config's task section (the constructor's keyword arguments)
    parameters = (
        Param("model_path", str, optional=True, doc="default: the lookup of "
              "vcmref.tasks.model_files"),
        Param("sha256", str, optional=True, doc="checked when given"),
        Param("score_threshold", float, 0.001, min=0, max=1),
        Param("nms_iou", float, 0.65, min=0, max=1),
        Param("max_detections", int, 300, min=1),
    )

    def __init__(self, model_path: str | Path | None = None, *, sha256: str | None = None,
                 input_size: int = 416, score_threshold: float = 0.001, nms_iou: float = 0.65,
                 max_detections: int = 300, threads: int = 1) -> None:
        # the path given, else the lookup of vcmref.tasks.model_files (sha256 checked)
        path, known_sha256 = find_yolox_model(model_path)
        splits = {split: {self.tensor_labels[t]: t for t in tensors}
                  for split, tensors in type(self).split_points.items()}
        super().__init__(path, splits=splits, sha256=sha256 or known_sha256, threads=threads,
                         name=self.name,
                         pre=Letterbox(size=input_size, pad_value=PAD_VALUE, channels="bgr"),
                         post=YoloHead(strides=list(STRIDES), score_threshold=score_threshold,
                                       nms_iou=nms_iou, max_detections=max_detections,
                                       categories="coco80"))
        self.input_size = input_size
        self.score_threshold, self.nms_iou = score_threshold, nms_iou
        self.max_detections = max_detections

    @classmethod
    def check_inputs(cls, settings: Mapping[str, Any]) -> None:
        path = settings.get("model_path")
        if path is not None and not Path(path).is_file():
            raise ParamError("model_path", f"expected the model file, got {path!r} (not there)")
        if path is None:
            try:
                find_yolox_model()
            except TaskModelError as e:
                raise ParamError("model_path", f"not set, and {e}") from None

    def postprocess(self, output: np.ndarray, prepared: Prepared) -> Predictions:
        """COCO detections from the raw (1, N, 85) grid predictions."""
        return self.post([output], prepared)
