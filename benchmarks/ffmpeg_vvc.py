"""Reference VVC (H.266) anchor built only on the ffmpeg binary shipped by ``imageio-ffmpeg``.

The codec benchmark uses this module to compare our feature decoder with ffmpeg's native VVC
decoder on the same content: C feature channels are tiled into one 10-bit monochrome picture,
encoded once with libvvenc (all-intra, constant QP, 4:0:0) and decoded with ``-c:v vvc``.

Findings about this ffmpeg build (n9.0.2, libvvenc 1.15) that shape the code below:

* libvvenc only accepts ``yuv420p10le`` frames (``ffmpeg -h encoder=libvvenc``); gray10le is
  not offered.  Letting ffmpeg convert gray10le to yuv420p10le is NOT lossless: swscale treats
  gray as full range and rescales luma to limited range (844 -> 787).  We therefore hand ffmpeg
  yuv420p10le rawvideo ourselves: the luma plane is the frame, both chroma planes are 512.
* The neutral chroma never reaches the bitstream: ``-vvenc-params ChromaFormatIDC=400`` makes
  vvenc code a true 4:0:0 stream, which ffmpeg's decoder outputs as gray10le.
* With 4:0:0 coding no even-size padding is needed (21x29 round-trips); 4:2:0 coding would
  reject odd sizes.  vvenc itself pads to a multiple of 8 and signals a conformance window.
* The ffmpeg wrapper gives vvenc an access-unit buffer of exactly width*height bytes, so a
  picture whose coded size (parameter sets included, about 200 bytes) exceeds that fails with
  "Error submitting video frame to the encoder": very small pictures, or noise at a low QP.
* vvenc's defaults are not a constant QP: perceptual QPA adapts the QP per CTU and the
  random-access GOP lowers the intra slice QP by 3.  ``-qpa 0 -g 1`` plus ``IntraQPOffset=0``
  give an all-intra IDR picture whose slice QP equals ``qp``.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import TypedDict

import numpy as np

BIT_DEPTH = 10
PRESETS = ("faster", "fast", "medium", "slow", "slower")
TIMEOUT_S = 120.0
_NEUTRAL_CHROMA = 1 << (BIT_DEPTH - 1)
_COMMON = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")


class DecodeTiming(TypedDict):
    """Wall-clock figures, in seconds, for decoding one picture with ffmpeg's VVC decoder."""

    wall_s: float
    startup_s: float
    decode_s: float


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _run(args: list[str], stdin: bytes | None = None, what: str = "ffmpeg") -> bytes:
    """Run ffmpeg with ``args`` (no shell) and return stdout; raise with stderr on failure."""
    cmd = [ffmpeg_exe(), *args]
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} timed out after {TIMEOUT_S:.0f} s: {cmd}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {cmd}\n{err}")
    return proc.stdout


def pack_monochrome_frame(samples: np.ndarray, bit_depth: int = BIT_DEPTH) -> np.ndarray:
    """Tile (C, H, W) integer samples row-major into one (rows*H, cols*W) uint16 frame."""
    if samples.ndim != 3 or 0 in samples.shape:
        raise ValueError(f"expected a non-empty (C, H, W) array, got shape {samples.shape}")
    if not np.issubdtype(samples.dtype, np.integer):
        raise TypeError(f"expected integer samples, got {samples.dtype}")
    if not 1 <= bit_depth <= 16:
        raise ValueError(f"bit_depth must be in [1, 16], got {bit_depth}")
    lo, hi = int(samples.min()), int(samples.max())
    if lo < 0 or hi > (1 << bit_depth) - 1:
        raise ValueError(f"samples span [{lo}, {hi}], outside [0, {(1 << bit_depth) - 1}]")
    c, h, w = samples.shape
    cols = math.isqrt(c - 1) + 1  # ceil(sqrt(c))
    rows = -(-c // cols)
    # Unused grid cells stay 0.  No even-size padding: 4:0:0 coding accepts odd sizes.
    grid = np.zeros((rows * cols, h, w), dtype=np.uint16)
    grid[:c] = samples
    return grid.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def encode_vvc(frame: np.ndarray, qp: int, workdir: Path, preset: str = "faster") -> Path:
    """Encode a 2-D 10-bit frame as one all-intra 4:0:0 VVC picture at slice QP ``qp``.

    libvvenc accepts only yuv420p10le input, so the frame is sent as yuv420p10le rawvideo
    whose chroma planes are the neutral value 512; ``ChromaFormatIDC=400`` then codes luma
    only, so the chroma costs neither bits nor decode time.  Returns ``workdir/*.266`` (raw
    Annex-B elementary stream).  Fails when the coded picture exceeds width*height bytes.
    """
    if frame.ndim != 2 or 0 in frame.shape:
        raise ValueError(f"expected a non-empty 2-D frame, got shape {frame.shape}")
    if not np.issubdtype(frame.dtype, np.integer):
        raise TypeError(f"expected integer samples, got {frame.dtype}")
    if int(frame.min()) < 0 or int(frame.max()) >= 1 << BIT_DEPTH:
        raise ValueError(f"frame samples must lie in [0, {(1 << BIT_DEPTH) - 1}]")
    if not 0 <= qp <= 63:
        raise ValueError(f"qp must be in [0, 63], got {qp}")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    h, w = frame.shape
    chroma = np.full(2 * ((h + 1) // 2) * ((w + 1) // 2), _NEUTRAL_CHROMA, dtype="<u2")
    yuv = frame.astype("<u2").tobytes() + chroma.tobytes()
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f"frame_{w}x{h}_qp{qp}_{preset}.266"
    args = [
        *_COMMON,
        "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-video_size", f"{w}x{h}",
        "-framerate", "25", "-i", "pipe:0",
        "-frames:v", "1", "-c:v", "libvvenc", "-preset", preset, "-qp", str(qp),
        "-qpa", "0", "-g", "1", "-vvenc-params", "ChromaFormatIDC=400:IntraQPOffset=0",
        "-f", "vvc", "-y", str(out),
    ]  # fmt: skip
    try:
        _run(args, stdin=yuv, what="libvvenc encode")
    except RuntimeError as exc:
        if "Error submitting video frame" not in str(exc):
            raise
        hint = f"\nhint: the coded picture probably exceeds ffmpeg's {w * h}-byte AU buffer"
        raise RuntimeError(f"{exc}{hint}") from exc
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"libvvenc wrote no bitstream to {out}")
    return out


def _decode_args(bitstream: Path) -> list[str]:
    """Arguments that decode ``bitstream`` single-threaded with the native VVC decoder."""
    return [*_COMMON, "-threads", "1", "-c:v", "vvc", "-i", str(bitstream)]


def _wall(args: list[str]) -> float:
    """Return the wall-clock seconds of one complete ffmpeg process."""
    start = time.perf_counter()
    _run(args, what="vvc decode")
    return time.perf_counter() - start


def time_vvc_decode(bitstream: Path, repeats: int = 5, frames: int = 32) -> DecodeTiming:
    """Time ffmpeg's native VVC decoder (``-threads 1 -c:v vvc ... -f null -``) on one picture.

    * ``wall_s``: best-of-``repeats`` wall time of one whole ffmpeg process decoding the
      single-picture ``bitstream``; what a user of the ffmpeg CLI pays.
    * ``decode_s``: marginal decode time of one picture, ``(T_n - T_1) / (n - 1)`` where T_n is
      the best-of-``repeats`` wall time for a stream holding ``n = frames`` back-to-back copies
      of the access unit (each an IDR with its own parameter sets, so every copy is decoded in
      full).  Process start-up, stream probing and decoder set-up cancel out; the per-packet
      demux and null-muxer work (microseconds) stays in.  Caches are warm.
    * ``startup_s``: ``wall_s - decode_s``: exec and loading of the static binary, option
      parsing, probing (``avformat_find_stream_info`` decodes the first picture once more),
      decoder and muxer set-up, teardown.

    ``-frames:v 0`` is no start-up baseline (ffmpeg's decoder thread still decodes the picture),
    nor is ``-benchmark``'s rtime decode-only (it includes the probing decode).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    access_unit = bitstream.read_bytes()
    with tempfile.TemporaryDirectory(prefix="vvc_timing_") as tmp:
        multi = Path(tmp) / f"x{frames}.266"
        multi.write_bytes(access_unit * frames)
        # Untimed warm-up that also checks every copy is decoded.
        progress = _run([*_decode_args(multi), "-f", "null", "-progress", "pipe:1", "-"])
        counts = [ln for ln in progress.decode().splitlines() if ln.startswith("frame=")]
        if not counts or int(counts[-1].split("=", 1)[1]) != frames:
            raise RuntimeError(f"expected {frames} decoded pictures, ffmpeg reported {counts[-1:]}")
        one_args = [*_decode_args(bitstream), "-f", "null", "-"]
        multi_args = [*_decode_args(multi), "-f", "null", "-"]
        one, many = math.inf, math.inf
        for _ in range(repeats):  # interleaved, so both see the same machine load
            one = min(one, _wall(one_args))
            many = min(many, _wall(multi_args))
    decode = (many - one) / (frames - 1)
    if decode <= 0:
        raise RuntimeError(
            f"timing noise exceeds the decode time (T_1={one:.4f} s, T_{frames}={many:.4f} s);"
            " raise frames or repeats"
        )
    return DecodeTiming(wall_s=one, startup_s=one - decode, decode_s=decode)


def decoded_frame(bitstream: Path, width: int, height: int) -> np.ndarray:
    """Decode the first picture of ``bitstream`` to a (height, width) uint16 luma array."""
    args = [*_decode_args(bitstream), "-frames:v", "1", "-f", "rawvideo", "pipe:1"]
    raw = _run(args, what="vvc decode")
    # No -pix_fmt: the native output is taken as is, so no swscale range conversion happens.
    luma = width * height
    chroma_420 = 2 * ((width + 1) // 2) * ((height + 1) // 2)
    samples = np.frombuffer(raw, dtype="<u2")
    if samples.size not in (luma, luma + chroma_420):  # gray10le, or yuv420p10le from elsewhere
        raise ValueError(f"decoded {len(raw)} bytes, not a 10-bit {width}x{height} picture")
    return samples[:luma].reshape(height, width).astype(np.uint16)
