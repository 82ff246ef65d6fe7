"""Where an ONNX graph can be cut into a front (model input to the cut tensors) and a back (cut
tensors to the outputs), and what each half computes.

Candidate cuts: the "live tensor frontier". In topological order, after each node the frontier
is the set of tensors produced so far (the model input included) that a later node still
consumes; constants (initializers, and tensors computed from constants only) and graph outputs
are left out. Every frontier is a cut; a candidate is a frontier of at most `max_tensors`
tensors, named ``d<depth>`` by its depth (the non-constant nodes in its front). Any other set of
tensors is a cut when every path from the model input to the outputs crosses it, checked by
walking back from the outputs: the walk must stop at cut tensors or constants, never at the
model input.

Compute per node (`node_cost`), from the shapes `onnx.shape_inference` gives (an unknown
dimension counts as 1):
  Conv             MACs = output elements x (C_in / group) x kernel elements
  ConvTranspose    MACs = input elements x (C_out / group) x kernel elements
  Gemm, MatMul     MACs = output elements x the inner dimension K
  FLOPs            2 x MACs, plus for element-wise arithmetic and activations (Add, Mul,
                   Sigmoid, ...) 1 per output element, BatchNormalization 2, pooling the kernel
                   elements per output element (global pooling: input elements), Softmax 3
  data movement    (Reshape, Concat, Slice, Transpose, Resize, Gather, ...) 0
A node of another type counts 0 and is listed in `SplitGraph.uncounted`. MACs and FLOPs of a
cut's front and back are the sums over their non-constant nodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcmref.errors import VcmrefError

DEFAULT_MAX_TENSORS = 4

# Element-wise ops and their FLOPs per output element.
ELEMENTWISE_FLOPS = {
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Neg",
                     "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Relu", "LeakyRelu", "PRelu",
                     "Elu", "Selu", "Sigmoid", "HardSigmoid", "Tanh", "Erf", "Clip", "Floor",
                     "Ceil", "Round", "Sign", "Where", "Equal", "Less", "Greater", "Not", "And",
                     "Or", "Softplus", "Mish", "Gelu"), 1),
    "HardSwish": 2, "BatchNormalization": 2, "InstanceNormalization": 4,
    "LayerNormalization": 5, "Softmax": 3, "LogSoftmax": 3,
}
# Ops that move or select data and compute nothing.
DATA_MOVEMENT = frozenset((
    "Reshape", "Concat", "Slice", "Transpose", "Resize", "Upsample", "Gather", "GatherElements",
    "Flatten", "Squeeze", "Unsqueeze", "Shape", "Constant", "ConstantOfShape", "Identity",
    "Split", "Pad", "Cast", "Expand", "Tile", "DepthToSpace", "SpaceToDepth", "Range", "Size",
    "Dropout",
))


class SplitError(VcmrefError):
    """A split that does not cut the graph, or a model the analysis cannot use."""


@dataclass(frozen=True)
class Cut:
    """A set of tensors that cuts the graph, with what its front and back compute."""

    name: str  # "d<depth>" for a frontier, or the task model's split name
    depth: int  # non-constant nodes in the front
    tensors: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]  # per tensor, batch dimension included
    macs_front: int
    macs_back: int
    flops_front: int
    flops_back: int

    @property
    def samples(self) -> int:
        """Elements of the cut tensors (what a codec codes), batch dimension included."""
        return sum(math.prod(s) for s in self.shapes)

    @property
    def label(self) -> str:
        return f"{self.name}: {'+'.join(self.tensors)}"


def _subgraph_inputs(node: Any) -> list[str]:
    """Outer-scope tensors that the subgraphs of a node (If, Loop, Scan) read."""
    names: list[str] = []
    for attr in node.attribute:
        for g in [attr.g] if attr.HasField("g") else list(attr.graphs):
            local = {i.name for i in g.input} | {i.name for i in g.initializer}
            for inner in g.node:
                names += [n for n in [*inner.input, *_subgraph_inputs(inner)]
                          if n and n not in local]
                local |= set(inner.output)
    return names


def _shape(value_info: Any) -> tuple[int, ...] | None:
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                 for d in t.tensor_type.shape.dim)


def _attribute(node: Any, name: str, default: Any) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def node_cost(node: Any, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int] | None:
    """(MACs, FLOPs) of one node by the counting rule of the module docstring; None for an op
    type the rule does not cover (it then counts 0)."""
    op = node.op_type

    def size(name: str) -> int:
        shape = shapes.get(name)
        return math.prod(shape) if shape is not None else 0

    out = size(node.output[0]) if node.output else 0
    if op in ("Conv", "ConvTranspose"):
        weight = shapes.get(node.input[1])
        if weight is None:
            return 0, 0
        per = math.prod(weight[1:])
        macs = (out if op == "Conv" else size(node.input[0])) * per
        return macs, 2 * macs
    if op in ("Gemm", "MatMul"):
        a = shapes.get(node.input[0])
        if a is None:
            return 0, 0
        k = a[-2] if op == "Gemm" and _attribute(node, "transA", 0) else a[-1]
        return out * k, 2 * out * k
    if op in ("MaxPool", "AveragePool", "LpPool"):
        return 0, out * math.prod(_attribute(node, "kernel_shape", [1]))
    if op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax"):
        return 0, size(node.input[0])
    if op in ELEMENTWISE_FLOPS:
        return 0, ELEMENTWISE_FLOPS[op] * out
    if op in DATA_MOVEMENT:
        return 0, 0
    return None


class SplitGraph:
    """An ONNX graph seen as cuts: its nodes in topological order, the tensors that depend on
    the model input, each node's compute, the candidate cuts and the check of any other."""

    def __init__(self, model: Any, input: str | None = None, source: str | None = None) -> None:
        import onnx

        if isinstance(model, str | Path):
            source = source or Path(model).name
            try:
                model = onnx.load(str(model))
            except Exception as e:  # protobuf's DecodeError, a missing file, ...
                reason = " ".join(str(e).split())
                raise SplitError(f"{model}: not a readable ONNX model ({reason})") from None
        self.source = source or (model.graph.name or "the model")
        self.model = model
        graph = model.graph
        initializers = {i.name for i in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in initializers]
        if not inputs:
            raise SplitError(f"{self.source}: no usable input (no graph input that is not an "
                             "initializer); expected one image input")
        if input is None:
            if len(inputs) != 1:
                raise SplitError(f"{self.source}: the graph has inputs {', '.join(inputs)}; "
                                 "say which one is the image")
            input = inputs[0]
        elif input not in inputs:
            raise SplitError(f"{self.source}: no graph input named {input!r}; its inputs: "
                             f"{', '.join(inputs)}")
        self.input = input
        self.outputs = tuple(o.name for o in graph.output)
        self.nodes = self._sorted(list(graph.node), initializers | set(inputs))
        self.producer = {t: i for i, n in enumerate(self.nodes) for t in n.output if t}
        self.reads = [[t for t in [*n.input, *_subgraph_inputs(n)] if t] for n in self.nodes]
        self.static = set(initializers)  # tensors that do not depend on the model input
        for i, node in enumerate(self.nodes):
            if all(t in self.static for t in self.reads[i]):
                self.static.update(t for t in node.output if t)
        self.static -= {self.input}
        self.shapes = self._infer_shapes()
        costs = [node_cost(n, self.shapes) for n in self.nodes]
        self.uncounted = sorted({n.op_type for n, c in zip(self.nodes, costs, strict=True)
                                 if c is None})
        self.node_macs = [c[0] if c else 0 for c in costs]
        self.node_flops = [c[1] if c else 0 for c in costs]
        self.tensor_names = set(self.producer) | {self.input}

    def _sorted(self, nodes: list[Any], available: set[str]) -> list[Any]:
        """The nodes in a topological order: the file's order where it is one, else each next
        node the earliest in the file whose inputs are there."""
        import heapq

        producers = {t: i for i, n in enumerate(nodes) for t in n.output if t}
        reads = [[t for t in [*n.input, *_subgraph_inputs(n)] if t] for n in nodes]
        missing = sorted({t for r in reads for t in r if t not in available
                          and t not in producers})
        if missing:
            raise SplitError(f"{self.source}: not a valid graph (tensor {missing[0]!r} has no "
                             "producer)")
        waiting = [len({producers[t] for t in r if t not in available}) for r in reads]
        users: dict[int, list[int]] = {}
        for i, r in enumerate(reads):
            for p in {producers[t] for t in r if t not in available}:
                users.setdefault(p, []).append(i)
        ready = [i for i, w in enumerate(waiting) if w == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for u in users.get(i, []):
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
        if len(order) != len(nodes):
            raise SplitError(f"{self.source}: not a valid graph (it has a cycle)")
        return [nodes[i] for i in order]

    def _infer_shapes(self) -> dict[str, tuple[int, ...]]:
        import onnx

        try:
            inferred = onnx.shape_inference.infer_shapes(self.model)
        except Exception:  # a graph onnx cannot infer: the shapes the file states
            inferred = self.model
        g = inferred.graph
        shapes = {i.name: tuple(i.dims) for i in g.initializer}
        for vi in [*g.input, *g.value_info, *g.output]:
            shape = _shape(vi)
            if shape is not None:
                shapes[vi.name] = shape
        return shapes

    # -- cuts -------------------------------------------------------------------------------

    def frontiers(self) -> list[tuple[int, tuple[str, ...]]]:
        """(position of the last front node, frontier) after each node, in topological
        order, each distinct frontier once."""
        last_read: dict[str, int] = {}
        for i, reads in enumerate(self.reads):
            for t in reads:
                last_read[t] = i
        live = {self.input} if last_read.get(self.input, -1) >= 0 else set()
        order = {self.input: -1, **{t: i for t, i in self.producer.items()}}
        seen, out = set(), []
        for i, node in enumerate(self.nodes):
            live = {t for t in live if last_read.get(t, -1) > i}
            live |= {t for t in node.output
                     if t and t not in self.static and last_read.get(t, -1) > i}
            frontier = tuple(sorted(live - set(self.outputs), key=lambda t: (order[t], t)))
            if frontier and frontier not in seen:
                seen.add(frontier)
                out.append((i, frontier))
        return out

    def candidates(self, max_tensors: int = DEFAULT_MAX_TENSORS) -> list[Cut]:
        """The frontiers of at most `max_tensors` tensors, as cuts, by depth."""
        if max_tensors < 1:
            raise SplitError(f"max_tensors {max_tensors}: expected >= 1")
        cuts = [self.cut(f) for _, f in self.frontiers() if len(f) <= max_tensors]
        return [c for c in cuts if c.depth > 0]

    def stage_cuts(self, max_tensors: int = DEFAULT_MAX_TENSORS) -> list[Cut]:
        """The candidates just before each downsampling node (a Conv or pooling with a stride
        above 1 that reads the frontier): the stage outputs of a CNN backbone, and the
        bottom-up stages of a feature pyramid."""
        live = [i for i, n in enumerate(self.nodes) if self._live(i)]
        out = []
        for i, frontier in self.frontiers():
            if len(frontier) > max_tensors:
                continue
            following = [j for j in live if j > i]
            if following and self._downsamples(following[0], frontier):
                cut = self.cut(frontier)
                if cut.depth > 0:
                    out.append(cut)
        return out

    def _downsamples(self, i: int, frontier: tuple[str, ...]) -> bool:
        node = self.nodes[i]
        if node.op_type not in ("Conv", "MaxPool", "AveragePool", "LpPool"):
            return False
        return any(s > 1 for s in _attribute(node, "strides", [1])) and \
            any(t in frontier for t in node.input)

    def back_nodes(self, tensors: Iterable[str]) -> set[int] | None:
        """The non-constant nodes the outputs need given `tensors`; None when some path from
        the model input to an output does not cross them."""
        stop = set(tensors) | self.static
        needed, todo = set(), [o for o in self.outputs if o not in stop]
        seen = set(todo)
        while todo:
            t = todo.pop()
            if t == self.input:
                return None
            i = self.producer[t]
            needed.add(i)
            for r in self.reads[i]:
                if r not in stop and r not in seen:
                    seen.add(r)
                    todo.append(r)
        return needed

    def front_nodes(self, tensors: Iterable[str]) -> set[int]:
        """The non-constant nodes that compute `tensors` from the model input."""
        needed, todo = set(), [t for t in tensors if t != self.input]
        seen = set(todo)
        while todo:
            i = self.producer[todo.pop()]
            needed.add(i)
            for r in self.reads[i]:
                if r not in self.static and r != self.input and r not in seen:
                    seen.add(r)
                    todo.append(r)
        return needed

    def is_cut(self, tensors: Iterable[str]) -> bool:
        tensors = list(tensors)
        return bool(tensors) and all(t in self.tensor_names and t not in self.static
                                     for t in tensors) and self.back_nodes(tensors) is not None

    def cut(self, tensors: Sequence[str], name: str | None = None) -> Cut:
        """The cut at `tensors` (in the order given), named `name` or by its depth; a
        SplitError when they do not cut the graph."""
        tensors = tuple(tensors)
        unknown = [t for t in tensors if t not in self.tensor_names]
        if unknown:
            raise SplitError(f"{self.source}: no tensor named {unknown[0]!r} in the graph")
        constant = [t for t in tensors if t in self.static]
        if constant:
            raise SplitError(f"{self.source}: tensor {constant[0]!r} is a constant (it does "
                             "not depend on the model input)")
        back = self.back_nodes(tensors)
        if back is None:
            raise SplitError(f"{self.source}: {'+'.join(tensors)} does not cut the graph (a "
                             f"path from {self.input!r} to the outputs avoids it)")
        front = self.front_nodes(tensors)
        depth = len(front)
        return Cut(name or f"d{depth:03d}", depth, tensors,
                   tuple(self.shapes.get(t, ()) for t in tensors),
                   sum(self.node_macs[i] for i in front), sum(self.node_macs[i] for i in back),
                   sum(self.node_flops[i] for i in front), sum(self.node_flops[i] for i in back))

    @property
    def total_macs(self) -> int:
        return sum(m for i, m in enumerate(self.node_macs) if self._live(i))

    @property
    def total_flops(self) -> int:
        return sum(f for i, f in enumerate(self.node_flops) if self._live(i))

    @property
    def live_nodes(self) -> int:
        """Non-constant nodes: the depth of the whole network."""
        return sum(self._live(i) for i in range(len(self.nodes)))

    def _live(self, i: int) -> bool:
        return any(t not in self.static for t in self.nodes[i].output if t)

    def resolve(self, split: str | Sequence[str], named: Mapping[str, Sequence[str]] = (),
                max_tensors: int = DEFAULT_MAX_TENSORS) -> Cut:
        """The cut a split names: a name of `named` (the task model's split points), a
        candidate's name (``d042``), or tensor names (a list, or one string joined by '+' or
        ','); a one-line SplitError listing the valid names otherwise."""
        named = dict(named or {})
        if isinstance(split, str) and split in named:
            tensors: Sequence[str] = named[split]
            if not self.is_cut(tensors):
                raise SplitError(f"{self.source}: split {split!r} ({'+'.join(tensors)}) does "
                                 "not cut the graph")
            return self.cut(tensors, split)
        candidates = self.candidates(max_tensors)
        if isinstance(split, str):
            for c in candidates:
                if c.name == split:
                    return c
            tensors = [t.strip() for t in split.replace(",", "+").split("+") if t.strip()]
        else:
            tensors = list(split)
        if tensors and self.is_cut(tensors):
            return self.cut(tensors)
        names = [*named, *(c.name for c in candidates)]
        shown = ", ".join(names) if len(names) <= 24 else \
            ", ".join(names[:20]) + f", ... and {len(names) - 20} more"
        raise SplitError(f"{self.source}: {split!r} does not cut the graph; valid splits: "
                         f"{shown} (or tensor names joined by '+' that cut it)")
