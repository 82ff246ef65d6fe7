"""Split inference of the reference detector (YOLOX-Nano, ONNX, onnxruntime on one CPU thread):
per-image time of pre-processing, front, back (with post-processing) and full inference.

Run from the repository root:

    .venv/bin/python benchmarks/task_benchmark.py [--images 16] [--repeats 3]

The named alternative is full inference of the same network: ``front + back`` over ``full``
shows what cutting the graph costs (two onnxruntime sessions and the tensors between them).
Times are the median over images of the best of ``repeats`` runs per image, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from codec_benchmark import machine_info  # noqa: E402

from vcmref.assets import shared_dir  # noqa: E402
from vcmref.eval.datasets import coco_dataset  # noqa: E402
from vcmref.tasks.model_files import default_model_path  # noqa: E402
from vcmref.tasks.yolox import YoloxDetector  # noqa: E402


def best_ms(fn, repeats: int) -> float:
    t = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - start)
    return 1e3 * t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    root = shared_dir() / "data" / "coco_val80"
    if not default_model_path().is_file() or not root.is_dir():
        print(f"skipped: needs {default_model_path()} and {root}")
        return 2
    ds = coco_dataset(root / "annotations" / "instances_val2017.json", root / "val2017")
    ds = ds.subset(count=min(args.images, len(ds)))
    det = YoloxDetector()
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['cores']} cores; onnxruntime, 1 thread; "
          f"{len(ds)} COCO images, median of per-image best of {args.repeats} (ms)")
    rows: dict[str, list[float]] = {}
    for item in ds:
        image = ds.load_image(item)
        prepared = det.preprocess(image, item.id)
        det.full(image, item.id)  # warm-up: sessions built, caches warm
        rows.setdefault("pre-processing", []).append(
            best_ms(lambda im=image: det.preprocess(im), args.repeats))
        rows.setdefault("full (pre + network + post)", []).append(
            best_ms(lambda im=image: det.full(im), args.repeats))
        for split in det.split_points:
            tensors = det.front(prepared, split)
            det.back(tensors, prepared, split)
            rows.setdefault(f"front to {split}", []).append(
                best_ms(lambda s=split, p=prepared: det.front(p, s), args.repeats))
            rows.setdefault(f"back from {split} (+ post)", []).append(
                best_ms(lambda s=split, t=tensors, p=prepared: det.back(t, p, s),
                        args.repeats))
    med = {k: statistics.median(v) for k, v in rows.items()}
    for k, v in med.items():
        print(f"   {k:<30} {v:8.2f}")
    for split in det.split_points:
        cut = med["pre-processing"] + med[f"front to {split}"] + med[f"back from {split} (+ post)"]
        print(f"   split at {split}: pre + front + back = {cut:.2f} ms, "
              f"{cut / med['full (pre + network + post)']:.3f} x full inference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
