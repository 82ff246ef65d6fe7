"""The task-model interface: pre-processing, the front up to a split point, the back from it,
and post-processing to predictions in the dataset's terms (COCO detection dicts).

A task model that a CTC config names (``task.kind``) is registered in `vcmref.registry.TASKS`
and declares, as class-level data and class methods, what the config loader checks before
anything runs: its own keys of the task section (`parameters`, `required`, `validate`), its
split points (`split_names`), what its predictions are (`prediction_kind`), the files it
needs (`check_inputs`); `from_settings` builds it from those keys."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from vcmref.errors import VcmrefError
from vcmref.params import Param

Tensors = dict[str, np.ndarray]
Predictions = list[dict[str, Any]]


class TaskModelError(VcmrefError):
    """A model, split point or input that the task network cannot use."""


@dataclass
class Prepared:
    """A network input and what post-processing needs to map outputs back to the image."""

    input: np.ndarray  # (1, C, H, W) float32, as the network takes it
    image_id: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


class TaskModel(ABC):
    """A task network with named split points.

    ``front(prepared, split)`` returns the tensors at the split point, ``back(tensors,
    prepared, split)`` the predictions from them, and ``full(image)`` runs the whole network
    (remote inference on a decoded image). ``back(front(x))`` equals ``full`` to float
    tolerance. ``prepared_for(width, height)`` gives what ``back`` needs without the image,
    and ``predict`` the predictions from whatever a codec decoded (an image, or the tensors
    of a split point).
    """

    name: str
    split_points: dict[str, tuple[str, ...]]  # split name -> tensor names, in order
    #: What the predictions are: "detections" (COCO detection dicts, scored by mAP) or
    #: "labels" (class labels with scores, best first).
    predictions: ClassVar[str] = "detections"

    # -- what a CTC config may say about the model (task.kind and its own keys) -------------

    #: The model's own keys in a config's task section, as declared parameters (checked with
    #: vcmref.params.check_settings); `required` are the ones that must be given.
    parameters: ClassVar[tuple[Param, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "task.") -> None:
        """Checks beyond the declared types and ranges (raise vcmref.params.ParamError)."""
        return None  # nothing more to check

    @classmethod
    def split_names(cls, settings: Mapping[str, Any]) -> tuple[str, ...]:
        """The split points a config may name, from its settings alone (no model loaded);
        default: the class's `split_points`."""
        return tuple(getattr(cls, "split_points", None) or ())

    @classmethod
    def prediction_kind(cls, settings: Mapping[str, Any]) -> str:
        """What the model configured so predicts (see `predictions`)."""
        return cls.predictions

    @classmethod
    def check_inputs(cls, settings: Mapping[str, Any]) -> None:
        """Raise vcmref.params.ParamError (key, what was expected) for a file the model needs
        that is not there; called before a CTC run directory is created."""
        return None  # nothing more to check

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TaskModel:
        """The model a config's settings describe (its own keys, defaults filled in)."""
        return cls(**settings)

    # -- running it ---------------------------------------------------------------------

    def prepared_for(self, width: int, height: int, image_id: int = 0) -> Prepared:
        """What `back` needs for an image of this size, without the image (decoded split
        tensors and the dataset's image size are enough). Default: the pre-processing of a
        blank image of that size; override it where that is costly or where
        post-processing needs more than the size."""
        return self.preprocess(np.zeros((height, width, 3), np.uint8), image_id)

    def predict(self, decoded: Any, width: int, height: int, image_id: int = 0,
                split: str | None = None) -> Predictions:
        """Predictions from what a codec decoded: with no split, a (H, W, 3) uint8 image
        (the whole network: remote inference); else the split point's tensors (the back)."""
        if split is None:
            return self.full(decoded, image_id)
        return self.back(decoded, self.prepared_for(width, height, image_id), split)

    def check_split(self, split: str) -> tuple[str, ...]:
        if split not in self.split_points:
            raise TaskModelError(f"{self.name}: unknown split point {split!r}; known: "
                                 f"{', '.join(self.split_points)}")
        return self.split_points[split]

    @abstractmethod
    def preprocess(self, image: np.ndarray, image_id: int = 0) -> Prepared:
        """The network input for an (H, W, 3) uint8 RGB image."""

    @abstractmethod
    def front(self, prepared: Prepared, split: str) -> Tensors:
        """Tensors at `split`, float32 (C, H, W) each (batch dimension removed)."""

    @abstractmethod
    def back(self, tensors: Tensors, prepared: Prepared, split: str) -> Predictions:
        """Predictions from (possibly decoded) split-point tensors."""

    @abstractmethod
    def full(self, image: np.ndarray, image_id: int = 0) -> Predictions:
        """Predictions of the whole network on an image."""
