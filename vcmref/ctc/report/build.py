"""Building the report: job records -> pandas tables (per item, per point, MPEG template).

Aggregation follows the CTCs: a rate point's rate is total bits over total pixels (bpp), total
samples (bits per sample) or total duration (kbps, video), never a mean of per-item rates;
pixel and feature metrics are means of per-item values; task mAP is computed once on the
pooled ground truth of a class's items (not a mean of per-item mAPs). Failed jobs are left out
of every aggregate and listed. Every column is defined in docs/ctc-report.md.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd
from pandas.core.groupby import DataFrameGroupBy

from vcmref.ctc.jobs import RunLayout
from vcmref.ctc.report.bd import bd_table
from vcmref.ctc.report.model import (
    ALL,
    FAILURE_COLUMNS,
    RATE_HEADERS,
    RATE_UNITS,
    TASK_METRICS,
    TRACK_METRICS,
    Report,
    Table,
)
from vcmref.ctc.report.read import read_config, read_json, read_records
from vcmref.ctc.report.task import GroundTruth, iou_type

KEYS = ["codec", "class", "point_index"]
"""The per-point key: codec, class group, rate point index."""

SUMMED = ("bits", "pixels", "samples", "duration_s")
"""Per-point totals over the successful records (missing when any record lacks the value)."""


# ---------------------------------------------------------------------------------------------
# numbers


def num(value: Any) -> float | None:
    """A record's value as a float; None for a missing, non-numeric, boolean or NaN value."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def numeric(values: pd.Series) -> pd.Series:
    """A column of recorded values as numbers: Int64 when every value present is an integer
    (exact sums), else float64; missing (NaN/NA) where a value is not a number."""
    vals = [
        v if isinstance(v, int | np.integer) and not isinstance(v, bool) else num(v) for v in values
    ]
    if all(isinstance(v, int | np.integer) for v in vals if v is not None):
        return pd.Series(vals, index=values.index, dtype="Int64")
    return pd.Series(vals, index=values.index, dtype="float64")


def complete_sums(grouped: DataFrameGroupBy, columns: list[str]) -> pd.DataFrame:
    """Per-group totals of the columns; missing for a group where any value is missing.
    Integer (Int64) totals are exact; float totals use pandas' compensated summation."""
    dtypes = grouped.obj.dtypes
    sums = pd.concat(
        [
            grouped[c].sum() if isinstance(dtypes[c], pd.Int64Dtype)
            else grouped[c].sum().astype("float64")
            for c in columns
        ],
        axis=1,
    )  # fmt: skip
    return sums.where(grouped[columns].count().eq(grouped.size(), axis=0))


def as_float(values: pd.Series) -> pd.Series:
    return pd.Series(values.to_numpy(dtype="float64", na_value=np.nan), index=values.index)


def ratio(numer: pd.Series, denom: pd.Series, scale: float = 1.0) -> pd.Series:
    """numer / denom / scale; missing where either is missing or denom <= 0."""
    n, d = as_float(numer), as_float(denom)
    return n / d.where(d > 0) / scale


def duration(item: dict[str, Any]) -> float | None:
    fr = num(item.get("frame_rate"))
    frames = num(item.get("frames"))
    if fr is None or fr <= 0 or frames is None:
        return None
    return frames / fr


# ---------------------------------------------------------------------------------------------
# run-level choices


def rate_unit_of(cfg: dict[str, Any], durations: pd.Series, messages: list[str]) -> str:
    """The config's ``rate`` (or ``report: {rate: ...}``); else kbps when every successful
    item has a frame rate, else bpp."""
    asked = cfg.get("rate")
    if asked is None and isinstance(cfg.get("report"), dict):
        asked = cfg["report"].get("rate")
    if asked is not None:
        if asked in RATE_UNITS:
            return str(asked)
        messages.append(
            f"config rate {asked!r} is not one of {', '.join(RATE_UNITS)}: "
            "chosen from the items instead"
        )
    if len(durations) and durations.notna().all():
        return "kbps"
    if durations.notna().any():
        messages.append("some items are video (frame rate given) and some are not: rates in bpp")
    return "bpp"


def codec_order(cfg: dict[str, Any], recorded: pd.Series) -> tuple[str | None, list[str]]:
    """The anchor, and the codecs: anchor first, then the config's order, then codecs found
    only in records (sorted)."""
    anchor = cfg.get("anchor")
    anchor = None if anchor is None else str(anchor)
    order: list[str] = []
    if anchor is not None:
        order.append(anchor)
    codecs = cfg.get("codecs")
    if isinstance(codecs, dict):
        order += [str(c) for c in codecs if str(c) not in order]
    order += sorted(set(recorded) - set(order))
    return anchor, order


def metric_order(cfg: dict[str, Any], metrics: pd.Series) -> list[str]:
    """The successful records' metric keys: in the config's ``metrics`` order, then sorted."""
    present: set[str] = set()
    for m in metrics:
        present.update(str(k) for k in m)
    declared = cfg.get("metrics") if isinstance(cfg.get("metrics"), list) else []
    order = [str(m) for m in declared if str(m) in present]
    return order + sorted(present - set(order) - set(TASK_METRICS))


def _ranked(frame: pd.DataFrame, codecs: list[str], groups: list[str] | None) -> pd.DataFrame:
    """The frame sorted by codec order, class group order (when given), point index, item."""
    rank = {c: i for i, c in enumerate(codecs)}
    by = [frame["codec"].map(rank).rename("_codec")]
    if groups is not None:
        grank = {g: i for i, g in enumerate(groups)}
        by.append(frame["class"].map(grank).rename("_class"))
    keyed = pd.concat([frame, *by], axis=1)
    cols = [b.name for b in by] + ["point_index", "item"]
    out = keyed.sort_values(cols, kind="stable", ignore_index=True)
    return out.drop(columns=[b.name for b in by])


# ---------------------------------------------------------------------------------------------
# building


def build_report(run_dir: str | os.PathLike, *, item_map: bool = True) -> Report:
    """Read a run directory and compute every table (see docs/ctc-report.md).

    ``item_map=False`` skips the per-item mAP column of per_item (one COCO evaluation per
    record, the slow part on large image sets); class mAPs are computed either way."""
    layout = RunLayout(run_dir)
    run = layout.root
    messages: list[str] = []
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} not found")
    cfg = read_config(layout, messages)
    recs = read_records(layout, messages)
    if recs.empty:
        messages.append(f"no job records under {layout.RESULTS_DIR}/")
    recs["ok"] = recs["status"].eq("ok").astype(bool)
    recs["duration_s"] = recs["item_info"].map(duration).astype("float64")
    ok_mask = recs["ok"]

    anchor, codecs = codec_order(cfg, recs["codec"])
    rate_unit = rate_unit_of(cfg, recs.loc[ok_mask, "duration_s"], messages)
    metric_keys = metric_order(cfg, recs.loc[ok_mask, "metrics"])
    classes = sorted(set(recs["class"].dropna()))
    groups = [*classes, ALL]
    for k in metric_keys:
        recs[k] = recs["metrics"].map(lambda m, k=k: num(m.get(k))).astype("float64")

    provenance = read_json(layout.provenance, "provenance", messages)
    if not isinstance(provenance, dict):
        provenance = {}

    gt = read_json(layout.ground_truth, "ground truth", messages)
    task: GroundTruth | None = None
    gt_label: str | None = None
    pseudo = False
    if isinstance(gt, dict):
        from vcmref.tasks.inference import PSEUDO_GT_KEY, ground_truth_label

        gt_label = ground_truth_label(gt)
        pseudo = bool((gt.get("info") or {}).get(PSEUDO_GT_KEY))
        task = GroundTruth(gt, iou_type(cfg))
    has_dets = task is not None and bool(recs.loc[ok_mask, "detections"].notna().any())
    task_metrics = list(TASK_METRICS) if has_dets else []
    if has_dets and task is not None and task.has_tracks:
        task_metrics += list(TRACK_METRICS)
    if task is not None and not has_dets and ok_mask.any():
        messages.append(
            f"{layout.GROUND_TRUTH_FILE} is present but no successful record has detections: "
            "no task metrics"
        )
    metrics = task_metrics + metric_keys

    per_item = _per_item(recs, codecs, metric_keys, task_metrics, task, item_map, messages)
    grouped = _in_groups(recs, codecs, groups)
    per_point = _per_point(grouped, metric_keys, task_metrics, task, messages)
    references = [str(r) for r in cfg.get("references") or []]
    bd = bd_table(anchor, codecs, groups, metrics, task_metrics, rate_unit, per_point, messages,
                  references)
    mpeg = _mpeg_table(grouped, per_point, metrics, task_metrics, rate_unit)

    failed = _ranked(recs.loc[~ok_mask], codecs, None)
    failures = Table(
        "failures", failed.assign(**{"class": failed["class"].fillna("")})[list(FAILURE_COLUMNS)]
    ).rows
    name = str(cfg.get("name") or run.resolve().name)
    return Report(
        run,
        name,
        anchor,
        codecs,
        groups,
        metrics,
        rate_unit,
        gt_label,
        pseudo,
        provenance,
        Table("per_item", per_item),
        Table("per_point", per_point),
        bd,
        Table("mpeg_ctc", mpeg),
        failures,
        messages,
    )


def _per_item(
    recs: pd.DataFrame,
    codecs: list[str],
    metric_keys: list[str],
    task_metrics: list[str],
    task: GroundTruth | None,
    item_map: bool,
    messages: list[str],
) -> pd.DataFrame:
    """One row per record: the recorded values, the metrics, the item's own mAP."""
    recs = recs.copy()
    if task_metrics and item_map:
        assert task is not None
        maps: dict[Any, dict[str, float | None]] = {}
        for idx, r in recs.loc[recs["ok"] & recs["detections"].notna()].iterrows():
            where = f"{r['codec']} point {r['point_index']} item {r['item']}"
            ids = task.image_ids(r["item_info"])
            if not ids:
                messages.append(
                    f"{where}: item id {r['item_id']!r} is not an image of the ground truth"
                )
                continue
            try:
                maps[idx] = task.scores([r["item_info"]], r["detections"])
            except (ValueError, KeyError, TypeError) as exc:
                messages.append(f"{where}: mAP not computed ({exc})")
        for m in task_metrics:
            recs[m] = pd.Series(
                {k: v.get(m) for k, v in maps.items()}, index=recs.index, dtype="float64"
            )
    out = _ranked(recs, codecs, None)
    out["class"] = out["class"].fillna("")
    for m in task_metrics:
        if m not in out:
            out[m] = np.nan
    columns = [
        "codec", "point_index", "point", "item", "item_id", "class", "status", "error",
        "bits", "pixels", "samples", "bpp", "bits_per_sample", "kbps",
        *task_metrics, *metric_keys, "encode_s", "decode_s", "eval_s",
    ]  # fmt: skip
    return out[columns].reset_index(drop=True)


def _in_groups(recs: pd.DataFrame, codecs: list[str], groups: list[str]) -> pd.DataFrame:
    """Every record once in its class group (``class``) and once in ALL, ranked by codec,
    group, point index and item; ``bits``, ``pixels``, ``samples`` as numbers (Int64 when
    integers), ``encode_s``, ``decode_s`` as floats."""
    ex = pd.concat(
        [recs.loc[recs["class"].notna()], recs.assign(**{"class": ALL})], ignore_index=True
    )
    ex = _ranked(ex, codecs, groups)
    for k in ("bits", "pixels", "samples"):
        ex[k] = numeric(ex[k])
    for k in ("encode_s", "decode_s"):
        ex[k] = numeric(ex[k]).astype("float64")
    return ex


def _per_point(
    ex: pd.DataFrame,
    metric_keys: list[str],
    task_metrics: list[str],
    task: GroundTruth | None,
    messages: list[str],
) -> pd.DataFrame:
    """One row per codec x class group x rate point (``_in_groups`` rows): totals, rates,
    means, pooled mAP."""
    by_key = ex.groupby(KEYS, sort=False)
    out = ex.drop_duplicates(KEYS)[[*KEYS, "point"]].set_index(KEYS)  # the first item's point
    names = by_key["item"].nunique()
    names_in_group = ex.groupby("class")["item"].nunique()

    okx = ex.loc[ex["ok"]]
    ok_key = okx.groupby(KEYS, sort=False)
    n_ok = ok_key.size().reindex(out.index, fill_value=0)
    out["items"] = n_ok
    out["failed"] = by_key.size() - n_ok
    # items of the group (any codec or point) without a record here
    in_group = names_in_group.reindex(names.index.get_level_values("class")).to_numpy()
    out["missing"] = pd.Series(in_group, index=names.index) - names
    sums = complete_sums(ok_key, list(SUMMED))
    out = out.join(sums)
    out["bpp"] = ratio(out["bits"], out["pixels"])
    out["bits_per_sample"] = ratio(out["bits"], out["samples"])
    out["kbps"] = ratio(out["bits"], out["duration_s"], 1000.0)
    means = ok_key[[*metric_keys, "encode_s", "decode_s"]].mean()
    out = out.join(means[metric_keys])
    for m in task_metrics:
        out[m] = np.nan
    out = out.join(means[["encode_s", "decode_s"]])

    if task_metrics and task is not None:
        for key, sub in ok_key:
            if not sub["detections"].notna().all():
                continue
            items = list(sub["item_info"])
            if not any(task.image_ids(item) for item in items):
                continue
            dets = [d for ds in sub["detections"] for d in ds]
            try:
                scores = task.scores(items, dets)
                out.loc[key, task_metrics] = [scores.get(m) for m in task_metrics]
            except (ValueError, KeyError, TypeError) as exc:
                codec, g, pidx = key
                messages.append(f"{codec} class {g} point {pidx}: pooled mAP not computed ({exc})")
    columns = [
        "codec", "class", "point_index", "point", "items", "failed", "missing",
        "bits", "pixels", "samples", "duration_s", "bpp", "bits_per_sample", "kbps",
        *task_metrics, *metric_keys, "encode_s", "decode_s",
    ]  # fmt: skip
    return out.reset_index()[columns]


def _mpeg_table(
    ex: pd.DataFrame,
    per_point: pd.DataFrame,
    metrics: list[str],
    task_metrics: list[str],
    rate_unit: str,
) -> pd.DataFrame:
    """The MPEG CTC template's block layout: per-point rows with successful items, task
    metrics in percent, summed encoding and decoding times."""
    rows = per_point.loc[per_point["items"] > 0]
    times = ex.loc[ex["ok"], [*KEYS, "encode_s", "decode_s"]]
    times = times.rename(columns={"encode_s": "EncT (s)", "decode_s": "DecT (s)"})
    totals = complete_sums(times.groupby(KEYS, sort=False), ["EncT (s)", "DecT (s)"])

    def header(m: str) -> str:
        return f"{m} (%)" if m in task_metrics else m

    out = pd.DataFrame(
        {
            "Codec": rows["codec"],
            "Sequence": rows["class"],
            "QP": rows["point"],
            RATE_HEADERS[rate_unit]: rows[rate_unit],
            **{header(m): rows[m] * 100.0 if m in task_metrics else rows[m] for m in metrics},
        }
    )
    out = out.join(totals.reindex(pd.MultiIndex.from_frame(rows[KEYS])).set_axis(rows.index))
    return out.reset_index(drop=True)
