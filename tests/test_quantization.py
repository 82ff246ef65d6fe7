"""Dequantization is normative: every value must be bit-exact binary32 arithmetic."""

from __future__ import annotations

import struct
from decimal import Decimal, getcontext

import numpy as np
import pytest

from vcmref.bitstream.frame_units import TensorQuantParams, binary32_bits
from vcmref.bitstream.parameter_sets import QuantMode, StreamParameterSet, TensorInfo
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.refsw.encoder.quantize import quantize_tensor
from vcmref.refsw.quantization import dequantize, minmax_scale, qp_step


def f32(x: float) -> float:
    """Round a Python float (binary64) to the nearest binary32, as a Python float."""
    return struct.unpack(">f", struct.pack(">f", x))[0]


def bits32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def nearest_binary32(d: Decimal) -> np.float32:
    """The binary32 nearest to an exact decimal value (ties cannot occur for 2**(k/6))."""
    guess = np.float32(float(d))
    cands = [guess, np.nextafter(guess, np.float32(np.inf)),
             np.nextafter(guess, np.float32(-np.inf))]
    return min(cands, key=lambda c: abs(Decimal(float(c)) - d))


# --------------------------------------------------------------------------- qp_step


@pytest.mark.parametrize("qp", list(range(64)))
def test_qp_step_is_correctly_rounded_power_of_two(qp: int) -> None:
    getcontext().prec = 60
    exact = Decimal(2) ** (Decimal(qp - 48) / Decimal(6))
    step = qp_step(qp)
    assert isinstance(step, np.float32)
    assert bits32(np.float32(step)) == bits32(nearest_binary32(exact))


@pytest.mark.parametrize("qp,value", [(0, 2.0**-8), (6, 2.0**-7), (48, 1.0), (54, 2.0),
                                      (60, 4.0)])
def test_qp_step_exact_at_multiples_of_six(qp: int, value: float) -> None:
    assert float(qp_step(qp)) == value


def test_qp_step_63() -> None:
    # 2**(15/6) = 4 * 2**(1/2): the binary32 of sqrt(2) times 4
    assert qp_step(63) == np.float32(4.0) * np.float32(np.sqrt(2.0))
    assert bits32(np.float32(qp_step(63))) == 0x40B504F3


def test_qp_step_monotonic_and_doubles_every_six() -> None:
    steps = [float(qp_step(q)) for q in range(64)]
    assert all(a < b for a, b in zip(steps, steps[1:], strict=False))
    for q in range(58):
        assert steps[q + 6] == 2 * steps[q]


@pytest.mark.parametrize("qp", [-1, 64, 100])
def test_qp_step_out_of_range(qp: int) -> None:
    with pytest.raises(ValueError, match="QP"):
        qp_step(qp)


# --------------------------------------------------------------------------- min/max


MINMAX_PAIRS = [(-0.2784646, 5.898596), (0.0, 1.0), (-3.0, -1.0), (1e-3, 1e-3 + 1e-6),
                (-1e30, 1e30), (-0.0, 7.25)]


def _minmax_reference(samples: np.ndarray, lo: float, hi: float, bd: int) -> np.ndarray:
    """lo + s * ((hi - lo) / (2**B - 1)), every operation rounded to binary32 (pure Python)."""
    lo, hi = f32(lo), f32(hi)
    scale = f32(f32(hi - lo) / f32(float((1 << bd) - 1)))
    out = [f32(lo + f32(f32(float(s)) * scale)) for s in samples.ravel()]
    return np.array(out, dtype=np.float32).reshape(samples.shape)


@pytest.mark.parametrize("bd", [1, 8, 10, 12, 16])
@pytest.mark.parametrize("lo,hi", MINMAX_PAIRS)
def test_dequantize_minmax_tensor_bit_exact(bd: int, lo: float, hi: float) -> None:
    top = (1 << bd) - 1
    rng = np.random.default_rng(bd)
    s = np.concatenate([[0, top, 1, top - 1, top // 2],
                        rng.integers(0, top + 1, 59)]).astype(np.int32)
    s = s[:64].reshape(1, 8, 8)
    params = TensorQuantParams(min_bits=[binary32_bits(lo)], max_bits=[binary32_bits(hi)])
    out = dequantize(s, QuantMode.MINMAX_TENSOR, params, bd)
    assert out.dtype == np.float32 and out.shape == s.shape
    lo32, hi32 = np.float32(lo), np.float32(hi)
    # sample 0 is exactly min; the top sample is min + (2**B - 1) * scale in binary32
    assert bits32(out.ravel()[:1]) == bits32(np.array([lo32 + np.float32(0.0)]))
    scale = np.float32(np.float32(hi32 - lo32) / np.float32(top))
    assert bits32(out.ravel()[1:2]) == bits32(np.array([lo32 + np.float32(top) * scale]))
    # numpy float32 reference and an independent pure-Python binary32 reference
    np_ref = lo32 + s.astype(np.float32) * scale
    assert np.array_equal(bits32(out), bits32(np_ref))
    assert np.array_equal(bits32(out), bits32(_minmax_reference(s, lo, hi, bd)))
    # values stay inside [min, max] up to the rounding of the last step
    assert out.min() == lo32
    assert out.max() <= hi32 + abs(hi32) * 1e-6 + 1e-30


def test_dequantize_minmax_zero_sample_is_min_exactly() -> None:
    for lo in (-0.2784646, 3.0e-38, -123456.78):
        params = TensorQuantParams(min_bits=[binary32_bits(lo)],
                                   max_bits=[binary32_bits(lo + 1.0)])
        out = dequantize(np.zeros((2, 2, 2), np.int32), QuantMode.MINMAX_TENSOR, params, 10)
        assert (out == np.float32(lo)).all()


@pytest.mark.parametrize("bd", [1, 8, 10, 12, 16])
def test_dequantize_minmax_per_channel(bd: int) -> None:
    top = (1 << bd) - 1
    mins = [-1.5, 0.0, 2.0, -0.2784646]
    maxs = [1.5, 0.001, 2.0, 5.898596]
    params = TensorQuantParams(min_bits=[binary32_bits(v) for v in mins],
                               max_bits=[binary32_bits(v) for v in maxs])
    rng = np.random.default_rng(bd)
    s = rng.integers(0, top + 1, (4, 3, 5)).astype(np.int32)
    s[:, 0, 0] = 0
    s[:, 0, 1] = top
    out = dequantize(s, QuantMode.MINMAX_CHANNEL, params, bd)
    for c in range(4):
        assert np.array_equal(bits32(out[c]), bits32(_minmax_reference(s[c], mins[c], maxs[c],
                                                                       bd)))
        assert out[c, 0, 0] == np.float32(mins[c])
    # constant channel 2 (min == max) decodes to the constant everywhere
    assert (out[2] == np.float32(2.0)).all()
    # a subset of channels, in another order, uses each channel's own parameters
    sub = dequantize(s[[3, 0]], QuantMode.MINMAX_CHANNEL, params, bd, np.array([3, 0]))
    assert np.array_equal(bits32(sub), bits32(out[[3, 0]]))


def test_minmax_scale_overflow_is_a_bitstream_error() -> None:
    with pytest.raises(BitstreamError, match="overflows"):
        minmax_scale(binary32_bits(-3e38), binary32_bits(3e38), 10)


# --------------------------------------------------------------------------- uniform


@pytest.mark.parametrize("qp", [0, 1, 6, 23, 47, 48, 49, 63])
@pytest.mark.parametrize("bd", [1, 8, 16])
def test_dequantize_uniform_qp_bit_exact(qp: int, bd: int) -> None:
    lo, hi = -(1 << (bd - 1)), (1 << (bd - 1)) - 1
    rng = np.random.default_rng(qp)
    s = np.concatenate([[lo, hi, 0, -1, min(1, hi)], rng.integers(lo, hi + 1, 43)])
    s = s.astype(np.int32).reshape(3, 4, 4)
    out = dequantize(s, QuantMode.UNIFORM_QP, TensorQuantParams(qp=qp), bd)
    assert out.dtype == np.float32
    assert np.array_equal(bits32(out), bits32(s.astype(np.float32) * qp_step(qp)))
    step = float(qp_step(qp))
    ref = np.array([f32(f32(float(v)) * step) for v in s.ravel()], np.float32).reshape(s.shape)
    assert np.array_equal(bits32(out), bits32(ref))


@pytest.mark.parametrize("step", [0.1, 0.4, 1.0, 1e-7, 3.5e4])
def test_dequantize_uniform_step_bit_exact(step: float) -> None:
    s = np.arange(-512, 512, dtype=np.int32).reshape(4, 16, 16)
    params = TensorQuantParams(step_bits=binary32_bits(step))
    out = dequantize(s, QuantMode.UNIFORM_STEP, params, 10)
    assert out.dtype == np.float32
    assert np.array_equal(bits32(out), bits32(s.astype(np.float32) * np.float32(step)))
    ref = np.array([f32(float(v) * f32(step)) for v in s.ravel()], np.float32).reshape(s.shape)
    assert np.array_equal(bits32(out), bits32(ref))
    assert out.ravel()[512] == 0.0 and s.ravel()[512] == 0  # sample 0 -> 0


# --------------------------------------------------------------------------- encoder quantizer


def _sps(mode: QuantMode, bd: int, c: int = 2) -> StreamParameterSet:
    return StreamParameterSet(tensors=[TensorInfo("t", c, 4, 4)], sample_bit_depth=bd,
                              quant_mode=mode)


@pytest.mark.parametrize("bd", [1, 8, 10, 16])
def test_quantize_minmax_spans_full_range(bd: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 4)).astype(np.float32)
    s, params, clipped = quantize_tensor(x, _sps(QuantMode.MINMAX_TENSOR, bd))
    assert clipped == 0
    assert s.min() == 0 and s.max() == (1 << bd) - 1
    assert s.flat[np.argmin(x)] == 0 and s.flat[np.argmax(x)] == (1 << bd) - 1
    y = dequantize(s, QuantMode.MINMAX_TENSOR, params, bd)
    half = (float(x.max()) - float(x.min())) / ((1 << bd) - 1) / 2
    assert np.abs(y - x).max() <= half * (1 + 1e-5) + 1e-6


@pytest.mark.parametrize("mode", [QuantMode.MINMAX_TENSOR, QuantMode.MINMAX_CHANNEL])
@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, -7.125, 3.3e-39, 1e30])
def test_constant_tensor_round_trips_to_constant(mode: QuantMode, value: float) -> None:
    x = np.full((2, 4, 4), value, dtype=np.float32)
    s, params, _ = quantize_tensor(x, _sps(mode, 10))
    assert (s == 0).all()
    assert params.min_bits == params.max_bits
    y = dequantize(s, mode, params, 10)
    assert (y == np.float32(value)).all()


def test_quantize_per_channel_uses_each_channel_range() -> None:
    x = np.stack([np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4),
                  np.linspace(10, 11, 16, dtype=np.float32).reshape(4, 4)])
    s, params, _ = quantize_tensor(x, _sps(QuantMode.MINMAX_CHANNEL, 8))
    assert [s[c].min() for c in range(2)] == [0, 0]
    assert [s[c].max() for c in range(2)] == [255, 255]
    assert len(params.min_bits) == 2
    y = dequantize(s, QuantMode.MINMAX_CHANNEL, params, 8)
    assert np.abs(y[1] - x[1]).max() <= 1 / 255 / 2 + 1e-5


def test_quantize_uniform_clips_and_counts() -> None:
    x = np.array([[[-10.0, -0.26, 0.0, 0.24, 0.3, 10.0]]], dtype=np.float32)
    s, params, clipped = quantize_tensor(x, _sps(QuantMode.UNIFORM_STEP, 4, 1), step=0.5)
    assert s.tolist() == [[[-8, -1, 0, 0, 1, 7]]]
    assert clipped == 2
    assert params.step_bits == binary32_bits(0.5)
    s, params, clipped = quantize_tensor(x, _sps(QuantMode.UNIFORM_QP, 8, 1), qp=48)
    assert s.tolist() == [[[-10, 0, 0, 0, 0, 10]]] and clipped == 0 and params.qp == 48


@pytest.mark.parametrize("step", [None, 0.0, -1.0, float("nan"), float("inf"), 1e-50,
                                  1e39])
def test_quantize_rejects_bad_step(step) -> None:
    x = np.zeros((1, 2, 2), np.float32)
    with pytest.raises(EncoderInputError, match="step"):
        quantize_tensor(x, _sps(QuantMode.UNIFORM_STEP, 8, 1), step=step)
