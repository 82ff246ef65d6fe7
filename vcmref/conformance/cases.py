"""The conformance suite: small streams from the reference encoder that together exercise
every syntax element and class of values of the spec. Each case is deterministic, except the
inner-codec cases (entropy_coder_idc 1), whose inner byte streams come from external video
encoders (vvenc, x265, kvazaar through ffmpeg) that need not give the same bytes on every
machine or version: for those, the committed stream is the case (`Case.external`,
`case_stream`), and building them anew is only done on purpose."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vcmref.bitstream.extract import extract
from vcmref.bitstream.frame_units import (
    DataUnit,
    RestorationModelRef,
    TemporalPrediction,
    TileModel,
    data_unit,
    num_tokens,
    restoration_model,
    temporal_prediction,
    tile_model,
)
from vcmref.bitstream.parameter_sets import StreamParameterSet, stream_parameter_set
from vcmref.bitstream.syntax import Reader, Writer
from vcmref.bitstream.unit_types import UNIT_TYPES
from vcmref.bitstream.units import (
    Unit,
    UnitType,
    iter_units,
    unit_chunks,
    write_signature,
    write_unit,
)
from vcmref.conformance.suite import SUITE_DIR
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.encoder.encoder import build_sps


@dataclass(frozen=True)
class Case:
    """One conformance stream: how to build it and what it exercises."""

    name: str
    description: str
    exercises: tuple[str, ...]
    build: Callable[[], bytes]
    # Built with an external encoder whose output may differ between machines and versions:
    # the committed file under vcmref/conformance/streams/ is the case (see case_stream).
    external: bool = False


def case_stream(case: Case, rebuild: bool = False) -> bytes:
    """The case's stream: for an external case, the committed file when there is one (unless
    `rebuild`); otherwise (and for every other case) built now."""
    path = SUITE_DIR / f"{case.name}.vcm"
    if case.external and not rebuild and path.is_file():
        return path.read_bytes()
    return case.build()


def features(seed: int, shapes: dict[str, tuple[int, ...]], scale: float = 1.0,
             shift: float = 0.0) -> dict[str, np.ndarray]:
    """Feature-like float32 tensors (SiLU of smoothed noise with per-channel offsets)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        z = rng.normal(size=shape)
        z = (z + np.roll(z, 1, axis=-1) + np.roll(z, 1, axis=-2)) / 1.7
        z = scale * (z + rng.normal(shift, 1.0, size=shape[:-2] + (1, 1)))
        with np.errstate(over="ignore"):
            out[name] = (z / (1.0 + np.exp(-z))).astype(np.float32)
    return out


def _encoded(seed: int, shapes: dict[str, tuple[int, ...]], scale: float = 1.0,
             shift: float = 0.0, **cfg) -> Callable[[], bytes]:
    return lambda: encode(features(seed, shapes, scale, shift), EncoderConfig(**cfg))


def rewrite_units(data: bytes, unit_type: UnitType,
                  change: Callable[[object, StreamParameterSet], None]) -> bytes:
    """The stream with each tile model or data unit re-serialized after change(unit, sps):
    for streams a conforming encoder may write but the reference encoder does not."""
    syntax = {UnitType.TILE_MODEL: (tile_model, TileModel),
              UnitType.DATA_UNIT: (data_unit, DataUnit)}[unit_type]
    out = [write_signature()]
    sps = StreamParameterSet()
    for unit, chunk in zip(iter_units(data), unit_chunks(data), strict=True):
        if unit.unit_type == UnitType.STREAM_PARAMETER_SET:
            sps = stream_parameter_set(Reader(unit.payload), StreamParameterSet())
        elif unit.unit_type == unit_type:
            fn, cls = syntax
            args = (unit.payload,) if unit_type == UnitType.DATA_UNIT else ()
            structure = fn(Reader(unit.payload), cls(), sps, *args)
            change(structure, sps)
            w = Writer()
            fn(w, structure, sps)
            chunk = write_unit(unit_type, unit.layer_id, w.getvalue())
        out.append(chunk)
    return b"".join(out)


def _empty_ans_data() -> bytes:
    """A constant tile: its ANS data is all zero bits, which may be left out entirely."""
    data = encode({"c": np.full((1, 2, 3, 4), 0.75, np.float32)},
                  EncoderConfig(quant="step", step=0.25, bit_depth=6))

    def empty(du, sps):
        if not any(du.ans_data):
            du.ans_data = b""

    return rewrite_units(data, UnitType.DATA_UNIT, empty)


def _full_weight_lists() -> bytes:
    """Token weights written out to the last token (explicit trailing zero weights)."""
    data = encode(features(15, {"w": (1, 3, 4, 4)}), EncoderConfig(bit_depth=6))

    def pad(tm, sps):
        n = num_tokens(sps)
        tm.weights = [None if w is None else w + [0] * (n - len(w)) for w in tm.weights]

    return rewrite_units(data, UnitType.TILE_MODEL, pad)


def _signed_ranges(per_channel: bool) -> bytes:
    """Min/max parameters that are negative, zero and positive (ReLU-like and shifted data)."""
    x = features(16, {"a": (1, 3, 4, 4)})["a"]
    relu = np.maximum(x, 0)
    relu[..., 0, 0] = 0.0
    tensors = {"relu": relu, "neg_relu": -relu, "pos": relu + 2.0, "neg": -relu - 2.0}
    return encode(tensors, EncoderConfig(quant="minmax-channel" if per_channel else "minmax",
                                         bit_depth=7))


def _sparse_qp0() -> bytes:
    """QP 0 (step 2^-8) on an all-zero tensor with one non-zero sample: weight-1 tokens."""
    x = np.zeros((1, 1, 256, 256), np.float32)
    x[0, 0, 10, 20] = 0.25
    return encode({"sparse": x}, EncoderConfig(quant="qp", qp=0, bit_depth=8))


def _with_reserved_units() -> bytes:
    """A two-frame stream with reserved unit types inserted where decoders must skip them."""
    data = encode(features(11, {"f": (2, 4, 5, 5)}), EncoderConfig(layers=2))
    units = unit_chunks(data)
    types = [u.unit_type for u in iter_units(data)]
    out = [write_signature(), units[0], write_unit(7, 0, b"\x00\x01")]
    for chunk, utype in zip(units[1:], types[1:], strict=True):
        if utype == UnitType.END_OF_STREAM:
            out.append(write_unit(127, 1, bytes(range(40))))
        out.append(chunk)
        if utype == UnitType.FRAME_HEADER:
            out.append(write_unit(64, 1, b""))
    return b"".join(out)


# model_sha256 of the suite's restoration_model streams: the SHA-256 of a fixed text, so it names
# no model file that exists (clause 8.3): decoders must decode the stream to the conformance
# point without the model.
UNSHIPPED_MODEL_SHA256 = hashlib.sha256(b"vcmref conformance suite: a restoration model that "
                                        b"is not shipped").digest()


def restoration_unit(sps: StreamParameterSet, layer_id: int = 0,
                     ref: RestorationModelRef | None = None, lax: bool = False) -> bytes:
    """A restoration_model unit (clause 4.9) naming UNSHIPPED_MODEL_SHA256 unless `ref` is
    given; `lax` writes values outside their range."""
    ref = ref or RestorationModelRef(model_sha256=UNSHIPPED_MODEL_SHA256)
    w = Writer(unit="restoration_model", lax=lax)
    restoration_model(w, ref, sps)
    return write_unit(UnitType.RESTORATION_MODEL, layer_id, w.getvalue())


def _with_restoration_model() -> bytes:
    """A two-layer, two-frame stream with a restoration_model unit right after the stream
    parameter set and a reserved unit after it: it decodes to the same samples and values as
    without the unit (clause 5.13)."""
    data = encode(features(17, {"r": (2, 4, 5, 6), "s": (2, 2, 3, 3)}),
                  EncoderConfig(quant="qp", qp=32, bit_depth=8, layers=2))
    units = unit_chunks(data)
    sps = stream_parameter_set(Reader(next(iter_units(data)).payload), StreamParameterSet())
    return b"".join([write_signature(), units[0], restoration_unit(sps),
                     write_unit(64, 0, b"\x09"), *units[1:]])


def prediction_unit(sps: StreamParameterSet, frame_index: int, predicted: list[bool],
                    layer_id: int = 0) -> bytes:
    """A temporal_prediction unit (clause 4.10) of the frame with `frame_index`."""
    w = Writer(unit="temporal_prediction")
    temporal_prediction(w, TemporalPrediction(frame_index, list(predicted)), sps)
    return write_unit(UnitType.TEMPORAL_PREDICTION, layer_id, w.getvalue())


def _sps_of(data: bytes) -> StreamParameterSet:
    return stream_parameter_set(Reader(next(iter_units(data)).payload), StreamParameterSet())


def _frame_units(data: bytes) -> list[tuple[int, Unit, bytes]]:
    """(frame number from 0, -1 before the first frame header; unit; its bytes) of every unit."""
    frame = -1
    out = []
    for unit, chunk in zip(iter_units(data), unit_chunks(data), strict=True):
        if unit.unit_type == UnitType.FRAME_HEADER:
            frame += 1
        out.append((frame, unit, chunk))
    return out


def _tile_key(unit: Unit, sps: StreamParameterSet) -> tuple[int, ...] | None:
    """(layer_id, unit_type, tensor_idx[, unit_idx]) of a tile model or data unit, else None."""
    if unit.unit_type not in (UnitType.TILE_MODEL, UnitType.DATA_UNIT):
        return None
    content = UNIT_TYPES[unit.unit_type].parse(Reader(unit.payload), sps, unit.payload)
    extra = (content.unit_idx,) if unit.unit_type == UnitType.DATA_UNIT else ()
    return (unit.layer_id, int(unit.unit_type), content.tensor_idx, *extra)


def with_unpredicted_tensor(inter: bytes, intra: bytes, frame: int, tensor_idx: int) -> bytes:
    """`inter` (a stream with temporal prediction) with tensor `tensor_idx` of its predicted
    frame number `frame` coded on its own: that tensor's tile models and data units are those
    of `intra` (the same tensors coded without prediction: the same samples) and its
    predicted_flag is 0. The frame's data hashes do not change (they hash the samples)."""
    sps = _sps_of(inter)
    intra_sps = _sps_of(intra)
    own = {_tile_key(u, intra_sps): chunk for f, u, chunk in _frame_units(intra) if f == frame}
    out = [write_signature()]
    predicted = False
    for f, unit, chunk in _frame_units(inter):
        if f == frame:
            key = _tile_key(unit, sps)
            if key is not None and key[2] == tensor_idx:
                chunk = own[key]
            elif unit.unit_type == UnitType.TEMPORAL_PREDICTION:
                tp = temporal_prediction(Reader(unit.payload), TemporalPrediction(), sps)
                assert tp.predicted[tensor_idx]
                tp.predicted[tensor_idx] = False
                chunk = prediction_unit(sps, tp.frame_index, tp.predicted, unit.layer_id)
                predicted = True
        out.append(chunk)
    assert predicted, f"frame {frame} is not predicted"
    return b"".join(out)


def prediction_at_frame_end(data: bytes, frame: int) -> bytes:
    """The stream with the temporal_prediction unit of frame number `frame` moved to the end
    of its frame (after its data units and data hashes): it still applies (clause 5.3)."""
    units = _frame_units(data)
    (at,) = [k for k, (f, u, _) in enumerate(units)
             if f == frame and u.unit_type == UnitType.TEMPORAL_PREDICTION]
    end = max(k for k, (f, u, _) in enumerate(units) if f == frame
              and u.unit_type != UnitType.END_OF_STREAM)
    chunks = [c for _, _, c in units]
    moved = chunks[:at] + chunks[at + 1:end + 1] + [chunks[at]] + chunks[end + 1:]
    return write_signature() + b"".join(moved)


def _drifting(seed: int, frames: int, shape: tuple[int, ...], drift: float) -> np.ndarray:
    """Frames of a feature-like tensor that change a little from one frame to the next."""
    first = features(seed, {"x": (1, *shape)})["x"][0]
    rng = np.random.default_rng(seed + 1000)
    steps = rng.normal(0.0, drift, size=(frames - 1, *shape)).astype(np.float32)
    out = [first]
    for k in range(frames - 1):
        out.append((out[-1] + steps[k]).astype(np.float32))
    return np.stack(out)


def _jumping(seed: int, frames: int, shape: tuple[int, ...], limit: float) -> np.ndarray:
    """Frames drawn independently over [-limit, limit]: differences between frames beyond half
    the sample range, so that the modular sum of clause 5.9.1 wraps both ways."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-limit, limit, size=(frames, *shape)).astype(np.float32)


def _temporal_prediction() -> bytes:
    """Two tensors, five frames, uniform step, intra period 3: frames 1, 2 and 4 predicted,
    frame 3 a random-access point; frame 4 predicts tensor a only (b coded on its own)."""
    x = {"a": _drifting(41, 5, (3, 4, 5), 0.1), "b": _jumping(42, 5, (2, 3, 3), 6.3)}
    cfg = {"quant": "step", "step": 0.05, "bit_depth": 8}
    inter = encode(x, EncoderConfig(**cfg, intra_period=3))
    intra = encode(x, EncoderConfig(**cfg))
    return with_unpredicted_tensor(inter, intra, frame=4, tensor_idx=1)


def _temporal_prediction_layers() -> bytes:
    """Two layers (layer 1 depends on layer 0), uniform QP, three frames, every frame after
    the first predicted."""
    x = {"p": _drifting(43, 3, (4, 4, 4), 0.2), "q": _jumping(44, 3, (3, 2, 5), 3.0)}
    return encode(x, EncoderConfig(quant="qp", qp=28, bit_depth=10, layers=2, intra_period=0))


def _temporal_prediction_minmax() -> bytes:
    """Min/max per tensor (SampleMin 0), 4 bits, six frames with intra period 2 extracted from
    frame 2 (clause 7): the stream's first frame has frame_index 2, frames 3 and 5 are
    predicted; frame 5's temporal_prediction unit comes after its data units and data hash."""
    x = {"m": _jumping(45, 6, (2, 3, 4), 1.0), "n": _drifting(46, 6, (2, 2, 2), 0.3)}
    stream = encode(x, EncoderConfig(quant="minmax", bit_depth=4, intra_period=2))
    return prediction_at_frame_end(extract(stream, from_frame=2), frame=3)


def _zero_frames() -> bytes:
    """A stream parameter set and end of stream, no frame."""
    from vcmref.bitstream.parameter_sets import stream_parameter_set

    x = features(3, {"only": (1, 2, 3, 3)})
    sps = build_sps(x, EncoderConfig(quant="step", step=0.5, bit_depth=6))
    w = Writer(unit="stream_parameter_set")
    stream_parameter_set(w, sps)
    return b"".join([write_signature(),
                     write_unit(UnitType.STREAM_PARAMETER_SET, 0, w.getvalue()),
                     write_unit(UnitType.END_OF_STREAM, 0, b"")])


def _level_limits() -> bytes:
    """Level 10 at its limits: 8 tensors, 1024 channels, 4 layers, a 4096-sample-wide tile."""
    shapes = {f"t{i}": (1, 4, 2, 2) for i in range(6)}
    shapes["wide"] = (1, 4, 1, 1024)
    shapes["many"] = (1, 1024, 1, 1)
    return encode(features(21, shapes), EncoderConfig(
        bit_depth=8, layers=4, level=10, lane_limit=16,
        layer_channels=[{**{f"t{i}": 1 for i in range(6)}, "wide": 4, "many": 256}]
        + [{**{f"t{i}": 1 for i in range(6)}, "many": 256} for _ in range(3)],
        tile_columns=4))


def _unit_samples_limit() -> bytes:
    """Data units of exactly level 10's MaxUnitSamples: a whole 512x512 tile, and a 1024x512
    tile that the encoder cuts into two units of 512 rows."""
    rng = np.random.default_rng(22)
    sparse = np.zeros((2, 1, 1024, 512), np.float32)
    sparse[rng.random(sparse.shape) < 0.001] = 1.5
    return encode({"whole": sparse[:, :, :512], "cut": sparse},
                  EncoderConfig(quant="step", step=0.5, bit_depth=4, level=10))


def _base_layer_only() -> bytes:
    """A three-layer stream after extraction of layer 0: the SPS still declares three layers."""
    data = encode(features(5, {"a": (2, 6, 4, 4)}), EncoderConfig(
        quant="qp", qp=36, bit_depth=10, layers=3))
    return extract(data, max_layers=1)


def _feature_anchor(seed: int, shapes: dict[str, tuple[int, ...]], **cfg) -> Callable[[], bytes]:
    """An inner-codec stream (entropy_coder_idc 1) from the feature anchor."""
    def build() -> bytes:
        from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor

        return encode_feature_anchor(features(seed, shapes), FeatureAnchorConfig(**cfg)).stream
    return build


CASES: tuple[Case, ...] = (
    Case("minmax_b10_basic", "one tensor, 10-bit min/max per tensor, default tools",
         ("quant_mode 0", "bit depth 10", "one tensor", "one layer"),
         _encoded(1, {"x": (1, 8, 6, 6)})),
    Case("minmax_b1", "1-bit samples: every sample 0 or 1",
         ("bit depth 1", "quant_mode 0"), _encoded(2, {"x": (1, 4, 5, 7)}, bit_depth=1)),
    Case("minmax_channel_b8", "8-bit min/max per channel, two tensors",
         ("quant_mode 1", "bit depth 8", "per-channel parameters", "several tensors"),
         _encoded(3, {"p3": (1, 6, 6, 6), "p4": (1, 5, 3, 3)}, quant="minmax-channel",
                  bit_depth=8)),
    Case("minmax_b12_frames", "12-bit min/max, three frames",
         ("bit depth 12", "several frames"),
         _encoded(4, {"x": (3, 3, 5, 4)}, bit_depth=12)),
    Case("minmax_b16_escapes", "16-bit samples: large magnitudes coded with escape bits, "
         "direct_token_log2 2 and its top class 3",
         ("bit depth 16", "escape tokens", "direct_token_log2 2"),
         _encoded(5, {"x": (1, 4, 6, 6)}, scale=40.0, bit_depth=16, direct_token_log2=2,
                  max_magnitude_class=3)),
    Case("qp_tensors", "uniform QP with per-tensor QP deltas (negative, zero, positive)",
         ("quant_mode 2", "qp_delta signs", "three tensors"),
         _encoded(6, {"a": (1, 5, 4, 4), "b": (1, 3, 6, 2), "c": (1, 2, 3, 3)}, quant="qp",
                  qp=30, tensor_qp={"a": 24, "c": 40}, bit_depth=12)),
    Case("step_layers_deps", "explicit step, three layers, layer 2 depends on 0 and 1, two "
         "frames", ("quant_mode 3", "several layers", "layer dependencies", "several frames"),
         _encoded(7, {"s": (2, 9, 5, 5)}, quant="step", step=0.1, bit_depth=12, layers=3,
                  layer_refs=[[], [0], [0, 1]])),
    Case("step_independent_layers", "two layers, the second with no dependency, large step",
         ("layers without dependency", "step >= 1"),
         _encoded(8, {"s": (1, 6, 4, 4)}, scale=8.0, quant="step", step=2.5, bit_depth=8,
                  layers=2, layer_refs=[[], []])),
    Case("tiles_units_lanes", "3-column tiles cut into 5-row data units (cells split across "
         "units), wavefront blocks of 3, one rANS lane",
         ("tile_columns > 1", "rows_per_unit > 0", "wavefront_block_size > 0", "lane_limit 1"),
         _encoded(9, {"t": (1, 7, 4, 6)}, tile_columns=3, rows_per_unit=5,
                  wavefront_block_size=3, lane_limit=1)),
    Case("lanes_unlimited", "one lane per wavefront sample, direct_token_log2 6 with its top "
         "class 9", ("lane_limit 0", "direct_token_log2 6", "top magnitude class"),
         _encoded(10, {"t": (1, 5, 7, 7)}, scale=6.0, quant="step", step=0.05, bit_depth=12,
                  lane_limit=0, direct_token_log2=6, max_magnitude_class=9)),
    Case("channel_order", "explicit channel order, two layers",
         ("channel_order_explicit_flag 1",),
         _encoded(12, {"c": (1, 6, 3, 3)}, layers=2, channel_order={"c": [4, 0, 5, 2, 1, 3]})),
    Case("no_hashes", "no decoded-data hash units, two frames", ("hash units absent",),
         _encoded(13, {"h": (2, 4, 4, 4)}, hashes=False)),
    Case("reserved_units", "reserved unit types 7, 64 and 127 that decoders skip",
         ("reserved unit types",), _with_reserved_units),
    Case("zero_frames", "a stream without frames", ("no frame",), _zero_frames),
    Case("level10_limits", "level 10 at its limits: 8 tensors, 1024 channels, 4 layers, a "
         "4096-sample-wide tile", ("sizes at the level limits",), _level_limits),
    Case("level10_unit_samples", "level 10 data units of exactly MaxUnitSamples samples, two "
         "frames: a whole-tile unit and a tile cut into units by rows_per_unit",
         ("MaxUnitSamples at the limit",), _unit_samples_limit),
    Case("level20_constant", "level 20; an all-zero tensor and a constant tensor, "
         "max_magnitude_class 0, a non-zero tile padding value",
         ("level 20", "single-token contexts", "max_magnitude_class 0", "tile padding"),
         lambda: encode({"zero": np.zeros((1, 3, 4, 4), np.float32),
                         "const": np.full((1, 2, 3, 5), -1.25, np.float32)},
                        EncoderConfig(quant="step", step=0.25, bit_depth=9, level=20,
                                      max_magnitude_class=0, tile_padding=-7))),
    Case("negative_offset", "uniform QP on mostly negative values: negative sample offsets",
         ("sample_offset < 0",),
         _encoded(14, {"n": (1, 4, 5, 5)}, shift=-0.5, quant="qp", qp=20, bit_depth=10)),
    Case("base_layer_only", "layer 0 of a three-layer stream, extracted",
         ("layers absent after extraction",), _base_layer_only),
    Case("minmax_signed_ranges", "per-tensor min/max that are negative, zero and positive",
         ("tensor_min and tensor_max signs",), lambda: _signed_ranges(False)),
    Case("minmax_channel_signed_ranges", "per-channel min/max that are negative, zero and "
         "positive", ("channel_min and channel_max signs",), lambda: _signed_ranges(True)),
    Case("qp0_sparse", "init_qp 0 on a sparse tensor: rare tokens of weight 1",
         ("init_qp 0", "token weight 1"), _sparse_qp0),
    Case("empty_ans_data", "data units whose ANS data is empty (all its bits are zero)",
         ("ans_bytes 0",), _empty_ans_data),
    Case("full_weight_lists", "token weights written out to the last token",
         ("num_token_weights_minus1 = NumTokens - 1",), _full_weight_lists),
    Case("inner_vvc_frames", "inner codec H.266/VVC (vvenc), 10-bit min/max samples in 10-bit "
         "pictures, two tensors, two frames whose pictures one inner_codec_data unit carries",
         ("entropy_coder_idc 1", "inner_codec_idc 1 (VVC)", "picture bit depth = sample bit "
          "depth", "num_pictures_minus1 > 0", "a frame taking a picture left from an earlier "
          "unit"),
         _feature_anchor(31, {"a": (2, 4, 4, 4), "b": (2, 3, 3, 5)}, codec="vvenc", qp=32,
                         bit_depth=10, frames_per_unit=2),
         external=True),
    Case("inner_hevc_lossless_layers", "inner codec H.265/HEVC (x265, lossless), 8-bit samples "
         "in 10-bit pictures, two layers, two frames with one inner_codec_data unit each",
         ("inner_codec_idc 2 (HEVC)", "picture bit depth > sample bit depth",
          "num_pictures_minus1 = 0", "inner codec with several layers"),
         _feature_anchor(32, {"x": (2, 6, 4, 4)}, codec="x265", qp=0, bit_depth=8,
                         picture_bit_depth=10, layers=2,
                         codec_options={"lossless": True}),
         external=True),
    Case("inner_hevc_p8_channel", "inner codec H.265/HEVC (kvazaar), 10-bit per-channel "
         "min/max samples in 8-bit pictures",
         ("inner_codec_idc 2 (HEVC)", "picture bit depth < sample bit depth", "quant_mode 1 "
          "with an inner codec"),
         _feature_anchor(33, {"k": (1, 5, 4, 4)}, codec="kvazaar", qp=30, bit_depth=10,
                         picture_bit_depth=8, quant="minmax-channel"),
         external=True),
    Case("restoration_model", "a restoration_model unit (type 9) after the stream parameter "
         "set, naming a model that is not shipped: the decoded samples and values are those of "
         "the stream without it; two layers, two frames",
         ("restoration_model unit", "restoration_type 1", "model_sha256"),
         _with_restoration_model),
    Case("temporal_prediction", "temporal prediction (type 10, profile 2): two tensors, five "
         "frames, uniform step, 8 bits, intra period 3 (frame 3 a random-access point); frame 4 "
         "predicts one tensor and codes the other on its own; differences between frames wrap "
         "around the sample range both ways",
         ("profile_idc 2", "temporal_prediction unit", "predicted_flag 0 and 1",
          "a random-access point after predicted frames", "modular sum wrapping both ways"),
         _temporal_prediction),
    Case("temporal_prediction_layers", "temporal prediction in a two-layer stream (layer 1 "
         "depends on layer 0), uniform QP, 10 bits, three frames, every frame after the first "
         "predicted", ("temporal prediction with several layers", "a predicted frame predicted "
                       "from a predicted frame"),
         _temporal_prediction_layers),
    Case("temporal_prediction_base_layer", "layer 0 of temporal_prediction_layers, extracted: "
         "predicted frames whose layer-1 channels are 0 in every frame",
         ("temporal prediction with a layer absent",),
         lambda: extract(_temporal_prediction_layers(), max_layers=1)),
    Case("temporal_prediction_minmax", "temporal prediction with min/max per tensor (SampleMin "
         "0), 4 bits: frames 2 to 5 of a stream with intra period 2, extracted from its "
         "random-access point 2 (the stream's first frame has frame_index 2); frame 5's "
         "temporal_prediction unit comes last in its frame",
         ("temporal prediction with quant_mode 0", "first frame_index > 0",
          "a temporal_prediction unit after the frame's data units"),
         _temporal_prediction_minmax),
)
