"""The anchor codec interface (the registry is vcmref.anchors.registry).

A codec codes a YuvSequence at a QP and hands back the bitstream bytes, the decoded sequence,
the exact bit count, the encode and decode times and a QP report read back from the bitstream,
so that the QP a CTC asks for is shown to be the QP that was coded.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from vcmref.errors import VcmrefError
from vcmref.media.process import ToolError
from vcmref.media.yuv import ChromaFormat, YuvSequence
from vcmref.params import Param


class CodecConfigError(VcmrefError):
    """A codec asked for by an unknown name, with unknown options, or for input it cannot code."""


class QpMismatchError(ToolError):
    """The bitstream codes another QP than the one asked for, or a QP that varies."""


@dataclass(frozen=True)
class QpReport:
    """Slice QPs as coded, read back from the bitstream's parameter sets and slice headers."""

    slice_qps: tuple[int, ...]
    cu_qp_delta_enabled: bool  # when True, CUs may deviate from the slice QP
    source: str  # where the figures come from, e.g. "bitstream (ffmpeg trace_headers)"
    transquant_bypass: bool = False  # H.265 lossless coding enabled in a PPS
    slice_is_intra: tuple[bool, ...] = ()  # per slice, as slice_qps

    def check(self, qp: int, what: str, lossless: bool = False,
              inter_offsets: bool = False) -> None:
        """Raise QpMismatchError unless every slice is coded at `qp` with no CU-level deltas,
        or, for `lossless` coding, unless the bitstream enables transform-quantization bypass.

        With `inter_offsets` (a GOP whose configuration adds QP offsets to inter pictures, as
        the CTC's random-access and low-delay configurations do) intra slices must be at `qp`
        and inter slices at `qp` or above."""
        if not self.slice_qps:
            raise QpMismatchError(f"{what}: the bitstream has no slice to read a QP from")
        if lossless:
            if not self.transquant_bypass:
                raise QpMismatchError(f"{what}: lossless coding was asked for but no PPS "
                                      f"enables transquant bypass ({self.source})")
            return
        qps = self.slice_qps
        if inter_offsets and len(self.slice_is_intra) == len(qps):
            if any(q < qp for q in qps):
                raise QpMismatchError(f"{what}: QP {qp} was asked for but slices are coded at "
                                      f"QP {sorted(set(qps))} ({self.source})")
            qps = tuple(q for q, i in zip(qps, self.slice_is_intra, strict=True) if i)
        wrong = sorted(set(qps) - {qp})
        if wrong:
            raise QpMismatchError(f"{what}: QP {qp} was asked for but slices are coded at QP "
                                  f"{sorted(set(self.slice_qps))} ({self.source})")
        if self.cu_qp_delta_enabled:
            raise QpMismatchError(f"{what}: CU-level QP deltas are enabled, so the coded QP "
                                  f"may vary inside a slice ({self.source})")


@dataclass
class CodedSequence:
    """One coded and decoded sequence; `bits` counts the bitstream bytes actually written."""

    codec: str
    qp: int
    bitstream: bytes
    decoded: YuvSequence
    encode_s: float
    decode_s: float
    qp_report: QpReport | None = None
    commands: list[list[str]] = field(default_factory=list)

    @property
    def bits(self) -> int:
        return 8 * len(self.bitstream)


class VideoCodec(ABC):
    """One encoder/decoder pair; subclasses say which formats they take and run the tools."""

    name: ClassVar[str]
    family: ClassVar[str]  # "vvc" or "hevc": the bitstream syntax, for the QP read-back
    chroma_formats: ClassVar[tuple[ChromaFormat, ...]]
    bit_depths: ClassVar[tuple[int, ...]]
    max_qp: ClassVar[int]
    min_dimension: ClassVar[int] = 16  # smallest picture width and height the encoder takes
    size_multiple: ClassVar[int] = 1  # picture width and height must be multiples of this
    lossless: bool = False
    inter_qp_offsets: bool = False  # the GOP adds QP offsets to inter pictures (QpReport.check)
    # The keyword arguments of the constructor (the `codec_options` of a CTC config), as data:
    # name, type, range or choices, default (a test checks them against the signature).
    options: ClassVar[tuple[Param, ...]] = ()

    def binaries(self) -> list[str]:
        """The external programs this codec runs besides the bundled ffmpeg (for a run's
        provenance); finding them may raise ToolNotFoundError."""
        return []

    @abstractmethod
    def check_available(self) -> None:
        """Raise ToolNotFoundError, saying what to install or configure, if the tools are absent."""

    @abstractmethod
    def encode(self, seq: YuvSequence, qp: int) -> tuple[bytes, float, list[list[str]]]:
        """Encode; return the bitstream, the encoder's wall time in seconds and the commands."""

    @abstractmethod
    def decode(self, bitstream: bytes, like: YuvSequence) -> tuple[YuvSequence, float]:
        """Decode to a sequence of the same size and format as `like`; return it and the time."""

    def qp_report(self, bitstream: bytes) -> QpReport:
        """The coded QPs, read from the bitstream."""
        from vcmref.anchors.bitstream_qp import read_qp_report

        return read_qp_report(bitstream, self.family)

    def check_input(self, seq: YuvSequence, qp: int) -> None:
        if seq.chroma_format not in self.chroma_formats:
            raise CodecConfigError(
                f"{self.name} codes chroma formats "
                f"{[f.value for f in self.chroma_formats]}, not {seq.chroma_format.value}")
        if seq.bit_depth not in self.bit_depths:
            raise CodecConfigError(f"{self.name} codes bit depths {list(self.bit_depths)}, "
                                   f"not {seq.bit_depth}")
        if self.codable_size(seq.height, seq.width, seq.chroma_format) != (seq.height,
                                                                             seq.width):
            raise CodecConfigError(
                f"{self.name} codes {seq.chroma_format.value} pictures of at least "
                f"{self.min_dimension}x{self.min_dimension} samples, in multiples of "
                f"{self._multiple(seq.chroma_format)}, not {seq.width}x{seq.height}")
        if not 0 <= qp <= self.max_qp:
            raise CodecConfigError(f"{self.name}: QP must be in [0, {self.max_qp}], got {qp}")

    def _multiple(self, chroma_format: ChromaFormat) -> int:
        sub = 2 if chroma_format is ChromaFormat.YUV420 else 1
        return self.size_multiple * sub // math.gcd(self.size_multiple, sub)

    def codable_size(self, height: int, width: int,
                     chroma_format: ChromaFormat = ChromaFormat.YUV400) -> tuple[int, int]:
        """The smallest (height, width) at least as large that the encoder takes."""
        m = self._multiple(chroma_format)
        return tuple(max(self.min_dimension, -(-n // m) * m)  # type: ignore[return-value]
                     for n in (height, width))

    def encode_checked(self, seq: YuvSequence, qp: int, verify_qp: bool = True
                       ) -> tuple[bytes, float, list[list[str]], QpReport | None]:
        """Check the input, encode, and check the coded QP read back from the bitstream."""
        self.check_input(seq, qp)
        self.check_available()
        bitstream, encode_s, commands = self.encode(seq, qp)
        if not bitstream:
            raise ToolError(f"{self.name} wrote an empty bitstream")
        report = None
        if verify_qp:
            report = self.qp_report(bitstream)
            report.check(qp, self.name, self.lossless, self.inter_qp_offsets)
        return bitstream, encode_s, commands, report

    def code(self, seq: YuvSequence, qp: int, verify_qp: bool = True) -> CodedSequence:
        """Encode, check the coded QP, decode, and check the decoded format and frame count."""
        bitstream, encode_s, commands, report = self.encode_checked(seq, qp, verify_qp)
        decoded, decode_s = self.decode(bitstream, seq)
        if (decoded.num_frames, decoded.height, decoded.width) != (
                seq.num_frames, seq.height, seq.width) or decoded.chroma_format != \
                seq.chroma_format or decoded.bit_depth != seq.bit_depth:
            raise ToolError(
                f"{self.name}: decoded {decoded.num_frames} frames of {decoded.width}x"
                f"{decoded.height} {decoded.chroma_format.value} {decoded.bit_depth}-bit, "
                f"expected {seq.num_frames} of {seq.width}x{seq.height} "
                f"{seq.chroma_format.value} {seq.bit_depth}-bit")
        return CodedSequence(self.name, qp, bitstream, decoded, encode_s, decode_s, report,
                             commands)
