"""Mutation testing: a damaged stream decodes, or fails with BitstreamError; nothing else.

Every mutation is drawn from a seeded generator, so a failure names a reproducible case id.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import numpy as np
import pytest
from streams import silu_like

from vcmref.bitstream.extract import extract
from vcmref.bitstream.frame_units import DataUnit, data_unit
from vcmref.bitstream.inspect import inspect_stream
from vcmref.bitstream.parameter_sets import StreamParameterSet, stream_parameter_set
from vcmref.bitstream.syntax import Reader, Writer
from vcmref.bitstream.units import (
    UNIT_HEADER_BYTES,
    UnitType,
    iter_units,
    unit_chunks,
    write_signature,
    write_unit,
)
from vcmref.errors import BitstreamError
from vcmref.refsw.decoder import Decoder, DecodeResult
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.rans_decoder import compiled_kernel

CASE_SECONDS = 5.0






@pytest.fixture(scope="module")
def small_streams() -> list[bytes]:
    rng = np.random.default_rng(31337)
    x = {"t0": silu_like(rng, (2, 5, 6, 7)), "t1": silu_like(rng, (2, 3, 4, 4)),
         "t2": silu_like(rng, (2, 2, 1, 9))}
    return [
        encode(x, EncoderConfig(layers=2, rows_per_unit=3, quant="minmax-channel", bit_depth=8)),
        encode(x, EncoderConfig(layers=2, quant="qp", qp=40, bit_depth=6,
                                wavefront_block_size=2, direct_token_log2=3,
                                max_magnitude_class=3, lane_limit=3)),
        encode({"t0": x["t0"]}, EncoderConfig(quant="step", step=0.05, bit_depth=12,
                                              hashes=False, tile_columns=2)),
    ]


# --------------------------------------------------------------------------- mutations


def flip_bits(rng: random.Random, d: bytes, other: bytes) -> bytes:
    b = bytearray(d)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(8 * len(b))
        b[i // 8] ^= 0x80 >> (i % 8)
    return bytes(b)


def flip_bits_in_one_unit(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Bit flips confined to one payload: reaches the syntax behind the container checks."""
    units = [u for u in iter_units(d) if u.payload]
    u = rng.choice(units)
    b = bytearray(d)
    lo = u.byte_offset + UNIT_HEADER_BYTES
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(8 * lo, 8 * (lo + len(u.payload)))
        b[i // 8] ^= 0x80 >> (i % 8)
    return bytes(b)


def set_bytes(rng: random.Random, d: bytes, other: bytes) -> bytes:
    b = bytearray(d)
    for _ in range(rng.randint(1, 3)):
        b[rng.randrange(len(b))] = rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])
    return bytes(b)


def cut(rng: random.Random, d: bytes, other: bytes) -> bytes:
    return d[: rng.randrange(len(d))]


def splice(rng: random.Random, d: bytes, other: bytes) -> bytes:
    i = rng.randrange(len(d))
    j = rng.randrange(i, min(len(d), i + 64) + 1)
    p = rng.randrange(len(other))
    q = rng.randrange(p, min(len(other), p + 96) + 1)
    return d[:i] + other[p:q] + d[j:]


def duplicate_unit(rng: random.Random, d: bytes, other: bytes) -> bytes:
    c = unit_chunks(d)
    c.insert(rng.randrange(len(c) + 1), c[rng.randrange(len(c))])
    return write_signature() + b"".join(c)


def swap_units(rng: random.Random, d: bytes, other: bytes) -> bytes:
    c = unit_chunks(d)
    i, j = rng.randrange(len(c)), rng.randrange(len(c))
    c[i], c[j] = c[j], c[i]
    return write_signature() + b"".join(c)


def drop_unit(rng: random.Random, d: bytes, other: bytes) -> bytes:
    c = unit_chunks(d)
    del c[rng.randrange(len(c))]
    return write_signature() + b"".join(c)


def foreign_unit(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """A unit of another stream (other SPS, other shapes) inserted or substituted."""
    c, o = unit_chunks(d), unit_chunks(other)
    unit = rng.choice(o[1:-1])
    if rng.random() < 0.5:
        c.insert(rng.randrange(1, len(c)), unit)
    else:
        c[rng.randrange(1, len(c))] = unit
    return write_signature() + b"".join(c)


def retag_unit(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Change one unit header's type or layer_id (the payload stays)."""
    c = unit_chunks(d)
    i = rng.randrange(len(c))
    h = bytearray(c[i])
    if rng.random() < 0.5:
        h[0] = rng.choice([1, 2, 3, 4, 5, 6, 7, 100])
    else:
        h[1] = rng.choice([0, 1, 2, 31, 32, 255])
    c[i] = bytes(h)
    return write_signature() + b"".join(c)


def reencoded_data_unit(rng: random.Random, d: bytes, other: bytes) -> bytes:
    """Corrupt the ANS bytes of a data unit and recompute its CRC, so the entropy decoder
    (not the CRC) has to cope."""
    units = list(iter_units(d))
    sps = stream_parameter_set(Reader(units[0].payload), StreamParameterSet())
    u = rng.choice([u for u in units if u.unit_type == UnitType.DATA_UNIT])
    du = data_unit(Reader(u.payload), DataUnit(), sps, u.payload)
    b = bytearray(du.ans_data)
    k = rng.randrange(4)
    if k == 0 and b:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(8 * len(b))
            b[i // 8] ^= 0x80 >> (i % 8)
    elif k == 1:
        b = b[: rng.randrange(len(b) + 1)]
    elif k == 2:
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    else:
        b = bytearray(rng.randbytes(len(b)))
    du.ans_data = bytes(b)
    w = Writer()
    data_unit(w, du, sps)
    c = unit_chunks(d)
    c[u.index] = write_unit(UnitType.DATA_UNIT, u.layer_id, w.getvalue())
    return write_signature() + b"".join(c)


MUTATIONS: list[Callable[[random.Random, bytes, bytes], bytes]] = [
    flip_bits, flip_bits_in_one_unit, flip_bits_in_one_unit, set_bytes, cut, splice,
    duplicate_unit, swap_units, drop_unit, foreign_unit, retag_unit, reencoded_data_unit,
    reencoded_data_unit,
]


def mutated_cases(streams: list[bytes], n: int, seed: int):
    rng = random.Random(seed)
    for case in range(n):
        s = rng.randrange(len(streams))
        other = streams[(s + 1) % len(streams)]
        m = MUTATIONS[case % len(MUTATIONS)]
        yield f"seed={seed} case={case} stream={s} {m.__name__}", m(rng, streams[s], other)


# --------------------------------------------------------------------------- checks


def check_result(res: DecodeResult) -> None:
    """What a caller may rely on when decoding succeeds."""
    sps = res.sps
    for fr in res.frames:
        for ti in sps.tensors:
            s, y = fr.samples[ti.name], fr.tensors[ti.name]
            assert s.shape == y.shape == (ti.channels, ti.height, ti.width)
            assert s.dtype == np.int32 and y.dtype == np.float32
            if s.size:
                assert sps.sample_min <= s.min() and s.max() <= sps.sample_max
            assert np.isfinite(y).all()


def outcome(fn, data: bytes, label: str):
    """('ok', value) or ('error', BitstreamError); anything else fails the test."""
    t0 = time.perf_counter()
    try:
        value = fn(data)
        result = ("ok", value)
    except BitstreamError as e:
        assert str(e), f"{label}: empty BitstreamError message"
        result = ("error", e)
    except Exception as e:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{label}: {fn.__qualname__} raised {type(e).__name__}: {e}")
    elapsed = time.perf_counter() - t0
    assert elapsed < CASE_SECONDS, f"{label}: {fn.__qualname__} took {elapsed:.1f} s"
    return result


def run_case(label: str, data: bytes) -> str:
    kind, res = outcome(Decoder().decode, data, label)
    if kind == "ok":
        check_result(res)
    kind1, res1 = outcome(Decoder(max_layers=1).decode, data, label)
    if kind1 == "ok":
        check_result(res1)
    outcome(inspect_stream, data, label)
    outcome(lambda d: extract(d, max_layers=1), data, label)
    return kind


def test_unmutated_streams_decode(small_streams) -> None:
    for s in small_streams:
        assert run_case("original", s) == "ok"


def test_mutations_small_streams(small_streams) -> None:
    kinds = {"ok": 0, "error": 0}
    for label, data in mutated_cases(small_streams, 300, seed=20240601):
        kinds[run_case(label, data)] += 1
    # the mutations must mostly be caught, or the test is not exercising the checks
    assert kinds["error"] > 220


def test_mutations_real_features(real_features) -> None:
    a = encode(real_features, EncoderConfig(layers=2, rows_per_unit=16, quant="step",
                                            step=0.2, bit_depth=8))
    b = encode(real_features, EncoderConfig(quant="minmax-channel", bit_depth=10,
                                            wavefront_block_size=4, lane_limit=16))
    assert run_case("original", a) == "ok" and run_case("original", b) == "ok"
    kinds = {"ok": 0, "error": 0}
    for label, data in mutated_cases([a, b], 26, seed=77):
        kinds[run_case(label, data)] += 1
    assert kinds["error"] > 16


@pytest.mark.skipif(compiled_kernel() is None, reason="compiled rANS kernel not built")
def test_compiled_kernel_agrees_with_numpy_on_mutations(small_streams, monkeypatch) -> None:
    """The compiled kernel and the numpy decoder make the same decision on damaged data."""
    cases = [(lbl, d) for lbl, d in mutated_cases(small_streams, 260, seed=4242)
             if "data_unit" in lbl or "in_one_unit" in lbl]
    assert len(cases) >= 40
    for label, data in [("original", s) for s in small_streams] + cases:
        monkeypatch.delenv("VCMREF_NUMPY_ONLY", raising=False)
        k_kind, k_res = outcome(Decoder().decode, data, label)
        monkeypatch.setenv("VCMREF_NUMPY_ONLY", "1")
        n_kind, n_res = outcome(Decoder().decode, data, label)
        assert k_kind == n_kind, f"{label}: kernel {k_kind} ({k_res}), numpy {n_kind} ({n_res})"
        if k_kind == "ok":
            for a, b in zip(k_res.frames, n_res.frames, strict=True):
                for name in a.samples:
                    assert np.array_equal(a.samples[name], b.samples[name]), label


@pytest.mark.slow
def test_mutations_many(small_streams) -> None:
    for seed in (1, 2):
        for label, data in mutated_cases(small_streams, 1000, seed=seed):
            run_case(label, data)


@pytest.mark.slow
def test_mutations_many_numpy_only(small_streams, monkeypatch) -> None:
    monkeypatch.setenv("VCMREF_NUMPY_ONLY", "1")
    for label, data in mutated_cases(small_streams, 1000, seed=99):
        run_case(label, data)
