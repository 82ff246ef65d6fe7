"""Decoders for the inner codec pictures of feature-anchor streams: ffmpeg's native VVC and
HEVC decoders. Only the top-left width x height of the luma is used (encoders may pad the
picture to their minimum size); its bit depth must be the signalled one."""

from __future__ import annotations

import numpy as np

from vcmref.anchors.ffmpeg_tool import decode_raw
from vcmref.bitstream.parameter_sets import InnerCodec
from vcmref.errors import ToolError

_FFMPEG = {InnerCodec.H266_VVC: ("vvc", "vvc"), InnerCodec.H265_HEVC: ("hevc", "hevc")}


def decode_inner_pictures(codec: InnerCodec, data: bytes, width: int, height: int,
                          bit_depth: int) -> np.ndarray:
    """(pictures, height, width) uint16 luma samples of an inner codec byte stream."""
    demuxer, decoder = _FFMPEG[InnerCodec(codec)]
    seq, _ = decode_raw(data, demuxer, decoder)
    if seq.bit_depth != bit_depth:
        raise ToolError(f"{codec.name} pictures decode at {seq.bit_depth} bits, the stream "
                        f"signals {bit_depth}")
    if seq.width < width or seq.height < height:
        raise ToolError(f"{codec.name} pictures are {seq.width}x{seq.height}, smaller than "
                        f"the {width}x{height} picture of the layer")
    return seq.planes[0][:, :height, :width]
