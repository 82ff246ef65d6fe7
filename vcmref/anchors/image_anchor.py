"""The image anchor: R'G'B' to Y'CbCr (matrix, range and bit depth stated), coded by a video
codec as one intra picture, decoded, and back to R'G'B' (docs/image-anchor.md).

VVC and HEVC code 4:2:0 pictures only in even sizes (vvenc and x265 reject odd ones). An odd
4:2:0 image is converted at its own size first (its chroma planes are already
((h + 1) // 2, (w + 1) // 2)); only the luma plane is then padded to the even size by
replicating its last row and/or column, and the decoded luma is cropped back, so the codec
sees exactly the chroma of the conversion and no sample outside the image is invented for it.
4:4:4 pictures are coded at their own size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vcmref.anchors.codec import QpReport, VideoCodec
from vcmref.anchors.registry import get_codec
from vcmref.media import color
from vcmref.media.yuv import ChromaFormat, YuvSequence


@dataclass
class ImageCodingResult:
    """One image coded by the anchor; bpp is bitstream bits over the original H x W pixels."""

    codec: str
    qp: int
    matrix: str
    full_range: bool
    bit_depth: int
    chroma: str
    rgb_bit_depth: int
    padded: bool  # luma padded to an even size for 4:2:0 coding
    bitstream: bytes
    source: YuvSequence  # the Y'CbCr picture at the image's size, as converted
    decoded: YuvSequence  # the decoded picture, cropped to the image's size
    decoded_rgb: np.ndarray
    encode_s: float
    decode_s: float
    qp_report: QpReport | None
    commands: list[list[str]] = field(default_factory=list)

    @property
    def bits(self) -> int:
        return 8 * len(self.bitstream)

    @property
    def bpp(self) -> float:
        return self.bits / (self.source.height * self.source.width)


def psnr(a: np.ndarray, b: np.ndarray, peak: int) -> float:
    """10 log10(peak^2 / MSE) over all samples, float64; inf for identical arrays."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def _rgb_depth(rgb: np.ndarray, rgb_bit_depth: int | None) -> int:
    if rgb_bit_depth is not None:
        return rgb_bit_depth
    if rgb.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"rgb has dtype {rgb.dtype}, expected uint8 or uint16")
    return 8 if rgb.dtype == np.uint8 else 16


def _pictures(rgb: np.ndarray, matrix: str, full_range: bool, bit_depth: int, chroma: str,
              rgb_bit_depth: int) -> tuple[YuvSequence, YuvSequence]:
    """(the Y'CbCr picture at the image's size, the picture as coded: luma padded to an even
    size for 4:2:0)."""
    y, cb, cr = color.rgb_to_ycbcr(rgb, matrix=matrix, full_range=full_range,
                                   bit_depth=bit_depth, chroma=chroma,
                                   rgb_bit_depth=rgb_bit_depth)
    h, w = y.shape
    fmt = ChromaFormat(chroma)
    source = YuvSequence((y[None], cb[None], cr[None]), fmt, bit_depth)
    if fmt is ChromaFormat.YUV420 and (h % 2 or w % 2):
        luma = np.pad(y, ((0, h % 2), (0, w % 2)), mode="edge")
        return source, YuvSequence((luma[None], cb[None], cr[None]), fmt, bit_depth)
    return source, source


def encode_image(rgb: np.ndarray, codec: VideoCodec | str, qp: int, *, matrix: str,
                 full_range: bool, bit_depth: int, chroma: str = "420",
                 rgb_bit_depth: int | None = None) -> bytes:
    """The bitstream of `code_image` (QP checked), without decoding it."""
    rgb = np.asarray(rgb)
    codec = get_codec(codec) if isinstance(codec, str) else codec
    _, seq = _pictures(rgb, matrix, full_range, bit_depth, chroma,
                       _rgb_depth(rgb, rgb_bit_depth))
    return codec.encode_checked(seq, qp)[0]


def code_image(rgb: np.ndarray, codec: VideoCodec | str, qp: int, *, matrix: str,
               full_range: bool, bit_depth: int, chroma: str = "420",
               rgb_bit_depth: int | None = None) -> ImageCodingResult:
    """Convert an (H, W, 3) R'G'B' image to Y'CbCr, code it as one picture, decode it and
    convert back; rgb_bit_depth defaults to 8 for uint8 and 16 for uint16 input."""
    rgb = np.asarray(rgb)
    rgb_bit_depth = _rgb_depth(rgb, rgb_bit_depth)
    codec = get_codec(codec) if isinstance(codec, str) else codec
    source, seq = _pictures(rgb, matrix, full_range, bit_depth, chroma, rgb_bit_depth)
    coded = codec.code(seq, qp)
    decoded, decoded_rgb = _cropped_rgb(coded.decoded, source.height, source.width, matrix,
                                        full_range, rgb_bit_depth)
    return ImageCodingResult(codec.name, qp, matrix, full_range, bit_depth, chroma,
                             rgb_bit_depth, seq is not source, coded.bitstream, source,
                             decoded, decoded_rgb, coded.encode_s, coded.decode_s,
                             coded.qp_report, coded.commands)


def _cropped_rgb(decoded: YuvSequence, height: int, width: int, matrix: str, full_range: bool,
                 rgb_bit_depth: int) -> tuple[YuvSequence, np.ndarray]:
    """The decoded picture with its luma cropped to the image, and its R'G'B'."""
    dy, dcb, dcr = (p[0] for p in decoded.planes)
    dy = dy[:height, :width]
    cropped = YuvSequence((dy[None], dcb[None], dcr[None]), decoded.chroma_format,
                          decoded.bit_depth)
    rgb = color.ycbcr_to_rgb((dy, dcb, dcr), matrix=matrix, full_range=full_range,
                             bit_depth=decoded.bit_depth, chroma=decoded.chroma_format.value,
                             rgb_bit_depth=rgb_bit_depth)
    return cropped, rgb


def decode_image(bitstream: bytes, codec: VideoCodec | str, width: int, height: int, *,
                 matrix: str, full_range: bool, bit_depth: int, chroma: str = "420",
                 rgb_bit_depth: int = 8) -> np.ndarray:
    """The R'G'B' image of a bitstream that `code_image` wrote with the same settings."""
    if isinstance(codec, str):
        codec = get_codec(codec)
    fmt = ChromaFormat(chroma)
    ph, pw = (height + height % 2, width + width % 2) if fmt is ChromaFormat.YUV420 else (
        height, width)
    like = YuvSequence(tuple(np.zeros((1, *fmt.plane_shape(p, ph, pw)), np.uint16)
                             for p in range(fmt.num_planes)), fmt, bit_depth)
    decoded, _ = codec.decode(bitstream, like)
    return _cropped_rgb(decoded, height, width, matrix, full_range, rgb_bit_depth)[1]
