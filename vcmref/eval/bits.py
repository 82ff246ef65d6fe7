"""Bit counts and rates, always from actual byte counts (docs/metrics.md).

* ``bits_of(data)`` = 8 x the number of bytes of a bitstream (``bytes``) or of a file (``Path``):
  the whole stream as stored, headers included, never an estimate.
* ``bpp(bits, width, height)`` = bits / (width x height), per pixel of the ORIGINAL image
  (the size before any resampling the codec pipeline does), the JPEG AI / VCM image convention.
* ``kbps(bits, frames, frame_rate)`` = bits / (frames / frame_rate) / 1000: kilo is 1000, not
  1024; the duration is frames / frame_rate seconds.
* ``bits_per_sample(bits, samples)`` = bits / number of tensor samples (elements), for features;
  ``samples`` is a count or the tensors themselves (anything with ``.size`` or a sequence of them).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["bits_of", "bpp", "bits_per_sample", "kbps", "sample_count"]


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be a positive integer, got {value!r}")
    if int(value) <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value}")
    return int(value)


def _bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise TypeError(f"bits must be a non-negative integer (a count from bits_of), got {bits!r}")
    if int(bits) < 0:
        raise ValueError(f"bits must be a non-negative integer, got {bits}")
    return int(bits)


def bits_of(data: bytes | bytearray | memoryview | str | os.PathLike) -> int:
    """8 x the byte count of a bitstream held in memory or stored in a file."""
    if isinstance(data, bytes | bytearray):
        return 8 * len(data)
    if isinstance(data, memoryview):
        return 8 * data.nbytes
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"bits_of: {path} is not a file, expected a bitstream file")
        return 8 * path.stat().st_size
    raise TypeError(f"bits_of: expected bytes or a file path, got {type(data).__name__}")


def bpp(bits: int, width: int, height: int) -> float:
    """Bits per pixel of the original image: bits / (width * height)."""
    return _bits(bits) / (_positive_int(width, "width") * _positive_int(height, "height"))


def kbps(bits: int, frames: int, frame_rate: float) -> float:
    """Kilobits (1000 bits) per second of a sequence of `frames` pictures at `frame_rate` Hz."""
    n = _positive_int(frames, "frames")
    if (isinstance(frame_rate, bool) or not isinstance(frame_rate, numbers.Real)
            or not math.isfinite(frame_rate) or frame_rate <= 0):
        raise ValueError(f"frame_rate must be a positive finite number, got {frame_rate!r}")
    return _bits(bits) * float(frame_rate) / n / 1000.0


def sample_count(tensors: object) -> int:
    """Number of samples (elements) of one tensor, or summed over a sequence/dict of tensors."""
    size = getattr(tensors, "size", None)
    if isinstance(size, numbers.Integral):
        return int(size)
    if isinstance(tensors, dict):
        tensors = list(tensors.values())
    if isinstance(tensors, Iterable) and not isinstance(tensors, str | bytes):
        total = 0
        for t in tensors:
            size = getattr(t, "size", None)
            if not isinstance(size, numbers.Integral):
                raise TypeError(f"bits_per_sample: expected arrays with .size, got "
                                f"{type(t).__name__}")
            total += int(size)
        return total
    raise TypeError(f"bits_per_sample: expected a sample count, a tensor or a sequence of "
                    f"tensors, got {type(tensors).__name__}")


def bits_per_sample(bits: int, samples: int | object) -> float:
    """Bits per feature-tensor sample: bits / (number of samples, or total size of the tensors)."""
    if isinstance(samples, numbers.Integral) and not isinstance(samples, bool):
        n = _positive_int(samples, "sample count")
    else:
        n = sample_count(samples)
        if n <= 0:
            raise ValueError("bits_per_sample: the tensors hold no samples, expected at least one")
    return _bits(bits) / n
