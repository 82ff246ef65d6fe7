"""Encode -> decode gives back exactly the encoder's quantized samples, for every configuration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streams import silu_like

from vcmref.bitstream.extract import extract
from vcmref.bitstream.parameter_sets import QuantMode
from vcmref.errors import EncoderInputError
from vcmref.refsw.decoder import Decoder, DecodeResult
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.encoder.quantize import quantize_tensor
from vcmref.refsw.quantization import dequantize

# Largest max_magnitude_class allowed for each direct_token_log2 E (spec: TopClass(E)).
TOP_CLASS = {2: 3, 3: 4, 4: 6, 5: 7, 6: 9}


def bits32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def as_frames(x: np.ndarray) -> np.ndarray:
    return x[None] if x.ndim == 3 else x


def check_exact(tensors: dict[str, np.ndarray], cfg: EncoderConfig, res: DecodeResult,
                layers: list[int] | None = None) -> None:
    """Decoded samples/tensors equal the library's quantize -> dequantize of the input, on the
    channels of `layers` (all when None); every other channel is 0."""
    sps = res.sps
    n_layers = len(sps.layers)
    layers = list(range(n_layers)) if layers is None else layers
    frames = {name: as_frames(x) for name, x in tensors.items()}
    n_frames = next(iter(frames.values())).shape[0]
    assert len(res.frames) == n_frames
    assert [ti.name for ti in sps.tensors] == list(tensors)
    for f, fr in enumerate(res.frames):
        assert fr.frame_index == f
        assert fr.layers == layers
        for t, ti in enumerate(sps.tensors):
            x = frames[ti.name][f]
            s_ref, params, _ = quantize_tensor(x, sps, cfg.qp, cfg.step)
            y_ref = dequantize(s_ref, sps.quant_mode, params, sps.sample_bit_depth)
            got_s, got_y = fr.samples[ti.name], fr.tensors[ti.name]
            assert got_s.dtype == np.int32 and got_s.shape == x.shape
            assert got_y.dtype == np.float32 and got_y.shape == x.shape
            kept = [c for k in layers for c in sps.layer_channels(t, k)]
            dropped = sorted(set(range(ti.channels)) - set(kept))
            assert np.array_equal(got_s[kept], s_ref[kept])
            assert np.array_equal(bits32(got_y[kept]), bits32(y_ref[kept]))
            assert not got_s[dropped].any()
            assert not got_y[dropped].any()


# --------------------------------------------------------------------------- property


@st.composite
def roundtrip_cases(draw):
    n_tensors = draw(st.integers(1, 3))
    n_frames = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    tensors = {}
    for t in range(n_tensors):
        c, h, w = draw(st.integers(1, 9)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
        kind = draw(st.sampled_from(["silu", "silu", "silu_wide", "constant", "sparse"]))
        shape = (n_frames, c, h, w)
        if kind == "silu":
            x = silu_like(rng, shape)
        elif kind == "silu_wide":
            x = silu_like(rng, shape, scale=draw(st.sampled_from([0.01, 5.0, 300.0])),
                          shift=draw(st.sampled_from([-2.0, 0.0, 3.0])))
        elif kind == "constant":
            x = np.full(shape, draw(st.sampled_from([0.0, -0.27846, 1.5, 1e4])), np.float32)
        else:
            x = silu_like(rng, shape) * (rng.random(shape) < 0.1).astype(np.float32)
        if n_frames == 1 and draw(st.booleans()):
            x = x[0]
        tensors[f"t{t}" if t else draw(st.sampled_from(["t0", "dark3", "é"]))] = x
    min_c = min(as_frames(x).shape[1] for x in tensors.values())
    max_h = max(as_frames(x).shape[2] for x in tensors.values())
    quant = draw(st.sampled_from(["minmax", "minmax-channel", "qp", "step"]))
    e = draw(st.integers(2, 6))
    cfg = EncoderConfig(
        bit_depth=draw(st.integers(1, 16)),
        quant=quant,
        qp=draw(st.integers(0, 63)) if quant == "qp" else None,
        step=draw(st.sampled_from([1e-3, 0.05, 0.1, 0.4, 1.0, 7.5])) if quant == "step"
        else None,
        layers=draw(st.integers(1, min(3, min_c))),
        tile_columns=draw(st.one_of(st.none(), st.integers(1, 9))),
        rows_per_unit=draw(st.integers(0, 2 * max_h)),
        max_magnitude_class=draw(st.integers(0, TOP_CLASS[e])),
        direct_token_log2=e,
        wavefront_block_size=draw(st.integers(0, 5)),
        lane_limit=draw(st.sampled_from([0, 0, 1, 2, 3, 7, 64])),
    )
    return tensors, cfg, draw(st.integers(1, cfg.layers))


@given(roundtrip_cases())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_roundtrip_property(case) -> None:
    tensors, cfg, k = case
    data = encode(tensors, cfg)
    res = Decoder().decode(data)
    check_exact(tensors, cfg, res)
    assert res.skipped_units == []
    assert all(fr.hashes_checked == cfg.layers for fr in res.frames)
    stacked = res.stacked_tensors()
    for name, x in tensors.items():
        assert stacked[name].shape == as_frames(x).shape
        assert np.array_equal(stacked[name], np.stack([fr.tensors[name] for fr in res.frames]))

    base = Decoder(max_layers=1).decode(data)
    check_exact(tensors, cfg, base, [0])
    assert all(fr.hashes_checked == 1 for fr in base.frames)

    sub = extract(data, max_layers=k)
    assert len(sub) <= len(data)
    part = Decoder().decode(sub)
    check_exact(tensors, cfg, part, list(range(k)))
    assert all(fr.hashes_checked == k for fr in part.frames)
    same = Decoder(max_layers=k).decode(data)
    for a, b in zip(part.frames, same.frames, strict=True):
        for name in tensors:
            assert np.array_equal(a.samples[name], b.samples[name])


# --------------------------------------------------------------------------- examples


def test_multi_frame_multi_tensor_each_mode() -> None:
    rng = np.random.default_rng(7)
    tensors = {"a": silu_like(rng, (3, 6, 5, 7)), "b": silu_like(rng, (3, 4, 9, 3), 2.0)}
    for cfg in (EncoderConfig(quant="minmax", bit_depth=12, layers=3),
                EncoderConfig(quant="minmax-channel", bit_depth=8, layers=2, rows_per_unit=4),
                EncoderConfig(quant="qp", qp=30, bit_depth=10, wavefront_block_size=3),
                EncoderConfig(quant="step", step=0.02, bit_depth=16, tile_columns=1)):
        data = encode(tensors, cfg)
        res = Decoder().decode(data)
        check_exact(tensors, cfg, res)
        assert sum(fr.hashes_checked for fr in res.frames) == 3 * cfg.layers
        assert res.sps.quant_mode == {"minmax": QuantMode.MINMAX_TENSOR,
                                      "minmax-channel": QuantMode.MINMAX_CHANNEL,
                                      "qp": QuantMode.UNIFORM_QP,
                                      "step": QuantMode.UNIFORM_STEP}[cfg.quant]


def test_frames_are_quantized_independently() -> None:
    rng = np.random.default_rng(1)
    x = np.stack([silu_like(rng, (2, 4, 4)), 100 * silu_like(rng, (2, 4, 4))])
    res = Decoder().decode(encode({"x": x}, EncoderConfig(bit_depth=10)))
    for f in range(2):
        err = np.abs(res.frames[f].tensors["x"] - x[f]).max()
        assert err <= (x[f].max() - x[f].min()) / 1023 / 2 * (1 + 1e-4) + 1e-6


def test_constant_tensors_decode_to_the_constant() -> None:
    x = {"z": np.zeros((2, 2, 3, 3), np.float32), "c": np.full((2, 1, 5, 1), -0.27846, np.float32)}
    for quant in ("minmax", "minmax-channel"):
        res = Decoder().decode(encode(x, EncoderConfig(quant=quant, bit_depth=1)))
        assert (res.frames[0].tensors["z"] == 0).all()
        assert all((fr.tensors["c"] == np.float32(-0.27846)).all() for fr in res.frames)


def test_single_sample_tensor() -> None:
    x = {"s": np.array([[[3.25]]], np.float32)}
    for cfg in (EncoderConfig(), EncoderConfig(quant="step", step=0.25, bit_depth=6),
                EncoderConfig(quant="qp", qp=48, bit_depth=3)):
        res = Decoder().decode(encode(x, cfg))
        check_exact(x, cfg, res)


def test_clipped_samples_round_trip_to_the_clip_value() -> None:
    x = {"x": np.array([[[-100.0, -1.0, 0.0, 1.0, 100.0]]], np.float32)}
    cfg = EncoderConfig(quant="step", step=1.0, bit_depth=3)  # samples in [-4, 3]
    res = Decoder().decode(encode(x, cfg))
    assert res.frames[0].samples["x"].tolist() == [[[-4, -1, 0, 1, 3]]]
    assert res.frames[0].tensors["x"].tolist() == [[[-4.0, -1.0, 0.0, 1.0, 3.0]]]


def test_hashes_off_round_trip() -> None:
    rng = np.random.default_rng(3)
    x = {"a": silu_like(rng, (2, 4, 6, 6))}
    cfg = EncoderConfig(layers=2, hashes=False)
    data = encode(x, cfg)
    res = Decoder().decode(data)
    check_exact(x, cfg, res)
    assert all(fr.hashes_checked == 0 for fr in res.frames)
    assert len(data) < len(encode(x, EncoderConfig(layers=2)))


def test_names_and_ids_round_trip() -> None:
    rng = np.random.default_rng(0)
    x = {"backbone.dark3": silu_like(rng, (2, 3, 3)), "特徴": silu_like(rng, (1, 2, 2))}
    cfg = EncoderConfig(model_id="yolox-nano ✓", split_point="backbone", level=40)
    res = Decoder().decode(encode(x, cfg))
    assert res.sps.model_id == "yolox-nano ✓" and res.sps.split_point_id == "backbone"
    assert res.sps.level_idc == 40
    assert [t.name for t in res.sps.tensors] == list(x)
    check_exact(x, cfg, res)


def test_explicit_layer_plan() -> None:
    rng = np.random.default_rng(5)
    x = {"a": silu_like(rng, (5, 4, 4)), "b": silu_like(rng, (3, 2, 2))}
    cfg = EncoderConfig(layer_channels=[{"a": 1, "b": 2}, {"a": 4}, {"b": 1}])
    data = encode(x, cfg)
    res = Decoder().decode(data)
    check_exact(x, cfg, res)
    assert [li.channels for li in res.sps.layers] == [[1, 2], [4, 0], [0, 1]]
    two = Decoder().decode(extract(data, max_layers=2))
    check_exact(x, cfg, two, [0, 1])


@pytest.mark.parametrize("hashes", [True, False])
def test_more_layers_than_channels_refused(hashes: bool) -> None:
    # 1 channel in 2 layers would leave layer 0 empty, which a decoder cannot tell from a
    # dropped layer: the encoder must refuse rather than write a stream that fails to decode
    x = {"a": np.arange(6, dtype=np.float32).reshape(1, 2, 3)}
    with pytest.raises(EncoderInputError, match="layer"):
        encode(x, EncoderConfig(layers=2, hashes=hashes))


def test_layer_without_channels_of_one_tensor_without_hashes() -> None:
    rng = np.random.default_rng(8)
    x = {"a": silu_like(rng, (2, 3, 3)), "b": silu_like(rng, (1, 3, 3))}
    cfg = EncoderConfig(layer_channels=[{"a": 1, "b": 1}, {"a": 1}], hashes=False)
    data = encode(x, cfg)
    res = Decoder().decode(data)
    check_exact(x, cfg, res)
    check_exact(x, cfg, Decoder().decode(extract(data, max_layers=1)), [0])


def test_encoder_is_deterministic() -> None:
    rng = np.random.default_rng(11)
    x = {"a": silu_like(rng, (2, 5, 8, 8)), "b": silu_like(rng, (2, 3, 4, 4))}
    cfg = EncoderConfig(layers=2, rows_per_unit=3, quant="minmax-channel")
    assert encode(x, cfg) == encode({k: v.copy() for k, v in x.items()}, cfg)


# --------------------------------------------------------------------------- real features


@pytest.mark.parametrize("step", [0.1, 0.4])
def test_real_features_uniform_step(real_features, step: float) -> None:
    cfg = EncoderConfig(quant="step", step=step, bit_depth=10, layers=2)
    data = encode(real_features, cfg)
    res = Decoder().decode(data)
    assert len(res.frames) == 1
    assert res.frames[0].hashes_checked == 2
    s32 = float(np.float32(step))
    for name, x in real_features.items():
        y = res.frames[0].tensors[name]
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.abs(y - x).max() <= s32 / 2 + 1e-6
    check_exact(real_features, cfg, res)


def test_real_features_minmax_10bit(real_features) -> None:
    cfg = EncoderConfig(quant="minmax", bit_depth=10, layers=3)
    data = encode(real_features, cfg)
    res = Decoder().decode(data)
    assert res.frames[0].hashes_checked == 3
    for name, x in real_features.items():
        step = (float(x.max()) - float(x.min())) / 1023
        err = np.abs(res.frames[0].tensors[name] - x).max()
        assert err <= step / 2 + 1e-6
    check_exact(real_features, cfg, res)
    assert encode(real_features, cfg) == data


def test_real_features_multi_frame(feature_paths) -> None:
    imgs = []
    for p in feature_paths[:2]:
        with np.load(p) as z:
            imgs.append({k: z[k].astype(np.float32) for k in z.files})
    if len(imgs) < 2:
        pytest.skip("needs two feature files")
    x = {k: np.stack([im[k] for im in imgs]) for k in imgs[0]}
    cfg = EncoderConfig(quant="qp", qp=30, bit_depth=8, layers=2, rows_per_unit=32)
    data = encode(x, cfg)
    res = Decoder().decode(data)
    assert sum(fr.hashes_checked for fr in res.frames) == 2 * 2
    check_exact(x, cfg, res)
    step = float(2.0 ** ((30 - 48) / 6))
    for name in x:
        assert np.abs(res.stacked_tensors()[name] - x[name]).max() <= step / 2 + 1e-6
