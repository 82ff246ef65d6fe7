"""Token model (normative): sample -> token mapping, contexts, and the integer derivation of
rANS frequency tables from transmitted token weights."""

from __future__ import annotations

import numpy as np

from vcmref.bitstream.frame_units import TileModel, num_contexts, num_tokens
from vcmref.bitstream.parameter_sets import MAGNITUDE_CLASS_THRESHOLDS, StreamParameterSet
from vcmref.errors import BitstreamError

PROB_BITS = 12
PROB_SCALE = 1 << PROB_BITS
STATE_BITS = 16
STATE_LOW = 1 << STATE_BITS
ABSENT_TOKEN = 0xFF  # LUT entry token of a context the tile model does not define


def weight_value(w: np.ndarray) -> np.ndarray:
    """R(w) = (4 + (w mod 4)) * 2**(w div 4) for w >= 1, and 0 for w = 0."""
    w = np.asarray(w, dtype=np.int64)
    return np.where(w > 0, (4 + (w & 3)) << (w >> 2), 0)


def token_frequencies(weights: np.ndarray) -> np.ndarray:
    """Frequencies (each row summing to 2**PROB_BITS) from rows of token weights.

    f = max(1, (R << 12) div sum(R)) for tokens of non-zero weight, 0 otherwise; then the
    first token of largest f gets 2**12 - sum(f) added."""
    r = weight_value(np.atleast_2d(weights))
    total = r.sum(axis=1, keepdims=True)
    f = np.where(r > 0, np.maximum(1, (r << PROB_BITS) // np.maximum(total, 1)), 0)
    rows = np.arange(len(f))
    biggest = np.argmax(f, axis=1)
    f[rows, biggest] += PROB_SCALE - f.sum(axis=1)
    if (f[rows, biggest] < 1).any():
        raise BitstreamError("token weights give a frequency below 1", element="token_weight")
    return f


def model_tables(model: TileModel, sps: StreamParameterSet) -> tuple[np.ndarray, np.ndarray]:
    """(freq, cum) arrays of shape (contexts, tokens); absent contexts have all zeros."""
    n_ctx, n_tok = num_contexts(sps), num_tokens(sps)
    weights = np.zeros((n_ctx, n_tok), dtype=np.int64)
    present = [ctx for ctx, w in enumerate(model.weights) if w is not None]
    for ctx in present:
        w = model.weights[ctx]
        weights[ctx, : len(w)] = w
    freq = np.zeros((n_ctx, n_tok), dtype=np.int64)
    if present:
        freq[present] = token_frequencies(weights[present])
    cum = np.cumsum(freq, axis=1) - freq
    return freq, cum


def decode_lut(freq: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Slot lookup table: entry [ctx * 4096 + slot] packs (f - 1) | (slot - c) << 12 | t << 24;
    contexts without frequencies get token ABSENT_TOKEN."""
    n_ctx, n_tok = freq.shape
    lut = np.full((n_ctx, PROB_SCALE), ABSENT_TOKEN << 24, dtype=np.int64)
    present = np.flatnonzero(freq.sum(axis=1) > 0)
    if present.size:
        f = freq[present]
        tok = np.repeat(np.tile(np.arange(n_tok, dtype=np.int64), len(present)), f.ravel())
        tok = tok.reshape(len(present), PROB_SCALE)
        rows = np.arange(len(present))[:, None]
        bias = np.arange(PROB_SCALE, dtype=np.int64)[None, :] - cum[present][rows, tok]
        lut[present] = (f[rows, tok] - 1) | (bias << 12) | (tok << 24)
    return lut.ravel()


def zigzag(d: np.ndarray) -> np.ndarray:
    """Signed residual to magnitude index: 0, -1, 1, -2, 2, ... -> 0, 1, 2, 3, 4, ..."""
    d = np.asarray(d, dtype=np.int64)
    return np.where(d >= 0, 2 * d, -2 * d - 1)


def unzigzag(u: np.ndarray) -> np.ndarray:
    """Inverse of zigzag: (u >> 1) XOR -(u AND 1)."""
    u = np.asarray(u, dtype=np.int64)
    return (u >> 1) ^ -(u & 1)


def tokens_of(u: np.ndarray, direct_log2: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token, raw length, raw value) of magnitude indices: u < 2**E is its own token; larger
    u = 2**k + r (k >= E) is token 2**E + k - E followed by the k raw bits of r."""
    u = np.asarray(u, dtype=np.int64)
    d = 1 << direct_log2
    tok = u.copy()
    raw_len = np.zeros_like(u)
    raw_val = np.zeros_like(u)
    big = np.flatnonzero(u >= d)
    if big.size:
        ub = u[big]
        k = np.frexp(ub.astype(np.float64))[1].astype(np.int64) - 1  # exact for u < 2**53
        tok[big] = d + k - direct_log2
        raw_len[big] = k
        raw_val[big] = ub - (np.int64(1) << k)
    return tok, raw_len, raw_val


_CLASS_OF_SMALL = np.searchsorted(np.asarray(MAGNITUDE_CLASS_THRESHOLDS), np.arange(1025),
                                  side="right")


def magnitude_class(u: np.ndarray, max_class: int) -> np.ndarray:
    """min(floor(1.5 * log2(u + 1)), max_class), through the spec's threshold table."""
    return np.minimum(_CLASS_OF_SMALL[np.minimum(u, 1024)], max_class)


def token_classes(direct_log2: int, max_class: int) -> np.ndarray:
    """Magnitude class of each token value 0..255 (escape tokens: the top class)."""
    t = np.arange(256, dtype=np.int64)
    direct = 1 << direct_log2
    return np.where(t < direct, magnitude_class(np.minimum(t, direct - 1), max_class),
                    max_class)


def contexts_of(class_above: np.ndarray, class_left: np.ndarray, max_class: int) -> np.ndarray:
    """Context index from the magnitude classes of the above and left neighbours."""
    return class_above * (max_class + 1) + class_left
