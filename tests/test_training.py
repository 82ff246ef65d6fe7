"""The training tools (training/): the differentiable back half matches the ONNX model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def yolox():
    from vcmref.tasks.base import TaskModelError
    from vcmref.tasks.yolox import YoloxDetector

    try:
        return YoloxDetector()
    except TaskModelError as e:
        pytest.skip(f"YOLOX-Nano model not available: {e}")


def test_torch_back_half_reproduces_the_onnx_neck(yolox, real_features) -> None:
    from training.onnx_torch import OnnxSubgraph

    names = ("dark3", "dark4", "dark5")
    back = OnnxSubgraph(yolox.onnx.path, list(yolox.split_points["backbone"]),
                        list(yolox.split_points["neck"]))
    x = [torch.from_numpy(real_features[n][None].copy()).requires_grad_() for n in names]
    outputs = back(*x)
    neck = tuple(yolox.split_points["neck"])
    want = yolox.onnx.run({t: real_features[n][None] for t, n in
                           zip(yolox.split_points["backbone"], names, strict=True)}, neck)
    for got, ref in zip(outputs, (want[t] for t in neck), strict=True):
        np.testing.assert_allclose(got.detach().numpy(), ref, atol=2e-4, rtol=1e-4)
    # differentiable: a gradient reaches every input
    sum(o.square().mean() for o in outputs).backward()
    assert all(float(t.grad.abs().sum()) > 0 for t in x)


def test_unsupported_operators_and_unreachable_outputs_are_named(yolox) -> None:
    from training.onnx_torch import OnnxSubgraph

    with pytest.raises(ValueError, match="not computed from inputs"):
        OnnxSubgraph(yolox.onnx.path, ["input.471"], list(yolox.split_points["backbone"]))
    with pytest.raises(ValueError, match=r"operators \['Reshape'"):
        OnnxSubgraph(yolox.onnx.path, list(yolox.split_points["neck"]),
                     list(yolox.onnx.outputs))
