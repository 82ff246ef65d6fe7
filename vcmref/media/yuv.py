"""Planar Y'CbCr picture sequences: the exchange format between anchors and their codecs.

A sequence holds integer planes (uint16) of one chroma format and bit depth. Raw files are
planar, frame after frame, Y then Cb then Cr, one byte per sample up to 8 bits and two bytes
little-endian above (the layout of VTM/HM and of ffmpeg's ``yuv420p10le``/``gray10le``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

MAX_BIT_DEPTH = 16


class ChromaFormat(str, Enum):
    """Chroma sampling: the value is the CTC/VTM spelling (``--InputChromaFormat=400``)."""

    YUV400 = "400"
    YUV420 = "420"
    YUV444 = "444"

    @property
    def num_planes(self) -> int:
        return 1 if self is ChromaFormat.YUV400 else 3

    def plane_shape(self, plane: int, height: int, width: int) -> tuple[int, int]:
        """(height, width) of plane 0 (luma), 1 or 2 for a picture of luma size height x width."""
        if plane == 0 or self is ChromaFormat.YUV444:
            return height, width
        return (height + 1) // 2, (width + 1) // 2

    def ffmpeg_pix_fmt(self, bit_depth: int) -> str:
        """ffmpeg's name for this layout at `bit_depth` (planar, little-endian above 8 bits)."""
        base = {"400": "gray", "420": "yuv420p", "444": "yuv444p"}[self.value]
        if bit_depth == 8:
            return base
        return f"{base}{bit_depth}le"


@dataclass
class YuvSequence:
    """Frames of planar samples: planes[p] has shape (frames, plane height, plane width)."""

    planes: tuple[np.ndarray, ...]
    chroma_format: ChromaFormat
    bit_depth: int
    frame_rate: float = 25.0

    def __post_init__(self) -> None:
        self.chroma_format = ChromaFormat(self.chroma_format)
        if not 1 <= self.bit_depth <= MAX_BIT_DEPTH:
            raise ValueError(f"bit depth must be in [1, {MAX_BIT_DEPTH}], got {self.bit_depth}")
        if len(self.planes) != self.chroma_format.num_planes:
            raise ValueError(f"{self.chroma_format.value} needs "
                             f"{self.chroma_format.num_planes} planes, got {len(self.planes)}")
        if not self.frame_rate > 0:
            raise ValueError(f"frame rate must be positive, got {self.frame_rate}")
        luma = np.asarray(self.planes[0])
        if luma.ndim != 3 or 0 in luma.shape:
            raise ValueError(f"luma must be a non-empty (frames, height, width) array, "
                             f"got shape {luma.shape}")
        n, h, w = luma.shape
        planes = []
        for p, plane in enumerate(self.planes):
            plane = np.asarray(plane)
            want = (n, *self.chroma_format.plane_shape(p, h, w))
            if plane.shape != want:
                raise ValueError(f"plane {p} has shape {plane.shape}, expected {want}")
            if not np.issubdtype(plane.dtype, np.integer):
                raise ValueError(f"plane {p} has dtype {plane.dtype}, expected integers")
            if plane.size and (int(plane.min()) < 0 or int(plane.max()) > self.max_value):
                raise ValueError(f"plane {p} has samples in [{int(plane.min())}, "
                                 f"{int(plane.max())}], outside [0, {self.max_value}] "
                                 f"for {self.bit_depth}-bit video")
            planes.append(plane.astype(np.uint16, copy=False))
        self.planes = tuple(planes)

    @property
    def num_frames(self) -> int:
        return self.planes[0].shape[0]

    @property
    def height(self) -> int:
        return self.planes[0].shape[1]

    @property
    def width(self) -> int:
        return self.planes[0].shape[2]

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1

    @property
    def bytes_per_sample(self) -> int:
        return 1 if self.bit_depth <= 8 else 2

    @property
    def frame_bytes(self) -> int:
        return self.bytes_per_sample * sum(
            h * w for h, w in (self.chroma_format.plane_shape(p, self.height, self.width)
                               for p in range(self.chroma_format.num_planes)))

    def frames(self, start: int, stop: int) -> YuvSequence:
        """Frames [start, stop) as a new sequence."""
        if not 0 <= start < stop <= self.num_frames:
            raise ValueError(f"frame range [{start}, {stop}) outside [0, {self.num_frames})")
        return YuvSequence(tuple(p[start:stop] for p in self.planes), self.chroma_format,
                           self.bit_depth, self.frame_rate)

    def to_bytes(self) -> bytes:
        """Raw planar bytes, frame after frame (the layout of a .yuv file)."""
        dtype = np.uint8 if self.bytes_per_sample == 1 else np.dtype("<u2")
        parts = []
        for i in range(self.num_frames):
            for plane in self.planes:
                parts.append(plane[i].astype(dtype, copy=False).tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, raw: bytes, width: int, height: int, chroma_format: ChromaFormat | str,
                   bit_depth: int, frame_rate: float = 25.0) -> YuvSequence:
        """Parse raw planar bytes; the size must be a whole number of frames."""
        fmt = ChromaFormat(chroma_format)
        shapes = [fmt.plane_shape(p, height, width) for p in range(fmt.num_planes)]
        bps = 1 if bit_depth <= 8 else 2
        frame_bytes = bps * sum(h * w for h, w in shapes)
        if frame_bytes == 0 or len(raw) == 0 or len(raw) % frame_bytes:
            raise ValueError(f"{len(raw)} bytes is not a whole number of {width}x{height} "
                             f"{fmt.value} {bit_depth}-bit frames ({frame_bytes} bytes each)")
        n = len(raw) // frame_bytes
        samples = np.frombuffer(raw, dtype=np.uint8 if bps == 1 else np.dtype("<u2"))
        samples = samples.reshape(n, -1)
        planes, offset = [], 0
        for h, w in shapes:
            planes.append(samples[:, offset:offset + h * w].reshape(n, h, w).astype(np.uint16))
            offset += h * w
        return cls(tuple(planes), fmt, bit_depth, frame_rate)

    def same_samples(self, other: YuvSequence) -> bool:
        """True when both hold the same format and identical samples."""
        return (self.chroma_format == other.chroma_format and self.bit_depth == other.bit_depth
                and all(np.array_equal(a, b)
                        for a, b in zip(self.planes, other.planes, strict=True)))


def monochrome(frames: np.ndarray, bit_depth: int, frame_rate: float = 25.0) -> YuvSequence:
    """A 4:0:0 sequence from (frames, height, width) or one (height, width) integer array."""
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    return YuvSequence((frames,), ChromaFormat.YUV400, bit_depth, frame_rate)
