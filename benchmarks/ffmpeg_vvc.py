"""Timing of ffmpeg's native VVC decoder, for the codec benchmark's comparison.

The encoding itself is the vvenc anchor of ``vcmref.anchors`` (4:0:0, all-intra, constant QP).
Findings about this ffmpeg build (n9.0.2, libvvenc 1.15) that shaped that anchor:

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
import tempfile
import time
from pathlib import Path
from typing import TypedDict

from vcmref.media.ffmpeg_tool import QUIET, ffmpeg_exe
from vcmref.media.process import run_tool

TIMEOUT_S = 120.0


class DecodeTiming(TypedDict):
    """Wall-clock figures, in seconds, for decoding one picture with ffmpeg's VVC decoder."""

    wall_s: float
    startup_s: float
    decode_s: float


def _run(args: list[str], what: str = "vvc decode") -> bytes:
    """Run the bundled ffmpeg with ``args`` and return its stdout."""
    return run_tool([ffmpeg_exe(), *args], what=what, timeout=TIMEOUT_S).stdout


def _decode_args(bitstream: Path) -> list[str]:
    """Arguments that decode ``bitstream`` single-threaded with the native VVC decoder."""
    return [*QUIET, "-threads", "1", "-c:v", "vvc", "-i", str(bitstream)]


def _wall(args: list[str]) -> float:
    """Return the wall-clock seconds of one complete ffmpeg process."""
    start = time.perf_counter()
    _run(args)
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
