"""The ffmpeg binary that the imageio-ffmpeg package ships, and raw-video decoding through it.

Decoded pictures are taken in the decoder's own pixel format: no ``-pix_fmt`` is given, so no
swscale conversion (range, dithering, bit depth) can happen; the format ffmpeg reports for its
output is checked against the one expected, and a mismatch is an error.
"""

from __future__ import annotations

import re
from functools import lru_cache

from vcmref.media.process import ToolError, ToolNotFoundError, run_tool
from vcmref.media.yuv import ChromaFormat, YuvSequence

QUIET = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
_OUTPUT_FORMAT = re.compile(
    r"Output #0.*?Video: rawvideo \([^)]*\), (\w+)(?:\([^)]*\))?, (\d+)x(\d+)", re.S)


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg (or $IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ToolNotFoundError("ffmpeg: the imageio-ffmpeg package is not installed; "
                                "pip install imageio-ffmpeg") from None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise ToolNotFoundError(f"ffmpeg: {exc}") from None


@lru_cache(maxsize=1)
def ffmpeg_encoders() -> frozenset[str]:
    """Names of the encoders the bundled ffmpeg was built with."""
    out = run_tool([ffmpeg_exe(), "-hide_banner", "-encoders"], what="ffmpeg -encoders",
                   timeout=60).stdout.decode(errors="replace")
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


@lru_cache(maxsize=1)
def encoder_versions() -> dict[str, str]:
    """The versions libvvenc and libx265 report when they open (for a run's provenance); the
    others as 'built in' (libkvazaar reports none)."""
    patterns = {"libvvenc": re.compile(r"libvvenc version: (\S+)"),
                "libx265": re.compile(r"HEVC encoder version (\S+)")}
    out = {}
    for name in ("libvvenc", "libx265", "libkvazaar"):
        if name not in ffmpeg_encoders():
            continue
        pix = "yuv420p10le" if name == "libvvenc" else "yuv420p"
        argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info", "-f", "lavfi",
                "-i", "color=c=gray:s=64x64:d=0.04", "-frames:v", "1", "-pix_fmt", pix,
                "-c:v", name, "-f", "null", "-"]
        try:
            text = run_tool(argv, what=f"{name} version", timeout=60).stderr.decode(
                errors="replace")
        except ToolError as e:
            out[name] = f"unknown ({e})"
            continue
        m = patterns[name].search(text) if name in patterns else None
        out[name] = m.group(1) if m else "built in"
    return out


def require_encoder(name: str) -> None:
    if name not in ffmpeg_encoders():
        raise ToolNotFoundError(f"the ffmpeg of imageio-ffmpeg ({ffmpeg_exe()}) has no {name} "
                                "encoder; install an imageio-ffmpeg release built with it")


def pix_fmt_layout(pix_fmt: str) -> tuple[ChromaFormat, int]:
    """(chroma format, bit depth) of a planar ffmpeg pixel format such as gray10le."""
    m = re.fullmatch(r"(gray|yuv420p|yuv444p)(\d+)?(le)?", pix_fmt)
    if not m or (m.group(2) and not m.group(3)):
        raise ToolError(f"decoded pixel format {pix_fmt} is not a planar little-endian "
                        "gray/yuv420p/yuv444p format")
    fmt = {"gray": ChromaFormat.YUV400, "yuv420p": ChromaFormat.YUV420,
           "yuv444p": ChromaFormat.YUV444}[m.group(1)]
    return fmt, int(m.group(2) or 8)


def decode_raw(bitstream: bytes, demuxer: str, decoder: str, width: int | None = None,
               height: int | None = None, frame_rate: float = 25.0,
               timeout: float = 600.0) -> tuple[YuvSequence, float]:
    """Decode an elementary stream with ffmpeg's `decoder`, single-threaded, to raw planes.

    Returns the sequence in the decoder's native format and size (which must be width x height
    when those are given) and ffmpeg's wall time.
    """
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
            "-threads", "1", "-f", demuxer, "-c:v", decoder, "-i", "pipe:0",
            "-map", "0:v", "-f", "rawvideo", "pipe:1"]
    result = run_tool(argv, what=f"ffmpeg {decoder} decode", stdin=bitstream, timeout=timeout)
    m = _OUTPUT_FORMAT.search(result.stderr.decode(errors="replace"))
    if m is None:
        raise ToolError(f"ffmpeg {decoder} decode: cannot tell the decoded pixel format and size")
    fmt, depth = pix_fmt_layout(m.group(1))
    size = int(m.group(2)), int(m.group(3))
    if (width, height) != (None, None) and size != (width, height):
        raise ToolError(f"ffmpeg {decoder} decode: pictures are {size[0]}x{size[1]}, "
                        f"expected {width}x{height}")
    try:
        seq = YuvSequence.from_bytes(result.stdout, *size, fmt, depth, frame_rate)
    except ValueError as exc:
        raise ToolError(f"ffmpeg {decoder} decode: {exc}") from None
    return seq, result.seconds
