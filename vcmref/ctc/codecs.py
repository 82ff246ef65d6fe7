"""The codecs a CTC config names, behind one small interface: encode an item's input (the
split-point tensors, or the R'G'B' image) at a rate point to bytes, and decode those bytes
back, from the bytes and the item's size alone (so encoding and evaluation can run apart)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from vcmref.ctc.config import CodecConfig, ConfigError
from vcmref.errors import EncoderInputError

Tensors = dict[str, np.ndarray]


class CtcCodec(ABC):
    """One codec of a config; `input` is 'features', 'image' or 'video'."""

    input: str

    def __init__(self, cfg: CodecConfig) -> None:
        self.cfg = cfg

    def _settings(self, point: Any) -> dict[str, Any]:
        return {**self.cfg.params, self.cfg.rate_parameter: point}

    @abstractmethod
    def encode(self, data: Any, point: Any) -> bytes:
        """The bitstream of `data` at rate point `point`."""

    @abstractmethod
    def decode(self, bitstream: bytes, width: int, height: int, point: Any) -> Any:
        """Decoded tensors (float32 (C, H, W) by name) or R'G'B' image (H, W, 3) uint8."""


class VcmrefFeatures(CtcCodec):
    """The vcmref codec on split-point tensors; params are EncoderConfig fields."""

    input = "features"

    def encode(self, data: Tensors, point: Any) -> bytes:
        from vcmref.refsw.encoder import EncoderConfig, encode

        try:
            cfg = EncoderConfig(**self._settings(point))
        except TypeError as e:
            raise ConfigError(f"codecs.{self.cfg.name}.params: {e}") from None
        return encode(data, cfg)

    def decode(self, bitstream: bytes, width: int, height: int, point: Any) -> Tensors:
        from vcmref.refsw.decoder import Decoder

        return Decoder().decode(bitstream).frames[0].tensors


class FeatureAnchorCodec(VcmrefFeatures):
    """The FCM feature anchor (quantize, tile, VVC/HEVC); params are FeatureAnchorConfig
    fields, the rate parameter is qp."""

    def encode(self, data: Tensors, point: Any) -> bytes:
        from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor

        try:
            cfg = FeatureAnchorConfig(**self._settings(point))
        except TypeError as e:
            raise ConfigError(f"codecs.{self.cfg.name}.params: {e}") from None
        return encode_feature_anchor(data, cfg).stream


_IMAGE_DEFAULTS = {"codec": "vvenc", "matrix": "bt709", "full_range": False, "bit_depth": 10,
                   "chroma": "420", "codec_options": {}}


class ImageAnchorCodec(CtcCodec):
    """An image coded by a VVC/HEVC anchor as one Y'CbCr picture; params: codec, matrix,
    full_range, bit_depth, chroma, codec_options; the rate parameter is qp."""

    input = "image"

    def _params(self) -> dict[str, Any]:
        unknown = sorted(set(self.cfg.params) - set(_IMAGE_DEFAULTS))
        if unknown:
            raise ConfigError(f"codecs.{self.cfg.name}.params.{unknown[0]}: unknown key; "
                              f"expected one of {', '.join(_IMAGE_DEFAULTS)}")
        return {**_IMAGE_DEFAULTS, **self.cfg.params}

    def _codec(self):
        from vcmref.anchors.codec import get_codec

        p = self._params()
        return get_codec(p["codec"], **p["codec_options"])

    def encode(self, data: np.ndarray, point: Any) -> bytes:
        from vcmref.anchors.image_anchor import encode_image

        p = self._params()
        return encode_image(data, self._codec(), int(point), matrix=p["matrix"],
                            full_range=p["full_range"], bit_depth=p["bit_depth"],
                            chroma=p["chroma"])

    def decode(self, bitstream: bytes, width: int, height: int, point: Any) -> np.ndarray:
        from vcmref.anchors.image_anchor import decode_image

        p = self._params()
        return decode_image(bitstream, self._codec(), width, height, matrix=p["matrix"],
                            full_range=p["full_range"], bit_depth=p["bit_depth"],
                            chroma=p["chroma"])


class VcmrefImage(CtcCodec):
    """An R'G'B' image coded by the vcmref codec as one 3-channel tensor of its 0..255 values;
    decoded values are rounded to the nearest integer and clipped to 0..255."""

    input = "image"

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

    def decode(self, bitstream: bytes, width: int, height: int, point: Any) -> np.ndarray:
        from vcmref.refsw.decoder import Decoder

        tensor = Decoder().decode(bitstream).frames[0].tensors["rgb"]
        return np.clip(np.rint(tensor), 0, 255).astype(np.uint8).transpose(1, 2, 0)


class VideoAnchorCodec(CtcCodec):
    """A sequence coded by an anchor codec in its own chroma format; params: codec,
    codec_options (e.g. intra_period) and bit_depth, the coding bit depth (default: the
    sequence's; 8-bit video coded at 10 bits is shifted up by 2, v << 2, and decoded samples
    come back as (v + 2) >> 2, clipped, as in vcmref.anchors.color). The rate parameter is
    qp; the QP read back from the bitstream is checked as for every anchor."""

    input = "video"

    def _codec(self):
        from vcmref.anchors.codec import get_codec

        unknown = sorted(set(self.cfg.params) - {"codec", "codec_options", "bit_depth"})
        if unknown:
            raise ConfigError(f"codecs.{self.cfg.name}.params.{unknown[0]}: unknown key; "
                              "expected codec, codec_options or bit_depth")
        return get_codec(self.cfg.params.get("codec", "vvenc"),
                         **self.cfg.params.get("codec_options", {}))

    def _coded(self, seq: Any) -> Any:
        from vcmref.anchors.color import expand_bit_depth
        from vcmref.anchors.yuv import YuvSequence

        depth = int(self.cfg.params.get("bit_depth", seq.bit_depth))
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
        from vcmref.anchors.color import reduce_bit_depth
        from vcmref.anchors.yuv import YuvSequence

        decoded = self._codec().decode(bitstream, self._coded(like))[0]
        if decoded.bit_depth == like.bit_depth:
            return decoded
        planes = tuple(reduce_bit_depth(p, decoded.bit_depth, like.bit_depth)
                       for p in decoded.planes)
        return YuvSequence(planes, like.chroma_format, like.bit_depth, like.frame_rate)


CODEC_CLASSES: dict[str, type[CtcCodec]] = {
    "vcmref-features": VcmrefFeatures,
    "feature-anchor": FeatureAnchorCodec,
    "image-anchor": ImageAnchorCodec,
    "vcmref-image": VcmrefImage,
    "video-anchor": VideoAnchorCodec,
}


def make_codec(cfg: CodecConfig) -> CtcCodec:
    return CODEC_CLASSES[cfg.kind](cfg)
