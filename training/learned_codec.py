"""Train the shipped learned image codec, `vcmref-lapped`: vcmref's `lapped-hyperprior`
architecture (vcmref.anchors.learned.lapped: a lapped block transform that starts as Y'CbCr
plus the 8x8 DCT, learned gains, a deblocking network and a mean-scale hyperprior), one model
per rate point, on the CPU.

Data: the 208 training images of coco_train208 only (never Kodak or coco_val80, the test
sets). Each step takes random crops, each from a random image scaled down by a random factor
in [0.5, 1] (which also washes out the images' own JPEG artefacts) and flipped at random.
Loss: lambda * 255^2 * MSE + bits per pixel (CompressAI's rate-distortion loss), plus the
entropy bottleneck's auxiliary loss with its own optimizer; the gains learn ten times faster
than the rest. The middle rate point is trained first; each further one starts from its
nearest trained neighbour's weights with the gains moved to the new lambda (fine-tuning),
which saves most of the time on two cores (``--resume`` keeps the points already written).
Run from the repository root:

    .venv/bin/python -m training.learned_codec --out vcmref/anchors/learned/models

Each checkpoint records the command's settings, the seed and the training curve; the times and
curves are in docs/jpegai.md.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from vcmref.anchors.learned.lapped import ARCHITECTURE as LAPPED_ARCHITECTURE
from vcmref.anchors.learned.lapped import initial_step, register
from vcmref.assets import shared_dir

MODEL_NAME = "vcmref-lapped"
ARCHITECTURE = LAPPED_ARCHITECTURE
DEFAULT_LAMBDAS = (0.0006, 0.0013, 0.0027, 0.0055, 0.011, 0.022)
GAIN_LR_FACTOR = 10  # the gains (log quantization steps) learn this much faster
# The weights (parameters) are stored as float16 (half the size); the entropy models' CDF
# tables are computed from the rounded weights and the buffers stay as they are.
STORE_DTYPE = "float16"


def load_images(folder: Path, max_side: int | None = None) -> list[np.ndarray]:
    """Every JPEG/PNG of `folder`, sorted by name, as (H, W, 3) uint8."""
    from PIL import Image

    images = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        im = Image.open(p).convert("RGB")
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        images.append(np.asarray(im))
    if not images:
        raise SystemExit(f"no training images in {folder}")
    return images


def random_batch(images: list[np.ndarray], rng: np.random.Generator, batch: int,
                 crop: int) -> np.ndarray:
    """(batch, 3, crop, crop) float32 in [0, 1]: random image, scale, position and flip."""
    from PIL import Image

    out = np.empty((batch, 3, crop, crop), np.float32)
    for b in range(batch):
        img = images[int(rng.integers(len(images)))]
        h, w = img.shape[:2]
        lo = max(0.5, crop / min(h, w))
        s = float(rng.uniform(lo, 1.0)) if lo < 1.0 else lo
        if s != 1.0:
            size = (max(crop, round(w * s)), max(crop, round(h * s)))
            img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))
            h, w = img.shape[:2]
        y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
        patch = img[y:y + crop, x:x + crop]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out[b] = patch.transpose(2, 0, 1) / 255.0
    return out


def weights_of(model) -> set[str]:
    """The names of the trained parameters (not the CDF tables, which update() rebuilds)."""
    return {n for n, _ in model.named_parameters()}


def shift_gains(model, from_lambda: float, to_lambda: float) -> None:
    """Move the quantization steps of a model trained at `from_lambda` to where `to_lambda`
    puts them at high rate (step proportional to 1 / sqrt(lambda); see `initial_step`)."""
    import torch

    shift = 0.5 * float(np.log(to_lambda / from_lambda))
    with torch.no_grad():
        model.g_a.log_gain += shift
        model.g_s.log_gain -= shift


def train_point(model, images, lmbda: float, steps: int, lr: float, batch: int, crop: int,
                seed: int, log_every: int) -> list[dict]:
    """Train `model` in place at one lambda; return the curve (step, loss, bpp, mse, psnr)."""
    import torch

    from vcmref.anchors.learned.compressai_import import import_compressai

    import_compressai()
    from compressai.losses import RateDistortionLoss

    rng = np.random.default_rng(seed)
    criterion = RateDistortionLoss(lmbda=lmbda)
    aux_params = {n for n, p in model.named_parameters() if n.endswith(".quantiles")}
    gains = [p for n, p in model.named_parameters() if n.endswith(".log_gain")]
    main = [p for n, p in model.named_parameters()
            if n not in aux_params and not n.endswith(".log_gain")]
    aux = [p for n, p in model.named_parameters() if n in aux_params]
    opt = torch.optim.Adam([{"params": main, "lr": lr},
                            {"params": gains, "lr": lr * GAIN_LR_FACTOR}])
    aux_opt = torch.optim.Adam(aux, lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.8 * steps)], 0.1)
    curve, acc, t0, skipped = [], [], time.perf_counter(), 0
    model.train()
    for step in range(1, steps + 1):
        x = torch.from_numpy(random_batch(images, rng, batch, crop))
        opt.zero_grad()
        aux_opt.zero_grad()
        out = model(x)
        loss = criterion(out, x)
        finite = bool(torch.isfinite(loss["loss"]))
        if finite:
            loss["loss"].backward()
            finite = bool(torch.isfinite(torch.nn.utils.clip_grad_norm_(main + gains, 1.0)))
        if finite:
            opt.step()
            aux_loss = model.aux_loss()
            aux_loss.backward()
            aux_opt.step()
            acc.append((loss["loss"].item(), loss["bpp_loss"].item(), loss["mse_loss"].item()))
        else:
            skipped += 1  # a rare batch overflows: no step on it
        sched.step()
        if (step % log_every == 0 or step == steps) and acc:
            l, b, m = (float(v) for v in np.mean(acc, axis=0))
            acc = []
            entry = {"step": step, "loss": l, "bpp": b, "mse": m, "skipped": skipped,
                     "psnr": float(10 * np.log10(1 / m)) if m > 0 else None,
                     "seconds": time.perf_counter() - t0}
            curve.append(entry)
            print(f"  lambda {lmbda}: step {step}/{steps} loss {l:.4f} bpp {b:.3f} "
                  f"PSNR {entry['psnr']:.2f} dB ({entry['seconds']:.0f} s)", flush=True)
    model.eval()
    return curve


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path,
                    default=shared_dir() / "data" / "coco_train208" / "train2017")
    ap.add_argument("--out", type=Path, required=True, help="folder for NAME_qK.pt")
    ap.add_argument("--lambdas", type=float, nargs="+", default=list(DEFAULT_LAMBDAS))
    ap.add_argument("--N", type=int, default=48, help="channels of the hyper-latent")
    ap.add_argument("--filter-channels", type=int, default=24,
                    help="width of the synthesis's residual network")
    ap.add_argument("--steps", type=int, default=3000, help="steps of the first rate point")
    ap.add_argument("--finetune-steps", type=int, default=1000, help="steps of each further one")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--resume", action="store_true",
                    help="keep the rate points already in --out (their weights start the rest)")
    args = ap.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # tiny gradients otherwise slow the CPU tenfold
    model_class = register()
    kwargs = {"N": args.N, "filter_channels": args.filter_channels}
    images = load_images(args.images, max_side=640)
    print(f"{len(images)} training images from {args.images}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    order = sorted(range(len(args.lambdas)), key=lambda k: args.lambdas[k])
    start = order[len(order) // 2]  # the middle rate first, then outwards from it
    sequence = [start] + [k for k in order if k > start] + [k for k in reversed(order)
                                                              if k < start]
    states: dict[int, dict] = {}
    for k in sequence:
        lmbda = args.lambdas[k]
        done = args.out / f"{MODEL_NAME}_q{k + 1}.pt"
        if args.resume and done.is_file():
            kept = torch.load(done, weights_only=True)
            states[k] = {n: v.float() if v.is_floating_point() else v
                         for n, v in kept["state_dict"].items()}
            print(f"rate point q{k + 1}: kept {done}", flush=True)
            continue
        model = model_class(**kwargs, step=initial_step(lmbda))
        if k != start:
            neighbour = min(states, key=lambda j: abs(np.log(args.lambdas[j] / lmbda)))
            model.load_state_dict(states[neighbour])  # CompressAI sizes the CDF buffers
            shift_gains(model, args.lambdas[neighbour], lmbda)
        steps = args.steps if k == start else args.finetune_steps
        print(f"rate point q{k + 1}: lambda {lmbda}, {steps} steps", flush=True)
        t0 = time.perf_counter()
        curve = train_point(model, images, lmbda, steps, args.lr if k == start else args.lr / 2,
                            args.batch, args.crop, args.seed + k, args.log_every)
        seconds = time.perf_counter() - t0
        weights = weights_of(model)
        half = getattr(torch, STORE_DTYPE)
        trained = {n: v.detach().clone() for n, v in model.state_dict().items()}
        model.update(force=True)  # the CDF buffers take their sizes, then the rounded weights
        model.load_state_dict({**model.state_dict(),
                               **{n: trained[n].to(half) for n in weights}})
        model.update(force=True)  # CDF tables of the rounded weights
        states[k] = {n: v.detach().clone() for n, v in model.state_dict().items()}
        stored = {n: v.to(half) if n in weights else v for n, v in states[k].items()}
        record = {"format": "vcmref-compressai", "architecture": ARCHITECTURE,
                  "kwargs": kwargs,
                  "state_dict": stored,
                  "training": {"name": MODEL_NAME, "quality": k + 1, "lambda": lmbda,
                               "steps": steps, "seconds": seconds,
                               "started_from": None if k == start else f"q{neighbour + 1}",
                               "images": f"{args.images.name} ({len(images)} images)",
                               "settings": {kk: (str(v) if isinstance(v, Path) else v)
                                            for kk, v in vars(args).items()},
                               "curve": curve}}
        path = args.out / f"{MODEL_NAME}_q{k + 1}.pt"
        tmp = path.with_suffix(".tmp")
        torch.save(record, tmp)
        tmp.replace(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, sha256 {digest}) "
              f"after {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
