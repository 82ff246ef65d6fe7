"""Registries by role: one generic class (register, get, names, duplicates refused, entry-point
plugins loaded on first lookup), what the built-in kinds declare, plugins from files, the task
section of a config checked against what its kind declares, and the registered pre- and
post-processing of generic task networks."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from vcmref.ctc.config import ConfigError, parse_config
from vcmref.registry import (
    CODECS,
    DATASETS,
    METRICS,
    POSTPROCESSORS,
    PREPROCESSORS,
    TASKS,
    PluginError,
    Registry,
    RegistryError,
    load_plugin,
    resolve,
)
from vcmref.tasks.base import Prepared


def test_register_get_names_and_duplicates() -> None:
    reg = Registry("test-things", "thing")

    @reg.register("a")
    class A:
        pass

    reg.register("b", len)
    assert reg.get("a") is A and reg["b"] is len and reg.names() == ["a", "b"]
    assert "a" in reg and "c" not in reg and list(reg) == ["a", "b"] and len(reg) == 2
    assert reg.register("a", A) is A  # the same object again: nothing happens
    with pytest.raises(RegistryError, match=r"thing 'a' is registered twice: by .*A and by "):
        reg.register("a")(type("Other", (), {}))
    with pytest.raises(RegistryError) as info:
        reg.get("c")
    assert str(info.value) == "unknown thing 'c'; known: a, b"


def test_entry_point_plugins_load_on_first_lookup(tmp_path, monkeypatch) -> None:
    """A distribution on sys.path declaring entry points in group vcmref.<role>: an object is
    registered under the entry point's name, a module registers itself when imported."""
    (tmp_path / "fake_vcm_objects.py").write_text("class Thing:\n    pass\n")
    (tmp_path / "fake_vcm_module.py").write_text(textwrap.dedent("""
        from tests_registry_role import REG

        @REG.register("by-module")
        class ByModule:
            pass
    """))
    dist = tmp_path / "fake_vcm_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-vcm-plugin\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text("[vcmref.test-role]\n"
                                           "by-object = fake_vcm_objects:Thing\n"
                                           "whole-module = fake_vcm_module\n")
    reg = Registry("test-role", "test kind")
    holder = type(sys)("tests_registry_role")
    holder.REG = reg
    monkeypatch.setitem(sys.modules, "tests_registry_role", holder)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("fake_vcm_objects", "fake_vcm_module"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert reg.names() == ["by-module", "by-object"]
    assert reg.get("by-object").__name__ == "Thing"

    (dist / "entry_points.txt").write_text("[vcmref.test-role2]\nbroken = no_such_module:X\n")
    broken = Registry("test-role2", "test kind")
    with pytest.raises(PluginError, match=r"entry point broken = no_such_module:X .*failed to "
                       "load: ModuleNotFoundError"):
        broken.names()


def test_plugin_files_load_once(tmp_path) -> None:
    plugin = tmp_path / "plug.py"
    plugin.write_text("VALUE = 3\n\ndef make(n=1):\n    return n * VALUE\n")
    module = load_plugin(plugin)
    assert load_plugin(str(plugin)) is module  # once per process, whatever the spelling
    assert resolve(f"{plugin}:make")(2) == 6
    assert resolve("vcmref.registry:TASKS") is TASKS
    with pytest.raises(PluginError, match="no such file"):
        load_plugin(tmp_path / "nope.py")
    with pytest.raises(PluginError, match="has no 'other'"):
        resolve(f"{plugin}:other")
    with pytest.raises(PluginError, match="expected package.module:name"):
        resolve("just_a_name")
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match="failed to load: RuntimeError: boom"):
        load_plugin(bad)


def test_builtin_kinds_declare_what_the_harness_calls() -> None:
    assert {"yolox-nano", "onnx", "torch"} <= set(TASKS.names())
    assert CODECS.names() == ["compressai", "feature-anchor", "image-anchor", "still-image",
                              "vcmref-features", "vcmref-image", "video-anchor"]
    assert {"coco", "folder", "mot", "skimage", "video", "voc", "yolo"} == set(DATASETS.names())
    assert METRICS.names() == ["feature_psnr", "fsim", "fsim_y", "iw_ssim", "map", "ms_ssim",
                               "ms_ssim_jpeg_ai", "nlpd", "psnr_hvs", "psnr_hvs_m", "psnr_rgb",
                               "psnr_y", "psnr_y_jpeg_ai", "psnr_yuv", "psnr_yuv_jpeg_ai", "vif",
                               "vmaf"]
    assert {"letterbox", "resize-normalize"} <= set(PREPROCESSORS.names())
    assert {"yolo", "detr", "classification"} <= set(POSTPROCESSORS.names())
    for name, metric in METRICS.items():
        assert metric.inputs, name
        if metric.task_output is None:  # a quality metric has a method per input it measures
            assert all(callable(getattr(metric, i, None)) for i in metric.inputs), name
    for name, cls in CODECS.items():
        assert cls.input in ("image", "video", "features") and cls.rate_parameters, name
        assert cls.needs_split == (cls.input == "features"), name
    for name, cls in DATASETS.items():
        declared = {p.name for p in cls.parameters}
        assert set(cls.required) <= declared and callable(cls.load), name
    for name, cls in TASKS.items():
        assert set(cls.required) <= {p.name for p in cls.parameters}, name


# -- the task section of a config ---------------------------------------------------------------

def _doc(task: dict, metrics: list | None = None) -> dict:
    return {"name": "t", "dataset": {"kind": "folder", "images": "img"}, "task": task,
            "metrics": metrics or ["feature_psnr"], "anchor": "v",
            "codecs": {"v": {"kind": "vcmref-features", "rate_parameter": "step",
                             "points": [0.5], "params": {"quant": "step"}}}}


ONNX = {"kind": "onnx", "model_path": "m.onnx", "splits": {"s": ["t1", "t2"]},
        "pre": {"kind": "letterbox"}, "post": {"kind": "yolo"}, "split": "s",
        "ground_truth": "pseudo"}


@pytest.mark.parametrize("change,message", [
    ({"kind": "nope"}, "task.kind: expected one of "),
    ({"model": "nope", "kind": None}, "task.model: expected one of "),
    ({"model": "yolox-nano"}, "task.model: expected no value, or the same as task.kind"),
    ({"colour": 1}, "task.colour: unknown key; expected one of kind, model, split, "),
    ({"model_path": None}, "task.model_path: expected a value (a string)"),
    ({"post": None}, "task.post: expected a value (a mapping)"),
    ({"pre": None}, "task.pre: expected a value (a mapping)"),
    ({"split": "x"}, "task.split: expected one of s (the split points of onnx)"),
    ({"splits": {"s": []}}, "task.splits.s: expected a non-empty list of tensor names"),
    ({"pre": {"kind": "crop"}}, "task.pre.kind: expected one of letterbox, resize-normalize"),
    ({"pre": {"kind": "letterbox", "size": [1, 2, 3]}}, "task.pre.size: expected an integer"),
    ({"pre": {"kind": "resize-normalize", "std": [1, 0, 1]}},
     "task.pre.std: expected a list of 3 numbers > 0"),
    ({"post": {"kind": "yolo", "nms": 0.5}}, "task.post.nms: unknown key; expected one of"),
    ({"post": {"kind": "yolo", "nms_iou": 2}}, "task.post.nms_iou: expected a number from 0 "),
    ({"post": {"kind": "detr", "categories": "imagenet"}}, "task.post.categories: expected"),
    ({"threads": 0}, "task.threads: expected an integer >= 1"),
])
def test_task_keys_are_checked_when_the_config_loads(change, message) -> None:
    task = {**ONNX, **change}
    task = {k: v for k, v in task.items() if v is not None or k in ("model_path", "pre", "post")}
    with pytest.raises(ConfigError) as info:
        parse_config(_doc(task), "t.yaml")
    assert str(info.value).startswith("t.yaml: ") and message in str(info.value), info.value
    assert "\n" not in str(info.value)


def test_task_kinds_and_metrics_fit_together() -> None:
    cfg = parse_config(_doc(ONNX), "t.yaml")
    assert cfg.task.kind == "onnx" and cfg.task.params["pre"] == {"kind": "letterbox"}
    old = parse_config(_doc({"model": "yolox-nano", "model_path": "m.onnx", "split": "neck",
                             "ground_truth": "pseudo"}), "t.yaml")
    assert old.task.kind == "yolox-nano" and old.task.model_path == "m.onnx"
    assert old.task.params["nms_iou"] == 0.65  # its declared defaults, filled in
    labels = {**ONNX, "post": {"kind": "classification"}}
    with pytest.raises(ConfigError, match="metrics.0.: expected a task whose predictions are "
                       "detections for metric map .task kind onnx, as configured, gives "
                       "labels."):
        parse_config(_doc(labels, ["map"]), "t.yaml")
    with pytest.raises(ConfigError, match=r"metrics\[1\]: expected one of feature_psnr, map "
                       "for features codecs"):
        parse_config(_doc(ONNX, ["map", "psnr_rgb"]), "t.yaml")
    torch_task = {"kind": "torch", "module": "no_colon", "splits": {"s": ["a"]},
                  "post": {"kind": "yolo"}, "split": "s", "ground_truth": "pseudo"}
    with pytest.raises(ConfigError, match="task.module: expected package.module:factory"):
        parse_config(_doc(torch_task), "t.yaml")
    with pytest.raises(ConfigError, match="dataset.labels: unknown key; expected one of kind, "
                       "count, ids, classes, images"):
        parse_config({**_doc(ONNX), "dataset": {"kind": "folder", "images": "i",
                                                "labels": "l"}}, "t.yaml")
    with pytest.raises(ConfigError, match="task.ground_truth: expected pseudo for a dataset "
                       "without annotations"):
        parse_config(_doc({**ONNX, "ground_truth": "annotations"}), "t.yaml")


def test_plugins_key_loads_files_before_the_kinds_are_checked(tmp_path) -> None:
    plugin = tmp_path / "my_kinds.py"
    plugin.write_text(textwrap.dedent('''
        from vcmref.params import Param
        from vcmref.registry import DATASETS
        from vcmref.eval.datasets import DatasetKind, image_folder

        @DATASETS.register("test-plugin-folder")
        class MyFolder(DatasetKind):
            parameters = (Param("where", str),)
            required = ("where",)
            load = staticmethod(image_folder)

            def open(self, scratch):
                return image_folder(self.settings["where"])
    '''))
    doc = _doc(ONNX)
    doc["dataset"] = {"kind": "test-plugin-folder", "where": "w"}
    with pytest.raises(ConfigError, match="dataset.kind: expected one of"):
        parse_config(doc, "t.yaml")
    cfg = parse_config({**doc, "plugins": [str(plugin)]}, "t.yaml")
    assert cfg.dataset.params == {"where": "w"}
    with pytest.raises(ConfigError, match=r"t.yaml: plugins\[0\]: plugin .*no such file"):
        parse_config({**doc, "plugins": [str(tmp_path / "none.py")]}, "t.yaml")


# -- pre- and post-processing ---------------------------------------------------------------------

def test_preprocessing_meta_without_the_image() -> None:
    image = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    box = PREPROCESSORS.get("letterbox")(size=[40, 40], center=True, channels="rgb",
                                         divisor=255.0, mean=[0.5, 0.5, 0.5])
    prepared = box(image, 7)
    assert prepared.input.shape == (1, 3, 40, 40) and prepared.image_id == 7
    assert prepared.meta["offset"] == (0, 8) and prepared.meta["scale"] == (0.8, 0.8)
    assert prepared.meta == box.prepared_for(50, 30, 7).meta
    assert prepared.input[0, 0, 0, 0] == np.float32(114) / np.float32(255) - np.float32(0.5)
    from vcmref.tasks.torch_split import default_preprocess

    plain = PREPROCESSORS.get("resize-normalize")()
    assert np.array_equal(plain(image).input, default_preprocess(image))
    sized = PREPROCESSORS.get("resize-normalize")(size=[15, 25], layout="nhwc", channels="bgr")
    out = sized(image)
    assert out.input.shape == (1, 15, 25, 3) and out.meta["scale"] == (0.5, 0.5)
    assert out.meta == sized.prepared_for(50, 30).meta


def _prepared(scale=(2.0, 2.0), input_size=(64, 64)) -> Prepared:
    return Prepared(np.empty((1, 3, 0, 0), np.float32), 5,
                    {"scale": scale, "offset": (0, 0), "input_size": input_size})


def test_detr_and_classification_heads() -> None:
    logits = np.full((1, 3, 4), -5.0, np.float32)  # 3 queries, 3 classes + no-object
    logits[0, 0, 1] = 5.0  # query 0: class 1
    logits[0, 1, 3] = 5.0  # query 1: no object
    logits[0, 2, 0] = 2.0  # query 2: class 0, less sure
    boxes = np.array([[[0.5, 0.5, 0.5, 0.25], [0.1, 0.1, 0.1, 0.1], [0.25, 0.25, 0.5, 0.5]]],
                     np.float32)
    head = POSTPROCESSORS.get("detr")(categories=[10, 20, 30], score_threshold=0.5)
    dets = head([logits, boxes], _prepared())
    assert [d["category_id"] for d in dets] == [20, 10]  # no-object and low scores dropped
    assert dets[0]["bbox"] == [8.0, 12.0, 16.0, 8.0]  # 64x64 input, image at half scale
    assert dets[0]["image_id"] == 5 and dets[0]["score"] > dets[1]["score"]
    cls = POSTPROCESSORS.get("classification")(top_k=2, categories=["a", "b", "c"])
    top = cls([np.array([[0.1, 3.0, 1.0]], np.float32)], _prepared())
    assert [t["category_id"] for t in top] == [2, 3] and cls.predictions == "labels"
    assert cls.category_names == {1: "a", 2: "b", 3: "c"}


def test_yolo_head_with_decoded_boxes() -> None:
    out = np.zeros((1, 3, 7), np.float32)  # cx, cy, w, h, objectness, 2 classes
    out[0, 0] = [20, 20, 10, 10, 0.9, 0.8, 0.1]
    out[0, 1] = [21, 20, 10, 10, 0.9, 0.7, 0.0]  # overlaps the first: suppressed
    out[0, 2] = [50, 50, 4, 4, 0.5, 0.0, 0.6]
    head = POSTPROCESSORS.get("yolo")(decode=False, score_threshold=0.1, categories="index")
    dets = head([out], _prepared(scale=(1.0, 1.0)))
    assert [(d["category_id"], round(d["score"], 2)) for d in dets] == [(0, 0.72), (1, 0.3)]
    assert dets[0]["bbox"] == [15.0, 15.0, 10.0, 10.0]
