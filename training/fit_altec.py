"""Fit the ALTeC weights of the YOLOX-Nano backbone (dark3, dark4, dark5) on training images
only: the 208 COCO train2017 images of the shared assets (never the evaluation features of
data/features/, which come from other images).

    .venv/bin/python training/fit_altec.py

writes vcmref/eval/recovery_weights/altec_yolox_nano_backbone.npz (the ALTeC defaults:
reach 2, width 1). `fit_altec(path)` does the same from Python, to any path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcmref.assets import REPO_ROOT, shared_dir  # noqa: E402
from vcmref.eval.recovery import ALTeC  # noqa: E402

TRAIN = shared_dir() / "data" / "coco_train208"
ANNOTATIONS = TRAIN / "annotations" / "instances_train.json"
IMAGES = TRAIN / "train2017"
OUTPUT = REPO_ROOT / "vcmref" / "eval" / "recovery_weights" / "altec_yolox_nano_backbone.npz"


def training_features(annotations: Path = ANNOTATIONS, images: Path = IMAGES,
                      split: str = "backbone") -> Iterator[dict[str, np.ndarray]]:
    """The YOLOX-Nano split-point tensors (name -> float32 (C, H, W)) of each training
    image, in the dataset's order."""
    from vcmref.eval.datasets import open_dataset
    from vcmref.tasks.yolox import YoloxDetector

    model = YoloxDetector()
    dataset = open_dataset("coco", annotations, images)
    for item in dataset:
        prepared = model.preprocess(dataset.load_image(item), item.id)
        yield {k: v.astype(np.float32) for k, v in model.front(prepared, split).items()}


def fit_altec(path: Path = OUTPUT, **settings: int | float) -> Path:
    """Fit ALTeC (with `settings`) on the training features and save it to `path`."""
    method = ALTeC(**settings)
    method.fit(training_features())
    path.parent.mkdir(parents=True, exist_ok=True)
    return method.save(path)


def main() -> None:
    start = time.perf_counter()
    path = fit_altec()
    state = ALTeC()
    state.load(path)
    shapes = ", ".join(f"{k} {'x'.join(map(str, v['shape']))}" for k, v in state.state.items())
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB ({shapes}), "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
