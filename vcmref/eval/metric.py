"""The metric interface of the CTC: what a config's ``metrics`` list names.

Each metric registers itself in `vcmref.registry.METRICS` under its config name, with
``@METRICS.register("name")`` (the built-in ones at the end of `vcmref.eval.quality` and
`vcmref.eval.task_metrics`); third-party metrics plug in through the entry-point group
``vcmref.metrics``.

A quality metric measures one item: it lists in `inputs` what it measures ("image": (H, W, 3)
uint8 R'G'B' images; "video": YuvSequences; "features": split-point tensors, float32 (C, H, W)
by name) and has a method of each of those names, ``image(original, decoded)`` and so on,
returning a number, which the runner stores in the record's ``metrics``. A task metric
(`task_output` set) has no value per item: it scores the task model's predictions of that
kind (the record's ``detections``), pooled over the dataset by the report (mAP).

`higher_is_better` states the metric's direction: False for a distance such as NLPD, whose
values the BD-rate table negates so that quality rises with rate (vcmref.ctc.report.bd).
"""

from __future__ import annotations

from abc import ABC
from typing import Any, ClassVar


class Metric(ABC):  # noqa: B024  (the methods it needs are named by `inputs`)
    """A metric of a CTC config (see the module docstring)."""

    inputs: ClassVar[tuple[str, ...]] = ()
    task_output: ClassVar[str | None] = None  # e.g. "detections": scores the task's predictions
    higher_is_better: ClassVar[bool] = True  # False: a distance (NLPD); BD-rate negates it

    @classmethod
    def applies_to(cls, codec_input: str) -> bool:
        return codec_input in cls.inputs

    def measure(self, codec_input: str, original: Any, decoded: Any) -> float:
        """The metric of one item: the method named after the codec's input."""
        return float(getattr(self, codec_input)(original, decoded))
