"""Inner codec pictures (normative): where each tile lies in a layer's monochrome picture and
how picture samples of bit depth P become stream samples of bit depth B (spec: clause 5.14)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vcmref.bitstream.parameter_sets import InnerCodec, StreamParameterSet, picture_size
from vcmref.refsw.tiles import TileGeometry, tile_geometry

# (inner codec, byte stream, picture width, height, bit depth) -> (pictures, height, width) luma
InnerDecoder = Callable[[InnerCodec, bytes, int, int, int], np.ndarray]


def picture_tiles(sps: StreamParameterSet, layer: int) -> list[tuple[int, TileGeometry, int]]:
    """(tensor index, tile geometry, first picture row) of each tile of the layer's picture:
    tiles in tensor order, stacked top to bottom, each at column 0."""
    out, top = [], 0
    for t in range(len(sps.tensors)):
        geom = tile_geometry(sps, t, layer)
        if geom is not None:
            out.append((t, geom, top))
            top += geom.height
    return out


def picture_to_sample_values(picture: np.ndarray, sps: StreamParameterSet) -> np.ndarray:
    """Stream samples from picture samples p of bit depth P, for sample bit depth B:
    P > B: ((p + 2^(P-B-1)) >> (P-B)) + SampleMin, clipped to SampleMax; P = B: p + SampleMin;
    P < B: (p << (B-P)) + SampleMin."""
    p = picture.astype(np.int64)
    shift = sps.picture_bit_depth - sps.sample_bit_depth
    v = (p + (1 << (shift - 1))) >> shift if shift > 0 else p << -shift
    return np.minimum(v + sps.sample_min, sps.sample_max).astype(np.int32)


def place_picture(picture: np.ndarray, sps: StreamParameterSet, layer: int,
                  samples: dict[str, np.ndarray]) -> None:
    """Store the samples of every tile of the layer's picture into the (C, H, W) tensors."""
    width, height = picture_size(sps, layer)
    assert picture.shape == (height, width), (picture.shape, (height, width))
    values = picture_to_sample_values(picture, sps)
    for t, geom, top in picture_tiles(sps, layer):
        out = samples[sps.tensors[t].name]
        tile = values[top:top + geom.height, :geom.width]
        cells = tile.reshape(geom.rows, geom.cell_height, geom.cols, geom.cell_width)
        cells = cells.transpose(0, 2, 1, 3).reshape(-1, geom.cell_height, geom.cell_width)
        out[list(geom.channels)] = cells[:len(geom.channels)]
