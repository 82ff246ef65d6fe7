"""The reference software as anchors: VTM (EncoderApp/DecoderApp) for VVC, HM
(TAppEncoder/TAppDecoder) for HEVC, and Debian's x265 and libde265 command-line tools.

VTM and HM run as the CTC harnesses run them: the user's CTC configuration files passed with
``-c``, the source format and QP on the command line, the sequence split into chunks of one
intra period that are encoded in parallel and concatenated (every chunk starts with an IDR
picture, so the Annex-B streams concatenate into one valid stream). The QP asked for is checked
against the encoder's own per-picture report here and against the slice headers by the base
class; ``--IntraQPOffset=0`` is always given, so the intra pictures are coded at the QP asked for.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from vcmref.anchors.codec import CodecConfigError, QpMismatchError, VideoCodec
from vcmref.anchors.ffmpeg_codecs import (
    INTRA_PERIOD,
    LOSSLESS,
    THREADS,
    TIMEOUT,
    X265_PRESETS,
)
from vcmref.anchors.registry import register
from vcmref.media.ffmpeg_tool import decode_raw, ffmpeg_exe
from vcmref.media.process import ToolError, ToolNotFoundError, find_tool, run_tool
from vcmref.media.yuv import ChromaFormat, YuvSequence
from vcmref.params import Param

REFERENCE_TIMEOUT_S = 6 * 3600.0

# One line per coded picture. VTM: "POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP 32 ) ...",
# HM and older VTM: "POC    0 TId: 0 ( I-SLICE, nQP 32 QP 32 ) ...".
_PICTURE_LINE = re.compile(
    r"^POC\s+(-?\d+)\b[^(\n]*\(\s*(?:[A-Z0-9_]+,\s*)?([IPB])-SLICE,\s*"
    r"(?:nQP\s+-?\d+\s+)?QP\s+(-?\d+)\s*\)", re.M)
_LEVEL = re.compile(r"^(none|\d+(\.\d+)?)$")

# Options that the wrapper sets itself, so extra_args must not: (option names, codec option).
_CONTROLLED = {
    "c": "configs", "inputfile": "the sequence", "i": "the sequence",
    "bitstreamfile": "the codec", "b": "the codec", "reconfile": "the codec", "o": "the codec",
    "sourcewidth": "the sequence", "wdt": "the sequence", "sourceheight": "the sequence",
    "hgt": "the sequence", "framerate": "the sequence", "fr": "the sequence",
    "framestobeencoded": "the sequence", "f": "the sequence", "frameskip": "the sequence",
    "temporalsubsampleratio": "the sequence", "qp": "the qp argument", "q": "the qp argument",
    "intraqpoffset": "the qp argument", "inputbitdepth": "the sequence",
    "internalbitdepth": "internal_bit_depth", "outputbitdepth": "the sequence",
    "inputchromaformat": "the sequence", "chromaformatidc": "the sequence",
    "cf": "the sequence", "intraperiod": "intra_period", "ip": "intra_period",
    "level": "level", "profile": "profile",
}


@dataclass(frozen=True)
class PictureQp:
    """One line of an encoder's per-picture report: picture order count, slice type and QP."""

    poc: int
    slice_type: str
    qp: int


def parse_picture_qps(report: str) -> list[PictureQp]:
    """The per-picture QPs that VTM's EncoderApp or HM's TAppEncoder printed, in coding order."""
    return [PictureQp(int(m.group(1)), m.group(2), int(m.group(3)))
            for m in _PICTURE_LINE.finditer(report)]


def check_picture_qps(pictures: Sequence[PictureQp], qp: int, what: str,
                      inter_offsets: bool = False) -> None:
    """Raise QpMismatchError unless every picture is at qp, or, with `inter_offsets` (a GOP
    table adding QP offsets to inter pictures), intra pictures at qp and inter ones above."""
    if not pictures:
        raise QpMismatchError(f"{what}: the encoder report has no picture to check")
    wrong = [p for p in pictures
             if p.qp != qp and not (inter_offsets and p.slice_type != "I" and p.qp > qp)]
    if wrong:
        raise QpMismatchError(f"{what}: QP {qp} was asked for but the encoder reports pictures "
                              f"at QP {sorted({p.qp for p in pictures})} "
                              f"(POC {[p.poc for p in wrong][:8]})")


def chunk_ranges(num_frames: int, intra_period: int) -> list[tuple[int, int]]:
    """Frame ranges [start, stop) of intra_period frames each (0: one chunk of all frames)."""
    if num_frames < 1:
        raise ValueError(f"a sequence needs at least one frame, got {num_frames}")
    size = intra_period or num_frames
    return [(start, min(start + size, num_frames)) for start in range(0, num_frames, size)]


def _check_intra_period(intra_period: object) -> None:
    if isinstance(intra_period, bool) or not isinstance(intra_period, int) or intra_period < 0:
        raise CodecConfigError(f"intra_period must be an integer >= 0 (0: one intra picture "
                               f"for the whole sequence), got {intra_period!r}")


def _option_name(arg: str) -> str | None:
    if not arg.startswith("-"):
        return None
    return arg.lstrip("-").split("=", 1)[0].lower()


def _read_decoded(raw: bytes, like: YuvSequence, what: str) -> YuvSequence:
    """Parse a decoder's .yuv; 4:0:0 may come as luma alone or padded with 4:2:0 chroma."""
    fmt = like.chroma_format
    if fmt is ChromaFormat.YUV400:
        samples = like.height * like.width + 2 * ((like.height + 1) // 2) * ((like.width + 1) // 2)
        if len(raw) == like.num_frames * samples * like.bytes_per_sample:
            fmt = ChromaFormat.YUV420
    try:
        seq = YuvSequence.from_bytes(raw, like.width, like.height, fmt, like.bit_depth,
                                     like.frame_rate)
    except ValueError as exc:
        raise ToolError(f"{what}: {exc}") from None
    if fmt is not like.chroma_format:
        seq = YuvSequence(seq.planes[:1], like.chroma_format, like.bit_depth, like.frame_rate)
    return seq


class ReferenceSoftwareCodec(VideoCodec):
    """VTM or HM: CTC configuration files, chunks of one intra period encoded in parallel."""

    software: ClassVar[str]
    env_var: ClassVar[str]
    encoder_names: ClassVar[tuple[str, ...]]
    decoder_names: ClassVar[tuple[str, ...]]

    def __init__(self, configs: Sequence[str | Path] | str | Path = (),
                 bin_dir: str | Path | None = None, intra_period: int = 1,
                 level: str | float | None = None, profile: str | None = None,
                 internal_bit_depth: int | None = None, inter_qp_offsets: bool = False,
                 extra_args: Sequence[str] = (), parallel: int | None = None,
                 timeout: float = REFERENCE_TIMEOUT_S) -> None:
        if isinstance(configs, (str, Path)):
            configs = [configs]
        self.configs = []
        for cfg in configs:
            path = Path(cfg).expanduser().resolve()
            if not path.is_file():
                raise CodecConfigError(f"{self.name} configuration file {cfg} does not exist "
                                       "(expected a .cfg file, e.g. from the cfg/ folder of "
                                       f"the {self.software} source tree)")
            self.configs.append(str(path))
        _check_intra_period(intra_period)
        if level is not None and not _LEVEL.match(str(level)):
            raise CodecConfigError(f"{self.name} level must be like 4.1, 6.2 or none, "
                                   f"got {level!r}")
        if internal_bit_depth is not None and internal_bit_depth not in self.bit_depths:
            raise CodecConfigError(f"{self.name} internal_bit_depth must be one of "
                                   f"{list(self.bit_depths)}, got {internal_bit_depth!r}")
        if isinstance(extra_args, str) or not all(isinstance(a, str) for a in extra_args):
            raise CodecConfigError(f"{self.name} extra_args must be a list of strings, "
                                   f"got {extra_args!r}")
        for arg in extra_args:
            owner = _CONTROLLED.get(_option_name(arg) or "")
            if owner:
                raise CodecConfigError(f"{self.name} extra_args may not set {arg!r}: it is set "
                                       f"from {owner}")
        if parallel is None:
            parallel = os.cpu_count() or 1
        if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
            raise CodecConfigError(f"{self.name} parallel must be an integer >= 1, "
                                   f"got {parallel!r}")
        if not timeout > 0:
            raise CodecConfigError(f"{self.name} timeout must be positive, got {timeout!r}")
        self.bin_dir = str(bin_dir) if bin_dir is not None else os.environ.get(self.env_var)
        if level is not None:
            level = re.sub(r"\.0$", "", str(level))  # VTM and HM know "5", not "5.0"
        self.intra_period, self.level, self.profile = intra_period, level, profile
        self.internal_bit_depth, self.inter_qp_offsets = internal_bit_depth, bool(inter_qp_offsets)
        self.extra_args, self.parallel, self.timeout = list(extra_args), parallel, timeout

    def _find(self, names: tuple[str, ...]) -> str:
        hint = (f"build {self.software} and set {self.env_var} or the {self.name} option "
                "bin_dir to the folder holding its binaries (the bin/ folder of its source tree)")
        for name in names:
            try:
                return find_tool(name, self.bin_dir, hint=hint)
            except ToolNotFoundError:
                continue
        where = f"in {self.bin_dir}" if self.bin_dir else "on PATH"
        raise ToolNotFoundError(f"{self.software} {' or '.join(names)} not found {where}; {hint}")

    def binaries(self) -> list[str]:
        return [self.encoder_exe(), self.decoder_exe()]

    def encoder_exe(self) -> str:
        return self._find(self.encoder_names)

    def decoder_exe(self) -> str:
        return self._find(self.decoder_names)

    def check_available(self) -> None:
        self.encoder_exe()
        self.decoder_exe()

    def default_profile(self, seq: YuvSequence) -> str | None:
        """The profile to ask for when the user gives none (None: the encoder's own choice)."""
        return None

    def encoder_command(self, encoder: str, chunk: YuvSequence, qp: int, yuv: str | Path,
                        bitstream: str | Path, recon: str | Path) -> list[str]:
        """The encoder's argv for one chunk; configs first so the command line overrides them."""
        depth = chunk.bit_depth
        internal = self.internal_bit_depth or depth
        fmt = chunk.chroma_format.value
        argv = [encoder]
        for cfg in self.configs:
            argv += ["-c", cfg]
        argv += ["-i", str(yuv), "-b", str(bitstream), "-o", str(recon),
                 "-wdt", str(chunk.width), "-hgt", str(chunk.height),
                 "-fr", str(max(1, round(chunk.frame_rate))), "-f", str(chunk.num_frames),
                 "--FrameSkip=0", "--TemporalSubsampleRatio=1",
                 "-q", str(qp), "--IntraQPOffset=0",
                 f"--InputBitDepth={depth}", f"--InternalBitDepth={internal}",
                 f"--OutputBitDepth={depth}",
                 f"--InputChromaFormat={fmt}", f"--ChromaFormatIDC={fmt}",
                 f"--IntraPeriod={1 if self.intra_period == 1 else -1}",
                 "--ConformanceWindowMode=1"]
        if self.level is not None:
            argv.append(f"--Level={self.level}")
        profile = self.profile or self.default_profile(chunk)
        if profile:
            argv.append(f"--Profile={profile}")
        return argv + self.extra_args

    def decoder_command(self, decoder: str, bitstream: str | Path, output: str | Path,
                        bit_depth: int) -> list[str]:
        """The decoder's argv: the whole concatenated stream to one .yuv at `bit_depth`."""
        return [decoder, "-b", str(bitstream), "-o", str(output), "-d", str(bit_depth)]

    def _encode_chunk(self, argv: list[str], chunk: YuvSequence, yuv: Path, stream: Path,
                      qp: int, what: str) -> tuple[bytes, float]:
        yuv.write_bytes(chunk.to_bytes())
        result = run_tool(argv, what=what, timeout=self.timeout, cwd=yuv.parent)
        report = result.stdout.decode(errors="replace")
        pictures = parse_picture_qps(report)
        if len(pictures) != chunk.num_frames:
            raise ToolError(f"{what}: the encoder reported {len(pictures)} coded pictures, "
                            f"expected {chunk.num_frames} (per-picture 'POC ... QP n' lines "
                            "on stdout; is the verbosity lowered in a config?)")
        check_picture_qps(pictures, qp, f"{what} ({Path(argv[0]).name} report)",
                          self.inter_qp_offsets)
        bitstream = stream.read_bytes() if stream.is_file() else b""
        if not bitstream:
            raise ToolError(f"{what}: the encoder wrote an empty bitstream")
        yuv.unlink()
        yuv.with_name(f"{yuv.stem}_rec.yuv").unlink(missing_ok=True)  # disk, on long sequences
        return bitstream, result.seconds

    def encode(self, seq: YuvSequence, qp: int) -> tuple[bytes, float, list[list[str]]]:
        """Encode each intra-period chunk (in parallel); the time is the sum over chunks."""
        encoder = self.encoder_exe()
        ranges = chunk_ranges(seq.num_frames, self.intra_period)
        with tempfile.TemporaryDirectory(prefix=f"vcmref-{self.name}-") as tmp:
            jobs = []
            for i, (start, stop) in enumerate(ranges):
                chunk = seq.frames(start, stop)
                base = Path(tmp) / f"chunk{i:05d}"
                argv = self.encoder_command(encoder, chunk, qp, f"{base}.yuv", f"{base}.bin",
                                            f"{base}_rec.yuv")
                what = (f"{self.name} encode (chunk {i + 1}/{len(ranges)}, "
                        f"frames {start}-{stop - 1})")
                jobs.append((argv, chunk, Path(f"{base}.yuv"), Path(f"{base}.bin"), qp, what))
            with ThreadPoolExecutor(max_workers=min(self.parallel, len(jobs))) as pool:
                futures: list[Future[tuple[bytes, float]]] = [
                    pool.submit(self._encode_chunk, *job) for job in jobs]
                try:
                    results = [f.result() for f in futures]
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
        commands = [job[0] for job in jobs]
        commands.append(self.decoder_command(self._decoder_or_name(), "<bitstream.bin>",
                                             "<decoded.yuv>", seq.bit_depth))
        return b"".join(r[0] for r in results), sum(r[1] for r in results), commands

    def _decoder_or_name(self) -> str:
        try:
            return self.decoder_exe()
        except ToolNotFoundError:
            return self.decoder_names[0]

    def decode(self, bitstream: bytes, like: YuvSequence) -> tuple[YuvSequence, float]:
        decoder = self.decoder_exe()
        with tempfile.TemporaryDirectory(prefix=f"vcmref-{self.name}-") as tmp:
            src, out = Path(tmp) / "stream.bin", Path(tmp) / "decoded.yuv"
            src.write_bytes(bitstream)
            argv = self.decoder_command(decoder, src, out, like.bit_depth)
            result = run_tool(argv, what=f"{self.name} decode", timeout=self.timeout, cwd=tmp)
            if not out.is_file():
                raise ToolError(f"{self.name} decode: {Path(decoder).name} wrote no {out.name}")
            raw = out.read_bytes()
        return _read_decoded(raw, like, f"{self.name} decode"), result.seconds


def _reference_options(bit_depths: tuple[int, ...]) -> tuple[Param, ...]:
    """The options of ReferenceSoftwareCodec for a codec of these bit depths."""
    return (Param("configs", (str, list), (), items=str, doc="CTC .cfg files"),
            Param("bin_dir", str, optional=True),
            INTRA_PERIOD,
            Param("level", (str, float), optional=True, doc="like 4.1, 6.2 or none"),
            Param("profile", str, optional=True),
            Param("internal_bit_depth", int, optional=True, choices=bit_depths),
            Param("inter_qp_offsets", bool, False),
            Param("extra_args", list, (), items=str),
            Param("parallel", int, optional=True, min=1),
            Param("timeout", float, REFERENCE_TIMEOUT_S, positive=True, doc="seconds"))


@register
class VtmCodec(ReferenceSoftwareCodec):
    """VVC (H.266) by the VTM reference software (EncoderApp, DecoderApp)."""

    name = "vtm"
    family = "vvc"
    software = "VTM"
    env_var = "VCMREF_VTM_DIR"
    encoder_names = ("EncoderApp", "EncoderAppStatic")
    decoder_names = ("DecoderApp", "DecoderAppStatic")
    chroma_formats = (ChromaFormat.YUV400, ChromaFormat.YUV420, ChromaFormat.YUV444)
    bit_depths = (8, 10)
    max_qp = 63
    options = _reference_options(bit_depths)


@register
class HmCodec(ReferenceSoftwareCodec):
    """HEVC (H.265) by the HM reference software (TAppEncoder, TAppDecoder)."""

    name = "hm"
    family = "hevc"
    software = "HM"
    env_var = "VCMREF_HM_DIR"
    encoder_names = ("TAppEncoder", "TAppEncoderStatic")
    decoder_names = ("TAppDecoder", "TAppDecoderStatic")
    chroma_formats = (ChromaFormat.YUV400, ChromaFormat.YUV420, ChromaFormat.YUV444)
    bit_depths = (8, 10, 12)
    max_qp = 51
    options = _reference_options(bit_depths)

    def default_profile(self, seq: YuvSequence) -> str | None:
        """An RExt profile where the main/main10 profiles of the CTC configs cannot code the
        format (4:0:0, 4:4:4, 12-bit); None keeps the config's profile."""
        depth = self.internal_bit_depth or seq.bit_depth
        fmt = seq.chroma_format
        if fmt is ChromaFormat.YUV400:
            return "monochrome" if depth == 8 else "monochrome12"
        if fmt is ChromaFormat.YUV444:
            return {8: "main_444", 10: "main_444_10", 12: "main_444_12"}[depth]
        return "main12" if depth == 12 else None


X265_CSP = {ChromaFormat.YUV400: "i400", ChromaFormat.YUV420: "i420", ChromaFormat.YUV444: "i444"}
X265_DECODERS = ("auto", "dec265", "ffmpeg")


@lru_cache(maxsize=8)
def x265_bit_depths(x265: str) -> frozenset[int]:
    """The bit depths an x265 binary was built for, from the build line of ``x265 --version``."""
    result = run_tool([x265, "--version"], what="x265 --version", timeout=60)
    text = (result.stderr + result.stdout).decode(errors="replace")
    m = re.search(r"build info.*?\]\s*(\d+bit(?:\+\d+bit)*)", text)
    if m is None:
        raise ToolError(f"x265 --version: cannot find the build's bit depths in {text[:200]!r}")
    return frozenset(int(d) for d in re.findall(r"(\d+)bit", m.group(1)))


@register
class X265CliCodec(VideoCodec):
    """HEVC (H.265) by the x265 command-line encoder, decoded by libde265's dec265 (or by
    ffmpeg's native HEVC decoder where dec265 is absent)."""

    name = "x265-cli"
    family = "hevc"
    chroma_formats = (ChromaFormat.YUV400, ChromaFormat.YUV420, ChromaFormat.YUV444)
    bit_depths = (8, 10, 12)
    max_qp = 51
    options = (Param("preset", str, "medium", choices=X265_PRESETS), INTRA_PERIOD, LOSSLESS,
               THREADS, Param("bin_dir", str, optional=True),
               Param("decoder", str, "auto", choices=X265_DECODERS), TIMEOUT)

    def __init__(self, preset: str = "medium", intra_period: int = 1, lossless: bool = False,
                 threads: int = 1, bin_dir: str | Path | None = None, decoder: str = "auto",
                 timeout: float = 600.0) -> None:
        if preset not in X265_PRESETS:
            raise CodecConfigError(f"x265-cli preset must be one of {X265_PRESETS}, "
                                   f"got {preset!r}")
        _check_intra_period(intra_period)
        if decoder not in X265_DECODERS:
            raise CodecConfigError(f"x265-cli decoder must be one of {X265_DECODERS}, "
                                   f"got {decoder!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise CodecConfigError(f"x265-cli threads must be an integer >= 1, got {threads!r}")
        self.preset, self.intra_period, self.lossless = preset, intra_period, bool(lossless)
        self.threads, self.decoder, self.timeout = threads, decoder, timeout
        self.bin_dir = str(bin_dir) if bin_dir is not None else None

    def binaries(self) -> list[str]:
        return [self.x265_exe(), *([d] if (d := self.dec265_exe()) else [])]

    def x265_exe(self) -> str:
        return find_tool("x265", self.bin_dir, hint="install x265 (Debian/Ubuntu: apt-get "
                         "install x265) or set the x265-cli option bin_dir")

    def dec265_exe(self) -> str | None:
        """libde265's decoder (Debian names it libde265-dec265), or None where it is absent."""
        for name in ("libde265-dec265", "dec265"):
            found = (shutil.which(str(Path(self.bin_dir) / name)) if self.bin_dir
                     else shutil.which(name))
            if found:
                return found
        return None

    def decoder_used(self) -> str:
        """"dec265" or "ffmpeg": the decoder that decode() runs with these options."""
        if self.decoder == "ffmpeg":
            return "ffmpeg"
        if self.dec265_exe():
            return "dec265"
        if self.decoder == "dec265":
            raise ToolNotFoundError("libde265-dec265 not found; install it (Debian/Ubuntu: "
                                    "apt-get install libde265-examples) or use decoder='auto'")
        return "ffmpeg"

    def check_available(self) -> None:
        self.x265_exe()
        if self.decoder_used() == "ffmpeg":
            ffmpeg_exe()

    def check_input(self, seq: YuvSequence, qp: int) -> None:
        super().check_input(seq, qp)
        depths = x265_bit_depths(self.x265_exe())
        if seq.bit_depth not in depths:
            raise ToolNotFoundError(f"x265 at {self.x265_exe()} is built for "
                                    f"{sorted(depths)}-bit only, not {seq.bit_depth}-bit; "
                                    "install a multi-bit-depth build (Debian's x265 package)")

    def encoder_command(self, x265: str, seq: YuvSequence, qp: int) -> list[str]:
        """x265's argv at constant QP: no AQ, no cutree, no I/P/B QP ratios; raw in, HEVC out."""
        ctu = next(c for c in (64, 32, 16) if c <= min(seq.width, seq.height))
        argv = [x265, "--input", "-", "--input-res", f"{seq.width}x{seq.height}",
                "--input-depth", str(seq.bit_depth), "--output-depth", str(seq.bit_depth),
                "--input-csp", X265_CSP[seq.chroma_format], "--fps", f"{seq.frame_rate:g}",
                "--frames", str(seq.num_frames), "--preset", self.preset, "--ctu", str(ctu),
                "--qp", str(qp), "--aq-mode", "0", "--no-cutree", "--ipratio", "1",
                "--pbratio", "1", "--keyint", str(self.intra_period or -1), "--no-scenecut",
                "--no-info"]
        if self.intra_period == 1:
            argv += ["--bframes", "0"]
        if self.lossless:
            argv.append("--lossless")
        return argv + ["--pools", str(self.threads), "--frame-threads", "1",
                       "--log-level", "error", "--no-progress", "--output", "-"]

    def decoder_command(self, bitstream: str | Path, output: str | Path) -> list[str]:
        """dec265's argv (quiet, one .yuv out), or the ffmpeg fallback's (decode_raw's pipes)."""
        if self.decoder_used() == "dec265":
            return [str(self.dec265_exe()), "-q", "-o", str(output), str(bitstream)]
        return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
                "-threads", "1", "-f", "hevc", "-c:v", "hevc", "-i", "pipe:0",
                "-map", "0:v", "-f", "rawvideo", "pipe:1"]

    def encode(self, seq: YuvSequence, qp: int) -> tuple[bytes, float, list[list[str]]]:
        argv = self.encoder_command(self.x265_exe(), seq, qp)
        result = run_tool(argv, what="x265-cli encode", stdin=seq.to_bytes(),
                          timeout=self.timeout)
        decoder = self.decoder_command("<bitstream.hevc>", "<decoded.yuv>")
        return result.stdout, result.seconds, [argv, decoder]

    def decode(self, bitstream: bytes, like: YuvSequence) -> tuple[YuvSequence, float]:
        if self.decoder_used() == "ffmpeg":
            return decode_raw(bitstream, "hevc", "hevc", like.width, like.height,
                              like.frame_rate, self.timeout)
        with tempfile.TemporaryDirectory(prefix="vcmref-x265-cli-") as tmp:
            src, out = Path(tmp) / "stream.hevc", Path(tmp) / "decoded.yuv"
            src.write_bytes(bitstream)
            result = run_tool(self.decoder_command(src, out), what="x265-cli dec265 decode",
                              timeout=self.timeout, cwd=tmp)
            raw = out.read_bytes() if out.is_file() else b""
        if not raw:
            raise ToolError("x265-cli dec265 decode: libde265-dec265 decoded no picture")
        return _read_decoded(raw, like, "x265-cli dec265 decode"), result.seconds
