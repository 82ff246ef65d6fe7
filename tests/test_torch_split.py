"""Torch models split at named submodules: fx-traced halves, hooks, explicit halves, codec."""

from __future__ import annotations

import numpy as np
import pytest

from vcmref.tasks.base import Prepared, TaskModel, TaskModelError

torch = pytest.importorskip("torch", reason="PyTorch is not installed: torch models untested")
from torch import nn  # noqa: E402

from vcmref.tasks.torch_split import TorchSplitModel  # noqa: E402

TOL = {"rtol": 1e-5, "atol": 1e-5}


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = conv_bn_relu(c, c)

    def forward(self, x):
        return x + self.body(x)


class SmallCNN(nn.Module):
    """Classifier: stem, stage1, two parallel branches (a 2-tensor split), a residual stage."""

    def __init__(self, skip_across: bool = False) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, 8, 2)
        self.stage1 = conv_bn_relu(8, 16, 2)
        self.left = conv_bn_relu(16, 8)
        self.right = nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU())
        self.stage2 = Residual(16)
        self.skip_across = skip_across
        self.pool = nn.AvgPool2d(2)
        self.proj = nn.Conv2d(8, 16, 1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        s = self.stem(x)
        f = self.stage1(s)
        y = torch.cat([self.left(f), self.right(f)], 1)
        if self.skip_across:  # a residual from before every split to after it
            y = y + self.proj(self.pool(s))
        y = self.stage2(y)
        return self.head(y.mean((2, 3)))


class TinyFPN(nn.Module):
    """Detector-shaped: two backbone levels, a top-down FPN, a head shared across levels."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn_relu(3, 8, 2)
        self.c3 = conv_bn_relu(8, 16, 2)
        self.c4 = conv_bn_relu(16, 24, 2)
        self.lat3 = nn.Conv2d(16, 12, 1)
        self.lat4 = nn.Conv2d(24, 12, 1)
        self.out3 = nn.Conv2d(12, 12, 3, padding=1)
        self.out4 = nn.Conv2d(12, 12, 3, padding=1)
        self.head = nn.Conv2d(12, 5, 1)  # shared: called once per level

    def forward(self, x):
        c3 = self.c3(self.stem(x))
        c4 = self.c4(c3)
        p4 = self.lat4(c4)
        p3 = self.lat3(c3) + nn.functional.interpolate(p4, scale_factor=2.0, mode="nearest")
        p3, p4 = self.out3(p3), self.out4(p4)
        return {"p3": self.head(p3), "p4": torch.sigmoid(self.head(p4))}


class Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.features = conv_bn_relu(3, 8, 2)
        self.a = nn.Conv2d(8, 4, 1)
        self.b = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        f = self.features(x)
        return self.a(f) if f.mean() > 0 else self.b(f)


def _randomize(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in module.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    return module


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def cnn() -> TorchSplitModel:
    torch.manual_seed(0)
    return TorchSplitModel(_randomize(SmallCNN()), {"stage1": ["stage1"],
                                                     "branches": ["left", "right"]},
                           name="small-cnn")


@pytest.fixture(scope="module")
def fpn() -> TorchSplitModel:
    torch.manual_seed(0)
    return TorchSplitModel(_randomize(TinyFPN()), {"backbone": ("c3", "c4"),
                                                    "neck": ("out3", "out4")})


def _close(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, **TOL)


@pytest.mark.parametrize("split", ["stage1", "branches"])
def test_classifier_back_of_front_is_full(cnn, image, split):
    assert isinstance(cnn, TaskModel)
    assert cnn.split_points == {"stage1": ("stage1",), "branches": ("left", "right")}
    prepared = cnn.preprocess(image, 7)
    assert prepared.input.shape == (1, 3, 32, 48) and prepared.input.dtype == np.float32
    assert prepared.image_id == 7 and 0 <= prepared.input.min() <= prepared.input.max() <= 1
    feats = cnn.front(prepared, split)
    assert list(feats) == list(cnn.split_points[split])
    for v in feats.values():
        assert v.dtype == np.float32 and v.ndim == 3 and v.shape[1:] == (8, 12)
    full = cnn.full(image, 7)
    assert len(full) == 1 and full[0].shape == (1, 10)
    _close(cnn.back(feats, prepared, split), full)


def test_halves_are_cut_at_the_split(cnn):
    front, back = cnn.halves("branches")
    assert "head" not in front.code and "stage2" not in front.code
    assert "stem" in front.code and "left" in front.code
    assert "stem" not in back.code and "stage1" not in back.code
    assert "stage2" in back.code and "head" in back.code  # the residual block is in the back


def test_residual_across_the_split_is_not_a_cut():
    with pytest.raises(TaskModelError, match="not a cut") as e:
        TorchSplitModel(SmallCNN(skip_across=True), {"stage1": ["stage1"]})
    msg = str(e.value)
    assert "'add' (after the split) uses module 'proj'" in msg
    assert "module 'stem.2'" in msg and "['stage1']" in msg
    # with the skip's source in the split point it is a cut again
    m = TorchSplitModel(_randomize(SmallCNN(skip_across=True)),
                        {"cut": ["stage1", "proj"]})
    img = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    p = m.preprocess(img)
    _close(m.back(m.front(p, "cut"), p, "cut"), m.full(img))


def test_input_used_after_the_split_is_not_a_cut():
    class InputSkip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Conv2d(3, 3, 3, padding=1)
            self.tail = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.tail(self.body(x)) + x

    with pytest.raises(TaskModelError, match="not a cut.*'add' .* uses input 'x'"):
        TorchSplitModel(InputSkip(), {"s": ["body"]})


def test_fpn_multi_tensor_split(fpn, image):
    prepared = fpn.preprocess(image)
    full = fpn.full(image)
    assert [a.shape for a in full] == [(1, 5, 8, 12), (1, 5, 4, 6)]
    for split, shapes in [("backbone", [(16, 8, 12), (24, 4, 6)]),
                          ("neck", [(12, 8, 12), (12, 4, 6)])]:
        feats = fpn.front(prepared, split)
        assert [v.shape for v in feats.values()] == shapes
        _close(fpn.back(feats, prepared, split), full)
    # the back at 'backbone' takes exactly the two levels, nothing from the stem
    assert "stem" not in fpn.halves("backbone")[1].code


def test_shared_module_cannot_be_a_split_point():
    with pytest.raises(TaskModelError, match="'head' is called 2 times"):
        TorchSplitModel(TinyFPN(), {"heads": ["head"]})


def test_nested_submodule_split_and_custom_postprocess(image):
    # a split at a module inside a Sequential: fx opens its ancestors. Inside the residual
    # block it is no cut ...
    with pytest.raises(TaskModelError, match="'add' .* uses 'cat'"):
        TorchSplitModel(SmallCNN(), {"mid": ["stage2.body.0"]})

    # ... before the concatenation it is
    def top1(output, prepared):
        return [{"image_id": prepared.image_id, "class": int(output.argmax())}]

    m = TorchSplitModel(_randomize(SmallCNN()), {"mid": ["left.1", "right"]},
                        postprocess=top1)
    p = m.preprocess(image, 3)
    feats = m.front(p, "mid")
    assert list(feats) == ["left.1", "right"]
    assert "left_2" in m.halves("mid")[1].code  # the ReLU after the split is in the back
    assert m.back(feats, p, "mid") == m.full(image, 3)
    assert m.full(image, 3)[0]["image_id"] == 3


def test_untraceable_module_hooks_front_and_clear_back_error(image):
    torch.manual_seed(0)
    module = _randomize(Untraceable())
    m = TorchSplitModel(module, {"features": ["features"]})
    assert m.trace_error is not None
    p = m.preprocess(image)
    feats = m.front(p, "features")  # forward hooks
    with torch.inference_mode():
        want = module.features(torch.from_numpy(p.input)).numpy()[0]
    np.testing.assert_allclose(feats["features"], want, **TOL)
    with pytest.raises(TaskModelError, match="does not trace.*from_functions"):
        m.back(feats, p, "features")
    with pytest.raises(TaskModelError, match="not traced"):
        m.halves("features")


def test_leaf_modules_let_an_untraceable_part_trace(image):
    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 3, 3, padding=1)
            self.body = Untraceable()

        def forward(self, x):
            return self.body(self.stem(x))

    torch.manual_seed(0)
    assert TorchSplitModel(Outer(), {"s": ["stem"]}).trace_error is not None
    m = TorchSplitModel(_randomize(Outer()), {"s": ["stem"]}, leaf_modules=["body"])
    assert m.trace_error is None
    p = m.preprocess(image)
    _close(m.back(m.front(p, "s"), p, "s"), m.full(image))
    with pytest.raises(TaskModelError, match="inside leaf module 'body'"):
        TorchSplitModel(Outer(), {"s": ["body.a"]}, leaf_modules=["body"])
    with pytest.raises(TaskModelError, match="leaf module 'tail'"):
        TorchSplitModel(Outer(), {"s": ["stem"]}, leaf_modules=["tail"])


def test_hooks_front_equals_traced_front(cnn, image):
    hooked = TorchSplitModel(cnn.module, cnn.split_points)
    hooked._graphs.clear()  # force the hook path
    p = cnn.preprocess(image)
    for split in cnn.split_points:
        a, b = cnn.front(p, split), hooked.front(p, split)
        assert list(a) == list(b)
        _close(a.values(), b.values())


def test_from_functions(image):
    torch.manual_seed(0)
    module = _randomize(Untraceable())

    def front_fn(x, split):
        return {"features": module.features(x)}

    def back_fn(tensors, prepared, split):
        assert isinstance(prepared, Prepared) and split == "features"
        f = tensors["features"]
        return module.a(f) if f.mean() > 0 else module.b(f)

    m = TorchSplitModel.from_functions(front_fn, back_fn, {"features": ["features"]},
                                       full_fn=module, name="explicit")
    assert not module.training
    p = m.preprocess(image)
    feats = m.front(p, "features")
    assert feats["features"].shape == (8, 16, 24)
    _close(m.back(feats, p, "features"), m.full(image))
    with pytest.raises(TaskModelError, match="no graphs"):
        m.halves("features")
    # a front_fn that returns the wrong thing
    bad = TorchSplitModel.from_functions(lambda x, s: {"other": x}, back_fn,
                                         {"features": ["features"]}, full_fn=module)
    with pytest.raises(TaskModelError, match="missing \\['features'\\]"):
        bad.front(p, "features")


def test_unknown_names(cnn, image):
    with pytest.raises(TaskModelError, match="'stage3'.*no submodule.*stage1"):
        TorchSplitModel(SmallCNN(), {"s": ["stage3"]})
    with pytest.raises(TaskModelError, match="root module"):
        TorchSplitModel(SmallCNN(), {"s": [""]})
    with pytest.raises(TaskModelError, match="names no tensors"):
        TorchSplitModel(SmallCNN(), {"s": []})
    with pytest.raises(TaskModelError, match="inside 'stage2'"):
        TorchSplitModel(SmallCNN(), {"s": ["stage2", "stage2.body"]})
    with pytest.raises(TaskModelError, match="not a torch.nn.Module|expected a torch.nn.Module"):
        TorchSplitModel(lambda x: x, {"s": ["a"]})
    with pytest.raises(TaskModelError, match="not a tensor"):  # a split that returns a tuple
        class Pair(nn.Module):
            def forward(self, x):
                return x, x

        class Outer(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.pair = Pair()

            def forward(self, x):
                a, b = self.pair(x)
                return a + b

        m = TorchSplitModel(Outer(), {"s": ["pair"]})
        m.front(m.preprocess(image), "s")
    p = cnn.preprocess(image)
    with pytest.raises(TaskModelError, match="unknown split point 'nope'"):
        cnn.front(p, "nope")
    feats = cnn.front(p, "branches")
    with pytest.raises(TaskModelError, match="missing \\['right'\\]"):
        cnn.back({"left": feats["left"]}, p, "branches")
    with pytest.raises(TaskModelError, match="back from 'branches' failed"):
        cnn.back({"left": feats["left"], "right": feats["left"][:3]}, p, "branches")


def test_bad_inputs(cnn, image):
    with pytest.raises(TaskModelError, match="uint8 RGB"):
        cnn.preprocess(image.astype(np.float32))
    bad = Prepared(np.full((1, 3, 8, 8), np.nan, np.float32))
    with pytest.raises(TaskModelError, match="NaN or Inf"):
        cnn.front(bad, "stage1")
    p = cnn.preprocess(image)
    feats = cnn.front(p, "stage1")
    feats["stage1"][0, 0, 0] = np.inf
    with pytest.raises(TaskModelError, match="'stage1' holds NaN or Inf"):
        cnn.back(feats, p, "stage1")
    nan_pre = TorchSplitModel(cnn.module, cnn.split_points,
                              preprocess=lambda img: np.full((1, 3, 8, 8), np.nan, np.float32))
    with pytest.raises(TaskModelError, match="NaN or Inf"):
        nan_pre.preprocess(image)
    with pytest.raises(TaskModelError, match="\\(1, C, H, W\\)"):
        TorchSplitModel(cnn.module, cnn.split_points,
                        preprocess=lambda img: np.zeros((3, 8, 8), np.float32)).preprocess(image)


def test_features_through_the_codec(fpn, image):
    from vcmref.refsw.decoder import Decoder
    from vcmref.refsw.encoder import EncoderConfig, encode

    prepared = fpn.preprocess(image)
    full = fpn.full(image)
    for split in ("backbone", "neck"):
        feats = fpn.front(prepared, split)
        stream = encode(feats, EncoderConfig(quant="step", step=0.01, bit_depth=16,
                                             split_point=split))
        decoded = Decoder().decode(stream).frames[0].tensors
        assert list(decoded) == list(feats)
        for name, v in feats.items():
            np.testing.assert_allclose(decoded[name], v, atol=0.006)
        out = fpn.back(decoded, prepared, split)
        for a, b in zip(out, full, strict=True):
            np.testing.assert_allclose(a, b, atol=0.05)
