"""PyTorch models split at named submodules: a `TaskModel` for torch modules you bring.

A split point is a list of submodule names (as in ``module.named_modules()``); the tensors at
the split are those submodules' outputs, named by the submodule names (dots kept). Two ways to
get the halves:

1. automatic (`TorchSplitModel`): the module is traced with `torch.fx` (the split modules kept
   whole as leaves), the front is the traced graph with the split outputs as its outputs, the
   back the graph from placeholders for the split outputs to the module's outputs. The split
   must be a cut: nothing after it may use a value computed from the input other than through
   the split tensors (a residual connection across the split is not allowed);
2. explicit (`TorchSplitModel.from_functions`): for models that do not trace (detectron2 or
   torchvision detectors, with data-dependent control flow), the user gives both halves.

When the module does not trace, `front` still works (forward hooks capture the split modules'
outputs during a forward that stops as soon as all are captured), but `back` needs a graph
or explicit functions, and says so.

Everything runs on the CPU, in eval mode, under ``torch.inference_mode()``. The number of
threads is left to the caller (``torch.set_num_threads``): results can change in the last bits
with it, see docs/torch-models.md.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vcmref.tasks.base import Predictions, Prepared, TaskModel, TaskModelError, Tensors

Preprocess = Callable[[np.ndarray], Any]  # image -> array/tensor (1, C, H, W), or a Prepared
Postprocess = Callable[[Any, Prepared], Any]  # (raw module output, prepared) -> predictions


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise TaskModelError(f"torch models need PyTorch: {e}; pip install torch") from None
    return torch


def default_preprocess(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 in [0, 1]."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else \
            type(image).__name__
        raise TaskModelError(f"expected an (H, W, 3) uint8 RGB image, got {got}")
    return (image.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0))


def default_postprocess(output: Any, prepared: Prepared) -> list[np.ndarray]:
    """The raw output tensors as numpy arrays, in order (tuples, lists and dict values
    flattened depth first)."""
    torch = _import_torch()
    out: list[np.ndarray] = []

    def walk(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            out.append(value.detach().cpu().numpy().copy())
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        else:
            raise TaskModelError(f"the default postprocess takes tensors, tuples, lists and "
                                 f"dicts; the module returned a {type(value).__name__}: pass "
                                 "postprocess=")

    walk(output)
    return out


def _check_finite(what: str, x: np.ndarray) -> None:
    if not np.isfinite(x).all():
        raise TaskModelError(f"{what} holds NaN or Inf")


def _eval(obj: Any) -> None:
    """Put a module (or the module a bound method belongs to) in eval mode."""
    torch = _import_torch()
    for m in (obj, getattr(obj, "__self__", None)):
        if isinstance(m, torch.nn.Module):
            m.eval()


class _StopForward(BaseException):
    """Raised by a capture hook once every split tensor is in: ends the forward early.
    A BaseException so that a model's own ``except Exception`` does not swallow it."""


class TorchSplitModel(TaskModel):
    """A torch module split at named submodules: ``front``, ``back`` and ``full`` on the CPU.

    `split_points` maps a split name to the submodule names whose outputs form the split (one
    or several, e.g. the FPN levels of a detector); each such submodule must be called once
    per forward and return a (1, C, H, W) tensor. `preprocess(image)` returns the network
    input (array or tensor of shape (1, C, H, W)) or a `Prepared`; default: RGB in [0, 1].
    `postprocess(output, prepared)` maps the module's raw output to predictions; default: the
    output tensors as a list of numpy arrays. `leaf_modules` names submodules fx should not
    trace into (for parts that do not trace but sit wholly on one side of every split).

    The module is put in eval mode (in place) and must be on the CPU.
    """

    def __init__(self, module: Any, split_points: Mapping[str, Sequence[str]], *,
                 preprocess: Preprocess | None = None, postprocess: Postprocess | None = None,
                 name: str = "torch-model", leaf_modules: Sequence[str] = ()) -> None:
        torch = _import_torch()
        if not isinstance(module, torch.nn.Module):
            raise TaskModelError(f"{name}: expected a torch.nn.Module, got "
                                 f"{type(module).__name__}")
        self._setup(split_points, preprocess, postprocess, name)
        on_other = sorted({str(t.device) for t in (*module.parameters(), *module.buffers())
                           if t.device.type != "cpu"})
        if on_other:
            raise TaskModelError(f"{name}: the module has tensors on {', '.join(on_other)}; "
                                 "torch models run on the CPU: pass module.cpu()")
        module.eval()
        self.module = module
        params = list(module.parameters())
        self._dtype = params[0].dtype if params and params[0].is_floating_point() \
            else torch.float32
        modules = dict(module.named_modules())
        leaf_modules = tuple(leaf_modules)
        for m in leaf_modules:
            if m not in modules or m == "":
                raise TaskModelError(f"{name}: leaf module {m!r}: {self._no_module(m, modules)}")
        for split, names in self.split_points.items():
            for n in names:
                if n == "" or n not in modules:
                    raise TaskModelError(f"{name}: split point {split!r}: {n!r}: "
                                         f"{self._no_module(n, modules)}")
            for a in names:
                for b in names:
                    if b.startswith(a + "."):
                        raise TaskModelError(f"{name}: split point {split!r}: {b!r} is inside "
                                             f"{a!r}; name modules that are not nested")
            for m in leaf_modules:
                inside = [n for n in names if n.startswith(m + ".")]
                if inside:
                    raise TaskModelError(f"{name}: split point {split!r}: {inside[0]!r} is "
                                         f"inside leaf module {m!r}")
        for split, names in self.split_points.items():
            try:  # per split point: the split modules are leaves, which may decide it
                graph, root = self._trace(names, leaf_modules)
            except TaskModelError:
                raise
            except Exception as e:  # fx raises TraceError, TypeError, NotImplementedError, ...
                self.trace_errors[split] = f"{type(e).__name__}: {e}".splitlines()[0]
                continue
            self._graphs[split] = _split_graph(graph, root, names, split, name)

    @property
    def trace_error(self) -> str | None:
        """Why torch.fx could not trace the module (the first split point it failed for)."""
        return next(iter(self.trace_errors.values()), None)

    @staticmethod
    def _no_module(n: str, modules: Mapping[str, Any]) -> str:
        if n == "":
            return "the root module cannot be a split point"
        close = difflib.get_close_matches(n, [m for m in modules if m], n=3)
        hint = f"; close: {', '.join(close)}" if close else ""
        return f"no submodule of that name{hint} (see module.named_modules())"

    def _setup(self, split_points: Mapping[str, Sequence[str]], preprocess: Preprocess | None,
               postprocess: Postprocess | None, name: str) -> None:
        self.name = name
        if not split_points:
            raise TaskModelError(f"{name}: no split points given")
        self.split_points = {}
        for split, names in split_points.items():
            if isinstance(names, str):
                names = (names,)
            names = tuple(names)
            if not names:
                raise TaskModelError(f"{name}: split point {split!r} names no tensors")
            if len(set(names)) != len(names):
                raise TaskModelError(f"{name}: split point {split!r} names a tensor twice: "
                                     f"{names}")
            self.split_points[split] = names
        self._preprocess = preprocess or default_preprocess
        self._postprocess = postprocess or default_postprocess
        self._front_fn: Callable[[Any, str], Any] | None = None
        self._back_fn: Callable[[dict[str, Any], Prepared, str], Any] | None = None
        self._full_fn: Callable[[Any], Any] | None = None
        self._dtype = None
        self.trace_errors: dict[str, str] = {}  # split -> why torch.fx could not trace it
        self._graphs: dict[str, tuple[Any, Any]] = {}

    def _trace(self, names: tuple[str, ...], leaf_modules: tuple[str, ...]):
        import torch.fx as fx

        leaves = set(names) | set(leaf_modules)
        opened = {n.rsplit(".", k)[0] for n in names for k in range(1, n.count(".") + 1)}

        class SplitTracer(fx.Tracer):
            def is_leaf_module(self, m, module_qualified_name: str) -> bool:
                if module_qualified_name in leaves:
                    return True
                if module_qualified_name in opened:
                    return False
                return super().is_leaf_module(m, module_qualified_name)

        tracer = SplitTracer()
        graph = tracer.trace(self.module)
        return graph, tracer.root

    @classmethod
    def from_functions(cls, front_fn: Callable[[Any, str], Any],
                       back_fn: Callable[[dict[str, Any], Prepared, str], Any],
                       split_points: Mapping[str, Sequence[str]], *,
                       full_fn: Callable[[Any], Any],
                       preprocess: Preprocess | None = None,
                       postprocess: Postprocess | None = None,
                       name: str = "torch-model") -> TorchSplitModel:
        """A model given as its two halves, for modules that do not trace.

        ``front_fn(x, split)`` takes the (1, C, H, W) input tensor and returns the split
        tensors, (1, C, H, W) each, as a mapping keyed by the names in ``split_points[split]``
        or a sequence in that order; ``back_fn(tensors, prepared, split)`` takes that mapping
        (tensor name -> (1, C, H, W) tensor, in split order) and the `Prepared` (whose meta
        may hold what a detector's back needs, like the resized image size) and returns what
        the module returns; ``full_fn(x)`` runs the whole model (usually the module itself).
        Modules among the three (or owning them as bound methods) are put in eval mode; put
        any other module the functions use in eval mode yourself.
        """
        torch = _import_torch()
        self = cls.__new__(cls)
        self._setup(split_points, preprocess, postprocess, name)
        for fn in (front_fn, back_fn, full_fn):
            if not callable(fn):
                raise TaskModelError(f"{name}: front_fn, back_fn and full_fn must be callable, "
                                     f"got {type(fn).__name__}")
            _eval(fn)
        self.module = full_fn if isinstance(full_fn, torch.nn.Module) else None
        self._front_fn, self._back_fn, self._full_fn = front_fn, back_fn, full_fn
        self._dtype = torch.float32
        return self

    # -- the TaskModel interface ---------------------------------------------------------

    def preprocess(self, image: np.ndarray, image_id: int = 0) -> Prepared:
        torch = _import_torch()
        out = self._preprocess(image)
        prepared = out if isinstance(out, Prepared) else Prepared(out, image_id)
        x = prepared.input
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating) or x.ndim != 4 or x.shape[0] != 1:
            raise TaskModelError(f"{self.name}: preprocess must give a float (1, C, H, W) "
                                 f"input, gave {x.dtype} {x.shape}")
        prepared.input = np.ascontiguousarray(x, np.float32)
        prepared.image_id = image_id
        _check_finite(f"{self.name}: the preprocessed input", prepared.input)
        return prepared

    def front(self, prepared: Prepared, split: str) -> Tensors:
        torch = _import_torch()
        names = self.check_split(split)
        x = self._input(prepared)
        with torch.inference_mode():
            if self._front_fn is not None:
                values = self._front_fn(x, split)
                values = self._as_list(values, names, split)
            elif split in self._graphs:
                values = list(self._graphs[split][0](x))
            else:
                values = self._hook_front(x, names)
        return {n: self._to_chw(n, v, split) for n, v in zip(names, values, strict=True)}

    def back(self, tensors: Tensors, prepared: Prepared, split: str) -> Predictions:
        torch = _import_torch()
        names = self.check_split(split)
        missing = [n for n in names if n not in tensors]
        if missing:
            raise TaskModelError(f"{self.name}: split point {split!r} needs tensors "
                                 f"{list(names)}; missing {missing}")
        feeds = {}
        for n in names:
            t = tensors[n]
            if isinstance(t, torch.Tensor):
                t = t.detach().cpu().numpy()
            t = np.asarray(t)
            if t.ndim != 3 or not np.issubdtype(t.dtype, np.floating):
                raise TaskModelError(f"{self.name}: tensor {n!r}: expected float (C, H, W), "
                                     f"got {t.dtype} {t.shape}")
            _check_finite(f"{self.name}: tensor {n!r}", t)
            feeds[n] = torch.from_numpy(np.array(t, np.float32)[None]).to(self._dtype)
        if self._back_fn is None and split not in self._graphs:
            raise TaskModelError(
                f"{self.name}: the module does not trace with torch.fx "
                f"({self.trace_errors.get(split)}), "
                "so there is no graph to start from the split: front() works (forward hooks "
                "capture the split tensors) but back() does not. Make the module traceable "
                "(leaf_modules= for submodules that do not trace) or give both halves with "
                "TorchSplitModel.from_functions(front_fn, back_fn, ...)")
        with torch.inference_mode():
            try:
                if self._back_fn is not None:
                    out = self._back_fn(feeds, prepared, split)
                else:
                    out = self._graphs[split][1](*feeds.values())
            except RuntimeError as e:  # shapes that do not fit the back, mostly
                raise TaskModelError(f"{self.name}: the back from {split!r} failed on tensors "
                                     f"{ {n: tuple(v.shape[1:]) for n, v in feeds.items()} }: "
                                     f"{str(e).splitlines()[0]}") from e
        return self._postprocess(out, prepared)

    def full(self, image: np.ndarray, image_id: int = 0) -> Predictions:
        torch = _import_torch()
        prepared = self.preprocess(image, image_id)
        x = self._input(prepared)
        with torch.inference_mode():
            out = self._full_fn(x) if self._full_fn is not None else self.module(x)
        return self._postprocess(out, prepared)

    # -- inspection --------------------------------------------------------------------------

    def halves(self, split: str):
        """The (front, back) `torch.fx.GraphModule`s of an automatic split (print ``.code``
        to see what each half computes)."""
        self.check_split(split)
        if split not in self._graphs:
            why = "made from functions" if self._front_fn is not None else \
                f"not traced ({self.trace_errors.get(split)})"
            raise TaskModelError(f"{self.name}: no graphs for split {split!r}: the model is "
                                 f"{why}")
        return self._graphs[split]

    # -- helpers -------------------------------------------------------------------------

    def _input(self, prepared: Prepared):
        torch = _import_torch()
        x = np.asarray(prepared.input)
        if x.ndim != 4 or x.shape[0] != 1 or not np.issubdtype(x.dtype, np.floating):
            raise TaskModelError(f"{self.name}: expected a float (1, C, H, W) input, got "
                                 f"{x.dtype} {x.shape}")
        _check_finite(f"{self.name}: the input", x)
        return torch.from_numpy(np.array(x, np.float32)).to(self._dtype)

    def _as_list(self, values: Any, names: tuple[str, ...], split: str) -> list[Any]:
        if isinstance(values, Mapping):
            missing = [n for n in names if n not in values]
            if missing:
                raise TaskModelError(f"{self.name}: front_fn for {split!r} returned "
                                     f"{list(values)}, missing {missing}")
            return [values[n] for n in names]
        if isinstance(values, (list, tuple)) and len(values) == len(names):
            return list(values)
        raise TaskModelError(f"{self.name}: front_fn for {split!r} must return a mapping "
                             f"with keys {list(names)} or a sequence of {len(names)} tensors, "
                             f"returned {type(values).__name__}")

    def _to_chw(self, name: str, value: Any, split: str) -> np.ndarray:
        torch = _import_torch()
        if not isinstance(value, torch.Tensor):
            raise TaskModelError(f"{self.name}: split {split!r}: {name!r} gave a "
                                 f"{type(value).__name__}, not a tensor; name a submodule that "
                                 "returns one tensor")
        if value.ndim != 4 or value.shape[0] != 1:
            raise TaskModelError(f"{self.name}: split {split!r}: {name!r} gave shape "
                                 f"{tuple(value.shape)}; split tensors must be (1, C, H, W)")
        return np.array(value.detach().to("cpu", torch.float32).numpy()[0], copy=True)

    def _hook_front(self, x, names: tuple[str, ...]) -> list[Any]:
        torch = _import_torch()
        modules = dict(self.module.named_modules())
        captured: dict[str, Any] = {}

        def make_hook(n: str):
            def hook(mod, inputs, output):
                if n in captured:
                    raise TaskModelError(f"{self.name}: {n!r} is called more than once in a "
                                         "forward; its output is not one split tensor")
                # clone: an in-place op later in the forward must not change what we keep
                captured[n] = output.clone() if isinstance(output, torch.Tensor) else output
                if len(captured) == len(names):
                    raise _StopForward
            return hook

        handles = [modules[n].register_forward_hook(make_hook(n)) for n in names]
        try:
            self.module(x)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in names if n not in captured]
        if missing:
            raise TaskModelError(f"{self.name}: {missing} not called in the forward")
        return [captured[n] for n in names]


def _describe(node: Any) -> str:
    """A traced node in the user's terms: its module, the input, or the fx node name."""
    if node.op == "call_module":
        return f"module {node.target!r}"
    if node.op == "placeholder":
        return f"input {node.name!r}"
    return repr(node.name)


def _split_graph(graph: Any, root: Any, names: tuple[str, ...], split: str, model: str):
    """The front and back GraphModules of a traced graph cut at the call_module nodes `names`."""
    import torch.fx as fx

    nodes = list(graph.nodes)
    order = {n: i for i, n in enumerate(nodes)}
    split_nodes = []
    for name in names:
        calls = [n for n in nodes if n.op == "call_module" and n.target == name]
        if len(calls) != 1:
            what = "not called in the traced forward" if not calls else \
                f"called {len(calls)} times in a forward (a shared module): its output is " \
                "not one tensor"
            raise TaskModelError(f"{model}: split point {split!r}: module {name!r} is {what}")
        split_nodes.append(calls[0])
    cut = set(split_nodes)
    output = next(n for n in nodes if n.op == "output")

    # front: the traced graph with the split nodes as its outputs, the rest dropped
    front = fx.Graph()
    env: dict[Any, Any] = {}
    front.graph_copy(graph, env)
    front.output(tuple(env[n] for n in split_nodes))
    front_module = fx.GraphModule(root, front)  # DCE asks the owning module about purity
    front_module.graph.eliminate_dead_code()
    front_module.graph.lint()
    front_module.recompile()
    front_module.delete_all_unused_submodules()

    # back: what the outputs need, walking back from them and stopping at the split nodes
    needed: set[Any] = set()
    stack = [output]
    while stack:
        for m in stack.pop().all_input_nodes:
            if m not in cut and m not in needed:
                needed.add(m)
                stack.append(m)
    from_input, after_cut, upstream = set(), set(), set()
    for n in nodes:
        if n.op == "placeholder" or any(m in from_input for m in n.all_input_nodes):
            from_input.add(n)
        if any(m in cut or m in after_cut for m in n.all_input_nodes):
            after_cut.add(n)
    stack = list(split_nodes)
    while stack:
        for m in stack.pop().all_input_nodes:
            if m not in upstream:
                upstream.add(m)
                stack.append(m)
    bypass = {n for n in needed if n in from_input and n not in after_cut}
    if bypass:
        users = sorted(((u, m) for m in bypass for u in m.users
                        if (u in needed or u is output) and u not in bypass),
                       key=lambda um: order[um[0]])
        user, used = users[0] if users else (output, min(bypass, key=order.get))
        origins = sorted(bypass & upstream, key=order.get)
        origin = origins[-1] if origins else min(bypass, key=order.get)
        via = f", which is computed from {_describe(origin)} (before the split)" \
            if origin is not used else " (before the split)"
        raise TaskModelError(
            f"{model}: split point {split!r} is not a cut of the graph: {_describe(user)} (after "
            f"the split) uses {_describe(used)}{via} other than through the split tensors "
            f"{list(names)}; add the module that computes it to the split point or choose "
            "another split")
    back = fx.Graph()
    env = {}
    for n, name in zip(split_nodes, names, strict=True):
        ident = re.sub(r"\W", "_", name)
        if not ident.isidentifier() or keyword.iskeyword(ident):
            ident = "t_" + ident
        env[n] = back.placeholder(ident)
    for n in nodes:
        if n in needed:
            env[n] = back.node_copy(n, lambda a: env[a])
    back.node_copy(output, lambda a: env[a])
    back.lint()
    return front_module, fx.GraphModule(root, back)
