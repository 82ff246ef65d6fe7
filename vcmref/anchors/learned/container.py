"""The byte container of a learned image codec's stream: what CompressAI's `compress` returns
(one entropy-coded string per latent, e.g. y and z of a hyperprior) with the picture size and
the identity of the model, so that the stream decodes from its bytes alone and a decoder
refuses a stream coded by another model.

Layout (version 1; every integer unsigned, big-endian)::

    offset  size  field
    0       4     magic b"VCLC"
    4       1     version (1)
    5       8     model id: the first 8 bytes of the SHA-256 of the model's identity
    13      2     height H of the picture, 1..65535
    15      2     width W, 1..65535
    17      1     number of strings G, 1..255
    18      4*G   the length in bytes of each string
    18+4G   sum   the strings, in CompressAI's order, back to back
    end-4   4     CRC-32 (zlib's) of every byte before it

The strings are CompressAI's bytes as it writes them (its rANS coder writes 32-bit words in
the host's byte order, little-endian on x86 and ARM). The rate of a picture is 8 bits per byte
of the whole container: the overhead is 22 + 4*G bytes (26 for a factorized prior, 30 for a
hyperprior). The CRC keeps damaged strings from the entropy decoder, which trusts its input.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from vcmref.errors import BitstreamError

__all__ = ["MAGIC", "MODEL_ID_BYTES", "VERSION", "Container", "pack", "unpack"]

MAGIC = b"VCLC"
VERSION = 1
MODEL_ID_BYTES = 8
MAX_SIDE = 0xFFFF
MAX_STRINGS = 0xFF
_HEADER = struct.Struct(">4sB8sHHB")  # magic, version, model id, height, width, strings
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class Container:
    """The fields of a container: model id, picture size and the entropy-coded strings."""

    model_id: bytes
    height: int
    width: int
    strings: tuple[bytes, ...]


def pack(container: Container) -> bytes:
    """The bytes of a container; a field out of its range is refused (ValueError, one line)."""
    c = container
    if len(c.model_id) != MODEL_ID_BYTES:
        raise ValueError(f"model id: expected {MODEL_ID_BYTES} bytes, got {len(c.model_id)}")
    if not (1 <= c.height <= MAX_SIDE and 1 <= c.width <= MAX_SIDE):
        raise ValueError(f"picture size: expected 1..{MAX_SIDE} on each side, got "
                         f"{c.width}x{c.height}")
    if not 1 <= len(c.strings) <= MAX_STRINGS:
        raise ValueError(f"strings: expected 1..{MAX_STRINGS}, got {len(c.strings)}")
    if any(len(s) > 0xFFFFFFFF for s in c.strings):
        raise ValueError("strings: one is longer than 2^32 - 1 bytes")
    out = bytearray(_HEADER.pack(MAGIC, VERSION, c.model_id, c.height, c.width,
                                 len(c.strings)))
    for s in c.strings:
        out += _U32.pack(len(s))
    for s in c.strings:
        out += s
    out += _U32.pack(zlib.crc32(out))
    return bytes(out)


def unpack(data: bytes) -> Container:
    """The fields of a container; anything but a whole, intact container is a one-line
    BitstreamError naming what is wrong."""
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise BitstreamError(f"learned-codec container: {len(data)} bytes, shorter than its "
                             f"{_HEADER.size}-byte header", bit_offset=8 * len(data))
    magic, version, model_id, height, width, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError(f"not a learned-codec container (magic {magic!r}, expected "
                             f"{MAGIC!r})", element="magic", bit_offset=0)
    if version != VERSION:
        raise BitstreamError(f"learned-codec container version {version}, expected {VERSION}",
                             element="version", bit_offset=32)
    if height < 1 or width < 1 or count < 1:
        raise BitstreamError(f"learned-codec container: size {width}x{height} with {count} "
                             "strings (each must be at least 1)", element="size", bit_offset=104)
    table = _HEADER.size + 4 * count
    if len(data) < table + 4:
        raise BitstreamError(f"learned-codec container truncated: {len(data)} bytes, its "
                             f"header and string lengths take {table + 4}",
                             bit_offset=8 * len(data))
    lengths = [_U32.unpack_from(data, _HEADER.size + 4 * i)[0] for i in range(count)]
    expected = table + sum(lengths) + 4
    if expected != len(data):
        what = "truncated" if expected > len(data) else "trailing bytes"
        raise BitstreamError(f"learned-codec container of {len(data)} bytes, its string "
                             f"lengths say {expected} ({what})", element="string lengths",
                             bit_offset=8 * _HEADER.size)
    (crc,) = _U32.unpack_from(data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise BitstreamError("learned-codec container damaged: its CRC-32 does not match",
                             element="crc", bit_offset=8 * (len(data) - 4))
    strings, pos = [], table
    for n in lengths:
        strings.append(data[pos:pos + n])
        pos += n
    return Container(model_id, height, width, tuple(strings))
