"""Decoded-data hash (normative): MD5 of a layer's decoded integer samples of one frame."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

_CHUNK_SAMPLES = 1 << 20


def layer_samples_md5(planes: Iterable[np.ndarray]) -> bytes:
    """MD5 over the given sample planes, in order, planes row-major, each sample as 16 bits
    big-endian: its value modulo 2**16 (two's complement for negative samples).

    Hashed a chunk at a time, so memory does not grow with the layer."""
    md5 = hashlib.md5()
    for plane in planes:
        flat = np.asarray(plane).reshape(-1)
        for a in range(0, flat.size, _CHUNK_SAMPLES):
            chunk = flat[a : a + _CHUNK_SAMPLES].astype(np.int64) & 0xFFFF
            md5.update(chunk.astype(">u2").tobytes())
    return md5.digest()
