"""Helpers shared by the stream tests: feature-like tensors."""

from __future__ import annotations

import numpy as np


def silu_like(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0,
              shift: float = 0.0) -> np.ndarray:
    """SiLU of Gaussian noise: sparse small negatives and a positive tail, like backbone
    features."""
    x = rng.normal(size=shape) * scale + shift
    with np.errstate(over="ignore"):
        return (x / (1.0 + np.exp(-x))).astype(np.float32)
