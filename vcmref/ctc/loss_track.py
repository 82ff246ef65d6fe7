"""The CTC loss track (issue 14): the run's feature bitstreams sent over packet channels, decoded
loss-tolerantly, their lost samples recovered by each method, and the task scored.

A config's ``loss`` section names the channels, loss probabilities, recovery methods and
Monte-Carlo runs::

    loss:
      channels: [{model: iid}, {model: ge, burst: 3}]
      p: [0.05, 0.1, 0.2, 0.3]
      methods: [zero, bilinear, {altec: {weights: shipped}}]
      runs: 3
      seed: 1

After the ordinary run (whose bitstreams it reuses), each (codec, point, item) of a feature
codec is one loss job; it loops over channel x p x run (the channel's seed derived from the
config's seed and all of these, so every method sees the same losses) and over the methods.
Its record (RUN/loss/CODEC/POINT_INDEX/ITEM.json) keeps the lost unit indices, the lost
fraction, each method's recovery time per tensor and its detections; the track resumes where
records exist. The report (RUN/report/loss_map.csv, loss_recovery_time.csv, loss_map.png,
loss_rd.png) gives mAP against p per channel and method, pooled over items per run, as the mean
over runs with a 95% confidence interval (Student's t), with p = 0 taken from the ordinary
(loss-free) decode; recovery time per tensor; and mAP against rate at each loss setting.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.ctc.config import ConfigError, CtcConfig
from vcmref.ctc.jobs import Job, RunLayout, expand_jobs
from vcmref.fileio import write_atomic

LOSS_DIR = "loss"
LOSS_RECORD_SCHEMA = 1
# Student's t, 97.5% quantile, by degrees of freedom (runs - 1); 1.96 beyond the table.
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


@dataclass
class LossSettings:
    """The checked ``loss`` section."""

    channels: list[dict[str, Any]]
    p: list[float]
    methods: dict[str, dict[str, Any]]  # label -> settings (label = the method's name)
    runs: int = 1
    seed: int = 0
    protect: list[str] | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def channel_label(ch: Mapping[str, Any]) -> str:
    """'iid', 'ge-burst3': what the report calls a channel."""
    rest = "-".join(
        f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}" for k, v in ch.items() if k != "model"
    )
    return f"{ch['model']}-{rest}" if rest else str(ch["model"])


def parse_loss(doc: Any, where: str = "loss") -> LossSettings:
    """Check a config's ``loss`` section: every channel at every p, every method's settings."""
    from vcmref.bitstream.loss import build_model, protected_types
    from vcmref.eval.recovery import recovery_method
    from vcmref.params import ParamError
    from vcmref.registry import RegistryError

    def fail(key: str, expected: str, got: Any = None) -> ConfigError:
        return ConfigError(
            f"{where}.{key}: expected {expected}" + ("" if got is None else f", got {got!r}")
        )

    if not isinstance(doc, dict):
        raise fail("", "a mapping with channels, p, methods, runs, seed", doc)
    unknown = sorted(set(doc) - {"channels", "p", "methods", "runs", "seed", "protect"})
    if unknown:
        raise fail(unknown[0], "one of channels, p, methods, runs, seed, protect (unknown key)")
    channels, ps, methods = doc.get("channels"), doc.get("p"), doc.get("methods")
    if (
        not isinstance(channels, list)
        or not channels
        or not all(isinstance(c, dict) and "model" in c for c in channels)
    ):
        raise fail("channels", "a non-empty list of {model: NAME, ...}", channels)
    if (
        not isinstance(ps, list)
        or not ps
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 for v in ps
        )
    ):
        raise fail("p", "a non-empty list of loss probabilities in [0, 1)", ps)
    for k, ch in enumerate(channels):
        for v in ps:
            try:
                build_model({**ch, "p": float(v)}, f"{where}.channels[{k}].")
            except (ParamError, RegistryError, ValueError) as e:
                raise ConfigError(f"{where}.channels[{k}] at p={v}: {e}") from None
    if not isinstance(methods, list) or not methods:
        raise fail(
            "methods", "a non-empty list of recovery method names or {name: settings}", methods
        )
    checked: dict[str, dict[str, Any]] = {}
    for k, m in enumerate(methods):
        name, settings = (
            (m, {})
            if isinstance(m, str)
            else (next(iter(m.items())) if isinstance(m, dict) and len(m) == 1 else (None, None))
        )
        if not isinstance(name, str) or not isinstance(settings, dict):
            raise fail(f"methods[{k}]", "a method name or {name: {settings}}", m)
        try:
            recovery_method(name, **settings)
        except (ParamError, RegistryError, ValueError, TypeError) as e:
            raise ConfigError(f"{where}.methods[{k}]: {e}") from None
        if name in checked:
            raise fail(f"methods[{k}]", "each method once", name)
        checked[name] = settings
    runs, seed = doc.get("runs", 1), doc.get("seed", 0)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise fail("runs", "an integer >= 1", runs)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise fail("seed", "an integer >= 0", seed)
    protect = doc.get("protect")
    if protect is not None:
        try:
            protected_types(protect)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{where}.protect: {e}") from None
    return LossSettings(
        [dict(c) for c in channels], [float(v) for v in ps], checked, runs, seed, protect, dict(doc)
    )


def loss_seed(seed: int, job: Job, channel: int, p: float, run: int) -> int:
    """The channel seed of one damaged stream: a hash of everything that names it."""
    text = f"{seed}/{job.codec}/{job.point_index}/{job.item_name}/{channel}/{p!r}/{run}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def loss_record_path(run_dir: Path, job: Job) -> Path:
    return Path(run_dir) / LOSS_DIR / job.codec / str(job.point_index) / f"{job.item_name}.json"


def loss_jobs(cfg: CtcConfig, run_dir: Path) -> list[Job]:
    """The run's jobs of feature codecs whose bitstream exists."""
    from vcmref.ctc.runner import dataset_of
    from vcmref.registry import CODECS

    ds = dataset_of(run_dir)
    jobs = expand_jobs(cfg, [(it.id, it.name) for it in ds])
    return [
        j
        for j in jobs
        if CODECS.get(cfg.codecs[j.codec].kind).needs_split and j.bitstream_path(run_dir).is_file()
    ]


def _evaluate(run_dir: Path, job: Job, settings: LossSettings) -> dict[str, Any]:
    """Every channel x p x run x method of one bitstream."""
    from vcmref.bitstream.loss import simulate
    from vcmref.ctc.runner import run_state
    from vcmref.eval.recovery import recovery_method
    from vcmref.media.inner_decoders import decode_inner_pictures
    from vcmref.refsw.decoder import Decoder
    from vcmref.refsw.restoration import model_for

    run = run_state(run_dir)
    item = run.dataset[job.item_id]
    stream = job.bitstream_path(run_dir).read_bytes()
    methods = {name: recovery_method(name, **s) for name, s in settings.methods.items()}
    decoder = Decoder(inner_decoder=decode_inner_pictures, loss_tolerant=True)
    entries = []
    for c, ch in enumerate(settings.channels):
        for p in settings.p:
            for r in range(settings.runs):
                seed = loss_seed(settings.seed, job, c, p, r)
                damaged, trace = simulate(stream, {**ch, "p": p}, seed, protect=settings.protect)
                result = decoder.decode(damaged)
                frame = result.frames[0]
                total = sum(m.size for m in frame.missing.values())
                lost = sum(int(m.sum()) for m in frame.missing.values())
                entry = {
                    "channel": channel_label(ch),
                    "p": p,
                    "run": r,
                    "seed": seed,
                    "lost_units": list(trace.lost),
                    "lost_fraction": lost / total,
                    "methods": {},
                }
                for name, method in methods.items():
                    times, tensors = {}, {}
                    for t, x in frame.tensors.items():
                        t0 = time.perf_counter()
                        tensors[t] = method.recover(x, frame.missing[t], name=t)
                        times[t] = time.perf_counter() - t0
                    if result.restoration is not None:
                        tensors = model_for(result.restoration.model_sha256).restore(tensors)
                    dets = run.model.predict(
                        tensors, item.width, item.height, item.id, run.cfg.task.split
                    )
                    entry["methods"][name] = {"recover_s": times, "detections": dets}
                entries.append(entry)
    return {
        "schema": LOSS_RECORD_SCHEMA,
        "codec": job.codec,
        "point": job.point,
        "point_index": job.point_index,
        "item": job.item_name,
        "item_id": job.item_id,
        "entries": entries,
    }


def _work(args: tuple[str, Job, dict]) -> tuple[Job, str | None]:
    run_dir, job, raw = args
    try:
        record = _evaluate(Path(run_dir), job, parse_loss(raw))
        write_atomic(
            loss_record_path(Path(run_dir), job), json.dumps(record, separators=(",", ":")).encode()
        )
        return job, None
    except Exception as e:  # one job's failure is reported, the others go on
        return job, f"{type(e).__name__}: {e}"


def run_loss_track(
    cfg: CtcConfig,
    run_dir: Path,
    workers: int = 1,
    progress: Callable[[int, int, int, str], None] | None = None,
) -> tuple[int, int, list[tuple[Job, str]]]:
    """Run the loss jobs not yet recorded: (total, skipped, failures)."""
    settings = parse_loss(cfg.raw.get("loss"))
    jobs = loss_jobs(cfg, run_dir)
    todo = [j for j in jobs if not loss_record_path(run_dir, j).is_file()]
    failed: list[tuple[Job, str]] = []
    args = [(str(run_dir), j, settings.raw) for j in todo]
    if workers <= 1:
        results = map(_work, args)
    else:
        from multiprocessing import get_context

        pool = get_context("spawn").Pool(workers)
        results = pool.imap_unordered(_work, args)
    try:
        for done, (job, error) in enumerate(results, 1):
            if error:
                failed.append((job, error))
            if progress:
                progress(done, len(todo), len(failed), job.label())
    finally:
        if workers > 1:
            pool.close()
            pool.join()
    return len(jobs), len(jobs) - len(todo), failed


# -- the report -------------------------------------------------------------------------------


def _ci95(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    df = len(values) - 1
    t = _T975.get(df) or next((v for k, v in sorted(_T975.items()) if k >= df), 1.96)
    return float(t * np.std(values, ddof=1) / np.sqrt(len(values)))


def write_loss_report(run_dir: Path) -> dict[str, Path]:
    """loss_map.csv, loss_recovery_time.csv (and loss_map.png with matplotlib) in
    RUN/report/, from the loss records and the run's ground truth."""
    import csv
    import io

    from vcmref.eval.task_metrics import coco_map

    layout = RunLayout(run_dir)
    gt = json.loads(layout.ground_truth.read_text())
    records = [
        json.loads(p.read_text()) for p in sorted((Path(run_dir) / LOSS_DIR).rglob("*.json"))
    ]
    dets: dict[tuple, list] = {}
    items: dict[tuple, set] = {}
    lost: dict[tuple, list[float]] = {}
    times: dict[tuple[str, str], list[float]] = {}
    for rec in records:
        for e in rec["entries"]:
            for name, m in e["methods"].items():
                key = (rec["codec"], rec["point"], e["channel"], e["p"], name, e["run"])
                dets.setdefault(key, []).extend(m["detections"])
                items.setdefault(key, set()).add(rec["item_id"])
                lost.setdefault(key, []).append(e["lost_fraction"])
                for tensor, s in m["recover_s"].items():
                    times.setdefault((name, tensor), []).append(s)
    per_run: dict[tuple, list[tuple[float, float]]] = {}
    for key, d in dets.items():
        score = coco_map(gt, d, image_ids=sorted(items[key])).map if d else 0.0
        per_run.setdefault(key[:5], []).append((score, float(np.mean(lost[key]))))
    rate_unit, lossless = _lossless_points(run_dir)
    rows = []
    for (codec, point, channel, p, method), vals in sorted(per_run.items(), key=str):
        maps = [v[0] for v in vals]
        rows.append(
            {
                "codec": codec,
                "point": point,
                "channel": channel,
                "p": p,
                "method": method,
                "runs": len(vals),
                "mAP": float(np.mean(maps)),
                "mAP_ci95": _ci95(maps),
                "lost_fraction": float(np.mean([v[1] for v in vals])),
                "items": len(items[(codec, point, channel, p, method, 0)]),
                "rate": lossless.get((codec, point), {}).get("rate"),
            }
        )
    for codec, point, channel, method in sorted(
        {(r["codec"], r["point"], r["channel"], r["method"]) for r in rows}, key=str
    ):
        base = lossless.get((codec, point))
        if base is not None and base["mAP"] is not None:  # p = 0: the ordinary decode
            rows.append(
                {
                    "codec": codec,
                    "point": point,
                    "channel": channel,
                    "p": 0.0,
                    "method": method,
                    "runs": 1,
                    "mAP": base["mAP"],
                    "mAP_ci95": None,
                    "lost_fraction": 0.0,
                    "items": base["items"],
                    "rate": base["rate"],
                }
            )
    rows.sort(key=lambda r: (r["codec"], str(r["point"]), r["channel"], r["p"], r["method"]))
    out = layout.report
    paths = {
        "loss_map.csv": out / "loss_map.csv",
        "loss_recovery_time.csv": out / "loss_recovery_time.csv",
    }

    def csv_bytes(header: list[str], body: list[dict]) -> bytes:
        buf = io.StringIO()
        w = csv.DictWriter(buf, header, lineterminator="\n")
        w.writeheader()
        w.writerows({k: ("" if r[k] is None else r[k]) for k in header} for r in body)
        return buf.getvalue().encode()

    write_atomic(
        paths["loss_map.csv"],
        csv_bytes(
            [
                "codec",
                "point",
                "rate",
                "channel",
                "p",
                "method",
                "runs",
                "items",
                "lost_fraction",
                "mAP",
                "mAP_ci95",
            ],
            rows,
        ),
    )
    trows = [
        {
            "method": m,
            "tensor": t,
            "calls": len(v),
            "mean_ms": 1000 * float(np.mean(v)),
            "median_ms": 1000 * float(np.median(v)),
        }
        for (m, t), v in sorted(times.items())
    ]
    write_atomic(
        paths["loss_recovery_time.csv"],
        csv_bytes(["method", "tensor", "calls", "mean_ms", "median_ms"], trows),
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return paths
    channels = sorted({r["channel"] for r in rows})
    fig, axes = plt.subplots(1, len(channels), figsize=(5 * len(channels), 4), squeeze=False)
    for ax, ch in zip(axes[0], channels, strict=True):
        for codec, point, method in sorted(
            {(r["codec"], r["point"], r["method"]) for r in rows if r["channel"] == ch}, key=str
        ):
            pts = sorted(
                (r["p"], r["mAP"], r["mAP_ci95"] or 0.0)
                for r in rows
                if (r["channel"], r["codec"], r["point"], r["method"]) == (ch, codec, point, method)
            )
            _errorbars(ax, [(100 * x, y, e) for x, y, e in pts], f"{method} ({codec} {point})")
        ax.set_title(f"channel {ch}")
        ax.set_xlabel("unit loss probability (%)")
        ax.set_ylabel("mAP@[.5:.95]")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    paths["loss_map.png"] = out / "loss_map.png"
    write_atomic(paths["loss_map.png"], _png(plt, fig))
    rated = [r for r in rows if r["rate"] is not None]
    settings = sorted({(r["channel"], r["p"]) for r in rated}, key=str)
    if settings:
        cols = min(4, len(settings))
        nrows = -(-len(settings) // cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(4.5 * cols, 3.6 * nrows), squeeze=False)
        for ax, (ch, p) in zip(axes.flat, settings, strict=False):
            for codec, method in sorted({(r["codec"], r["method"]) for r in rated}, key=str):
                pts = sorted(
                    (r["rate"], r["mAP"], r["mAP_ci95"] or 0.0)
                    for r in rated
                    if (r["channel"], r["p"], r["codec"], r["method"]) == (ch, p, codec, method)
                )
                if pts:
                    _errorbars(ax, pts, f"{method} ({codec})")
            ax.set_title(f"{ch}, p = {100 * p:g}%")
            ax.set_xlabel(rate_unit)
            ax.set_ylabel("mAP@[.5:.95]")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(settings) :]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=6)
        paths["loss_rd.png"] = out / "loss_rd.png"
        write_atomic(paths["loss_rd.png"], _png(plt, fig))
    return paths


def _errorbars(ax: Any, pts: list[tuple[float, float, float]], label: str) -> None:
    """One curve of (x, mAP, 95% half-interval) points."""
    ax.errorbar(
        [v[0] for v in pts],
        [v[1] for v in pts],
        yerr=[v[2] for v in pts],
        marker="o",
        capsize=3,
        label=label,
    )


def _png(plt: Any, fig: Any) -> bytes:
    import io

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _lossless_points(run_dir: Path) -> tuple[str, dict[tuple, dict[str, Any]]]:
    """The run's rate unit (bpp or kbps) and (codec, point) -> rate, mAP and items of the
    ordinary (loss-free) decode, over all items."""
    from vcmref.ctc.report.build import build_report
    from vcmref.ctc.report.model import ALL

    report = build_report(run_dir, item_map=False)
    unit = report.rate_unit
    out: dict[tuple, dict[str, Any]] = {}
    for r in report.per_point.rows:
        if r.get("class") != ALL:
            continue
        m = r.get("mAP")
        out[(r["codec"], r["point"])] = {
            "rate": None if r.get(unit) is None else float(r[unit]),
            "mAP": None if m is None or m != m else float(m),
            "items": r.get("items"),
        }
    return unit, out
