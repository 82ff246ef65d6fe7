"""Mutators: seeded changes to a stream, from bit flips to structure-aware rewrites.

Each mutator takes (rng, input, another input) and returns new bytes. Most know the container
(units, payload sizes, data-unit CRC-32s) or the syntax elements as ``inspect_stream`` lists
them, so that their inputs get past the container checks and the CRC and reach the syntax
parsers, the tile models and the entropy decoder. :func:`mutate` stacks a few of them."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence

from vcmref.bitstream.inspect import inspect_stream
from vcmref.bitstream.syntax import UE_MAX_VALUE, TracedElement
from vcmref.bitstream.units import SIGNATURE_BYTES, UNIT_HEADER_BYTES, UnitType
from vcmref.conformance.fuzz.container import (
    RawUnit,
    bits_of,
    build_data_unit,
    bytes_of,
    coded_bits,
    fix_crc,
    join_units,
    parse_data_unit,
    split_units,
)

Mutator = Callable[[random.Random, bytes, bytes], bytes]
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
INTERESTING_SIZES = (0, 1, 2, 3, 4, 5, 7, 8, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def _pick_unit(rng: random.Random, units: list[RawUnit], prefer: int | None = None,
               nonempty: bool = False) -> int | None:
    idx = [i for i, u in enumerate(units) if not nonempty or u.payload]
    if not idx:
        return None
    if prefer is not None and rng.random() < 0.7:
        pref = [i for i in idx if units[i].unit_type == prefer]
        if pref:
            return rng.choice(pref)
    return rng.choice(idx)


def _mutate_bytes(rng: random.Random, b: bytes, lo: int = 0, hi: int | None = None) -> bytes:
    """One random byte-level change inside b[lo:hi] (may change the length)."""
    hi = len(b) if hi is None else hi
    buf = bytearray(b)
    if hi <= lo:
        return bytes(buf[:lo] + bytes([rng.randrange(256)]) + buf[lo:])
    k = rng.randrange(6)
    if k == 0:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(8 * lo, 8 * hi)
            buf[i // 8] ^= 0x80 >> (i % 8)
    elif k == 1:
        for _ in range(rng.randint(1, 3)):
            buf[rng.randrange(lo, hi)] = rng.choice(INTERESTING_BYTES + (rng.randrange(256),))
    elif k == 2:
        i = rng.randrange(lo, hi + 1)
        buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif k == 3:
        i = rng.randrange(lo, hi)
        del buf[i : min(hi, i + rng.randint(1, 8))]
    elif k == 4:
        i = rng.randrange(lo, hi)
        buf[i] = (buf[i] + rng.choice((1, -1, 16, -16))) & 0xFF
    else:
        i = rng.randrange(lo, hi)
        n = min(hi - i, rng.randint(1, 16))
        buf[i : i + n] = bytes([rng.choice(INTERESTING_BYTES)]) * n
    return bytes(buf)


def flip_bits(rng: random.Random, d: bytes, other: bytes) -> bytes:
    b = bytearray(d)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(8 * len(b))
        b[i // 8] ^= 0x80 >> (i % 8)
    return bytes(b)


def change_bytes(rng: random.Random, d: bytes, other: bytes) -> bytes:
    return _mutate_bytes(rng, d)


def truncate(rng: random.Random, d: bytes, other: bytes) -> bytes:
    if rng.random() < 0.5:
        return d[: rng.randrange(len(d))]
    return d[: max(0, len(d) - rng.randint(1, 8))]


def splice(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Bytes of another stream pasted over a random range."""
    i = rng.randrange(len(d) + 1)
    j = rng.randrange(i, min(len(d), i + 64) + 1)
    p = rng.randrange(len(other) + 1)
    q = rng.randrange(p, min(len(other), p + 96) + 1)
    return d[:i] + other[p:q] + d[j:]


def _with_units(fn: Callable[[random.Random, list[RawUnit], list[RawUnit]], list[RawUnit] | None]
                ) -> Mutator:
    """Make a unit-list operation a mutator (the signature and any trailing bytes kept)."""
    def mutator(rng: random.Random, d: bytes, other: bytes) -> bytes:
        head, units, tail = split_units(d)
        out = fn(rng, units, split_units(other)[1]) if units else None
        return flip_bits(rng, d, other) if out is None else join_units(out, head, tail)
    mutator.__name__ = fn.__name__
    mutator.__doc__ = fn.__doc__
    return mutator


@_with_units
def drop_unit(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit]:
    del u[rng.randrange(len(u))]
    return u


@_with_units
def duplicate_unit(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit]:
    u.insert(rng.randrange(len(u) + 1), u[rng.randrange(len(u))])
    return u


@_with_units
def drop_hashes(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit] | None:
    """Remove every data_hash unit (then damaged ANS data that still decodes is not caught by
    the MD5 check, and the two decoding paths' samples get compared)."""
    kept = [x for x in u if x.unit_type != UnitType.DATA_HASH]
    return kept if len(kept) < len(u) else None


@_with_units
def swap_units(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit]:
    i, j = rng.randrange(len(u)), rng.randrange(len(u))
    u[i], u[j] = u[j], u[i]
    return u


@_with_units
def reorder_units(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit]:
    """Move one unit elsewhere, or shuffle or reverse a range of units."""
    k = rng.randrange(3)
    if k == 0:
        x = u.pop(rng.randrange(len(u)))
        u.insert(rng.randrange(len(u) + 1), x)
        return u
    i = rng.randrange(len(u))
    j = rng.randrange(i, min(len(u), i + 8) + 1)
    part = u[i:j]
    if k == 1:
        rng.shuffle(part)
    else:
        part.reverse()
    return u[:i] + part + u[j:]


@_with_units
def foreign_unit(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit] | None:
    """A unit of another stream inserted, or substituted for one."""
    if not o:
        return None
    x = rng.choice(o)
    if rng.random() < 0.5:
        u.insert(rng.randrange(len(u) + 1), x)
    else:
        u[rng.randrange(len(u))] = x
    return u


@_with_units
def crossover_units(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit]:
    """The first units of this stream, then the rest of another."""
    return u[: rng.randrange(len(u) + 1)] + o[rng.randrange(len(o) + 1):]


@_with_units
def retag_unit(rng: random.Random, u: list[RawUnit], o: list[RawUnit]) -> list[RawUnit]:
    """Change one header's forbidden bit, unit type or layer id."""
    i = rng.randrange(len(u))
    h = bytearray(u[i].header)
    k = rng.randrange(5)
    if k == 0:
        h[0] ^= 0x80
    elif k <= 2:
        h[0] = (h[0] & 0x80) | rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 100, 127))
    else:
        h[1] = rng.choice((0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 255, rng.randrange(256)))
    u[i] = RawUnit(bytes(h), u[i].payload)
    return u


def rewrite_payload_size(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Change one unit's payload_size field only (the units after it are misparsed)."""
    head, units, tail = split_units(d)
    if not units:
        return truncate(rng, d, other)
    i = rng.randrange(len(units))
    size = len(units[i].payload)
    new = (size + rng.choice((-4, -2, -1, 1, 2, 4, 6, 7)) if rng.random() < 0.6
           else rng.choice(INTERESTING_SIZES))
    units[i] = RawUnit(units[i].header[:2] + (new & 0xFFFFFFFF).to_bytes(4, "big"),
                       units[i].payload)
    return join_units(units, head, tail)


def resize_payload(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Cut or extend one unit's payload, payload_size kept consistent (CRC fixed)."""
    head, units, tail = split_units(d)
    i = _pick_unit(rng, units)
    if i is None:
        return truncate(rng, d, other)
    u = units[i]
    p = u.payload
    if p and rng.random() < 0.5:
        p = p[: rng.randrange(len(p))]
    else:
        p += bytes(rng.choice((0, rng.randrange(256))) for _ in range(rng.randint(1, 16)))
    if u.unit_type == UnitType.DATA_UNIT and rng.random() < 0.8:
        p = fix_crc(p)
    units[i] = u.resized(p)
    return join_units(units, head, tail)


def mutate_in_payload(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Byte-level changes confined to one payload; a data unit's CRC-32 is recomputed (most of
    the time) and payload_size follows the length, so the change reaches the unit's parser."""
    head, units, tail = split_units(d)
    i = _pick_unit(rng, units, prefer=rng.choice((UnitType.DATA_UNIT, UnitType.TILE_MODEL,
                                                 UnitType.STREAM_PARAMETER_SET, None)),
                   nonempty=True)
    if i is None:
        return flip_bits(rng, d, other)
    u = units[i]
    is_data = u.unit_type == UnitType.DATA_UNIT and len(u.payload) > 4
    body = u.payload[:-4] if is_data else u.payload
    body = _mutate_bytes(rng, body)
    p = fix_crc(body + b"\0\0\0\0") if is_data and rng.random() < 0.9 else (
        body + u.payload[-4:] if is_data else body)
    units[i] = u.resized(p)
    return join_units(units, head, tail)


def _pick_data_unit(rng: random.Random, d: bytes):
    """(head, units, tail, index, header fields, ANS data) of a random parseable data unit of
    the stream, or None when it has none."""
    head, units, tail = split_units(d)
    cands = [i for i, u in enumerate(units)
             if u.unit_type == UnitType.DATA_UNIT and parse_data_unit(u.payload)]
    if not cands:
        return None
    i = rng.choice(cands)
    fields, ans = parse_data_unit(units[i].payload)  # type: ignore[misc]
    return head, units, tail, i, fields, ans


def mutate_ans_data(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Change a data unit's ANS data, then rewrite its ans_bytes and CRC-32: only the entropy
    decoder can notice."""
    picked = _pick_data_unit(rng, d)
    if picked is None:
        return mutate_in_payload(rng, d, other)
    head, units, tail, i, fields, ans = picked
    b = bytearray(ans)
    k = rng.randrange(9)
    if k <= 1 and b:
        for _ in range(rng.randint(1, 3) if k == 0 else rng.randint(4, 32)):
            j = rng.randrange(8 * len(b))
            b[j // 8] ^= 0x80 >> (j % 8)
    elif k == 2 and b:  # near the end: the final state and the trailing-zero check
        for _ in range(rng.randint(1, 3)):
            j = rng.randrange(max(0, 8 * len(b) - 40), 8 * len(b))
            b[j // 8] ^= 0x80 >> (j % 8)
    elif k == 3:
        b = b[: rng.randrange(len(b) + 1)]
    elif k == 4:
        b += bytes(rng.choice((0, rng.randrange(256))) for _ in range(rng.randint(1, 8)))
    elif k == 5:
        b = bytearray(rng.randbytes(len(b) if rng.random() < 0.7 else rng.randint(0, 64)))
    elif k == 6:
        b = bytearray([rng.choice((0x00, 0xFF))]) * (len(b) if rng.random() < 0.7
                                                      else rng.randint(0, 64))
    elif k == 7:  # ANS data of another data unit (this stream's or another's)
        pool = [parse_data_unit(x.payload) for x in units + split_units(other)[1]
                if x.unit_type == UnitType.DATA_UNIT]
        pool = [x for x in pool if x]
        b = bytearray(rng.choice(pool)[1]) if pool else b
    else:
        b = bytearray(_mutate_bytes(rng, bytes(b)))
    units[i] = units[i].resized(build_data_unit(fields, bytes(b)))
    return join_units(units, head, tail)


def mutate_data_unit_fields(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Change a data unit's frame_index, tensor_idx or unit_idx (CRC-32 recomputed)."""
    picked = _pick_data_unit(rng, d)
    if picked is None:
        return mutate_in_payload(rng, d, other)
    head, units, tail, i, fields, ans = picked
    j = rng.randrange(3)
    fields[j] = rng.choice((0, 1, 2, fields[j] + 1, fields[j] - 1, fields[j] + 7, 4095, 4096,
                            (1 << 31) - 1, 1 << 31, UE_MAX_VALUE))
    units[i] = units[i].resized(build_data_unit(fields, ans))
    return join_units(units, head, tail)


def _new_value(rng: random.Random, el: TracedElement, v: int) -> int:
    desc = el.descriptor
    if desc.startswith("u("):
        n = int(desc[2:-1])
        top = (1 << n) - 1
        return rng.choice((0, 1, top, top - 1, 1 << (n - 1), v ^ 1, v + 1, v - 1,
                           rng.randrange(top + 1))) & top
    small = (0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 63, 64, 255, 256, 1023, 1024, 4095,
             4096, 65535, 65536, (1 << 20), (1 << 26), (1 << 31) - 1, 1 << 31, UE_MAX_VALUE)
    v2 = rng.choice((v + 1, v - 1, 2 * v, v // 2, v + rng.randint(2, 9), rng.choice(small),
                     rng.choice(small)))
    if desc == "se(v)" and rng.random() < 0.4:
        v2 = -v2
    return v2


def rewrite_element(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Give one syntax element (as inspect_stream lists it) another value: boundary values,
    neighbours, random values. Exp-Golomb codes are re-coded (the payload grows or shrinks and
    payload_size follows), a data unit's CRC-32 is recomputed. Needs the stream's element
    table computed beforehand (see element_table): inspect_stream is not run on untested
    input in the process that makes the inputs."""
    elements = element_table(d, compute=False)
    if not elements:
        return mutate_in_payload(rng, d, other)
    el, count = rng.choice(elements)
    desc = el.descriptor
    offset, length = el.bit_offset, el.bit_length
    if desc.startswith("u(") and count > 1:  # a u_list: one entry of it
        n = length // count
        k = rng.randrange(count)
        offset, length, value = offset + n * k, n, el.value[k]
        new = format(_new_value(rng, TracedElement(el.name, f"u({n})", offset, n, value),
                                value), f"0{n}b")
    elif desc.startswith("u(") or desc.startswith("f("):
        n = int(desc[2:-1])
        value = el.value[0] if isinstance(el.value, list) else el.value
        value = value if isinstance(value, int) else 0
        new = format(_new_value(rng, TracedElement(el.name, f"u({n})", offset, n, value),
                                value), f"0{n}b")
    elif desc in ("ue(v)", "se(v)"):
        new = coded_bits(desc, _new_value(rng, el, int(el.value)))
    elif desc == "st(v)":  # a string: new length code (its bytes stay)
        lz = 0
        bits = bits_of(d[offset // 8 : offset // 8 + 8])[offset % 8:]
        while lz < len(bits) and bits[lz] == "0":
            lz += 1
        length = 2 * lz + 1
        new = coded_bits("ue(v)", rng.choice((0, 1, 255, 256, len(el.value) + 1,
                                              len(el.value) - 1)))
    else:  # b(8n): raw bytes, changed in place
        lo, hi = offset // 8, (offset + length) // 8
        out = bytearray(d)
        if hi > lo:
            for _ in range(rng.randint(1, 3)):
                out[rng.randrange(lo, hi)] = rng.randrange(256)
        return _refresh_crc_at(bytes(out), offset)
    return _replace_bits(d, offset, length, new)


def _unit_spans(d: bytes) -> list[tuple[int, int, int]]:
    """(header byte offset, payload end, unit type) of each unit."""
    spans, pos = [], SIGNATURE_BYTES
    for u in split_units(d)[1]:
        end = pos + UNIT_HEADER_BYTES + len(u.payload)
        spans.append((pos, end, u.unit_type))
        pos = end
    return spans


def _replace_bits(d: bytes, offset: int, length: int, new: str) -> bytes:
    """Replace bits [offset, offset + length) of the stream by `new`; inside a payload the
    payload is re-padded to whole bytes, payload_size updated and a data unit's CRC fixed."""
    for start, end, utype in _unit_spans(d):
        pstart = start + UNIT_HEADER_BYTES
        if 8 * pstart <= offset < 8 * end:
            bits = bits_of(d[pstart:end])
            rel = offset - 8 * pstart
            bits = bits[:rel] + new + bits[rel + length :]
            payload = bytes_of(bits)
            if utype == UnitType.DATA_UNIT:
                payload = fix_crc(payload)
            hdr = d[start : start + 2] + len(payload).to_bytes(4, "big")
            return d[:start] + hdr + payload + d[end:]
    # the signature or a unit header: fixed-size fields, overwritten in place
    bits = bits_of(d)
    new = new[:length].ljust(length, "0")
    return bytes_of(bits[:offset] + new + bits[offset + length :])


def _refresh_crc_at(d: bytes, offset: int) -> bytes:
    for start, end, utype in _unit_spans(d):
        if 8 * start <= offset < 8 * end and utype == UnitType.DATA_UNIT:
            return d[: start + UNIT_HEADER_BYTES] + fix_crc(
                d[start + UNIT_HEADER_BYTES : end]) + d[end:]
    return d


_ELEMENT_CACHE: dict[bytes, list[tuple[TracedElement, int]]] = {}


def element_table(d: bytes, compute: bool = True) -> list[tuple[TracedElement, int]]:
    """Every syntax element of the stream, as (element, entries of a u_list or 1); [] when
    inspect_stream rejects it (or, with compute=False, when it was not computed before).
    Cached by the stream's hash."""
    key = hashlib.sha1(d).digest()
    if key in _ELEMENT_CACHE:
        return _ELEMENT_CACHE[key]
    if not compute:
        return []
    try:
        sig, units = inspect_stream(d)
    except Exception:  # noqa: BLE001 - a rejected (or worse) stream has no table
        table: list[tuple[TracedElement, int]] = []
    else:
        table = []
        for iu in units:
            for el in iu.header + iu.payload:
                count = len(el.value) if isinstance(el.value, list) else 1
                if count:
                    table.append((el, count))
    if len(_ELEMENT_CACHE) > 20000:
        _ELEMENT_CACHE.clear()
    _ELEMENT_CACHE[key] = table
    return table


MUTATORS: list[tuple[Mutator, int]] = [  # (mutator, weight)
    (flip_bits, 3), (change_bytes, 3), (truncate, 1), (splice, 2),
    (drop_unit, 2), (duplicate_unit, 2), (swap_units, 1), (reorder_units, 2),
    (foreign_unit, 2), (crossover_units, 1), (retag_unit, 2),
    (rewrite_payload_size, 2), (resize_payload, 1), (drop_hashes, 2),
    (mutate_in_payload, 6), (mutate_ans_data, 8), (mutate_data_unit_fields, 2),
    (rewrite_element, 10),
]


def mutate(rng: random.Random, data: bytes, other: bytes, max_len: int = 1 << 16,
           mutators: Sequence[tuple[Mutator, int]] = MUTATORS) -> tuple[bytes, list[str]]:
    """1 to 4 stacked mutations (most often 1): (new input, names of the mutators)."""
    funcs = [m for m, _ in mutators]
    weights = [w for _, w in mutators]
    n = 1 if rng.random() < 0.6 else rng.randint(2, 4)
    names = []
    out = data
    for _ in range(n):
        m = rng.choices(funcs, weights)[0]
        if not out:
            out = other[: rng.randint(0, len(other))]
            names.append("restart")
            continue
        out = m(rng, out, other or out)
        names.append(m.__name__)
    return out[:max_len], names
