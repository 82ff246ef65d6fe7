"""Embedded default anchors, needing no reference software: VVC through libvvenc, HEVC through
libx265 and (8-bit 4:2:0 only) libkvazaar, all in the ffmpeg that imageio-ffmpeg ships, decoded
by ffmpeg's native VVC and HEVC decoders. Frames go through pipes, never temporary files.

Each encoder is set up for a constant QP that the bitstream shows: no adaptive quantization,
no intra QP offset, no CU-level QP deltas (checked by the QP read-back after every encode).
"""

from __future__ import annotations

import numpy as np

from vcmref.anchors.codec import CodecConfigError, VideoCodec
from vcmref.anchors.registry import register
from vcmref.media.ffmpeg_tool import QUIET, decode_raw, ffmpeg_exe, require_encoder
from vcmref.media.process import run_tool
from vcmref.media.yuv import ChromaFormat, YuvSequence
from vcmref.params import Param

VVENC_PRESETS = ("faster", "fast", "medium", "slow", "slower")
X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")

# Options several codecs share (their `options` declarations).
INTRA_PERIOD = Param("intra_period", int, 1, min=0, doc="0: first frame only")
THREADS = Param("threads", int, 1, min=1)
LOSSLESS = Param("lossless", bool, False)
STRUCTURES = ("random_access", "low_delay")
STRUCTURE = Param("structure", str, "random_access", choices=STRUCTURES,
                  doc="inter coding: random access (pictures reordered, hierarchical B) or "
                      "low delay (coding order = display order)")
TIMEOUT = Param("timeout", float, 600.0, positive=True, doc="seconds")


def _raw_input_args(seq: YuvSequence, pix_fmt: str) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-video_size", f"{seq.width}x{seq.height}",
            "-framerate", f"{seq.frame_rate:g}", "-i", "pipe:0"]


def _check_structure(structure: str) -> None:
    if structure not in STRUCTURES:
        raise CodecConfigError(f"structure must be one of {', '.join(STRUCTURES)}, got "
                               f"{structure!r}")


def _check_intra_period(intra_period: int) -> None:
    if not (isinstance(intra_period, int) and intra_period >= 0):
        raise CodecConfigError(f"intra_period must be an integer >= 0 (0: first frame only), "
                               f"got {intra_period!r}")


class _FfmpegCodec(VideoCodec):
    demuxer: str
    decoder: str
    encoder: str

    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout

    def check_available(self) -> None:
        ffmpeg_exe()
        require_encoder(self.encoder)

    def _run_encoder(self, seq: YuvSequence, raw: bytes, codec_args: list[str]
                     ) -> tuple[bytes, float, list[list[str]]]:
        argv = [ffmpeg_exe(), *QUIET, *codec_args]
        result = run_tool(argv, what=f"{self.name} encode", stdin=raw, timeout=self.timeout)
        return result.stdout, result.seconds, [argv]

    def decode(self, bitstream: bytes, like: YuvSequence) -> tuple[YuvSequence, float]:
        return decode_raw(bitstream, self.demuxer, self.decoder, like.width, like.height,
                          like.frame_rate, self.timeout)


@register
class VvencCodec(_FfmpegCodec):
    """VVC (H.266) by libvvenc; 10-bit 4:0:0 or 4:2:0, decoded by ffmpeg's native decoder.

    libvvenc takes only yuv420p10le, so 4:0:0 frames are handed over with neutral chroma (512)
    and ``ChromaFormatIDC=400`` codes the luma alone; ffmpeg's own gray-to-yuv conversion
    would rescale the samples to limited range and is never used.
    """

    name = "vvenc"
    family = "vvc"
    demuxer = "vvc"
    decoder = "vvc"
    encoder = "libvvenc"
    chroma_formats = (ChromaFormat.YUV400, ChromaFormat.YUV420)
    bit_depths = (10,)
    max_qp = 63
    options = (Param("preset", str, "faster", choices=VVENC_PRESETS), INTRA_PERIOD, STRUCTURE,
               THREADS, TIMEOUT)

    def __init__(self, preset: str = "faster", intra_period: int = 1,
                 structure: str = "random_access", threads: int = 1,
                 timeout: float = 600.0) -> None:
        super().__init__(timeout)
        if preset not in VVENC_PRESETS:
            raise CodecConfigError(f"vvenc preset must be one of {VVENC_PRESETS}, got {preset!r}")
        _check_intra_period(intra_period)
        _check_structure(structure)
        self.preset, self.intra_period, self.threads = preset, intra_period, threads
        self.structure = structure
        # vvenc's random-access GOP gives inter pictures its hierarchical QP offsets (as VTM's
        # random-access configuration does); ffmpeg's wrapper has no way to turn them off.
        self.inter_qp_offsets = intra_period != 1

    def encode(self, seq: YuvSequence, qp: int) -> tuple[bytes, float, list[list[str]]]:
        planes = seq.planes
        if seq.chroma_format is ChromaFormat.YUV400:
            h, w = (seq.height + 1) // 2, (seq.width + 1) // 2
            neutral = np.full((seq.num_frames, h, w), 1 << (seq.bit_depth - 1), np.uint16)
            planes = (seq.planes[0], neutral, neutral)
        raw = YuvSequence(planes, ChromaFormat.YUV420, seq.bit_depth, seq.frame_rate).to_bytes()
        # BIM (block importance mapping, on by default) changes picture QPs by the temporal
        # filter's analysis and needs CU QP deltas; off, and with it the temporal filter.
        params = [f"ChromaFormatIDC={seq.chroma_format.value}", "IntraQPOffset=0", "BIM=0",
                  "MCTF=0"]
        gop = ["-g", str(self.intra_period)] if self.intra_period else []
        if self.structure == "low_delay" and self.intra_period != 1:
            # vvenc's low-delay GOP of 8 without reordering; it takes no IDR/CRA refresh, so
            # the intra period is vvenc's own IntraPeriod (-1: the first picture only).
            params += ["GOPSize=8", "PicReordering=0", "DecodingRefreshType=0",
                       f"IntraPeriod={self.intra_period or -1}"]
            gop = []
        args = [*_raw_input_args(seq, "yuv420p10le"), "-c:v", "libvvenc",
                "-preset", self.preset, "-qp", str(qp), "-qpa", "0", *gop,
                "-threads", str(self.threads), "-vvenc-params", ":".join(params),
                "-f", "vvc", "pipe:1"]
        return self._run_encoder(seq, raw, args)


@register
class X265Codec(_FfmpegCodec):
    """HEVC (H.265) by libx265; 8/10/12-bit 4:0:0, 4:2:0 or 4:4:4, or lossless."""

    name = "x265"
    family = "hevc"
    demuxer = "hevc"
    decoder = "hevc"
    encoder = "libx265"
    chroma_formats = (ChromaFormat.YUV400, ChromaFormat.YUV420, ChromaFormat.YUV444)
    bit_depths = (8, 10, 12)
    max_qp = 51
    options = (Param("preset", str, "medium", choices=X265_PRESETS), INTRA_PERIOD, STRUCTURE,
               LOSSLESS, THREADS, TIMEOUT)

    def __init__(self, preset: str = "medium", intra_period: int = 1,
                 structure: str = "random_access", lossless: bool = False, threads: int = 1,
                 timeout: float = 600.0) -> None:
        super().__init__(timeout)
        if preset not in X265_PRESETS:
            raise CodecConfigError(f"x265 preset must be one of {X265_PRESETS}, got {preset!r}")
        _check_intra_period(intra_period)
        _check_structure(structure)
        self.preset, self.intra_period, self.lossless = preset, intra_period, lossless
        self.threads, self.structure = threads, structure

    def x265_params(self, qp: int) -> list[str]:
        """Constant QP: no adaptive quantization, no cutree, no I/P/B QP ratios; no SEI with
        the encoder's version and options (2 kB that would count as coded bits)."""
        keyint = self.intra_period if self.intra_period else -1
        params = [f"qp={qp}", "aq-mode=0", "cutree=0", "ipratio=1", "pbratio=1",
                  f"keyint={keyint}", "scenecut=0", f"pools={self.threads}",
                  "frame-threads=1", "info=0", "log-level=error"]
        if self.intra_period == 1 or self.structure == "low_delay":
            params.append("bframes=0")  # low delay: P pictures in display order
        if self.lossless:
            params.append("lossless=1")
        return params

    def encode(self, seq: YuvSequence, qp: int) -> tuple[bytes, float, list[list[str]]]:
        pix_fmt = seq.chroma_format.ffmpeg_pix_fmt(seq.bit_depth)
        args = [*_raw_input_args(seq, pix_fmt), "-c:v", "libx265", "-preset", self.preset,
                "-x265-params", ":".join(self.x265_params(qp)), "-f", "hevc", "pipe:1"]
        return self._run_encoder(seq, seq.to_bytes(), args)


@register
class KvazaarCodec(_FfmpegCodec):
    """HEVC (H.265) by libkvazaar: 8-bit 4:2:0 only (the ffmpeg wrapper's one input format)."""

    name = "kvazaar"
    family = "hevc"
    demuxer = "hevc"
    decoder = "hevc"
    encoder = "libkvazaar"
    chroma_formats = (ChromaFormat.YUV420,)
    bit_depths = (8,)
    max_qp = 51
    size_multiple = 8
    options = (Param("preset", str, "medium", choices=X265_PRESETS, doc="kvazaar's presets"),
               INTRA_PERIOD, THREADS, TIMEOUT)

    def __init__(self, preset: str = "medium", intra_period: int = 1, threads: int = 1,
                 timeout: float = 600.0) -> None:
        super().__init__(timeout)
        _check_intra_period(intra_period)
        self.preset, self.intra_period, self.threads = preset, intra_period, threads

    def encode(self, seq: YuvSequence, qp: int) -> tuple[bytes, float, list[list[str]]]:
        params = [f"qp={qp}", f"preset={self.preset}", "vaq=0", "rc-algorithm=no-rc",
                  f"period={self.intra_period}", f"threads={max(0, self.threads - 1)}",
                  "owf=0", "gop=0" if self.intra_period == 1 else "gop=lp-g4d3t1"]
        args = [*_raw_input_args(seq, "yuv420p"), "-c:v", "libkvazaar",
                "-kvazaar-params", ",".join(params), "-f", "hevc", "pipe:1"]
        return self._run_encoder(seq, seq.to_bytes(), args)
