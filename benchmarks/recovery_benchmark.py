"""Tensor recovery after row losses: every registered method on the real YOLOX-Nano backbone
features of the shared assets (data/features/, 8 images x dark3/dark4/dark5).

Run from the repository root:

    .venv/bin/python benchmarks/recovery_benchmark.py

Losses: each row of each channel lost independently (i.i.d.) with probability 10 % and 30 %,
the masks seeded (the same for every method). For each method and loss rate it prints

* the median wall time of one ``recover`` call per tensor, in ms, on one core (BLAS threads
  set to 1 before numpy loads);
* the MSE of the recovered samples relative to zero fill, per tensor kind: the sum of the
  squared errors over the lost samples of all 8 tensors of that kind, divided by the same sum
  for zero fill (< 1: better than zero fill), and the worst single tensor.

ALTeC uses the weights vcmref ships (fitted on COCO train2017 images, never on these); where
they are absent they are fitted first (training/fit_altec.py). Exit status 2: no features.
"""

from __future__ import annotations

import os

# Before numpy loads: no BLAS thread pools (the low-rank methods use BLAS/LAPACK).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcmref.assets import feature_files, shared_dir  # noqa: E402
from vcmref.eval.recovery import (  # noqa: E402
    RECOVERY,
    SHIPPED_ALTEC,
    recovery_method,
    row_loss_mask,
    shipped_weights,
)

RATES = (0.1, 0.3)
KINDS = ("dark3", "dark4", "dark5")


def load_features() -> list[dict[str, np.ndarray]]:
    """The real features: one dict name -> float32 (C, H, W) per image."""
    out = []
    for path in feature_files():
        with np.load(path) as z:
            out.append({k: z[k].astype(np.float32) for k in z.files})
    return out


def methods() -> dict[str, object]:
    """Every registered method with its defaults (ALTeC with the shipped weights)."""
    made = {}
    for name in RECOVERY.names():
        if name == "altec":
            path = shipped_weights(SHIPPED_ALTEC)
            if not path.is_file():
                from training.fit_altec import fit_altec

                print(f"(fitting ALTeC first: {path} is absent)")
                fit_altec(path)
            made[name] = recovery_method(name, weights="shipped")
        else:
            made[name] = recovery_method(name)
    return made


def run(features: list[dict[str, np.ndarray]]) -> list[dict[str, object]]:
    """One row per (method, rate): times and errors (see the module docstring)."""
    rows = []
    for name, method in methods().items():
        for rate in RATES:
            times: list[float] = []
            err = dict.fromkeys(KINDS, 0.0)
            ref = dict.fromkeys(KINDS, 0.0)
            worst = dict.fromkeys(KINDS, 0.0)
            for i, tensors in enumerate(features):
                for j, kind in enumerate(KINDS):
                    x = tensors[kind]
                    mask = row_loss_mask(x.shape, rate, 1000 * i + 10 * j + int(rate * 100))
                    start = time.perf_counter()
                    y = method.recover(x, mask, name=kind)
                    times.append(time.perf_counter() - start)
                    e = float(np.sum((y[mask].astype(np.float64) - x[mask]) ** 2))
                    z = float(np.sum(x[mask].astype(np.float64) ** 2))
                    err[kind] += e
                    ref[kind] += z
                    worst[kind] = max(worst[kind], e / z if z else 0.0)
            rows.append({"method": name, "rate": rate, "ms": 1000 * float(np.median(times)),
                         "rel": {k: err[k] / ref[k] for k in KINDS},
                         "all": sum(err.values()) / sum(ref.values()), "worst": worst})
    return rows


def table(rows: list[dict[str, object]], n_images: int) -> str:
    """The printed table."""
    lines = [
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
        f"(timed on 1 core), Python {platform.python_version()}, numpy {np.__version__}",
        f"features: {n_images} images x {'/'.join(KINDS)} (YOLOX-Nano backbone) from "
        f"{shared_dir() / 'data' / 'features'}; i.i.d. row losses, seeded",
        "MSE: of the lost samples, relative to zero fill (pooled over the images; worst = the "
        "worst single tensor)",
        "",
        f"{'method':<14} {'loss':>5} {'time/tensor':>12}  {'dark3':>6} {'dark4':>6} "
        f"{'dark5':>6} {'all':>6}  {'worst d3/d4/d5':>17}",
        f"{'':<14} {'':>5} {'ms, median':>12}  {'MSE/MSE(zero fill)':^27}",
    ]
    for r in sorted(rows, key=lambda r: (r["rate"], r["all"])):
        rel, worst = r["rel"], r["worst"]
        lines.append(
            f"{r['method']:<14} {r['rate']:>5.0%} {r['ms']:>12.2f}  "
            + " ".join(f"{rel[k]:>6.3f}" for k in KINDS) + f" {r['all']:>6.3f}  "
            + "/".join(f"{worst[k]:.2f}" for k in KINDS).rjust(17))
    return "\n".join(lines)


def main() -> int:
    features = load_features()
    if not features:
        print(f"no features under {shared_dir() / 'data' / 'features'}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = run(features)
    print(table(rows, len(features)))
    print(f"\n({time.perf_counter() - start:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
