"""Tables and plots of a split analysis and of the planner's choices.

Files (in the output folder):
  analysis.json   everything measured (vcmref.analysis.results)
  splits.csv      one row per split and codec, and one for the image anchor: depth, tensors,
                  samples, MACs and FLOPs of front and back, front and back times (ms), the
                  entropy of the 10-bit samples, uncoded mAP, bits and mAP at each QP, the
                  rate at each accuracy drop (interpolated and from the RD model) and its
                  ratio to the image anchor's, the RD model's parameters, R^2 and RMSE
  points.csv      one row per rate point: split, codec, QP, bits, bits per sample, mAP, mAP50,
                  mAP drop, encode and decode times
  rate_vs_depth.png   kbit per image at each accuracy drop against split depth, per codec,
                      the image anchor as horizontal lines
  rd_curves.png   mAP against kbit per image (log) per split, one panel per codec, the fitted
                  RD models dashed, the image anchor and the reference mAP for comparison
  plan.csv, plan.png  the planner's curve per bandwidth: latency (or energy) per split

Rates in the tables are kbit (1000 bits) per image; drops are fractions of the reference mAP.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcmref.analysis.planner import Plan
from vcmref.analysis.rd_model import KBIT, RdModel, RdModelError, fit_rd_model, rate_at_loss
from vcmref.analysis.results import RatePoint, SplitAnalysis, SplitMeasurement

DROPS = (0.01, 0.05)
IMAGE_ROW = "image"


@dataclass(frozen=True)
class CurveSummary:
    """One RD curve (a split's codec, or the image anchor): its fitted model and the rate
    at each drop, interpolated and from the model (kbit per image; None: not reached)."""

    model: RdModel | None
    interpolated: dict[float, float | None]
    modelled: dict[float, float | None]


def summarize_curve(points: Sequence[RatePoint], reference_map: float,
                    drops: Sequence[float] = DROPS,
                    uncoded: tuple[float, float] | None = None) -> CurveSummary:
    """Fit D = reference mAP - mAP against kbit per image (with `uncoded` = (bits, mAP) of the
    float32 tensors as one more point, which pins gamma) and read off the rate at each drop."""
    rates = [p.bits / KBIT for p in points]
    losses = [reference_map - p.map for p in points]
    fit_rates, fit_losses = list(rates), list(losses)
    if uncoded is not None:
        fit_rates.append(uncoded[0] / KBIT)
        fit_losses.append(reference_map - uncoded[1])
    try:
        model = fit_rd_model(fit_rates, fit_losses)
    except RdModelError:
        model = None
    targets = {d: d * reference_map for d in drops}
    return CurveSummary(
        model,
        {d: rate_at_loss(rates, losses, t) for d, t in targets.items()},
        {d: model.rate_at_loss(t) if model else None for d, t in targets.items()})


def _split_summary(analysis: SplitAnalysis, split: SplitMeasurement, codec: str,
                   drops: Sequence[float]) -> CurveSummary:
    return summarize_curve(split.codec_points(codec), analysis.reference_map, drops,
                           (32.0 * split.samples, split.map_uncoded))


def _image_summary(analysis: SplitAnalysis, drops: Sequence[float]) -> CurveSummary:
    points = sorted(analysis.image_points, key=lambda p: p.bits)
    return summarize_curve(points, analysis.reference_map, drops)


def _pct(drop: float) -> str:
    return f"{100 * drop:g}pct"


def _num(v: float | None, digits: int = 6) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return round(v, digits) if isinstance(v, float) else v


def split_rows(analysis: SplitAnalysis, drops: Sequence[float] = DROPS) -> list[dict[str, Any]]:
    """The rows of splits.csv (see the module docstring)."""
    image = _image_summary(analysis, drops) if analysis.image_points else None
    qps = sorted({p.point for s in analysis.splits for p in s.points if p.point is not None}
                 | {p.point for p in analysis.image_points if p.point is not None})
    rows = []

    def row(name: str, depth: int, split: SplitMeasurement | None, codec: str,
            points: list[RatePoint], summary: CurveSummary) -> dict[str, Any]:
        r: dict[str, Any] = {"split": name, "codec": codec, "depth": depth}
        if split is not None:
            r.update(tensors="+".join(split.tensors),
                     shapes=" ".join("x".join(map(str, s[1:] if len(s) > 1 else s))
                                     for s in split.shapes),
                     samples=split.samples, macs_front=split.macs_front,
                     macs_back=split.macs_back, flops_front=split.flops_front,
                     flops_back=split.flops_back, front_ms=_num(1000 * split.front_s, 3),
                     back_ms=_num(1000 * split.back_s, 3),
                     entropy_kbit=_num(split.entropy_bits / KBIT, 3),
                     entropy_bits_per_sample=_num(split.entropy_bits_per_sample, 4),
                     map_uncoded=_num(split.map_uncoded, 5))
        else:
            r.update(tensors=analysis.model + " input", shapes="",
                     samples=analysis.input_samples, macs_front=0,
                     macs_back=analysis.total_macs, flops_front=0,
                     flops_back=analysis.total_flops, front_ms=0,
                     back_ms=_num(1000 * analysis.full_s, 3), entropy_kbit="",
                     entropy_bits_per_sample="",
                     map_uncoded=_num(analysis.reference_map, 5))
        by_qp = {p.point: p for p in points}
        for qp in qps:
            p = by_qp.get(qp)
            r[f"kbit_qp{qp}"] = _num(p.bits / KBIT, 3) if p else ""
            r[f"map_qp{qp}"] = _num(p.map, 5) if p else ""
        for d in drops:
            interp, model = summary.interpolated[d], summary.modelled[d]
            r[f"kbit_at_{_pct(d)}_drop"] = _num(interp, 3)
            r[f"kbit_at_{_pct(d)}_drop_model"] = _num(model, 3)
            ref = image.interpolated[d] if image is not None else None
            r[f"vs_image_at_{_pct(d)}_drop"] = _num(interp / ref, 4) \
                if interp is not None and ref else ""
        m = summary.model
        r.update(rd_gamma=_num(m.gamma if m else None),
                 rd_alpha=_num(m.alpha[0] if m else None),
                 rd_beta_per_kbit=_num(m.beta[0] if m else None, 8),
                 rd_r2=_num(m.r2 if m else None, 4), rd_rmse=_num(m.rmse if m else None))
        return r

    if analysis.image_points:
        rows.append(row(IMAGE_ROW, 0, None, "image-anchor",
                        sorted(analysis.image_points, key=lambda p: p.bits), image))
    for s in analysis.splits:
        for codec in analysis.codecs():
            points = s.codec_points(codec)
            if points:
                rows.append(row(s.name, s.depth, s, codec, points,
                                _split_summary(analysis, s, codec, drops)))
    return rows


def point_rows(analysis: SplitAnalysis) -> list[dict[str, Any]]:
    """The rows of points.csv."""
    rows = []
    ref = analysis.reference_map
    groups = [(IMAGE_ROW, 0, analysis.input_samples, analysis.image_points)] + \
        [(s.name, s.depth, s.samples, s.points) for s in analysis.splits]
    for name, depth, samples, points in groups:
        for p in points:
            rows.append({"split": name, "depth": depth, "codec": p.codec, "qp": p.point,
                         "bits": _num(p.bits, 1), "kbit": _num(p.bits / KBIT, 3),
                         "bits_per_sample": _num(p.bits / samples, 5) if samples else "",
                         "map": _num(p.map, 5), "map50": _num(p.map50, 5),
                         "map_drop": _num(1 - p.map / ref, 5) if ref > 0 else "",
                         "encode_s": _num(p.encode_s, 4), "decode_s": _num(p.decode_s, 4)})
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _figure(width: float = 7.0, height: float = 4.6, panels: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * panels if panels > 1 else width, height), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def plot_rate_vs_depth(analysis: SplitAnalysis, path: Path,
                       drops: Sequence[float] = DROPS) -> Path:
    """kbit per image at each drop (interpolated; the RD model's as open markers) against
    depth, per codec; the image anchor's as horizontal lines."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    styles = ("-", "--", ":", "-.")
    for c, codec in enumerate(analysis.codecs()):
        for k, d in enumerate(drops):
            xs, ys, ms = [], [], []
            for s in analysis.splits:
                if not s.codec_points(codec):
                    continue
                summary = _split_summary(analysis, s, codec, drops)
                xs.append(s.depth)
                ys.append(summary.interpolated[d] or math.nan)
                ms.append(summary.modelled[d] or math.nan)
            ax.plot(xs, ys, linestyle=styles[k % 4], marker="o", color=f"C{c}",
                    label=f"{codec}, {100 * d:g} % drop")
            ax.plot(xs, ms, linestyle="none", marker="o", mfc="none", color=f"C{c}")
    ax.plot([], [], linestyle="none", marker="o", mfc="none", color="grey",
            label="open: from the RD model")
    if analysis.image_points:
        image = _image_summary(analysis, drops)
        for k, d in enumerate(drops):
            v = image.interpolated[d]
            if v is not None:
                ax.axhline(v, color="k", linestyle=styles[k % 4], linewidth=1,
                           label=f"image anchor, {100 * d:g} % drop")
    for s in analysis.splits:
        ax.annotate(s.name, (s.depth, 0), xycoords=("data", "axes fraction"),
                    xytext=(0, 2), textcoords="offset points", fontsize=7, rotation=90)
    ax.set_yscale("log")
    ax.set_xlabel("split depth (nodes in the front)")
    ax.set_ylabel("kbit per image (log)")
    ax.set_title(f"Rate at equal accuracy, {analysis.model}, {analysis.images} images")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.11)
    return _save(fig, path)


def plot_rd_curves(analysis: SplitAnalysis, path: Path) -> Path:
    """mAP against kbit per image per split (one panel per codec), fitted models dashed."""
    import numpy as np

    codecs = analysis.codecs() or ["(none)"]
    fig = _figure(panels=len(codecs))
    for c, codec in enumerate(codecs):
        ax = fig.add_subplot(1, len(codecs), c + 1)
        for i, s in enumerate(analysis.splits):
            points = s.codec_points(codec)
            if not points:
                continue
            x = [p.bits / KBIT for p in points]
            ax.plot(x, [p.map for p in points], marker="o", color=f"C{i % 10}", label=s.name)
            model = _split_summary(analysis, s, codec, DROPS).model
            if model is not None:
                grid = np.geomspace(min(x), max(x), 60)
                ax.plot(grid, analysis.reference_map - model.loss(grid), linestyle="--",
                        linewidth=0.8, color=f"C{i % 10}")
        if analysis.image_points:
            pts = sorted(analysis.image_points, key=lambda p: p.bits)
            ax.plot([p.bits / KBIT for p in pts], [p.map for p in pts], marker="s", color="k",
                    label="image anchor")
        ax.axhline(analysis.reference_map, color="grey", linewidth=0.8, linestyle=":",
                   label="uncompressed")
        ax.set_xscale("log")
        ax.set_xlabel("kbit per image (log)")
        ax.set_ylabel("mAP@[.5:.95]")
        ax.set_title(codec)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.11, wspace=0.25)
    return _save(fig, path)


def write_report(analysis: SplitAnalysis, out_dir: str | Path,
                 drops: Sequence[float] = DROPS) -> list[Path]:
    """analysis.json, splits.csv, points.csv and the two plots, in out_dir."""
    out = Path(out_dir)
    return [analysis.save(out), write_csv(split_rows(analysis, drops), out / "splits.csv"),
            write_csv(point_rows(analysis), out / "points.csv"),
            plot_rate_vs_depth(analysis, out / "rate_vs_depth.png", drops),
            plot_rd_curves(analysis, out / "rd_curves.png")]


def plan_rows(plans: Sequence[Plan]) -> list[dict[str, Any]]:
    """The rows of plan.csv: per bandwidth, each split's best point; `chosen` marks the plan's
    choice."""
    rows = []
    for p in plans:
        for q in p.curve:
            o = q.option
            rows.append({"bandwidth_mbps": p.bandwidth_mbps, "objective": p.objective,
                         "split": o.split, "depth": o.depth, "codec": o.codec, "qp": o.point,
                         "kbit": _num(o.bits / KBIT, 3), "map": _num(o.map, 5),
                         "map_drop": _num(q.map_drop, 5), "feasible": q.feasible,
                         "device_ms": _num(1000 * q.device_s, 3),
                         "transmit_ms": _num(1000 * q.transmit_s, 3),
                         "server_ms": _num(1000 * q.server_s, 3),
                         "latency_ms": _num(1000 * q.latency_s, 3),
                         "energy_j": _num(q.energy_j, 9),
                         "chosen": p.best is not None and q == p.best})
    return rows


def plot_plan(plans: Sequence[Plan], path: Path) -> Path:
    """Latency (log) or energy of each split's best point, the options in depth order from
    the image (all on the server) to on-device, one line per bandwidth, the choice circled."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    scale, unit = (1000.0, "latency (ms)") if plans and plans[0].objective == "latency" \
        else (1.0, "device energy (J)")
    names: list[str] = []
    for p in plans:
        names += [q.option.split for q in p.curve if q.option.split not in names]
    for i, p in enumerate(plans):
        xs = [names.index(q.option.split) for q in p.curve]
        ys = [q.cost(p.objective) * scale for q in p.curve]
        ax.plot(xs, ys, marker="o", color=f"C{i}", label=f"{p.bandwidth_mbps:g} Mbit/s")
        bad = [(x, y) for x, y, q in zip(xs, ys, p.curve, strict=True) if not q.feasible]
        if bad:
            ax.plot(*zip(*bad, strict=True), linestyle="none", marker="x", color="k")
        if p.best is not None:
            ax.plot([names.index(p.best.option.split)], [p.best.cost(p.objective) * scale],
                    marker="o", markersize=14, mfc="none", color=f"C{i}")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    if scale > 1:
        ax.set_yscale("log")
    ax.set_ylabel(unit)
    ax.set_title("Best feasible point per split (x: misses the accuracy constraint)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.22)
    return _save(fig, path)


def write_plan(plans: Sequence[Plan], out_dir: str | Path) -> list[Path]:
    """plan.csv and plan.png in out_dir."""
    out = Path(out_dir)
    return [write_csv(plan_rows(plans), out / "plan.csv"), plot_plan(plans, out / "plan.png")]
