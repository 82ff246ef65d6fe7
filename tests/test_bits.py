"""Bit counts and rates from byte counts."""

from __future__ import annotations

import numpy as np
import pytest

from vcmref.eval.bits import bits_of, bits_per_sample, bpp, kbps, sample_count


def test_bits_of_bytes_and_files(tmp_path):
    data = bytes(range(37))
    assert bits_of(data) == 296
    assert bits_of(bytearray(data)) == 296 and bits_of(memoryview(data)) == 296
    path = tmp_path / "s.bin"
    path.write_bytes(data)
    assert bits_of(path) == 296 and bits_of(str(path)) == 296
    assert bits_of(b"") == 0
    with pytest.raises(FileNotFoundError, match="not a file"):
        bits_of(tmp_path / "missing.bin")
    with pytest.raises(TypeError, match="bytes or a file path"):
        bits_of(12)


def test_bpp_of_the_original_image():
    assert bpp(768 * 512, 768, 512) == 1.0
    assert bpp(bits_of(b"\0" * 4915), 768, 512) == pytest.approx(0.1, rel=1e-3)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        bpp(8, 0, 10)
    with pytest.raises(TypeError, match="height"):
        bpp(8, 10, 2.5)
    with pytest.raises(ValueError, match="non-negative"):
        bpp(-1, 10, 10)
    with pytest.raises(TypeError, match="bits"):
        bpp(8.0, 10, 10)


def test_kbps_uses_1000():
    # 300 frames at 25 Hz = 12 s; 1.2 Mbit -> 100 kbps
    assert kbps(1_200_000, 300, 25) == pytest.approx(100.0, abs=1e-12)
    assert kbps(1_001_000, 30000, 30000 / 1001) == pytest.approx(1.0, abs=1e-12)  # 1001 s
    for bad in (0, -25, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="frame_rate"):
            kbps(8, 10, bad)
    with pytest.raises(ValueError, match="frames"):
        kbps(8, 0, 25)


def test_bits_per_sample():
    tensors = {"a": np.zeros((64, 52, 52), np.float32), "b": np.zeros((128, 26, 26))}
    n = 64 * 52 * 52 + 128 * 26 * 26
    assert sample_count(tensors) == n
    assert sample_count(list(tensors.values())) == n
    assert bits_per_sample(2 * n, tensors) == 2.0
    assert bits_per_sample(n, tensors["a"]) == n / (64 * 52 * 52)
    assert bits_per_sample(100, 50) == 2.0
    with pytest.raises(ValueError, match="positive"):
        bits_per_sample(100, 0)
    with pytest.raises(ValueError, match="no samples"):
        bits_per_sample(100, [np.zeros(0)])
    with pytest.raises(TypeError, match="expected arrays"):
        bits_per_sample(100, [1, 2])
