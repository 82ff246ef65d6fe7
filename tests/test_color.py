"""The colour and bit-depth conversions of the image anchor: exact values at the edges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vcmref.media.color import (
    downsample_420,
    expand_bit_depth,
    reduce_bit_depth,
    rgb_to_ycbcr,
    upsample_420,
    ycbcr_to_rgb,
)

EDGE_COLOURS = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255),
                (0, 255, 255), (255, 0, 255), (255, 255, 0), (128, 128, 128)]


def _pixel(rgb, **kw) -> tuple[int, int, int]:
    planes = rgb_to_ycbcr(np.array([[rgb]], np.uint8), chroma="444", **kw)
    return tuple(int(p[0, 0]) for p in planes)


@pytest.mark.parametrize("rgb, kw, want", [
    ((255, 255, 255), dict(matrix="bt709", full_range=False, bit_depth=8), (235, 128, 128)),
    ((0, 0, 0), dict(matrix="bt709", full_range=False, bit_depth=8), (16, 128, 128)),
    ((255, 0, 0), dict(matrix="bt709", full_range=False, bit_depth=8), (63, 102, 240)),
    ((255, 255, 255), dict(matrix="bt709", full_range=False, bit_depth=10), (940, 512, 512)),
    ((0, 0, 0), dict(matrix="bt601", full_range=False, bit_depth=10), (64, 512, 512)),
    ((255, 255, 255), dict(matrix="bt601", full_range=True, bit_depth=10), (1023, 512, 512)),
    ((0, 0, 0), dict(matrix="bt709", full_range=True, bit_depth=10), (0, 512, 512)),
    # JFIF red: Cr = 255 * 0.5 + 128 = 255.5 rounds to 256 and is clipped to 255
    ((255, 0, 0), dict(matrix="bt601", full_range=True, bit_depth=8), (76, 85, 255)),
    ((0, 0, 255), dict(matrix="bt601", full_range=False, bit_depth=8), (41, 240, 110)),
])
def test_known_values(rgb, kw, want) -> None:
    assert _pixel(rgb, **kw) == want


@pytest.mark.parametrize("matrix", ["bt709", "bt601"])
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("bit_depth", [8, 10])
def test_edge_colours_round_trip(matrix: str, full_range: bool, bit_depth: int) -> None:
    rgb = np.array([EDGE_COLOURS], np.uint8)
    kw = dict(matrix=matrix, full_range=full_range, bit_depth=bit_depth, chroma="444")
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb, **kw), **kw)
    assert back.dtype == np.uint8 and back.shape == rgb.shape
    err = np.abs(back.astype(int) - rgb)
    assert err.max() <= (0 if bit_depth == 10 else 1)
    assert np.array_equal(back[0, :2], rgb[0, :2])  # black and white are exact


def test_16_bit_rgb_round_trip_at_10_bits_is_within_range_step() -> None:
    rgb = np.array([[[0, 0, 0], [65535, 65535, 65535], [65535, 0, 0], [1234, 40000, 65535]]],
                   np.uint16)
    kw = dict(matrix="bt709", full_range=True, bit_depth=10, chroma="444", rgb_bit_depth=16)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb, **kw), **kw)
    assert back.dtype == np.uint16
    assert np.abs(back.astype(int) - rgb).max() <= 2 * 65535 // 1023


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(3))),
       st.sampled_from(["bt709", "bt601"]), st.booleans())
def test_8_bit_rgb_through_10_bit_444_within_one(rgb, matrix, full_range) -> None:
    kw = dict(matrix=matrix, full_range=full_range, bit_depth=10, chroma="444")
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb, **kw), **kw)
    assert np.abs(back.astype(int) - rgb).max() <= 1


@pytest.mark.parametrize("shape", [(4, 6), (5, 7), (1, 1), (3, 2)])
@pytest.mark.parametrize("matrix", ["bt709", "bt601"])
def test_420_of_flat_image_equals_444(shape, matrix) -> None:
    rgb = np.empty((*shape, 3), np.uint8)
    rgb[:] = (200, 30, 90)
    kw = dict(matrix=matrix, full_range=False, bit_depth=10)
    y, cb, cr = rgb_to_ycbcr(rgb, chroma="420", **kw)
    y4, cb4, cr4 = rgb_to_ycbcr(rgb, chroma="444", **kw)
    want = ((shape[0] + 1) // 2, (shape[1] + 1) // 2)
    assert cb.shape == cr.shape == want and cb.dtype == np.uint16
    assert np.array_equal(y, y4) and np.all(cb == cb4[0, 0]) and np.all(cr == cr4[0, 0])
    back = ycbcr_to_rgb((y, cb, cr), chroma="420", **kw)
    assert np.array_equal(back, ycbcr_to_rgb((y4, cb4, cr4), chroma="444", **kw))
    assert np.array_equal(back, rgb)


def test_resampling_filters() -> None:
    assert downsample_420(np.array([[0.0, 4.0], [8.0, 12.0]])).tolist() == [[6.0]]
    odd = np.arange(9.0).reshape(3, 3)
    assert downsample_420(odd).tolist() == [[2.0, 3.5], [6.5, 8.0]]
    assert upsample_420(np.array([[0.0, 4.0]]), 1, 4).tolist() == [[0.0, 1.0, 3.0, 4.0]]
    assert upsample_420(np.array([[0.0, 4.0]]), 1, 3).tolist() == [[0.0, 1.0, 3.0]]
    col = upsample_420(np.array([[0.0], [8.0]]), 4, 1)
    assert col[:, 0].tolist() == [0.0, 2.0, 6.0, 8.0]


def test_bit_depth_conversion_exact_rule() -> None:
    v10 = np.array([0, 1, 2, 3, 5, 6, 1020, 1021, 1022, 1023], np.uint16)
    v8 = reduce_bit_depth(v10, 10, 8)
    assert v8.tolist() == [0, 0, 1, 1, 1, 2, 255, 255, 255, 255]
    assert expand_bit_depth(v8, 8, 10).tolist() == [0, 0, 4, 4, 4, 8, 1020, 1020, 1020, 1020]
    every8 = np.arange(256, dtype=np.uint16)
    assert np.array_equal(reduce_bit_depth(expand_bit_depth(every8, 8, 10), 10, 8), every8)
    assert np.array_equal(reduce_bit_depth(v10, 10, 10), v10)


@pytest.mark.parametrize("call, match", [
    (lambda: rgb_to_ycbcr(np.zeros((2, 2, 3), np.uint8), matrix="bt2020", full_range=False,
                          bit_depth=8), "unknown matrix"),
    (lambda: rgb_to_ycbcr(np.zeros((2, 2), np.uint8), matrix="bt709", full_range=False,
                          bit_depth=8), r"\(H, W, 3\)"),
    (lambda: rgb_to_ycbcr(np.zeros((2, 2, 3)), matrix="bt709", full_range=False,
                          bit_depth=8), "dtype float64"),
    (lambda: rgb_to_ycbcr(np.full((2, 2, 3), 300, np.uint16), matrix="bt709",
                          full_range=False, bit_depth=8, rgb_bit_depth=8), "dtype uint16"),
    (lambda: rgb_to_ycbcr(np.full((2, 2, 3), 1024, np.uint16), matrix="bt709",
                          full_range=False, bit_depth=8, rgb_bit_depth=10), "above 1023"),
    (lambda: rgb_to_ycbcr(np.zeros((2, 2, 3), np.uint8), matrix="bt709", full_range=False,
                          bit_depth=7), "bit_depth"),
    (lambda: rgb_to_ycbcr(np.zeros((2, 2, 3), np.uint8), matrix="bt709", full_range=False,
                          bit_depth=8, chroma="422"), "chroma"),
    (lambda: ycbcr_to_rgb((np.zeros((4, 4), np.uint16),) * 3, matrix="bt709",
                          full_range=False, bit_depth=10), r"Cb plane has shape \(4, 4\)"),
    (lambda: ycbcr_to_rgb((np.full((2, 2), 1024, np.uint16),) * 3, matrix="bt709",
                          full_range=False, bit_depth=10, chroma="444"), "outside"),
    (lambda: reduce_bit_depth(np.array([1]), 8, 10), "cannot reduce"),
    (lambda: reduce_bit_depth(np.array([1024]), 10, 8), "outside"),
    (lambda: expand_bit_depth(np.array([1.0]), 8, 10), "expected integers"),
])
def test_bad_input(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()
