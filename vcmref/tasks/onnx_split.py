"""ONNX models cut at named graph tensors: the front sub-graph (inputs to the split tensors)
and the back sub-graph (split tensors to outputs), extracted with `onnx.utils.Extractor` and
run with onnxruntime on the CPU."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from vcmref.tasks.base import TaskModelError, Tensors


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OnnxSplitModel:
    """An ONNX graph that can run whole, or as front and back halves at any tensor names."""

    def __init__(self, path: str | Path, sha256: str | None = None, threads: int = 1) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise TaskModelError(f"{self.path}: model file not found")
        if sha256 is not None:
            got = sha256_of(self.path)
            if got != sha256.lower():
                raise TaskModelError(f"{self.path}: sha256 {got} is not the expected {sha256}")
        try:
            import onnx
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise TaskModelError(f"ONNX models need the onnx and onnxruntime packages: {e}; "
                                 "pip install onnx onnxruntime") from None
        try:
            self.model = onnx.load(str(self.path))
        except Exception as e:  # onnx raises protobuf's DecodeError and others
            raise TaskModelError(f"{self.path}: not a readable ONNX model ({e})") from None
        initializers = {i.name for i in self.model.graph.initializer}
        self.inputs = tuple(i.name for i in self.model.graph.input if i.name not in initializers)
        self.outputs = tuple(o.name for o in self.model.graph.output)
        self.tensor_names = {o for n in self.model.graph.node for o in n.output}
        self.threads = threads
        self._session = lru_cache(maxsize=16)(self._make_session)

    def _make_session(self, inputs: tuple[str, ...], outputs: tuple[str, ...]):
        import onnx
        import onnxruntime as ort

        for name in inputs + outputs:
            if name not in self.tensor_names and name not in self.inputs:
                raise TaskModelError(f"{self.path.name}: no tensor named {name!r} in the graph")
        if (inputs, outputs) == (self.inputs, self.outputs):
            model = self.model
        else:
            try:
                model = onnx.utils.Extractor(self.model).extract_model(list(inputs),
                                                                        list(outputs))
            except Exception as e:
                raise TaskModelError(f"{self.path.name}: cannot cut the graph from {inputs} to "
                                     f"{outputs}: {e}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])

    def run(self, feeds: Tensors, outputs: tuple[str, ...]) -> Tensors:
        """Values of `outputs` given `feeds` (graph inputs or cut points), float32."""
        session = self._session(tuple(feeds), tuple(outputs))
        for name, value in feeds.items():
            if not np.isfinite(value).all():
                raise TaskModelError(f"input tensor {name!r} holds NaN or Inf")
        values = session.run(list(outputs), {k: np.ascontiguousarray(v, np.float32)
                                             for k, v in feeds.items()})
        return dict(zip(outputs, values, strict=True))
