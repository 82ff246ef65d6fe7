"""The anchor codec interface with real ffmpeg encoders: QP read back from the bitstream,
sample-exact lossless round trips, formats kept without conversion, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vcmref.anchors.bitstream_qp import read_qp_report
from vcmref.anchors.codec import CodecConfigError, QpMismatchError, QpReport
from vcmref.anchors.registry import codec_names, get_codec
from vcmref.media.process import ToolError, ToolNotFoundError, find_tool, run_tool
from vcmref.media.yuv import ChromaFormat, YuvSequence, monochrome


def _gradient(frames: int, height: int, width: int, bit_depth: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = (x * 7 + y * 3) % (1 << bit_depth)
    noise = rng.integers(0, 1 << max(1, bit_depth - 4), (frames, height, width))
    return ((base + noise) % (1 << bit_depth)).astype(np.uint16)


def _psnr(a: np.ndarray, b: np.ndarray, peak: int) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


# -- YUV sequences --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt,depth", [("400", 10), ("420", 8), ("420", 10), ("444", 12)])
def test_yuv_bytes_round_trip(fmt: str, depth: int) -> None:
    rng = np.random.default_rng(1)
    f = ChromaFormat(fmt)
    planes = tuple(rng.integers(0, 1 << depth, (2, *f.plane_shape(p, 5, 7)), dtype=np.uint16)
                   for p in range(f.num_planes))
    seq = YuvSequence(planes, f, depth)
    raw = seq.to_bytes()
    assert len(raw) == 2 * seq.frame_bytes
    back = YuvSequence.from_bytes(raw, 7, 5, fmt, depth)
    assert back.same_samples(seq)


def test_yuv_layout_is_planar_little_endian() -> None:
    seq = monochrome(np.array([[[0x0102, 0x0304]]], dtype=np.uint16), 10)
    assert seq.to_bytes() == bytes([0x02, 0x01, 0x04, 0x03])


def test_yuv_rejects_out_of_range_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"outside \[0, 1023\]"):
        monochrome(np.full((1, 4, 4), 1024), 10)
    with pytest.raises(ValueError, match="plane 1 has shape"):
        YuvSequence((np.zeros((1, 4, 4), np.uint16), np.zeros((1, 4, 4), np.uint16),
                     np.zeros((1, 2, 2), np.uint16)), "420", 8)
    with pytest.raises(ValueError, match="not a whole number"):
        YuvSequence.from_bytes(b"\x00" * 7, 2, 2, "400", 8)


# -- external processes ---------------------------------------------------------------------------

def test_run_tool_reports_exit_status_and_stderr() -> None:
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('bad thing\\n'); sys.exit(3)"]
    with pytest.raises(ToolError, match="exit status 3.*bad thing"):
        run_tool(argv, what="probe")


def test_run_tool_times_out() -> None:
    with pytest.raises(ToolError, match="timed out after 0.5 s"):
        run_tool([sys.executable, "-c", "import time; time.sleep(5)"], what="sleeper",
                 timeout=0.5)


def test_missing_tool_says_what_to_do(tmp_path) -> None:
    with pytest.raises(ToolNotFoundError, match="set VCMREF_X"):
        find_tool("EncoderApp", tmp_path, hint="set VCMREF_X")
    with pytest.raises(ToolNotFoundError, match="cannot execute"):
        run_tool([str(tmp_path / "nope")], what="nope")


# -- registry -------------------------------------------------------------------------------------

def test_registry_lists_embedded_codecs() -> None:
    assert {"vvenc", "x265", "kvazaar"} <= set(codec_names())


def test_registry_errors_name_the_problem() -> None:
    with pytest.raises(CodecConfigError, match="unknown codec 'h267'"):
        get_codec("h267")
    with pytest.raises(CodecConfigError, match="no option qpa.*preset"):
        get_codec("vvenc", qpa=1)
    with pytest.raises(CodecConfigError, match="preset"):
        get_codec("vvenc", preset="ultra")


def test_codec_refuses_formats_it_cannot_code() -> None:
    seq = monochrome(_gradient(1, 16, 16, 8), 8)
    with pytest.raises(CodecConfigError, match="bit depths \\[10\\], not 8"):
        get_codec("vvenc").code(seq, 30)
    with pytest.raises(CodecConfigError, match="chroma formats \\['420'\\], not 400"):
        get_codec("kvazaar").code(seq, 30)
    with pytest.raises(CodecConfigError, match="QP must be in \\[0, 51\\]"):
        get_codec("x265").code(seq, 52)
    with pytest.raises(CodecConfigError, match="at least 16x16 samples, in multiples of 1"):
        get_codec("x265").code(monochrome(_gradient(1, 8, 64, 8), 8), 30)


# -- real encodes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,depth,period", [("vvenc", 10, 1), ("x265", 10, 2),
                                               ("x265", 8, 2)])
@pytest.mark.parametrize("qp", [22, 37])
def test_constant_qp_is_what_the_bitstream_codes(name: str, depth: int, period: int,
                                                 qp: int) -> None:
    """Three frames; with intra period 2, x265 codes inter frames too: every slice at qp."""
    seq = monochrome(_gradient(3, 32, 48, depth), depth)
    coded = get_codec(name, intra_period=period).code(seq, qp)
    assert coded.qp_report is not None
    assert coded.qp_report.slice_qps == (qp,) * 3
    assert not coded.qp_report.cu_qp_delta_enabled
    assert coded.bits == 8 * len(coded.bitstream) > 0
    assert coded.decoded.num_frames == 3 and coded.decoded.bit_depth == depth
    assert _psnr(coded.decoded.planes[0], seq.planes[0], (1 << depth) - 1) > 25
    assert coded.encode_s > 0 and coded.decode_s > 0


def test_vvenc_random_access_keeps_intra_qp_and_reports_gop_offsets() -> None:
    """vvenc's GOP raises inter QPs by its hierarchy; the intra picture stays at the QP."""
    seq = monochrome(_gradient(3, 32, 48, 10), 10)
    coded = get_codec("vvenc", intra_period=2).code(seq, 37)
    report = coded.qp_report
    assert report.slice_is_intra[0] and report.slice_qps[0] == 37
    assert all(q >= 37 for q in report.slice_qps)
    with pytest.raises(QpMismatchError):  # not a constant QP: the strict check says so
        report.check(37, "vvenc RA")


def test_kvazaar_constant_qp_420() -> None:
    y = _gradient(2, 32, 32, 8)
    c = np.full((2, 16, 16), 128, np.uint16)
    coded = get_codec("kvazaar").code(YuvSequence((y, c, c), "420", 8), 30)
    assert coded.qp_report.slice_qps == (30, 30)


def test_lower_qp_costs_more_bits_and_gives_higher_psnr() -> None:
    seq = monochrome(_gradient(1, 48, 64, 10), 10)
    codec = get_codec("vvenc")
    hi, lo = codec.code(seq, 42), codec.code(seq, 22)
    assert lo.bits > hi.bits
    assert _psnr(lo.decoded.planes[0], seq.planes[0], 1023) > _psnr(
        hi.decoded.planes[0], seq.planes[0], 1023)


@pytest.mark.parametrize("fmt,depth", [("400", 10), ("400", 8), ("420", 10), ("444", 8)])
def test_x265_lossless_is_sample_exact(fmt: str, depth: int) -> None:
    """No range conversion or dithering anywhere: what goes in comes back, every plane."""
    f = ChromaFormat(fmt)
    planes = tuple(_gradient(2, *f.plane_shape(p, 24, 40), depth, seed=p)
                   for p in range(f.num_planes))
    # extremes of the range, which a limited-range conversion would clip or rescale
    planes[0][0, 0, :4] = [0, 1, (1 << depth) - 2, (1 << depth) - 1]
    seq = YuvSequence(planes, f, depth)
    coded = get_codec("x265", lossless=True).code(seq, 0)
    assert coded.qp_report.transquant_bypass
    assert coded.decoded.same_samples(seq)


def test_monochrome_vvc_codes_no_chroma() -> None:
    """4:0:0 in, a 4:0:0 bitstream out (not 4:2:0 with grey chroma), decoded as gray10le."""
    seq = monochrome(_gradient(1, 32, 32, 10), 10)
    coded = get_codec("vvenc").code(seq, 30)
    assert coded.decoded.chroma_format is ChromaFormat.YUV400
    from vcmref.anchors.bitstream_qp import trace_elements

    chroma = [v for n, v in trace_elements(coded.bitstream, "vvc") if n == "sps_chroma_format_idc"]
    assert chroma and set(chroma) == {0}


def test_qp_report_catches_offsets() -> None:
    """An encoder left at its defaults (intra QP offset, adaptive QP) is caught."""
    report = QpReport((29, 32), False, "test")
    with pytest.raises(QpMismatchError, match="coded at QP \\[29, 32\\]"):
        report.check(32, "enc")
    with pytest.raises(QpMismatchError, match="CU-level QP deltas"):
        QpReport((32,), True, "test").check(32, "enc")
    with pytest.raises(QpMismatchError, match="no slice"):
        QpReport((), False, "test").check(32, "enc")


def test_x265_defaults_would_fail_the_check() -> None:
    """x265's own defaults (aq-mode 2, ipratio 1.4) code another QP: the read-back sees it."""
    from vcmref.media.ffmpeg_tool import QUIET, ffmpeg_exe

    seq = monochrome(_gradient(2, 32, 32, 8), 8)
    argv = [ffmpeg_exe(), *QUIET, "-f", "rawvideo", "-pix_fmt", "gray", "-video_size", "32x32",
            "-i", "pipe:0", "-c:v", "libx265", "-x265-params", "qp=30:log-level=error",
            "-f", "hevc", "pipe:1"]
    bitstream = run_tool(argv, what="x265", stdin=seq.to_bytes()).stdout
    report = read_qp_report(bitstream, "hevc")
    with pytest.raises(QpMismatchError):
        report.check(30, "x265 defaults")


def test_corrupt_bitstream_fails_to_decode_with_stderr() -> None:
    seq = monochrome(_gradient(1, 32, 32, 10), 10)
    codec = get_codec("x265")
    with pytest.raises(ToolError, match="hevc decode"):
        codec.decode(b"\x00\x00\x01" + bytes(range(200)), seq)


def _coding_order_pocs(stream: bytes, family: str, tmp_path: Path) -> list[int]:
    """Picture order counts (LSBs) in coding order, read by ffmpeg's trace_headers filter."""
    from vcmref.media.ffmpeg_tool import ffmpeg_exe
    from vcmref.media.process import run_tool

    path = tmp_path / f"stream.{family}"
    path.write_bytes(stream)
    out = run_tool([ffmpeg_exe(), "-hide_banner", "-i", str(path), "-c", "copy", "-bsf:v",
                    "trace_headers", "-f", "null", "-"], what="ffmpeg trace_headers",
                   timeout=60)
    field = "ph_pic_order_cnt_lsb" if family == "vvc" else "slice_pic_order_cnt_lsb"
    return [int(line.rsplit("=", 1)[1]) for line in out.stderr.decode().splitlines()
            if field in line]


@pytest.mark.parametrize("name,family", [("vvenc", "vvc"), ("x265", "hevc")])
def test_low_delay_codes_in_display_order_and_random_access_reorders(name, family,
                                                                     tmp_path) -> None:
    seq = monochrome(_gradient(9, 32, 48, 10), 10)
    low = get_codec(name, intra_period=0, structure="low_delay").code(seq, 32)
    ra = get_codec(name, intra_period=0).code(seq, 32)
    pocs = _coding_order_pocs(low.bitstream, family, tmp_path)
    assert pocs == sorted(pocs) and len(pocs) >= 8  # the IDR picture carries no POC LSB
    assert low.qp_report.slice_is_intra == (True,) + (False,) * 8
    reordered = _coding_order_pocs(ra.bitstream, family, tmp_path)
    assert reordered != sorted(reordered)
    assert _psnr(low.decoded.planes[0], seq.planes[0], 1023) > 25
    with pytest.raises(CodecConfigError, match="structure must be one of random_access, "
                                               "low_delay, got 'ld'"):
        get_codec(name, structure="ld")
