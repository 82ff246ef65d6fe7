"""Loss-tolerant decoding (spec clause 5.15, informative): what arrived is decoded, and each
frame says which samples were lost; headers stay required, and strict decoding is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from vcmref.bitstream.loss import IidLoss, simulate
from vcmref.bitstream.units import UnitType, iter_units, write_signature
from vcmref.errors import BitstreamError
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.tiles import tile_geometry, unit_tensor_index


def _tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(size=(2, 8, 16, 16)).astype(np.float32),
            "b": rng.normal(size=(2, 4, 8, 8)).astype(np.float32)}


@pytest.fixture(scope="module")
def stream() -> bytes:
    return encode(_tensors(), EncoderConfig(rows_per_unit=4, layers=2))


def _without(stream: bytes, drop: set[int]) -> bytes:
    return write_signature() + b"".join(
        stream[u.byte_offset:u.byte_offset + 6 + len(u.payload)]
        for u in iter_units(stream) if u.index not in drop)


def _data_units(stream: bytes) -> list:
    return [u for u in iter_units(stream) if u.unit_type == UnitType.DATA_UNIT]


def test_nothing_lost_equals_strict_decoding(stream) -> None:
    strict = Decoder().decode(stream)
    tolerant = Decoder(loss_tolerant=True).decode(stream)
    assert all(f.missing is None for f in strict.frames)
    for s, t in zip(strict.frames, tolerant.frames, strict=True):
        assert s.layers == t.layers and t.hashes_checked == s.hashes_checked
        for name in s.samples:
            np.testing.assert_array_equal(s.samples[name], t.samples[name])
            assert not t.missing[name].any()


def test_a_lost_data_unit_loses_exactly_its_rows(stream) -> None:
    full = Decoder().decode(stream)
    unit = _data_units(stream)[1]
    damaged = _without(stream, {unit.index})
    with pytest.raises(BitstreamError, match="is missing"):
        Decoder().decode(damaged)  # strict decoding is unchanged
    res = Decoder(loss_tolerant=True).decode(damaged)
    # which samples the unit carried: from the tile geometry of its tensor and layer
    sps = res.sps
    from vcmref.bitstream.frame_units import DataUnit, data_unit  # noqa: F401
    from vcmref.bitstream.unit_types import UNIT_TYPES

    du = UNIT_TYPES[UnitType.DATA_UNIT].parse(
        __import__("vcmref.bitstream.syntax", fromlist=["Reader"]).Reader(
            unit.payload, unit="u"), sps, unit.payload)
    geom = tile_geometry(sps, du.tensor_idx, unit.layer_id)
    _, index = unit_tensor_index(geom, du.unit_idx, sps.wavefront_block_size, sps.lane_limit)
    name = sps.tensors[du.tensor_idx].name
    frame = res.frames[du.frame_index]
    want = np.zeros(frame.missing[name].size, bool)
    want[index] = True
    np.testing.assert_array_equal(frame.missing[name].reshape(-1), want)
    assert frame.tensors[name].reshape(-1)[index].max() == 0.0
    ok = ~frame.missing[name]
    np.testing.assert_array_equal(frame.samples[name][ok],
                                  full.frames[du.frame_index].samples[name][ok])
    other = res.frames[1 - du.frame_index]
    assert not any(m.any() for m in other.missing.values())
    assert other.hashes_checked == full.frames[1 - du.frame_index].hashes_checked
    assert frame.hashes_checked < full.frames[du.frame_index].hashes_checked


def test_a_damaged_data_unit_counts_as_lost(stream) -> None:
    unit = _data_units(stream)[0]
    at = unit.byte_offset + 6 + len(unit.payload) // 2
    damaged = stream[:at] + bytes([stream[at] ^ 0x40]) + stream[at + 1:]
    with pytest.raises(BitstreamError):
        Decoder().decode(damaged)
    res = Decoder(loss_tolerant=True).decode(damaged)
    lost = sum(int(m.sum()) for f in res.frames for m in f.missing.values())
    assert 0 < lost < sum(m.size for f in res.frames for m in f.missing.values())


def test_channel_losses_are_deterministic_and_masked(stream) -> None:
    damaged, trace = simulate(stream, IidLoss(0.3), seed=4)
    assert trace.lost
    a = Decoder(loss_tolerant=True).decode(damaged)
    b = Decoder(loss_tolerant=True).decode(damaged)
    for fa, fb in zip(a.frames, b.frames, strict=True):
        for name in fa.missing:
            np.testing.assert_array_equal(fa.missing[name], fb.missing[name])
            np.testing.assert_array_equal(fa.tensors[name], fb.tensors[name])
            assert (fa.tensors[name][fa.missing[name]] == 0).all()
    lost_rows = sum(int(m.sum()) for f in a.frames for m in f.missing.values())
    assert lost_rows > 0


def test_whole_layer_lost_and_max_layers(stream) -> None:
    layer1 = {u.index for u in iter_units(stream)
              if u.layer_id == 1 and u.unit_type in (UnitType.DATA_UNIT, UnitType.TILE_MODEL,
                                                     UnitType.DATA_HASH)}
    damaged = _without(stream, layer1)
    res = Decoder(loss_tolerant=True).decode(damaged)
    sps = res.sps
    for f in res.frames:
        assert f.layers == [0]
        for t, ti in enumerate(sps.tensors):
            assert f.missing[ti.name][sps.layer_channels(t, 1)].all()
            assert not f.missing[ti.name][sps.layer_channels(t, 0)].any()
    # asking for layer 0 only: layer 1 is not expected, so nothing is lost
    base = Decoder(loss_tolerant=True, max_layers=1).decode(damaged)
    assert not any(m.any() for f in base.frames for m in f.missing.values())


def test_lost_headers_give_a_clear_error(stream) -> None:
    units = list(iter_units(stream))
    sps_idx = next(u.index for u in units if u.unit_type == UnitType.STREAM_PARAMETER_SET)
    with pytest.raises(BitstreamError, match="stream parameter set"):
        Decoder(loss_tolerant=True).decode(_without(stream, {sps_idx}))
    second_header = [u.index for u in units if u.unit_type == UnitType.FRAME_HEADER][1]
    with pytest.raises(BitstreamError, match="frame header"):
        Decoder(loss_tolerant=True).decode(_without(stream, {second_header}))


def test_inner_codec_layer_lost() -> None:
    from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor
    from vcmref.media.inner_decoders import decode_inner_pictures

    x = {n: np.abs(v) for n, v in _tensors(1).items()}
    s = encode_feature_anchor(x, FeatureAnchorConfig(qp=30)).stream
    inner = [u.index for u in iter_units(s) if u.unit_type == UnitType.INNER_CODEC_DATA]
    res = Decoder(loss_tolerant=True, inner_decoder=decode_inner_pictures).decode(
        _without(s, {inner[1]}))
    assert not any(m.any() for m in res.frames[0].missing.values())
    assert all(m.all() for m in res.frames[1].missing.values())
    assert res.frames[1].layers == []


def test_cli_simulate_loss_and_tolerant_decode(stream, tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from vcmref.cli import app

    src = tmp_path / "s.vcm"
    src.write_bytes(stream)
    run = CliRunner().invoke
    res = run(app, ["simulate-loss", str(src), "--model", "ge", "--p", "0.2", "--burst", "3",
                    "--seed", "1", "-o", str(tmp_path / "lost.vcm")])
    assert res.exit_code == 0, res.output
    trace = json.loads((tmp_path / "lost.vcm.trace.json").read_text())
    assert trace["model"] == "ge" and trace["seed"] == 1 and trace["lost"]
    assert f"{len(trace['lost'])} of {trace['unit_count']} units lost" in res.output
    # replaying the trace gives the same bytes
    res = run(app, ["simulate-loss", str(src), "--replay", str(tmp_path / "lost.vcm.trace.json"),
                    "-o", str(tmp_path / "again.vcm")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "again.vcm").read_bytes() == (tmp_path / "lost.vcm").read_bytes()
    # strict decoding refuses the damaged stream; loss-tolerant decoding writes tensors + masks
    res = run(app, ["decode", str(tmp_path / "lost.vcm"), "-o", str(tmp_path / "x.npz")])
    assert res.exit_code != 0 and not (tmp_path / "x.npz").exists()
    res = run(app, ["decode", str(tmp_path / "lost.vcm"), "-o", str(tmp_path / "t.npz"),
                    "--loss-tolerant", "--missing", str(tmp_path / "m.npz")])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "t.npz") as t, np.load(tmp_path / "m.npz") as m:
        assert m["a"].dtype == bool and m["a"].shape == t["a"].shape == (2, 8, 16, 16)
        lost = sum(int(m[k].sum()) for k in m.files)
        assert lost > 0 and f"{lost} samples lost" in res.output
        assert (t["a"][m["a"]] == 0).all()
    # bad input: one line each, non-zero
    res = run(app, ["simulate-loss", str(src), "--p", "1.5", "-o", str(tmp_path / "b.vcm")])
    assert res.exit_code != 0 and "p" in res.output and not (tmp_path / "b.vcm").exists()
    other = tmp_path / "other.vcm"
    other.write_bytes(encode(_tensors(7), EncoderConfig(rows_per_unit=4, layers=2)))
    res = run(app, ["simulate-loss", str(other), "--replay",
                    str(tmp_path / "lost.vcm.trace.json"), "-o", str(tmp_path / "c.vcm")])
    assert res.exit_code != 0 and not (tmp_path / "c.vcm").exists()
    res = run(app, ["decode", str(src), "-o", str(tmp_path / "y.npz"), "--missing",
                    str(tmp_path / "n.npz")])
    assert res.exit_code != 0 and "--missing needs --loss-tolerant" in res.output
