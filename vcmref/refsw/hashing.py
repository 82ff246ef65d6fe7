"""Decoded-data hash (normative): MD5 of a layer's decoded integer samples of one frame."""

from __future__ import annotations

import hashlib

import numpy as np


def layer_samples_md5(planes: list[np.ndarray]) -> bytes:
    """MD5 over the given sample planes, in order, planes row-major, each sample as 16 bits
    big-endian: its value modulo 2**16 (two's complement for negative samples)."""
    if not planes:
        return hashlib.md5().digest()
    data = np.concatenate([np.asarray(p).ravel() for p in planes]).astype(np.int64)
    return hashlib.md5((data & 0xFFFF).astype(">u2").tobytes()).digest()
