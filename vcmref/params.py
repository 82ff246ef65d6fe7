"""Declared parameters: the settings a codec takes, as data (name, type, range or choices,
default), so that a config can be checked against them before anything runs.

A codec kind of the CTC (vcmref.ctc.codecs) declares its `parameters` and `rate_parameters`,
an anchor codec (vcmref.anchors.codec) its constructor `options`; `check_settings` checks a
mapping against such a declaration and raises `ParamError` naming the key path, what was
expected and what was found, on one line. A range or a set of choices may depend on settings
declared earlier (e.g. the bit depths of the chosen `codec`): it is then a function of the
settings checked so far."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vcmref.errors import VcmrefError

Settings = Mapping[str, Any]
Dynamic = Callable[[Settings], Any]  # a value computed from the settings declared before

_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}
_PLURALS = {
    str: "strings",
    int: "integers",
    float: "numbers",
    bool: "booleans",
    list: "lists",
    dict: "mappings",
}


class ParamError(VcmrefError):
    """A setting that is not as declared: `key` is its path, `detail` what was expected."""

    def __init__(self, key: str, detail: str) -> None:
        self.key, self.detail = key, detail
        super().__init__(f"{key}: {detail}")


def kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_NAMES.get(k, k.__name__) for k in kinds)


def is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    """isinstance, except that a bool is no number and an int is a float."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


@dataclass(frozen=True)
class Param:
    """One declared setting. `min`, `max` and `choices` may be functions of the settings
    declared before it; `items` types a list's elements; `fields` declares a mapping's keys;
    `requires` the values other settings must have for this one to apply (a setting given
    without them is refused; for a rate parameter, the rate_parameter is)."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    optional: bool = False  # None (YAML null) is a value: "not set"
    choices: tuple[Any, ...] | Dynamic | None = None
    min: float | Dynamic | None = None
    max: float | Dynamic | None = None
    positive: bool = False  # strictly greater than 0
    items: type | tuple[type, ...] | None = None
    fields: tuple[Param, ...] | Dynamic | None = None
    requires: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    doc: str = ""

    @property
    def dynamic(self) -> bool:
        return any(callable(v) for v in (self.choices, self.min, self.max, self.fields))

    def unmet(self, settings: Settings) -> tuple[str, str, Any] | None:
        """None when the settings are as `requires` says, else (the setting, the values it
        needs in words, the value it has)."""
        for other, allowed in self.requires.items():
            if settings.get(other) not in allowed:
                return other, " or ".join(str(a) for a in allowed), settings.get(other)
        return None

    def expected(self, settings: Settings) -> str:
        """What a value must be, in words."""
        choices = _resolve(self.choices, settings)
        if choices is not None:
            text = f"one of {', '.join(str(c) for c in choices)}"
        else:
            text = kind_name(self.type)
            lo, hi = _resolve(self.min, settings), _resolve(self.max, settings)
            if lo is not None and hi is not None:
                text += f" from {lo} to {hi}"
            elif lo is not None:
                text += f" >= {lo}"
            elif hi is not None:
                text += f" <= {hi}"
            if self.positive:
                text += " > 0"
            if self.items is not None:
                text += f" of {_PLURALS.get(self.items, kind_name(self.items))}"
        if self.doc:
            text += f" ({self.doc})"
        return text

    def check(self, value: Any, settings: Settings, key: str, default: bool = False) -> None:
        """Raise ParamError unless `value` is as declared; `default`: the value was not given."""
        if value is None and self.optional:
            return

        def fail(what: str | None = None) -> ParamError:
            got = f", got {value!r}" + (" (the default)" if default else "")
            return ParamError(key, f"expected {what or self.expected(settings)}{got}")

        if not is_kind(value, self.type):
            what = self.expected(settings)
            if self.choices is not None:
                what = f"{kind_name(self.type)}, {what}"
            raise fail(what)
        if isinstance(value, float) and not math.isfinite(value):
            raise fail()
        choices = _resolve(self.choices, settings)
        if choices is not None and value not in choices:
            raise fail()
        lo, hi = _resolve(self.min, settings), _resolve(self.max, settings)
        if (
            (lo is not None and value < lo)
            or (hi is not None and value > hi)
            or (self.positive and not value > 0)
        ):
            raise fail()
        if self.items is not None and isinstance(value, list):
            for i, item in enumerate(value):
                if not is_kind(item, self.items):
                    raise ParamError(
                        f"{key}[{i}]", f"expected {kind_name(self.items)}, got {item!r}"
                    )
        fields = _resolve(self.fields, settings)
        if fields is not None and isinstance(value, dict):
            check_settings(fields, value, f"{key}.")


def _resolve(value: Any, settings: Settings) -> Any:
    return value(settings) if callable(value) else value


def defaults(declared: Sequence[Param]) -> dict[str, Any]:
    return {p.name: p.default for p in declared}


def check_settings(
    declared: Sequence[Param], values: Mapping[Any, Any], prefix: str = ""
) -> dict[str, Any]:
    """Check `values` against the declaration: no unknown key, then each setting in
    declaration order (a default only where its range or choices depend on other settings:
    the default bit depth may not be one the chosen codec takes). Return the settings with
    the defaults filled in."""
    names = [p.name for p in declared]
    unknown = [k for k in values if k not in names]
    if unknown:
        known = ", ".join(names) or "none"
        raise ParamError(f"{prefix}{unknown[0]}", f"unknown key; expected one of {known}")
    settings: dict[str, Any] = {}
    for p in declared:
        given = p.name in values
        value = values[p.name] if given else p.default
        if given or p.dynamic:
            p.check(value, settings, f"{prefix}{p.name}", default=not given)
        settings[p.name] = value
    for p in declared:  # after all: a requirement may name a setting declared later
        if p.name in values and values[p.name] is not None:
            unmet = p.unmet(settings)
            if unmet:
                other, needed, actual = unmet
                raise ParamError(
                    f"{prefix}{p.name}",
                    f"expected no value unless {prefix}{other} is {needed} (it is {actual!r})",
                )
    return settings
