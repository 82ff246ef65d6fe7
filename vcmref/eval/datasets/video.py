"""Video as frames: Y4M and raw .yuv files read directly, anything else decoded by ffmpeg.

Every source gives frames as :class:`vcmref.media.yuv.YuvSequence` (planar Y'CbCr integer
samples, uint16 arrays) in the file's own chroma format and bit depth, with its frame rate;
``read(start, stop)`` reads that frame range only, and ``chunks(n)`` walks a long video n frames
at a time, so no more than one range is ever held in memory. Nothing converts samples: no range
expansion, no matrix, no chroma resampling; ``color_range`` says what the file declares
("limited", "full", or None when it does not say). :func:`frame_to_rgb` converts one frame to
R'G'B' when the caller names the matrix and the range.

* **Y4M** (parsed here): the header tags ``W`` ``H`` ``F`` (``num:den``) ``C`` (``420jpeg``,
  ``420mpeg2``, ``420paldv``, ``420`` and ``420pN``; ``444`` and ``444pN``; ``mono`` and
  ``monoN``; absent means ``420jpeg``), ``I``/``A`` (kept, unused) and ``X`` comments
  (``XCOLORRANGE=LIMITED|FULL`` gives ``color_range``); each frame is ``FRAME``, optional
  parameters, a newline, then the planes Y, Cb, Cr, one byte per sample up to 8 bits, two bytes
  little-endian above. 4:2:2, 4:1:1 and alpha are refused (the anchors have no such format).
* **raw .yuv**: planar frames back to back in the layout of ``YuvSequence.to_bytes``; the
  width, height, chroma format, bit depth and frame rate must be given; the file must hold a
  whole number of frames.
* **ffmpeg** (mp4, mkv, raw .h264/.hevc, ...): the first video stream is decoded by the ffmpeg
  of imageio-ffmpeg into a Y4M pipe in the decoder's own pixel format. No ``-pix_fmt`` is
  requested, so swscale never runs (a format Y4M cannot carry is an error, never a silent
  conversion), and the stream's pixel format as ffmpeg reports it must match the Y4M layout.
  A frame range is taken with the ``select`` filter on the decoded frame number ``n`` and
  ``-fps_mode passthrough`` (no frame is duplicated or dropped), so ranges are exact; frames
  before the range are decoded and dropped, frames after it are not decoded. The frame count is
  the number of video packets (``-c copy`` to the null muxer).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vcmref.eval.datasets.base import Dataset, DatasetError, DatasetKind, Item
from vcmref.media.yuv import ChromaFormat, YuvSequence
from vcmref.params import Param, ParamError
from vcmref.registry import DATASETS

Y4M_MAGIC = b"YUV4MPEG2"
_MAX_HEADER = 4096
_MAX_FRAME_HEADER = 1024
_RANGE_TAGS = {"LIMITED": "limited", "FULL": "full"}


@dataclass(frozen=True)
class VideoInfo:
    """What a video source declares: size, frame count and rate, sample layout and range."""

    width: int
    height: int
    num_frames: int
    frame_rate: Fraction
    chroma_format: ChromaFormat
    bit_depth: int
    color_range: str | None = None
    #: Format-specific detail: the Y4M header tags, or ffmpeg's stream description.
    details: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def frame_bytes(self) -> int:
        bps = 1 if self.bit_depth <= 8 else 2
        return bps * sum(h * w for h, w in (
            self.chroma_format.plane_shape(p, self.height, self.width)
            for p in range(self.chroma_format.num_planes)))


class VideoSource:
    """Frames of one video file; subclasses implement _read(start, stop) -> raw bytes."""

    def __init__(self, path: Path, info: VideoInfo) -> None:
        self.path = path
        self.info = info

    def __len__(self) -> int:
        return self.info.num_frames

    def __repr__(self) -> str:
        i = self.info
        return (f"{type(self).__name__}({str(self.path)!r}, {i.width}x{i.height}, "
                f"{i.num_frames} frames, {i.frame_rate} fps, {i.chroma_format.value} "
                f"{i.bit_depth}-bit)")

    @property
    def frame_rate(self) -> float:
        return float(self.info.frame_rate)

    def read(self, start: int = 0, stop: int | None = None) -> YuvSequence:
        """Frames [start, stop) (stop defaults to the end) as one sequence."""
        n = self.info.num_frames
        stop = n if stop is None else stop
        if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop <= n):
            raise ValueError(f"{self.path}: frame range [{start}, {stop}) is not a non-empty "
                             f"range within [0, {n})")
        raw = self._read(start, stop)
        i = self.info
        try:
            seq = YuvSequence.from_bytes(raw, i.width, i.height, i.chroma_format, i.bit_depth,
                                         float(i.frame_rate))
        except ValueError as exc:
            raise DatasetError(self.path, f"frames [{start}, {stop})", str(exc)) from None
        if seq.num_frames != stop - start:
            raise DatasetError(self.path, f"frames [{start}, {stop})",
                               f"got {seq.num_frames} frames")
        return seq

    def chunks(self, frames_per_chunk: int, start: int = 0,
               stop: int | None = None) -> Iterator[YuvSequence]:
        """Frames [start, stop) in consecutive sequences of at most `frames_per_chunk`."""
        if not (isinstance(frames_per_chunk, int) and frames_per_chunk > 0):
            raise ValueError(f"frames_per_chunk must be a positive integer, "
                             f"got {frames_per_chunk!r}")
        stop = self.info.num_frames if stop is None else stop
        for s in range(start, stop, frames_per_chunk):
            yield self.read(s, min(s + frames_per_chunk, stop))

    def _read(self, start: int, stop: int) -> bytes:
        raise NotImplementedError


# -- Y4M --------------------------------------------------------------------------------------
def _y4m_layout(tag: str, file: Path) -> tuple[ChromaFormat, int]:
    if tag in ("420jpeg", "420mpeg2", "420paldv", "420"):
        return ChromaFormat.YUV420, 8
    if tag == "444":
        return ChromaFormat.YUV444, 8
    if tag == "mono":
        return ChromaFormat.YUV400, 8
    m = re.fullmatch(r"(420p|444p|mono)(\d+)", tag)
    if m and 9 <= int(m.group(2)) <= 16:
        fmt = {"420p": ChromaFormat.YUV420, "444p": ChromaFormat.YUV444,
               "mono": ChromaFormat.YUV400}[m.group(1)]
        return fmt, int(m.group(2))
    raise DatasetError(file, "C", f"Y4M colour space {tag!r} is not supported (4:2:0, 4:4:4 "
                       "or mono, 8 to 16 bits)")


def y4m_chroma_tag(chroma_format: ChromaFormat | str, bit_depth: int) -> str:
    """The Y4M ``C`` tag for a layout; 8-bit 4:2:0 is ``420jpeg`` (centre-sited chroma, the
    siting of vcmref.media.color)."""
    fmt = ChromaFormat(chroma_format)
    base = {"420": "420", "444": "444", "400": "mono"}[fmt.value]
    if bit_depth == 8:
        return "420jpeg" if fmt is ChromaFormat.YUV420 else base
    if fmt is ChromaFormat.YUV400:
        return f"mono{bit_depth}"
    return f"{base}p{bit_depth}"


def _parse_y4m_header(line: bytes, file: Path) -> VideoInfo:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise DatasetError(file, "header", "the Y4M header is not ASCII") from None
    parts = text.split(" ")
    if parts[0] != "YUV4MPEG2":
        raise DatasetError(file, "header", "not a Y4M file (no YUV4MPEG2 signature)")
    tags: dict[str, str] = {}
    extra: list[str] = []
    for p in parts[1:]:
        if not p:
            raise DatasetError(file, "header", f"empty tag (two spaces) in {text!r}")
        if p[0] == "X":
            extra.append(p[1:])
        else:
            tags[p[0]] = p[1:]
    for key in ("W", "H", "F"):
        if key not in tags:
            raise DatasetError(file, key, "missing from the Y4M header")
    dims = {}
    for key in ("W", "H"):
        if not tags[key].isdigit() or int(tags[key]) == 0:
            raise DatasetError(file, key, f"expected a positive integer, got {tags[key]!r}")
        dims[key] = int(tags[key])
    m = re.fullmatch(r"(\d+):(\d+)", tags["F"])
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise DatasetError(file, "F", f"expected a frame rate num:den, got {tags['F']!r}")
    rate = Fraction(int(m.group(1)), int(m.group(2)))
    fmt, depth = _y4m_layout(tags.get("C", "420jpeg"), file)
    color_range = None
    for x in extra:
        if x.startswith("COLORRANGE="):
            value = x.split("=", 1)[1]
            if value not in _RANGE_TAGS:
                raise DatasetError(file, "XCOLORRANGE", f"expected LIMITED or FULL, got {value!r}")
            color_range = _RANGE_TAGS[value]
    details = dict(tags) | {f"X{i}": x for i, x in enumerate(extra)}
    return VideoInfo(dims["W"], dims["H"], 0, rate, fmt, depth, color_range, details)


def _index_y4m(stream: BinaryIO, file: Path) -> tuple[VideoInfo, list[int]]:
    """Parse the header and find the byte offset of every frame's samples (headers only read)."""
    stream.seek(0)
    head = stream.read(_MAX_HEADER)
    end = head.find(b"\n")
    if not head.startswith(Y4M_MAGIC):
        raise DatasetError(file, "header", "not a Y4M file (no YUV4MPEG2 signature)")
    if end < 0:
        raise DatasetError(file, "header", f"no end of header in the first {_MAX_HEADER} bytes")
    info = _parse_y4m_header(head[:end], file)
    frame_bytes = info.frame_bytes
    size = stream.seek(0, io.SEEK_END)
    offsets, pos = [], end + 1
    while pos < size:
        stream.seek(pos)
        fh = stream.read(_MAX_FRAME_HEADER)
        nl = fh.find(b"\n")
        if not fh.startswith(b"FRAME") or nl < 0 or (nl > 5 and fh[5:6] != b" "):
            raise DatasetError(file, f"frame {len(offsets)}", f"no FRAME marker at byte {pos}")
        data = pos + nl + 1
        if data + frame_bytes > size:
            raise DatasetError(file, f"frame {len(offsets)}", f"truncated: {size - data} of "
                               f"{frame_bytes} bytes present")
        offsets.append(data)
        pos = data + frame_bytes
    if not offsets:
        raise DatasetError(file, "frames", "the Y4M file holds no frame")
    info = VideoInfo(info.width, info.height, len(offsets), info.frame_rate, info.chroma_format,
                     info.bit_depth, info.color_range, info.details)
    return info, offsets


class Y4mVideo(VideoSource):
    """A .y4m file, its frames read on demand (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise DatasetError(path, None, "video file not found")
        with open(path, "rb") as f:
            info, self._offsets = _index_y4m(f, path)
        super().__init__(path, info)

    def _read(self, start: int, stop: int) -> bytes:
        n = self.info.frame_bytes
        parts = []
        with open(self.path, "rb") as f:
            for off in self._offsets[start:stop]:
                f.seek(off)
                parts.append(f.read(n))
        return b"".join(parts)


def y4m_bytes(seq: YuvSequence, frame_rate: Fraction | float | None = None,
              color_range: str | None = None) -> bytes:
    """A sequence as Y4M bytes (``C`` from y4m_chroma_tag, ``Ip A1:1``, ``XCOLORRANGE`` when
    `color_range` is "limited" or "full")."""
    rate = Fraction(seq.frame_rate if frame_rate is None else frame_rate).limit_denominator(
        1001000)
    header = (f"YUV4MPEG2 W{seq.width} H{seq.height} F{rate.numerator}:{rate.denominator} Ip "
              f"A1:1 C{y4m_chroma_tag(seq.chroma_format, seq.bit_depth)}")
    if color_range is not None:
        inverse = {v: k for k, v in _RANGE_TAGS.items()}
        if color_range not in inverse:
            raise ValueError(f"color_range must be 'limited', 'full' or None, got {color_range!r}")
        header += f" XCOLORRANGE={inverse[color_range]}"
    per_frame = seq.frame_bytes
    raw = seq.to_bytes()
    parts = [header.encode("ascii") + b"\n"]
    for i in range(seq.num_frames):
        parts += [b"FRAME\n", raw[i * per_frame:(i + 1) * per_frame]]
    return b"".join(parts)


def write_y4m(path: str | Path, seq: YuvSequence, frame_rate: Fraction | float | None = None,
              color_range: str | None = None) -> None:
    """Write a sequence as a Y4M file (see y4m_bytes)."""
    Path(path).write_bytes(y4m_bytes(seq, frame_rate, color_range))


# -- raw .yuv ---------------------------------------------------------------------------------
class RawYuvVideo(VideoSource):
    """A headerless planar .yuv file of the given layout and frame rate."""

    def __init__(self, path: str | Path, *, width: int, height: int,
                 chroma_format: ChromaFormat | str, bit_depth: int,
                 frame_rate: Fraction | float) -> None:
        path = Path(path)
        if not path.is_file():
            raise DatasetError(path, None, "video file not found")
        for name, v in (("width", width), ("height", height), ("bit_depth", bit_depth)):
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not 1 <= bit_depth <= 16:
            raise ValueError(f"bit_depth must be in [1, 16], got {bit_depth}")
        rate = Fraction(frame_rate).limit_denominator(1001000)
        if rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate!r}")
        info = VideoInfo(width, height, 0, rate, ChromaFormat(chroma_format), bit_depth)
        size = path.stat().st_size
        frames, rest = divmod(size, info.frame_bytes)
        if rest or frames == 0:
            raise DatasetError(path, "size", f"{size} bytes is not a whole number of "
                               f"{width}x{height} {info.chroma_format.value} {bit_depth}-bit "
                               f"frames of {info.frame_bytes} bytes ({frames} frames and "
                               f"{rest} bytes)")
        super().__init__(path, VideoInfo(width, height, frames, rate, info.chroma_format,
                                         bit_depth))

    def _read(self, start: int, stop: int) -> bytes:
        n = self.info.frame_bytes
        with open(self.path, "rb") as f:
            f.seek(start * n)
            return f.read((stop - start) * n)


# -- ffmpeg -----------------------------------------------------------------------------------
def _split_top_level(text: str) -> list[str]:
    """Split at commas outside parentheses: 'h264 (High) (avc1 / x), yuv420p(tv, bt709), ...'."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _ffmpeg_pix_fmt(chroma_format: ChromaFormat, bit_depth: int) -> set[str]:
    name = chroma_format.ffmpeg_pix_fmt(bit_depth)
    return {name, name.replace("yuv", "yuvj")} if bit_depth == 8 else {name}


class FfmpegVideo(VideoSource):
    """Any video ffmpeg can demux and decode; frames decoded on demand (module docstring)."""

    def __init__(self, path: str | Path, *, timeout: float = 600.0) -> None:
        from vcmref.media.ffmpeg_tool import ffmpeg_exe
        from vcmref.media.process import run_tool

        path = Path(path)
        if not path.is_file():
            raise DatasetError(path, None, "video file not found")
        self._timeout = timeout
        self._exe = ffmpeg_exe()
        first = run_tool(self._argv(path, "info") + [
            "-frames:v", "1", "-strict", "-1", "-f", "yuv4mpegpipe", "pipe:1"],
            what=f"ffmpeg decode of {path}", timeout=timeout)
        info, _ = _index_y4m(io.BytesIO(first.stdout), path)
        stream = self._stream_description(first.stderr.decode(errors="replace"), path)
        fields = _split_top_level(stream)
        pix = fields[1].split("(")[0].strip() if len(fields) > 1 else ""
        if pix not in _ffmpeg_pix_fmt(info.chroma_format, info.bit_depth):
            raise DatasetError(path, "pixel format", f"ffmpeg decodes {pix!r} but its Y4M "
                               f"output says {info.chroma_format.value} {info.bit_depth}-bit")
        color_range = info.color_range
        if color_range is None and len(fields) > 1 and "(" in fields[1]:
            words = [w.strip() for w in fields[1].split("(", 1)[1].rstrip(")").split(",")]
            color_range = "limited" if "tv" in words else "full" if "pc" in words else None
        if pix.startswith("yuvj"):
            color_range = "full"
        count = run_tool([self._exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel",
                          "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null",
                          "-progress", "pipe:1", "-"],
                         what=f"ffmpeg frame count of {path}", timeout=timeout)
        frames = re.findall(r"^frame=(\d+)\s*$", count.stdout.decode(errors="replace"), re.M)
        if not frames or int(frames[-1]) == 0:
            raise DatasetError(path, "frames", "ffmpeg finds no video frame")
        details = dict(info.details) | {"stream": stream}
        super().__init__(path, VideoInfo(info.width, info.height, int(frames[-1]),
                                         info.frame_rate, info.chroma_format, info.bit_depth,
                                         color_range, details))

    def _argv(self, path: Path, loglevel: str) -> list[str]:
        return [self._exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel,
                "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]

    @staticmethod
    def _stream_description(stderr: str, path: Path) -> str:
        m = re.search(r"^\s*Stream #0:\d+\S*: Video: (.*)$", stderr, re.M)
        if m is None:
            raise DatasetError(path, "stream", "ffmpeg reports no video stream")
        return m.group(1).strip()

    def _read(self, start: int, stop: int) -> bytes:
        from vcmref.media.process import run_tool

        out = run_tool(self._argv(self.path, "error") + [
            "-vf", f"select=between(n\\,{start}\\,{stop - 1})", "-frames:v", str(stop - start),
            "-strict", "-1", "-f", "yuv4mpegpipe", "pipe:1"],
            what=f"ffmpeg decode of {self.path} frames [{start}, {stop})",
            timeout=self._timeout).stdout
        info, offsets = _index_y4m(io.BytesIO(out), self.path)
        if (info.width, info.height, info.chroma_format, info.bit_depth) != (
                self.info.width, self.info.height, self.info.chroma_format, self.info.bit_depth):
            raise DatasetError(self.path, f"frames [{start}, {stop})", "the decoded format "
                               "changed within the stream")
        if len(offsets) != stop - start:
            raise DatasetError(self.path, f"frames [{start}, {stop})",
                               f"ffmpeg gave {len(offsets)} frames")
        view = memoryview(out)
        n = self.info.frame_bytes
        return b"".join(view[o:o + n] for o in offsets)


# -- entry points -----------------------------------------------------------------------------
def video_frames(path: str | Path, *, width: int | None = None, height: int | None = None,
                 chroma_format: ChromaFormat | str | None = None, bit_depth: int | None = None,
                 frame_rate: Fraction | float | None = None) -> VideoSource:
    """Open a video by its suffix: ``.y4m`` parsed here, ``.yuv`` raw (width, height,
    chroma_format, bit_depth and frame_rate required), anything else through ffmpeg."""
    path = Path(path)
    suffix = path.suffix.lower()
    raw_args = {"width": width, "height": height, "chroma_format": chroma_format,
                "bit_depth": bit_depth, "frame_rate": frame_rate}
    if suffix == ".yuv":
        missing = [k for k, v in raw_args.items() if v is None]
        if missing:
            raise ValueError(f"{path}: a raw .yuv file needs {', '.join(missing)}")
        return RawYuvVideo(path, **raw_args)  # type: ignore[arg-type]
    given = [k for k, v in raw_args.items() if v is not None]
    if given:
        raise ValueError(f"{path}: {', '.join(given)} apply to raw .yuv files only; the "
                         f"{suffix or 'file'} declares its own")
    if suffix == ".y4m":
        return Y4mVideo(path)
    return FfmpegVideo(path)


def frame_to_rgb(seq: YuvSequence, index: int, *, matrix: str, full_range: bool) -> np.ndarray:
    """Frame `index` of a 4:2:0 or 4:4:4 sequence as (H, W, 3) R'G'B' by the stated rules of
    vcmref.media.color (uint8 for 8-bit video, else uint16 at the video's bit depth; 8 to 16
    bits). The caller names the matrix ("bt709"/"bt601") and the range: nothing is guessed."""
    from vcmref.media.color import ycbcr_to_rgb

    if seq.chroma_format is ChromaFormat.YUV400:
        raise ValueError("frame_to_rgb: a 4:0:0 (mono) sequence has no colour")
    if not 0 <= index < seq.num_frames:
        raise ValueError(f"frame_to_rgb: frame {index} outside [0, {seq.num_frames})")
    return ycbcr_to_rgb(tuple(p[index] for p in seq.planes), matrix=matrix,
                        full_range=full_range, bit_depth=seq.bit_depth,
                        chroma=seq.chroma_format.value, rgb_bit_depth=seq.bit_depth)


# -- video datasets ---------------------------------------------------------------------------

#: A frame's image id in ground truth and detections: item id * FRAME_ID_BASE + frame index
#: (0-based), so frames of every sequence have distinct ids and sort in display order.
FRAME_ID_BASE = 1_000_000


class VideoDataset(Dataset):
    """One item per sequence (ids 1.., names the file stems, the size of a frame), or with
    `chunk` one item per chunk of `chunk` frames (names ``STEM@START``), coded and evaluated as
    separate jobs; ``load_video(item)`` reads the item's frames among the first `frames` of its
    sequence (all when None). For tasks, frame f (0-based, in its sequence) of sequence s has
    image id ``s * FRAME_ID_BASE + f`` and is seen as R'G'B' converted with `matrix` and
    `full_range` (the sequence's Y'CbCr as coded)."""

    is_video = True

    def __init__(self, videos: list[str | Path], frames: int | None = None, *,
                 matrix: str = "bt601", full_range: bool = False,
                 chunk: int | None = None) -> None:
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk {chunk}: expected at least 1 frame")
        items = []
        self._rates: dict[int, float] = {}
        # item id -> (sequence id, first frame, end frame) in the sequence
        self._spans: dict[int, tuple[int, int, int]] = {}
        for k, path in enumerate(videos):
            path = Path(path)
            if not path.is_file():
                raise DatasetError(path, None, "video file not found")
            source = video_frames(path)
            n = len(source) if frames is None else min(frames, len(source))
            step = chunk or max(n, 1)
            for start in range(0, max(n, 1), step):
                item_id = len(items) + 1
                name = path.stem if chunk is None else f"{path.stem}@{start:05d}"
                items.append(Item(item_id, name, path, source.info.width, source.info.height))
                self._rates[item_id] = float(source.frame_rate)
                self._spans[item_id] = (k + 1, start, min(start + step, n))
        source_dir = Path(videos[0]).parent if videos else Path(".")
        super().__init__(items, kind="video", source=source_dir, annotated=False)
        self.frames, self.chunk = frames, chunk
        self.matrix, self.full_range = matrix, full_range

    def _span(self, item: Item | int | str) -> tuple[Item, int, int, int]:
        it = item if isinstance(item, Item) else self[item]
        return (it, *self._spans[it.id])

    def num_frames(self, item: Item | int | str) -> int:
        """How many frames the item codes."""
        _, _, start, stop = self._span(item)
        return stop - start

    def sequence_id(self, item: Item | int | str) -> int:
        """The sequence the item belongs to (1..); chunks of one video share it."""
        return self._span(item)[1]

    def load_video(self, item: Item | int | str) -> YuvSequence:
        it, _, start, stop = self._span(item)
        return video_frames(it.path).read(start, stop)

    def frame_ids(self, item: Item | int | str) -> list[int]:
        _, seq, start, stop = self._span(item)
        return [seq * FRAME_ID_BASE + f for f in range(start, stop)]

    def load_frames(self, item: Item | int | str) -> list[np.ndarray]:
        it = item if isinstance(item, Item) else self[item]
        seq = self.load_video(it)
        if seq.bit_depth != 8:
            raise DatasetError(it.path, "bit depth", f"{seq.bit_depth}-bit video: the task "
                               "networks take 8-bit R'G'B' frames")
        return [frame_to_rgb(seq, f, matrix=self.matrix, full_range=self.full_range)
                .astype(np.uint8) for f in range(seq.num_frames)]

    def frame_rate(self, item: Item | int | str) -> float:
        it = item if isinstance(item, Item) else self[item]
        return self._rates[it.id]

    def frame_records(self, item: Item | int | str) -> list[dict]:
        """The ground truth's ``images`` entries of the item's frames (``video_id`` is the
        item's id, ``sequence_id`` its sequence's, ``frame_index`` 0-based in the sequence)."""
        it = item if isinstance(item, Item) else self[item]
        _, seq, start, _ = self._span(it)
        return [{"id": fid, "video_id": it.id, "sequence_id": seq, "frame_index": start + k,
                 "width": it.width, "height": it.height,
                 "file_name": f"{it.path.name}#{start + k}"}
                for k, fid in enumerate(self.frame_ids(it))]


#: The keys every video dataset kind shares: how many frames, and the Y'CbCr <-> R'G'B'
#: conversion between the task network's pictures and the codecs' sequences.
SEQUENCE_PARAMETERS = (
    Param("frames", int, optional=True, min=1, doc="code the first N frames of each sequence"),
    Param("matrix", str, "bt601", choices=("bt601", "bt709"),
          doc="Y'CbCr <-> R'G'B' between the codecs' sequences and the task network"),
    Param("full_range", bool, False, doc="the sequences' Y'CbCr range"))


@DATASETS.register("video")
class VideoKind(DatasetKind):
    """``dataset.kind: video``: ``videos`` (mp4, y4m, ...: whatever video_frames opens) and
    ``frames``, the first N frames of each (all when not set)."""

    media = "video"
    parameters = (Param("videos", list, items=str, doc="the sequences"), *SEQUENCE_PARAMETERS,
                  Param("chunk", int, optional=True, min=1,
                        doc="frames per job: each sequence is cut into chunks of N frames, "
                            "coded and evaluated apart (tracking joins them again)"))
    required = ("videos",)
    load = VideoDataset

    def check_inputs(self) -> None:
        for k, video in enumerate(self.settings["videos"]):
            if not Path(video).is_file():
                raise ParamError(f"videos[{k}]", f"expected a video file (mp4, y4m), got "
                                 f"{video!r} (not there)")

    def open(self, scratch: Path) -> Dataset:
        return VideoDataset(self.settings["videos"], self.settings["frames"],
                            matrix=self.settings["matrix"],
                            full_range=self.settings["full_range"],
                            chunk=self.settings["chunk"])
