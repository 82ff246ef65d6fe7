"""The feature anchor (FCM style): n-bit min/max quantization, tiles packed into monochrome
pictures, a VVC/HEVC encoder, and back. Non-normative encoder side.

The result is a vcmref stream (entropy_coder_idc 1): the stream parameter set carries shapes,
layout and bit depths, frame headers carry the min/max values, and inner_codec_data units carry
the inner codec's byte stream, so everything the decoder needs is in the stream. Each layer's
picture stacks its tensors' tiles top to bottom; tile columns are chosen so that the tiles have
the same width where the channel counts allow, which leaves little padding.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from vcmref.anchors.codec import CodecConfigError, QpReport, VideoCodec
from vcmref.anchors.registry import get_codec
from vcmref.bitstream.frame_units import (
    DataHash,
    FrameHeader,
    InnerCodecData,
    RestorationModelRef,
    data_hash,
    frame_header,
    inner_codec_data,
    restoration_model,
)
from vcmref.bitstream.parameter_sets import (
    EntropyCoder,
    InnerCodec,
    StreamParameterSet,
    picture_size,
    stream_parameter_set,
)
from vcmref.bitstream.units import UnitType, write_signature, write_unit
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.media.yuv import ChromaFormat, YuvSequence
from vcmref.refsw.encoder.encoder import EncoderConfig, as_frames, build_sps, serialize_unit
from vcmref.refsw.encoder.quantize import quantize_tensor
from vcmref.refsw.hashing import layer_samples_md5
from vcmref.refsw.inner_pictures import picture_tiles, place_picture
from vcmref.refsw.quantization import dequantize
from vcmref.refsw.tiles import tile_frame

INNER_CODEC_OF_FAMILY = {"vvc": InnerCodec.H266_VVC, "hevc": InnerCodec.H265_HEVC}
ANCHOR_QUANT = ("minmax", "minmax-channel")


@dataclass
class FeatureAnchorConfig:
    """Choices of the feature anchor; the defaults are the FCM CTC's (10-bit, VVC, intra)."""

    codec: str = "vvenc"  # a registered anchor codec (vcmref.anchors.codec.codec_names())
    codec_options: dict[str, object] = field(default_factory=dict)
    qp: int = 32
    bit_depth: int = 10  # of the min/max quantization
    quant: str = "minmax"  # or "minmax-channel"
    picture_bit_depth: int | None = None  # None: 10 when the codec takes it, else 8
    frames_per_unit: int = 1  # frames whose pictures one inner byte stream carries
    layers: int = 1
    model_id: str = ""
    split_point: str = ""
    hashes: bool = True
    level: int | None = None
    verify_qp: bool = True
    # Per-tensor QP offsets (non-normative bit allocation): each tensor gets its own layer,
    # coded as its own picture at qp + offset (tensors not named: offset 0).
    tensor_qp_offsets: dict[str, int] | None = None
    # Non-normative range choice: signal this quantile of each tensor (or channel) as its max
    # and clip above it; None: the true max, as the FCM anchor does.
    max_quantile: float | None = None
    # Non-normative packing choice: the order of each tensor's channels in its tile, signalled
    # in the stream parameter set. None: channel order; "mean": by decreasing mean value;
    # "chain": each next channel the one closest (mean squared difference) to the last.
    channel_sort: str | None = None
    # Non-normative bit allocation inside one picture: tensor name -> o >= 0; the tensor's
    # signalled range is widened by 2^(o/6), so that at one QP its samples are coded as if
    # at QP + o (lower the QP to keep the others' quality).
    tensor_range_offsets: dict[str, int] | None = None
    # Feature restoration after decoding (clause 8): a shipped model's name or a model file,
    # named in the stream by its SHA-256; None: none.
    restoration: str | None = None


@dataclass
class FeatureAnchorResult:
    """The stream, the tensors a decoder reconstructs from it, and what the coding cost."""

    stream: bytes
    tensors: dict[str, np.ndarray]  # float32 (F, C, H, W), as decoded (before restoration)
    inner_bytes: int
    encode_s: float  # the inner encoder's time
    decode_s: float  # the inner decoder's time
    wrapper_s: float  # everything else: quantization, packing, stream writing
    qp_reports: list[QpReport]
    picture_sizes: list[tuple[int, int]]  # (width, height) per layer

    @property
    def bits(self) -> int:
        return 8 * len(self.stream)


def equal_width_columns(channels: list[int], heights: list[int], widths: list[int]) -> list[int]:
    """Tile columns per tensor such that tiles share the widest about-square tile's width."""
    target = max(math.ceil(math.sqrt(c)) * w for c, w in zip(channels, widths, strict=True))
    return [max(1, min(c, target // w)) for c, w in zip(channels, widths, strict=True)]


def _check_tensor_names(option: str, per_tensor: dict[str, object],
                        frames: dict[str, np.ndarray]) -> None:
    unknown = sorted(set(per_tensor) - set(frames))
    if unknown:
        raise EncoderInputError(f"{option} names {unknown[0]!r}, which is not one of the "
                                f"tensors ({', '.join(frames)})")


CHANNEL_SORTS = ("mean", "chain")


def channel_order(x: np.ndarray, how: str) -> list[int]:
    """A coding order of the channels of x (F, C, H, W) that puts alike channels side by side
    in the tile, so that the inner codec's intra prediction finds them ("mean" or "chain")."""
    if how not in CHANNEL_SORTS:
        raise EncoderInputError(f"channel_sort {how!r}: expected one of "
                                f"{', '.join(CHANNEL_SORTS)}")
    flat = np.moveaxis(np.asarray(x, np.float64), 1, 0).reshape(x.shape[1], -1)
    means = flat.mean(axis=1)
    if how == "mean":
        return [int(c) for c in np.argsort(-means, kind="stable")]
    sq = (flat * flat).sum(axis=1)
    dist = sq[:, None] + sq[None, :] - 2 * flat @ flat.T
    order = [int(np.argmax(means))]
    left = np.ones(len(flat), bool)
    left[order[0]] = False
    while left.any():
        d = np.where(left, dist[order[-1]], np.inf)
        nxt = int(np.argmin(d))
        order.append(nxt)
        left[nxt] = False
    return order


def samples_to_picture(sps: StreamParameterSet, layer: int,
                       samples: list[np.ndarray]) -> np.ndarray:
    """The layer's picture (uint16, picture bit depth) from one frame's samples: the inverse of
    the normative mapping, rounding half up when the picture has fewer bits than the samples."""
    width, height = picture_size(sps, layer)
    picture = np.full((height, width), picture_padding(sps), dtype=np.uint16)
    for t, geom, y0 in picture_tiles(sps, layer):
        frame = tile_frame(samples[t], geom, sps.tile_padding_value)
        picture[y0:y0 + geom.height, :geom.width] = sample_to_picture_values(frame, sps)
    return picture


def sample_to_picture_values(v: np.ndarray, sps: StreamParameterSet) -> np.ndarray:
    """Picture samples for stream samples (spec clause 5.14, the encoder's inverse)."""
    shift = sps.picture_bit_depth - sps.sample_bit_depth
    u = np.asarray(v, dtype=np.int64) - sps.sample_min
    u = u << shift if shift >= 0 else (u + (1 << (-shift - 1))) >> -shift
    return np.minimum(u, (1 << sps.picture_bit_depth) - 1)


def picture_padding(sps: StreamParameterSet) -> np.ndarray:
    """The picture value of tile_padding_value: what fills picture areas outside the cells."""
    return sample_to_picture_values(np.asarray(sps.tile_padding_value), sps)


class FeatureAnchor:
    """Codes dicts of float tensors, (C, H, W) or (F, C, H, W), with an inner video codec."""

    def __init__(self, cfg: FeatureAnchorConfig | None = None) -> None:
        self.cfg = cfg or FeatureAnchorConfig()
        if self.cfg.quant not in ANCHOR_QUANT:
            raise EncoderInputError(f"feature anchor quantization {self.cfg.quant!r}: expected "
                                    f"one of {', '.join(ANCHOR_QUANT)}")
        if self.cfg.frames_per_unit < 1:
            raise EncoderInputError(f"frames_per_unit {self.cfg.frames_per_unit}: expected >= 1")
        self.codec: VideoCodec = get_codec(self.cfg.codec, **self.cfg.codec_options)
        if self.codec.family not in INNER_CODEC_OF_FAMILY:
            raise CodecConfigError(f"codec {self.codec.name} codes {self.codec.family}, which "
                                   "no inner_codec_idc identifies")
        depth = self.cfg.picture_bit_depth
        if depth is None:
            depth = 10 if 10 in self.codec.bit_depths else max(self.codec.bit_depths)
        if depth not in self.codec.bit_depths:
            raise CodecConfigError(f"{self.codec.name} codes bit depths "
                                   f"{list(self.codec.bit_depths)}, not {depth}")
        self.picture_bit_depth = depth
        self.chroma = (ChromaFormat.YUV400 if ChromaFormat.YUV400 in self.codec.chroma_formats
                       else ChromaFormat.YUV420)

    def build_sps(self, frames: dict[str, np.ndarray]) -> StreamParameterSet:
        cfg = self.cfg
        plan = refs = None
        if cfg.tensor_qp_offsets is not None:
            _check_tensor_names("tensor_qp_offsets", cfg.tensor_qp_offsets, frames)
            if cfg.layers != 1:
                raise EncoderInputError("tensor_qp_offsets gives each tensor its own layer: "
                                        "it cannot be combined with layers > 1")
            plan = [{name: x.shape[1]} for name, x in frames.items()]
            refs = [[] for _ in plan]
        order = None
        if cfg.channel_sort is not None:
            order = {name: channel_order(x, cfg.channel_sort) for name, x in frames.items()}
        sps = build_sps(frames, EncoderConfig(bit_depth=cfg.bit_depth, quant=cfg.quant,
                                              channel_order=order,
                                              layers=cfg.layers, layer_channels=plan,
                                              layer_refs=refs, model_id=cfg.model_id,
                                              split_point=cfg.split_point, level=cfg.level))
        sps.entropy_coder = EntropyCoder.INNER_CODEC
        sps.inner_codec = INNER_CODEC_OF_FAMILY[self.codec.family]
        sps.picture_bit_depth = self.picture_bit_depth
        for layer, li in enumerate(sps.layers):
            present = [t for t, n in enumerate(li.channels) if n]
            cols = equal_width_columns([li.channels[t] for t in present],
                                       [sps.tensors[t].height for t in present],
                                       [sps.tensors[t].width for t in present])
            for t, c in zip(present, cols, strict=True):
                sps.tile_layouts[t].tile_columns[layer] = c
        return sps

    def range_scales(self, frames: dict[str, np.ndarray]) -> dict[str, float]:
        """Each tensor's range widening 2^(o/6) from tensor_range_offsets (1 when absent)."""
        offsets = self.cfg.tensor_range_offsets or {}
        _check_tensor_names("tensor_range_offsets", offsets, frames)
        bad = {k: o for k, o in offsets.items() if not (isinstance(o, int) and 0 <= o <= 60)}
        if bad:
            name, o = next(iter(bad.items()))
            raise EncoderInputError(f"tensor_range_offsets[{name!r}] {o!r}: expected an "
                                    f"integer from 0 to 60")
        return {name: 2.0 ** (offsets.get(name, 0) / 6) for name in frames}

    def restoration_unit(self, sps: StreamParameterSet) -> list[bytes]:
        """The restoration_model unit naming cfg.restoration (checked against the tensors),
        or nothing."""
        if self.cfg.restoration is None:
            return []
        from vcmref.refsw.restoration import RestorationError, resolve_model

        try:
            model = resolve_model(self.cfg.restoration)
            model.check_shapes({ti.name: (ti.channels, ti.height, ti.width)
                                for ti in sps.tensors})
        except RestorationError as e:
            raise EncoderInputError(str(e)) from None
        ref = RestorationModelRef(model_sha256=model.sha256)
        return [serialize_unit(restoration_model, UnitType.RESTORATION_MODEL, 0, ref, sps)]

    def layer_qp(self, sps: StreamParameterSet, layer: int) -> int:
        """The inner codec's QP for a layer's pictures: qp, plus the offset of the layer's
        tensor when per-tensor offsets are given."""
        offsets = self.cfg.tensor_qp_offsets
        if offsets is None:
            return self.cfg.qp
        (t,) = [t for t, n in enumerate(sps.layers[layer].channels) if n]
        qp = self.cfg.qp + offsets.get(sps.tensors[t].name, 0)
        if not 0 <= qp <= self.codec.max_qp:
            raise EncoderInputError(f"QP {self.cfg.qp} + offset of tensor "
                                    f"{sps.tensors[t].name!r} = {qp}: outside {self.codec.name}'s "
                                    f"[0, {self.codec.max_qp}]")
        return qp

    def _sequence(self, pictures: list[np.ndarray], pad_value: int) -> YuvSequence:
        """The pictures as the codec takes them: padded right and below to a size it codes
        (decoders use the top-left part), with neutral chroma if it cannot code 4:0:0."""
        luma = np.stack(pictures)
        height, width = self.codec.codable_size(*luma.shape[1:], self.chroma)
        if (height, width) != luma.shape[1:]:
            luma = np.pad(luma, ((0, 0), (0, height - luma.shape[1]),
                                 (0, width - luma.shape[2])), constant_values=pad_value)
        if self.chroma is ChromaFormat.YUV400:
            return YuvSequence((luma,), self.chroma, self.picture_bit_depth)
        n, h, w = luma.shape
        neutral = np.full((n, (h + 1) // 2, (w + 1) // 2), 1 << (self.picture_bit_depth - 1),
                          np.uint16)
        return YuvSequence((luma, neutral, neutral), self.chroma, self.picture_bit_depth)

    def encode(self, tensors: dict[str, np.ndarray]) -> FeatureAnchorResult:
        start = time.perf_counter()
        if not tensors:
            raise EncoderInputError("no tensors to encode")
        frames = {name: as_frames(name, x) for name, x in tensors.items()}
        counts = {x.shape[0] for x in frames.values()}
        if len(counts) != 1:
            raise EncoderInputError("tensors have different frame counts")
        n_frames = counts.pop()
        sps = self.build_sps(frames)
        restoration = self.restoration_unit(sps)
        range_scales = self.range_scales(frames)
        names = list(frames)
        headers, samples = [], []
        for f in range(n_frames):
            fh = FrameHeader(frame_index=f)
            per_tensor = []
            for name in names:
                s, params, _ = quantize_tensor(frames[name][f], sps,
                                               max_quantile=self.cfg.max_quantile,
                                               range_scale=range_scales[name])
                fh.quant.append(params)
                per_tensor.append(s)
            headers.append(fh)
            samples.append(per_tensor)
        decoded = [{ti.name: np.zeros((ti.channels, ti.height, ti.width), np.int32)
                    for ti in sps.tensors} for _ in range(n_frames)]
        inner_units: dict[tuple[int, int], bytes] = {}
        encode_s = decode_s = 0.0
        reports = []
        for layer in range(len(sps.layers)):
            qp = self.layer_qp(sps, layer)
            for first in range(0, n_frames, self.cfg.frames_per_unit):
                chunk = range(first, min(first + self.cfg.frames_per_unit, n_frames))
                seq = self._sequence([samples_to_picture(sps, layer, samples[f])
                                      for f in chunk],
                                     int(picture_padding(sps)))
                coded = self.codec.code(seq, qp, verify_qp=self.cfg.verify_qp)
                encode_s += coded.encode_s
                decode_s += coded.decode_s
                if coded.qp_report is not None:
                    reports.append(coded.qp_report)
                width, height = picture_size(sps, layer)
                for k, f in enumerate(chunk):
                    place_picture(coded.decoded.planes[0][k, :height, :width], sps, layer,
                                  decoded[f])
                unit = InnerCodecData(first, len(chunk), coded.bitstream)
                inner_units[(first, layer)] = serialize_unit(
                    inner_codec_data, UnitType.INNER_CODEC_DATA, layer, unit, sps)
        out = [write_signature(),
               serialize_unit(stream_parameter_set, UnitType.STREAM_PARAMETER_SET, 0, sps),
               *restoration]
        tensors_out = {ti.name: np.zeros((n_frames, ti.channels, ti.height, ti.width),
                                         np.float32) for ti in sps.tensors}
        try:
            for f in range(n_frames):
                out.append(serialize_unit(frame_header, UnitType.FRAME_HEADER, 0, headers[f],
                                          sps))
                for layer in range(len(sps.layers)):
                    if (f, layer) in inner_units:
                        out.append(inner_units[(f, layer)])
                    planes = []
                    for t, _geom, _top in picture_tiles(sps, layer):
                        planes.append(decoded[f][names[t]][sps.layer_channels(t, layer)])
                    if self.cfg.hashes:
                        dh = DataHash(f, digest=layer_samples_md5(planes))
                        out.append(serialize_unit(data_hash, UnitType.DATA_HASH, layer, dh, sps))
                for t, ti in enumerate(sps.tensors):
                    chans = np.arange(ti.channels)
                    tensors_out[ti.name][f] = dequantize(decoded[f][ti.name], sps.quant_mode,
                                                         headers[f].quant[t],
                                                         sps.sample_bit_depth, chans)
            out.append(write_unit(UnitType.END_OF_STREAM, 0, b""))
        except BitstreamError as e:
            raise EncoderInputError(f"cannot write the stream: {e}") from None
        stream = b"".join(out)
        total = time.perf_counter() - start
        return FeatureAnchorResult(
            stream, tensors_out, sum(len(u) for u in inner_units.values()), encode_s,
            decode_s, total - encode_s - decode_s, reports,
            [picture_size(sps, layer) for layer in range(len(sps.layers))])


def encode_feature_anchor(tensors: dict[str, np.ndarray],
                          cfg: FeatureAnchorConfig | None = None) -> FeatureAnchorResult:
    """Code tensors with the feature anchor; see FeatureAnchorConfig."""
    return FeatureAnchor(cfg).encode(tensors)
