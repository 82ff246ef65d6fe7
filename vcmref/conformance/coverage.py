"""Syntax coverage of a set of streams: which syntax elements and classes of values they exercise.

The element universe is derived from the syntax functions themselves: their source is parsed
with `ast` and every descriptor call on the direction object (`rw.u(8, "level_idc", ...)`,
`rw.ue(f"tensor_channels_minus1[{t}]", ...)`, `rw.alignment()`, ...) gives one (element base
name, descriptor) pair of its structure, in source order. A test checks that this universe
equals the spec's syntax tables, so a new element in the code or the spec cannot go uncounted.

The value classes are a declarative table (`VALUE_CLASSES`): per (structure, element) the classes
of values that a conformance suite must contain, each a predicate over a traced value (and the
stream's parsed stream parameter set where the class depends on it, e.g. level limits). The
stream-level classes (`STREAM_CLASSES`) are predicates over a stream's unit sequence.

`coverage_report(streams)` traces every stream with `inspect_stream` and reports what is
covered and what is missing (`vcmref conform --coverage`).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vcmref.bitstream import frame_units, parameter_sets, units
from vcmref.bitstream.frame_units import binary32_value, num_tokens
from vcmref.bitstream.inspect import PAYLOAD_STRUCTURES, InspectedUnit, inspect_stream
from vcmref.bitstream.levels import PROFILES
from vcmref.bitstream.parameter_sets import (
    DIRECT_TOKEN_LOG2_RANGE,
    MAGNITUDE_CLASS_THRESHOLDS,
    MAX_MAGNITUDE_CLASS,
    MAX_SAMPLE_BIT_DEPTH,
    EntropyCoder,
    InnerCodec,
    QuantMode,
    StreamParameterSet,
)
from vcmref.bitstream.syntax import Reader, SyntaxDirection, TracedElement, base_name
from vcmref.bitstream.unit_types import UNIT_TYPES
from vcmref.bitstream.units import (
    UNIT_HEADER_BYTES,
    UNIT_TYPE_MAX,
    UnitType,
    is_reserved_unit_type,
)

Pair = tuple[str, str]  # (element base name, descriptor)

# -- the element universe, from the syntax functions' source ------------------------------------

# Syntax structure (as in docs/spec.md) -> the syntax function that reads and writes it.
SYNTAX_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "stream": units.stream_signature,
    "unit_header": units.unit_header,
    **{row.name: row.syntax for row in UNIT_TYPES.values()},
}
STRUCTURES = list(SYNTAX_FUNCTIONS)

# Descriptor methods of SyntaxDirection: (position of the name argument, descriptor or None when
# the descriptor is u(n)/f(n) with n the first argument).
_DESCRIPTOR_METHODS: dict[str, tuple[int, str | None]] = {
    "u": (1, None),
    "f": (1, None),
    "u_list": (1, None),
    "ue": (0, "ue(v)"),
    "se": (0, "se(v)"),
    "flag": (0, "u(1)"),
    "string": (0, "st(v)"),
    "payload_bytes": (0, "b(8*n)"),
}
_ALIGNMENT_METHOD = "alignment"  # f(1) bits named by its `name` argument (default below)
_ALIGNMENT_DEFAULT = inspect.signature(SyntaxDirection.alignment).parameters["name"].default
# Methods of the direction that read or write no element.
_NON_ELEMENT_METHODS = {"error", "require", "getvalue"}
_WIDTH_PREFIX = {"u": "u", "u_list": "u", "f": "f"}
_ELEMENT_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_OPAQUE = "{}"  # an f-string part whose value is not a known string (a loop index)


class SyntaxDerivationError(RuntimeError):
    """A syntax function calls its direction in a way the derivation does not understand."""


def _local_assignments(fn_node: ast.FunctionDef) -> dict[str, list[ast.expr]]:
    out: dict[str, list[ast.expr]] = {}
    for node in ast.walk(fn_node):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            out.setdefault(node.targets[0].id, []).append(node.value)
    return out


def _string_values(expr: ast.expr, assigns: dict[str, list[ast.expr]],
                   seen: frozenset[str] = frozenset()) -> list[str] | None:
    """The strings an expression can evaluate to (f-string holes that are not known strings
    become `{}`), or None when it is not a string expression."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.IfExp):
        a, b = _string_values(expr.body, assigns, seen), _string_values(expr.orelse, assigns, seen)
        return None if a is None or b is None else list(dict.fromkeys(a + b))
    if isinstance(expr, ast.JoinedStr):
        parts: list[list[str]] = []
        for part in expr.values:
            if isinstance(part, ast.Constant):
                parts.append([str(part.value)])
            else:
                assert isinstance(part, ast.FormattedValue)
                parts.append(_hole_values(part.value, assigns, seen) or [_OPAQUE])
        return list(dict.fromkeys("".join(p) for p in itertools.product(*parts)))
    return None


def _hole_values(expr: ast.expr, assigns: dict[str, list[ast.expr]],
                 seen: frozenset[str]) -> list[str] | None:
    """Strings a local variable used in an f-string can hold, when all its assignments are
    string expressions (e.g. `name = "tensor" if ... else "channel"`)."""
    if not isinstance(expr, ast.Name) or expr.id not in assigns or expr.id in seen:
        return None
    out: list[str] = []
    for value in assigns[expr.id]:
        strings = _string_values(value, assigns, seen | {expr.id})
        if strings is None:
            return None
        out.extend(strings)
    return list(dict.fromkeys(out))


def _choice_variables(expr: ast.expr, assigns: dict[str, list[ast.expr]]) -> tuple[str, ...]:
    """Variables of an f-string name whose values change the element's base name (the
    `name` of f"{name}_min{idx}"; not `idx`, whose values are all loop indices)."""
    out = []
    if isinstance(expr, ast.JoinedStr):
        for part in expr.values:
            if isinstance(part, ast.FormattedValue):
                values = _hole_values(part.value, assigns, frozenset())
                if values and len({base_name(v) for v in values}) > 1:
                    assert isinstance(part.value, ast.Name)
                    out.append(part.value.id)
    return tuple(out)


def _width(expr: ast.expr, fn_globals: dict[str, Any]) -> str:
    """The n of u(n)/f(n): a literal, a module constant, or `v` for a width computed from
    earlier elements (e.g. `nbits` of channel_order)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, int):
        return str(expr.value)
    if isinstance(expr, ast.Name) and isinstance(fn_globals.get(expr.id), int) and \
            not isinstance(fn_globals[expr.id], bool):
        return str(fn_globals[expr.id])
    return "v"


@dataclass
class _Call:
    names: list[str]  # base names, one per alternative of the choice variables
    descriptor: str
    choice: tuple[str, ...]


def _function_calls(fn: Callable[..., Any]) -> list[_Call]:
    src = textwrap.dedent(inspect.getsource(fn))
    fn_node = ast.parse(src).body[0]
    assert isinstance(fn_node, ast.FunctionDef), fn
    direction = fn_node.args.args[0].arg  # `rw`
    assigns = _local_assignments(fn_node)
    calls = [node for node in ast.walk(fn_node) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute)
             and isinstance(node.func.value, ast.Name) and node.func.value.id == direction]
    calls.sort(key=lambda c: (c.lineno, c.col_offset))
    where = f"{fn.__module__}.{fn.__qualname__}"
    out: list[_Call] = []
    for call in calls:
        method = call.func.attr  # type: ignore[attr-defined]
        line = f"{where}, line {call.lineno - 1 + fn.__code__.co_firstlineno}"
        if method in _NON_ELEMENT_METHODS:
            continue
        if method == _ALIGNMENT_METHOD:
            name_expr = call.args[0] if call.args else next(
                (k.value for k in call.keywords if k.arg == "name"), None)
            name = _ALIGNMENT_DEFAULT if name_expr is None else \
                _single_name(name_expr, assigns, line)
            out.append(_Call([name], "f(1)", ()))
            continue
        if method not in _DESCRIPTOR_METHODS:
            raise SyntaxDerivationError(f"{line}: unknown direction method {method!r}")
        pos, descriptor = _DESCRIPTOR_METHODS[method]
        name_expr = call.args[pos] if len(call.args) > pos else next(
            (k.value for k in call.keywords if k.arg in ("name",)), None)
        if name_expr is None:
            raise SyntaxDerivationError(f"{line}: {method}() call without an element name")
        if descriptor is None:
            width = _width(call.args[0], fn.__globals__)  # type: ignore[attr-defined]
            descriptor = f"{_WIDTH_PREFIX[method]}({width})"
        strings = _string_values(name_expr, assigns)
        if strings is None:
            raise SyntaxDerivationError(f"{line}: element name is not a string expression")
        names = list(dict.fromkeys(base_name(s) for s in strings))
        for name in names:
            if not _ELEMENT_NAME.match(name):
                raise SyntaxDerivationError(f"{line}: cannot derive an element name from "
                                            f"{ast.unparse(name_expr)} (got {name!r})")
        out.append(_Call(names, descriptor, _choice_variables(name_expr, assigns)))
    return out


def _single_name(expr: ast.expr, assigns: dict[str, list[ast.expr]], line: str) -> str:
    strings = _string_values(expr, assigns)
    if not strings or len({base_name(s) for s in strings}) != 1:
        raise SyntaxDerivationError(f"{line}: alignment name is not one known string")
    return base_name(strings[0])


def elements_of(fn: Callable[..., Any]) -> list[Pair]:
    """(element base name, descriptor) pairs a syntax function can read, in syntax order.

    Consecutive calls whose element name is chosen by the same variable (frame_header's
    f"{name}_min{idx}" and f"{name}_max{idx}" with name "tensor" or "channel") are the
    branches of one condition: each alternative's calls come together, in the order of the
    variable's values (tensor_min, tensor_max, channel_min, channel_max).
    """
    out: list[Pair] = []
    calls = _function_calls(fn)
    i = 0
    while i < len(calls):
        j = i + 1
        if calls[i].choice:
            while j < len(calls) and calls[j].choice == calls[i].choice and \
                    len(calls[j].names) == len(calls[i].names):
                j += 1
        for alt in range(len(calls[i].names)):
            for c in calls[i:j]:
                pair = (c.names[alt], c.descriptor)
                if pair not in out:
                    out.append(pair)
        i = j
    return out


def syntax_elements() -> dict[str, list[Pair]]:
    """Per syntax structure, the (element base name, descriptor) pairs it can produce."""
    return {structure: elements_of(fn) for structure, fn in SYNTAX_FUNCTIONS.items()}


# -- value classes ------------------------------------------------------------------------------

Test = Callable[[Any, StreamParameterSet | None], bool]


@dataclass(frozen=True)
class ValueClass:
    """A class of values of one element; `test(value, sps)` says whether a traced value is in
    it (u_list elements: any one of the list's values). `sps` is the stream's parameter set (for
    the parameter set's own elements: the one being traced), None before it."""

    structure: str
    element: str
    name: str
    test: Test = field(compare=False)

    @property
    def label(self) -> str:
        return f"{self.structure}.{self.element} {self.name}"


@dataclass
class StreamView:
    """What a stream-level class sees: the traced units, the SPS and the frames (each a frame
    header unit followed by the units up to the next frame header or end of stream)."""

    units: list[InspectedUnit]
    sps: StreamParameterSet | None
    frames: list[list[InspectedUnit]]


@dataclass(frozen=True)
class StreamClass:
    name: str
    test: Callable[[StreamView], bool] = field(compare=False)

    @property
    def label(self) -> str:
        return f"stream: {self.name}"


def _eq(k: int) -> Test:
    return lambda v, sps: v == k


def _gt(k: int) -> Test:
    return lambda v, sps: v > k


def _lt(k: int) -> Test:
    return lambda v, sps: v < k


def _float(pred: Callable[[float], bool]) -> Test:
    """A test on a binary32 bit pattern's value."""
    return lambda v, sps: pred(binary32_value(v))


def top_class(direct_token_log2: int) -> int:
    """TopClass(E): the largest max_magnitude_class allowed with direct_token_log2 = E."""
    return max(c for c in range(MAX_MAGNITUDE_CLASS + 1)
               if c == 0 or MAGNITUDE_CLASS_THRESHOLDS[c - 1] <= 1 << direct_token_log2)


def _max_width_tile(v: Any, sps: StreamParameterSet | None) -> bool:
    """Some tile of the SPS is MaxTileDimension samples wide (cols * W[t])."""
    assert sps is not None
    return any(sps.tile_layouts[t].tile_columns[layer] * ti.width
               == sps.level.max_tile_dimension
               for t, ti in enumerate(sps.tensors)
               for layer, li in enumerate(sps.layers) if li.channels[t] > 0)


def _picture_vs_sample_depth(compare: Callable[[int, int], bool]) -> Test:
    """A test on picture_bit_depth_minus1: compare(P, B) with the SPS's sample bit depth B."""
    def test(v: Any, sps: StreamParameterSet | None) -> bool:
        assert sps is not None
        return compare(v + 1, sps.sample_bit_depth)
    return test


def reserved_unit_types() -> str:
    """The reserved unit types as the spec writes them: "7, 11..127"."""
    runs: list[list[int]] = []
    for t in range(1, UNIT_TYPE_MAX + 1):
        if is_reserved_unit_type(t):
            if runs and runs[-1][1] == t - 1:
                runs[-1][1] = t
            else:
                runs.append([t, t])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


def _value_classes() -> list[ValueClass]:
    sps_, fh, tm, du = "stream_parameter_set", "frame_header", "tile_model", "data_unit"
    ic, rm, tp = "inner_codec_data", "restoration_model", "temporal_prediction"
    vc = ValueClass
    out = [
        # unit_header: every unit type, a reserved one (skipped by decoders), layers
        *(vc("unit_header", "unit_type", f"= {int(t)} ({t.name})", _eq(int(t)))
          for t in UnitType),
        vc("unit_header", "unit_type", f"reserved ({reserved_unit_types()})",
           lambda v, sps: is_reserved_unit_type(v)),
        vc("unit_header", "layer_id", "= 0", _eq(0)),
        vc("unit_header", "layer_id", "> 0", _gt(0)),
        # stream parameter set; profile_idc: every profile of clause 6
        *(vc(sps_, "profile_idc", f"= {p} ({name})", _eq(p)) for p, name in PROFILES.items()),
        vc(sps_, "level_idc", "= 10", _eq(10)),
        vc(sps_, "level_idc", "!= 10", lambda v, sps: v != 10),
        vc(sps_, "num_tensors_minus1", "= 0", _eq(0)),
        vc(sps_, "num_tensors_minus1", "> 0", _gt(0)),
        vc(sps_, "num_tensors_minus1", "= MaxTensors - 1",
           lambda v, sps: v == sps.level.max_tensors - 1),
        vc(sps_, "tensor_channels_minus1", "= MaxChannels - 1",
           lambda v, sps: v == sps.level.max_channels - 1),
        *(vc(sps_, "sample_bit_depth_minus1", f"= {b - 1} (B = {b})", _eq(b - 1))
          for b in (1, 8, 10, 12, MAX_SAMPLE_BIT_DEPTH)),
        *(vc(sps_, "quant_mode", f"= {int(m)} ({m.name})", _eq(int(m))) for m in QuantMode),
        vc(sps_, "init_qp", "= 0", _eq(0)),
        vc(sps_, "init_qp", "> 0", _gt(0)),
        vc(sps_, "num_layers_minus1", "= 0", _eq(0)),
        vc(sps_, "num_layers_minus1", "> 0", _gt(0)),
        vc(sps_, "num_layers_minus1", "= MaxLayers - 1",
           lambda v, sps: v == sps.level.max_layers - 1),
        vc(sps_, "num_ref_layers", "= 0 (no dependency)", _eq(0)),
        vc(sps_, "num_ref_layers", "> 0 (dependencies)", _gt(0)),
        vc(sps_, "channel_order_explicit_flag", "= 0", _eq(0)),
        vc(sps_, "channel_order_explicit_flag", "= 1", _eq(1)),
        vc(sps_, "rows_per_unit", "= 0 (one unit per tile)", _eq(0)),
        vc(sps_, "rows_per_unit", "> 0", _gt(0)),
        vc(sps_, "tile_columns_minus1", "= 0", _eq(0)),
        vc(sps_, "tile_columns_minus1", "> 0", _gt(0)),
        vc(sps_, "tile_columns_minus1", "a tile MaxTileDimension wide", _max_width_tile),
        vc(sps_, "direct_token_log2", f"= {DIRECT_TOKEN_LOG2_RANGE[0]} (min)",
           _eq(DIRECT_TOKEN_LOG2_RANGE[0])),
        vc(sps_, "direct_token_log2", f"= {DIRECT_TOKEN_LOG2_RANGE[1]} (max)",
           _eq(DIRECT_TOKEN_LOG2_RANGE[1])),
        vc(sps_, "max_magnitude_class", "= 0", _eq(0)),
        vc(sps_, "max_magnitude_class", "= TopClass(direct_token_log2)",
           lambda v, sps: v == top_class(sps.direct_token_log2)),
        vc(sps_, "wavefront_block_size", "= 0 (one block per cell part)", _eq(0)),
        vc(sps_, "wavefront_block_size", "> 0", _gt(0)),
        vc(sps_, "lane_limit", "= 0 (no limit)", _eq(0)),
        vc(sps_, "lane_limit", "= 1", _eq(1)),
        vc(sps_, "lane_limit", "> 1", _gt(1)),
        *(vc(sps_, "entropy_coder_idc", f"= {int(e)} ({e.name})", _eq(int(e)))
          for e in EntropyCoder),
        *(vc(sps_, "inner_codec_idc", f"= {int(c)} ({c.name})", _eq(int(c)))
          for c in InnerCodec),
        vc(sps_, "picture_bit_depth_minus1", "P > B (pictures deeper than samples)",
           _picture_vs_sample_depth(lambda p, b: p > b)),
        vc(sps_, "picture_bit_depth_minus1", "P = B", _picture_vs_sample_depth(
            lambda p, b: p == b)),
        vc(sps_, "picture_bit_depth_minus1", "P < B (samples deeper than pictures)",
           _picture_vs_sample_depth(lambda p, b: p < b)),
        # frame header
        vc(fh, "frame_index", "= 0", _eq(0)),
        vc(fh, "frame_index", "> 0", _gt(0)),
        *(vc(fh, f"{what}_{end}", name, _float(pred))
          for what in ("tensor", "channel") for end in ("min", "max")
          for name, pred in (("< 0", lambda x: x < 0), ("= 0", lambda x: x == 0),
                             ("> 0", lambda x: x > 0))),
        vc(fh, "qp_delta", "< 0", _lt(0)),
        vc(fh, "qp_delta", "= 0", _eq(0)),
        vc(fh, "qp_delta", "> 0", _gt(0)),
        vc(fh, "quant_step", "< 1", _float(lambda x: x < 1)),
        vc(fh, "quant_step", ">= 1", _float(lambda x: x >= 1)),
        # tile model
        vc(tm, "sample_offset", "< 0", _lt(0)),
        vc(tm, "sample_offset", "= 0", _eq(0)),
        vc(tm, "sample_offset", "> 0", _gt(0)),
        vc(tm, "context_present_flag", "= 0 (an absent context)", _eq(0)),
        vc(tm, "context_present_flag", "= 1", _eq(1)),
        vc(tm, "num_token_weights_minus1", "= 0 (one token)", _eq(0)),
        # NumTokens - 1: the reference encoder drops trailing zero weights and never uses the
        # last escape token (its sample offsets lie in the sample range, so K <= B), so a suite
        # needs a tile model rewritten with explicit trailing zero weights (same frequencies).
        vc(tm, "num_token_weights_minus1", "= NumTokens - 1 (every token)",
           lambda v, sps: v == num_tokens(sps) - 1),
        vc(tm, "token_weight", "= 0 (a token of frequency 0 before the last)", _eq(0)),
        vc(tm, "token_weight", "= 1", _eq(1)),
        vc(tm, "token_weight", "= 63", _eq(frame_units.MAX_TOKEN_WEIGHT)),
        # data unit. ans_bytes = 0 does occur in conforming streams, although the reference
        # encoder never writes it: a tile whose contexts all have one token decodes from
        # all-zero bits, and ans_data may stop before trailing zero bits (clause 5.8), so
        # such a unit can have empty ans_data. The suite needs a rewritten unit for it.
        vc(du, "ans_bytes", "= 0 (empty ans_data)", _eq(0)),
        vc(du, "ans_bytes", "> 0", _gt(0)),
        # inner codec data
        vc(ic, "frame_index", "= 0", _eq(0)),
        vc(ic, "frame_index", "> 0", _gt(0)),
        vc(ic, "num_pictures_minus1", "= 0 (the frame's own picture)", _eq(0)),
        vc(ic, "num_pictures_minus1", "> 0 (pictures of later frames)", _gt(0)),
        # restoration model (outside the conformance point; its one restoration_type)
        vc(rm, "restoration_type", f"= {frame_units.RESTORATION_TYPE_RESIDUAL_CONV} "
           "(RESIDUAL_CONV)", _eq(frame_units.RESTORATION_TYPE_RESIDUAL_CONV)),
        # temporal prediction (profile 2): a tensor coded on its own in a predicted frame, and
        # a predicted one. frame_index has no class: it is always > 0 (never the first frame).
        vc(tp, "predicted_flag", "= 0 (a tensor coded on its own)", _eq(0)),
        vc(tp, "predicted_flag", "= 1 (a predicted tensor)", _eq(1)),
    ]
    return out


def _frames_of(view_units: list[InspectedUnit]) -> list[list[InspectedUnit]]:
    frames: list[list[InspectedUnit]] = []
    for iu in view_units:
        if iu.unit_type == UnitType.FRAME_HEADER:
            frames.append([iu])
        elif iu.unit_type == UnitType.END_OF_STREAM:
            break
        elif frames:
            frames[-1].append(iu)
    return frames


# The units that make their layer present (clause 5.3; a temporal_prediction unit does not).
_FRAME_UNIT_TYPES = (UnitType.TILE_MODEL, UnitType.DATA_UNIT, UnitType.DATA_HASH,
                     UnitType.INNER_CODEC_DATA)


def _has_hash(frame: list[InspectedUnit]) -> bool:
    return any(iu.unit_type == UnitType.DATA_HASH for iu in frame)


def _num_pictures(iu: InspectedUnit) -> int:
    """N of a traced inner_codec_data unit: num_pictures_minus1 + 1."""
    return 1 + next(e.value for e in iu.payload if base_name(e.name) == "num_pictures_minus1")


def _frame_layers(view: StreamView) -> list[tuple[set[int], set[int]]]:
    """Per frame: (present layers of clause 5.3, the layers among them whose picture is one
    left from an earlier inner_codec_data unit, clause 5.14)."""
    left: dict[int, int] = {}  # layer -> pictures left
    out = []
    for frame in view.frames:
        present = {iu.layer_id for iu in frame if iu.unit_type in _FRAME_UNIT_TYPES}
        present |= {layer for layer, n in left.items() if n > 0}
        for iu in frame:
            if iu.unit_type == UnitType.INNER_CODEC_DATA:
                left[iu.layer_id] = _num_pictures(iu)
        carried = {iu.layer_id for iu in frame if iu.unit_type == UnitType.INNER_CODEC_DATA}
        out.append((present, {layer for layer in present - carried if left.get(layer)}))
        for layer in present:
            if left.get(layer):
                left[layer] -= 1
    return out


def _layers_dropped(view: StreamView) -> bool:
    """A frame with fewer present layers (clause 5.3) than the SPS declares."""
    assert view.sps is not None or not view.frames
    return any(len(present) < len(view.sps.layers)  # type: ignore[union-attr]
               for present, _ in _frame_layers(view))


def _picture_left(view: StreamView) -> bool:
    """A frame that takes its picture of a layer from an earlier frame's inner_codec_data
    unit (clause 5.14)."""
    return any(from_earlier for _, from_earlier in _frame_layers(view))


def _reserved_in_frame(view: StreamView) -> bool:
    """A reserved unit between a frame header and a later unit of the same frame."""
    return any(is_reserved_unit_type(iu.unit_type) and k < len(frame) - 1
               for frame in view.frames for k, iu in enumerate(frame) if k > 0)


def _predicted(frame: list[InspectedUnit]) -> bool:
    """A frame with a temporal_prediction unit (clause 5.9.1)."""
    return any(iu.unit_type == UnitType.TEMPORAL_PREDICTION for iu in frame)


def _predicted_after(view: StreamView, predicted: bool) -> bool:
    """A frame right after a predicted frame that is predicted too (`predicted`) or has no
    temporal_prediction unit (not `predicted`: a random-access point)."""
    flags = [_predicted(f) for f in view.frames]
    return any(before and now == predicted for before, now in zip(flags, flags[1:],
                                                                  strict=False))


def _prediction_after_data(view: StreamView) -> bool:
    """A temporal_prediction unit after a data unit of its frame: a decoder collects the
    frame's units before it predicts (clause 5.3)."""
    for frame in view.frames:
        kinds = [iu.unit_type for iu in frame]
        if UnitType.TEMPORAL_PREDICTION in kinds and UnitType.DATA_UNIT in \
                kinds[:kinds.index(UnitType.TEMPORAL_PREDICTION)]:
            return True
    return False


STREAM_CLASSES: tuple[StreamClass, ...] = (
    StreamClass("no frame", lambda v: not v.frames),
    StreamClass("several frames", lambda v: len(v.frames) > 1),
    StreamClass("a frame with a data_hash", lambda v: any(map(_has_hash, v.frames))),
    StreamClass("a frame without a data_hash",
                lambda v: any(not _has_hash(f) for f in v.frames)),
    StreamClass("a frame with fewer layers than the SPS declares", _layers_dropped),
    StreamClass("a reserved unit inside a frame", _reserved_in_frame),
    StreamClass("a frame that takes a picture left from an earlier inner_codec_data unit",
                _picture_left),
    StreamClass("a predicted frame whose previous frame is predicted too",
                lambda v: _predicted_after(v, True)),
    StreamClass("a frame without temporal_prediction after a predicted frame (a random-access "
                "point)", lambda v: _predicted_after(v, False)),
    StreamClass("a temporal_prediction unit after a data unit of its frame",
                _prediction_after_data),
)

VALUE_CLASSES: tuple[ValueClass, ...] = tuple(_value_classes())


# -- the report ---------------------------------------------------------------------------------

@dataclass
class CoverageReport:
    """What a set of streams covers of the element universe and the value classes."""

    elements: dict[str, list[Pair]]
    value_classes: tuple[ValueClass, ...]
    stream_classes: tuple[StreamClass, ...]
    streams: int = 0
    covered_elements: set[tuple[str, str, str]] = field(default_factory=set)
    covered_classes: set[str] = field(default_factory=set)  # labels
    # traced (structure, element, descriptor) not in the universe: a derivation bug
    unexpected_elements: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def elements_total(self) -> int:
        return sum(len(pairs) for pairs in self.elements.values())

    @property
    def elements_covered(self) -> int:
        return sum((s, *p) in self.covered_elements
                   for s, pairs in self.elements.items() for p in pairs)

    @property
    def classes_total(self) -> int:
        return len(self.value_classes) + len(self.stream_classes)

    @property
    def classes_covered(self) -> int:
        return sum(c.label in self.covered_classes
                   for c in (*self.value_classes, *self.stream_classes))

    @property
    def missing_elements(self) -> list[str]:
        """`structure.element descriptor` of every element no stream contains."""
        return [f"{s}.{name} {desc}" for s, pairs in self.elements.items()
                for name, desc in pairs if (s, name, desc) not in self.covered_elements]

    @property
    def missing_classes(self) -> list[str]:
        return [c.label for c in (*self.value_classes, *self.stream_classes)
                if c.label not in self.covered_classes]

    @property
    def percent(self) -> float:
        """Covered share of elements and classes together, in percent."""
        total = self.elements_total + self.classes_total
        return 100.0 * (self.elements_covered + self.classes_covered) / total if total else 100.0

    @property
    def complete(self) -> bool:
        return not self.missing_elements and not self.missing_classes

    def format_table(self) -> str:
        lines = [f"syntax coverage of {self.streams} stream(s): {self.percent:.1f}% "
                 f"(elements {self.elements_covered}/{self.elements_total}, value classes "
                 f"{self.classes_covered}/{self.classes_total})",
                 f"  {'structure':<22} {'elements':>9} {'classes':>9}"]
        for s, pairs in self.elements.items():
            got = sum((s, *p) in self.covered_elements for p in pairs)
            cls = [c for c in self.value_classes if c.structure == s]
            got_cls = sum(c.label in self.covered_classes for c in cls)
            lines.append(f"  {s:<22} {f'{got}/{len(pairs)}':>9} {f'{got_cls}/{len(cls)}':>9}")
        got_cls = sum(c.label in self.covered_classes for c in self.stream_classes)
        lines.append(f"  {'(stream level)':<22} {'-':>9} "
                     f"{f'{got_cls}/{len(self.stream_classes)}':>9}")
        for title, missing in (("missing elements", self.missing_elements),
                               ("missing value classes", self.missing_classes)):
            if missing:
                lines.append(f"{title} ({len(missing)}):")
                lines.extend(f"  {m}" for m in missing)
        if self.unexpected_elements:
            lines.append("traced elements missing from the derived syntax (a coverage bug):")
            lines.extend(f"  {s}.{n} {d}" for s, n, d in sorted(self.unexpected_elements))
        return "\n".join(lines)


def _parse_sps(data: bytes, iu: InspectedUnit) -> StreamParameterSet:
    start = 8 * (iu.byte_offset + UNIT_HEADER_BYTES)
    rd = Reader(data, unit=f"#{iu.index}:stream_parameter_set", bit_offset=start,
                bit_end=start + 8 * iu.payload_size)
    return parameter_sets.stream_parameter_set(rd, StreamParameterSet())


class _Collector:
    def __init__(self, report: CoverageReport) -> None:
        self.report = report
        self.by_element: dict[tuple[str, str], list[ValueClass]] = {}
        for c in report.value_classes:
            self.by_element.setdefault((c.structure, c.element), []).append(c)
        self.variable_width = {(s, n, d[0]) for s, pairs in report.elements.items()
                               for n, d in pairs if d in ("u(v)", "f(v)")}

    def _descriptor(self, structure: str, name: str, descriptor: str) -> str:
        if descriptor.startswith("b("):
            return "b(8*n)"
        m = re.fullmatch(r"([uf])\(\d+\)", descriptor)
        if m and (structure, name, m.group(1)) in self.variable_width and \
                (name, descriptor) not in self.report.elements.get(structure, []):
            return f"{m.group(1)}(v)"
        return descriptor

    def add(self, structure: str, elements: Sequence[TracedElement],
            sps: StreamParameterSet | None) -> None:
        rep = self.report
        for e in elements:
            name = base_name(e.name)
            key = (structure, name, self._descriptor(structure, name, e.descriptor))
            if (key[1], key[2]) in rep.elements.get(structure, []):
                rep.covered_elements.add(key)
            else:
                rep.unexpected_elements.add(key)
            values = e.value if isinstance(e.value, list) else [e.value]
            for c in self.by_element.get((structure, name), []):
                if c.label not in rep.covered_classes and any(c.test(v, sps) for v in values):
                    rep.covered_classes.add(c.label)


def coverage_report(streams: Sequence[bytes],
                    value_classes: Sequence[ValueClass] = VALUE_CLASSES,
                    stream_classes: Sequence[StreamClass] = STREAM_CLASSES) -> CoverageReport:
    """Coverage of the syntax by a list of (conforming) streams."""
    report = CoverageReport(syntax_elements(), tuple(value_classes), tuple(stream_classes),
                            streams=len(streams))
    collector = _Collector(report)
    for k, data in enumerate(streams):
        try:
            sig, inspected = inspect_stream(data)
            collector.add("stream", sig, None)
            sps: StreamParameterSet | None = None
            for iu in inspected:
                if iu.unit_type == UnitType.STREAM_PARAMETER_SET and sps is None:
                    sps = _parse_sps(data, iu)
                collector.add("unit_header", iu.header, sps)
                if iu.unit_type in PAYLOAD_STRUCTURES:
                    collector.add(PAYLOAD_STRUCTURES[UnitType(iu.unit_type)], iu.payload, sps)
        except Exception as e:
            if hasattr(e, "add_note"):  # Python >= 3.11
                e.add_note(f"(coverage: stream {k} of {len(streams)})")
            raise
        view = StreamView(inspected, sps, _frames_of(inspected))
        for c in report.stream_classes:
            if c.label not in report.covered_classes and c.test(view):
                report.covered_classes.add(c.label)
    return report
