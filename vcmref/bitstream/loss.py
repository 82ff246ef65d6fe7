"""Packet loss over a stream's units: seeded channel models, a replayable loss trace, and the
damaged stream (the lost units removed, every other byte kept).

A channel model decides, for every unit index 0..N-1 of a stream, whether the channel drops
that unit (a unit is a packet). The draws are made for every index, protected units included,
from ``numpy.random.default_rng(seed)``; a unit is lost when the channel drops it and its type
is not protected. So the same seed gives the same channel realization whatever is protected:
exposing more unit types only adds losses.

Protected by default (sent over a reliable path, as parameter sets and headers are in
practice): stream_parameter_set, frame_header, tile_model, data_hash, end_of_stream and
restoration_model. Exposed by default: data_unit and inner_codec_data (the payload units), and
units of reserved types, which decoders of this version skip. Tile models are protected by
default because a data unit cannot be decoded without its tile's model: losing a tile model
loses all the rows of its tile. When a header type is exposed (``protect=`` without it) and
lost, the trace records the unit and the damaged stream simply lacks it; the units that depend
on it are kept byte for byte, and what to do with them is the loss-tolerant decoder's
business (it refuses a stream without its parameter set or a frame header with a clear error).

The `LossTrace` (a JSON file) records which units of which stream (SHA-256 and unit count) were
lost, with the model, its parameters, the seed and the protected types: `apply_trace` replays
it on that stream, byte for byte, and refuses any other stream.

Channel models register in `vcmref.registry.CHANNELS` ("iid", "ge") with declared parameters,
so a config can name one: ``{"model": "ge", "p": 0.1, "burst": 3}`` (see `build_model`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from vcmref.bitstream.units import (
    SIGNATURE_BYTES,
    UNIT_HEADER_BYTES,
    UNIT_TYPE_MAX,
    UnitType,
    iter_units,
    unit_type_name,
)
from vcmref.errors import VcmrefError
from vcmref.fileio import write_atomic
from vcmref.params import Param, ParamError, check_settings
from vcmref.registry import CHANNELS

__all__ = [
    "DEFAULT_PROTECTED",
    "TRACE_FORMAT",
    "TRACE_VERSION",
    "ChannelModel",
    "GilbertElliott",
    "IidLoss",
    "LossModelError",
    "LossTrace",
    "LossTraceError",
    "apply_trace",
    "build_model",
    "protected_types",
    "simulate",
]

TRACE_FORMAT = "vcmref-loss-trace"
TRACE_VERSION = 1

#: Unit types never lost unless a caller exposes them (see the module docstring).
DEFAULT_PROTECTED: frozenset[int] = frozenset({
    UnitType.STREAM_PARAMETER_SET,
    UnitType.FRAME_HEADER,
    UnitType.TILE_MODEL,
    UnitType.DATA_HASH,
    UnitType.END_OF_STREAM,
    UnitType.RESTORATION_MODEL,
    UnitType.TEMPORAL_PREDICTION,  # without it a predicted frame would be read as intra
})


class LossModelError(VcmrefError, ValueError):
    """A channel model parameter, seed or protected type out of range: one line, ``key:
    detail``; `key` names the parameter, `detail` says what was expected and what was got."""

    def __init__(self, key: str, detail: str) -> None:
        self.key, self.detail = key, detail
        super().__init__(f"{key}: {detail}")


class LossTraceError(VcmrefError, ValueError):
    """A loss trace that is malformed, or made for another stream (one line)."""


def _number(value: Any, name: str, expected: str) -> float:
    """`value` as a finite float; bools and non-numbers refused naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise LossModelError(name, f"expected {expected}, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise LossModelError(name, f"expected {expected}, got {value!r}")
    return number


# -- channel models ---------------------------------------------------------------------------

class ChannelModel(ABC):
    """A seeded loss process over unit indices. `parameters` declares what a config may set
    (as `vcmref.params.Param`); `params` gives the values of this instance."""

    name: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]]

    @property
    @abstractmethod
    def params(self) -> dict[str, float]:
        """The parameters, by declared name (as written in a trace)."""

    @abstractmethod
    def drops(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """For unit indices 0..count-1, whether the channel drops each (bool array)."""

    def draw(self, count: int, seed: int) -> np.ndarray:
        """`drops` with a fresh ``default_rng(seed)``: the same seed, the same drops."""
        return self.drops(count, np.random.default_rng(_check_seed(seed)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChannelModel) and (other.name, other.params) == (
            self.name, self.params)

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.params.items())))


@CHANNELS.register("iid")
class IidLoss(ChannelModel):
    """Independent losses: each unit is dropped with probability `p` (0 <= p <= 1).

    Unit i is dropped when u_i < p, u = rng.random(count)."""

    name = "iid"
    parameters = (Param("p", float, min=0.0, max=1.0, doc="the loss probability"),)

    def __init__(self, p: float) -> None:
        self.p = _number(p, "p", "a loss probability from 0 to 1")
        if not 0.0 <= self.p <= 1.0:
            raise LossModelError("p", f"expected a loss probability from 0 to 1, got {p!r}")

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p}

    def drops(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random(count) < self.p


@CHANNELS.register("ge")
class GilbertElliott(ChannelModel):
    """Bursty losses: the simple Gilbert model, a two-state Markov chain (good, bad) that drops
    every unit sent in the bad state and none in the good state.

    Set by the stationary loss probability p (0 <= p < 1) and the mean burst length L >= 1
    (mean number of consecutive losses, `burst`):

        P(bad -> good) = r = 1 / L
        P(good -> bad) = q = p / (L (1 - p))     (needs q <= 1, i.e. p <= L / (L + 1))

    so that the stationary probability of the bad state is q / (q + r) = p, and a stay in the
    bad state (a burst) lasts 1 / r = L units on average (geometrically distributed).

    Draws: u = rng.random(count); the first state is drawn from the stationary distribution
    (bad when u_0 < p); then, for i >= 1, a bad state turns good when u_i < r and a good state
    turns bad when u_i < q. Unit i is dropped when state i is bad."""

    name = "ge"
    parameters = (
        Param("p", float, min=0.0, max=1.0, doc="the stationary loss probability, below 1"),
        Param("burst", float, min=1.0, doc="the mean burst length in units"),
    )

    def __init__(self, p: float, burst: float) -> None:
        self.p = _number(p, "p", "a loss probability from 0 to below 1")
        if not 0.0 <= self.p < 1.0:
            raise LossModelError("p", f"expected a loss probability from 0 to below 1, got {p!r}")
        self.burst = _number(burst, "burst", "a mean burst length >= 1")
        if self.burst < 1.0:
            raise LossModelError("burst", f"expected a mean burst length >= 1, got {burst!r}")
        q = self.p / (self.burst * (1.0 - self.p))
        if q > 1.0:
            raise LossModelError("p", (
                f"impossible with burst={self.burst:g}: expected p <= burst/(burst+1) = "
                f"{self.burst / (self.burst + 1):.4g} (so that P(good->bad) = "
                f"p/(burst*(1-p)) <= 1), got {p!r}"))
        self.q, self.r = q, 1.0 / self.burst

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "burst": self.burst}

    def drops(self, count: int, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(count).tolist()
        out = [False] * count
        if count:
            bad = u[0] < self.p
            out[0] = bad
            q, r = self.q, self.r
            for i in range(1, count):
                bad = u[i] >= r if bad else u[i] < q
                out[i] = bad
        return np.array(out, dtype=bool)


def build_model(settings: Mapping[str, Any], prefix: str = "") -> ChannelModel:
    """The channel model a config names: ``{"model": "ge", "p": 0.1, "burst": 3}``.

    An unknown model is refused by the registry (naming the known ones); a missing, unknown or
    out-of-range parameter with a `vcmref.params.ParamError` naming ``prefix + key``."""
    if not isinstance(settings, Mapping):
        raise ParamError(prefix.rstrip(".") or "channel",
                         f"expected a mapping with 'model' and its parameters, got {settings!r}")
    if "model" not in settings:
        raise ParamError(f"{prefix}model", f"missing; expected one of {', '.join(CHANNELS)}")
    name = settings["model"]
    if not isinstance(name, str):
        raise ParamError(f"{prefix}model", f"expected one of {', '.join(CHANNELS)}, got {name!r}")
    cls = CHANNELS.get(name)
    values = {k: v for k, v in settings.items() if k != "model"}
    checked = check_settings(cls.parameters, values, prefix)
    for p in cls.parameters:
        if checked[p.name] is None and not p.optional:
            raise ParamError(f"{prefix}{p.name}", f"missing; expected {p.expected(checked)}")
    try:
        return cls(**checked)
    except LossModelError as e:
        raise ParamError(f"{prefix}{e.key}", e.detail) from None


# -- protected types --------------------------------------------------------------------------

_TYPE_NAMES = {unit_type_name(t): t for t in range(1, UNIT_TYPE_MAX + 1)}


def _unit_type(value: Any, what: str) -> int:
    """A unit type given as a number (or UnitType) or as its name ("frame_header")."""
    if isinstance(value, str):
        if value in _TYPE_NAMES:
            return _TYPE_NAMES[value]
    elif (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
          and 1 <= value <= UNIT_TYPE_MAX):
        return int(value)
    raise LossModelError(what, f"expected unit types (1 to {UNIT_TYPE_MAX}, or names such as "
                               f"'frame_header'), got {value!r}")


def protected_types(protect: Iterable[int | str] | None = None) -> frozenset[int]:
    """The unit types never lost: `protect` as numbers (None: `DEFAULT_PROTECTED`)."""
    if protect is None:
        return DEFAULT_PROTECTED
    if isinstance(protect, (str, bytes)) or not isinstance(protect, Iterable):
        raise LossModelError("protect", f"expected a set of unit types, got {protect!r}")
    return frozenset(_unit_type(v, "protect") for v in protect)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LossModelError("seed", f"expected an integer >= 0, got {seed!r}")
    return int(seed)


# -- the trace --------------------------------------------------------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_fields(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The trace fields checked and normalized; a LossTraceError names `source` and the
    field."""

    def fail(name: str, expected: str) -> LossTraceError:
        return LossTraceError(f"{source}: field {name!r}: expected {expected}, got "
                              f"{_short(values[name])}")

    def integer(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    out: dict[str, Any] = {}
    sha = values["stream_sha256"]
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise fail("stream_sha256", "64 lowercase hexadecimal digits")
    out["stream_sha256"] = sha
    count = values["unit_count"]
    if not integer(count) or count < 0:
        raise fail("unit_count", "an integer >= 0")
    out["unit_count"] = count = int(count)
    if not isinstance(values["model"], str) or not values["model"]:
        raise fail("model", "a channel model name")
    out["model"] = values["model"]
    params = values["params"]
    if not isinstance(params, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (int, float, str, bool))
            for k, v in params.items()):
        raise fail("params", "a mapping of parameter names to numbers")
    out["params"] = dict(params)
    if not integer(values["seed"]) or values["seed"] < 0:
        raise fail("seed", "an integer >= 0")
    out["seed"] = int(values["seed"])
    protect = values["protect"]
    if isinstance(protect, (str, bytes)) or not isinstance(protect, Iterable):
        raise fail("protect", "a list of unit type names")
    try:
        types = sorted({_unit_type(v, "protect") for v in protect})
    except LossModelError:
        raise fail("protect", "a list of unit type names") from None
    out["protect"] = tuple(unit_type_name(t) for t in types)
    lost = values["lost"]
    if (isinstance(lost, (str, bytes)) or not isinstance(lost, Iterable)
            or not all(integer(i) for i in lost)):
        raise fail("lost", "a list of unit indices")
    lost = tuple(int(i) for i in lost)
    ordered = all(a < b for a, b in zip(lost, lost[1:], strict=False))
    if not ordered or any(not 0 <= i < count for i in lost):
        raise fail("lost", f"increasing unit indices from 0 to unit_count - 1 = {count - 1}")
    out["lost"] = lost
    lost_types = values["lost_types"]
    if (isinstance(lost_types, (str, bytes)) or not isinstance(lost_types, Iterable)
            or not all(isinstance(t, str) and t in _TYPE_NAMES for t in lost_types)):
        raise fail("lost_types", "a list of unit type names")
    out["lost_types"] = lost_types = tuple(lost_types)
    if len(lost_types) != len(lost):
        raise fail("lost_types", f"one unit type name per lost unit ({len(lost)})")
    hit = [t for t in lost_types if _TYPE_NAMES[t] in types]
    if hit:
        raise fail("lost_types", f"no unit of a protected type ({hit[0]} is protected)")
    return out


@dataclass(frozen=True)
class LossTrace:
    """Which units of one stream a channel lost: the stream (SHA-256 of its bytes, unit count),
    the channel model, its parameters and seed, the protected unit types (names), the lost unit
    indices (increasing) and, for reading, the type name of each lost unit."""

    stream_sha256: str
    unit_count: int
    model: str
    params: dict[str, Any]
    seed: int
    protect: tuple[str, ...]
    lost: tuple[int, ...]
    lost_types: tuple[str, ...]

    FIELDS: ClassVar[tuple[str, ...]] = (
        "stream_sha256", "unit_count", "model", "params", "seed", "protect", "lost",
        "lost_types")

    def __post_init__(self) -> None:
        checked = _check_fields({f: getattr(self, f) for f in self.FIELDS}, "loss trace")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def loss_rate(self) -> float:
        """Lost units over all units (0 for an empty stream)."""
        return len(self.lost) / self.unit_count if self.unit_count else 0.0

    def to_json(self) -> dict[str, Any]:
        """The trace as a JSON object (format and version first)."""
        doc: dict[str, Any] = {"format": TRACE_FORMAT, "version": TRACE_VERSION}
        for name in self.FIELDS:
            value = getattr(self, name)
            doc[name] = list(value) if isinstance(value, tuple) else value
        return doc

    @classmethod
    def from_json(cls, doc: Any, source: str = "loss trace") -> LossTrace:
        """A trace from its JSON object; one-line LossTraceError naming `source` and the field
        for a missing, unknown or malformed one."""
        if not isinstance(doc, dict):
            raise LossTraceError(f"{source}: expected a JSON object (a loss trace), got "
                                 f"{type(doc).__name__}")
        if doc.get("format") != TRACE_FORMAT:
            got = f"{_short(doc['format'])}" if "format" in doc else "no format field"
            raise LossTraceError(f"{source}: field 'format': expected {TRACE_FORMAT!r}, "
                                 f"got {got}")
        if doc.get("version") != TRACE_VERSION:
            got = _short(doc["version"]) if "version" in doc else "no version field"
            raise LossTraceError(f"{source}: field 'version': expected {TRACE_VERSION}, "
                                 f"got {got}")
        known = ("format", "version", *cls.FIELDS)
        for name in doc:
            if name not in known:
                raise LossTraceError(f"{source}: field {name!r}: unknown; expected only "
                                     f"{', '.join(known)}")
        for name in cls.FIELDS:
            if name not in doc:
                raise LossTraceError(f"{source}: field {name!r}: missing")
        values = _check_fields(doc, source)
        return cls(**values)

    def write(self, path: str | os.PathLike) -> None:
        """Write the trace as JSON, atomically (one top-level field a line)."""
        lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in self.to_json().items()]
        write_atomic(path, ("{\n" + ",\n".join(lines) + "\n}\n").encode())

    @classmethod
    def read(cls, path: str | os.PathLike) -> LossTrace:
        """Read a trace written by `write`; a malformed file gives a one-line LossTraceError
        naming the file (and the field); a missing one an OSError."""
        shown = os.fsdecode(os.fspath(path))
        with open(path, "rb") as f:
            data = f.read()
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise LossTraceError(f"{shown}: not a loss trace (invalid JSON: "
                                 f"{' '.join(str(e).split())})") from None
        return cls.from_json(doc, shown)


# -- simulate and replay ----------------------------------------------------------------------

def _units(stream: bytes) -> list[tuple[int, bytes]]:
    """(unit type, header and payload bytes) of each unit, in stream order."""
    return [(u.unit_type, stream[u.byte_offset : u.byte_offset + UNIT_HEADER_BYTES
                                  + len(u.payload)])
            for u in iter_units(stream)]


def _damaged(stream: bytes, units: list[tuple[int, bytes]], lost: Iterable[int]) -> bytes:
    gone = set(lost)
    return stream[:SIGNATURE_BYTES] + b"".join(chunk for i, (_, chunk) in enumerate(units)
                                               if i not in gone)


def simulate(stream: bytes, model: ChannelModel | Mapping[str, Any], seed: int,
             protect: Iterable[int | str] | None = None) -> tuple[bytes, LossTrace]:
    """Send `stream` over the channel `model` (an instance, or settings for `build_model`)
    seeded with `seed`: the damaged stream (lost units removed, the signature and the other
    units byte-identical) and its trace. `protect`: unit types never lost (numbers or names;
    None: `DEFAULT_PROTECTED`). Same stream, model, seed and protect: same result."""
    if not isinstance(model, ChannelModel):
        model = build_model(model)
    seed = _check_seed(seed)
    keep = protected_types(protect)
    units = _units(stream)
    if not any(unit_type in (UnitType.DATA_UNIT, UnitType.INNER_CODEC_DATA)
               for unit_type, _ in units):
        raise LossModelError("stream", "a stream with data units or inner codec data to lose; "
                             "this one has none")
    drops = model.draw(len(units), seed)
    lost = [i for i, (unit_type, _) in enumerate(units) if drops[i] and unit_type not in keep]
    trace = LossTrace(
        stream_sha256=hashlib.sha256(stream).hexdigest(),
        unit_count=len(units),
        model=model.name,
        params=model.params,
        seed=seed,
        protect=tuple(unit_type_name(t) for t in sorted(keep)),
        lost=tuple(lost),
        lost_types=tuple(unit_type_name(units[i][0]) for i in lost),
    )
    return _damaged(stream, units, lost), trace


def apply_trace(stream: bytes, trace: LossTrace) -> bytes:
    """The damaged stream the trace describes: `stream` without the lost units, the signature
    and every other unit byte-identical. A trace made for another stream (SHA-256 or unit
    count) is refused with a LossTraceError."""
    sha = hashlib.sha256(stream).hexdigest()
    if sha != trace.stream_sha256:
        raise LossTraceError(f"the loss trace is for another stream: SHA-256 {sha[:16]}... is "
                             f"not the trace's {trace.stream_sha256[:16]}...")
    units = _units(stream)
    if len(units) != trace.unit_count:  # same bytes: only a hand-made trace gets here
        raise LossTraceError(f"the loss trace is for another stream: {len(units)} units, the "
                             f"trace's stream has {trace.unit_count}")
    for i, name in zip(trace.lost, trace.lost_types, strict=True):
        if unit_type_name(units[i][0]) != name:
            raise LossTraceError(f"the loss trace does not match the stream: unit #{i} is a "
                                 f"{unit_type_name(units[i][0])}, the trace says {name}")
    return _damaged(stream, units, trace.lost)

