"""The conformance suite: reproducible, decoded as recorded, and a working checker."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vcmref.bitstream.units import iter_units
from vcmref.cli import app
from vcmref.conformance.cases import CASES, case_stream
from vcmref.conformance.runner import run_suite
from vcmref.conformance.suite import SUITE_DIR, decoded_md5s, generate, load_manifest
from vcmref.errors import ToolNotFoundError

SUITE_SIZE_LIMIT = 20 * 1024 * 1024


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    """Every file comes back byte for byte: the reference encoder's streams are rebuilt, the
    inner-codec streams (external video encoders) are taken as committed, see below."""
    generate(tmp_path)
    committed = sorted(p.relative_to(SUITE_DIR) for p in SUITE_DIR.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh == committed
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (SUITE_DIR / rel).read_bytes(), rel


def test_suite_is_small_and_has_both_kinds() -> None:
    entries = load_manifest()
    assert sum((SUITE_DIR / e.file).stat().st_size for e in entries) < SUITE_SIZE_LIMIT
    assert {e.expect for e in entries} == {"decode", "reject"}
    assert len({e.name for e in entries}) == len(entries)


def test_reference_decoder_passes_every_stream() -> None:
    outcomes = run_suite()
    failed = [o for o in outcomes if not o.passed]
    assert not failed, failed


def test_reference_decoder_as_a_command_passes() -> None:
    """The command interface, on every stream to decode and a sample of those to reject
    (each run starts a Python process)."""
    entries = load_manifest()
    names = {e.name for e in entries if e.expect == "decode"}
    names |= {e.name for e in entries if e.expect == "reject"}.intersection(
        {"truncated_payload", "hash_mismatch", "broken_layer_dependency", "missing_data_unit",
         "ans_data_nonzero_tail", "level_idc_11"})
    cmd = (f"{sys.executable} -m vcmref decode {{bitstream}} --raw-samples {{output}} "
           "--raw-values {values}")
    outcomes = run_suite(command=cmd, timeout=120, names=names)
    assert len(outcomes) == len(names)
    failed = [o for o in outcomes if not o.passed]
    assert not failed, failed


WRONG_DECODER = '''
import sys
from vcmref.conformance.suite import samples_bytes
from vcmref.refsw.decoder import Decoder
result = Decoder().decode(open(sys.argv[1], "rb").read())
data = bytearray(samples_bytes(result))
if data:
    data[-1] ^= 1  # off by one in the last sample
open(sys.argv[2], "wb").write(bytes(data))
'''


def test_a_wrong_decoder_fails_with_a_table(tmp_path: Path) -> None:
    script = tmp_path / "wrongdec.py"
    script.write_text(WRONG_DECODER)
    only = "minmax_b10_basic,qp_tensors,zero_frames,hash_mismatch"
    res = CliRunner().invoke(app, ["conform", "--only", only, "--decoder",
                                   f"{sys.executable} {script} {{bitstream}} {{output}}"])
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert lines[0].startswith("stream")
    rows = {ln.split()[0]: ln for ln in lines[1:-1]}
    assert set(rows) == set(only.split(","))
    # Streams with samples fail on their MD5; the frameless one and the reject stream pass.
    for name in ("minmax_b10_basic", "qp_tensors"):
        assert " FAIL " in rows[name] and "MD5 differs" in rows[name]
    for name in ("zero_frames", "hash_mismatch"):
        assert " pass " in rows[name]
    assert lines[-1] == "2 passed, 2 failed"


def test_a_missing_decoder_binary_fails_each_stream() -> None:
    res = CliRunner().invoke(app, ["conform", "--only", "minmax_b1", "--decoder",
                                   "/nonexistent/dec {bitstream} {output}"])
    assert res.exit_code == 1
    assert "cannot run" in res.output


def test_command_without_placeholders_is_refused() -> None:
    res = CliRunner().invoke(app, ["conform", "--decoder", "mydec"])
    assert res.exit_code == 1
    assert "{bitstream}" in res.output


def test_coverage_is_complete() -> None:
    from vcmref.conformance.coverage import coverage_report

    streams = [(SUITE_DIR / e.file).read_bytes() for e in load_manifest()
               if e.expect == "decode"]
    report = coverage_report(streams)
    assert report.percent == 100.0, report.format_table()


EXTERNAL = [c for c in CASES if c.external]


def test_inner_codec_cases_are_in_the_suite() -> None:
    entries = {e.name: e for e in load_manifest()}
    assert len(EXTERNAL) >= 3
    needs = {"inner_vvc_frames": ["H.266/VVC decoder"],
             "inner_hevc_lossless_layers": ["H.265/HEVC decoder"],
             "inner_hevc_p8_channel": ["H.265/HEVC decoder"]}
    for name, need in needs.items():
        assert entries[name].expect == "decode" and entries[name].needs == need, name
    assert entries["inner_data_garbage"].needs == ["H.266/VVC decoder"]
    assert entries["minmax_b10_basic"].needs == []
    assert sum(e.needs != [] for e in entries.values() if e.expect == "reject") >= 15


@pytest.mark.parametrize("case", EXTERNAL, ids=[c.name for c in EXTERNAL])
def test_inner_codec_case_rebuilds(case) -> None:
    """Encoding an inner-codec case anew (with this machine's video encoders) gives a stream of
    the same structure as the committed one: same stream parameter set, same units in the
    same order, decoding to the same frames. Its bytes may differ (encoder versions), except
    that a lossless inner codec gives back the same samples."""
    try:
        fresh = case_stream(case, rebuild=True)
    except ToolNotFoundError as e:
        pytest.skip(str(e))
    committed = (SUITE_DIR / f"{case.name}.vcm").read_bytes()

    def layout(data: bytes) -> list[tuple[int, int]]:
        return [(u.unit_type, u.layer_id) for u in iter_units(data)]

    assert layout(fresh) == layout(committed)
    assert next(iter_units(fresh)).payload == next(iter_units(committed)).payload
    samples, _ = decoded_md5s(fresh)
    if "lossless" in case.name:
        entry = next(e for e in load_manifest() if e.name == case.name)
        assert samples == entry.samples_md5


def test_missing_inner_decoder_fails_inner_streams_only() -> None:
    """Without a decoder for the inner codec, the inner-codec streams fail and say what they
    need; the others are unaffected."""

    def missing(*args):
        raise ToolNotFoundError("ffmpeg: not installed")

    outcomes = {o.name: o for o in run_suite(names={"inner_vvc_frames", "minmax_b1"},
                                             inner_decoder=missing)}
    assert not outcomes["inner_vvc_frames"].passed
    assert "needs H.266/VVC decoder" in outcomes["inner_vvc_frames"].detail
    assert outcomes["minmax_b1"].passed


@pytest.mark.parametrize(("name", "codec"), [("inner_vvc_frames", "H.266/VVC"),
                                             ("inner_hevc_p8_channel", "H.265/HEVC")])
def test_decoders_given_no_inner_decoder_say_what_they_need(name: str, codec: str) -> None:
    """The normative decoder imports no video codec: given none, both decoding paths refuse an
    inner-codec stream in one line that says which byte stream it needs; other streams decode."""
    from vcmref.conformance import plain_decoder
    from vcmref.refsw.decoder import Decoder

    data = (SUITE_DIR / f"{name}.vcm").read_bytes()
    expected = (f"^this stream's samples are in an {re.escape(codec)} byte stream: give the "
                "decoder an inner decoder")
    for decode in (Decoder().decode, plain_decoder.decode):
        with pytest.raises(ToolNotFoundError, match=expected) as info:
            decode(data)
        assert "\n" not in str(info.value)
    assert Decoder().decode((SUITE_DIR / "minmax_b1.vcm").read_bytes()).frames


def test_temporal_prediction_streams_wrap_both_ways() -> None:
    """The suite's temporal prediction streams exercise the modular sum of clause 5.9.1 where
    it leaves [0, 2^B - 1] on either side (v + ref - SampleMin < 0 and >= 2^B; a decoder that
    takes C's % for mod fails the first), with signed samples and with SampleMin 0, and a
    predicted frame in which one tensor is coded on its own."""
    import numpy as np

    from vcmref.bitstream.frame_units import TemporalPrediction, temporal_prediction
    from vcmref.bitstream.syntax import Reader
    from vcmref.bitstream.units import UnitType
    from vcmref.refsw.decoder import Decoder
    from vcmref.refsw.encoder.encoder import prediction_residual

    wraps: dict[tuple[str, int], int] = {}  # (stream, -1 below / +1 above) -> samples
    flags_seen = set()
    for name in ("temporal_prediction", "temporal_prediction_layers",
                 "temporal_prediction_base_layer", "temporal_prediction_minmax"):
        data = (SUITE_DIR / f"{name}.vcm").read_bytes()
        result = Decoder().decode(data)
        sps = result.sps
        assert sps.profile_idc == 2
        frame = -1
        for u in iter_units(data):
            frame += u.unit_type == UnitType.FRAME_HEADER
            if u.unit_type != UnitType.TEMPORAL_PREDICTION:
                continue
            tp = temporal_prediction(Reader(u.payload), TemporalPrediction(), sps)
            assert frame > 0 and tp.frame_index == result.frames[frame].frame_index
            flags_seen |= set(tp.predicted)
            for t, ti in enumerate(sps.tensors):
                if not tp.predicted[t]:
                    continue
                s = result.frames[frame].samples[ti.name].astype(np.int64)
                ref = result.frames[frame - 1].samples[ti.name].astype(np.int64)
                total = prediction_residual(s, ref, sps) + ref - sps.sample_min
                for side, hits in ((-1, total < 0), (1, total >= 1 << sps.sample_bit_depth)):
                    wraps[name, side] = wraps.get((name, side), 0) + int(hits.sum())
    assert flags_seen == {False, True}
    assert wraps["temporal_prediction", -1] > 0 and wraps["temporal_prediction", 1] > 0
    assert wraps["temporal_prediction_minmax", 1] > 0
