"""The task-model interface: pre-processing, the front up to a split point, the back from it,
and post-processing to predictions in the dataset's terms (COCO detection dicts)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vcmref.errors import VcmrefError

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
    tolerance.
    """

    name: str
    split_points: dict[str, tuple[str, ...]]  # split name -> tensor names, in order

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
