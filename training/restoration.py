"""Train a feature restoration model (vcmref/refsw/restoration.py) by distillation.

The student is the restoration network on features decoded by the VVC feature anchor at several
QPs; the teacher is YOLOX-Nano's own next stage on the uncompressed features (the neck outputs
for the ``backbone`` split, the head's outputs for ``neck``). Loss: mean squared error of each
target tensor divided by its variance, summed. Training images only (coco_train208 by default);
never an evaluation set. Run from the repository root:

    .venv/bin/python -m training.restoration --split backbone --out model.vcmr

The shipped models' headers record the command's settings; docs/coding-efficiency.md the times.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from vcmref.anchors.feature_anchor import FeatureAnchor, FeatureAnchorConfig
from vcmref.assets import shared_dir
from vcmref.eval.datasets import open_dataset
from vcmref.refsw.restoration import TensorRestorer, model_bytes, parse_model
from vcmref.tasks.yolox import YoloxDetector

# What the student must reproduce, per split point: the next stage's outputs (graph names).
TARGETS = {
    "backbone": list(YoloxDetector.split_points["neck"]),
    "neck": [f"onnx::Concat_{k}" for k in (1062, 1064, 1065, 1104, 1106, 1107, 1146, 1148,
                                           1149)],
}
DEFAULT_HIDDEN = (32, 64, 64)


def _anchor_decode(job: tuple[dict[str, np.ndarray], int, str]) -> dict[str, np.ndarray]:
    tensors, qp, preset = job
    cfg = FeatureAnchorConfig(qp=qp, codec_options={"preset": preset}, verify_qp=False)
    result = FeatureAnchor(cfg).encode(tensors)
    return {n: v[0].astype(np.float16) for n, v in result.tensors.items()}


ITEM_SETS = {"all": slice(None), "even": slice(0, None, 2), "odd": slice(1, None, 2)}


def training_data(split: str, images: Path, annotations: Path, qps: list[int], preset: str,
                  workers: int, items: str = "all") -> tuple[list[dict], list[dict]]:
    """(uncompressed features per item, decoded features per (item, QP)) of a COCO set; `items`
    "even" or "odd" takes every other item by increasing id (for a held-out check)."""
    model = YoloxDetector()
    ds = open_dataset("coco", annotations, images)
    feats = []
    for item in sorted(ds, key=lambda it: it.id)[ITEM_SETS[items]]:
        prepared = model.preprocess(ds.load_image(item), item.id)
        feats.append(model.front(prepared, split))
    jobs = [(f, qp, preset) for f in feats for qp in qps]
    with Pool(workers) as pool:
        decoded = pool.map(_anchor_decode, jobs, chunksize=8)
    return feats, decoded


def build_student(names: list[str], channels: list[int], hidden: list[int]):
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, c: int, h: int) -> None:
            super().__init__()
            self.a = nn.Conv2d(c, h, 3, padding=1)
            self.b = nn.Conv2d(h, h, 3, padding=1)
            self.c = nn.Conv2d(h, c, 1)
            nn.init.zeros_(self.c.weight)  # starts as the identity
            nn.init.zeros_(self.c.bias)

        def forward(self, x):
            silu = nn.functional.silu
            return x + self.c(silu(self.b(silu(self.a(x)))))

    class Student(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(Block(c, h) for c, h in zip(channels, hidden,
                                                                    strict=True))

        def forward(self, xs):
            return [b(x) for b, x in zip(self.blocks, xs, strict=True)]

    return Student()


def train(args: argparse.Namespace) -> bytes:
    import torch

    from training.onnx_torch import OnnxSubgraph

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.workers)
    t0 = time.perf_counter()
    feats, decoded = training_data(args.split, args.images, args.annotations, args.qps,
                                   args.preset, args.workers, args.items)
    prep_s = time.perf_counter() - t0
    model = YoloxDetector()
    names = list(feats[0])
    onnx_names = list(model.split_points[args.split])
    back = OnnxSubgraph(model.onnx.path, onnx_names, TARGETS[args.split])
    with torch.no_grad():
        teacher = [[t.detach() for t in back(*[torch.from_numpy(f[n])[None] for n in names])]
                   for f in feats]
    variance = [float(torch.stack([t[k] for t in teacher]).var())
                for k in range(len(TARGETS[args.split]))]
    channels = [feats[0][n].shape[0] for n in names]
    student = build_student(names, channels, args.hidden)
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)
    samples = [(i, k) for i in range(len(feats)) for k in range(len(args.qps))]
    per_epoch = len(samples) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, pct_start=0.1,
                                                total_steps=args.epochs * per_epoch)
    rng = np.random.default_rng(args.seed)
    losses = []
    for epoch in range(args.epochs):
        order, total = rng.permutation(len(samples)), 0.0
        for b in range(per_epoch):
            batch = [samples[j] for j in order[b * args.batch:(b + 1) * args.batch]]
            xs = [torch.stack([torch.from_numpy(
                decoded[i * len(args.qps) + k][n].astype(np.float32)) for i, k in batch])
                for n in names]
            targets = [torch.cat([teacher[i][m] for i, _ in batch])
                       for m in range(len(variance))]
            outputs = back(*student(xs))
            loss = sum(((y - t) ** 2).mean() / v
                       for y, t, v in zip(outputs, targets, variance, strict=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        losses.append(total / per_epoch)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {losses[-1]:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    restorers = []
    for name, c, h, block in zip(names, channels, args.hidden, student.blocks, strict=True):
        arrays = [p.detach().numpy() for p in (block.a.weight, block.a.bias, block.b.weight,
                                                block.b.bias, block.c.weight, block.c.bias)]
        restorers.append(TensorRestorer(name, c, h, *arrays))
    header = {
        "name": args.out.stem,
        "task": "yolox-nano", "split": args.split,
        "task_model_sha256": hashlib.sha256(model.onnx.path.read_bytes()).hexdigest(),
        "trained_on": f"{args.annotations.parent.parent.name}/{args.annotations.name}, "
                      f"{args.items} items ({len(feats)} images)",
        "teacher": "next stage on uncompressed features: " + ", ".join(TARGETS[args.split]),
        "inner_codec": f"feature anchor, vvenc preset {args.preset}, QPs {args.qps}",
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
        "loss_first_last": [round(losses[0], 5), round(losses[-1], 5)],
        "data_s": round(prep_s), "train_s": round(time.perf_counter() - t0 - prep_s),
    }
    return model_bytes(header, restorers)


def main(argv: list[str] | None = None) -> None:
    shared = shared_dir()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=sorted(TARGETS), default="backbone")
    p.add_argument("--images", type=Path, default=shared / "data/coco_train208/train2017")
    p.add_argument("--annotations", type=Path,
                   default=shared / "data/coco_train208/annotations/instances_train.json")
    p.add_argument("--items", choices=sorted(ITEM_SETS), default="all",
                   help="every other item by id (even/odd), for a held-out check")
    p.add_argument("--qps", type=lambda s: [int(q) for q in s.split(",")],
                   default=[32, 35, 38, 41, 44, 47])
    p.add_argument("--preset", default="faster")
    p.add_argument("--hidden", type=lambda s: [int(h) for h in s.split(",")],
                   default=list(DEFAULT_HIDDEN))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    data = train(args)
    parse_model(data)  # the file reads back
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
