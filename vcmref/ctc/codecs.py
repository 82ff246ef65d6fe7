"""The codecs a CTC config names, behind one small interface: encode an item's input (the
split-point tensors, or the R'G'B' image) at a rate point to bytes, and decode those bytes
back, from the bytes and the item's size alone (so encoding and evaluation can run apart).

Each codec kind declares, as data, the settings it takes (`parameters`: the keys of
`codecs.NAME.params`, with type, range or choices and default) and the parameters a rate
point may set (`rate_parameters`: the type and range of `points`, and the settings each needs,
e.g. `step` only with `quant: step`); the config loader checks a config against them before
anything runs, so a new kind is checked the same way.

Each kind registers itself in `vcmref.registry.CODECS` under the name a config gives it
(``codecs.NAME.kind``), with the decorator ``@CODECS.register("kind")``; third-party kinds
plug in through the entry-point group ``vcmref.codecs``. A kind derives from one of
`FeatureCodec` (the task's split-point tensors), `ImageCodec` (the R'G'B' image) or
`SequenceCodec` (a video), which say what it codes and how the runner gets it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vcmref.anchors.feature_anchor import ANCHOR_QUANT
from vcmref.bitstream.levels import LEVELS
from vcmref.bitstream.parameter_sets import DIRECT_TOKEN_LOG2_RANGE, MAX_MAGNITUDE_CLASS, MAX_QP
from vcmref.ctc.config import CodecConfig, ConfigError
from vcmref.errors import EncoderInputError
from vcmref.media.color import CHROMA_FORMATS, MATRICES
from vcmref.params import Param, Settings, defaults
from vcmref.refsw.encoder.encoder import QUANT_MODES
from vcmref.registry import CODECS

Tensors = dict[str, np.ndarray]


def _anchor(settings: Settings):
    """The class of the anchor codec that `codec` names (checked before: declared first)."""
    from vcmref.anchors.registry import codec_class

    return codec_class(settings["codec"])


def _anchor_names(settings: Settings) -> list[str]:
    from vcmref.anchors.registry import codec_names

    return codec_names()


def _restoration_models() -> tuple[str, ...]:
    from vcmref.refsw.restoration import shipped_models

    return tuple(shipped_models())


# -- declared parameters ------------------------------------------------------------------------

# The fields of vcmref.refsw.encoder.EncoderConfig (a test checks names and defaults).
ENCODER_PARAMETERS = (
    Param("bit_depth", int, 10, min=1, max=16),
    Param("quant", str, "minmax", choices=tuple(QUANT_MODES)),
    Param("qp", int, optional=True, min=0, max=MAX_QP, requires={"quant": ("qp",)}),
    Param("step", float, optional=True, positive=True, requires={"quant": ("step",)}),
    Param("layers", int, 1, min=1),
    Param("layer_channels", list, optional=True, items=dict),
    Param("layer_refs", list, optional=True, items=list),
    Param("channel_order", dict, optional=True),
    Param("tensor_qp", dict, optional=True, requires={"quant": ("qp",)}),
    Param("tile_padding", int, optional=True),
    Param("tile_columns", int, optional=True, min=1),
    Param("rows_per_unit", int, 0, min=0),
    Param("max_magnitude_class", int, 7, min=0, max=MAX_MAGNITUDE_CLASS),
    Param("direct_token_log2", int, 5, min=DIRECT_TOKEN_LOG2_RANGE[0],
          max=DIRECT_TOKEN_LOG2_RANGE[1]),
    Param("wavefront_block_size", int, 0, min=0),
    Param("lane_limit", int, 64, min=0),
    Param("model_id", str, ""),
    Param("split_point", str, ""),
    Param("hashes", bool, True),
    Param("level", int, optional=True, choices=tuple(LEVELS)),
    Param("intra_period", int, 1, min=0,
          doc="temporal prediction: 1 all intra; N a random-access point every N frames; 0 the "
              "first frame only"),
    Param("temporal_deadzone", float, 0.0, min=0.0, max=0.5,
          doc="predicted frames keep the reference sample within 0.5 + this many steps"),
)
# What a rate point of the vcmref codec sets: the step or QP of uniform quantization, or the
# bit depth of min/max quantization.
ENCODER_RATE_PARAMETERS = (
    Param("step", float, positive=True, requires={"quant": ("step",)}),
    Param("qp", int, min=0, max=MAX_QP, requires={"quant": ("qp",)}),
    Param("bit_depth", int, min=1, max=16, requires={"quant": ("minmax", "minmax-channel")}),
)

ANCHOR_CODEC = Param("codec", str, "vvenc", choices=_anchor_names)
# The keyword arguments of the anchor codec's class (VideoCodec.options).
ANCHOR_CODEC_OPTIONS = Param("codec_options", dict, {}, fields=lambda s: _anchor(s).options)
ANCHOR_QP = Param("qp", int, min=0, max=lambda s: _anchor(s).max_qp)

# The fields of vcmref.anchors.feature_anchor.FeatureAnchorConfig (a test checks them).
FEATURE_ANCHOR_PARAMETERS = (
    ANCHOR_CODEC,
    ANCHOR_CODEC_OPTIONS,
    Param("qp", int, 32, min=0, max=lambda s: _anchor(s).max_qp),
    Param("bit_depth", int, 10, min=1, max=16),
    Param("quant", str, "minmax", choices=ANCHOR_QUANT),
    Param("picture_bit_depth", int, optional=True, choices=lambda s: _anchor(s).bit_depths),
    Param("frames_per_unit", int, 1, min=1),
    Param("layers", int, 1, min=1),
    Param("model_id", str, ""),
    Param("split_point", str, ""),
    Param("hashes", bool, True),
    Param("level", int, optional=True, choices=tuple(LEVELS)),
    Param("verify_qp", bool, True),
    Param("tensor_qp_offsets", dict, optional=True,
          doc="tensor name -> QP offset; each tensor then gets its own picture"),
    Param("max_quantile", float, optional=True, min=0.5, max=1.0,
          doc="signal this quantile as the max and clip above it"),
    Param("channel_sort", str, optional=True, choices=("mean", "chain"),
          doc="order of the channels in the tiles"),
    Param("tensor_range_offsets", dict, optional=True,
          doc="tensor name -> QP-like offset >= 0, by widening its signalled range"),
    Param("restoration", str, optional=True, choices=lambda s: _restoration_models(),
          doc="a restoration model applied after decoding (spec clause 8), named in the stream"),
)

IMAGE_ANCHOR_PARAMETERS = (
    ANCHOR_CODEC,
    ANCHOR_CODEC_OPTIONS,
    Param("matrix", str, "bt709", choices=tuple(MATRICES)),
    Param("full_range", bool, False),
    Param("bit_depth", int, 10, choices=lambda s: _anchor(s).bit_depths,
          doc="a bit depth the codec codes"),
    Param("chroma", str, "420", doc="a chroma format the codec codes",
          choices=lambda s: tuple(c for c in CHROMA_FORMATS
                                  if c in {f.value for f in _anchor(s).chroma_formats})),
)

VIDEO_ANCHOR_PARAMETERS = (
    ANCHOR_CODEC,
    ANCHOR_CODEC_OPTIONS,
    Param("bit_depth", int, optional=True, choices=lambda s: _anchor(s).bit_depths,
          doc="a bit depth the codec codes; default: the sequence's"),
)


@dataclass(frozen=True)
class Extent:
    """How much an item's input holds: frames (and their rate, for video) and, for tensors,
    samples; the record's rates (bpp, bits per sample, kbps) are computed from it."""

    frames: int = 1
    frame_rate: float | None = None
    samples: int | None = None


class CtcCodec(ABC):
    """One codec of a config. `input` names what it codes ('features', 'image' or 'video':
    a metric measures the inputs it has a method of that name for); `media` the datasets it
    codes from ('image' or 'video'); `needs_split` whether it codes the task's split-point
    tensors (a config with task.split has only such codecs, and one without none)."""

    input: ClassVar[str]
    media: ClassVar[str] = "image"
    needs_split: ClassVar[bool] = False
    parameters: ClassVar[tuple[Param, ...]]  # the keys of codecs.NAME.params
    rate_parameters: ClassVar[tuple[Param, ...]]  # what rate_parameter may name
    # The rate parameters the rate-point search may vary (the rate falls as they grow): an
    # integer one over its declared range, a float one over quarter-octave steps.
    searchable: ClassVar[tuple[str, ...]] = ("qp", "step")
    # Searchable rate parameters whose rate rises as they grow (a learned codec's quality).
    rate_rises: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: CodecConfig) -> None:
        self.cfg = cfg

    def _settings(self, point: Any) -> dict[str, Any]:
        return {**self.cfg.params, self.cfg.rate_parameter: point}

    @classmethod
    def validate(cls, settings: Settings, prefix: str) -> None:
        """Checks of `params` (defaults filled in) beyond the declared types and ranges, when
        the config loads (raise vcmref.params.ParamError); default: none."""
        return None

    @classmethod
    def check_inputs(cls, settings: Settings, points: list[Any]) -> None:
        """Raise vcmref.params.ParamError (key in params, what was expected) for a file the
        codec needs at these rate points that is not there; called before a run directory is
        created. Default: nothing to check."""
        return None

    def prepare(self, point: Any) -> None:
        """Load what coding at `point` needs (e.g. a model), so that the timed encode and
        decode do not count it; default: nothing."""
        return None

    @abstractmethod
    def original(self, run: Any, item: Any) -> Any:
        """The item's input as this codec codes it; `run` is the runner's per-process state
        (vcmref.ctc.runner.Run: `dataset`, `features(item)`)."""

    def extent(self, original: Any) -> Extent:
        """Frames, frame rate and samples of an input (default: one picture)."""
        return Extent()

    def frame(self, decoded: Any, index: int, dataset: Any) -> Any:
        """Frame `index` of what this codec decoded from a sequence, as the task takes it;
        default: a codec of pictures codes no sequence."""
        raise ConfigError(f"codecs.{self.cfg.name}: a {self.input} codec cannot code a "
                          "sequence's frames")

    @abstractmethod
    def encode(self, data: Any, point: Any) -> bytes:
        """The bitstream of `data` at rate point `point`."""

    @abstractmethod
    def decode(self, bitstream: bytes, width: int, height: int, point: Any,
               like: Any = None) -> Any:
        """Decoded tensors (float32 (C, H, W) by name), R'G'B' image (H, W, 3) uint8 or
        sequence, from the bitstream and the item's size; `like` is the original input, for
        codecs whose decoder needs its format (a sequence's chroma format, bit depth and
        frame rate); the others ignore it."""


class FeatureCodec(CtcCodec):
    """A codec of the task's split-point tensors (float32 (C, H, W) by name)."""

    input = "features"
    needs_split = True

    def original(self, run: Any, item: Any) -> Tensors:
        return run.features(item)

    def extent(self, original: Tensors) -> Extent:
        """A sequence's tensors are (F, C, H, W): F frames."""
        frames = {v.shape[0] if v.ndim == 4 else 1 for v in original.values()}
        return Extent(frames=max(frames), samples=int(sum(v.size for v in original.values())))

    def frame(self, decoded: Tensors, index: int, dataset: Any) -> Tensors:
        return {name: x[index] for name, x in decoded.items()}


class ImageCodec(CtcCodec):
    """A codec of the item's R'G'B' image ((H, W, 3) uint8)."""

    input = "image"

    def original(self, run: Any, item: Any) -> np.ndarray:
        return run.dataset.load_image(item)


class SequenceCodec(CtcCodec):
    """A codec of a video item (a YuvSequence: the dataset's first frames of the sequence)."""

    input = "video"
    media = "video"

    def original(self, run: Any, item: Any) -> Any:
        return run.dataset.load_video(item)

    def extent(self, original: Any) -> Extent:
        return Extent(frames=original.num_frames, frame_rate=float(original.frame_rate))

    def frame(self, decoded: Any, index: int, dataset: Any) -> np.ndarray:
        """The decoded frame as R'G'B' with the dataset's matrix and range."""
        from vcmref.eval.datasets.video import frame_to_rgb

        return frame_to_rgb(decoded, index, matrix=dataset.matrix,
                            full_range=dataset.full_range).astype(np.uint8)


@CODECS.register("vcmref-features")
class VcmrefFeatures(FeatureCodec):
    """The vcmref codec on split-point tensors; params are EncoderConfig fields."""

    parameters = ENCODER_PARAMETERS
    rate_parameters = ENCODER_RATE_PARAMETERS

    def encode(self, data: Tensors, point: Any) -> bytes:
        from vcmref.refsw.encoder import EncoderConfig, encode

        try:
            cfg = EncoderConfig(**self._settings(point))
        except TypeError as e:
            raise ConfigError(f"codecs.{self.cfg.name}.params: {e}") from None
        return encode(data, cfg)

    def decode(self, bitstream: bytes, width: int, height: int, point: Any,
               like: Any = None) -> Tensors:
        from vcmref.media.inner_decoders import decode_inner_pictures
        from vcmref.refsw.decoder import Decoder
        from vcmref.refsw.restoration import model_for

        result = Decoder(inner_decoder=decode_inner_pictures).decode(bitstream)
        if len(result.frames) == 1:
            tensors = result.frames[0].tensors
        else:  # a sequence's frames: (F, C, H, W) per tensor, as the input was
            tensors = {name: np.stack([f.tensors[name] for f in result.frames])
                       for name in result.frames[0].tensors}
        if result.restoration is not None:
            tensors = model_for(result.restoration.model_sha256).restore(tensors)
        return tensors


@CODECS.register("feature-anchor")
class FeatureAnchorCodec(VcmrefFeatures):
    """The FCM feature anchor (quantize, tile, VVC/HEVC); params are FeatureAnchorConfig
    fields, the rate parameter is qp."""

    parameters = FEATURE_ANCHOR_PARAMETERS
    rate_parameters = (ANCHOR_QP,)

    def encode(self, data: Tensors, point: Any) -> bytes:
        from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor

        try:
            cfg = FeatureAnchorConfig(**self._settings(point))
        except TypeError as e:
            raise ConfigError(f"codecs.{self.cfg.name}.params: {e}") from None
        return encode_feature_anchor(data, cfg).stream


@CODECS.register("image-anchor")
class ImageAnchorCodec(ImageCodec):
    """An image coded by a VVC/HEVC anchor as one Y'CbCr picture; params: codec, matrix,
    full_range, bit_depth, chroma, codec_options; the rate parameter is qp."""

    parameters = IMAGE_ANCHOR_PARAMETERS
    rate_parameters = (ANCHOR_QP,)

    def _params(self) -> dict[str, Any]:
        return {**defaults(self.parameters), **self.cfg.params}

    def _codec(self):
        from vcmref.anchors.registry import get_codec

        p = self._params()
        return get_codec(p["codec"], **p["codec_options"])

    def encode(self, data: np.ndarray, point: Any) -> bytes:
        from vcmref.anchors.image_anchor import encode_image

        p = self._params()
        return encode_image(data, self._codec(), int(point), matrix=p["matrix"],
                            full_range=p["full_range"], bit_depth=p["bit_depth"],
                            chroma=p["chroma"])

    def decode(self, bitstream: bytes, width: int, height: int, point: Any,
               like: Any = None) -> np.ndarray:
        from vcmref.anchors.image_anchor import decode_image

        p = self._params()
        return decode_image(bitstream, self._codec(), width, height, matrix=p["matrix"],
                            full_range=p["full_range"], bit_depth=p["bit_depth"],
                            chroma=p["chroma"])


def _still_codecs() -> tuple[str, ...]:
    from vcmref.anchors.registry import IMAGE_CODECS

    return tuple(IMAGE_CODECS.names())


STILL_IMAGE_PARAMETERS = (
    Param("image_codec", str, "jpeg-pillow", choices=lambda s: _still_codecs(),
          doc="an image codec of vcmref.anchors.image_codecs"),
    Param("chroma", str, "420", choices=("420", "444"),
          requires={"image_codec": ("jpeg", "jpeg-pillow")}),
)
# The rate parameter of each still-image codec: Pillow's quality (the rate rises with it),
# ffmpeg mjpeg's quantizer scale, JPEG 2000's compression ratio (even; 24 / ratio bpp).
STILL_IMAGE_RATE_PARAMETERS = (
    Param("quality", int, min=1, max=100, requires={"image_codec": ("jpeg-pillow",)}),
    Param("q", int, min=2, max=31, requires={"image_codec": ("jpeg",)}),
    Param("ratio", int, min=2, requires={"image_codec": ("jpeg2000",)}),
)


@CODECS.register("still-image")
class StillImageCodec(ImageCodec):
    """An R'G'B' image coded by a still-image codec (JPEG by Pillow or ffmpeg, JPEG 2000); the
    rate parameter is the codec's own (quality, q or ratio)."""

    parameters = STILL_IMAGE_PARAMETERS
    rate_parameters = STILL_IMAGE_RATE_PARAMETERS
    searchable = ("quality", "q")
    rate_rises = ("quality",)

    def _codec(self, point: Any):
        from vcmref.anchors.registry import get_image_codec

        p = {**defaults(self.parameters), **self.cfg.params}
        options = {self.cfg.rate_parameter: point}
        if p["image_codec"] in ("jpeg", "jpeg-pillow"):
            options["chroma"] = p["chroma"]
        return get_image_codec(p["image_codec"], **options)

    def encode(self, data: np.ndarray, point: Any) -> bytes:
        return self._codec(point).encode(data)[0]

    def decode(self, bitstream: bytes, width: int, height: int, point: Any,
               like: Any = None) -> np.ndarray:
        shape = (height, width, 3) if like is None else like.shape
        return self._codec(point).decode(bitstream, np.zeros(shape, np.uint8))[0]


@CODECS.register("vcmref-image")
class VcmrefImage(ImageCodec):
    """An R'G'B' image coded by the vcmref codec as one 3-channel tensor of its 0..255 values;
    decoded values are rounded to the nearest integer and clipped to 0..255."""

    parameters = ENCODER_PARAMETERS
    rate_parameters = ENCODER_RATE_PARAMETERS

    def encode(self, data: np.ndarray, point: Any) -> bytes:
        from vcmref.refsw.encoder import EncoderConfig, encode

        if data.dtype != np.uint8 or data.ndim != 3 or data.shape[2] != 3:
            raise EncoderInputError(f"expected an (H, W, 3) uint8 image, got {data.dtype} "
                                    f"{data.shape}")
        tensor = data.transpose(2, 0, 1).astype(np.float32)
        try:
            cfg = EncoderConfig(**self._settings(point))
        except TypeError as e:
            raise ConfigError(f"codecs.{self.cfg.name}.params: {e}") from None
        return encode({"rgb": tensor}, cfg)

    def decode(self, bitstream: bytes, width: int, height: int, point: Any,
               like: Any = None) -> np.ndarray:
        from vcmref.refsw.decoder import Decoder

        tensor = Decoder().decode(bitstream).frames[0].tensors["rgb"]
        return np.clip(np.rint(tensor), 0, 255).astype(np.uint8).transpose(1, 2, 0)


@CODECS.register("video-anchor")
class VideoAnchorCodec(SequenceCodec):
    """A sequence coded by an anchor codec in its own chroma format; params: codec,
    codec_options (e.g. intra_period) and bit_depth, the coding bit depth (default: the
    sequence's; 8-bit video coded at 10 bits is shifted up by 2, v << 2, and decoded samples
    come back as (v + 2) >> 2, clipped, as in vcmref.media.color). The rate parameter is
    qp; the QP read back from the bitstream is checked as for every anchor."""

    parameters = VIDEO_ANCHOR_PARAMETERS
    rate_parameters = (ANCHOR_QP,)

    def _codec(self):
        from vcmref.anchors.registry import get_codec

        p = {**defaults(self.parameters), **self.cfg.params}
        return get_codec(p["codec"], **p["codec_options"])

    def _coded(self, seq: Any) -> Any:
        from vcmref.media.color import expand_bit_depth
        from vcmref.media.yuv import YuvSequence

        depth = self.cfg.params.get("bit_depth")
        depth = seq.bit_depth if depth is None else int(depth)
        if depth == seq.bit_depth:
            return seq
        if depth < seq.bit_depth:
            raise ConfigError(f"codecs.{self.cfg.name}.params.bit_depth: expected at least the "
                              f"video's {seq.bit_depth} bits, got {depth}")
        planes = tuple(expand_bit_depth(p, seq.bit_depth, depth) for p in seq.planes)
        return YuvSequence(planes, seq.chroma_format, depth, seq.frame_rate)

    def encode(self, data: Any, point: Any) -> bytes:
        return self._codec().encode_checked(self._coded(data), int(point))[0]

    def decode(self, bitstream: bytes, width: int, height: int, point: Any,
               like: Any = None) -> Any:
        from vcmref.media.color import reduce_bit_depth
        from vcmref.media.yuv import YuvSequence

        decoded = self._codec().decode(bitstream, self._coded(like))[0]
        if decoded.bit_depth == like.bit_depth:
            return decoded
        planes = tuple(reduce_bit_depth(p, decoded.bit_depth, like.bit_depth)
                       for p in decoded.planes)
        return YuvSequence(planes, like.chroma_format, like.bit_depth, like.frame_rate)


def make_codec(cfg: CodecConfig) -> CtcCodec:
    """The codec of a config's codecs.NAME (its kind looked up in the registry)."""
    return CODECS.get(cfg.kind)(cfg)
