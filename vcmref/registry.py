"""Registries by role: the names a CTC config gives task models, codec kinds, dataset kinds,
metrics, the pre- and post-processing of generic task networks and the channel models of
loss simulation.

This module is a leaf: it imports nothing of what registers into it. Each implementation
registers itself where it is defined, with a decorator::

    from vcmref.registry import TASKS

    @TASKS.register("my-detector")
    class MyDetector(TaskModel): ...

On its first lookup a registry imports the modules that hold the built-in implementations
(named here as strings) and then loads the third-party plugins of the entry-point group
``vcmref.<role>`` (``vcmref.tasks``, ``vcmref.codecs``, ``vcmref.datasets``,
``vcmref.metrics``, ``vcmref.preprocessors``, ``vcmref.postprocessors``, ``vcmref.recovery``,
``vcmref.channels``), the way pytest finds its plugins. An entry point names a module
(importing it registers what it holds) or an object (``package.module:attr``, registered
under the entry point's name). A plain Python file is loaded with `load_plugin` (the CTC
config's ``plugins`` key). A name registered twice is refused, naming both; an unknown name is
refused in one line naming the known ones.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from vcmref.errors import VcmrefError

T = TypeVar("T")

__all__ = ["CHANNELS", "CODECS", "DATASETS", "METRICS", "POSTPROCESSORS", "PREPROCESSORS", "TASKS",
           "RECOVERY", "PluginError", "Registry", "RegistryError", "load_plugin", "resolve"]


class RegistryError(VcmrefError, LookupError):
    """A name registered twice, or looked up and not registered (one line)."""


class PluginError(VcmrefError):
    """A plugin (entry point, file or module) that cannot be loaded (one line)."""


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


class Registry(Generic[T]):
    """Names -> implementations of one role.

    `register(name)` is a decorator (or `register(name, obj)` a call); `get(name)` (also
    ``registry[name]``) returns what is registered, `names()` lists the names, sorted (the
    same whatever the order modules were imported in); ``name in registry``, iteration,
    `items()` and `len` work as for a dict.
    Every lookup first loads the built-in modules and the entry-point plugins (once).
    """

    def __init__(self, role: str, what: str, builtins: tuple[str, ...] = ()) -> None:
        self.role = role
        self.what = what  # in messages: "task kind", "metric", ...
        self.group = f"vcmref.{role}"
        self._builtins = builtins
        self._entries: dict[str, T] = {}
        self._loaded = False

    def __repr__(self) -> str:
        return f"Registry({self.role!r}: {', '.join(self._entries) or 'not loaded'})"

    # -- registering ------------------------------------------------------------------------

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register `obj` under `name`; without `obj`, a decorator that does so. The same
        object registered again under its name is a no-op; another object is refused."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.what}: expected a non-empty name, got {name!r}")

        def add(target: T) -> T:
            old = self._entries.get(name)
            if old is not None and old is not target:
                raise RegistryError(f"{self.what} {name!r} is registered twice: by "
                                    f"{_describe(old)} and by {_describe(target)}")
            self._entries[name] = target
            return target

        return add if obj is None else add(obj)

    # -- looking up -------------------------------------------------------------------------

    def load(self) -> None:
        """Import the built-in modules and load the entry-point plugins (once)."""
        if self._loaded:
            return
        self._loaded = True  # set first: a module being imported may look names up
        try:
            for module in self._builtins:
                importlib.import_module(module)
            for ep in _entry_points(self.group):
                self._load_entry_point(ep)
        except BaseException:
            self._loaded = False
            raise

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        try:
            obj = ep.load()
        except Exception as e:
            raise PluginError(f"entry point {ep.name} = {ep.value} (group {self.group}) "
                              f"failed to load: {_one_line(e)}") from None
        if not isinstance(obj, ModuleType):  # a module registers what it holds on import
            self.register(ep.name, obj)

    def get(self, name: str) -> T:
        """What is registered as `name`; an unknown name is refused naming the known ones."""
        self.load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._entries)) or "none"
            raise RegistryError(f"unknown {self.what} {name!r}; known: {known}") from None

    __getitem__ = get

    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        self.load()
        return sorted(self._entries.items(), key=lambda kv: kv[0])

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=group), key=lambda ep: (ep.name, ep.value))


# -- plugins from files and modules ---------------------------------------------------------

def load_plugin(source: str | Path) -> ModuleType:
    """Import a plugin: a Python file (a path ending in ``.py``) or an importable module name.
    A file is imported once per process under a name made from its resolved path, so loading
    it again (a worker re-reading the config) registers nothing twice."""
    text = str(source)
    if not text.endswith(".py"):
        try:
            return importlib.import_module(text)
        except Exception as e:
            raise PluginError(f"plugin {text!r}: cannot import it as a module "
                              f"({_one_line(e)}); give a module name or a .py file") from None
    path = Path(text).expanduser().resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"vcmref_plugin_{''.join(c if c.isalnum() else '_' for c in path.stem)}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise PluginError(f"plugin {text!r}: no such file")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {text!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise PluginError(f"plugin {text!r} failed to load: {_one_line(e)}") from None
    return module


def resolve(ref: str) -> Any:
    """The object `ref` names: ``package.module:attr`` or ``path/to/file.py:attr`` (a dotted
    attr walks attributes)."""
    module_ref, sep, attr = str(ref).rpartition(":")
    if not sep or not module_ref or not attr:
        raise PluginError(f"{ref!r}: expected package.module:name or path/to/file.py:name")
    module = load_plugin(module_ref)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{ref!r}: {module_ref} has no {attr!r}") from None
    return obj


# -- the registries -------------------------------------------------------------------------

#: Task networks (`vcmref.tasks.base.TaskModel` subclasses): the config's ``task.kind``.
TASKS: Registry[Any] = Registry("tasks", "task kind", (
    "vcmref.tasks.yolox", "vcmref.tasks.onnx_task", "vcmref.tasks.torch_task"))
#: CTC codec kinds (`vcmref.ctc.codecs.CtcCodec` subclasses): ``codecs.NAME.kind``.
CODECS: Registry[Any] = Registry("codecs", "codec kind", ("vcmref.ctc.codecs",
                                                         "vcmref.ctc.learned_codecs"))
#: Dataset kinds (`vcmref.eval.datasets.base.DatasetKind` subclasses): ``dataset.kind``.
DATASETS: Registry[Any] = Registry("datasets", "dataset kind", ("vcmref.eval.datasets",))
#: CTC metrics (`vcmref.eval.metric.Metric` subclasses): the config's ``metrics``.
METRICS: Registry[Any] = Registry("metrics", "metric", (
    "vcmref.eval.quality", "vcmref.eval.task_metrics", "vcmref.eval.iqa.jpeg_ai"))
#: Pre-processing of generic task networks (`vcmref.tasks.processing.Preprocessor`).
PREPROCESSORS: Registry[Any] = Registry("preprocessors", "pre-processing",
                                        ("vcmref.tasks.processing",))
#: Post-processing of generic task networks (`vcmref.tasks.processing.Postprocessor`).
POSTPROCESSORS: Registry[Any] = Registry("postprocessors", "post-processing",
                                         ("vcmref.tasks.processing",))
#: Channel models of packet-loss simulation (`vcmref.bitstream.loss.ChannelModel`): "iid", "ge".
CHANNELS: Registry[Any] = Registry("channels", "channel model", ("vcmref.bitstream.loss",))
#: Recovery of lost tensor samples (`vcmref.eval.recovery.RecoveryMethod` subclasses).
RECOVERY: Registry[Any] = Registry("recovery", "recovery method", ("vcmref.eval.recovery",))
