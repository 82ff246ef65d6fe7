"""Cuts of ONNX graphs (vcmref.analysis.graph): the live-tensor frontiers and the cut check on a
small chain with a skip connection built here, compute counts, one-line errors; on the real
YOLOX-Nano, the named splits among the candidates and front + back equal to the whole network."""

from __future__ import annotations

import numpy as np
import pytest

from vcmref.analysis.graph import SplitError, SplitGraph
from vcmref.assets import shared_dir

YOLOX = shared_dir() / "models" / "yolox_nano_416.onnx"
COCO = shared_dir() / "data" / "coco_val80"


def chain_with_skip(image_input: bool = True):
    """x -> conv1 -> a -> relu -> b -> conv2 -> c; d = b + c (the skip); e = relu(d);
    y = conv3(e). x is (1, 2, 8, 8); every conv is 3x3 with 2 -> 2 channels, padding 1."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((2, 2, 3, 3)).astype(np.float32),
                                       f"w{i}") for i in (1, 2, 3)]
    conv = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], **conv),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w2"], ["c"], **conv),
             helper.make_node("Add", ["b", "c"], ["d"]),
             helper.make_node("Relu", ["d"], ["e"]),
             helper.make_node("Conv", ["e", "w3"], ["y"], **conv)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])
    inits = list(weights)
    inputs = [x]
    if not image_input:  # x becomes a constant: no usable input is left
        inits.append(numpy_helper.from_array(np.zeros((1, 2, 8, 8), np.float32), "x"))
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])]
    graph = helper.make_graph(nodes, "chain", inputs, [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def test_frontiers_of_a_chain_with_a_skip() -> None:
    g = SplitGraph(chain_with_skip(), source="chain")
    assert g.frontiers() == [(0, ("a",)), (1, ("b",)), (2, ("b", "c")), (3, ("d",)),
                             (4, ("e",))]
    cuts = g.candidates()
    assert [(c.name, c.tensors) for c in cuts] == [
        ("d001", ("a",)), ("d002", ("b",)), ("d003", ("b", "c")), ("d004", ("d",)),
        ("d005", ("e",))]
    assert [c.name for c in g.candidates(max_tensors=1)] == ["d001", "d002", "d004", "d005"]


def test_the_cut_check_sees_the_skip_connection() -> None:
    g = SplitGraph(chain_with_skip(), source="chain")
    assert g.is_cut(["b"]) and g.is_cut(["b", "c"]) and g.is_cut(["x"])
    assert not g.is_cut(["c"])  # b -> d goes around c
    assert g.is_cut(["a", "c"])  # redundant (b can be made again from a), but a cut
    assert not g.is_cut([])
    with pytest.raises(SplitError) as e:
        g.cut(["c"])
    assert "does not cut the graph" in str(e.value) and "\n" not in str(e.value)


def test_macs_and_flops_follow_the_counting_rule() -> None:
    g = SplitGraph(chain_with_skip(), source="chain")
    conv_macs = 2 * 8 * 8 * 2 * 3 * 3  # output elements x C_in/group x kernel elements
    assert g.node_macs == [conv_macs, 0, conv_macs, 0, 0, conv_macs]
    elements = 2 * 8 * 8
    assert g.node_flops == [2 * conv_macs, elements, 2 * conv_macs, elements, elements,
                            2 * conv_macs]
    cut = g.resolve("d003")
    assert (cut.macs_front, cut.macs_back) == (2 * conv_macs, conv_macs)
    assert cut.flops_front + cut.flops_back == g.total_flops
    assert cut.samples == 2 * 2 * 8 * 8 and cut.depth == 3


def test_a_split_that_does_not_cut_is_a_one_line_error_listing_the_valid_ones() -> None:
    g = SplitGraph(chain_with_skip(), source="chain")
    named = {"middle": ("b",), "broken": ("c",)}
    assert g.resolve("middle", named).tensors == ("b",)
    assert g.resolve("b+c").tensors == ("b", "c")
    assert g.resolve(["d"]).name == "d004"
    for bad in ("c", "nowhere", "d009"):
        with pytest.raises(SplitError) as e:
            g.resolve(bad, {"middle": ("b",)})
        msg = str(e.value)
        assert "\n" not in msg and "does not cut the graph" in msg
        assert "middle, d001, d002, d003, d004, d005" in msg
    with pytest.raises(SplitError, match="'broken'.*does not cut"):
        g.resolve("broken", named)


def test_a_model_without_a_usable_input_is_refused() -> None:
    with pytest.raises(SplitError, match="no usable input") as e:
        SplitGraph(chain_with_skip(image_input=False), source="chain")
    assert "\n" not in str(e.value)
    with pytest.raises(SplitError, match="no graph input named 'z'"):
        SplitGraph(chain_with_skip(), input="z", source="chain")


def test_a_file_that_is_not_onnx_is_refused(tmp_path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(SplitError, match="not a readable ONNX model"):
        SplitGraph(path)


# -- the real detector --------------------------------------------------------------------------

needs_yolox = pytest.mark.skipif(not YOLOX.is_file(), reason=f"YOLOX-Nano not at {YOLOX}")


@pytest.fixture(scope="module")
def yolox_graph() -> SplitGraph:
    if not YOLOX.is_file():
        pytest.skip(f"YOLOX-Nano not at {YOLOX}")
    return SplitGraph(YOLOX)


@needs_yolox
def test_yolox_named_splits_are_candidates(yolox_graph) -> None:
    from vcmref.tasks.yolox import YoloxDetector

    candidates = {frozenset(c.tensors): c for c in yolox_graph.candidates()}
    for name, tensors in YoloxDetector.split_points.items():
        cut = yolox_graph.resolve(name, YoloxDetector.split_points)
        assert cut.name == name and cut.tensors == tensors
        same = candidates[frozenset(tensors)]
        assert (same.depth, same.macs_front, same.macs_back) == (
            cut.depth, cut.macs_front, cut.macs_back)
    stages = [c.tensors for c in yolox_graph.stage_cuts()]
    assert ("input.175",) in stages and ("input.175", "input.283") in stages  # dark3, dark4
    # YOLOX-Nano is 1.08 GFLOPs at 416 (its README counts 2 per MAC)
    assert 0.50e9 < yolox_graph.total_macs < 0.55e9


@needs_yolox
@pytest.mark.skipif(not COCO.is_dir(), reason=f"COCO sample not at {COCO}")
def test_yolox_front_and_back_at_a_cut_equal_the_whole_network(yolox_graph) -> None:
    from vcmref.analysis.measure import CutRunner
    from vcmref.eval.datasets import coco_dataset
    from vcmref.tasks.yolox import YoloxDetector

    ds = coco_dataset(COCO / "annotations" / "instances_val2017.json", COCO / "val2017")
    item = ds.items[0]
    model = YoloxDetector(YOLOX)
    prepared = model.preprocess(ds.load_image(item), item.id)
    whole = model.onnx.run({model.input: prepared.input}, model.onnx.outputs)
    runner = CutRunner(model)
    for split in ("d130", "d213"):  # dark3 + dark4; three tensors inside the PAFPN
        cut = yolox_graph.resolve(split)
        tensors, _ = runner.front(prepared, cut)
        assert set(tensors) == set(cut.tensors)
        back = model.onnx.run(tensors, model.onnx.outputs)
        for name in model.onnx.outputs:
            np.testing.assert_allclose(back[name], whole[name], rtol=1e-4, atol=1e-4)
