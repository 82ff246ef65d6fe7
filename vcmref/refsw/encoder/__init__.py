"""The reference encoder (non-normative): quantization choices, token models, rANS encoding."""

from vcmref.refsw.encoder.encoder import Encoder, EncoderConfig, EncodeReport, encode

__all__ = ["Encoder", "EncoderConfig", "EncodeReport", "encode"]
