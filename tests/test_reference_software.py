"""VTM/HM wrappers (command lines, chunking, errors, fake binaries; end to end when configured)
and the x265-cli anchor (Debian's x265 and libde265, end to end when installed)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from vcmref.anchors.codec import CodecConfigError, QpMismatchError
from vcmref.anchors.reference_software import (
    PictureQp,
    X265CliCodec,
    chunk_ranges,
    parse_picture_qps,
)
from vcmref.anchors.registry import get_codec
from vcmref.media.ffmpeg_tool import decode_raw
from vcmref.media.process import ToolError, ToolNotFoundError
from vcmref.media.yuv import ChromaFormat, YuvSequence, monochrome


def _feature_seq(frames: int = 2, h: int = 64, w: int = 96, depth: int = 10) -> YuvSequence:
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 7 + y * 5) % (1 << depth)
    stack = np.stack([(base + 37 * i) % (1 << depth) for i in range(frames)])
    return monochrome(stack.astype(np.uint16), depth)


def _natural_seq(frames: int = 2, h: int = 64, w: int = 96) -> YuvSequence:
    rng = np.random.default_rng(1)
    luma = rng.integers(0, 256, (frames, h, w))
    chroma = rng.integers(0, 256, (frames, h // 2, w // 2))
    return YuvSequence((luma, chroma, chroma.copy()), ChromaFormat.YUV420, 8, 30.0)


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def cfgs(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "encoder_intra_vtm.cfg", tmp_path / "per_sequence.cfg"]
    for p in paths:
        p.write_text("QP : 37\n")
    return paths


# A fake encoder: reads -i/-b/-f/-q, writes "<frames>,<input bytes>;" as its bitstream and one
# per-picture report line per frame, as VTM prints them (QP shifted by $FAKE_QP_SHIFT).
FAKE_VTM_ENCODER = """
while [ $# -gt 0 ]; do
  case "$1" in -i) i=$2; shift;; -b) b=$2; shift;; -f) f=$2; shift;; -q) q=$2; shift;; esac
  shift
done
printf '%s,%s;' "$f" "$(wc -c < "$i" | tr -d ' ')" > "$b"
n=0
while [ $n -lt $f ]; do
  t="IDR_N_LP, I"; pq=$q
  [ $n -gt 0 ] && t="TRAIL, B" && pq=$((q + ${FAKE_QP_SHIFT:-0}))
  echo "POC $n LId:  0 TId: 0 ( $t-SLICE, QP $pq )  1234 bits [Y 40.0 dB]"
  n=$((n + 1))
done
"""


# --- command construction -------------------------------------------------------------------

def test_vtm_command_feature_400_10bit(cfgs: list[Path]) -> None:
    codec = get_codec("vtm", configs=cfgs, intra_period=1, level=4.1, parallel=2)
    argv = codec.encoder_command("/opt/vtm/bin/EncoderApp", _feature_seq(2), 32, "c.yuv",
                                 "c.bin", "c_rec.yuv")
    assert argv == [
        "/opt/vtm/bin/EncoderApp", "-c", str(cfgs[0].resolve()), "-c", str(cfgs[1].resolve()),
        "-i", "c.yuv", "-b", "c.bin", "-o", "c_rec.yuv", "-wdt", "96", "-hgt", "64",
        "-fr", "25", "-f", "2", "--FrameSkip=0", "--TemporalSubsampleRatio=1",
        "-q", "32", "--IntraQPOffset=0",
        "--InputBitDepth=10", "--InternalBitDepth=10", "--OutputBitDepth=10",
        "--InputChromaFormat=400", "--ChromaFormatIDC=400", "--IntraPeriod=1",
        "--ConformanceWindowMode=1", "--Level=4.1"]
    assert codec.decoder_command("/opt/vtm/bin/DecoderApp", "s.bin", "d.yuv", 10) == [
        "/opt/vtm/bin/DecoderApp", "-b", "s.bin", "-o", "d.yuv", "-d", "10"]


def test_hm_command_natural_420_8bit(cfgs: list[Path]) -> None:
    codec = get_codec("hm", configs=[cfgs[0]], intra_period=32, level="5.0",
                      extra_args=["--SEIDecodedPictureHash=1"])
    argv = codec.encoder_command("TAppEncoder", _natural_seq(3), 27, "c.yuv", "c.bin", "r.yuv")
    assert argv == [
        "TAppEncoder", "-c", str(cfgs[0].resolve()),
        "-i", "c.yuv", "-b", "c.bin", "-o", "r.yuv", "-wdt", "96", "-hgt", "64",
        "-fr", "30", "-f", "3", "--FrameSkip=0", "--TemporalSubsampleRatio=1",
        "-q", "27", "--IntraQPOffset=0",
        "--InputBitDepth=8", "--InternalBitDepth=8", "--OutputBitDepth=8",
        "--InputChromaFormat=420", "--ChromaFormatIDC=420", "--IntraPeriod=-1",
        "--ConformanceWindowMode=1", "--Level=5", "--SEIDecodedPictureHash=1"]


def test_hm_profiles_for_rext_formats() -> None:
    hm = get_codec("hm")
    assert hm.default_profile(_feature_seq(1)) == "monochrome12"
    assert hm.default_profile(_feature_seq(1, depth=8)) == "monochrome"
    assert hm.default_profile(_natural_seq(1)) is None
    assert "--Profile=monochrome12" in hm.encoder_command("E", _feature_seq(1), 30, "a", "b", "c")
    assert get_codec("vtm").default_profile(_feature_seq(1)) is None
    assert "--InternalBitDepth=10" in get_codec("vtm", internal_bit_depth=10).encoder_command(
        "E", _natural_seq(1), 30, "a", "b", "c")


def test_chunk_ranges() -> None:
    assert chunk_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_ranges(10, 0) == [(0, 10)]
    assert chunk_ranges(3, 1) == [(0, 1), (1, 2), (2, 3)]
    assert chunk_ranges(5, 32) == [(0, 5)]


def test_parse_picture_qps_vtm_and_hm() -> None:
    vtm = ("POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP 32 )     193256 bits [Y 38.2 dB]\n"
           "POC    8 LId:  0 TId: 1 ( RASL_N, B-SLICE, QP 35 )       1234 bits [Y 37.0 dB]\n")
    hm = "POC    0 TId: 0 ( I-SLICE, nQP 32 QP 32 )     120 bits [Y 40.1 dB    U 42.0 dB]\n"
    assert parse_picture_qps(vtm) == [PictureQp(0, "I", 32), PictureQp(8, "B", 35)]
    assert parse_picture_qps(hm) == [PictureQp(0, "I", 32)]
    assert parse_picture_qps("Total Frames |   Bitrate     Y-PSNR\n") == []


# --- options and errors ---------------------------------------------------------------------

def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(CodecConfigError, match=r"configuration file .*nope\.cfg does not exist"):
        get_codec("vtm", configs=[tmp_path / "nope.cfg"])


def test_unknown_and_bad_options(cfgs: list[Path]) -> None:
    with pytest.raises(CodecConfigError, match="has no option gop_size"):
        get_codec("vtm", gop_size=16)
    with pytest.raises(CodecConfigError, match="may not set '--QP=30'.*qp argument"):
        get_codec("hm", extra_args=["--QP=30"])
    with pytest.raises(CodecConfigError, match="may not set '-f'"):
        get_codec("vtm", extra_args=["-f", "3"])
    with pytest.raises(CodecConfigError, match="extra_args must be a list of strings"):
        get_codec("vtm", extra_args="--SEIDecodedPictureHash=1")
    with pytest.raises(CodecConfigError, match="intra_period must be an integer >= 0"):
        get_codec("vtm", intra_period=-1)
    with pytest.raises(CodecConfigError, match="level must be like"):
        get_codec("vtm", level="high")
    with pytest.raises(CodecConfigError, match="parallel must be an integer >= 1"):
        get_codec("vtm", parallel=0)


def test_missing_binary_says_what_to_set(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VCMREF_VTM_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match="EncoderApp.*on PATH.*VCMREF_VTM_DIR.*bin_dir"):
        get_codec("vtm").check_available()
    with pytest.raises(ToolNotFoundError, match=f"TAppEncoder.*in {tmp_path}.*VCMREF_HM_DIR"):
        get_codec("hm", bin_dir=tmp_path).check_available()


def test_env_var_locates_binaries(tmp_path: Path, monkeypatch) -> None:
    _script(tmp_path, "EncoderAppStatic", "exit 0\n")
    _script(tmp_path, "DecoderApp", "exit 0\n")
    monkeypatch.setenv("VCMREF_VTM_DIR", str(tmp_path))
    codec = get_codec("vtm")
    codec.check_available()
    assert codec.encoder_exe() == str(tmp_path / "EncoderAppStatic")
    assert codec.decoder_exe() == str(tmp_path / "DecoderApp")


def test_codecs_name_the_binaries_a_run_records(tmp_path: Path) -> None:
    """A CTC run's provenance lists each codec's external programs (none for ffmpeg's)."""
    _script(tmp_path, "EncoderApp", "exit 0\n")
    _script(tmp_path, "DecoderApp", "exit 0\n")
    assert get_codec("vtm", bin_dir=tmp_path).binaries() == [
        str(tmp_path / "EncoderApp"), str(tmp_path / "DecoderApp")]
    assert get_codec("vvenc").binaries() == []
    with pytest.raises(ToolNotFoundError, match="TAppEncoder"):
        get_codec("hm", bin_dir=tmp_path).binaries()


def test_failing_encoder_keeps_stderr_and_status(tmp_path: Path) -> None:
    _script(tmp_path, "EncoderApp", "echo 'Error: unknown option Foo' >&2\nexit 3\n")
    codec = get_codec("vtm", bin_dir=tmp_path, intra_period=0)
    with pytest.raises(ToolError, match="exit status 3.*Error: unknown option Foo"):
        codec.encode(_feature_seq(2), 32)


def test_hanging_encoder_times_out(tmp_path: Path) -> None:
    _script(tmp_path, "TAppEncoder", "exec sleep 20\n")
    codec = get_codec("hm", bin_dir=tmp_path, timeout=0.5)
    with pytest.raises(ToolError, match="timed out after 0.5 s"):
        codec.encode(_feature_seq(1), 32)


# --- fake binaries: chunking, concatenation, QP report, decoded layouts ---------------------

def test_chunks_encoded_in_parallel_and_concatenated(tmp_path: Path) -> None:
    _script(tmp_path, "EncoderApp", FAKE_VTM_ENCODER)
    codec = get_codec("vtm", bin_dir=tmp_path, intra_period=4, parallel=3)
    seq = _feature_seq(10, h=16, w=16)
    bitstream, seconds, commands = codec.encode(seq, 30)
    frame = 16 * 16 * 2
    assert bitstream == f"4,{4 * frame};4,{4 * frame};2,{2 * frame};".encode()
    assert [c[c.index("-f") + 1] for c in commands[:3]] == ["4", "4", "2"]
    assert commands[3][1:] == ["-b", "<bitstream.bin>", "-o", "<decoded.yuv>", "-d", "10"]
    assert seconds > 0


def test_encoder_report_qp_mismatch(tmp_path: Path, monkeypatch) -> None:
    _script(tmp_path, "EncoderApp", FAKE_VTM_ENCODER)
    monkeypatch.setenv("FAKE_QP_SHIFT", "2")
    codec = get_codec("vtm", bin_dir=tmp_path, intra_period=0)
    with pytest.raises(QpMismatchError, match=r"QP 30 was asked for .* QP \[30, 32\]"):
        codec.encode(_feature_seq(3, h=16, w=16), 30)
    offsets = get_codec("vtm", bin_dir=tmp_path, intra_period=0, inter_qp_offsets=True)
    assert offsets.encode(_feature_seq(3, h=16, w=16), 30)[0]
    monkeypatch.setenv("FAKE_QP_SHIFT", "-1")
    with pytest.raises(QpMismatchError, match=r"QP \[29, 30\] \(POC \[1, 2\]\)"):
        offsets.encode(_feature_seq(3, h=16, w=16), 30)


def test_encoder_report_missing(tmp_path: Path) -> None:
    _script(tmp_path, "EncoderApp", 'for a; do case "$p" in -b) : > "$a"; echo x > "$a";; esac;'
            ' p=$a; done\n')
    codec = get_codec("vtm", bin_dir=tmp_path, intra_period=0)
    with pytest.raises(ToolError, match="reported 0 coded pictures, expected 2"):
        codec.encode(_feature_seq(2, h=16, w=16), 30)


@pytest.mark.parametrize("padded", [False, True])
def test_decoder_output_400_luma_only_or_padded(tmp_path: Path, monkeypatch, padded) -> None:
    seq = _feature_seq(2, h=16, w=24)
    raw = seq.to_bytes()
    if padded:
        neutral = np.full((2, 8, 12), 512, np.uint16)
        raw = YuvSequence((seq.planes[0], neutral, neutral), "420", 10).to_bytes()
    (tmp_path / "decoded.raw").write_bytes(raw)
    monkeypatch.setenv("FAKE_YUV", str(tmp_path / "decoded.raw"))
    _script(tmp_path, "TAppDecoder", 'for a; do [ "$p" = -o ] && cp "$FAKE_YUV" "$a"; p=$a; done\n')
    decoded, _ = get_codec("hm", bin_dir=tmp_path).decode(b"stream", seq)
    assert decoded.same_samples(seq)


# An "HM" whose encoder is x265 and whose decoder is dec265, each chunk a real HEVC stream, to
# test chunking, concatenation, the bitstream QP read-back and decoding without HM installed.
X265_AS_HM_ENCODER = """
while [ $# -gt 0 ]; do
  case "$1" in -i) i=$2; shift;; -b) b=$2; shift;; -wdt) w=$2; shift;; -hgt) h=$2; shift;;
    -f) f=$2; shift;; -q) q=$2; shift;; --InputBitDepth=*) d=${1#*=};;
    --InputChromaFormat=*) c=${1#*=};; esac
  shift
done
x265 --input "$i" --input-res ${w}x${h} --fps 25 --input-depth $d --output-depth $d \\
  --input-csp i$c --frames $f --qp $q --aq-mode 0 --no-cutree --ipratio 1 --pbratio 1 \\
  --keyint -1 --no-scenecut --no-info --bframes 0 --preset ultrafast --log-level error \\
  --output "$b" || exit 1
n=0
while [ $n -lt $f ]; do
  t=P; [ $n -eq 0 ] && t=I
  echo "POC    $n TId: 0 ( $t-SLICE, nQP $q QP $q )     1000 bits [Y 40.0 dB]"
  n=$((n + 1))
done
"""


def test_chunked_hevc_streams_concatenate(tmp_path: Path) -> None:
    if shutil.which("x265") is None or shutil.which("libde265-dec265") is None:
        pytest.skip("needs the x265 and libde265-dec265 CLIs (apt-get install x265 "
                    "libde265-examples)")
    _script(tmp_path, "TAppEncoder", X265_AS_HM_ENCODER)
    _script(tmp_path, "TAppDecoder", 'while [ $# -gt 0 ]; do case "$1" in -b) b=$2;; -o) o=$2;;'
            ' esac; shift; done\nexec libde265-dec265 -q -o "$o" "$b"\n')
    seq = _feature_seq(10)
    coded = get_codec("hm", bin_dir=tmp_path, intra_period=4, parallel=2).code(seq, 30)
    report = coded.qp_report
    assert report is not None and report.slice_qps == (30,) * 10
    assert report.slice_is_intra == tuple(i % 4 == 0 for i in range(10))
    assert coded.decoded.num_frames == 10
    error = np.abs(coded.decoded.planes[0].astype(int) - seq.planes[0]).mean(axis=(1, 2))
    assert error.max() < 8, error


# --- end to end with real VTM/HM (when configured) ------------------------------------------

def _reference(name: str, env: str, cfg_name: str):
    folder = os.environ.get(env)
    if not folder:
        pytest.skip(f"{name} not configured: set {env} to the folder holding its binaries "
                    f"(and {env.replace('_DIR', '_CFG')} to {cfg_name} if not in ../cfg)")
    cfg = Path(os.environ.get(env.replace("_DIR", "_CFG"), Path(folder) / ".." / "cfg" / cfg_name))
    if not cfg.is_file():
        pytest.skip(f"{name} config {cfg} not found; set {env.replace('_DIR', '_CFG')} to "
                    f"the path of {cfg_name}")
    return get_codec(name, configs=[cfg], intra_period=1, parallel=2)


@pytest.mark.parametrize("name,env,cfg", [
    ("vtm", "VCMREF_VTM_DIR", "encoder_intra_vtm.cfg"),
    ("hm", "VCMREF_HM_DIR", "encoder_intra_main10.cfg")])
def test_reference_end_to_end_feature_400(name: str, env: str, cfg: str) -> None:
    codec = _reference(name, env, cfg)
    seq = _feature_seq(2)
    coded = codec.code(seq, 32)
    assert coded.qp_report is not None and set(coded.qp_report.slice_qps) == {32}
    assert coded.decoded.num_frames == 2 and coded.decoded.chroma_format is ChromaFormat.YUV400
    assert len(coded.commands) == 3


# --- x265-cli (Debian x265 and libde265) ----------------------------------------------------

needs_x265 = pytest.mark.skipif(shutil.which("x265") is None,
                                reason="x265 CLI not installed (apt-get install x265)")


def _x265(**options) -> X265CliCodec:
    codec = get_codec("x265-cli", preset="ultrafast", **options)
    assert isinstance(codec, X265CliCodec)
    return codec


def test_x265_cli_command() -> None:
    codec = _x265(intra_period=1, lossless=True, threads=2)
    argv = codec.encoder_command("x265", _feature_seq(2, h=48, w=96), 30)
    assert argv == [
        "x265", "--input", "-", "--input-res", "96x48", "--input-depth", "10",
        "--output-depth", "10", "--input-csp", "i400", "--fps", "25", "--frames", "2",
        "--preset", "ultrafast", "--ctu", "32", "--qp", "30", "--aq-mode", "0", "--no-cutree",
        "--ipratio", "1", "--pbratio", "1", "--keyint", "1", "--no-scenecut", "--no-info",
        "--bframes", "0", "--lossless", "--pools", "2", "--frame-threads", "1",
        "--log-level", "error", "--no-progress", "--output", "-"]
    with pytest.raises(CodecConfigError, match="decoder must be one of"):
        get_codec("x265-cli", decoder="openhevc")


@needs_x265
def test_x265_cli_400_10bit_qp_and_decoders_agree() -> None:
    codec = _x265(intra_period=1)
    if codec.decoder_used() != "dec265":
        pytest.skip("libde265-dec265 not installed (apt-get install libde265-examples)")
    seq = _feature_seq(2)
    coded = codec.code(seq, 30)
    assert coded.qp_report is not None and coded.qp_report.slice_qps == (30, 30)
    assert "-q" in coded.commands[1] and "dec265" in coded.commands[1][0]
    assert coded.decoded.chroma_format is ChromaFormat.YUV400 and coded.decoded.bit_depth == 10
    by_ffmpeg, _ = decode_raw(coded.bitstream, "hevc", "hevc", seq.width, seq.height)
    assert by_ffmpeg.same_samples(coded.decoded)
    assert not coded.decoded.same_samples(seq)


@needs_x265
def test_x265_cli_lossless_and_inter_frames() -> None:
    seq = _natural_seq(3)
    lossless = _x265(intra_period=0, lossless=True).code(seq, 22)
    assert lossless.decoded.same_samples(seq)
    inter = _x265(intra_period=0, decoder="ffmpeg").code(seq, 35)
    assert inter.qp_report is not None and set(inter.qp_report.slice_qps) == {35}
    assert "pipe:0" in inter.commands[1]


@needs_x265
def test_x265_cli_input_checks() -> None:
    with pytest.raises(CodecConfigError, match="at least 16x16"):
        _x265().code(_feature_seq(1, h=8, w=32), 30)
    with pytest.raises(CodecConfigError, match="in multiples of 2, not 64x33"):
        odd = YuvSequence((np.zeros((1, 33, 64), np.uint16), np.zeros((1, 17, 32), np.uint16),
                           np.zeros((1, 17, 32), np.uint16)), "420", 8)
        _x265().code(odd, 30)
