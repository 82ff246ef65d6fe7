"""Split-point analysis of the reference detector (YOLOX-Nano, ONNX, onnxruntime on one CPU
thread) on the COCO evaluation sample: per cut, the feature anchor (VVC) and the vcmref codec at
several QPs, the image anchor as the reference line, RD-model fits, and the planner on the
example config (docs/split-analysis.md).

Run from the repository root:

    .venv/bin/python benchmarks/split_analysis.py --out split-analysis [--count 80]

Cuts: the stage cuts (just before each downsampling node) and the named ``backbone`` and
``neck`` (``--splits`` to name others; ``--list`` to see them all). Results go to OUT:
analysis.json, splits.csv, points.csv, rate_vs_depth.png, rd_curves.png, plan.csv, plan.png;
per-image results to OUT/cache/, so that an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread, before numpy loads

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from vcmref.analysis.planner import describe  # noqa: E402
from vcmref.analysis.run import (  # noqa: E402
    DEFAULT_IMAGE_QPS,
    DEFAULT_QPS,
    DEFAULT_VCMREF_QPS,
    analyze_splits,
    example_planner_config,
    list_cuts,
    plan_splits,
)
from vcmref.assets import shared_dir  # noqa: E402
from vcmref.errors import VcmrefError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    coco = shared_dir() / "data" / "coco_val80"
    ap.add_argument("--model", default=str(shared_dir() / "models" / "yolox_nano_416.onnx"))
    ap.add_argument("--images", default=str(coco / "val2017"), help="COCO image folder")
    ap.add_argument("--annotations",
                    default=str(coco / "annotations" / "instances_val2017.json"))
    ap.add_argument("--count", type=int, default=None, help="the first N images (default all)")
    ap.add_argument("--out", default="split-analysis", help="output folder")
    ap.add_argument("--splits", nargs="*", default=None,
                    help="split names or tensors joined by '+' (default: stage cuts + named)")
    ap.add_argument("--qps", type=int, nargs="*", default=list(DEFAULT_QPS))
    ap.add_argument("--image-qps", type=int, nargs="*", default=list(DEFAULT_IMAGE_QPS))
    ap.add_argument("--vcmref-qps", type=int, nargs="*", default=list(DEFAULT_VCMREF_QPS),
                    help="the vcmref codec's QPs; none to leave it out")
    ap.add_argument("--planner", default=str(example_planner_config()),
                    help="planner YAML (default: the shipped example)")
    ap.add_argument("--list", action="store_true", help="list the cuts and stop")
    args = ap.parse_args(argv)
    try:
        if args.list:
            print("\n".join(list_cuts(args.model)))
            return 0
        from vcmref.eval.datasets import coco_dataset

        ds = coco_dataset(args.annotations, args.images)
        if args.count is not None:
            ds = ds.subset(count=min(args.count, len(ds)))
        start = time.perf_counter()

        def say(msg: str) -> None:
            print(f"[{time.perf_counter() - start:7.0f} s] {msg}", flush=True)

        paths = analyze_splits(args.model, ds, args.out, splits=args.splits, qps=args.qps,
                               image_qps=args.image_qps or None,
                               vcmref_qps=args.vcmref_qps or None, progress=say)
        plans, plan_paths = plan_splits(args.planner, args.out)
    except VcmrefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(describe(plans)))
    for p in paths + plan_paths:
        print(f"wrote {p}")
    print(f"{len(ds)} images in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
