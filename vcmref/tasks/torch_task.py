"""Any PyTorch task network, put together from a config: a factory given by import path that
returns the module, named split points (split name -> submodule names, cut with torch.fx by
`TorchSplitModel`) and registered pre- and post-processing (`vcmref.tasks.processing`)::

    task:
      kind: torch
      module: mypackage.nets:build_detector      # or path/to/file.py:build_detector
      arguments: {width: 32}                      # keyword arguments of the factory
      splits: {stem: [backbone.layer1]}
      pre: {kind: resize-normalize, size: [320, 320]}
      post: {kind: yolo, strides: [8, 16, 32]}
      split: stem

The factory is imported when the model is built (and checked before a CTC run starts); the
module's outputs reach the post-processing as numpy arrays, in order (tuples, lists and
dicts flattened depth first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vcmref.params import Param, ParamError
from vcmref.registry import POSTPROCESSORS, PREPROCESSORS, TASKS, PluginError, resolve
from vcmref.tasks.base import Predictions, Prepared, TaskModelError
from vcmref.tasks.processing import Postprocessor, StagedTask, build_stage, stage_settings
from vcmref.tasks.torch_split import TorchSplitModel, default_postprocess


def _check_names(splits: Any, key: str) -> None:
    if not isinstance(splits, Mapping) or not splits:
        raise ParamError(key, f"expected a mapping split name -> submodule names, got {splits!r}")
    for split, names in splits.items():
        if not isinstance(names, list) or not names \
                or not all(isinstance(n, str) and n for n in names):
            raise ParamError(f"{key}.{split}", f"expected a non-empty list of submodule names "
                             f"(module.named_modules()), got {names!r}")


def _factory(ref: str) -> Any:
    try:
        factory = resolve(ref)
    except PluginError as e:
        raise ParamError("module", f"expected package.module:factory or file.py:factory "
                         f"that can be imported: {e}") from None
    if not callable(factory):
        raise ParamError("module", f"expected a callable that returns the torch module, got "
                         f"{type(factory).__name__} {ref!r}")
    return factory


class _Post:
    """TorchSplitModel's postprocess from a registered Postprocessor: the raw module output
    becomes a list of numpy arrays first."""

    def __init__(self, post: Postprocessor) -> None:
        self.post = post

    def __call__(self, output: Any, prepared: Prepared) -> Predictions:
        return self.post(default_postprocess(output, prepared), prepared)


@TASKS.register("torch")
class TorchTask(StagedTask, TorchSplitModel):
    """The task kind ``torch``: a torch module from a factory, cut at named submodules."""

    parameters = (
        Param("module", str, doc="package.module:factory or path/to/file.py:factory, a "
              "callable that returns the torch.nn.Module"),
        Param("arguments", dict, {}, doc="keyword arguments of the factory"),
        Param("splits", dict, doc="split name -> submodule names"),
        Param("pre", dict, {"kind": "resize-normalize"}, doc="pre-processing: kind and its "
              "keys (default: RGB in [0, 1], the image's size)"),
        Param("post", dict, doc="post-processing: kind and its keys"),
        Param("leaf_modules", list, [], items=str, doc="submodules torch.fx does not trace into"),
        Param("name", str, optional=True, doc="the model's name; default: the factory's"),
    )
    required = ("module", "splits", "post")

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "task.") -> None:
        ref = settings["module"]
        module, sep, attr = ref.rpartition(":")
        if not (sep and module and attr):
            raise ParamError(f"{prefix}module", f"expected package.module:factory or "
                             f"path/to/file.py:factory, got {ref!r}")
        _check_names(settings["splits"], f"{prefix}splits")
        stage_settings(PREPROCESSORS, settings["pre"], f"{prefix}pre")
        stage_settings(POSTPROCESSORS, settings["post"], f"{prefix}post")

    @classmethod
    def check_inputs(cls, settings: Mapping[str, Any]) -> None:
        _factory(settings["module"])

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TorchTask:
        factory = _factory(settings["module"])
        try:
            module = factory(**settings["arguments"])
        except Exception as e:
            raise TaskModelError(f"task.module {settings['module']}: the factory failed: "
                                 f"{type(e).__name__}: {e}") from None
        pre = build_stage(PREPROCESSORS, settings["pre"], "task.pre")
        post = build_stage(POSTPROCESSORS, settings["post"], "task.post")
        name = settings.get("name") or getattr(factory, "__name__", "torch-model")
        model = cls(module, settings["splits"], preprocess=pre, postprocess=_Post(post),
                    name=name, leaf_modules=settings["leaf_modules"])
        model.pre, model.post = pre, post
        model.predictions = post.predictions
        model.category_names = post.category_names
        return model

    def prepared_for(self, width: int, height: int, image_id: int = 0) -> Prepared:
        pre = getattr(self, "pre", None)
        if pre is None:
            return super().prepared_for(width, height, image_id)
        return pre.prepared_for(width, height, image_id)
