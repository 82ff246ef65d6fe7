"""Packet loss over a stream's units (vcmref.bitstream.loss): seeded channel models (i.i.d. and
Gilbert-Elliott) with their statistics, protected unit types, the loss trace (JSON, checked
when read, refused for another stream) and the damaged stream, byte-identical but for the
lost units."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from vcmref.bitstream.loss import (
    DEFAULT_PROTECTED,
    GilbertElliott,
    IidLoss,
    LossModelError,
    LossTrace,
    LossTraceError,
    apply_trace,
    build_model,
    protected_types,
    simulate,
)
from vcmref.bitstream.units import (
    SIGNATURE_BYTES,
    UnitType,
    iter_units,
    unit_chunks,
    unit_type_name,
    write_signature,
    write_unit,
)
from vcmref.fileio import OutputPathError
from vcmref.params import ParamError
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.registry import CHANNELS

PAYLOAD_TYPES = {UnitType.DATA_UNIT, UnitType.INNER_CODEC_DATA}


def make_stream(seed: int = 0) -> bytes:
    """A real stream: one tensor, 8 tiles of 4 data units each (rows_per_unit=4)."""
    x = np.random.default_rng(seed).normal(size=(8, 32, 32)).astype(np.float32)
    return encode({"a": x}, EncoderConfig(rows_per_unit=4))


@pytest.fixture(scope="module")
def stream() -> bytes:
    return make_stream()


def every_type_stream() -> bytes:
    """A container with one unit of every named type and of two reserved types (payloads
    are not parsed by iter_units, and the loss layer never parses them)."""
    types = [1, 9, 2, 3, 4, 4, 7, 8, 5, 11, 2, 10, 3, 4, 5, 6]
    return write_signature() + b"".join(write_unit(t, 0, bytes([t]) * (i + 1))
                                        for i, t in enumerate(types))


def bursts(drops: np.ndarray) -> list[int]:
    """Lengths of the runs of consecutive drops."""
    padded = np.concatenate(([0], drops.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return list(edges[1::2] - edges[::2])


# -- channel models ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", [IidLoss(0.3), GilbertElliott(0.3, 2.5)])
def test_same_seed_same_trace_and_bytes(stream, model) -> None:
    d1, t1 = simulate(stream, model, 11)
    d2, t2 = simulate(stream, model, 11)
    assert t1 == t2 and d1 == d2 and t1.lost
    assert apply_trace(stream, t1) == d1  # the trace replays the same damaged bytes
    assert np.array_equal(model.draw(5000, 4), model.draw(5000, 4))


@pytest.mark.parametrize("model", [IidLoss(0.3), GilbertElliott(0.3, 2.5)])
def test_different_seeds_differ(stream, model) -> None:
    assert not np.array_equal(model.draw(1000, 1), model.draw(1000, 2))
    traces = {simulate(stream, model, seed)[1].lost for seed in range(5)}
    assert len(traces) > 1


@pytest.mark.parametrize("p", [0.02, 0.2, 0.5])
def test_iid_loss_rate_converges(p) -> None:
    drops = IidLoss(p).draw(100_000, 7)
    assert drops.dtype == bool and drops.shape == (100_000,)
    assert abs(drops.mean() - p) < 0.01
    # independent: mean run length 1 / (1 - p)
    assert abs(np.mean(bursts(drops)) - 1 / (1 - p)) < 0.05


@pytest.mark.parametrize(("p", "burst"), [(0.1, 3.0), (0.3, 1.5), (0.05, 8.0), (0.5, 1.0)])
def test_gilbert_elliott_rate_and_burst_length(p, burst) -> None:
    model = GilbertElliott(p, burst)
    assert model.r == pytest.approx(1 / burst)
    assert model.q == pytest.approx(p / (burst * (1 - p)))
    drops = model.draw(200_000, 3)
    assert abs(drops.mean() - p) < 0.01
    assert abs(np.mean(bursts(drops)) - burst) < 0.05 * burst


def test_gilbert_elliott_first_state_is_stationary() -> None:
    firsts = [GilbertElliott(0.25, 4).draw(1, seed)[0] for seed in range(4000)]
    assert abs(np.mean(firsts) - 0.25) < 0.03


def test_burst_length_one_at_the_limit_alternates() -> None:
    drops = GilbertElliott(0.5, 1).draw(100, 0)  # q = r = 1: good, bad, good, ...
    assert np.all(drops[1:] != drops[:-1])


@pytest.mark.parametrize("model", [IidLoss(0.0), GilbertElliott(0.0, 4.0)])
def test_p_zero_loses_nothing(stream, model) -> None:
    damaged, trace = simulate(stream, model, 5, protect=())
    assert damaged == stream and trace.lost == () and trace.loss_rate == 0
    assert not model.draw(10_000, 1).any()


def test_iid_p_one_loses_every_exposed_unit(stream) -> None:
    _, trace = simulate(stream, IidLoss(1.0), 0)
    units = list(iter_units(stream))
    assert trace.lost == tuple(u.index for u in units if u.unit_type == UnitType.DATA_UNIT)


# -- protected units ------------------------------------------------------------------------

def test_protected_units_are_never_lost_by_default() -> None:
    data = every_type_stream()
    units = list(iter_units(data))
    _, trace = simulate(data, IidLoss(1.0), 1)
    exposed = [u.index for u in units if u.unit_type not in DEFAULT_PROTECTED]
    assert trace.lost == tuple(exposed)
    assert {units[i].unit_type for i in trace.lost} == PAYLOAD_TYPES | {7, 11}
    assert set(trace.lost_types) == {"data_unit", "inner_codec_data", "reserved_7",
                                     "reserved_11"}
    assert trace.protect == tuple(unit_type_name(t) for t in sorted(DEFAULT_PROTECTED))
    assert protected_types() == DEFAULT_PROTECTED
    assert UnitType.TILE_MODEL in DEFAULT_PROTECTED  # a data unit needs its tile model


def test_real_stream_keeps_its_structure_under_heavy_loss(stream) -> None:
    for seed in range(20):
        damaged, _ = simulate(stream, GilbertElliott(0.6, 4), seed)
        kept = [u.unit_type for u in iter_units(damaged)]
        for t in DEFAULT_PROTECTED:
            assert kept.count(t) == [u.unit_type for u in iter_units(stream)].count(t)


def test_exposed_units_are_lost_and_losses_only_grow() -> None:
    data = every_type_stream()
    n = len(unit_chunks(data))
    _, everything = simulate(data, IidLoss(1.0), 1, protect=())
    assert everything.lost == tuple(range(n)) and everything.protect == ()
    damaged, _ = simulate(data, IidLoss(1.0), 1, protect={"stream_parameter_set"})
    assert [u.unit_type for u in iter_units(damaged)] == [UnitType.STREAM_PARAMETER_SET]
    _, by_number = simulate(data, IidLoss(1.0), 1, protect=[UnitType.STREAM_PARAMETER_SET])
    assert by_number.lost == tuple(range(1, n))
    # the channel draws for every unit index: exposing more types only adds losses
    for seed in range(10):
        model = GilbertElliott(0.4, 2)
        default = set(simulate(data, model, seed)[1].lost)
        exposed = set(simulate(data, model, seed, protect=())[1].lost)
        assert default <= exposed
        assert exposed - default == {i for i in exposed
                                     if list(iter_units(data))[i].unit_type in DEFAULT_PROTECTED}


# -- the damaged stream and the trace --------------------------------------------------------

def test_damaged_stream_holds_exactly_the_units_not_lost(stream) -> None:
    damaged, trace = simulate(stream, GilbertElliott(0.3, 3), 2)
    assert trace.lost
    chunks = unit_chunks(stream)
    kept = [c for i, c in enumerate(chunks) if i not in set(trace.lost)]
    assert damaged[:SIGNATURE_BYTES] == stream[:SIGNATURE_BYTES]
    assert unit_chunks(damaged) == kept
    assert len(damaged) == len(stream) - sum(len(chunks[i]) for i in trace.lost)
    assert trace.unit_count == len(chunks)
    assert trace.stream_sha256 == hashlib.sha256(stream).hexdigest()
    assert trace.lost_types == tuple("data_unit" for _ in trace.lost)
    assert trace.loss_rate == len(trace.lost) / len(chunks)


def test_empty_stream() -> None:
    with pytest.raises(LossModelError, match="this one has none"):
        simulate(write_signature(), IidLoss(0.5), 0)


def test_trace_json_round_trip(stream, tmp_path) -> None:
    damaged, trace = simulate(stream, {"model": "ge", "p": 0.25, "burst": 3}, 9)
    path = tmp_path / "sub" / "trace.json"
    trace.write(path)
    assert sorted(os.listdir(path.parent)) == ["trace.json"]  # no temporary file left
    doc = json.loads(path.read_text())
    assert doc["format"] == "vcmref-loss-trace" and doc["version"] == 1
    assert doc["model"] == "ge" and doc["params"] == {"p": 0.25, "burst": 3.0}
    assert doc["seed"] == 9 and doc["lost"] == list(trace.lost)
    back = LossTrace.read(path)
    assert back == trace
    assert apply_trace(stream, back) == damaged
    assert LossTrace.from_json(trace.to_json()) == trace
    with pytest.raises(OutputPathError):
        trace.write(tmp_path)  # a folder is not replaced


def test_trace_for_another_stream_is_refused(stream) -> None:
    _, trace = simulate(stream, IidLoss(0.5), 0)
    other = make_stream(1)
    with pytest.raises(LossTraceError, match=r"^the loss trace is for another stream: SHA-256"):
        apply_trace(other, trace)
    fields = {f: getattr(trace, f) for f in LossTrace.FIELDS}
    miscounted = LossTrace(**{**fields, "unit_count": trace.unit_count + 1})
    n = trace.unit_count
    with pytest.raises(LossTraceError, match=rf"another stream: {n} units, the trace's stream "
                                             rf"has {n + 1}$"):
        apply_trace(stream, miscounted)
    wrong_type = LossTrace(**{**fields, "lost": (0,), "lost_types": ("data_unit",),
                              "protect": ()})
    with pytest.raises(LossTraceError, match=r"unit #0 is a stream_parameter_set, the trace "
                                             r"says data_unit"):
        apply_trace(stream, wrong_type)


@pytest.fixture(scope="module")
def trace_doc(stream) -> dict:
    return simulate(stream, GilbertElliott(0.3, 2), 4)[1].to_json()


@pytest.mark.parametrize("name", ["stream_sha256", "unit_count", "model", "params", "seed",
                                  "protect", "lost", "lost_types", "format", "version"])
def test_trace_missing_field(tmp_path, trace_doc, name) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({k: v for k, v in trace_doc.items() if k != name}))
    with pytest.raises(LossTraceError) as info:
        LossTrace.read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: field {name!r}: ") and "\n" not in message


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("stream_sha256", "ABC", "64 lowercase hexadecimal digits"),
    ("unit_count", -1, "an integer >= 0"),
    ("unit_count", 2.5, "an integer >= 0"),
    ("model", "", "a channel model name"),
    ("params", [0.1], "a mapping"),
    ("seed", True, "an integer >= 0"),
    ("protect", ["header"], "a list of unit type names"),
    ("lost", [5, 3], "increasing unit indices"),
    ("lost", [1000], "increasing unit indices from 0 to unit_count - 1 = "),
    ("lost", "1,2", "a list of unit indices"),
    ("lost_types", ["data_unit"], "one unit type name per lost unit"),
    ("lost_types", 3, "a list of unit type names"),
    ("format", "something-else", "'vcmref-loss-trace'"),
    ("version", 2, "expected 1"),
    ("extra", 1, "unknown"),
])
def test_trace_corrupt_field(tmp_path, trace_doc, name, value, expected) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**trace_doc, name: value}))
    with pytest.raises(LossTraceError) as info:
        LossTrace.read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: field {name!r}: ") and "\n" not in message
    assert expected in message


def test_trace_protected_unit_in_lost_types_is_refused(tmp_path, trace_doc) -> None:
    doc = {**trace_doc, "lost": [0], "lost_types": ["stream_parameter_set"]}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LossTraceError, match=r"field 'lost_types': expected no unit of a protected "
                       r"type \(stream_parameter_set is protected\)"):
        LossTrace.read(path)


@pytest.mark.parametrize(("text", "expected"), [
    (b"{not json", "not a loss trace (invalid JSON: "),
    (b"\xff\xfe", "not a loss trace (invalid JSON: "),
    (b"[1, 2]", "expected a JSON object (a loss trace), got list"),
])
def test_trace_file_that_is_no_trace(tmp_path, text, expected) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(text)
    with pytest.raises(LossTraceError) as info:
        LossTrace.read(path)
    assert str(info.value).startswith(f"{path}: {expected}") and "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        LossTrace.read(tmp_path / "missing.json")


# -- parameters and the registry -----------------------------------------------------------

@pytest.mark.parametrize(("make", "expected"), [
    (lambda: IidLoss(-0.1), r"^p: expected a loss probability from 0 to 1, got -0.1$"),
    (lambda: IidLoss(1.5), r"^p: expected a loss probability from 0 to 1, got 1.5$"),
    (lambda: IidLoss(float("nan")), r"^p: expected a loss probability from 0 to 1"),
    (lambda: IidLoss("0.1"), r"^p: expected a loss probability from 0 to 1, got '0.1'$"),
    (lambda: GilbertElliott(1.0, 3), r"^p: expected a loss probability from 0 to below 1"),
    (lambda: GilbertElliott(0.1, 0.5), r"^burst: expected a mean burst length >= 1, got 0.5$"),
    (lambda: GilbertElliott(0.1, True), r"^burst: expected a mean burst length >= 1"),
    (lambda: GilbertElliott(0.8, 2),
     r"^p: impossible with burst=2: expected p <= burst/\(burst\+1\) = 0.6667 \(so that "
     r"P\(good->bad\) = p/\(burst\*\(1-p\)\) <= 1\), got 0.8$"),
    (lambda: IidLoss(0.1).draw(10, -1), r"^seed: expected an integer >= 0, got -1$"),
    (lambda: simulate(write_signature(), IidLoss(0.1), 1.5), r"^seed: expected an integer"),
    (lambda: protected_types([0]), r"^protect: expected unit types \(1 to 127"),
    (lambda: protected_types(["header"]), r"^protect: expected unit types"),
    (lambda: protected_types("frame_header"), r"^protect: expected a set of unit types"),
])
def test_bad_parameters(make, expected) -> None:
    with pytest.raises(LossModelError, match=expected) as info:
        make()
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_registry_and_config_settings() -> None:
    assert {"iid", "ge"} <= set(CHANNELS.names())
    assert CHANNELS.get("iid") is IidLoss and CHANNELS.get("ge") is GilbertElliott
    assert [p.name for p in GilbertElliott.parameters] == ["p", "burst"]
    assert build_model({"model": "ge", "p": 0.1, "burst": 3}) == GilbertElliott(0.1, 3)
    assert build_model({"model": "iid", "p": 0.2}) == IidLoss(0.2)
    for settings, key, detail in [
        ({"model": "ge", "p": 0.1}, "loss.burst", "missing"),
        ({"model": "ge", "p": 0.8, "burst": 1}, "loss.p", "impossible with burst=1"),
        ({"model": "iid", "p": 2}, "loss.p", "expected a number from 0.0 to 1.0"),
        ({"model": "iid", "p": 0.1, "burst": 2}, "loss.burst", "unknown key"),
        ({"p": 0.1}, "loss.model", "missing; expected one of ge, iid"),
    ]:
        with pytest.raises(ParamError) as info:
            build_model(settings, "loss.")
        assert info.value.key == key and detail in info.value.detail
    with pytest.raises(LookupError, match=r"^unknown channel model 'bec'; known: ge, iid"):
        build_model({"model": "bec"})


def test_a_stream_without_payload_units_is_refused() -> None:
    from vcmref.bitstream.units import write_signature

    s = encode({"a": np.ones((2, 4, 4), np.float32)}, EncoderConfig())
    headers = write_signature() + b"".join(
        s[u.byte_offset:u.byte_offset + 6 + len(u.payload)] for u in iter_units(s)
        if u.unit_type != UnitType.DATA_UNIT)
    with pytest.raises(LossModelError, match="stream: a stream with data units or inner codec "
                                             "data to lose; this one has none"):
        simulate(headers, IidLoss(0.5), seed=0)
