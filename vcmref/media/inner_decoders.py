"""Decoders for the inner codec pictures of feature-anchor streams: ffmpeg's native VVC and
HEVC decoders. Only the top-left width x height of the luma is used (encoders may pad the
picture to their minimum size); its bit depth must be the signalled one.

The normative decoder does not import this module: whoever builds a decoder for streams with
inner codec data passes `decode_inner_pictures` to it, e.g.
`Decoder(inner_decoder=decode_inner_pictures)` (vcmref.refsw.decoder) or
`plain_decoder.decode(data, inner_decoder=decode_inner_pictures)`."""

from __future__ import annotations

import numpy as np

from vcmref.bitstream.parameter_sets import InnerCodec
from vcmref.errors import ToolError
from vcmref.media.ffmpeg_tool import decode_raw

_FFMPEG = {InnerCodec.H266_VVC: ("vvc", "vvc"), InnerCodec.H265_HEVC: ("hevc", "hevc")}


def decode_inner_pictures(codec: InnerCodec | int, data: bytes, width: int, height: int,
                          bit_depth: int) -> np.ndarray:
    """(pictures, height, width) uint16 luma samples of an inner codec byte stream; `codec` is
    an InnerCodec or its inner_codec_idc (the InnerDecoder of both decoding paths)."""
    codec = InnerCodec(codec)
    demuxer, decoder = _FFMPEG[codec]
    seq, _ = decode_raw(data, demuxer, decoder)
    if seq.bit_depth != bit_depth:
        raise ToolError(f"{codec.name} pictures decode at {seq.bit_depth} bits, the stream "
                        f"signals {bit_depth}")
    if seq.width < width or seq.height < height:
        raise ToolError(f"{codec.name} pictures are {seq.width}x{seq.height}, smaller than "
                        f"the {width}x{height} picture of the layer")
    return seq.planes[0][:, :height, :width]
