"""Timing of ffmpeg's VVC decoder, as the codec benchmark measures it."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from vcmref.anchors.image_codecs import tile_channels
from vcmref.anchors.registry import get_codec
from vcmref.media.yuv import monochrome

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


def test_round_trip_and_timing(tmp_path: Path) -> None:
    """64x16x16 tensor at QP 22 through the vvenc anchor; the decoder timing is sane."""
    samples = _smooth_tensor(64, 16, 16)
    frame = tile_channels(samples)
    assert frame.shape == (128, 128)
    coded = get_codec("vvenc").code(monochrome(frame, 10), 22)
    assert _psnr(coded.decoded.planes[0][0], frame) > 35.0
    bitstream = tmp_path / "frame.266"
    bitstream.write_bytes(coded.bitstream)
    timing = ffmpeg_vvc.time_vvc_decode(bitstream, repeats=3, frames=32)
    assert set(timing) == {"wall_s", "startup_s", "decode_s"}
    for value in timing.values():
        assert math.isfinite(value) and value > 0
    assert timing["decode_s"] < timing["wall_s"]
