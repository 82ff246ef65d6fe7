"""Decoded-data hash (normative): MD5 of a layer's decoded integer samples of one frame."""

from __future__ import annotations

import hashlib

import numpy as np


def layer_samples_md5(planes: list[np.ndarray]) -> bytes:
    """MD5 over the given sample planes, in order, each sample a big-endian 32-bit two's
    complement integer, planes row-major."""
    if not planes:
        return hashlib.md5().digest()
    data = np.concatenate([np.asarray(p).ravel() for p in planes]).astype(">i4")
    return hashlib.md5(data.tobytes()).digest()
