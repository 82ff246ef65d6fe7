"""Any ONNX task network, put together from a config: the model file, its input tensor, named
split points (split name -> graph tensor names) and registered pre- and post-processing
(`vcmref.tasks.processing`).

`OnnxTaskModel` runs such a network (front, back and whole, with onnxruntime on the CPU, cut
with `OnnxSplitModel`); `OnnxTask` is the task kind ``onnx`` a CTC config names::

    task:
      kind: onnx
      model_path: ${shared}/models/yolox_nano_416.onnx
      input: images                        # default: the graph's only input
      splits:
        backbone: [input.175, input.283, input.359]   # or {dark3: input.175, ...}: labels
      pre: {kind: letterbox, size: 416}
      post: {kind: yolo, categories: coco80}
      split: backbone

The split tensors are handed out (and coded) under their graph names, or under the labels a
split given as a mapping (label -> graph tensor name) assigns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.params import Param, ParamError
from vcmref.registry import POSTPROCESSORS, PREPROCESSORS, TASKS
from vcmref.tasks.base import Predictions, Prepared, TaskModel, TaskModelError, Tensors
from vcmref.tasks.onnx_split import OnnxSplitModel
from vcmref.tasks.processing import (
    Postprocessor,
    Preprocessor,
    StagedTask,
    build_stage,
    stage_settings,
)

SplitSpec = Mapping[str, Sequence[str] | Mapping[str, str]]


def split_tables(splits: SplitSpec) -> tuple[dict[str, tuple[str, ...]],
                                             dict[str, tuple[str, ...]]]:
    """(split -> graph tensor names, split -> the names the tensors are handed out under)."""
    tensors, labels = {}, {}
    for split, spec in splits.items():
        if isinstance(spec, Mapping):
            labels[split], tensors[split] = tuple(spec), tuple(spec.values())
        else:
            tensors[split] = labels[split] = tuple(spec)
    return tensors, labels


def check_splits(splits: Any, key: str) -> None:
    """Each split: a non-empty list of distinct tensor names, or a mapping label -> name."""
    if not isinstance(splits, Mapping):
        raise ParamError(key, f"expected a mapping split name -> tensor names, got {splits!r}")
    for split, spec in splits.items():
        names = list(spec.values()) if isinstance(spec, Mapping) else spec
        if not isinstance(names, list) or not names \
                or not all(isinstance(n, str) and n for n in names):
            raise ParamError(f"{key}.{split}", "expected a non-empty list of tensor names, or "
                             f"a mapping label -> tensor name, got {spec!r}")
        if len(set(names)) != len(names):
            raise ParamError(f"{key}.{split}", f"expected distinct tensor names, got {spec!r}")


class OnnxTaskModel(TaskModel):
    """An ONNX graph with pre-processing, post-processing and named split points."""

    def __init__(self, model_path: str | Path, *, splits: SplitSpec, pre: Preprocessor,
                 post: Postprocessor, input: str | None = None, sha256: str | None = None,
                 threads: int = 1, name: str | None = None) -> None:
        self.onnx = OnnxSplitModel(model_path, sha256, threads)
        self.name = name or Path(model_path).stem
        self.pre, self.post = pre, post
        self.predictions = post.predictions
        self.category_names = post.category_names
        if input is None:
            if len(self.onnx.inputs) != 1:
                raise TaskModelError(f"{self.onnx.path.name}: the graph has inputs "
                                     f"{', '.join(self.onnx.inputs)}; say which is the image")
            input = self.onnx.inputs[0]
        elif input not in self.onnx.inputs:
            raise TaskModelError(f"{self.onnx.path.name}: no graph input named {input!r}; its "
                                 f"inputs: {', '.join(self.onnx.inputs)}")
        self.input = input
        self.split_points, self._labels = split_tables(splits)
        for split, names in self.split_points.items():
            for n in names:
                if n not in self.onnx.tensor_names:
                    raise TaskModelError(f"{self.onnx.path.name}: split point {split!r}: no "
                                         f"tensor named {n!r} in the graph")

    def split_labels(self, split: str) -> list[str]:
        """The names the split point's tensors get in `front`'s dict."""
        self.check_split(split)
        return list(self._labels[split])

    def preprocess(self, image: np.ndarray, image_id: int = 0) -> Prepared:
        return self.pre(image, image_id)

    def prepared_for(self, width: int, height: int, image_id: int = 0) -> Prepared:
        return self.pre.prepared_for(width, height, image_id)

    def _outputs(self, feeds: Tensors) -> list[np.ndarray]:
        out = self.onnx.run(feeds, self.onnx.outputs)
        return [out[k] for k in self.onnx.outputs]

    def front(self, prepared: Prepared, split: str) -> Tensors:
        names = self.check_split(split)
        out = self.onnx.run({self.input: prepared.input}, names)
        return {label: out[k][0] for k, label in zip(names, self._labels[split], strict=True)}

    def back(self, tensors: Tensors, prepared: Prepared, split: str) -> Predictions:
        names = self.check_split(split)
        labels = list(self._labels[split])
        missing = [lb for lb in labels if lb not in tensors]
        if missing:
            raise TaskModelError(f"split point {split!r} needs tensors {labels}; missing "
                                 f"{missing}")
        feeds = {k: np.asarray(tensors[lb], np.float32)[None]
                 for k, lb in zip(names, labels, strict=True)}
        return self.post(self._outputs(feeds), prepared)

    def full(self, image: np.ndarray, image_id: int = 0) -> Predictions:
        prepared = self.preprocess(image, image_id)
        return self.post(self._outputs({self.input: prepared.input}), prepared)


@TASKS.register("onnx")
class OnnxTask(StagedTask, OnnxTaskModel):
    """The task kind ``onnx``: an ONNX network described by the config's keys."""

    parameters = (
        Param("model_path", str, doc="the ONNX file"),
        Param("sha256", str, optional=True, doc="checked when given"),
        Param("input", str, optional=True, doc="the graph input the image goes to; default: "
              "the only one"),
        Param("splits", dict, {}, doc="split name -> graph tensor names (or label -> name)"),
        Param("pre", dict, doc="pre-processing: kind and its keys"),
        Param("post", dict, doc="post-processing: kind and its keys"),
        Param("threads", int, 1, min=1, doc="onnxruntime threads"),
        Param("name", str, optional=True, doc="the model's name; default: the file's stem"),
    )
    required = ("model_path", "pre", "post")

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "task.") -> None:
        check_splits(settings["splits"], f"{prefix}splits")
        stage_settings(PREPROCESSORS, settings["pre"], f"{prefix}pre")
        stage_settings(POSTPROCESSORS, settings["post"], f"{prefix}post")

    @classmethod
    def check_inputs(cls, settings: Mapping[str, Any]) -> None:
        path = settings["model_path"]
        if not Path(path).is_file():
            raise ParamError("model_path", f"expected the model file, got {path!r} (not there)")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OnnxTask:
        s = dict(settings)
        return cls(s.pop("model_path"), splits=s.pop("splits"),
                   pre=build_stage(PREPROCESSORS, s.pop("pre"), "task.pre"),
                   post=build_stage(POSTPROCESSORS, s.pop("post"), "task.post"), **s)
