"""Fuzzing harness for the decoder: seeded, structure-aware mutation of vcmref streams.

What is tested: the decoder (``Decoder().decode``, on the compiled rANS kernel and on the
numpy-only path, chosen per call through ``VCMREF_NUMPY_ONLY``), ``Decoder(max_layers=1)``,
``inspect_stream`` and ``extract(data, max_layers=1)``. On any input, each may succeed or raise
:class:`~vcmref.errors.BitstreamError`; anything else is a *finding*:

* ``exception``: any other exception (``MemoryError``, ``IndexError``, ``AssertionError``...),
  including a broken promise of a successful decode (shapes, dtypes, sample range, finite
  tensors) or a ``BitstreamError`` without a message;
* ``timeout``: one input takes longer than the time limit (all targets together);
* ``crash``: the process dies (a memory-safety bug in the native kernel, an abort...);
* ``mismatch``: the compiled kernel and the numpy path disagree (one decodes, the other
  rejects, or they decode different samples).

How: a parent process generates inputs with a seeded ``random.Random`` (same seed, same input
sequence) and hands them in batches to forked worker processes, which run every target on
every input and report each input's outcome over a pipe. A worker that dies or stops
answering (hang) is replaced; the input it was working on is known exactly, is re-run alone in
a fresh worker to confirm it, and is saved with its details under ``OUT/failures/``. The
worker's Python stack at the crash or hang is captured with :mod:`faulthandler`.

Inputs come from a seed corpus: small, varied valid streams built here with the reference
encoder (always), plus the conformance suite ``conformance_streams/**/*.vcm`` when present.
Mutators know the container (units, payload sizes, data-unit CRC-32s, syntax elements as
``inspect_stream`` lists them), so most mutations get past the container checks and the CRC
and reach the syntax parsers, the tile models and the entropy decoder. Inputs whose outcome
shows something new (a first successful decode, or a rejection for a new reason at a new
syntax element) join the corpus: a cheap stand-in for coverage feedback.

Entry points: :func:`run` (used by ``benchmarks/fuzz_decoder.py`` and the smoke test),
:func:`check_input` and :func:`reproduce` (re-run a saved input in this process), and
``python -m vcmref.conformance.fuzz reproduce FILE``. :func:`atheris_main` is an optional
coverage-guided mode on top of atheris (not a dependency of vcmref).
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import json
import mmap
import multiprocessing
import os
import random
import re
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_connections
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vcmref.assets import REPO_ROOT
from vcmref.bitstream.bitio import BitReader
from vcmref.bitstream.extract import extract
from vcmref.bitstream.inspect import inspect_stream
from vcmref.bitstream.syntax import UE_MAX_VALUE, TracedElement, Writer
from vcmref.bitstream.units import (
    SIGNATURE_BYTES,
    UNIT_HEADER_BYTES,
    UnitType,
    write_signature,
)
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.refsw.decoder import Decoder, DecodeResult
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.rans_decoder import compiled_kernel

DEFAULT_TIME_LIMIT = 5.0  # seconds per input, all targets together
DEFAULT_MEMORY_LIMIT_MB = 4096  # address space a worker may add to what it starts with
DEFAULT_BATCH_SIZE = 16
DEFAULT_SUITE_DIR = REPO_ROOT / "conformance_streams"
MAX_SEED_BYTES = 1 << 20  # suite files larger than this are not used as seeds
MAX_CORPUS = 4000  # inputs kept for mutation (seeds included)
MAX_SAVED_PER_SIGNATURE = 3
# Rejections that happen while decoding a frame (after every unit parsed): inputs rejected
# there, or decoded, are preferred as parents of new mutants.
DEEP_ELEMENTS = {"ans_data", "decoded_md5", "quant_step", "tensor_max", "max"}
NUMPY_ONLY_ENV = "VCMREF_NUMPY_ONLY"

# =========================================================================== targets


class ContractViolationError(AssertionError):
    """A decode that succeeded but broke a promise of DecodeResult (or an empty error)."""


class Target(NamedTuple):
    """One function under test: takes the input bytes, returns a short digest or None, raises
    BitstreamError on a non-conforming input and nothing else."""

    name: str
    fn: Callable[[bytes], Any]


@contextlib.contextmanager
def numpy_only(flag: bool) -> Iterator[None]:
    """Set (or clear) VCMREF_NUMPY_ONLY for the duration; the decoder reads it at each call."""
    old = os.environ.get(NUMPY_ONLY_ENV)
    if flag:
        os.environ[NUMPY_ONLY_ENV] = "1"
    else:
        os.environ.pop(NUMPY_ONLY_ENV, None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(NUMPY_ONLY_ENV, None)
        else:
            os.environ[NUMPY_ONLY_ENV] = old


def kernel_available() -> bool:
    with numpy_only(False):
        return compiled_kernel() is not None


def check_decoded(res: DecodeResult) -> None:
    """What a caller may rely on when decoding succeeds (raises ContractViolationError)."""
    sps = res.sps
    for fr in res.frames:
        for ti in sps.tensors:
            s, y = fr.samples[ti.name], fr.tensors[ti.name]
            shape = (ti.channels, ti.height, ti.width)
            if s.shape != shape or y.shape != shape:
                raise ContractViolationError(f"tensor {ti.name!r}: shapes {s.shape}, {y.shape}, "
                                        f"SPS says {shape}")
            if s.dtype != np.int32 or y.dtype != np.float32:
                raise ContractViolationError(f"tensor {ti.name!r}: dtypes {s.dtype}, {y.dtype}")
            if s.size and (s.min() < sps.sample_min or s.max() > sps.sample_max):
                raise ContractViolationError(f"tensor {ti.name!r}: samples in [{s.min()}, "
                                        f"{s.max()}], outside [{sps.sample_min}, "
                                        f"{sps.sample_max}]")
            if not np.isfinite(y).all():
                raise ContractViolationError(f"tensor {ti.name!r}: non-finite decoded values")


def result_digest(res: DecodeResult) -> str:
    """Short digest of every decoded sample (for comparing the two decoding paths)."""
    h = hashlib.sha1()
    for fr in res.frames:
        h.update(struct.pack(">q", fr.frame_index))
        for name in sorted(fr.samples):
            h.update(name.encode())
            h.update(np.ascontiguousarray(fr.samples[name]).tobytes())
    return f"{len(res.frames)}:{h.hexdigest()[:16]}"


def _decode(data: bytes, numpy: bool, max_layers: int | None = None) -> str:
    with numpy_only(numpy):
        res = Decoder(max_layers=max_layers).decode(data)
    check_decoded(res)
    return result_digest(res)


def decode_kernel(data: bytes) -> str:
    return _decode(data, numpy=False)


def decode_numpy(data: bytes) -> str:
    return _decode(data, numpy=True)


def decode_max_layers_1(data: bytes) -> str:
    return _decode(data, numpy=False, max_layers=1)


def inspect_target(data: bytes) -> str:
    sig, units = inspect_stream(data)
    return f"{len(units)} units"


def extract_target(data: bytes) -> str:
    out = extract(data, max_layers=1)
    return f"{len(out)} bytes"


KERNEL_TARGET, NUMPY_TARGET = "decode/kernel", "decode/numpy"


def default_targets() -> list[Target]:
    """Both decoding paths (the kernel one only where it is built), a layer-limited decode,
    inspect and extract."""
    targets = []
    if kernel_available():
        targets.append(Target(KERNEL_TARGET, decode_kernel))
    targets += [Target(NUMPY_TARGET, decode_numpy),
                Target("decode/max_layers=1", decode_max_layers_1),
                Target("inspect", inspect_target),
                Target("extract", extract_target)]
    return targets


# Outcome of one target on one input (plain tuples: they cross the worker pipe):
#   ("ok", digest) | ("error", feature) | ("fail", exc_type, message, traceback, location)
Outcome = tuple


_NUMBER_RE = re.compile(r"0x[0-9a-fA-F]+|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def error_feature(e: BitstreamError) -> str:
    """A BitstreamError with its numbers blanked: the kind of check that rejected the input."""
    unit = e.unit or ""
    unit = unit.split(":", 1)[1] if ":" in unit else _NUMBER_RE.sub("#", unit)
    element = re.sub(r"\[[^\]]*\]", "", e.element or "")
    return f"{unit}|{element}|{_NUMBER_RE.sub('#', e.reason)}"[:240]


def _location(tb: traceback.StackSummary) -> str:
    """Where an exception caught in run_target came from: the innermost frame of vcmref code
    (this harness aside), else the innermost frame; as 'file.py:123 in fn'."""
    frames = list(tb)[1:] or list(tb)  # the first frame is run_target's
    here = os.path.abspath(__file__)
    ours = [f for f in frames if f"{os.sep}vcmref{os.sep}" in f.filename
            and os.path.abspath(f.filename) != here]
    f = (ours or frames)[-1] if frames else None
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}" if f else "?"


def run_target(target: Target, data: bytes) -> Outcome:
    try:
        return ("ok", target.fn(data))
    except BitstreamError as e:
        if not str(e):
            return ("fail", "ContractViolationError", "BitstreamError with an empty message",
                    traceback.format_exc(), _location(traceback.extract_tb(e.__traceback__)))
        return ("error", error_feature(e))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - anything else is what we look for
        return ("fail", type(e).__name__, str(e)[:2000], traceback.format_exc(),
                _location(traceback.extract_tb(e.__traceback__)))


def check_input(data: bytes, targets: Sequence[Target] | None = None) -> list[tuple[str, Outcome]]:
    """Run every target on one input in this process: [(target name, outcome)]."""
    targets = default_targets() if targets is None else targets
    return [(t.name, run_target(t, data)) for t in targets]


# =========================================================================== seed corpus


def _silu_like(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0,
               shift: float = 0.0) -> np.ndarray:
    x = rng.normal(size=shape) * scale + shift
    with np.errstate(over="ignore"):
        return (x / (1.0 + np.exp(-x))).astype(np.float32)


def builtin_seeds() -> list[tuple[str, bytes]]:
    """Small, varied, valid streams: every quantization mode, bit depths 1 to 16, one to three
    layers (with explicit references), several tensors and frames, one or many data units per
    tile, wavefront blocks and lane limits, escape tokens, a one-token model, reserved units,
    a stream without frames and an extracted sub-stream. Deterministic."""
    rng = np.random.default_rng(20240601)
    a = {"t0": _silu_like(rng, (2, 5, 6, 7)), "t1": _silu_like(rng, (2, 3, 4, 4)),
         "t2": _silu_like(rng, (2, 2, 1, 9))}
    big = {"x": (rng.normal(size=(1, 2, 6, 6)) * 8.0).astype(np.float32)}
    cases: list[tuple[str, dict[str, np.ndarray], EncoderConfig]] = [
        ("minmax-channel-2layers-rows3", a,
         EncoderConfig(layers=2, rows_per_unit=3, quant="minmax-channel", bit_depth=8)),
        ("qp-block2-lanes3-direct3", a,
         EncoderConfig(layers=2, quant="qp", qp=40, bit_depth=6, wavefront_block_size=2,
                       direct_token_log2=3, max_magnitude_class=3, lane_limit=3)),
        ("step-12bit-nohash-cols2", {"t0": a["t0"]},
         EncoderConfig(quant="step", step=0.05, bit_depth=12, hashes=False, tile_columns=2)),
        ("minmax-1bit", {"m": _silu_like(rng, (1, 4, 3, 3))},
         EncoderConfig(bit_depth=1)),
        ("step-16bit-escapes-direct2", big,
         EncoderConfig(quant="step", step=1e-3, bit_depth=16, direct_token_log2=2,
                       max_magnitude_class=2)),
        ("lane0-block1", {"w": _silu_like(rng, (1, 2, 5, 8))},
         EncoderConfig(lane_limit=0, wavefront_block_size=1, bit_depth=7)),
        ("qp-3layers-refs-order-padding",
         {"t0": _silu_like(rng, (1, 6, 3, 4)), "t1": _silu_like(rng, (1, 3, 2, 5))},
         EncoderConfig(quant="qp", qp=30, tensor_qp={"t0": 20, "t1": 50}, layers=3,
                       layer_refs=[[], [0], [0]], channel_order={"t0": [5, 4, 3, 2, 1, 0]},
                       tile_padding=1, bit_depth=9)),
        ("3frames-rows1", {"f": _silu_like(rng, (3, 2, 3, 5))},
         EncoderConfig(rows_per_unit=1, quant="minmax", bit_depth=10)),
        ("constant-one-token-model", {"z": np.zeros((1, 2, 4, 4), dtype=np.float32)},
         EncoderConfig(quant="step", step=0.1, bit_depth=8)),
        ("single-sample", {"s": np.full((1, 1, 1, 1), 0.5, dtype=np.float32)},
         EncoderConfig(quant="minmax", bit_depth=4)),
        ("level20-names-one-context", {"n": _silu_like(rng, (1, 17, 2, 3))},
         EncoderConfig(level=20, model_id="yolox-nano", split_point="dark3",
                       max_magnitude_class=0, direct_token_log2=6, bit_depth=10)),
        ("many-contexts-wide-lanes", {"v": _silu_like(rng, (1, 1, 16, 40), scale=3.0)},
         EncoderConfig(quant="step", step=0.01, bit_depth=14, direct_token_log2=6,
                       max_magnitude_class=9, lane_limit=64, rows_per_unit=5)),
        ("layer-uneven-explicit-plan",
         {"p": _silu_like(rng, (2, 5, 2, 2)), "q": _silu_like(rng, (2, 2, 3, 3))},
         EncoderConfig(layer_channels=[{"p": 4}, {"p": 1, "q": 2}], layer_refs=[[], []],
                       quant="minmax-channel", bit_depth=5, wavefront_block_size=3,
                       lane_limit=2)),
    ]
    seeds = []
    for name, tensors, cfg in cases:
        try:
            seeds.append((name, encode(tensors, cfg)))
        except EncoderInputError:  # pragma: no cover - a seed the encoder no longer takes
            continue
    by_name = dict(seeds)
    first = by_name.get("minmax-channel-2layers-rows3") or seeds[0][1]
    chunks = split_units(first)[1]
    if len(chunks) >= 2:  # SPS then end of stream: a valid stream with no frame
        seeds.append(("no-frames", join_units(chunks[:1] + chunks[-1:])))
        reserved = [RawUnit.make(7, 0, b"\x00\x01"), RawUnit.make(127, 0, b"")]
        seeds.append(("reserved-units",
                      join_units(chunks[:1] + reserved[:1] + chunks[1:-1] + reserved[1:]
                                 + chunks[-1:])))
    with contextlib.suppress(BitstreamError):
        seeds.append(("extracted-layer0", extract(first, max_layers=1)))
    return seeds


def suite_seeds(suite_dir: Path | str | None = None,
                max_bytes: int = MAX_SEED_BYTES) -> list[tuple[str, bytes]]:
    """The conformance suite's streams (``*.vcm`` under suite_dir, recursively), smallest
    files first; [] when the folder does not exist."""
    root = Path(suite_dir) if suite_dir is not None else DEFAULT_SUITE_DIR
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.rglob("*.vcm")):
        with contextlib.suppress(OSError):
            if p.is_file() and p.stat().st_size <= max_bytes:
                out.append((str(p.relative_to(root)), p.read_bytes()))
    return out


def seed_corpus(suite_dir: Path | str | None = None,
                use_suite: bool = True) -> list[tuple[str, bytes]]:
    """Built-in seeds, then the suite's streams (when present)."""
    seeds = [(f"builtin:{n}", d) for n, d in builtin_seeds()]
    if use_suite:
        seeds += [(f"suite:{n}", d) for n, d in suite_seeds(suite_dir)]
    return seeds


# =========================================================================== container


@dataclass
class RawUnit:
    """One unit as bytes: 6-byte header (any content) and payload."""

    header: bytes
    payload: bytes

    @staticmethod
    def make(unit_type: int, layer_id: int, payload: bytes) -> RawUnit:
        return RawUnit(make_header(unit_type, layer_id, len(payload)), payload)

    @property
    def unit_type(self) -> int:
        return self.header[0] & 0x7F

    @property
    def layer_id(self) -> int:
        return self.header[1]

    def resized(self, payload: bytes) -> RawUnit:
        """Same header fields, new payload and payload_size."""
        return RawUnit(self.header[:2] + len(payload).to_bytes(4, "big"), payload)

    def to_bytes(self) -> bytes:
        return self.header + self.payload


def make_header(unit_type: int, layer_id: int, payload_size: int) -> bytes:
    return (bytes([unit_type & 0xFF, layer_id & 0xFF])
            + (payload_size & 0xFFFFFFFF).to_bytes(4, "big"))


def split_units(data: bytes) -> tuple[bytes, list[RawUnit], bytes]:
    """(first 4 bytes, units, trailing bytes) without any check beyond the sizes: works on
    damaged streams (the units end where a payload_size runs past the end)."""
    head = data[:SIGNATURE_BYTES]
    pos, units = SIGNATURE_BYTES, []
    while len(data) - pos >= UNIT_HEADER_BYTES:
        size = int.from_bytes(data[pos + 2 : pos + 6], "big")
        start = pos + UNIT_HEADER_BYTES
        if size > len(data) - start:
            break
        units.append(RawUnit(data[pos:start], data[start : start + size]))
        pos = start + size
    return head, units, data[pos:]


def join_units(units: Sequence[RawUnit], head: bytes | None = None, tail: bytes = b"") -> bytes:
    return (write_signature() if head is None else head) + b"".join(
        u.to_bytes() for u in units) + tail


def fix_crc(payload: bytes) -> bytes:
    """A data-unit payload with its last 4 bytes set to the CRC-32 of the rest."""
    if len(payload) < 4:
        return payload
    body = payload[:-4]
    return body + zlib.crc32(body).to_bytes(4, "big")


def parse_data_unit(payload: bytes) -> tuple[list[int], bytes] | None:
    """([frame_index, tensor_idx, unit_idx], ans_data) of a well-formed data-unit payload,
    without the SPS (no range checks); None if its layout does not hold together."""
    try:
        br = BitReader(payload)
        fields = [br.read_ue(31) for _ in range(4)]
    except BitstreamError:
        return None
    start = (br.bit_position + 7) // 8
    if start + fields[3] + 4 != len(payload):
        return None
    return fields[:3], payload[start : start + fields[3]]


def build_data_unit(fields: Sequence[int], ans: bytes) -> bytes:
    """A data-unit payload with the right ans_bytes, alignment and CRC-32."""
    w = Writer()
    for name, v in zip(("frame_index", "tensor_idx", "unit_idx"), fields, strict=True):
        w.ue(name, min(max(v, 0), UE_MAX_VALUE))
    w.ue("ans_bytes", len(ans))
    w.alignment()
    return fix_crc(w.getvalue() + ans + b"\0\0\0\0")


def _bits_of(data: bytes) -> str:
    return format(int.from_bytes(data, "big"), f"0{8 * len(data)}b") if data else ""


def _bytes_of(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def _ue_bits(v: int) -> str:
    v = min(max(v, 0), UE_MAX_VALUE)
    code = format(v + 1, "b")
    return "0" * (len(code) - 1) + code


def _se_bits(v: int) -> str:
    return _ue_bits(2 * v - 1 if v > 0 else -2 * v)


# =========================================================================== mutators

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
        h[0] = (h[0] & 0x80) | rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 127))
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
    elif desc == "ue(v)":
        new = _ue_bits(_new_value(rng, el, int(el.value)))
    elif desc == "se(v)":
        new = _se_bits(_new_value(rng, el, int(el.value)))
    elif desc == "st(v)":  # a string: new length code (its bytes stay)
        lz = 0
        bits = _bits_of(d[offset // 8 : offset // 8 + 8])[offset % 8:]
        while lz < len(bits) and bits[lz] == "0":
            lz += 1
        length = 2 * lz + 1
        new = _ue_bits(rng.choice((0, 1, 255, 256, len(el.value) + 1, len(el.value) - 1)))
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
            bits = _bits_of(d[pstart:end])
            rel = offset - 8 * pstart
            bits = bits[:rel] + new + bits[rel + length :]
            payload = _bytes_of(bits)
            if utype == UnitType.DATA_UNIT:
                payload = fix_crc(payload)
            hdr = d[start : start + 2] + len(payload).to_bytes(4, "big")
            return d[:start] + hdr + payload + d[end:]
    # the signature or a unit header: fixed-size fields, overwritten in place
    bits = _bits_of(d)
    new = new[:length].ljust(length, "0")
    return _bytes_of(bits[:offset] + new + bits[offset + length :])


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


# =========================================================================== workers


def _worker_main(conn, mm: mmap.mmap, targets: Sequence[Target], trace_path: str,
                 memory_limit_mb: int | None) -> None:  # pragma: no cover - child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    trace = open(trace_path, "w")  # noqa: SIM115 - kept open for faulthandler until exit
    faulthandler.enable(file=trace, all_threads=False)
    faulthandler.register(signal.SIGUSR1, file=trace, all_threads=False, chain=False)
    if memory_limit_mb:
        _limit_address_space(memory_limit_mb)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        start, inputs = msg
        for k, data in enumerate(inputs):
            struct.pack_into("<qq", mm, 0, start + k, -1)
            outcomes = []
            t0 = time.perf_counter()
            for ti, target in enumerate(targets):
                struct.pack_into("<q", mm, 8, ti)
                outcomes.append(run_target(target, data))
            conn.send((start + k, outcomes, time.perf_counter() - t0))


def _limit_address_space(extra_mb: int) -> None:  # pragma: no cover - child process
    try:
        import resource

        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = vm * 1024 + extra_mb * (1 << 20)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, StopIteration, ValueError):
        pass


class _Worker:
    """One forked worker; `run_batch`-style bookkeeping is done by the caller."""

    def __init__(self, ctx, targets: Sequence[Target], trace_path: str,
                 memory_limit_mb: int | None) -> None:
        self.ctx, self.targets = ctx, targets
        self.trace_path, self.memory_limit_mb = trace_path, memory_limit_mb
        self.proc = None
        self.conn = None
        self.last_exit: int | None = None
        self.start()

    def start(self) -> None:
        self.mm = mmap.mmap(-1, 16)
        struct.pack_into("<qq", self.mm, 0, -1, -1)
        with open(self.trace_path, "w"):
            pass
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker_main, daemon=True,
                                     args=(child, self.mm, self.targets, self.trace_path,
                                           self.memory_limit_mb))
        self.proc.start()
        child.close()
        self.conn = parent

    def current(self) -> tuple[int, int]:
        """(input index, target index) the worker was last working on."""
        return struct.unpack_from("<qq", self.mm, 0)

    def trace(self) -> str:
        try:
            return Path(self.trace_path).read_text(errors="replace")
        except OSError:
            return ""

    def kill(self, dump: bool = False) -> None:
        """Stop the worker: after a Python stack dump into its trace file if `dump` (a hang),
        else after letting a dying worker finish dying (to keep its exit status)."""
        proc = self.proc
        if proc is not None:
            if dump and proc.is_alive():
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signal.SIGUSR1)
                time.sleep(0.3)
            elif not dump:
                proc.join(2)
            if proc.is_alive():
                with contextlib.suppress(OSError):
                    proc.kill()
            proc.join(5)
            self.last_exit = proc.exitcode
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(None)
        if self.proc is not None:
            self.proc.join(2)
        self.kill()


@dataclass
class _Result:
    """What happened to one input."""

    outcomes: list[Outcome] | None = None  # per target; None after a crash or a timeout
    seconds: float = 0.0
    dead: str = ""  # "crash" or "timeout"
    target: int = -1  # target running when it died
    detail: str = ""  # exit status
    trace: str = ""  # faulthandler dump


def _top_frame(trace: str) -> str:
    """Innermost frame of a faulthandler dump: 'file.py:123 in fn'."""
    for line in trace.splitlines():
        m = re.match(r'\s*File "([^"]+)", line (\d+) in (\S+)', line)
        if m:
            return f"{Path(m.group(1)).name}:{m.group(2)} in {m.group(3)}"
    return "?"


def _exit_detail(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Pool:
    """Workers that run batches of inputs and survive crashes and hangs of the code under
    test: per input, one outcome (or 'crash' / 'timeout' with the worker's stack)."""

    def __init__(self, n: int, targets: Sequence[Target], time_limit: float, workdir: Path,
                 memory_limit_mb: int | None) -> None:
        self.ctx = multiprocessing.get_context("fork")
        self.time_limit = time_limit
        self.workers = [_Worker(self.ctx, targets, str(workdir / f"worker{i}.trace"),
                                memory_limit_mb) for i in range(n)]
        self.restarts = 0

    def close(self) -> None:
        for w in self.workers:
            w.stop()

    def run(self, batches: Sequence[Sequence[bytes]]) -> list[list[_Result]]:
        """Run batch k on worker k (len(batches) <= workers); results in input order."""
        results: list[list[_Result | None]] = [[None] * len(b) for b in batches]
        nxt = [0] * len(batches)
        deadline = [0.0] * len(batches)
        active = set()
        for k, b in enumerate(batches):
            if b:
                self._submit(k, b, 0)
                deadline[k] = time.monotonic() + self.time_limit
                active.add(k)
        while active:
            now = time.monotonic()
            timeout = max(0.0, min(deadline[k] for k in active) - now)
            conns = {self.workers[k].conn: k for k in active}
            ready = wait_connections(list(conns), timeout)
            for c in ready:
                k = conns[c]
                try:
                    idx, outcomes, secs = c.recv()
                except (EOFError, OSError):
                    self._dead(k, batches[k], nxt, results, "crash")
                else:
                    results[k][idx] = _Result(outcomes, secs)
                    nxt[k] = idx + 1
                deadline[k] = time.monotonic() + self.time_limit
                if nxt[k] >= len(batches[k]):
                    active.discard(k)
            now = time.monotonic()
            for k in list(active):
                if deadline[k] > now:
                    continue
                if self.workers[k].conn.poll():  # an answer arrived just in time
                    continue
                self._dead(k, batches[k], nxt, results, "timeout")
                deadline[k] = time.monotonic() + self.time_limit
                if nxt[k] >= len(batches[k]):
                    active.discard(k)
        return [[r if r is not None else _Result(dead="crash", detail="lost")
                 for r in rs] for rs in results]

    def _submit(self, k: int, batch: Sequence[bytes], start: int) -> None:
        w = self.workers[k]
        if w.proc is None or not w.proc.is_alive():  # died between batches
            self.restarts += 1
            w.restart()
        w.conn.send((start, list(batch[start:])))

    def _dead(self, k: int, batch: Sequence[bytes], nxt: list[int],
              results: list[list[_Result | None]], how: str) -> None:
        """Worker k died or hung on input nxt[k]: record it, restart, go on after it."""
        w = self.workers[k]
        w.kill(dump=how == "timeout")
        idx, target = w.current()
        idx = nxt[k] if idx < nxt[k] else idx
        exit_code = None if how == "timeout" else w.last_exit
        results[k][idx] = _Result(dead=how, target=target, trace=w.trace(),
                                  detail="time limit" if how == "timeout" else
                                  _exit_detail(exit_code))
        self.restarts += 1
        w.start()
        nxt[k] = idx + 1
        if nxt[k] < len(batch):
            self._submit(k, batch, nxt[k])

    def run_alone(self, data: bytes) -> _Result:
        """Re-run one input in a fresh worker (to confirm a crash or a hang)."""
        w = self.workers[0]
        w.restart()
        return self.run([[data]])[0][0]


# =========================================================================== the run


@dataclass
class Finding:
    kind: str  # exception | timeout | crash | mismatch
    target: str
    signature: str
    summary: str
    detail: str = ""  # traceback or faulthandler dump


@dataclass
class FuzzStats:
    """Result of a run: executions, failures and where failing inputs were saved."""

    seed: int = 0
    workers: int = 1
    seconds: float = 0.0
    executions: int = 0
    failures: int = 0  # failing inputs (an input with several findings counts once)
    unique_failures: dict[str, int] = field(default_factory=dict)  # signature -> inputs
    saved: list[str] = field(default_factory=list)  # paths of saved failing inputs
    out_dir: str = ""
    targets: list[str] = field(default_factory=list)
    seeds_builtin: int = 0
    seeds_suite: int = 0
    corpus_size: int = 0
    features: int = 0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # target -> ok/error
    # BitstreamErrors of the first target, by syntax element: how deep the inputs get
    rejections: dict[str, int] = field(default_factory=dict)
    slowest_input_s: float = 0.0
    worker_restarts: int = 0
    kernel: bool = False

    @property
    def execs_per_second(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    @property
    def unique(self) -> int:
        return len(self.unique_failures)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["execs_per_second"] = round(self.execs_per_second, 2)
        return d

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}, {self.workers} worker(s), targets: {', '.join(self.targets)}",
            f"seed corpus: {self.seeds_builtin} built-in streams, {self.seeds_suite} from the "
            f"suite; corpus at the end: {self.corpus_size} inputs, {self.features} distinct "
            "outcomes",
            f"executions: {self.executions} in {self.seconds:.1f} s "
            f"({self.execs_per_second:.1f} executions/s); slowest input "
            f"{self.slowest_input_s:.2f} s; worker restarts {self.worker_restarts}",
        ]
        for t, c in self.outcomes.items():
            lines.append(f"  {t}: {c.get('ok', 0)} decoded/accepted, {c.get('error', 0)} "
                         f"BitstreamError, {c.get('fail', 0)} failures")
        if self.rejections:
            top = sorted(self.rejections.items(), key=lambda kv: -kv[1])[:12]
            lines.append(f"  {self.targets[0]} rejections by syntax element: "
                         + ", ".join(f"{k} {v}" for k, v in top))
        lines.append(f"failures: {self.failures} failing inputs, {self.unique} unique")
        for sig, n in sorted(self.unique_failures.items()):
            lines.append(f"  [{n}x] {sig}")
        if self.saved:
            lines.append(f"failing inputs saved under {self.out_dir}/failures")
        return "\n".join(lines)


@dataclass
class _Entry:
    data: bytes
    name: str


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")[:120]


class _Recorder:
    """Turns results into findings, counts them and saves failing inputs."""

    def __init__(self, out_dir: Path, stats: FuzzStats, targets: Sequence[Target],
                 seed: int) -> None:
        self.out_dir, self.stats, self.targets, self.seed = out_dir, stats, targets, seed
        self.names = [t.name for t in targets]
        self.pairs = ([(self.names.index(KERNEL_TARGET), self.names.index(NUMPY_TARGET))]
                      if KERNEL_TARGET in self.names and NUMPY_TARGET in self.names else [])
        self.saved_per_sig: dict[str, int] = {}

    def findings(self, res: _Result) -> list[Finding]:
        out = []
        if res.dead:
            tname = self.names[res.target] if 0 <= res.target < len(self.names) else "?"
            where = _top_frame(res.trace)
            sig = f"{res.dead} in {tname}: {res.detail} at {where}"
            out.append(Finding(res.dead, tname, sig, sig, res.trace))
            return out
        assert res.outcomes is not None
        for name, o in zip(self.names, res.outcomes, strict=True):
            if o[0] == "fail":
                _, etype, msg, tb, loc = o
                sig = f"exception in {name}: {etype} at {loc}"
                out.append(Finding("exception", name, sig, f"{etype}: {msg}", tb))
        for a, b in self.pairs:
            oa, ob = res.outcomes[a], res.outcomes[b]
            if "fail" in (oa[0], ob[0]):
                continue
            if oa[0] != ob[0] or (oa[0] == "ok" and oa[1] != ob[1]):
                sig = (f"mismatch {self.names[a]} {oa[0]} / {self.names[b]} {ob[0]}"
                       + (" (different samples)" if oa[0] == ob[0] else ""))
                out.append(Finding("mismatch", f"{self.names[a]}+{self.names[b]}", sig,
                                   f"{self.names[a]}: {oa}; {self.names[b]}: {ob}"))
        return out

    def record(self, data: bytes, res: _Result, found: list[Finding], execution: int,
               provenance: str, confirmed: bool | None) -> None:
        st = self.stats
        st.failures += 1
        for f in found:
            first = f.signature not in st.unique_failures
            st.unique_failures[f.signature] = st.unique_failures.get(f.signature, 0) + 1
            n = self.saved_per_sig.get(f.signature, 0)
            if n >= MAX_SAVED_PER_SIGNATURE:
                continue
            self.saved_per_sig[f.signature] = n + 1
            folder = self.out_dir / "failures" / _slug(f.signature)
            folder.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha1(data).hexdigest()[:16]
            path = folder / f"{digest}.vcm"
            path.write_bytes(data)
            meta = {
                "kind": f.kind, "target": f.target, "signature": f.signature,
                "summary": f.summary, "detail": f.detail, "seed": self.seed,
                "execution": execution, "provenance": provenance,
                "first_of_signature": first, "reproduced_alone": confirmed,
                "input_bytes": len(data), "sha1": hashlib.sha1(data).hexdigest(),
                "reproduce": f"{Path(sys.executable).name} -m vcmref.conformance.fuzz "
                             f"reproduce {path}",
            }
            path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
            st.saved.append(str(path))


def run(seconds: float, seed: int = 0, workers: int = 1, out_dir: str | Path | None = None,
        *, targets: Sequence[Target] | None = None, time_limit: float = DEFAULT_TIME_LIMIT,
        suite_dir: str | Path | None = None, use_suite: bool = True,
        seeds: Sequence[tuple[str, bytes]] | None = None, max_executions: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
        progress: Callable[[FuzzStats], None] | None = None,
        progress_every: float = 30.0) -> FuzzStats:
    """Fuzz for about `seconds` (or `max_executions` inputs), with `workers` worker processes.

    The inputs are a deterministic function of `seed` and the seed corpus: the seeds
    themselves first, then mutants. Rounds of one batch per worker; the next round is made
    after the previous one's outcomes are in, so the same seed gives the same inputs whatever
    the speed (a run just stops earlier or later). Failing inputs go to
    ``out_dir/failures/<signature>/<sha1>.vcm`` with a ``.json`` beside each (exception and
    traceback, or the worker's stack at a crash or hang), a summary to ``out_dir/summary.json``.
    `targets` (default: :func:`default_targets`) and `seeds` (default: :func:`seed_corpus`)
    can be replaced, e.g. to test the harness itself.
    """
    t_start = time.monotonic()
    targets = list(default_targets() if targets is None else targets)
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="vcmref-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    if seeds is None:
        builtin = [(f"builtin:{n}", d) for n, d in builtin_seeds()]
        suite = ([(f"suite:{n}", d) for n, d in suite_seeds(suite_dir)] if use_suite else [])
        seeds = builtin + suite
    else:
        builtin, suite = list(seeds), []
    if not seeds:
        raise ValueError("no seed inputs")
    stats = FuzzStats(seed=seed, workers=workers, out_dir=str(out),
                      targets=[t.name for t in targets], seeds_builtin=len(builtin),
                      seeds_suite=len(suite),
                      kernel=any(t.name == KERNEL_TARGET for t in targets))
    for t in targets:
        stats.outcomes[t.name] = {"ok": 0, "error": 0, "fail": 0}
    rng = random.Random(seed)
    seed_entries = [_Entry(d, n) for n, d in seeds]
    inspect_idx = next((i for i, t in enumerate(targets) if t.name == "inspect"), None)
    found_entries: list[_Entry] = []
    deep_entries: list[_Entry] = []  # found entries that decode, or fail only in a frame
    features: set[tuple[str, str]] = set()
    max_len = max(1 << 16, 2 * max(len(d) for _, d in seeds))
    recorder = _Recorder(out, stats, targets, seed)
    pending_seeds = list(seed_entries)
    workdir = Path(tempfile.mkdtemp(prefix="vcmref-fuzz-work-"))
    pool = _Pool(max(1, workers), targets, time_limit, workdir, memory_limit_mb)
    last_progress = time.monotonic()

    def next_input() -> tuple[bytes, str]:
        if pending_seeds:
            e = pending_seeds.pop(0)
            return e.data, e.name
        r = rng.random()
        pool_ = (deep_entries if deep_entries and r < 0.35 else
                 found_entries if found_entries and r < 0.65 else seed_entries)
        parent = rng.choice(pool_)
        other = rng.choice(seed_entries if rng.random() < 0.7 else pool_)
        data, names = mutate(rng, parent.data, other.data, max_len)
        return data, f"{parent.name} <- {'+'.join(names)}"

    try:
        while True:
            elapsed = time.monotonic() - t_start
            if elapsed >= seconds:
                break
            if max_executions is not None and stats.executions >= max_executions:
                break
            n_round = max(1, workers) * batch_size
            if max_executions is not None:
                n_round = min(n_round, max_executions - stats.executions)
            made = [next_input() for _ in range(n_round)]
            batches = [[d for d, _ in made[k::max(1, workers)]] for k in range(max(1, workers))]
            prov = [[p for _, p in made[k::max(1, workers)]] for k in range(max(1, workers))]
            results = pool.run(batches)
            for k in range(len(batches)):
                for i, res in enumerate(results[k]):
                    data = batches[k][i]
                    stats.executions += 1
                    stats.slowest_input_s = max(stats.slowest_input_s, res.seconds)
                    found = recorder.findings(res)
                    if res.outcomes is not None:
                        # element tables (for rewrite_element) of seeds and corpus entries are
                        # made here only once the worker has run inspect on them unharmed
                        inspected = (inspect_idx is not None
                                     and res.outcomes[inspect_idx][0] == "ok")
                        if inspected and " <- " not in prov[k][i]:
                            element_table(data)
                        new = False
                        if res.outcomes[0][0] == "error":
                            elem = res.outcomes[0][1].split("|")[1] or "(none)"
                            stats.rejections[elem] = stats.rejections.get(elem, 0) + 1
                        for t, o in zip(targets, res.outcomes, strict=True):
                            stats.outcomes[t.name][o[0]] += 1
                            feat = (t.name, o[1] if o[0] == "error" else o[0])
                            if feat not in features:
                                features.add(feat)
                                new = True
                        if (new and not found and len(found_entries) + len(seed_entries)
                                < MAX_CORPUS):
                            entry = _Entry(data, f"found#{stats.executions}")
                            found_entries.append(entry)
                            first = res.outcomes[0]
                            if first[0] == "ok" or (first[0] == "error" and
                                                    first[1].split("|")[1] in DEEP_ELEMENTS):
                                deep_entries.append(entry)
                            if inspected:
                                element_table(data)
                    if found:
                        confirmed = None
                        if res.dead and any(f.signature not in stats.unique_failures
                                            for f in found):
                            again = pool.run_alone(data)
                            confirmed = again.dead == res.dead
                        recorder.record(data, res, found, stats.executions, prov[k][i],
                                        confirmed)
            stats.seconds = time.monotonic() - t_start
            if progress is not None and time.monotonic() - last_progress >= progress_every:
                last_progress = time.monotonic()
                stats.corpus_size = len(seed_entries) + len(found_entries)
                stats.features = len(features)
                progress(stats)
    except KeyboardInterrupt:
        pass
    finally:
        pool.close()
        stats.worker_restarts = pool.restarts
        shutil.rmtree(workdir, ignore_errors=True)
    stats.seconds = time.monotonic() - t_start
    stats.corpus_size = len(seed_entries) + len(found_entries)
    stats.features = len(features)
    (out / "summary.json").write_text(json.dumps(stats.to_json(), indent=1) + "\n")
    return stats


# =========================================================================== reproduce


def reproduce(path: str | Path, targets: Sequence[Target] | None = None) -> bool:
    """Run every target on a saved input in this process and print what each does (a crash
    takes this process down, which is the reproduction). True if all behave."""
    data = Path(path).read_bytes()
    ok = True
    targets = default_targets() if targets is None else targets
    for t in targets:
        t0 = time.perf_counter()
        print(f"--- {t.name}", flush=True)
        o = run_target(t, data)
        dt = time.perf_counter() - t0
        if o[0] == "fail":
            ok = False
            print(f"FAIL after {dt:.2f} s: {o[1]}: {o[2]}\n{o[3]}", flush=True)
        else:
            print(f"{o[0]} ({dt:.2f} s): {o[1]}", flush=True)
    return ok


# =========================================================================== atheris


def atheris_main(argv: Sequence[str], corpus_dir: str | Path,
                 suite_dir: str | Path | None = None) -> None:  # pragma: no cover - optional
    """Coverage-guided fuzzing with atheris (libFuzzer), if it is installed: the same targets
    and mutators (as libFuzzer's custom mutator, mixed with its own), the seed corpus written
    to `corpus_dir`. `argv` are libFuzzer options, e.g. ``-max_total_time=3600 -timeout=5
    -rss_limit_mb=4096 -artifact_prefix=out/``. For line coverage of vcmref, import vcmref
    under ``atheris.instrument_imports()`` before calling this (benchmarks/fuzz_decoder.py
    --atheris does). Failing inputs are libFuzzer's crash-*/timeout-* files: re-run them with
    ``python -m vcmref.conformance.fuzz reproduce FILE``."""
    import atheris

    corpus = Path(corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = seed_corpus(suite_dir)
    if not any(corpus.iterdir()):
        for name, data in seeds:
            (corpus / (_slug(name) + ".vcm")).write_bytes(data)
    seed_data = [d for _, d in seeds]
    targets = default_targets()

    def test_one(data: bytes) -> None:
        for t in targets:
            o = run_target(t, data)
            if o[0] == "fail":
                raise RuntimeError(f"{t.name}: {o[1]}: {o[2]}\n{o[3]}")

    def custom_mutator(data: bytes, max_size: int, s: int) -> bytes:
        r = random.Random(s)
        element_table(data)  # in-process anyway
        if not data or r.random() < 0.25:
            return atheris.Mutate(data or r.choice(seed_data), max_size)
        out, _ = mutate(r, data, r.choice(seed_data), max_size)
        return out

    atheris.Setup([sys.argv[0], *argv, str(corpus)], test_one,
                  custom_mutator=custom_mutator)
    atheris.Fuzz()


# =========================================================================== command line


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m vcmref.conformance.fuzz",
                                description="Fuzz the vcmref decoder, or re-run a saved input.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reproduce", help="run every target on saved inputs, in this process")
    r.add_argument("files", nargs="+")
    f = sub.add_parser("run", help="fuzz (see benchmarks/fuzz_decoder.py for the report)")
    f.add_argument("--seconds", type=float, default=60.0)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--workers", type=int, default=1)
    f.add_argument("--out", default="fuzz-out")
    a = p.parse_args(argv)
    if a.cmd == "reproduce":
        ok = True
        for path in a.files:
            print(f"=== {path}")
            ok = reproduce(path) and ok
        return 0 if ok else 1
    stats = run(a.seconds, a.seed, a.workers, a.out)
    print(stats.summary())
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
