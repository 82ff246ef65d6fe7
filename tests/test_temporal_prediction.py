"""Temporal prediction (spec clause 5.9.1, unit type 10, profile 2): predicted frames decode to
exactly the samples of intra coding, the modular residual is exact at the range's edges,
correlated frames cost fewer bits, the unit's placement rules are enforced, extraction cuts at
random-access points only, and losses propagate through prediction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcmref.bitstream.extract import extract
from vcmref.bitstream.frame_units import TemporalPrediction, temporal_prediction
from vcmref.bitstream.parameter_sets import QuantMode, StreamParameterSet
from vcmref.bitstream.units import UnitType, iter_units
from vcmref.errors import BitstreamError
from vcmref.refsw.decoder import Decoder, predict_samples
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.encoder.encoder import prediction_residual, serialize_unit


def _sequence(frames: int = 5, seed: int = 0, noise: float = 0.05) -> dict[str, np.ndarray]:
    """Two tensors whose frames drift slowly (as features of a video do)."""
    rng = np.random.default_rng(seed)
    a0 = rng.normal(size=(6, 10, 12)).astype(np.float32)
    b0 = rng.gamma(2.0, size=(4, 5, 7)).astype(np.float32)
    a = np.stack([a0 + noise * k * rng.normal(size=a0.shape) for k in range(frames)])
    b = np.stack([b0 + noise * rng.normal(size=b0.shape) for _ in range(frames)])
    return {"a": a.astype(np.float32), "b": b.astype(np.float32)}


def _samples(stream: bytes, **kwargs) -> list[dict[str, np.ndarray]]:
    return [f.samples for f in Decoder(**kwargs).decode(stream).frames]


@pytest.mark.parametrize("bits", [1, 3, 8])
@pytest.mark.parametrize("mode", [QuantMode.MINMAX_TENSOR, QuantMode.UNIFORM_STEP])
def test_the_modular_residual_inverts_exactly_at_the_edges(bits, mode) -> None:
    sps = StreamParameterSet(sample_bit_depth=bits, quant_mode=mode)
    values = np.arange(sps.sample_min, sps.sample_max + 1)
    s, ref = np.meshgrid(values, values)  # every (sample, reference) pair of the range
    residual = prediction_residual(s, ref, sps)
    assert residual.min() >= sps.sample_min and residual.max() <= sps.sample_max
    assert np.array_equal(predict_samples(residual, ref, sps), s)
    assert predict_samples(np.zeros(1, np.int32) + sps.sample_max,
                           np.zeros(1, np.int32) + sps.sample_max, sps)[0] == (
        sps.sample_min + (2 * sps.sample_max - sps.sample_min) % (1 << bits))


@settings(max_examples=25, deadline=None)
@given(period=st.sampled_from([0, 2, 3]), quant=st.sampled_from(["step", "minmax", "qp"]),
       layers=st.integers(1, 2), seed=st.integers(0, 1000))
def test_predicted_frames_decode_to_the_samples_of_intra_coding(period, quant, layers,
                                                                seed) -> None:
    x = _sequence(4, seed)
    rate = {"step": {"step": 0.05}, "qp": {"qp": 24}, "minmax": {}}[quant]
    cfg = {"quant": quant, "bit_depth": 8, "layers": layers, **rate}
    intra = encode(x, EncoderConfig(**cfg))
    inter = encode(x, EncoderConfig(**cfg, intra_period=period))
    result = Decoder().decode(inter)
    assert result.sps.profile_idc == 2
    assert all(f.hashes_checked == layers for f in result.frames)
    for a, b in zip(_samples(intra), [f.samples for f in result.frames], strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in x)
    kinds = [u.unit_type for u in iter_units(inter)]
    predicted = {0: 3, 2: 2, 3: 2}[period]  # frames 1-3; 1 and 3; 1 and 2
    assert kinds.count(UnitType.TEMPORAL_PREDICTION) == predicted


def test_correlated_frames_cost_fewer_bits_and_intra_streams_stay_profile_1() -> None:
    x = _sequence(6, 3, noise=0.01)
    cfg = {"quant": "step", "step": 0.02, "bit_depth": 10}
    intra = encode(x, EncoderConfig(**cfg))
    inter = encode(x, EncoderConfig(**cfg, intra_period=0))
    assert Decoder().decode(intra).sps.profile_idc == 1
    assert len(inter) < 0.75 * len(intra), (len(inter), len(intra))
    one = {k: v[:1] for k, v in x.items()}  # a single frame has nothing to predict
    assert Decoder().decode(encode(one, EncoderConfig(**cfg, intra_period=0))).sps.profile_idc == 1


def _units(stream: bytes) -> list:
    return list(iter_units(stream))


def _rebuild(stream: bytes, replace: dict[int, bytes | None], insert: dict[int, bytes]) -> bytes:
    """The stream with units replaced (None: removed) and units inserted before an index."""
    out = [stream[:4]]
    for u in _units(stream):
        if u.index in insert:
            out.append(insert[u.index])
        raw = stream[u.byte_offset: u.byte_offset + 6 + len(u.payload)]
        out.append(replace.get(u.index, raw) if u.index in replace else raw)
    return b"".join(b for b in out if b is not None)


def _tp(sps: StreamParameterSet, frame: int, layer: int = 0, flags=(True, True)) -> bytes:
    return serialize_unit(temporal_prediction, UnitType.TEMPORAL_PREDICTION, layer,
                          TemporalPrediction(frame, list(flags)), sps)


def test_misplaced_temporal_prediction_units_are_refused() -> None:
    x = _sequence(3, 1)
    inter = encode(x, EncoderConfig(quant="step", step=0.05, bit_depth=8, intra_period=0,
                                    layers=2))
    intra = encode(x, EncoderConfig(quant="step", step=0.05, bit_depth=8))
    sps = Decoder().decode(inter).sps
    units = _units(inter)
    headers = [u.index for u in units if u.unit_type == UnitType.FRAME_HEADER]
    tps = [u.index for u in units if u.unit_type == UnitType.TEMPORAL_PREDICTION]
    first_data = headers[0] + 1
    cases = {
        "in the stream's first frame": _rebuild(inter, {}, {first_data: _tp(sps, 0)}),
        "layer_id 1, expected 0": _rebuild(inter, {tps[0]: _tp(sps, 1, layer=1)}, {}),
        "a second temporal_prediction": _rebuild(inter, {}, {tps[0]: _tp(sps, 1)}),
        "frame_index 2 inside frame 1": _rebuild(inter, {tps[0]: _tp(sps, 2)}, {}),
    }
    for message, stream in cases.items():
        with pytest.raises(BitstreamError, match=message):
            Decoder().decode(stream)
    profile1 = _units(intra)
    second = [u.index for u in profile1 if u.unit_type == UnitType.FRAME_HEADER][1]
    with pytest.raises(BitstreamError, match="temporal_prediction in a stream of profile_idc 1"):
        Decoder().decode(_rebuild(intra, {}, {second + 1: _tp(sps, 1)}))
    # a flag the encoder did not set: the data units' samples are read as residuals, and the
    # decoded-data hash says the samples are wrong
    with pytest.raises(BitstreamError, match="MD5"):
        Decoder().decode(_rebuild(inter, {tps[0]: _tp(sps, 1, flags=(True, False))}, {}))


def test_extraction_cuts_at_random_access_points_only() -> None:
    x = _sequence(7, 2)
    stream = encode(x, EncoderConfig(quant="step", step=0.05, bit_depth=8, intra_period=3))
    full = _samples(stream)
    cut = extract(stream, from_frame=3)
    assert [f.frame_index for f in Decoder().decode(cut).frames] == [3, 4, 5, 6]
    for a, b in zip(full[3:], _samples(cut), strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in x)
    assert extract(stream, from_frame=0) == stream
    with pytest.raises(BitstreamError, match="frame 4 is not a random-access point"):
        extract(stream, from_frame=4)
    with pytest.raises(BitstreamError, match="no frame with frame_index >= 7"):
        extract(stream, from_frame=7)
    assert extract(cut, max_layers=1) == cut


def test_a_lost_reference_makes_its_predicted_samples_lost() -> None:
    x = _sequence(4, 5)
    stream = encode(x, EncoderConfig(quant="step", step=0.05, bit_depth=8, intra_period=0,
                                     rows_per_unit=2))
    units = _units(stream)
    frame1 = [u.index for u in units if u.unit_type == UnitType.FRAME_HEADER][1]
    victim = next(u for u in units[frame1:] if u.unit_type == UnitType.DATA_UNIT
                  and u.layer_id == 0)
    damaged = _rebuild(stream, {victim.index: None}, {})
    frames = Decoder(loss_tolerant=True).decode(damaged).frames
    lost1 = {k: m.copy() for k, m in frames[1].missing.items()}
    assert not any(m.any() for m in frames[0].missing.values())
    assert any(m.any() for m in lost1.values())
    for later in frames[2:]:  # every predicted frame after it inherits the loss
        assert all(np.array_equal(later.missing[k] | lost1[k], later.missing[k]) for k in x)
    good = _samples(stream)
    for f, frame in enumerate(frames):
        for k in x:
            kept = ~frame.missing[k]
            assert np.array_equal(frame.samples[k][kept], good[f][k][kept])


def test_units_of_temporal_prediction_do_not_go_in_inner_codec_streams() -> None:
    from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor
    from vcmref.media.inner_decoders import decode_inner_pictures

    x = _sequence(2, 4)
    stream = encode_feature_anchor(x, FeatureAnchorConfig(qp=37, frames_per_unit=1)).stream
    sps = Decoder(inner_decoder=decode_inner_pictures).decode(stream).sps
    sps.profile_idc = 2
    units = _units(stream)
    second = [u.index for u in units if u.unit_type == UnitType.FRAME_HEADER][1]
    from vcmref.bitstream.parameter_sets import stream_parameter_set

    sps_unit = serialize_unit(stream_parameter_set, UnitType.STREAM_PARAMETER_SET, 0, sps)
    bad = _rebuild(stream, {units[0].index: sps_unit}, {second + 1: _tp(sps, 1)})
    with pytest.raises(BitstreamError, match="temporal_prediction unit in a stream whose "
                                             "entropy_coder_idc is 1"):
        Decoder(inner_decoder=decode_inner_pictures).decode(bad)


def test_the_dead_zone_trades_bounded_error_for_bits() -> None:
    step = 0.05
    rng = np.random.default_rng(7)
    base = rng.normal(size=(8, 12, 12))
    # values that hover around where they were: jitter of a third of a step
    x = {"a": np.stack([base + rng.normal(0, step / 3, base.shape) for _ in range(6)]
                       ).astype(np.float32)}
    plain = encode(x, EncoderConfig(quant="step", step=step, bit_depth=10, intra_period=0))
    held = encode(x, EncoderConfig(quant="step", step=step, bit_depth=10, intra_period=0,
                                   temporal_deadzone=0.3))
    assert len(held) < 0.9 * len(plain)
    for f in Decoder().decode(held).frames:
        for k in x:  # the error stays within (0.5 + dead zone) steps: no drift
            err = np.abs(f.tensors[k] - x[k][f.frame_index])
            assert err.max() <= (0.5 + 0.3) * step * (1 + 1e-5)


def test_the_cli_encodes_with_prediction_and_cuts_at_a_random_access_point(tmp_path) -> None:
    from typer.testing import CliRunner

    from vcmref.cli import app

    x = _sequence(6, 8)
    np.savez(tmp_path / "seq.npz", **x)
    runner = CliRunner()
    res = runner.invoke(app, ["encode", str(tmp_path / "seq.npz"), "-o", str(tmp_path / "s.vcm"),
                              "--quant", "step", "--step", "0.05", "--bit-depth", "8",
                              "--intra-period", "3", "--temporal-deadzone", "0.2"])
    assert res.exit_code == 0, res.output
    stream = (tmp_path / "s.vcm").read_bytes()
    assert Decoder().decode(stream).sps.profile_idc == 2
    res = runner.invoke(app, ["extract", str(tmp_path / "s.vcm"), "-o", str(tmp_path / "c.vcm"),
                              "--from-frame", "3"])
    assert res.exit_code == 0, res.output
    assert [f.frame_index for f in Decoder().decode((tmp_path / "c.vcm").read_bytes()).frames
            ] == [3, 4, 5]
    res = runner.invoke(app, ["extract", str(tmp_path / "s.vcm"), "-o", str(tmp_path / "d.vcm"),
                              "--from-frame", "4"])
    assert res.exit_code != 0 and "frame 4 is not a random-access point" in res.output
    assert not (tmp_path / "d.vcm").exists()
    res = runner.invoke(app, ["encode", str(tmp_path / "seq.npz"), "-o", str(tmp_path / "e.vcm"),
                              "--quant", "step", "--step", "0.05", "--temporal-deadzone", "0.7"])
    assert res.exit_code != 0 and "temporal_deadzone 0.7: expected a number from 0 to 0.5" in (
        res.output)
