"""Still-image codecs through the bundled ffmpeg (PNG, JPEG, JPEG 2000), and the classic feature
experiment: quantize a feature tensor, tile it into one grey image, code it, and undo it all.

Images are numpy arrays: (H, W) grey or (H, W, 3) R'G'B', uint8 for 8 bits, uint16 above.
Pictures go through pipes (rawvideo in, one coded image out with ``-f image2pipe``), never
temporary files, and the input pixel format is one the encoder takes natively, so ffmpeg inserts
no scaler (no range change, dithering or bit-depth change). On decode no ``-pix_fmt`` is given;
the pixel format ffmpeg reports for its output is checked and an unexpected one is a ToolError.
Exact settings: docs/image-anchor.md.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from vcmref.anchors.codec import CodecConfigError
from vcmref.anchors.registry import get_image_codec, register_image_codec
from vcmref.media import color
from vcmref.media.ffmpeg_tool import QUIET, ffmpeg_exe, require_encoder
from vcmref.media.process import ToolError, run_tool

_OUTPUT_FMT = re.compile(r"Output #0.*?Video: rawvideo[^\n]*?\([^)\n]*\), (\w+)(?:\(([^)\n]*)\))?",
                         re.S)
# decoded pixel formats accepted: (channels, bits per container sample, numpy dtype)
_DECODED_FORMATS: dict[str, tuple[int, int, str]] = {
    "gray": (1, 8, "u1"), "gray16be": (1, 16, ">u2"), "gray16le": (1, 16, "<u2"),
    "rgb24": (3, 8, "u1"), "rgb48be": (3, 16, ">u2"), "rgb48le": (3, 16, "<u2"),
}


@dataclass(frozen=True)
class ImageInfo:
    """What an image array holds: its shape, channel count and significant bit depth."""

    height: int
    width: int
    channels: int
    bit_depth: int

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.bit_depth == 8 else np.uint16


def image_info(image: np.ndarray, bit_depth: int | None = None) -> ImageInfo:
    """Check an (H, W) or (H, W, 3) uint8/uint16 image; bit depth defaults to 8 or 16."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape:
        raise ValueError(f"image must be a non-empty (H, W) or (H, W, 3) array, "
                         f"got shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"image has dtype {image.dtype}, expected uint8 or uint16")
    if bit_depth is None:
        bit_depth = 8 if image.dtype == np.uint8 else 16
    if (image.dtype == np.uint8) != (bit_depth == 8) or not 8 <= bit_depth <= 16:
        raise ValueError(f"bit depth {bit_depth} does not fit dtype {image.dtype} "
                         "(uint8: 8 bits, uint16: 9 to 16 bits)")
    if int(image.max()) > (1 << bit_depth) - 1:
        raise ValueError(f"image has samples up to {int(image.max())}, above "
                         f"{(1 << bit_depth) - 1} for {bit_depth} bits")
    channels = 1 if image.ndim == 2 else 3
    return ImageInfo(image.shape[0], image.shape[1], channels, bit_depth)


@dataclass
class CodedImage:
    """One coded and decoded image; `bits` counts the bytes of the coded image file."""

    codec: str
    bitstream: bytes
    decoded: np.ndarray
    bit_depth: int
    encode_s: float
    decode_s: float
    commands: list[list[str]] = field(default_factory=list)

    @property
    def bits(self) -> int:
        return 8 * len(self.bitstream)

    @property
    def bpp(self) -> float:
        """Bits per pixel: bits over height x width (all channels of a pixel together)."""
        return self.bits / (self.decoded.shape[0] * self.decoded.shape[1])


class ImageCodec(ABC):
    """A still-image encoder/decoder pair run through ffmpeg."""

    name: ClassVar[str]
    encoder: ClassVar[str]
    demuxer: ClassVar[str]
    lossless: bool = False

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout

    @abstractmethod
    def check_image(self, info: ImageInfo) -> None:
        """Raise CodecConfigError for images this codec does not take."""

    @abstractmethod
    def _encode_args(self, image: np.ndarray, info: ImageInfo) -> tuple[str, bytes, list[str]]:
        """(input pixel format, raw input bytes, encoder arguments)."""

    def encode(self, image: np.ndarray, bit_depth: int | None = None
               ) -> tuple[bytes, float, list[str]]:
        """Encode one image; return the coded file, ffmpeg's wall time and the command."""
        info = image_info(image, bit_depth)
        self.check_image(info)
        require_encoder(self.encoder)
        pix_fmt, raw, args = self._encode_args(image, info)
        argv = [ffmpeg_exe(), *QUIET, "-f", "rawvideo", "-pix_fmt", pix_fmt,
                "-video_size", f"{info.width}x{info.height}", "-i", "pipe:0",
                *args, "-flags:v", "+bitexact", "-frames:v", "1", "-f", "image2pipe", "pipe:1"]
        result = run_tool(argv, what=f"{self.name} encode", stdin=raw, timeout=self.timeout)
        if not result.stdout:
            raise ToolError(f"{self.name} encode wrote no image: {' '.join(argv)}")
        return result.stdout, result.seconds, argv

    def _run_decoder(self, data: bytes) -> tuple[bytes, str, int | None, float, list[str]]:
        argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
                "-threads", "1", "-f", self.demuxer, "-i", "pipe:0", "-map", "0:v",
                "-frames:v", "1", "-f", "rawvideo", "pipe:1"]
        result = run_tool(argv, what=f"{self.name} decode", stdin=data, timeout=self.timeout)
        m = _OUTPUT_FMT.search(result.stderr.decode(errors="replace"))
        if m is None:
            raise ToolError(f"{self.name} decode: cannot tell the decoded pixel format")
        bpc = re.search(r"(\d+) bpc", m.group(2) or "")
        return (result.stdout, m.group(1), int(bpc.group(1)) if bpc else None, result.seconds,
                argv)

    def _unpack(self, raw: bytes, pix_fmt: str, bpc: int | None, info: ImageInfo,
                expected: tuple[str, ...], left_aligned: bool) -> np.ndarray:
        """Decoded bytes of one of the `expected` formats as an array like the input image.

        `left_aligned`: the decoder puts n-bit samples in the top bits of a 16-bit container
        and says so by "(n bpc)" (ffmpeg's JPEG 2000 decoder); the low bits must then be 0.
        Otherwise (PNG) 16-bit containers hold the samples unscaled.
        """
        if pix_fmt not in expected:
            raise ToolError(f"{self.name} decode: pixel format {pix_fmt}, expected "
                            f"{' or '.join(expected)}")
        channels, container, dtype = _DECODED_FORMATS[pix_fmt]
        shape = (info.height, info.width) + ((channels,) if channels == 3 else ())
        want = int(np.prod(shape)) * (container // 8)
        if len(raw) != want:
            raise ToolError(f"{self.name} decode: {len(raw)} bytes, expected {want} for "
                            f"{info.width}x{info.height} {pix_fmt}")
        a = np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.uint16)
        if left_aligned:
            significant = bpc if bpc is not None else container
            if significant != info.bit_depth:
                raise ToolError(f"{self.name} decode: {significant}-bit samples in {pix_fmt}, "
                                f"expected {info.bit_depth}-bit")
            shift = container - significant
            if shift:
                if np.any(a & ((1 << shift) - 1)):
                    raise ToolError(f"{self.name} decode: {pix_fmt} ({bpc} bpc) samples are "
                                    f"not multiples of 2^{shift}")
                a = a >> shift
        elif bpc is not None or int(a.max()) > (1 << info.bit_depth) - 1:
            raise ToolError(f"{self.name} decode: {pix_fmt} samples exceed "
                            f"{info.bit_depth} bits")
        return a.astype(info.dtype)

    @abstractmethod
    def decode(self, data: bytes, like: np.ndarray, bit_depth: int | None = None
               ) -> tuple[np.ndarray, float, list[str]]:
        """Decode to an array of the shape, dtype and bit depth of `like`; return it, ffmpeg's
        wall time and the command."""

    def code(self, image: np.ndarray, bit_depth: int | None = None) -> CodedImage:
        """Encode, decode, and return both with the exact bit count and the times."""
        info = image_info(image, bit_depth)
        data, encode_s, enc_argv = self.encode(image, info.bit_depth)
        decoded, decode_s, dec_argv = self.decode(data, image, info.bit_depth)
        return CodedImage(self.name, data, decoded, info.bit_depth, encode_s, decode_s,
                          [enc_argv, dec_argv])




@register_image_codec
class PngCodec(ImageCodec):
    """Lossless PNG: grey or RGB, 8 bits (gray, rgb24) or 16-bit containers (gray16be, rgb48be).

    Samples of 9 to 15 bits are stored unscaled in 16-bit PNG samples (no sBIT chunk).
    """

    name = "png"
    encoder = "png"
    demuxer = "png_pipe"
    lossless = True

    def __init__(self, compression_level: int = 9, pred: str = "paeth",
                 timeout: float = 120.0) -> None:
        super().__init__(timeout)
        if not (isinstance(compression_level, int) and 0 <= compression_level <= 9):
            raise CodecConfigError(f"png compression_level must be in [0, 9], "
                                   f"got {compression_level!r}")
        preds = ("none", "sub", "up", "avg", "paeth", "mixed")
        if pred not in preds:
            raise CodecConfigError(f"png pred must be one of {preds}, got {pred!r}")
        self.compression_level, self.pred = compression_level, pred

    @staticmethod
    def _pix_fmt(info: ImageInfo) -> str:
        if info.channels == 1:
            return "gray" if info.bit_depth == 8 else "gray16be"
        return "rgb24" if info.bit_depth == 8 else "rgb48be"

    def check_image(self, info: ImageInfo) -> None:
        return None

    def _encode_args(self, image: np.ndarray, info: ImageInfo) -> tuple[str, bytes, list[str]]:
        raw = image.astype(">u2" if info.bit_depth > 8 else np.uint8).tobytes()
        return self._pix_fmt(info), raw, ["-c:v", "png", "-pred", self.pred,
                                          "-compression_level", str(self.compression_level)]

    def decode(self, data: bytes, like: np.ndarray, bit_depth: int | None = None
               ) -> tuple[np.ndarray, float, list[str]]:
        info = image_info(like, bit_depth)
        raw, pix_fmt, bpc, seconds, argv = self._run_decoder(data)
        out = self._unpack(raw, pix_fmt, bpc, info, (self._pix_fmt(info),), False)
        return out, seconds, argv


@register_image_codec
class JpegCodec(ImageCodec):
    """Baseline JPEG by ffmpeg's mjpeg encoder at a fixed quantizer scale ``-q:v`` in [2, 31].

    RGB goes through color.rgb_to_ycbcr with BT.601 full range 8-bit (JFIF) and `chroma`
    subsampling, handed over as yuvj420p/yuvj444p, so that ffmpeg converts nothing. mjpeg
    takes no grey input: a grey image is coded as the luma of yuvj420p with neutral chroma
    (128), whose bits count in the rate; the luma decodes as grey JPEG's would.
    """

    name = "jpeg"
    encoder = "mjpeg"
    demuxer = "jpeg_pipe"

    def __init__(self, q: int = 2, chroma: str = "420", timeout: float = 120.0) -> None:
        super().__init__(timeout)
        if not (isinstance(q, int) and 2 <= q <= 31):
            raise CodecConfigError(f"jpeg q must be an integer in [2, 31], got {q!r}")
        if chroma not in color.CHROMA_FORMATS:
            raise CodecConfigError(f"jpeg chroma must be one of {color.CHROMA_FORMATS}, "
                                   f"got {chroma!r}")
        self.q, self.chroma = q, chroma

    def _layout(self, info: ImageInfo) -> str:
        return "444" if info.channels == 3 and self.chroma == "444" else "420"

    def check_image(self, info: ImageInfo) -> None:
        if info.bit_depth != 8:
            raise CodecConfigError(f"jpeg codes 8-bit images, not {info.bit_depth}-bit")

    def _encode_args(self, image: np.ndarray, info: ImageInfo) -> tuple[str, bytes, list[str]]:
        layout = self._layout(info)
        if info.channels == 3:
            planes = color.rgb_to_ycbcr(image, matrix="bt601", full_range=True, bit_depth=8,
                                        chroma=layout)
        else:
            c = np.full(((info.height + 1) // 2, (info.width + 1) // 2), 128, np.uint8)
            planes = (image, c, c)
        raw = b"".join(p.astype(np.uint8).tobytes() for p in planes)
        pix_fmt = f"yuvj{layout}p"
        return pix_fmt, raw, ["-c:v", "mjpeg", "-pix_fmt", pix_fmt, "-q:v", str(self.q),
                              "-huffman", "optimal"]

    def decode(self, data: bytes, like: np.ndarray, bit_depth: int | None = None
               ) -> tuple[np.ndarray, float, list[str]]:
        info = image_info(like, bit_depth)
        self.check_image(info)
        layout = self._layout(info)
        raw, pix_fmt, _, seconds, argv = self._run_decoder(data)
        if pix_fmt != f"yuvj{layout}p":
            raise ToolError(f"{self.name} decode: pixel format {pix_fmt}, expected "
                            f"yuvj{layout}p")
        h, w = info.height, info.width
        ch, cw = (h, w) if layout == "444" else ((h + 1) // 2, (w + 1) // 2)
        if len(raw) != h * w + 2 * ch * cw:
            raise ToolError(f"{self.name} decode: {len(raw)} bytes, expected "
                            f"{h * w + 2 * ch * cw} for {w}x{h} {pix_fmt}")
        buf = np.frombuffer(raw, np.uint8)
        y = buf[:h * w].reshape(h, w)
        if info.channels == 1:
            return y.copy(), seconds, argv
        cb = buf[h * w:h * w + ch * cw].reshape(ch, cw)
        cr = buf[h * w + ch * cw:].reshape(ch, cw)
        rgb = color.ycbcr_to_rgb((y, cb, cr), matrix="bt601", full_range=True, bit_depth=8,
                                 chroma=layout)
        return rgb, seconds, argv


@register_image_codec
class PillowJpegCodec(ImageCodec):
    """Baseline JPEG by Pillow's libjpeg at quality 1..100 (the IJG scale: higher is better),
    Pillow's own R'G'B' to Y'CbCr (JFIF, BT.601 full range), 4:2:0 by default, optimized
    Huffman tables; the JPEG that JPEG AI-style comparisons mean by "JPEG"."""

    name = "jpeg-pillow"
    encoder = ""
    demuxer = ""
    _SUBSAMPLING = {"444": 0, "422": 1, "420": 2}

    def __init__(self, quality: int = 75, chroma: str = "420", timeout: float = 120.0) -> None:
        super().__init__(timeout)
        if not (isinstance(quality, int) and not isinstance(quality, bool)
                and 1 <= quality <= 100):
            raise CodecConfigError(f"jpeg-pillow quality must be an integer in [1, 100], "
                                   f"got {quality!r}")
        if chroma not in self._SUBSAMPLING:
            raise CodecConfigError(f"jpeg-pillow chroma must be one of "
                                   f"{', '.join(self._SUBSAMPLING)}, got {chroma!r}")
        self.quality, self.chroma = quality, chroma

    def check_image(self, info: ImageInfo) -> None:
        if info.bit_depth != 8:
            raise CodecConfigError(f"jpeg-pillow codes 8-bit images, not {info.bit_depth}-bit")

    def _encode_args(self, image: np.ndarray, info: ImageInfo) -> tuple[str, bytes, list[str]]:
        raise NotImplementedError  # Pillow codes in-process: encode() is overridden

    def encode(self, image: np.ndarray, bit_depth: int | None = None
               ) -> tuple[bytes, float, list[str]]:
        import io
        import time

        from PIL import Image

        info = image_info(image, bit_depth)
        self.check_image(info)
        start = time.perf_counter()
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(
            buf, format="JPEG", quality=self.quality, subsampling=self._SUBSAMPLING[self.chroma],
            optimize=True)
        argv = ["PIL.Image.save", f"quality={self.quality}", f"chroma={self.chroma}",
                "optimize=True"]
        return buf.getvalue(), time.perf_counter() - start, argv

    def decode(self, data: bytes, like: np.ndarray, bit_depth: int | None = None
               ) -> tuple[np.ndarray, float, list[str]]:
        import io
        import time

        from PIL import Image, UnidentifiedImageError

        info = image_info(like, bit_depth)
        start = time.perf_counter()
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.format != "JPEG":
                    raise ToolError(f"jpeg-pillow decode: a {im.format} file, expected JPEG")
                im = im.convert("RGB" if info.channels == 3 else "L")
                out = np.asarray(im)
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ToolError(f"jpeg-pillow decode: not a readable JPEG ({e})") from None
        if out.shape[:2] != (info.height, info.width):
            raise ToolError(f"jpeg-pillow decode: {out.shape[1]}x{out.shape[0]}, expected "
                            f"{info.width}x{info.height}")
        return out.copy(), time.perf_counter() - start, ["PIL.Image.open"]


def j2k_num_resolutions(height: int, width: int) -> int:
    """min(6, floor(log2(min(h, w))) + 1): openjpeg needs 2^(levels) <= the smaller side."""
    return min(6, int(math.floor(math.log2(min(height, width)))) + 1)


@register_image_codec
class Jpeg2000Codec(ImageCodec):
    """JPEG 2000 codestream (.j2k) by libopenjpeg, decoded by ffmpeg's native decoder.

    ``ratio`` 0: lossless (reversible 5/3 wavelet, no rate target). Otherwise lossy: irreversible
    9/7 wavelet, one quality layer, rate target ``ratio``:1 against the uncompressed size at the
    samples' bit depth (ffmpeg passes ``2 * compression_level`` to openjpeg, so ratio is even).
    Grey 8/10/12/16 bits, RGB 8/10/12/16 bits. libopenjpeg as ffmpeg drives it applies no
    multiple-component transform (the COD marker's MCT is 0), so lossy 8-bit RGB is converted
    to Y'CbCr 4:4:4 (BT.601 full range, JFIF's, as the irreversible colour transform would)
    before coding and back after decoding; the codestream does not signal it.
    """

    name = "jpeg2000"
    encoder = "libopenjpeg"
    demuxer = "j2k_pipe"
    bit_depths = (8, 10, 12, 16)

    def __init__(self, ratio: int = 0, timeout: float = 120.0) -> None:
        super().__init__(timeout)
        if not (isinstance(ratio, int) and ratio >= 0 and ratio % 2 == 0):
            raise CodecConfigError(f"jpeg2000 ratio must be 0 (lossless) or an even integer "
                                   f">= 2, got {ratio!r}")
        self.ratio = ratio
        self.lossless = ratio == 0

    def check_image(self, info: ImageInfo) -> None:
        if info.bit_depth not in self.bit_depths:
            raise CodecConfigError(f"jpeg2000 codes bit depths {list(self.bit_depths)}, "
                                   f"not {info.bit_depth}")

    def _encode_args(self, image: np.ndarray, info: ImageInfo) -> tuple[str, bytes, list[str]]:
        d = info.bit_depth
        if info.channels == 1:
            pix_fmt = {8: "gray", 16: "gray16le"}.get(d, f"gray{d}le")
            raw = image.astype(np.uint8 if d == 8 else "<u2").tobytes()
        elif self._ycbcr(info):
            pix_fmt = "rgb24"  # three components handed over as they are: Y', Cb, Cr
            planes = color.rgb_to_ycbcr(image, matrix="bt601", full_range=True, bit_depth=8,
                                        chroma="444")
            raw = np.stack(planes, axis=-1).astype(np.uint8).tobytes()
        elif d in (8, 16):
            pix_fmt = "rgb24" if d == 8 else "rgb48le"
            raw = image.astype(np.uint8 if d == 8 else "<u2").tobytes()
        else:
            pix_fmt = f"gbrp{d}le"
            raw = np.ascontiguousarray(image[..., [1, 2, 0]].transpose(2, 0, 1)).astype(
                "<u2").tobytes()
        wavelet = ["-irreversible", "0", "-compression_level", "0"] if self.lossless else [
            "-irreversible", "1", "-compression_level", str(self.ratio // 2)]
        return pix_fmt, raw, ["-c:v", "libopenjpeg", "-format", "j2k",
                              "-numresolution", str(j2k_num_resolutions(info.height, info.width)),
                              "-prog_order", "lrcp", *wavelet]

    def decode(self, data: bytes, like: np.ndarray, bit_depth: int | None = None
               ) -> tuple[np.ndarray, float, list[str]]:
        info = image_info(like, bit_depth)
        self.check_image(info)
        raw, pix_fmt, bpc, seconds, argv = self._run_decoder(data)
        if info.channels == 1:
            expected = ("gray",) if info.bit_depth == 8 else ("gray16le",)
        else:
            expected = ("rgb24",) if info.bit_depth == 8 else ("rgb48le",)
        out = self._unpack(raw, pix_fmt, bpc, info, expected, True)
        if self._ycbcr(info):
            out = color.ycbcr_to_rgb((out[..., 0], out[..., 1], out[..., 2]), matrix="bt601",
                                     full_range=True, bit_depth=8, chroma="444")
        return out, seconds, argv

    def _ycbcr(self, info: ImageInfo) -> bool:
        """Lossy 8-bit R'G'B' is coded as Y'CbCr: libopenjpeg (through ffmpeg) applies no
        component transform, and R, G and B coded apart cost about 1.5-3x the rate."""
        return not self.lossless and info.channels == 3 and info.bit_depth == 8


def tile_channels(samples: np.ndarray) -> np.ndarray:
    """Tile (C, H, W) samples row-major into a (rows*H, cols*W) image, cols = ceil(sqrt(C)),
    rows = ceil(C / cols); unused cells are 0. Keeps the dtype."""
    samples = np.asarray(samples)
    if samples.ndim != 3 or 0 in samples.shape:
        raise ValueError(f"expected a non-empty (C, H, W) array, got shape {samples.shape}")
    c, h, w = samples.shape
    cols = math.isqrt(c - 1) + 1
    rows = -(-c // cols)
    grid = np.zeros((rows * cols, h, w), dtype=samples.dtype)
    grid[:c] = samples
    return grid.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def untile_channels(image: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """Inverse of tile_channels: the first `channels` (height, width) cells, row-major."""
    cols = math.isqrt(channels - 1) + 1
    rows = -(-channels // cols)
    if image.shape != (rows * height, cols * width):
        raise ValueError(f"tiled image has shape {image.shape}, expected "
                         f"{(rows * height, cols * width)}")
    cells = image.reshape(rows, height, cols, width).transpose(0, 2, 1, 3)
    return cells.reshape(rows * cols, height, width)[:channels]


# the codec option that `quality` sets in code_feature_tensor (PNG: none, it is lossless)
QUALITY_OPTION: dict[str, str | None] = {"png": None, "jpeg": "q", "jpeg2000": "ratio"}
SIDE_INFO_BITS = 64  # the tensor's min and max, two float32 values


@dataclass
class FeatureCodingResult:
    """A feature tensor coded as one tiled grey image; `bits` includes the 64 side-info bits."""

    codec: str
    quality: int | None
    bit_depth: int
    coded: CodedImage
    reconstruction: np.ndarray
    minimum: float
    maximum: float
    mse: float

    @property
    def bits(self) -> int:
        return self.coded.bits + SIDE_INFO_BITS

    @property
    def bits_per_sample(self) -> float:
        return self.bits / self.reconstruction.size


def quantize_tensor(tensor: np.ndarray, bit_depth: int) -> tuple[np.ndarray, float, float]:
    """round((x - min) / (max - min) * (2^n - 1)) half away from zero, float64; max == min
    gives all 0. Returns uint16 samples and the float32 min and max."""
    lo, hi = float(tensor.min()), float(tensor.max())
    if hi == lo:
        return np.zeros(tensor.shape, np.uint16), lo, hi
    x = (tensor.astype(np.float64) - lo) / (hi - lo) * float((1 << bit_depth) - 1)
    return color.round_half_away(x).astype(np.uint16), lo, hi


def dequantize_tensor(samples: np.ndarray, minimum: float, maximum: float,
                      bit_depth: int) -> np.ndarray:
    """min + q / (2^n - 1) * (max - min) in float64, returned as float32."""
    q = samples.astype(np.float64)
    return (minimum + q / float((1 << bit_depth) - 1) * (maximum - minimum)).astype(np.float32)


def code_feature_tensor(tensor: np.ndarray, codec: ImageCodec | str,
                        quality: int | None = None, bit_depth: int = 8
                        ) -> FeatureCodingResult:
    """Quantize a float32 (C, H, W) tensor to `bit_depth` bits, tile, code, decode, untile,
    dequantize; `quality` sets the codec's QUALITY_OPTION (jpeg q, jpeg2000 ratio)."""
    tensor = np.asarray(tensor)
    if tensor.ndim != 3 or 0 in tensor.shape:
        raise ValueError(f"tensor must be a non-empty (C, H, W) array, got shape {tensor.shape}")
    if tensor.dtype != np.float32:
        raise ValueError(f"tensor has dtype {tensor.dtype}, expected float32")
    if not np.all(np.isfinite(tensor)):
        raise ValueError("tensor holds NaN or infinite values")
    if bit_depth not in (8, 10, 16):
        raise ValueError(f"bit_depth must be 8, 10 or 16, got {bit_depth!r}")
    if isinstance(codec, str):
        if codec not in QUALITY_OPTION:
            raise CodecConfigError(f"unknown image codec {codec!r}; known: "
                                   f"{', '.join(sorted(QUALITY_OPTION))}")
        option = QUALITY_OPTION[codec]
        if quality is not None and option is None:
            raise CodecConfigError(f"image codec {codec!r} takes no quality, got {quality!r}")
        codec = get_image_codec(codec, **({option: quality} if quality is not None and option
                                          else {}))
    elif quality is not None:
        raise CodecConfigError("quality is set by the codec instance; pass quality=None")
    samples, lo, hi = quantize_tensor(tensor, bit_depth)
    image = tile_channels(samples).astype(np.uint8 if bit_depth == 8 else np.uint16)
    coded = codec.code(image, bit_depth)
    c, h, w = tensor.shape
    recon = dequantize_tensor(untile_channels(coded.decoded, c, h, w), lo, hi, bit_depth)
    mse = float(np.mean((recon.astype(np.float64) - tensor.astype(np.float64)) ** 2))
    return FeatureCodingResult(codec.name, quality, bit_depth, coded, recon, lo, hi, mse)
