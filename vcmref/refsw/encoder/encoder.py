"""The reference encoder (non-normative): float32 tensors -> vcmref stream.

It quantizes each frame, packs each layer's channels into tiles, designs one token model per
tile from the tile's own statistics, and entropy codes each data unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vcmref.bitstream.frame_units import (
    MAX_TOKEN_WEIGHT,
    DataHash,
    DataUnit,
    FrameHeader,
    TemporalPrediction,
    TileModel,
    data_hash,
    data_unit,
    frame_header,
    num_contexts,
    num_tokens,
    temporal_prediction,
    tile_model,
)
from vcmref.bitstream.levels import LEVELS, PROFILE_MAIN_INTER
from vcmref.bitstream.parameter_sets import (
    MAX_QP,
    LayerInfo,
    QuantMode,
    StreamParameterSet,
    TensorInfo,
    TileLayout,
    stream_parameter_set,
    unit_samples_bound,
)
from vcmref.bitstream.syntax import Writer
from vcmref.bitstream.units import UnitType, write_signature, write_unit
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.refsw.encoder.quantize import hold_reference, quantize_tensor
from vcmref.refsw.encoder.rans_encoder import EncodeTables, encode_unit_tokens
from vcmref.refsw.entropy_model import (
    PROB_SCALE,
    contexts_of,
    magnitude_class,
    model_tables,
    tokens_of,
    zigzag,
)
from vcmref.refsw.hashing import layer_samples_md5
from vcmref.refsw.tiles import tile_geometry, unit_tensor_index

QUANT_MODES = {
    "minmax": QuantMode.MINMAX_TENSOR,
    "minmax-channel": QuantMode.MINMAX_CHANNEL,
    "qp": QuantMode.UNIFORM_QP,
    "step": QuantMode.UNIFORM_STEP,
}


@dataclass
class EncoderConfig:
    """Encoder choices; everything the decoder needs ends up in the stream."""

    bit_depth: int = 10
    quant: str = "minmax"  # one of QUANT_MODES
    qp: int | None = None
    step: float | None = None
    layers: int = 1  # channels of each tensor split evenly, in channel order, into this many
    layer_channels: list[dict[str, int]] | None = None  # or explicit counts per layer
    layer_refs: list[list[int]] | None = None  # lower layers each layer depends on; None: all
    channel_order: dict[str, list[int]] | None = None  # coding order of channels, per tensor
    tensor_qp: dict[str, int] | None = None  # per-tensor QP for quant "qp" (default: qp)
    tile_padding: int | None = None  # sample value of unused tile cells; None: 0 in range
    tile_columns: int | None = None  # cells per tile row; None: about square tiles
    rows_per_unit: int = 0  # tile rows per data unit; 0: one unit per tile, or as many rows
    # as the level's MaxUnitSamples allows when a tile is larger
    max_magnitude_class: int = 7  # contexts: classes of the above and left magnitudes
    direct_token_log2: int = 5
    wavefront_block_size: int = 0
    lane_limit: int = 64  # most rANS lanes per step; 0: a whole wavefront pass per step
    model_id: str = ""
    split_point: str = ""
    hashes: bool = True
    level: int | None = None  # None: the lowest level the tensors fit
    # Temporal prediction (profile 2, clause 5.9.1): 1 codes every frame on its own; N > 1
    # predicts every frame from the previous one except frames 0, N, 2N, ... (random-access
    # points); 0 predicts every frame after the first.
    intra_period: int = 1
    # Predicted frames keep the reference sample where the value is within 0.5 + this many
    # steps of it (uniform quantization; 0: plain rounding). Non-normative.
    temporal_deadzone: float = 0.0


@dataclass
class EncodeReport:
    """What the encoder did, for logs and benchmarks."""

    bytes_total: int = 0
    ans_bytes: int = 0
    ideal_bits: float = 0.0  # code length of the tokens under the transmitted models
    samples: int = 0
    clipped_samples: int = 0
    unit_bytes: dict[str, int] = field(default_factory=dict)


def frames_view(name: str, x: np.ndarray) -> np.ndarray:
    """The tensor as (F, C, H, W) without a copy, after the checks that need no pass over it."""
    if not isinstance(x, np.ndarray):
        raise EncoderInputError(f"tensor {name!r}: expected a numpy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise EncoderInputError(f"tensor {name!r}: expected a floating-point dtype, got {x.dtype}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise EncoderInputError(f"tensor {name!r}: expected shape (C, H, W) or (F, C, H, W), "
                                f"got {x.shape}")
    if x.size == 0:
        raise EncoderInputError(f"tensor {name!r} is empty: shape {x.shape}")
    return x


def finite_float32(name: str, x: np.ndarray) -> np.ndarray:
    """x as float32, refusing NaN, Inf and values beyond float32's range."""
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32, copy=False)
    if not np.isfinite(x32).all():
        bad = "NaN" if np.isnan(x).any() else "Inf or a value beyond float32"
        raise EncoderInputError(f"tensor {name!r} contains {bad}")
    return x32


def as_frames(name: str, x: np.ndarray) -> np.ndarray:
    """The whole tensor as float32 (F, C, H, W), checked (for encoders that need every frame
    at once; the reference encoder converts one frame at a time)."""
    return finite_float32(name, frames_view(name, x))


def _pick_level(tensors: list[TensorInfo], cfg: EncoderConfig, n_layers: int) -> int:
    total = sum(t.samples for t in tensors)
    for idc, lv in sorted(LEVELS.items()):
        if cfg.level is not None and idc != cfg.level:
            continue
        fits = (len(tensors) <= lv.max_tensors and n_layers <= lv.max_layers
                and total <= lv.max_frame_samples
                and all(t.channels <= lv.max_channels and t.height <= lv.max_dimension
                        and t.width <= lv.max_dimension and t.samples <= lv.max_tensor_samples
                        for t in tensors))
        if fits:
            return idc
    what = f"level {cfg.level}" if cfg.level is not None else "any level"
    shapes = ", ".join(f"{t.name} {t.channels}x{t.height}x{t.width}" for t in tensors)
    raise EncoderInputError(f"tensors ({shapes}) exceed the limits of {what}")


def _check_config(cfg: EncoderConfig) -> None:
    """Options that are wrong whatever the tensors, each with a one-line error."""
    if cfg.level is not None and cfg.level not in LEVELS:
        raise EncoderInputError(f"level {cfg.level}: expected one of {sorted(LEVELS)}")
    for name in ("qp", "bit_depth", "layers", "rows_per_unit", "lane_limit",
                 "wavefront_block_size", "max_magnitude_class", "direct_token_log2",
                 "intra_period"):
        value = getattr(cfg, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise EncoderInputError(f"{name} {value!r}: expected an integer")
    dz = cfg.temporal_deadzone
    if isinstance(dz, bool) or not isinstance(dz, (int, float)) or not 0.0 <= dz <= 0.5:
        raise EncoderInputError(f"temporal_deadzone {dz!r}: expected a number from 0 to 0.5 "
                                "(steps beyond the half step of rounding)")
    if cfg.intra_period < 0:
        raise EncoderInputError(f"intra_period {cfg.intra_period}: expected 0 (the first frame "
                                "only) or more")
    if cfg.qp is not None and not 0 <= cfg.qp <= MAX_QP:
        raise EncoderInputError(f"qp {cfg.qp}: expected 0 to {MAX_QP}")
    if cfg.quant in QUANT_MODES and cfg.quant != "qp":  # an unknown quant: build_sps says so
        for name in ("qp", "tensor_qp"):
            if getattr(cfg, name) is not None:
                raise EncoderInputError(f"{name} {getattr(cfg, name)}: only used with quant "
                                        f"'qp', not {cfg.quant!r}")
    if cfg.tile_columns is not None and cfg.tile_columns < 1:
        raise EncoderInputError(f"tile_columns {cfg.tile_columns}: expected at least 1")


def build_sps(tensors: dict[str, np.ndarray], cfg: EncoderConfig) -> StreamParameterSet:
    """The stream parameter set for tensors of shape (F, C, H, W) under a config."""
    _check_config(cfg)
    if cfg.quant not in QUANT_MODES:
        raise EncoderInputError(f"quantization {cfg.quant!r}: expected one of "
                                f"{', '.join(QUANT_MODES)}")
    if not 1 <= cfg.bit_depth <= 16:
        raise EncoderInputError(f"bit depth {cfg.bit_depth}: expected 1 to 16")
    infos = [TensorInfo(name, x.shape[1], x.shape[2], x.shape[3]) for name, x in tensors.items()]
    if cfg.layer_channels is not None:
        plan = cfg.layer_channels
        for name, ti in zip(tensors, infos, strict=True):
            if sum(layer.get(name, 0) for layer in plan) != ti.channels:
                raise EncoderInputError(f"layer plan gives tensor {name!r} "
                                        f"{sum(layer.get(name, 0) for layer in plan)} channels, "
                                        f"it has {ti.channels}")
        counts = [[layer.get(ti.name, 0) for ti in infos] for layer in plan]
        for k, layer_counts in enumerate(counts):
            for ti, n in zip(infos, layer_counts, strict=True):
                if n < 0:
                    raise EncoderInputError(f"layer plan: layer {k} gives tensor {ti.name!r} "
                                            f"{n} channels")
    else:
        if cfg.layers < 1:
            raise EncoderInputError(f"layers {cfg.layers}: expected at least 1")
        counts = [[(ti.channels * (k + 1)) // cfg.layers - (ti.channels * k) // cfg.layers
                   for ti in infos] for k in range(cfg.layers)]
    empty = [k for k, c in enumerate(counts) if not any(c)]
    if empty:
        raise EncoderInputError(f"layer {empty[0]} would carry no channel: use at most "
                                f"{max(ti.channels for ti in infos)} layers")
    refs = cfg.layer_refs if cfg.layer_refs is not None else [list(range(k))
                                                                  for k in range(len(counts))]
    if len(refs) != len(counts) or any(
            sorted(set(r)) != list(r) or any(not 0 <= x < k for x in r)
            for k, r in enumerate(refs)):
        raise EncoderInputError(f"layer_refs {cfg.layer_refs}: expected, for each of the "
                                f"{len(counts)} layers, increasing indices of lower layers")
    layers = [LayerInfo(c, list(r)) for c, r in zip(counts, refs, strict=True)]
    layouts = []
    for t in range(len(infos)):
        cols = []
        for layer in layers:
            n = layer.channels[t]
            want = cfg.tile_columns or max(1, math.ceil(math.sqrt(n)))
            cols.append(max(1, min(want, n)))
        order = (cfg.channel_order or {}).get(infos[t].name)
        if order is not None and sorted(order) != list(range(infos[t].channels)):
            raise EncoderInputError(f"channel_order of tensor {infos[t].name!r}: expected a "
                                    f"permutation of 0..{infos[t].channels - 1}")
        layouts.append(TileLayout(None if order is None else list(order), cfg.rows_per_unit,
                                  cols))
    mode = QUANT_MODES[cfg.quant]
    sps = StreamParameterSet(
        level_idc=_pick_level(infos, cfg, len(layers)),
        model_id=cfg.model_id, split_point_id=cfg.split_point, tensors=infos,
        sample_bit_depth=cfg.bit_depth, quant_mode=mode,
        init_qp=cfg.qp if (mode == QuantMode.UNIFORM_QP and cfg.qp is not None) else 0,
        layers=layers, tile_layouts=layouts, direct_token_log2=cfg.direct_token_log2,
        max_magnitude_class=cfg.max_magnitude_class, wavefront_block_size=cfg.wavefront_block_size,
        lane_limit=cfg.lane_limit)
    num_frames = next(iter(tensors.values())).shape[0]
    if cfg.intra_period != 1 and num_frames > 1:
        sps.profile_idc = PROFILE_MAIN_INTER
    sps.tile_padding_value = (min(max(0, sps.sample_min), sps.sample_max)
                              if cfg.tile_padding is None else cfg.tile_padding)
    _fit_units_to_level(sps, explicit=cfg.rows_per_unit != 0)
    return sps


def _fit_units_to_level(sps: StreamParameterSet, explicit: bool) -> None:
    """Keep every data unit within the level's MaxUnitSamples: with rows_per_unit 0, cut the
    tensors whose tiles are larger into units of as many rows as fit; refuse an explicit
    rows_per_unit that is too large."""
    limit = sps.level.max_unit_samples
    for t, ti in enumerate(sps.tensors):
        layers = [k for k, li in enumerate(sps.layers) if li.channels[t]]
        worst = max(unit_samples_bound(sps, t, k) for k in layers)
        if worst <= limit:
            continue
        width = max(sps.tile_layouts[t].tile_columns[k] * ti.width for k in layers)
        if explicit:
            raise EncoderInputError(
                f"rows_per_unit {sps.tile_layouts[t].rows_per_unit}: data units of tensor "
                f"{ti.name!r} would carry {worst} samples, above level {sps.level_idc}'s "
                f"{limit}; use at most {limit // width} rows")
        sps.tile_layouts[t].rows_per_unit = limit // width


_KEPT_TOKEN_SAMPLES = 1 << 21  # tokens of a tile kept between the encoder's two passes


def weights_from_counts(counts: np.ndarray) -> list[list[int] | None]:
    """Per context, token weights whose normalized frequencies approximate the counts
    (None for a context that never occurs); trailing zero weights are dropped."""
    peak = counts.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.rint(4 * np.log2(counts / np.maximum(peak, 1))) + MAX_TOKEN_WEIGHT
    w = np.where(counts > 0, np.clip(w, 1, MAX_TOKEN_WEIGHT), 0).astype(np.int64)
    last = w.shape[1] - np.argmax(w[:, ::-1] > 0, axis=1)
    return [w[i, : last[i]].tolist() if peak[i, 0] > 0 else None for i in range(len(w))]


def prediction_residual(samples: np.ndarray, reference: np.ndarray,
                        sps: StreamParameterSet) -> np.ndarray:
    """The residual r that clause 5.9.1 turns back into `samples`:
    SampleMin + ((s - ref - SampleMin) mod 2^B), in the samples' range."""
    span = sps.sample_max - sps.sample_min + 1
    total = samples.astype(np.int64) - reference - sps.sample_min
    return (np.mod(total, span) + sps.sample_min).astype(np.int32)


def serialize_unit(fn, unit_type: UnitType, layer: int, *args) -> bytes:
    """One unit: the syntax function `fn` written with `args`, behind its unit header."""
    w = Writer(unit=unit_type.name.lower())
    fn(w, *args)
    return write_unit(unit_type, layer, w.getvalue())


class Encoder:
    """Encodes dicts of float tensors into one stream."""

    def __init__(self, cfg: EncoderConfig | None = None) -> None:
        self.cfg = cfg or EncoderConfig()
        self.report = EncodeReport()

    def encode(self, tensors: dict[str, np.ndarray]) -> bytes:
        if not tensors:
            raise EncoderInputError("no tensors to encode")
        frames = {name: frames_view(name, x) for name, x in tensors.items()}
        counts = {x.shape[0] for x in frames.values()}
        if len(counts) != 1:
            per_tensor = ", ".join(f"{k}: {x.shape[0]}" for k, x in frames.items())
            raise EncoderInputError(f"tensors have different frame counts ({per_tensor})")
        sps = build_sps(frames, self.cfg)
        self.report = EncodeReport()
        try:
            out = [write_signature(),
                   serialize_unit(stream_parameter_set, UnitType.STREAM_PARAMETER_SET, 0, sps)]
            reference = None
            for f in range(counts.pop()):
                xs = [finite_float32(name, x[f]) for name, x in frames.items()]
                predict = reference is not None and self.predicts(f)
                units, reference = self._encode_frame(sps, f, xs, reference if predict else None)
                out.extend(units)
            out.append(write_unit(UnitType.END_OF_STREAM, 0, b""))
        except BitstreamError as e:
            raise EncoderInputError(f"cannot write the stream: {e}") from None
        data = b"".join(out)
        self.report.bytes_total = len(data)
        return data

    def predicts(self, f: int) -> bool:
        """Whether frame f is coded as the residual of frame f - 1 (intra_period)."""
        period = self.cfg.intra_period
        return f > 0 and period != 1 and (period == 0 or f % period != 0)

    def _encode_frame(self, sps: StreamParameterSet, f: int, xs: list[np.ndarray],
                      reference: list[np.ndarray] | None
                      ) -> tuple[list[bytes], list[np.ndarray]]:
        """The frame's units and its reconstructed samples (the next frame's reference);
        with a reference, every tensor is coded as its residual (clause 5.9.1)."""
        cfg = self.cfg
        fh = FrameHeader(frame_index=f)
        samples = []
        for x in xs:
            t = len(samples)
            qp = (cfg.tensor_qp or {}).get(sps.tensors[t].name, cfg.qp)
            s, params, clipped = quantize_tensor(x, sps, qp, cfg.step)
            if reference is not None:
                s = hold_reference(x, s, reference[t], sps, params, cfg.temporal_deadzone)
            fh.quant.append(params)
            samples.append(s)
            self.report.clipped_samples += clipped
        units = [serialize_unit(frame_header, UnitType.FRAME_HEADER, 0, fh, sps)]
        coded = samples
        if reference is not None:
            tp = TemporalPrediction(f, [True] * len(samples))
            units.append(serialize_unit(temporal_prediction, UnitType.TEMPORAL_PREDICTION, 0,
                                        tp, sps))
            coded = [prediction_residual(s, r, sps) for s, r in zip(samples, reference,
                                                                    strict=True)]
        for layer in range(len(sps.layers)):
            planes = []
            for t in range(len(sps.tensors)):
                geom = tile_geometry(sps, t, layer)
                if geom is None:
                    continue
                units.extend(self._encode_tile(sps, f, t, layer, geom, coded[t]))
                planes.append(samples[t][list(geom.channels)])
            if cfg.hashes:
                dh = DataHash(f, digest=layer_samples_md5(planes))
                units.append(serialize_unit(data_hash, UnitType.DATA_HASH, layer, dh, sps))
        return units, samples

    def tile_offset(self, sps: StreamParameterSet, samples: np.ndarray) -> int:
        """The tile's sample_offset: its most frequent sample value."""
        lo = int(samples.min())
        return lo + int(np.argmax(np.bincount((samples - lo).ravel())))

    def tile_weights(self, counts: np.ndarray) -> list[list[int] | None]:
        """The tile model's token weights from the (context, token) counts of the tile."""
        return weights_from_counts(counts)

    def _encode_tile(self, sps: StreamParameterSet, f: int, t: int, layer: int, geom,
                     samples: np.ndarray) -> list[bytes]:
        offset = self.tile_offset(sps, samples[list(geom.channels)])
        n_ctx, n_tok = num_contexts(sps), num_tokens(sps)
        counts = np.zeros((n_ctx, n_tok), dtype=np.int64)
        # Two passes: the model needs the whole tile's counts first. The second reuses the
        # tokens of the first up to _KEPT_TOKEN_SAMPLES and recomputes the rest, so memory
        # stays bounded for large tiles without tokenizing small ones twice.
        kept: dict[int, tuple] = {}
        held = 0
        for unit_idx in range(geom.num_units):
            tokens = self._unit_tokens(sps, geom, unit_idx, samples, offset)
            tok, ctx = tokens[1], tokens[2]
            counts += np.bincount(ctx * n_tok + tok, minlength=n_ctx * n_tok).reshape(
                n_ctx, n_tok)
            if held + len(tok) <= _KEPT_TOKEN_SAMPLES:
                kept[unit_idx] = tokens
                held += len(tok)
        model = TileModel(f, t, offset, self.tile_weights(counts))
        units = [serialize_unit(tile_model, UnitType.TILE_MODEL, layer, model, sps)]
        freq, cum = model_tables(model, sps)
        tables = EncodeTables.from_freq(freq, cum)
        with np.errstate(divide="ignore"):
            cost = np.where(freq > 0, np.log2(PROB_SCALE / np.maximum(freq, 1)), 0.0)
        self.report.ideal_bits += float((counts * cost).sum())
        for unit_idx in range(geom.num_units):
            sched, tok, ctx, raw_len, raw_val = kept.pop(unit_idx, None) or self._unit_tokens(
                sps, geom, unit_idx, samples, offset)
            ans = encode_unit_tokens(tok, ctx, raw_len, raw_val, sched, tables)
            du = DataUnit(f, t, unit_idx, ans)
            units.append(serialize_unit(data_unit, UnitType.DATA_UNIT, layer, du, sps))
            self.report.ans_bytes += len(ans)
            self.report.ideal_bits += float(raw_len.sum())
            self.report.samples += len(tok)
        return units

    @staticmethod
    def _unit_tokens(sps: StreamParameterSet, geom, unit_idx: int, samples: np.ndarray,
                     offset: int):
        """(schedule, tokens, contexts, escape lengths, escape values) of one data unit."""
        max_class = sps.max_magnitude_class
        sched, index = unit_tensor_index(geom, unit_idx, sps.wavefront_block_size,
                                         sps.lane_limit)
        u = zigzag(samples.reshape(-1)[index] - offset)
        cls = np.append(magnitude_class(u, max_class), 0)
        ctx = contexts_of(cls[sched.above], cls[sched.left], max_class)
        tok, raw_len, raw_val = tokens_of(u, sps.direct_token_log2)
        return sched, tok, ctx, raw_len, raw_val


def encode(tensors: dict[str, np.ndarray], cfg: EncoderConfig | None = None) -> bytes:
    """Encode tensors of shape (C, H, W) or (F, C, H, W) into a stream."""
    return Encoder(cfg).encode(tensors)
