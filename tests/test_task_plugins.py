"""Any task network in a CTC config: the generic ONNX kind over the real YOLOX-Nano (the same
detections as the built-in yolox-nano kind), and a tiny torch detector defined in a plain
Python file that a config loads (`plugins`), both as a plugin task kind and through the
generic `torch` kind, run as small CTCs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from vcmref.assets import shared_dir
from vcmref.ctc.config import parse_config
from vcmref.ctc.jobs import RunLayout
from vcmref.ctc.runner import run
from vcmref.registry import load_plugin

MODEL = shared_dir() / "models" / "yolox_nano_416.onnx"
COCO = shared_dir() / "data" / "coco_val80"
BACKBONE = ["input.175", "input.283", "input.359"]


def _records(run_dir: Path) -> dict[str, dict]:
    out = {}
    for path in RunLayout(run_dir).record_files():
        rec = json.loads(path.read_text())
        for key in ("encode_s", "decode_s", "eval_s"):
            rec.pop(key)
        out[str(path.relative_to(run_dir))] = rec
    return out


def _vcmref_features(points: list[float]) -> dict:
    return {"vcmref": {"kind": "vcmref-features", "rate_parameter": "step", "points": points,
                       "params": {"quant": "step", "bit_depth": 12}}}


def test_generic_onnx_task_is_the_reference_detector(tmp_path) -> None:
    """kind: onnx with the generic keys (input, split tensors, letterbox, yolo head) over
    YOLOX-Nano: a CTC on two COCO images at two steps; every record's detections are those of
    the built-in yolox-nano kind on the same decoded tensors."""
    ann = COCO / "annotations" / "instances_val2017.json"
    if not (MODEL.is_file() and ann.is_file()):
        pytest.skip(f"YOLOX-Nano ({MODEL}) or the COCO subset not found (set VCMREF_SHARED)")
    doc = {
        "name": "generic-onnx",
        "dataset": {"kind": "coco", "images": str(COCO / "val2017"), "annotations": str(ann),
                    "count": 2},
        "task": {"kind": "onnx", "model_path": str(MODEL), "input": "images",
                 "splits": {"backbone": BACKBONE},
                 "pre": {"kind": "letterbox", "size": 416, "pad_value": 114,
                         "channels": "bgr"},
                 "post": {"kind": "yolo", "strides": [8, 16, 32], "score_threshold": 0.001,
                          "nms_iou": 0.65, "max_detections": 300, "categories": "coco80"},
                 "split": "backbone", "ground_truth": "annotations"},
        "metrics": ["map", "feature_psnr"],
        "anchor": "vcmref",
        "codecs": _vcmref_features([0.4, 1.6]),
    }
    run_dir = tmp_path / "run"
    summary = run(parse_config(doc, "generic.yaml"), run_dir)
    assert summary.done == 4 and not summary.failed, summary.failed
    records = _records(run_dir)
    assert len(records) == 4 and all(r["status"] == "ok" for r in records.values())

    from vcmref.refsw.decoder import Decoder
    from vcmref.tasks.yolox import YoloxDetector

    reference = YoloxDetector(MODEL)
    labels = dict(zip(BACKBONE, ("dark3", "dark4", "dark5"), strict=True))
    layout = RunLayout(run_dir)
    for name, rec in records.items():
        item = rec["item"]
        features = np.load(layout.feature_file(item["name"]))
        assert sorted(features.files) == BACKBONE  # the generic task's tensors, by graph name
        assert rec["samples"] == 64 * 52 * 52 + 128 * 26 * 26 + 256 * 13 * 13
        job = SimpleNamespace(codec=rec["codec"], point_index=rec["point_index"],
                              item_name=item["name"])
        decoded = Decoder().decode(layout.bitstream(job).read_bytes()).frames[0].tensors
        want = reference.back({labels[k]: v for k, v in decoded.items()},
                              reference.prepared_for(item["width"], item["height"], item["id"]),
                              "backbone")
        assert want and rec["detections"] == json.loads(json.dumps(want)), name
        assert rec["metrics"]["feature_psnr"] > 20


PLUGIN = '''
"""A tiny detector for the tests: two convolutions with fixed weights and a trivial head (one
box per class, around the strongest cell of its heat map)."""

import numpy as np
import torch

from vcmref.params import Param
from vcmref.registry import POSTPROCESSORS, TASKS
from vcmref.tasks.processing import Postprocessor, ResizeNormalize, to_image
from vcmref.tasks.torch_split import TorchSplitModel, default_postprocess

CALLS = {"back": 0, "full": 0}


class TinyNet(torch.nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.head = torch.nn.Conv2d(channels, 2, 3, padding=1)
        generator = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)))


def tiny_net(channels=8):
    return TinyNet(channels)


@POSTPROCESSORS.register("tiny-peaks")
class TinyPeaks(Postprocessor):
    parameters = (Param("box", int, 12, min=1),
                  Param("categories", list, ["bright", "dark"], items=str))

    def __call__(self, outputs, prepared):
        heat = outputs[0][0]
        hin, win = prepared.meta["input_size"]
        sy, sx = hin / heat.shape[1], win / heat.shape[2]
        half = self.settings["box"] / 2
        dets = []
        for c in range(heat.shape[0]):
            y, x = divmod(int(np.argmax(heat[c])), heat.shape[2])
            cx, cy = (x + 0.5) * sx, (y + 0.5) * sy
            box = to_image(np.array([[cx - half, cy - half, cx + half, cy + half]],
                                    np.float32), prepared.meta)[0]
            x1, y1, x2, y2 = (float(v) for v in box)
            dets.append({"image_id": prepared.image_id, "category_id": self.category_id(c),
                         "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "score": float(1 / (1 + np.exp(-heat[c].max())))})
        return dets


@TASKS.register("tiny-detector")
class TinyDetector(TorchSplitModel):
    """A task kind of its own: the tiny net, its size as a config key."""

    split_points = {"stem": ("stem",)}
    parameters = (Param("channels", int, 8, min=1),)

    def __init__(self, channels=8):
        head = TinyPeaks()
        self.category_names = head.category_names
        super().__init__(tiny_net(channels), {"stem": ["stem"]},
                         preprocess=ResizeNormalize(size=[32, 48]),
                         postprocess=lambda out, p: head(default_postprocess(out, p), p),
                         name="tiny-detector")

    def back(self, tensors, prepared, split):
        CALLS["back"] += 1
        return super().back(tensors, prepared, split)

    def full(self, image, image_id=0):
        CALLS["full"] += 1
        return super().full(image, image_id)
'''


def _images(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[:64, :96]
    for k in range(count):
        rgb = np.stack([(x * (3 + k)) % 256, (y * 5 + 40 * k) % 256, (x + y) % 256], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"img{k}.png")
    return folder


def test_torch_detector_from_a_plain_python_file(tmp_path) -> None:
    """A plugin file registers a task kind and a head; a CTC with that kind (in process) and
    one with the generic torch kind naming the file's factory (two spawned workers, which load
    the plugin themselves) give the same records, and the detector did the work."""
    pytest.importorskip("torch", reason="PyTorch is not installed: torch tasks untested")
    plugin = tmp_path / "tiny_detector.py"
    plugin.write_text(textwrap.dedent(PLUGIN))
    images = _images(tmp_path / "img")

    def doc(task: dict) -> dict:
        return {"name": "tiny", "plugins": [str(plugin)],
                "dataset": {"kind": "folder", "images": str(images)},
                "task": {**task, "split": "stem", "ground_truth": "pseudo",
                         "pseudo_score_threshold": 0.01},
                "metrics": ["map", "feature_psnr"], "anchor": "vcmref",
                "codecs": _vcmref_features([0.05, 0.4])}

    own = parse_config(doc({"kind": "tiny-detector", "channels": 8}), "own.yaml")
    summary = run(own, tmp_path / "own")
    assert summary.done == 4 and not summary.failed, summary.failed
    calls = load_plugin(plugin).CALLS  # the module the config loaded (loaded once)
    assert calls == {"back": 4, "full": 2}  # 4 jobs; pseudo ground truth on 2 images

    generic = parse_config(doc({"kind": "torch", "module": f"{plugin}:tiny_net",
                                "arguments": {"channels": 8}, "splits": {"stem": ["stem"]},
                                "pre": {"kind": "resize-normalize", "size": [32, 48]},
                                "post": {"kind": "tiny-peaks"}}), "generic.yaml")
    summary = run(generic, tmp_path / "generic", workers=2)
    assert summary.done == 4 and not summary.failed, summary.failed

    records = _records(tmp_path / "own")
    assert records == _records(tmp_path / "generic")
    for rec in records.values():
        assert rec["status"] == "ok" and rec["samples"] == 8 * 16 * 24
        assert sorted(d["category_id"] for d in rec["detections"]) == [1, 2]
    features = np.load(RunLayout(tmp_path / "own").feature_file("img0"))
    assert features.files == ["stem"] and features["stem"].shape == (8, 16, 24)
    gt = json.loads(RunLayout(tmp_path / "own").ground_truth.read_text())
    assert {c["name"] for c in gt["categories"]} == {"bright", "dark"}
    assert "tiny-detector detections" in gt["info"]["description"]
