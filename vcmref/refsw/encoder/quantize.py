"""Quantization in the encoder (non-normative): float tensors to integer samples and the
per-frame parameters the decoder's dequantization needs."""

from __future__ import annotations

import numpy as np

from vcmref.bitstream.frame_units import TensorQuantParams, binary32_bits, binary32_value
from vcmref.bitstream.parameter_sets import QuantMode, StreamParameterSet
from vcmref.errors import EncoderInputError
from vcmref.refsw.quantization import qp_step


def quantize_tensor(x: np.ndarray, sps: StreamParameterSet, qp: int | None = None,
                    step: float | None = None, max_quantile: float | None = None,
                    range_scale: float = 1.0) -> tuple[np.ndarray, TensorQuantParams, int]:
    """(samples int64 (C, H, W), parameters, number of clipped samples) of one frame's tensor.

    `max_quantile` (min/max modes): signal that quantile of the values as the maximum and clip
    the values above it, so that the sample levels cover the bulk of a heavy-tailed tensor
    (an encoder choice: the decoder sees ordinary min/max parameters). `range_scale` >= 1
    (min/max modes) signals max' = min + (max - min) * range_scale, so that the samples use
    only the lower 1/range_scale of the levels: a coarser grid for this tensor when an inner
    codec codes all tensors in one picture at one QP (a range scale of 2^(o/6) acts like a QP
    offset of o for this tensor)."""
    mode, bd = sps.quant_mode, sps.sample_bit_depth
    xd = x.astype(np.float64)
    params = TensorQuantParams()
    levels = (1 << bd) - 1
    if mode.is_minmax:
        per_channel = mode == QuantMode.MINMAX_CHANNEL
        flat = xd.reshape(len(xd), -1) if per_channel else xd.reshape(1, -1)
        lo = flat.min(axis=1).astype(np.float32)
        if max_quantile is None:
            hi = flat.max(axis=1).astype(np.float32)
        else:
            if not 0.5 <= max_quantile <= 1:
                raise EncoderInputError(f"max_quantile {max_quantile}: expected 0.5 to 1")
            hi = np.quantile(flat, max_quantile, axis=1).astype(np.float32)
            hi = np.maximum(hi, lo)
        if range_scale != 1.0:
            if not 1.0 <= range_scale <= 2.0 ** 10:
                raise EncoderInputError(f"range_scale {range_scale}: expected 1 to 1024")
            with np.errstate(over="ignore"):
                hi = (lo + (hi - lo) * np.float32(range_scale)).astype(np.float32)
        with np.errstate(over="ignore"):
            if not np.isfinite(hi - lo).all():
                raise EncoderInputError("tensor range max - min overflows float32")
        params.min_bits = [binary32_bits(float(v)) for v in lo]
        params.max_bits = [binary32_bits(float(v)) for v in hi]
        lo64 = lo.astype(np.float64)[:, None]
        span = hi.astype(np.float64)[:, None] - lo64
        safe = np.where(span > 0, span, 1.0)
        q = np.where(span > 0, np.rint((flat - lo64) / safe * levels), 0)
        clipped = int((q > levels).sum())
        return np.clip(q, 0, levels).astype(np.int64).reshape(xd.shape), params, clipped
    if mode == QuantMode.UNIFORM_QP:
        if qp is None:
            raise EncoderInputError("uniform QP quantization needs a QP")
        params.qp = qp
        s = float(qp_step(qp))
    else:
        if step is None or not np.isfinite(step) or step <= 0:
            raise EncoderInputError(f"quantization step must be a finite number > 0, not {step}")
        with np.errstate(over="ignore"):
            s = float(np.float32(step))
        if s <= 0 or not np.isfinite(s):
            raise EncoderInputError(f"quantization step {step} is not a positive binary32")
        params.step_bits = binary32_bits(s)
    q = np.rint(xd / s)
    clipped = int(((q < sps.sample_min) | (q > sps.sample_max)).sum())
    return np.clip(q, sps.sample_min, sps.sample_max).astype(np.int64), params, clipped


def hold_reference(x: np.ndarray, q: np.ndarray, reference: np.ndarray, sps: StreamParameterSet,
                   params: TensorQuantParams, deadzone: float) -> np.ndarray:
    """Temporal prediction's dead zone (uniform quantization only): where the value lies within
    (0.5 + deadzone) steps of the reference sample's reconstruction, keep the reference
    sample, so that the residual is 0. It trades a little error for fewer bits on samples that
    only hover around a decision threshold; 0 leaves `q` as it is."""
    if deadzone <= 0 or sps.quant_mode.is_minmax:
        return q
    s = (float(qp_step(params.qp)) if sps.quant_mode == QuantMode.UNIFORM_QP
         else binary32_value(params.step_bits))
    near = np.abs(x.astype(np.float64) / s - reference) <= 0.5 + deadzone
    return np.where(near, reference, q)
