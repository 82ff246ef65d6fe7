"""Round trip and timing of the ffmpeg VVC anchor used by the codec benchmark."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "imageio_ffmpeg",
    reason="imageio-ffmpeg is not installed (pip install '.[bench]'); it ships the ffmpeg binary",
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import ffmpeg_vvc  # noqa: E402


def _smooth_tensor(channels: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Return smooth random-ish 10-bit (C, H, W) samples: low-frequency waves plus mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    out = np.empty((channels, height, width), dtype=np.uint16)
    for c in range(channels):
        fx, fy, phase = rng.uniform(0.05, 0.35, 3)
        wave = 512 + 300 * np.sin(fx * x + phase) * np.cos(fy * y) + rng.normal(0, 4, y.shape)
        out[c] = np.clip(np.rint(wave), 0, 1023)
    return out


def _psnr(a: np.ndarray, b: np.ndarray, peak: int = 1023) -> float:
    """Return the PSNR in dB between two arrays at the given peak value."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def test_pack_layout() -> None:
    """Channels are laid out row-major on a ceil(sqrt(C))-column grid, unused cells zero."""
    samples = np.arange(5 * 2 * 3, dtype=np.int32).reshape(5, 2, 3) + 1
    frame = ffmpeg_vvc.pack_monochrome_frame(samples)
    assert frame.dtype == np.uint16 and frame.shape == (2 * 2, 3 * 3)
    assert np.array_equal(frame[0:2, 3:6], samples[1])
    assert np.array_equal(frame[2:4, 3:6], samples[4])
    assert not frame[2:4, 6:9].any()
    with pytest.raises(ValueError):
        ffmpeg_vvc.pack_monochrome_frame(samples + 1023)


def test_round_trip_and_timing(tmp_path: Path) -> None:
    """64x16x16 tensor at QP 22 survives encode/decode; the decode timing is sane."""
    samples = _smooth_tensor(64, 16, 16)
    frame = ffmpeg_vvc.pack_monochrome_frame(samples)
    assert frame.shape == (128, 128)

    bitstream = ffmpeg_vvc.encode_vvc(frame, qp=22, workdir=tmp_path)
    assert bitstream.suffix == ".266" and bitstream.stat().st_size > 0

    decoded = ffmpeg_vvc.decoded_frame(bitstream, width=128, height=128)
    assert decoded.shape == frame.shape and decoded.dtype == np.uint16
    assert _psnr(decoded, frame) > 35.0

    timing = ffmpeg_vvc.time_vvc_decode(bitstream, repeats=3, frames=32)
    assert set(timing) == {"wall_s", "startup_s", "decode_s"}
    for value in timing.values():
        assert math.isfinite(value) and value > 0
    assert timing["decode_s"] < timing["wall_s"]
