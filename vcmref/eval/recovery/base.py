"""The interface of tensor recovery: fill the samples of a split-point tensor that a lossy
channel lost, leaving the samples that arrived bit-exact.

A method is a `RecoveryMethod` subclass registered in `vcmref.registry.RECOVERY`; its
constructor takes its settings as keyword arguments, checked against its declared
`parameters` (`vcmref.params.Param`, as the CTC codecs declare theirs). Methods that need data
fitted on training features derive from `FittedRecovery` (``fit``, ``save``, ``load``; the
state is a small .npz).

Conventions shared by every method:

* ``recover(tensor, missing)``: `tensor` float (C, H, W) (returned as float32), `missing` a
  bool array of the same shape, True where a sample was lost. The values of `tensor` at the
  missing positions are ignored (they may be anything, NaN included); the available samples
  must be finite.
* Available samples are returned unchanged (the input's values as float32, bit-exact); only
  missing samples are written.
* Nothing missing: a copy at once. Everything missing: the method's fallback (0, or the
  training means for a fitted method), never an error or NaN.
* A channel with no sample left gets the method's fallback (``fallback`` setting: ``zero``,
  or ``tensor-mean``: the mean of all the samples that arrived) unless the method says
  otherwise.
* Deterministic: the same input gives the same output.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vcmref.errors import VcmrefError
from vcmref.params import Param, check_settings

__all__ = ["FALLBACK", "FittedRecovery", "RecoveryError", "RecoveryMethod", "channel_means",
           "check_input", "fallback_value", "shape_text", "shipped_weights"]

#: The value given to a channel with no available sample (methods without fitted data).
FALLBACK = Param("fallback", str, "zero", choices=("zero", "tensor-mean"),
                 doc="the value of a channel with no sample left: 0 or the mean of all "
                     "the samples that arrived")

_FORMAT = 1  # the version of the .npz layout of fitted states


class RecoveryError(VcmrefError, ValueError):
    """Input a recovery method refuses, or a fitted-state file that does not fit (one line)."""


def shipped_weights(file: str) -> Path:
    """The path of a fitted-state file vcmref ships (vcmref/eval/recovery_weights/)."""
    from vcmref.assets import package_folder

    return package_folder("vcmref.eval", "recovery_weights") / file


def shape_text(shape: Iterable[int]) -> str:
    """A shape as ``64x52x52``."""
    return "x".join(str(int(s)) for s in shape)


def check_input(tensor: Any, missing: Any) -> tuple[np.ndarray, np.ndarray]:
    """(the tensor as float32, the mask), or RecoveryError in one line: a tensor that is not a
    3-D float array, a mask that is not a bool array of its shape, a non-finite available
    sample."""
    if not isinstance(tensor, np.ndarray):
        raise RecoveryError(f"tensor: expected a numpy array (C, H, W), got "
                            f"{type(tensor).__name__}")
    if tensor.ndim != 3:
        raise RecoveryError(f"tensor: expected 3 dimensions (C, H, W), got {tensor.ndim} "
                            f"(shape {tensor.shape})")
    if not np.issubdtype(tensor.dtype, np.floating):
        raise RecoveryError(f"tensor: expected a float array, got dtype {tensor.dtype}")
    if not isinstance(missing, np.ndarray):
        raise RecoveryError(f"missing: expected a numpy bool array, got "
                            f"{type(missing).__name__}")
    if missing.dtype != np.bool_:
        raise RecoveryError(f"missing: expected dtype bool (True = lost), got {missing.dtype}")
    if missing.shape != tensor.shape:
        raise RecoveryError(f"missing: expected the tensor's shape {tensor.shape}, got "
                            f"{missing.shape}")
    values = tensor.astype(np.float32, copy=False)
    bad = ~np.isfinite(values) & ~missing
    if bad.any():
        c, h, w = (int(i[0]) for i in np.nonzero(bad))
        raise RecoveryError(f"tensor: {int(bad.sum())} available sample(s) not finite (NaN or "
                            f"Inf), the first at channel {c}, row {h}, column {w}")
    return values, missing


def fallback_value(setting: str, values: np.ndarray, missing: np.ndarray) -> float:
    """The value of the ``fallback`` setting: 0, or the mean of the available samples."""
    if setting == "tensor-mean" and not missing.all():
        return float(np.mean(values[~missing], dtype=np.float64))
    return 0.0


def channel_means(values: np.ndarray, missing: np.ndarray, fallback: float) -> np.ndarray:
    """The mean of each channel's available samples, float64 (C,); `fallback` for a channel
    with none."""
    avail = ~missing
    count = avail.sum(axis=(1, 2))
    total = np.where(avail, values, 0).sum(axis=(1, 2), dtype=np.float64)
    return np.where(count > 0, total / np.maximum(count, 1), fallback)


class RecoveryMethod(ABC):
    """A way of filling the lost samples of a (C, H, W) tensor (see the module docstring).

    Subclasses set `name`, declare `parameters` and implement `_estimate`, which returns
    estimates for every position (only those at missing positions are used)."""

    name: ClassVar[str] = ""
    parameters: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **settings: Any) -> None:
        self.settings = check_settings(self.parameters, settings, f"{self.name}.")
        self.validate()

    def validate(self) -> None:
        """Checks beyond the declared types and ranges (raise ParamError)."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({args})"

    def recover(self, tensor: np.ndarray, missing: np.ndarray,
                name: str | None = None) -> np.ndarray:
        """The tensor with its `missing` samples filled, float32 (C, H, W); the available
        samples unchanged. `name` (e.g. "dark4") picks a fitted method's data by tensor name
        where the shape alone does not."""
        values, missing = check_input(tensor, missing)
        if not missing.any():
            return values.copy()
        clean = np.where(missing, np.float32(0), values)
        if missing.all():
            estimate = self._all_missing(clean.shape, name)
        else:
            estimate = self._estimate(clean, missing, name)
        out = values.copy()
        filled = np.asarray(estimate, dtype=np.float32)[missing]
        # a guard, not a code path: estimates are finite by construction
        out[missing] = np.where(np.isfinite(filled), filled, np.float32(0))
        return out

    def _all_missing(self, shape: tuple[int, ...], name: str | None) -> np.ndarray:
        """The estimate when nothing arrived: zeros unless the method knows better."""
        return np.zeros(shape, np.float32)

    @abstractmethod
    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        """Estimates (C, H, W) for the missing samples; `values` holds 0 where missing."""


class FittedRecovery(RecoveryMethod):
    """A recovery method with data fitted on training features: ``fit`` (from tensors),
    ``save`` and ``load`` (a .npz holding, per tensor name, arrays made for one shape).

    The state maps a tensor name (e.g. "dark3"; "tensor" when fitted on bare arrays) to a dict
    of arrays; ``recover`` picks the entry by `name`, else by the tensor's shape, and refuses a
    tensor none was made for. The setting ``weights`` (a path) loads a file on first use."""

    #: settings that shape the fitted data: a file fitted with others is refused
    fit_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.state: dict[str, dict[str, np.ndarray]] | None = None
        self.source = "the fitted state"  # in messages: where the state came from

    # -- what a subclass implements ----------------------------------------------------------

    def needs_state(self) -> bool:
        """Whether `recover` needs fitted data (with the settings given)."""
        return True

    @abstractmethod
    def _fit_add(self, acc: dict[str, Any] | None, tensor: np.ndarray) -> dict[str, Any]:
        """Add one training tensor to the running sums of its kind (None: the first)."""

    @abstractmethod
    def _fit_finish(self, acc: dict[str, Any], count: int) -> dict[str, np.ndarray]:
        """The fitted arrays of one tensor kind from its running sums over `count` tensors."""

    # -- fitting, saving, loading ------------------------------------------------------------

    def fit(self, tensors: Iterable[np.ndarray | Mapping[str, np.ndarray]]
            ) -> dict[str, dict[str, np.ndarray]]:
        """Fit on training tensors: (C, H, W) arrays, or dicts name -> (C, H, W) (a split
        point's tensors, e.g. dark3/dark4/dark5); return the state (also kept). The tensors
        are consumed one at a time (a generator holds one image's tensors in memory)."""
        sums: dict[str, dict[str, Any]] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        counts: dict[str, int] = {}
        for i, item in enumerate(tensors):
            entries = item.items() if isinstance(item, Mapping) else [("tensor", item)]
            for key, t in entries:
                arr = np.asarray(t)
                if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.floating):
                    raise RecoveryError(f"fit: training tensor {i} ({key}): expected a float "
                                        f"array (C, H, W), got {arr.dtype} {arr.shape}")
                if not np.isfinite(arr).all():
                    raise RecoveryError(f"fit: training tensor {i} ({key}) holds NaN or Inf")
                key = str(key)
                first = shapes.setdefault(key, arr.shape)
                if first != arr.shape:
                    raise RecoveryError(f"fit: training tensor {i} ({key}) is "
                                        f"{shape_text(arr.shape)}, the first was "
                                        f"{shape_text(first)}")
                sums[key] = self._fit_add(sums.get(key), arr.astype(np.float32, copy=False))
                counts[key] = counts.get(key, 0) + 1
        if not sums:
            raise RecoveryError("fit: no training tensors")
        state = {}
        for key, acc in sums.items():
            arrays = self._fit_finish(acc, counts[key])
            arrays["shape"] = np.asarray(shapes[key], np.int64)
            state[key] = arrays
        self.state, self.source = state, "the fitted state"
        return state

    def save(self, path: str | Path) -> Path:
        """Write the fitted state to `path` (.npz); return the path."""
        if self.state is None:
            raise RecoveryError(f"{self.name}: nothing to save; call fit() or load() first")
        meta = {"method": self.name, "format": _FORMAT,
                "settings": {k: self.settings[k] for k in self.fit_settings},
                "tensors": {k: [int(s) for s in v["shape"]] for k, v in self.state.items()}}
        arrays = {f"{k}.{a}": v for k, entry in self.state.items() for a, v in entry.items()}
        path = Path(path)
        with path.open("wb") as f:
            np.savez_compressed(f, meta=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
        return path

    def load(self, path: str | Path,
             shapes: Mapping[str, Iterable[int]] | Iterable[Iterable[int]] | None = None
             ) -> dict[str, dict[str, np.ndarray]]:
        """Read a state written by `save`; `shapes` (name -> shape, or shapes) the tensors it
        must cover, else a one-line error naming the file and what was expected."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                data = {k: z[k] for k in z.files if k != "meta"}
        except (OSError, ValueError, KeyError) as e:
            raise RecoveryError(f"{path}: not a state file of method {self.name!r} "
                                f"({' '.join(str(e).split())})") from None
        if meta.get("method") != self.name or meta.get("format") != _FORMAT:
            raise RecoveryError(f"{path}: made for method {meta.get('method')!r} format "
                                f"{meta.get('format')}, expected {self.name!r} format {_FORMAT}")
        fitted = meta.get("settings") or {}
        for key in self.fit_settings:
            if fitted.get(key) != self.settings[key]:
                raise RecoveryError(f"{path}: fitted with {key}={fitted.get(key)!r}, "
                                    f"expected {key}={self.settings[key]!r}")
        state: dict[str, dict[str, np.ndarray]] = {}
        for full, arr in data.items():
            key, _, array = full.rpartition(".")
            state.setdefault(key, {})[array] = arr
        for key, entry in state.items():
            if "shape" not in entry:
                raise RecoveryError(f"{path}: tensor {key!r} has no shape")
            self._check_entry(path, key, entry)
        self.state, self.source = state, str(path)
        if shapes is not None:
            wanted = (shapes.items() if isinstance(shapes, Mapping)
                      else [(None, s) for s in shapes])
            for key, shape in wanted:
                self._entry(tuple(int(s) for s in shape), key)
        return state

    def _weights_path(self, weights: str) -> Path:
        """The file the ``weights`` setting names."""
        return Path(weights)

    def _check_entry(self, path: Path, key: str, entry: dict[str, np.ndarray]) -> None:
        """Raise RecoveryError where the arrays of one tensor do not match its shape."""
        return None

    def _entry(self, shape: tuple[int, ...], name: str | None) -> dict[str, np.ndarray]:
        """The fitted arrays for a tensor of `shape` (named `name`), or a one-line error."""
        if self.state is None:
            weights = self.settings.get("weights")
            if weights:
                self.load(self._weights_path(weights))
            else:
                raise RecoveryError(f"{self.name}: not fitted; call fit() or load(), or set "
                                    f"weights")
        assert self.state is not None
        if name is not None and name in self.state:
            entry = self.state[name]
            if tuple(entry["shape"]) == shape:
                return entry
        else:
            for entry in self.state.values():
                if tuple(entry["shape"]) == shape:
                    return entry
        made = ", ".join(f"{k} {shape_text(v['shape'])}" for k, v in self.state.items())
        which = f" {name}" if name is not None else ""
        raise RecoveryError(f"{self.source}: {self.name} data made for {made}; expected "
                            f"tensor{which} {shape_text(shape)}")
