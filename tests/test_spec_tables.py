"""The syntax tables of docs/spec.md match what the code's syntax functions read.

Every `### Syntax: NAME` table of the spec lists, in order, the syntax elements of one structure
(loop indices left out) with their descriptors; rows whose first cell starts with `for`, `if`,
`else` or `}` show the control flow and are ignored here. The code's side is traced: streams
that take every branch of every syntax function are encoded, parsed with the Tracer
(`inspect_stream`), and the distinct (base name, descriptor) pairs of each structure are merged
over all variants in first-appearance order. The merge keeps the order of each variant, so an
element that only one variant has (one branch of an `if`) lands where that variant reads it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from vcmref.bitstream.inspect import PAYLOAD_STRUCTURES, inspect_stream
from vcmref.bitstream.parameter_sets import StreamParameterSet, stream_parameter_set
from vcmref.bitstream.syntax import Reader, Tracer, Writer, base_name
from vcmref.bitstream.units import UnitType, iter_units, unit_chunks, write_signature
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.encoder.encoder import build_sps

SPEC = Path(__file__).resolve().parent.parent / "docs" / "spec.md"

STRUCTURES = ["stream", "unit_header", *PAYLOAD_STRUCTURES.values()]

# Elements whose u(n) width is derived from earlier elements: the spec writes them u(v).
VARIABLE_WIDTH = {"channel_order"}

_CONTROL_ROW = re.compile(r"^(?:for|if|else)\b|^\}")
_HEADING = re.compile(r"^###\s+Syntax:\s*(\S+)\s*$")

Pair = tuple[str, str]


# -- the spec side ------------------------------------------------------------------------------

def _cells(line: str) -> list[str]:
    return [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]


def spec_tables(text: str) -> dict[str, list[Pair]]:
    """(element, descriptor) rows of every `### Syntax: NAME` table, control rows dropped."""
    tables: dict[str, list[Pair]] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _HEADING.match(lines[i])
        i += 1
        if not m:
            continue
        name = m.group(1)
        assert name not in tables, f"two syntax tables named {name}"
        while i < len(lines) and not lines[i].lstrip().startswith("|"):
            assert not lines[i].startswith("#"), f"syntax table {name} has no table"
            i += 1
        rows: list[Pair] = []
        header_seen = False
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            cells = _cells(lines[i])
            i += 1
            if not header_seen:
                assert cells[:2] == ["syntax element", "descriptor"], (name, cells)
                header_seen = True
                continue
            if set("".join(cells)) <= set("-: "):
                continue  # the |---|---| separator
            if _CONTROL_ROW.match(cells[0]):
                continue
            assert len(cells) >= 2 and cells[1], f"{name}: row without descriptor: {cells}"
            rows.append((cells[0], cells[1]))
        tables[name] = rows
    return tables


@pytest.fixture(scope="module")
def spec_text() -> str:
    return SPEC.read_text(encoding="utf-8")


# -- the code side ------------------------------------------------------------------------------

def _tensors(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "backbone.p3": rng.standard_normal((6, 5, 7)).astype(np.float32),
        "backbone.p4": (3.0 * rng.standard_normal((3, 4, 4))).astype(np.float32),
    }


CONFIGS = [
    EncoderConfig(quant="minmax", layers=2, rows_per_unit=3, model_id="yolox-nano",
                  split_point="backbone"),
    EncoderConfig(quant="minmax-channel", layers=2, bit_depth=8, wavefront_block_size=2,
                  lane_limit=4),
    EncoderConfig(quant="qp", qp=40, layers=2, bit_depth=12, max_magnitude_class=3,
                  direct_token_log2=2),
    EncoderConfig(quant="step", step=0.05, layers=1, bit_depth=6, tile_columns=2,
                  rows_per_unit=1, model_id="m"),
]


def _normalise(name: str, descriptor: str) -> Pair:
    base = base_name(name)
    if descriptor.startswith("b("):
        descriptor = "b(8*n)"
    elif base in VARIABLE_WIDTH and re.fullmatch(r"u\(\d+\)", descriptor):
        descriptor = "u(v)"
    return base, descriptor


def _distinct(elements) -> list[Pair]:
    out: list[Pair] = []
    for e in elements:
        pair = _normalise(e.name, e.descriptor)
        if pair not in out:
            out.append(pair)
    return out


def _merge(variants: list[list[Pair]]) -> list[Pair]:
    """One order that keeps the order of every variant; ties go to the earliest appearance."""
    rank: dict[Pair, int] = {}
    succ: dict[Pair, set[Pair]] = defaultdict(set)
    indeg: dict[Pair, int] = defaultdict(int)
    for seq in variants:
        for pair in seq:
            rank.setdefault(pair, len(rank))
        for a, b in zip(seq, seq[1:], strict=False):
            if b not in succ[a]:
                succ[a].add(b)
                indeg[b] += 1
    out: list[Pair] = []
    ready = [p for p in rank if indeg[p] == 0]
    while ready:
        ready.sort(key=rank.__getitem__)
        pair = ready.pop(0)
        out.append(pair)
        for b in succ[pair]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    assert len(out) == len(rank), f"variants disagree on the element order: {variants}"
    return out


def _explicit_order_sps() -> tuple[list[Pair], list]:
    """An SPS with explicit channel orders (the encoder never writes one), traced."""
    tensors = {k: v[None] for k, v in _tensors(7).items()}
    sps = build_sps(tensors, EncoderConfig(quant="qp", qp=20, layers=2))
    sps.tile_layouts[0].channel_order = [5, 3, 1, 0, 2, 4]
    sps.tile_layouts[1].channel_order = [2, 0, 1]
    w = Writer(unit="stream_parameter_set")
    stream_parameter_set(w, sps)
    tr = Tracer(w.getvalue(), unit="stream_parameter_set")
    back = stream_parameter_set(tr, type(sps)())
    assert [tl.channel_order for tl in back.tile_layouts] == [[5, 3, 1, 0, 2, 4], [2, 0, 1]]
    return _distinct(tr.elements), tr.elements


@pytest.fixture(scope="module")
def traced() -> dict[str, list[Pair]]:
    """Merged (base name, descriptor) lists of every structure over all stream variants."""
    variants: dict[str, list[list[Pair]]] = defaultdict(list)
    for k, cfg in enumerate(CONFIGS):
        sig, units = inspect_stream(encode(_tensors(k), cfg))
        variants["stream"].append(_distinct(sig))
        per_unit: dict[str, list] = defaultdict(list)
        for iu in units:
            variants["unit_header"].append(_distinct(iu.header))
            per_unit[PAYLOAD_STRUCTURES[UnitType(iu.unit_type)]].append(_distinct(iu.payload))
        for name, seqs in per_unit.items():
            variants[name].extend(seqs)
    variants["stream_parameter_set"].append(_explicit_order_sps()[0])
    for name, seqs in _inner_codec_variants().items():
        variants[name].extend(seqs)
    for name, seqs in _restoration_variants().items():
        variants[name].extend(seqs)
    for name, seqs in _prediction_variants().items():
        variants[name].extend(seqs)
    return {name: _merge(seqs) for name, seqs in variants.items()}


def _prediction_variants() -> dict[str, list[list[Pair]]]:
    """Streams with temporal_prediction units (the encoder's intra_period, three frames), one
    tensor and two, traced."""
    rng = np.random.default_rng(11)
    out: dict[str, list[list[Pair]]] = defaultdict(list)
    for shapes in ({"x": (3, 2, 3, 4)}, {"x": (3, 2, 3, 4), "y": (3, 1, 2, 2)}):
        tensors = {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}
        stream = encode(tensors, EncoderConfig(quant="step", step=0.1, bit_depth=6,
                                               intra_period=0))
        for iu in inspect_stream(stream)[1]:
            out[PAYLOAD_STRUCTURES[UnitType(iu.unit_type)]].append(_distinct(iu.payload))
    assert len(out["temporal_prediction"]) == 4, "no temporal_prediction unit traced"
    return out


def _restoration_variants() -> dict[str, list[list[Pair]]]:
    """A stream with a restoration_model unit after its stream parameter set (the encoder
    writes none), traced."""
    from vcmref.conformance.cases import restoration_unit

    stream = encode(_tensors(6), CONFIGS[0])
    chunks = unit_chunks(stream)
    sps = stream_parameter_set(Reader(next(iter_units(stream)).payload), StreamParameterSet())
    with_unit = write_signature() + b"".join([chunks[0], restoration_unit(sps), *chunks[1:]])
    out: dict[str, list[list[Pair]]] = defaultdict(list)
    for iu in inspect_stream(with_unit)[1]:
        out["unit_header"].append(_distinct(iu.header))
        out[PAYLOAD_STRUCTURES[UnitType(iu.unit_type)]].append(_distinct(iu.payload))
    assert out["restoration_model"], "no restoration_model unit traced"
    return out


def _inner_codec_variants() -> dict[str, list[list[Pair]]]:
    """A feature-anchor stream (entropy_coder_idc 1) coded with the bundled ffmpeg's x265."""
    from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor

    stream = encode_feature_anchor(_tensors(5), FeatureAnchorConfig(codec="x265", qp=30)).stream
    out: dict[str, list[list[Pair]]] = defaultdict(list)
    for iu in inspect_stream(stream)[1]:
        out[PAYLOAD_STRUCTURES[UnitType(iu.unit_type)]].append(_distinct(iu.payload))
    return out


# -- the tests ----------------------------------------------------------------------------------

def test_every_structure_has_one_table(spec_text):
    tables = spec_tables(spec_text)
    assert sorted(tables) == sorted(STRUCTURES)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_syntax_table_matches_code(spec_text, traced, structure):
    assert structure in traced, f"no traced unit of {structure}"
    assert spec_tables(spec_text)[structure] == traced[structure]


def test_every_branch_is_traced(traced):
    """The variants really reach both sides of every condition."""
    names = {n for pairs in traced.values() for n, _ in pairs}
    for name in ("init_qp", "num_ref_layers", "ref_layer_idx", "channel_order",
                 "tensor_min", "channel_min", "qp_delta", "quant_step",
                 "num_token_weights_minus1", "token_weight", "alignment_zero_bit",
                 "inner_codec_idc", "picture_bit_depth_minus1", "inner_data",
                 "restoration_type", "model_sha256", "predicted_flag"):
        assert name in names, name
    for structure in ("stream_parameter_set", "frame_header", "tile_model", "data_unit",
                      "data_hash", "inner_codec_data", "temporal_prediction"):
        assert ("alignment_zero_bit", "f(1)") in traced[structure], structure


def test_channel_order_width():
    """channel_order[t][i] is u(Max(1, Ceil(Log2(C)))) bits wide."""
    _, elements = _explicit_order_sps()
    widths = {int(re.search(r"\d+", e.descriptor).group()) for e in elements
              if base_name(e.name) == "channel_order" and e.name.startswith("channel_order[0]")}
    assert widths == {max(1, (6 - 1).bit_length())}
    widths = {int(re.search(r"\d+", e.descriptor).group()) for e in elements
              if e.name.startswith("channel_order[1]")}
    assert widths == {max(1, (3 - 1).bit_length())}


def test_unit_type_table(spec_text):
    """Every unit type has a row (value, name, structure) in the spec's unit type table."""
    m = re.search(r"^### Unit types\s*$(.*?)^#", spec_text, re.S | re.M)
    assert m, "no '### Unit types' section"
    rows = [_cells(line) for line in m.group(1).splitlines() if line.lstrip().startswith("|")]
    by_value = {r[0]: r for r in rows[2:]}
    for ut in UnitType:
        row = by_value.get(str(int(ut)))
        assert row is not None, f"unit type {int(ut)} missing"
        assert row[1] == ut.name, row
        assert row[2] == PAYLOAD_STRUCTURES[ut], row
    assert "0" in by_value and "7" in by_value and "11..127" in by_value
    assert "9..127" not in by_value and "10..127" not in by_value


def test_reserved_types_everywhere_in_the_spec(spec_text):
    """Every place of the spec that lists the reserved unit types lists the code's."""
    from vcmref.conformance.coverage import reserved_unit_types

    reserved = reserved_unit_types()
    assert reserved == "7, 11..127"
    listed = re.findall(r"\(7, (\d+)\.\.127\)|7 and (\d+)\.\.127", spec_text)
    assert listed and all(f"7, {a or b}..127" == reserved for a, b in listed), listed


def test_unit_type_rows_cover_the_non_reserved_types():
    """vcmref.bitstream.unit_types has one row per unit type, and only those are not reserved;
    each row's structure is the syntax function of that name, which its `parse` calls."""
    from vcmref.bitstream.unit_types import UNIT_TYPES
    from vcmref.bitstream.units import is_reserved_unit_type, unit_type_name

    assert sorted(UNIT_TYPES) == sorted(UnitType)
    assert [t for t in range(1, 128) if not is_reserved_unit_type(t)] == sorted(UNIT_TYPES)
    for t, row in UNIT_TYPES.items():
        assert row.unit_type == t and row.syntax.__name__ == row.name == unit_type_name(t)
        assert row.in_frame == (t in (UnitType.TILE_MODEL, UnitType.DATA_UNIT,
                                      UnitType.DATA_HASH, UnitType.INNER_CODEC_DATA,
                                      UnitType.TEMPORAL_PREDICTION))


def _power(cell: str) -> int:
    base, _, exp = cell.strip().partition("^")
    return int(base) ** int(exp) if exp else int(base)


def _clause_6_table(first_column: str) -> list[str]:
    """The lines of the table of clause 6 whose header starts with `first_column`."""
    text = SPEC.read_text().split("## 6. Profiles and levels", 1)[1].split("\n## ", 1)[0]
    tables: list[list[str]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    found = [t for t in tables if _cells(t[0])[0] == first_column]
    assert len(found) == 1, f"clause 6 has {len(found)} tables starting with {first_column}"
    return [line for line in found[0] if line.startswith("| ")]


def test_profile_table_matches_the_code() -> None:
    """Clause 6's profile table lists PROFILES (the profile_idc range the syntax checks), and
    only the main-inter profile allows temporal prediction."""
    from vcmref.bitstream.levels import PROFILE_MAIN_INTER, PROFILES

    rows = [_cells(line) for line in _clause_6_table("profile_idc")]
    assert rows[0] == ["profile_idc", "name", "tools"]
    table = {int(r[0]): r for r in rows[1:]}
    assert {k: r[1] for k, r in table.items()} == PROFILES
    for k, r in table.items():
        assert ("temporal prediction included" in r[2]) == (k == PROFILE_MAIN_INTER), r
    m = re.search(r"`profile_idc`: the profile, in \[(\d+), (\d+)\]", SPEC.read_text())
    assert m and (int(m.group(1)), int(m.group(2))) == (min(PROFILES), max(PROFILES))


def test_level_table_matches_the_code() -> None:
    """Clause 6's level table, every column, is LEVELS (the limits the decoder enforces)."""
    from dataclasses import fields

    from vcmref.bitstream.levels import LEVELS, Level

    rows = _clause_6_table("level_idc")
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    names = {f.name.replace("_", ""): f.name for f in fields(Level)}
    columns = [names["idc" if h == "level_idc" else h.lower()] for h in header]
    assert set(columns) == set(names.values())
    table = {}
    for row in rows[1:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if not cells[0].isdigit():
            continue
        level = Level(**{k: _power(v) for k, v in zip(columns, cells, strict=True)})
        table[level.idc] = level
    assert table == LEVELS
