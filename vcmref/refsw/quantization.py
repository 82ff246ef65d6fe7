"""Dequantization (normative): integer samples to float32, every operation rounded to binary32."""

from __future__ import annotations

import numpy as np

from vcmref.bitstream.frame_units import TensorQuantParams, binary32_value
from vcmref.bitstream.parameter_sets import MAX_QP, QuantMode
from vcmref.errors import BitstreamError

# 2**(i/6) for i = 0..5, rounded to binary32 (bit patterns, so the table is exact by definition).
QP_STEP_MANTISSA_BITS = (0x3F800000, 0x3F8FACD6, 0x3FA14518, 0x3FB504F3, 0x3FCB2FF5, 0x3FE411F0)
QP_STEP_EXPONENT_OFFSET = 8


# The frame-header element whose value a dequantization error comes from, per mode.
_PARAMETER_ELEMENT = {
    QuantMode.MINMAX_TENSOR: "tensor_max",
    QuantMode.MINMAX_CHANNEL: "channel_max",
    QuantMode.UNIFORM_QP: "qp_delta",
    QuantMode.UNIFORM_STEP: "quant_step",
}


def qp_step(qp: int) -> np.float32:
    """Quantization step of a QP: mantissa[qp mod 6] * 2**(qp div 6 - 8), exact in binary32."""
    if not 0 <= qp <= MAX_QP:
        raise ValueError(f"QP {qp} outside [0, {MAX_QP}]")
    mant = np.uint32(QP_STEP_MANTISSA_BITS[qp % 6]).view(np.float32)
    return np.float32(np.ldexp(mant, qp // 6 - QP_STEP_EXPONENT_OFFSET))


def minmax_scale(min_bits: int, max_bits: int, bit_depth: int,
                 element: str = "tensor_max") -> tuple[np.float32, np.float32]:
    """(min, scale) with scale = (max - min) / (2**B - 1), each operation in binary32."""
    lo = np.uint32(min_bits).view(np.float32)
    hi = np.uint32(max_bits).view(np.float32)
    with np.errstate(over="ignore"):
        scale = np.float32(np.float32(hi - lo) / np.float32((1 << bit_depth) - 1))
    if not np.isfinite(scale):
        raise BitstreamError(f"(max - min) = ({binary32_value(max_bits)!r} - "
                             f"{binary32_value(min_bits)!r}) overflows binary32",
                             element=element)
    return lo, scale


def dequantize(samples: np.ndarray, mode: QuantMode, params: TensorQuantParams,
               bit_depth: int, channels: np.ndarray | None = None) -> np.ndarray:
    """float32 values of integer samples; a value that overflows binary32 is an error."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = _dequantize(samples, mode, params, bit_depth, channels)
    if not np.isfinite(out).all():
        raise BitstreamError("a dequantized value overflows binary32",
                             element=_PARAMETER_ELEMENT[mode])
    return out


def _dequantize(samples: np.ndarray, mode: QuantMode, params: TensorQuantParams,
                bit_depth: int, channels: np.ndarray | None = None) -> np.ndarray:
    """float32 values of integer samples of shape (C', H, W).

    `channels` gives the tensor channel index of each of the C' planes (for per-channel
    parameters); None means all channels in order.
    """
    s = samples.astype(np.float32)
    if mode == QuantMode.MINMAX_TENSOR:
        lo, scale = minmax_scale(params.min_bits[0], params.max_bits[0], bit_depth)
        return lo + s * scale
    if mode == QuantMode.MINMAX_CHANNEL:
        idx = np.arange(len(s)) if channels is None else np.asarray(channels)
        pairs = [minmax_scale(params.min_bits[c], params.max_bits[c], bit_depth, "channel_max")
                 for c in idx]
        lo = np.array([p[0] for p in pairs], dtype=np.float32)[:, None, None]
        scale = np.array([p[1] for p in pairs], dtype=np.float32)[:, None, None]
        return lo + s * scale
    if mode == QuantMode.UNIFORM_QP:
        return s * qp_step(params.qp)
    return s * np.uint32(params.step_bits).view(np.float32)
