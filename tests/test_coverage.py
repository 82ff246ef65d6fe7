"""Syntax coverage (vcmref.conformance.coverage): the element universe derived from the syntax
functions equals the spec's syntax tables, and reports on small encoded streams count right.

The suite's own 100% is checked where the suite is tested, not here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from vcmref.bitstream.extract import extract
from vcmref.bitstream.frame_units import num_tokens
from vcmref.bitstream.inspect import PAYLOAD_STRUCTURES, inspect_stream
from vcmref.bitstream.parameter_sets import StreamParameterSet, stream_parameter_set
from vcmref.bitstream.syntax import Reader, Writer, base_name
from vcmref.bitstream.units import UnitType, iter_units, write_signature, write_unit
from vcmref.conformance.cases import rewrite_units
from vcmref.conformance.coverage import (
    STREAM_CLASSES,
    STRUCTURES,
    VALUE_CLASSES,
    CoverageReport,
    SyntaxDerivationError,
    coverage_report,
    elements_of,
    syntax_elements,
    top_class,
)
from vcmref.errors import BitstreamError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.encoder.encoder import build_sps

SPEC = Path(__file__).resolve().parent.parent / "docs" / "spec.md"
_HEADING = re.compile(r"^###\s+Syntax:\s*(\S+)\s*$")
_CONTROL_ROW = re.compile(r"^(?:for|if|else)\b|^\}")


def spec_tables() -> dict[str, list[tuple[str, str]]]:
    """(element, descriptor) rows of every `### Syntax: NAME` table, control rows dropped (the
    spec writes b(8*n) and channel_order's u(v) as the derivation does)."""
    tables: dict[str, list[tuple[str, str]]] = {}
    current: str | None = None
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        m = _HEADING.match(line)
        if m:
            current = m.group(1)
            tables[current] = []
            continue
        if line.startswith("#"):
            current = None
        if current is None or not line.lstrip().startswith("|"):
            continue
        cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["syntax element", "descriptor"] or set("".join(cells)) <= set("-: "):
            continue
        if _CONTROL_ROW.match(cells[0]):
            continue
        tables[current].append((cells[0], cells[1]))
    return tables


# -- the element universe -----------------------------------------------------------------------

def test_structures_are_the_spec_tables():
    assert sorted(syntax_elements()) == sorted(spec_tables()) == sorted(STRUCTURES)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_syntax_elements_equal_spec_table(structure):
    assert syntax_elements()[structure] == spec_tables()[structure]


TOY_WIDTH = 5


def _toy_syntax(rw, s, sps):
    rw.u(TOY_WIDTH, "a", s.a)
    nbits = sps.bits
    for k in range(2):
        rw.u(nbits, f"b[{k}]", s.b)
        name = "left" if k else "right"
        idx = f"[{k}]" if k else f"[{k}][0]"
        rw.u(2, f"{name}_lo{idx}", 0)
        if rw.reading:
            raise rw.error("x", f"{name}_lo{idx}")
        rw.se(f"{name}_hi{idx}", 0)
    rw.u_list(1, "flags", None, 3)
    rw.flag("one", 1)
    rw.string(f"label[{sps.n}]", "")
    rw.alignment()
    rw.payload_bytes("blob", b"", 0)
    rw.alignment("pad_bit")


def test_derivation_of_a_toy_syntax():
    """Module-constant widths resolve, computed widths are u(v), f-string indices are
    stripped, and a name chosen by a conditional gives each alternative's elements together."""
    assert elements_of(_toy_syntax) == [
        ("a", "u(5)"), ("b", "u(v)"),
        ("left_lo", "u(2)"), ("left_hi", "se(v)"),
        ("right_lo", "u(2)"), ("right_hi", "se(v)"),
        ("flags", "u(1)"), ("one", "u(1)"), ("label", "st(v)"),
        ("alignment_zero_bit", "f(1)"), ("blob", "b(8*n)"), ("pad_bit", "f(1)"),
    ]


def _unknown_method(rw):
    rw.u8("x", 0)


def _computed_name(rw, names):
    rw.ue(names[0], 0)


@pytest.mark.parametrize("fn", [_unknown_method, _computed_name])
def test_derivation_refuses_what_it_cannot_read(fn):
    with pytest.raises(SyntaxDerivationError):
        elements_of(fn)


def test_value_class_table_names_real_elements():
    universe = syntax_elements()
    labels = [c.label for c in (*VALUE_CLASSES, *STREAM_CLASSES)]
    assert len(labels) == len(set(labels))
    for c in VALUE_CLASSES:
        assert (c.element in {n for n, _ in universe[c.structure]}), c.label
    names = {c.label for c in VALUE_CLASSES}
    for q in range(4):
        assert any(n.startswith(f"stream_parameter_set.quant_mode = {q} ") for n in names)
    for t in (*range(1, 7), 8, 9, 10):
        assert any(n.startswith(f"unit_header.unit_type = {t} ") for n in names)
    assert "unit_header.unit_type reserved (7, 11..127)" in names
    assert "restoration_model.restoration_type = 1 (RESIDUAL_CONV)" in names
    assert {"stream_parameter_set.profile_idc = 1 (main)",
            "stream_parameter_set.profile_idc = 2 (main-inter)",
            "temporal_prediction.predicted_flag = 0 (a tensor coded on its own)",
            "temporal_prediction.predicted_flag = 1 (a predicted tensor)"} <= names
    assert [top_class(e) for e in range(2, 7)] == [3, 4, 6, 7, 9]  # spec clause 4.3


# -- reports on small streams -------------------------------------------------------------------

def _features(seed: int, shape: tuple[int, ...], shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) + shift
    return {"x": (x / (1.0 + np.exp(-x))).astype(np.float32)}


@pytest.fixture(scope="module")
def minmax_stream() -> bytes:
    return encode(_features(1, (1, 4, 5, 5)), EncoderConfig(quant="minmax", bit_depth=8))


@pytest.fixture(scope="module")
def step_stream() -> bytes:
    return encode(_features(2, (2, 6, 4, 4)), EncoderConfig(
        quant="step", step=2.0, layers=2, bit_depth=12, hashes=False, lane_limit=1))


def _traced_pairs(streams: list[bytes]) -> set[tuple[str, str]]:
    """(structure, element base name) of every element the streams contain, traced directly."""
    out = set()
    for data in streams:
        sig, units = inspect_stream(data)
        out |= {("stream", base_name(e.name)) for e in sig}
        for iu in units:
            out |= {("unit_header", base_name(e.name)) for e in iu.header}
            if iu.unit_type in PAYLOAD_STRUCTURES:
                s = PAYLOAD_STRUCTURES[UnitType(iu.unit_type)]
                out |= {(s, base_name(e.name)) for e in iu.payload}
    return out


def _check_counts(rep: CoverageReport, streams: list[bytes]) -> None:
    assert not rep.unexpected_elements
    assert rep.elements_total == sum(len(v) for v in syntax_elements().values())
    assert rep.elements_covered == len(_traced_pairs(streams))
    assert rep.elements_covered + len(rep.missing_elements) == rep.elements_total
    assert rep.classes_total == len(VALUE_CLASSES) + len(STREAM_CLASSES)
    assert rep.classes_covered + len(rep.missing_classes) == rep.classes_total
    done = rep.elements_covered + rep.classes_covered
    assert rep.percent == pytest.approx(100 * done / (rep.elements_total + rep.classes_total))


def test_minmax_stream_then_step_stream(minmax_stream, step_stream):
    one = coverage_report([minmax_stream])
    _check_counts(one, [minmax_stream])
    assert one.streams == 1
    assert "stream_parameter_set.quant_mode = 0 (MINMAX_TENSOR)" in one.covered_classes
    assert "stream_parameter_set.quant_mode = 3 (UNIFORM_STEP)" in one.missing_classes
    assert "frame_header.quant_step u(32)" in one.missing_elements
    assert "frame_header.tensor_min u(32)" not in one.missing_elements
    assert "stream_parameter_set.sample_bit_depth_minus1 = 7 (B = 8)" in one.covered_classes
    assert "stream_parameter_set.num_layers_minus1 > 0" in one.missing_classes

    two = coverage_report([minmax_stream, step_stream])
    _check_counts(two, [minmax_stream, step_stream])
    assert "stream_parameter_set.quant_mode = 3 (UNIFORM_STEP)" in two.covered_classes
    assert "frame_header.quant_step u(32)" not in two.missing_elements
    assert "frame_header.quant_step >= 1" in two.covered_classes
    assert "frame_header.quant_step < 1" in two.missing_classes
    for got in ("stream_parameter_set.num_layers_minus1 > 0",
                "stream_parameter_set.num_ref_layers > 0 (dependencies)",
                "stream_parameter_set.lane_limit = 1", "unit_header.layer_id > 0",
                "frame_header.frame_index > 0", "stream: several frames",
                "stream: a frame without a data_hash"):
        assert got in two.covered_classes, got
    for missing in ("stream_parameter_set.quant_mode = 1 (MINMAX_CHANNEL)",
                    "frame_header.channel_min u(32)", "frame_header.qp_delta se(v)"):
        assert missing in two.missing_classes + two.missing_elements, missing
    assert set(two.missing_classes) < set(one.missing_classes)
    assert two.percent > one.percent
    assert not two.complete


def test_covered_value_classes_match_the_values(minmax_stream, step_stream):
    """A value class is covered exactly when some traced value of its element is in it."""
    streams = [minmax_stream, step_stream]
    rep = coverage_report(streams)
    values: dict[tuple[str, str], list] = {}
    sps = None
    for data in streams:
        _, units = inspect_stream(data)
        for iu in units:
            if iu.unit_type == UnitType.STREAM_PARAMETER_SET:
                sps = stream_parameter_set(Reader(data[iu.byte_offset + 6:]),
                                           StreamParameterSet())
            s = PAYLOAD_STRUCTURES.get(iu.unit_type)
            for structure, elements in (("unit_header", iu.header), (s, iu.payload)):
                for e in elements:
                    vs = e.value if isinstance(e.value, list) else [e.value]
                    values.setdefault((structure, base_name(e.name)), []).extend(
                        (v, sps) for v in vs)
    for c in VALUE_CLASSES:
        seen = any(c.test(v, s) for v, s in values.get((c.structure, c.element), []))
        assert seen == (c.label in rep.covered_classes), c.label


def test_empty_input():
    rep = coverage_report([])
    assert rep.elements_covered == rep.classes_covered == 0
    assert rep.percent == 0.0
    assert len(rep.missing_elements) == rep.elements_total


def test_bad_stream_raises(minmax_stream):
    with pytest.raises(BitstreamError):
        coverage_report([minmax_stream, b"VCM0"])


def test_format_table(minmax_stream):
    rep = coverage_report([minmax_stream])
    text = rep.format_table()
    lines = text.splitlines()
    assert f"{rep.percent:.1f}%" in lines[0]
    for structure, pairs in syntax_elements().items():
        row = next(line for line in lines if line.split()[:1] == [structure])
        got = sum(f"{structure}.{n} {d}" not in rep.missing_elements for n, d in pairs)
        assert f"{got}/{len(pairs)}" in row
    for m in (*rep.missing_elements, *rep.missing_classes):
        assert f"  {m}" in lines
    assert "missing elements" in text and "missing value classes" in text
    full = CoverageReport(rep.elements, (), (), 1, {(s, n, d) for s, pairs in
                                                    rep.elements.items() for n, d in pairs})
    assert full.complete and full.percent == 100.0
    assert "missing" not in full.format_table()


# -- stream-level and SPS-dependent classes -----------------------------------------------------

def test_stream_level_classes(minmax_stream):
    layered = encode(_features(3, (1, 6, 3, 3)), EncoderConfig(quant="qp", qp=30, layers=3))
    rep = coverage_report([minmax_stream])
    assert "stream: a frame with a data_hash" in rep.covered_classes
    for missing in ("stream: no frame", "stream: several frames",
                    "stream: a frame without a data_hash",
                    "stream: a frame with fewer layers than the SPS declares",
                    "stream: a reserved unit inside a frame"):
        assert missing in rep.missing_classes
    assert "stream: a frame with fewer layers than the SPS declares" in \
        coverage_report([layered]).missing_classes
    dropped = coverage_report([extract(layered, max_layers=1)])
    assert "stream: a frame with fewer layers than the SPS declares" in dropped.covered_classes

    chunks = [data[u.byte_offset:u.byte_offset + 6 + len(u.payload)]
              for data in [minmax_stream] for u in iter_units(data)]
    types = [u.unit_type for u in iter_units(minmax_stream)]
    at = types.index(UnitType.FRAME_HEADER) + 1
    before_frame = b"".join([write_signature(), chunks[0], write_unit(11, 0, b"ab"),
                             *chunks[1:]])
    in_frame = b"".join([write_signature(), *chunks[:at], write_unit(127, 0, b""),
                         *chunks[at:]])
    rep = coverage_report([before_frame])
    assert "unit_header.unit_type reserved (7, 11..127)" in rep.covered_classes
    assert "stream: a reserved unit inside a frame" in rep.missing_classes
    assert "stream: a reserved unit inside a frame" in \
        coverage_report([in_frame]).covered_classes


def _sps_only_stream(tensors: dict[str, np.ndarray], cfg: EncoderConfig) -> bytes:
    w = Writer(unit="stream_parameter_set")
    stream_parameter_set(w, build_sps(tensors, cfg))
    return b"".join([write_signature(), write_unit(UnitType.STREAM_PARAMETER_SET, 0,
                                                   w.getvalue()),
                     write_unit(UnitType.END_OF_STREAM, 0, b"")])


LIMIT_CLASSES = ["stream_parameter_set.num_tensors_minus1 = MaxTensors - 1",
                 "stream_parameter_set.tensor_channels_minus1 = MaxChannels - 1",
                 "stream_parameter_set.num_layers_minus1 = MaxLayers - 1",
                 "stream_parameter_set.tile_columns_minus1 a tile MaxTileDimension wide"]


def test_level_limit_classes():
    """The level-limit classes see the SPS: level 10 at its limits covers them, the same
    shapes at level 20 do not (its limits are higher)."""
    shapes = {f"t{i}": (1, 4, 2, 2) for i in range(6)}
    shapes["wide"] = (1, 4, 1, 1024)
    shapes["many"] = (1, 1024, 1, 1)
    tensors = {k: np.zeros(v, np.float32) for k, v in shapes.items()}
    small = {f"t{i}": 1 for i in range(6)}
    plan = [{**small, "wide": 4, "many": 256}] + [{**small, "many": 256}] * 3
    at_limit = coverage_report([_sps_only_stream(tensors, EncoderConfig(
        level=10, layer_channels=plan, tile_columns=4))])
    for label in LIMIT_CLASSES:
        assert label in at_limit.covered_classes, label
    assert "stream: no frame" in at_limit.covered_classes
    assert "stream_parameter_set.level_idc = 10" in at_limit.covered_classes
    below = coverage_report([_sps_only_stream(tensors, EncoderConfig(
        level=20, layer_channels=plan, tile_columns=4))])
    assert "stream_parameter_set.level_idc != 10" in below.covered_classes
    for label in LIMIT_CLASSES:
        assert label in below.missing_classes, label


# -- the classes the reference encoder does not reach are reachable -----------------------------

def _same_decode(a: bytes, b: bytes) -> None:
    ra, rb = Decoder().decode(a), Decoder().decode(b)
    for name, x in ra.stacked_samples().items():
        np.testing.assert_array_equal(x, rb.stacked_samples()[name])


def test_empty_ans_data_decodes():
    """ans_bytes = 0 happens in a conforming stream: a constant tile codes all-zero bits."""
    data = encode({"c": np.full((1, 2, 3, 4), 0.75, np.float32)},
                  EncoderConfig(quant="step", step=0.25, bit_depth=6))
    label = "data_unit.ans_bytes = 0 (empty ans_data)"
    assert label in coverage_report([data]).missing_classes

    def empty(du, sps):
        assert not any(du.ans_data)
        du.ans_data = b""

    trimmed = rewrite_units(data, UnitType.DATA_UNIT, empty)
    _same_decode(data, trimmed)
    assert label in coverage_report([trimmed]).covered_classes


def test_full_weight_list_decodes():
    """num_token_weights_minus1 = NumTokens - 1: explicit trailing zero weights."""
    data = encode(_features(4, (1, 3, 4, 4)), EncoderConfig(bit_depth=6))
    label = "tile_model.num_token_weights_minus1 = NumTokens - 1 (every token)"
    assert label in coverage_report([data]).missing_classes

    def pad(tm, sps):
        n = num_tokens(sps)
        tm.weights = [None if w is None else w + [0] * (n - len(w)) for w in tm.weights]

    padded = rewrite_units(data, UnitType.TILE_MODEL, pad)
    _same_decode(data, padded)
    assert label in coverage_report([padded]).covered_classes


# -- inner codec streams (entropy_coder_idc 1) -------------------------------------------------

INNER_CLASSES = [
    "stream_parameter_set.entropy_coder_idc = 1 (INNER_CODEC)",
    "stream_parameter_set.inner_codec_idc = 1 (H266_VVC)",
    "stream_parameter_set.inner_codec_idc = 2 (H265_HEVC)",
    "stream_parameter_set.picture_bit_depth_minus1 P > B (pictures deeper than samples)",
    "stream_parameter_set.picture_bit_depth_minus1 P = B",
    "stream_parameter_set.picture_bit_depth_minus1 P < B (samples deeper than pictures)",
    "unit_header.unit_type = 8 (INNER_CODEC_DATA)",
    "inner_codec_data.frame_index = 0",
    "inner_codec_data.frame_index > 0",
    "inner_codec_data.num_pictures_minus1 = 0 (the frame's own picture)",
    "inner_codec_data.num_pictures_minus1 > 0 (pictures of later frames)",
    "stream: a frame that takes a picture left from an earlier inner_codec_data unit",
]


def test_inner_codec_classes_exist():
    labels = {c.label for c in (*VALUE_CLASSES, *STREAM_CLASSES)}
    assert not [c for c in INNER_CLASSES if c not in labels]
    assert ("inner_codec_data", "inner_data", "b(8*n)") in {
        ("inner_codec_data", n, d) for n, d in syntax_elements()["inner_codec_data"]}


def test_inner_codec_classes_follow_the_streams(minmax_stream):
    """The inner-codec classes are covered by the suite's inner-codec streams only, each by the
    stream that has it (P vs B compares with the stream's own sample bit depth)."""
    from vcmref.conformance.cases import CASES, case_stream

    inner = {c.name: case_stream(c) for c in CASES if c.external}
    rans = coverage_report([minmax_stream])
    assert "stream_parameter_set.entropy_coder_idc = 0 (WAVEFRONT_RANS)" in rans.covered_classes
    assert not [c for c in INNER_CLASSES if c in rans.covered_classes]
    rep = coverage_report(list(inner.values()))
    assert not rep.unexpected_elements
    assert not [c for c in INNER_CLASSES if c not in rep.covered_classes]
    assert not [m for m in rep.missing_elements if m.startswith("inner_codec_data.")]
    vvc = coverage_report([inner["inner_vvc_frames"]])
    for label in ("stream_parameter_set.picture_bit_depth_minus1 P = B",
                  "inner_codec_data.num_pictures_minus1 > 0 (pictures of later frames)",
                  "stream: a frame that takes a picture left from an earlier inner_codec_data "
                  "unit"):
        assert label in vvc.covered_classes, label
    assert "inner_codec_data.frame_index > 0" in vvc.missing_classes
    hevc = coverage_report([inner["inner_hevc_lossless_layers"]])
    assert "stream: a frame that takes a picture left from an earlier inner_codec_data unit" \
        in hevc.missing_classes
    assert "stream: a frame with fewer layers than the SPS declares" in hevc.missing_classes
    assert "stream_parameter_set.picture_bit_depth_minus1 P > B (pictures deeper than " \
        "samples)" in hevc.covered_classes


def test_layer_with_picture_left_is_present():
    """Frame 1 of the VVC case has no unit at all once the data hashes are dropped: its layer
    is still present (its picture is left from frame 0's unit), so no layer is missing."""
    from vcmref.conformance.cases import CASES, case_stream

    data = case_stream(next(c for c in CASES if c.name == "inner_vvc_frames"))
    chunks = [data[u.byte_offset:u.byte_offset + 6 + len(u.payload)] for u in iter_units(data)
              if u.unit_type != UnitType.DATA_HASH]
    bare = write_signature() + b"".join(chunks)
    assert len(Decoder(inner_decoder=decode_inner_pictures).decode(bare).frames[1].layers) == 1
    rep = coverage_report([bare])
    assert "stream: a frame without a data_hash" in rep.covered_classes
    assert "stream: a frame with fewer layers than the SPS declares" in rep.missing_classes
    assert "stream: a frame that takes a picture left from an earlier inner_codec_data unit" \
        in rep.covered_classes


def test_restoration_model_classes(minmax_stream):
    """A restoration_model unit (type 9) covers its type, its two elements and its one
    restoration_type; the suite's stream of that name is what brings them to the suite."""
    from vcmref.conformance.cases import CASES, case_stream, restoration_unit

    sps = stream_parameter_set(Reader(next(iter_units(minmax_stream)).payload),
                               StreamParameterSet())
    chunks = [minmax_stream[u.byte_offset:u.byte_offset + 6 + len(u.payload)]
              for u in iter_units(minmax_stream)]
    with_unit = b"".join([write_signature(), chunks[0], restoration_unit(sps), *chunks[1:]])
    labels = ("unit_header.unit_type = 9 (RESTORATION_MODEL)",
              "restoration_model.restoration_type = 1 (RESIDUAL_CONV)")
    rep = coverage_report([with_unit])
    _check_counts(rep, [with_unit])
    assert all(label in rep.covered_classes for label in labels)
    assert not [m for m in rep.missing_elements if m.startswith("restoration_model.")]
    without = coverage_report([minmax_stream])
    assert all(label in without.missing_classes for label in labels)
    assert {m for m in without.missing_elements if m.startswith("restoration_model.")} == \
        {"restoration_model.restoration_type u(8)", "restoration_model.model_sha256 b(8*n)"}
    suite = coverage_report([case_stream(c) for c in CASES if c.name == "restoration_model"])
    assert all(label in suite.covered_classes for label in labels)


PREDICTION_CLASSES = [
    "stream_parameter_set.profile_idc = 2 (main-inter)",
    "unit_header.unit_type = 10 (TEMPORAL_PREDICTION)",
    "temporal_prediction.predicted_flag = 0 (a tensor coded on its own)",
    "temporal_prediction.predicted_flag = 1 (a predicted tensor)",
    "stream: a predicted frame whose previous frame is predicted too",
    "stream: a frame without temporal_prediction after a predicted frame (a random-access "
    "point)",
    "stream: a temporal_prediction unit after a data unit of its frame",
]


def test_temporal_prediction_classes(minmax_stream):
    """A temporal_prediction unit (type 10) covers its type, its elements and profile 2; the
    flag 0 class needs a tensor coded on its own in a predicted frame (the encoder predicts
    every tensor), the stream classes their frame patterns; the suite's streams cover them."""
    from vcmref.conformance.cases import (
        CASES,
        case_stream,
        prediction_at_frame_end,
        with_unpredicted_tensor,
    )

    x = {"x": np.stack([_features(k, (1, 3, 4, 4))["x"][0] for k in range(4)]),
         "y": np.stack([_features(9 + k, (1, 2, 2, 3))["x"][0] for k in range(4)])}
    cfg = {"quant": "step", "step": 0.1, "bit_depth": 6}
    every = encode(x, EncoderConfig(**cfg, intra_period=0))  # frames 1, 2, 3 predicted
    period = encode(x, EncoderConfig(**cfg, intra_period=2))  # frames 1 and 3
    rep = coverage_report([every])
    _check_counts(rep, [every])
    assert not [m for m in rep.missing_elements if m.startswith("temporal_prediction.")]
    for label in PREDICTION_CLASSES[:2] + PREDICTION_CLASSES[3:5]:
        assert label in rep.covered_classes, label
    for label in PREDICTION_CLASSES[2:3] + PREDICTION_CLASSES[5:]:
        assert label in rep.missing_classes, label
    rep = coverage_report([period])
    assert PREDICTION_CLASSES[4] in rep.missing_classes
    assert PREDICTION_CLASSES[5] in rep.covered_classes
    mixed = with_unpredicted_tensor(every, encode(x, EncoderConfig(**cfg)), frame=2,
                                    tensor_idx=0)
    _same_decode(every, mixed)
    assert PREDICTION_CLASSES[2] in coverage_report([mixed]).covered_classes
    moved = prediction_at_frame_end(every, frame=1)
    _same_decode(every, moved)
    assert PREDICTION_CLASSES[6] in coverage_report([moved]).covered_classes
    without = coverage_report([minmax_stream])
    assert "stream_parameter_set.profile_idc = 1 (main)" in without.covered_classes
    assert not [c for c in PREDICTION_CLASSES if c in without.covered_classes]
    assert {m for m in without.missing_elements if m.startswith("temporal_prediction.")} == {
        "temporal_prediction.frame_index ue(v)", "temporal_prediction.predicted_flag u(1)",
        "temporal_prediction.alignment_zero_bit f(1)"}
    suite = coverage_report([case_stream(c) for c in CASES
                             if c.name.startswith("temporal_prediction")])
    assert not [c for c in PREDICTION_CLASSES if c not in suite.covered_classes]
