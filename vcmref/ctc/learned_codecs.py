"""The CTC codec kind ``compressai``: an R'G'B' image coded by a learned image codec of
CompressAI (vcmref.anchors.learned), a zoo model, a shipped vcmref-* model or a checkpoint.
The rate parameter is `quality`: the zoo's or the shipped model's quality index, or the number
put for ``{quality}`` in a checkpoint's path. Models load once per process, in `prepare`,
outside the timed encode and decode. torch and CompressAI are imported when a zoo model's
qualities are checked or a picture is coded, not when the registry loads this module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vcmref.anchors.learned.codec import ARCHITECTURES, SHIPPED_PREFIX, ZOO_METRICS, ZOO_MODELS
from vcmref.ctc.codecs import ImageCodec
from vcmref.errors import BitstreamError
from vcmref.params import Param, ParamError, Settings, defaults
from vcmref.registry import CODECS

__all__ = ["COMPRESSAI_PARAMETERS", "COMPRESSAI_QUALITY", "CompressAIImage"]


def _model_names(settings: Settings) -> tuple[str, ...]:
    from vcmref.anchors.learned.codec import shipped_models

    return ZOO_MODELS + tuple(shipped_models())


def _qualities(settings: Settings) -> tuple[int, ...] | None:
    """The qualities of the zoo or shipped model; None (any >= 1) for a checkpoint."""
    from vcmref.anchors.learned.codec import shipped_models, zoo_qualities

    model = settings.get("model")
    if model is None or settings.get("checkpoint") is not None:
        return None
    if model.startswith(SHIPPED_PREFIX):
        return shipped_models().get(model, ())
    return zoo_qualities(model, settings.get("metric", "mse"))


COMPRESSAI_PARAMETERS = (
    Param("model", str, optional=True, choices=_model_names,
          doc="a CompressAI zoo architecture or a shipped vcmref-* model"),
    Param("metric", str, "mse", choices=ZOO_METRICS, doc="what the zoo model was trained for"),
    Param("checkpoint", str, optional=True,
          doc="a checkpoint file instead of a model; {quality} in it is the rate point"),
    Param("architecture", str, optional=True, choices=ARCHITECTURES,
          doc="the architecture of a checkpoint in CompressAI's own format"),
    Param("download", bool, False, doc="fetch missing zoo weights into torch.hub's cache"),
    Param("device", str, "cpu", choices=("cpu",),
          doc="the CPU only: CompressAI's entropy coder runs there"),
)


def _max_quality(settings: Settings) -> int | None:
    """The highest quality of the zoo or shipped model (for the rate-point search)."""
    qualities = _qualities(settings)
    return max(qualities) if qualities else None


COMPRESSAI_QUALITY = Param("quality", int, min=1, max=_max_quality, choices=_qualities)


@CODECS.register("compressai")
class CompressAIImage(ImageCodec):
    """An image coded by a CompressAI model (vcmref.anchors.learned.CompressAICodec); params:
    model (with metric, download) or checkpoint (with architecture), device; the rate parameter
    is quality. Rates count the container's bytes, overhead included."""

    parameters = COMPRESSAI_PARAMETERS
    rate_parameters = (COMPRESSAI_QUALITY,)
    # The search visits the qualities from the highest down (a checkpoint has no declared
    # highest: give the search its range).
    searchable = ("quality",)
    rate_rises = ("quality",)

    @classmethod
    def validate(cls, settings: Settings, prefix: str) -> None:
        model, checkpoint = settings.get("model"), settings.get("checkpoint")
        if (model is None) == (checkpoint is None):
            raise ParamError(f"{prefix}model", "expected either a model or a checkpoint, got "
                             f"{'both' if model is not None else 'neither'}")
        if settings.get("architecture") is not None and checkpoint is None:
            raise ParamError(f"{prefix}architecture", "expected no value without a checkpoint "
                             f"(a zoo or shipped model knows its own), got "
                             f"{settings['architecture']!r}")
        if settings.get("metric", "mse") != "mse" and model not in ZOO_MODELS:
            raise ParamError(f"{prefix}metric", "expected mse (the default) unless the model is "
                             f"a zoo model, got {settings['metric']!r}")

    @classmethod
    def check_inputs(cls, settings: Settings, points: list[Any]) -> None:
        from vcmref.anchors.learned.codec import zoo_weights

        checkpoint, model = settings.get("checkpoint"), settings.get("model")
        if checkpoint is not None:
            if "{quality}" not in checkpoint and len(set(points)) > 1:
                raise ParamError("checkpoint", "expected {quality} in the path, for a file per "
                                 f"rate point (there are {len(set(points))}), got "
                                 f"{checkpoint!r}")
            for q in sorted(set(points)):
                path = Path(checkpoint.replace("{quality}", str(q))).expanduser()
                if not path.is_file():
                    raise ParamError("checkpoint", f"expected a checkpoint file for quality {q}, "
                                     f"got {str(path)!r} (not there)")
        elif model in ZOO_MODELS and not settings.get("download"):
            for q in sorted(set(points)):
                url, path = zoo_weights(model, int(q), settings.get("metric", "mse"))
                if not path.is_file():
                    raise ParamError("model", f"expected the weights of {model} quality {q} in "
                                     f"torch.hub's cache: get {url} and put it in {path.parent} "
                                     "(or set download: true)")

    def _codec(self, point: Any):
        from vcmref.anchors.learned.codec import load_codec

        p = {**defaults(self.parameters), **self.cfg.params}
        return load_codec(p["model"], int(point), checkpoint=p["checkpoint"],
                          architecture=p["architecture"], metric=p["metric"],
                          download=p["download"])

    def prepare(self, point: Any) -> None:
        self._codec(point)

    def encode(self, data: np.ndarray, point: Any) -> bytes:
        return self._codec(point).encode(data)

    def decode(self, bitstream: bytes, width: int, height: int, point: Any,
               like: Any = None) -> np.ndarray:
        image = self._codec(point).decode(bitstream)
        if image.shape[:2] != (height, width):
            raise BitstreamError(f"the container codes a {image.shape[1]}x{image.shape[0]} "
                                 f"picture; the item is {width}x{height}")
        return image
