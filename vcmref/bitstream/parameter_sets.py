"""Stream parameter set (SPS): everything a decoder needs that does not change per frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from vcmref.bitstream.levels import LEVELS, PROFILES, Level
from vcmref.bitstream.syntax import SyntaxDirection

MAX_NAME_BYTES = 255
MAX_SAMPLE_BIT_DEPTH = 16
MAX_QP = 63
MAX_MAGNITUDE_CLASS = 15
# u >= MAGNITUDE_CLASS_THRESHOLDS[c - 1] puts a magnitude index u in class c or above;
# T_c = ceil(2**(c / 1.5) - 1), so class(u) = min(floor(1.5 * log2(u + 1)), max_magnitude_class).
MAGNITUDE_CLASS_THRESHOLDS = (1, 2, 3, 6, 10, 15, 25, 40, 63, 101, 161, 255, 406, 645, 1023)
DIRECT_TOKEN_LOG2_RANGE = (2, 6)


class QuantMode(IntEnum):
    """How integer samples map back to float32 values (spec: quantization)."""

    MINMAX_TENSOR = 0
    MINMAX_CHANNEL = 1
    UNIFORM_QP = 2
    UNIFORM_STEP = 3

    @property
    def is_minmax(self) -> bool:
        return self in (QuantMode.MINMAX_TENSOR, QuantMode.MINMAX_CHANNEL)


class EntropyCoder(IntEnum):
    """How samples are coded (spec: entropy decoding, inner codec pictures)."""

    WAVEFRONT_RANS = 0
    INNER_CODEC = 1  # each layer's tiles as monochrome pictures of a video codec


class InnerCodec(IntEnum):
    """Video codec of inner_codec_data units: its byte stream format (spec: inner codecs)."""

    H266_VVC = 1  # ITU-T H.266 Annex B byte stream
    H265_HEVC = 2  # ITU-T H.265 Annex B byte stream


@dataclass
class TensorInfo:
    """Name and shape of one tensor of the split point."""

    name: str = ""
    channels: int = 1
    height: int = 1
    width: int = 1

    @property
    def samples(self) -> int:
        return self.channels * self.height * self.width


@dataclass
class LayerInfo:
    """Channels each tensor contributes to the layer, and the lower layers it depends on."""

    channels: list[int] = field(default_factory=list)
    ref_layers: list[int] = field(default_factory=list)


@dataclass
class TileLayout:
    """How one tensor's channels are ordered and packed into one 2-D tile per layer."""

    channel_order: list[int] | None = None  # None: identity order
    rows_per_unit: int = 0  # tile rows per data unit; 0: the whole tile in one unit
    tile_columns: list[int] = field(default_factory=list)  # per layer, cells per tile row


@dataclass
class StreamParameterSet:
    profile_idc: int = 1
    level_idc: int = 10
    model_id: str = ""
    split_point_id: str = ""
    tensors: list[TensorInfo] = field(default_factory=list)
    sample_bit_depth: int = 10
    quant_mode: QuantMode = QuantMode.MINMAX_TENSOR
    init_qp: int = 0
    layers: list[LayerInfo] = field(default_factory=list)
    tile_layouts: list[TileLayout] = field(default_factory=list)
    tile_padding_value: int = 0
    entropy_coder: EntropyCoder = EntropyCoder.WAVEFRONT_RANS
    direct_token_log2: int = 5
    max_magnitude_class: int = 7
    wavefront_block_size: int = 0  # 0: each cell part is one wavefront block
    lane_limit: int = 0  # most rANS lanes per step; 0: one step per pass
    inner_codec: InnerCodec = InnerCodec.H266_VVC
    picture_bit_depth: int = 10  # luma bit depth of inner codec pictures

    @property
    def level(self) -> Level:
        return LEVELS[self.level_idc]

    @property
    def sample_min(self) -> int:
        return -(1 << (self.sample_bit_depth - 1)) if not self.quant_mode.is_minmax else 0

    @property
    def sample_max(self) -> int:
        if self.quant_mode.is_minmax:
            return (1 << self.sample_bit_depth) - 1
        return (1 << (self.sample_bit_depth - 1)) - 1

    def channel_order(self, t: int) -> list[int]:
        order = self.tile_layouts[t].channel_order
        return list(range(self.tensors[t].channels)) if order is None else order

    def layer_channels(self, t: int, layer: int) -> list[int]:
        """Tensor channel indices that layer `layer` carries for tensor t, in coding order."""
        start = sum(self.layers[k].channels[t] for k in range(layer))
        return self.channel_order(t)[start : start + self.layers[layer].channels[t]]


def stream_parameter_set(rw: SyntaxDirection, s: StreamParameterSet) -> StreamParameterSet:
    """Syntax of the stream parameter set payload (spec table: stream_parameter_set)."""
    s.profile_idc = rw.u(8, "profile_idc", s.profile_idc, min(PROFILES), max(PROFILES))
    level_idc = rw.u(8, "level_idc", s.level_idc)
    if level_idc not in LEVELS:  # raised even by a lax Writer: the limits below need a level
        raise rw.error(f"level {level_idc} is not one of {sorted(LEVELS)}", "level_idc")
    s.level_idc = level_idc
    lv = s.level
    assert s.profile_idc in PROFILES
    s.model_id = rw.string("model_id", s.model_id, MAX_NAME_BYTES)
    s.split_point_id = rw.string("split_point_id", s.split_point_id, MAX_NAME_BYTES)

    n_tensors = rw.ue("num_tensors_minus1", len(s.tensors) - 1, 0, lv.max_tensors - 1) + 1
    if rw.reading:
        s.tensors = [TensorInfo() for _ in range(n_tensors)]
    frame_samples = 0
    for t, ti in enumerate(s.tensors):
        ti.name = rw.string(f"tensor_name[{t}]", ti.name, MAX_NAME_BYTES)
        rw.require(all(other.name != ti.name for other in s.tensors[:t]),
                   f"tensor name {ti.name!r} used twice", f"tensor_name[{t}]")
        ti.channels = rw.ue(f"tensor_channels_minus1[{t}]", ti.channels - 1,
                            0, lv.max_channels - 1) + 1
        ti.height = rw.ue(f"tensor_height_minus1[{t}]", ti.height - 1,
                          0, lv.max_dimension - 1) + 1
        ti.width = rw.ue(f"tensor_width_minus1[{t}]", ti.width - 1,
                         0, lv.max_dimension - 1) + 1
        rw.require(ti.samples <= lv.max_tensor_samples,
                   f"tensor of {ti.samples} samples exceeds level {lv.idc}'s "
                   f"{lv.max_tensor_samples}", f"tensor_width_minus1[{t}]")
        frame_samples += ti.samples
    rw.require(frame_samples <= lv.max_frame_samples,
               f"frame of {frame_samples} samples exceeds level {lv.idc}'s "
               f"{lv.max_frame_samples}", f"tensor_width_minus1[{n_tensors - 1}]")

    s.sample_bit_depth = rw.u(4, "sample_bit_depth_minus1", s.sample_bit_depth - 1,
                              0, MAX_SAMPLE_BIT_DEPTH - 1) + 1
    s.quant_mode = QuantMode(rw.u(3, "quant_mode", int(s.quant_mode), 0, len(QuantMode) - 1))
    if s.quant_mode == QuantMode.UNIFORM_QP:
        s.init_qp = rw.u(6, "init_qp", s.init_qp, 0, MAX_QP)

    n_layers = rw.ue("num_layers_minus1", len(s.layers) - 1, 0, lv.max_layers - 1) + 1
    if rw.reading:
        s.layers = [LayerInfo() for _ in range(n_layers)]
    for layer, li in enumerate(s.layers):
        if rw.reading:
            li.channels = [0] * n_tensors
        for t, ti in enumerate(s.tensors):
            li.channels[t] = rw.ue(f"layer_channels[{layer}][{t}]", li.channels[t],
                                   0, ti.channels)
        rw.require(any(li.channels), f"layer {layer} carries no channel",
                   f"layer_channels[{layer}][{n_tensors - 1}]")
        if layer > 0:
            n_refs = rw.ue(f"num_ref_layers[{layer}]", len(li.ref_layers), 0, layer)
            if rw.reading:
                li.ref_layers = [0] * n_refs
            for i in range(n_refs):
                lo = li.ref_layers[i - 1] + 1 if i > 0 else 0
                li.ref_layers[i] = rw.ue(f"ref_layer_idx[{layer}][{i}]", li.ref_layers[i],
                                         lo, layer - 1)
    for t, ti in enumerate(s.tensors):
        total = sum(li.channels[t] for li in s.layers)
        rw.require(total == ti.channels, f"layers carry {total} channels of tensor {t}, which "
                   f"has {ti.channels}", f"layer_channels[{n_layers - 1}][{t}]")

    if rw.reading:
        s.tile_layouts = [TileLayout() for _ in range(n_tensors)]
    for t, ti in enumerate(s.tensors):
        tl = s.tile_layouts[t]
        explicit = rw.flag(f"channel_order_explicit_flag[{t}]", tl.channel_order is not None)
        if explicit:
            nbits = max(1, (ti.channels - 1).bit_length())
            if rw.reading:
                tl.channel_order = [0] * ti.channels
            seen = set()
            for i in range(ti.channels):
                c = rw.u(nbits, f"channel_order[{t}][{i}]", tl.channel_order[i],
                         0, ti.channels - 1)
                rw.require(c not in seen, f"channel {c} listed twice",
                           f"channel_order[{t}][{i}]")
                seen.add(c)
                tl.channel_order[i] = c
        else:
            tl.channel_order = None
        tl.rows_per_unit = rw.ue(f"rows_per_unit[{t}]", tl.rows_per_unit,
                                 0, lv.max_tile_dimension)
        if rw.reading:
            tl.tile_columns = [1] * n_layers
        for layer, li in enumerate(s.layers):
            n = li.channels[t]
            if n == 0:
                continue
            cols = rw.ue(f"tile_columns_minus1[{t}][{layer}]", tl.tile_columns[layer] - 1,
                         0, n - 1) + 1
            rows = -(-n // cols)
            rw.require(max(cols * ti.width, rows * ti.height) <= lv.max_tile_dimension,
                       f"tile of {cols}x{rows} cells exceeds level {lv.idc}'s "
                       f"{lv.max_tile_dimension} samples", f"tile_columns_minus1[{t}][{layer}]")
            tl.tile_columns[layer] = cols

    # The padding value and ranges below depend on the sample range set above.
    s.tile_padding_value = rw.se("tile_padding_value", s.tile_padding_value,
                                 s.sample_min, s.sample_max)
    s.entropy_coder = EntropyCoder(rw.u(4, "entropy_coder_idc", int(s.entropy_coder),
                                        0, len(EntropyCoder) - 1))
    if s.entropy_coder == EntropyCoder.WAVEFRONT_RANS:
        s.direct_token_log2 = rw.u(3, "direct_token_log2", s.direct_token_log2,
                                   *DIRECT_TOKEN_LOG2_RANGE)
        # Every escape token must fall in the top class, so that contexts need no escape bits.
        top = max(c for c in range(MAX_MAGNITUDE_CLASS + 1)
                  if c == 0 or MAGNITUDE_CLASS_THRESHOLDS[c - 1] <= 1 << s.direct_token_log2)
        s.max_magnitude_class = rw.u(4, "max_magnitude_class", s.max_magnitude_class, 0, top)
        s.wavefront_block_size = rw.ue("wavefront_block_size", s.wavefront_block_size,
                                       0, lv.max_dimension)
        s.lane_limit = rw.ue("lane_limit", s.lane_limit, 0, lv.max_tensor_samples)
        for t in range(n_tensors):
            for layer, li in enumerate(s.layers):
                if li.channels[t]:
                    bound = unit_samples_bound(s, t, layer)
                    rw.require(bound <= lv.max_unit_samples, f"data units of tensor {t} in "
                               f"layer {layer} may carry {bound} samples, above level "
                               f"{lv.idc}'s {lv.max_unit_samples}", f"rows_per_unit[{t}]")
    else:
        s.inner_codec = InnerCodec(rw.u(8, "inner_codec_idc", int(s.inner_codec),
                                        min(InnerCodec), max(InnerCodec)))
        s.picture_bit_depth = rw.u(4, "picture_bit_depth_minus1", s.picture_bit_depth - 1,
                                   0, MAX_SAMPLE_BIT_DEPTH - 1) + 1
        for layer in range(n_layers):
            width, height = picture_size(s, layer)
            rw.require(max(width, height) <= lv.max_tile_dimension,
                       f"layer {layer}'s picture of {width}x{height} samples exceeds level "
                       f"{lv.idc}'s {lv.max_tile_dimension}", "picture_bit_depth_minus1")
    rw.alignment()
    return s


def unit_samples_bound(s: StreamParameterSet, t: int, layer: int) -> int:
    """UnitRows x tile width of tensor t's tile in `layer` (clause 6): the most samples one of
    its data units carries."""
    ti, tl = s.tensors[t], s.tile_layouts[t]
    cols = tl.tile_columns[layer]
    height = -(-s.layers[layer].channels[t] // cols) * ti.height
    rows = height if tl.rows_per_unit == 0 else min(tl.rows_per_unit, height)
    return rows * cols * ti.width


def picture_size(s: StreamParameterSet, layer: int) -> tuple[int, int]:
    """(width, height) of a layer's inner codec picture: its tiles stacked top to bottom."""
    width = height = 0
    for t, ti in enumerate(s.tensors):
        n = s.layers[layer].channels[t]
        if n:
            cols = s.tile_layouts[t].tile_columns[layer]
            width = max(width, cols * ti.width)
            height += -(-n // cols) * ti.height
    return width, height
