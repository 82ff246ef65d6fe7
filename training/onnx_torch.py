"""A differentiable torch evaluation of part of an ONNX graph: from named inputs to named outputs.

Training needs gradients through the task network's back half, which onnxruntime does not give.
This covers the operators of YOLOX's neck and head (Conv, Sigmoid, Mul, Add, Concat, nearest
Resize, MaxPool); any other operator is refused by name. The network's weights are frozen.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)
from onnx import numpy_helper

SUPPORTED = ("Conv", "Sigmoid", "Mul", "Add", "Concat", "Resize", "MaxPool")


def _subgraph(graph: onnx.GraphProto, inputs: list[str], outputs: list[str],
              constants: dict) -> list[onnx.NodeProto]:
    """The nodes that compute `outputs` from `inputs` and constants, in graph order. Nodes
    that compute an input are left out: the inputs are a cut, given, not recomputed (a split
    tensor may feed both the next backbone stage and the neck)."""
    have, given, reachable = set(inputs), set(inputs), []
    for node in graph.node:
        if given.intersection(node.output):
            continue
        if all(x in have or x in constants or x == "" for x in node.input) \
                and any(x in have for x in node.input):
            reachable.append(node)
            have.update(node.output)
    missing = [o for o in outputs if o not in have]
    if missing:
        raise ValueError(f"outputs {missing} are not computed from inputs {inputs} alone")
    need, kept = set(outputs), []
    for node in reversed(reachable):
        if any(o in need for o in node.output):
            kept.append(node)
            need.update(node.input)
    return kept[::-1]


class OnnxSubgraph(torch.nn.Module):
    """inputs -> outputs of an ONNX model as a torch module (frozen weights)."""

    def __init__(self, path: str | Path, inputs: list[str], outputs: list[str]) -> None:
        super().__init__()
        graph = onnx.load(str(path)).graph
        constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.nodes = _subgraph(graph, inputs, outputs, constants)
        unsupported = sorted({n.op_type for n in self.nodes} - set(SUPPORTED))
        if unsupported:
            raise ValueError(f"operators {unsupported} are not supported (only {SUPPORTED})")
        self.attrs = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                      for n in self.nodes]
        used = {x for n in self.nodes for x in n.input if x in constants}
        for name in sorted(used):
            self.register_buffer(self._key(name), torch.from_numpy(constants[name].copy()))
        self.inputs, self.outputs = list(inputs), list(outputs)

    @staticmethod
    def _key(name: str) -> str:
        return "c_" + "".join(ch if ch.isalnum() else "_" for ch in name)

    def forward(self, *xs: torch.Tensor) -> list[torch.Tensor]:
        env = dict(zip(self.inputs, xs, strict=True))
        for node, a in zip(self.nodes, self.attrs, strict=True):
            args = [env[x] if x in env else getattr(self, self._key(x)) if x else None
                    for x in node.input]
            op = node.op_type
            if op == "Conv":
                pads = a.get("pads", [0, 0, 0, 0])
                y = F.conv2d(args[0], args[1], args[2] if len(args) > 2 else None,
                             stride=a.get("strides", [1, 1]), padding=(pads[0], pads[1]),
                             dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
            elif op == "Sigmoid":
                y = torch.sigmoid(args[0])
            elif op == "Mul":
                y = args[0] * args[1]
            elif op == "Add":
                y = args[0] + args[1]
            elif op == "Concat":
                y = torch.cat(args, a["axis"])
            elif op == "Resize":
                scales = args[2]
                y = F.interpolate(args[0], scale_factor=(float(scales[2]), float(scales[3])),
                                  mode="nearest")
            else:  # MaxPool
                pads = a["pads"]
                y = F.max_pool2d(args[0], a["kernel_shape"], a["strides"], (pads[0], pads[1]))
            env[node.output[0]] = y
        return [env[o] for o in self.outputs]
