"""CTC run reports: per-item, per-point, BD-rate and MPEG-template tables, XLSX and HTML.

``build_report(run_dir)`` reads a run directory (``config.resolved.yaml``,
``ground_truth.json`` for task tracks, ``provenance.json`` and the job records under
``results/<codec>/<point_index>/<item>.json``) and computes the tables; ``write_report``
writes them to ``RUN/report/``: ``per_item.csv``, ``per_point.csv``, ``bd_rate.csv``,
``mpeg_ctc.csv``, ``report.xlsx`` and ``report.html``. Every column is defined in
docs/ctc-report.md.

Aggregation follows the CTCs: a rate point's rate is total bits over total pixels (bpp), total
samples (bits per sample) or total duration (kbps, video), never a mean of per-item rates;
pixel and feature metrics are means of per-item values; task mAP is computed once on the
pooled ground truth of a class's items (not a mean of per-item mAPs). Failed jobs are left out
of every aggregate and listed. Output is deterministic: the same records give the same bytes.
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmref.eval.bd import METHODS, CurveError, bd_quality, bd_rate
from vcmref.fileio import write_atomic

__all__ = [
    "ALL", "BD_METHODS", "RATE_UNITS", "REPORT_FILES", "TASK_METRICS", "Report", "Table",
    "build_report", "write_report",
]

ALL = "all"
"""Name of the group holding every item (the only group when items have no class)."""

BD_METHODS: tuple[str, ...] = tuple(METHODS)
"""BD interpolation methods of bd_rate.csv, in order (the CTC sheet's pchip-jctvc first)."""

RATE_UNITS: tuple[str, ...] = ("bpp", "kbps", "bits_per_sample")
"""Rate axes of the BD table; chosen by the config's ``rate`` option, else kbps for video."""

TASK_METRICS: tuple[str, ...] = ("mAP", "mAP50")
"""Task metrics computed from detections: COCO AP@[.5:.95] and AP@.5 (fractions in 0..1)."""

REPORT_FILES: tuple[str, ...] = (
    "per_item.csv", "per_point.csv", "bd_rate.csv", "mpeg_ctc.csv", "report.xlsx", "report.html",
)

_RATE_HEADERS = {"bpp": "bpp", "kbps": "Bitrate (kbps)", "bits_per_sample": "Bits per sample"}
_FIXED_TIME = datetime.datetime(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass
class Table:
    """One table: its name (the CSV's stem and the XLSX sheet), column order and rows."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Report:
    """Everything ``write_report`` writes, computed by ``build_report``."""

    run_dir: Path
    name: str
    anchor: str | None
    codecs: list[str]
    classes: list[str]  # groups in table order; ALL is last
    metrics: list[str]  # quality metrics: TASK_METRICS present, then the records' metric keys
    rate_unit: str
    ground_truth_label: str | None
    pseudo_ground_truth: bool
    provenance: dict[str, Any]
    per_item: Table
    per_point: Table
    bd_rate: Table
    mpeg_ctc: Table
    failures: list[dict[str, Any]]
    messages: list[str]

    def tables(self) -> list[Table]:
        return [self.per_item, self.per_point, self.bd_rate, self.mpeg_ctc]


# ---------------------------------------------------------------------------------------------
# reading the run


@dataclass
class _Rec:
    codec: str
    point_index: int
    point: Any
    item: dict[str, Any]
    raw: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.item.get("name", self.item.get("id", "")))

    @property
    def cls(self) -> str | None:
        c = self.item.get("class")
        return None if c is None or c == "" else str(c)

    @property
    def ok(self) -> bool:
        return self.raw.get("status") == "ok"


def _read_json(path: Path, what: str, messages: list[str]) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        messages.append(f"{what} {path.name} could not be read ({exc})")
        return None


def _read_config(run: Path, messages: list[str]) -> dict[str, Any]:
    path = run / "config.resolved.yaml"
    if not path.exists():
        messages.append("config.resolved.yaml is missing: codecs are taken from the records "
                        "and no anchor is known")
        return {}
    import yaml

    try:
        cfg = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        messages.append(f"config.resolved.yaml could not be read ({exc})")
        return {}
    if not isinstance(cfg, dict):
        messages.append("config.resolved.yaml is not a mapping")
        return {}
    return cfg


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _read_records(run: Path, messages: list[str]) -> list[_Rec]:
    recs = []
    results = run / "results"
    for path in sorted(results.glob("*/*/*.json")):
        raw = _read_json(path, "record", messages)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            messages.append(f"record {path.relative_to(run)} is not a JSON object: skipped")
            continue
        item = raw.get("item") if isinstance(raw.get("item"), dict) else {}
        item = {"name": path.stem, **item}
        codec = str(raw.get("codec") or path.parent.parent.name)
        pidx = _int(raw.get("point_index"), _int(path.parent.name, 0))
        recs.append(_Rec(codec, pidx, raw.get("point"), item, raw))
    recs.sort(key=lambda r: (r.codec, r.point_index, r.name))
    return recs


# ---------------------------------------------------------------------------------------------
# numbers


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _sum(values: Iterable[Any]) -> float | int | None:
    """Sum of the values (an int when they all are), None when any is missing."""
    total: float | int = 0
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool):
            total += v
            continue
        n = _num(v)
        if n is None:
            return None
        total += n
    return total


def _mean(values: Iterable[Any]) -> float | None:
    """Mean of the values present (None entries are skipped); None when there are none."""
    vals = [n for n in (_num(v) for v in values) if n is not None]
    return sum(vals) / len(vals) if vals else None


def _ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den / scale


def _duration(item: dict[str, Any]) -> float | None:
    fr = _num(item.get("frame_rate"))
    frames = _num(item.get("frames"))
    if fr is None or fr <= 0 or frames is None:
        return None
    return frames / fr


# ---------------------------------------------------------------------------------------------
# task metrics


class _Task:
    """The ground truth indexed by image, to evaluate sub-sets of images quickly."""

    def __init__(self, gt: dict[str, Any], iou_type: str):
        self.gt = gt
        self.iou_type = iou_type
        self.images = {img["id"]: img for img in gt.get("images", [])}
        self.anns: dict[Any, list[dict]] = {}
        for ann in gt.get("annotations", []):
            self.anns.setdefault(ann.get("image_id"), []).append(ann)
        self.by_video: dict[Any, list[Any]] = {}
        for img in gt.get("images", []):
            if "video_id" in img:
                self.by_video.setdefault(img["video_id"], []).append(img["id"])

    def image_ids(self, item: dict[str, Any]) -> list[Any]:
        iid = item.get("id")
        if iid in self.images:
            return [iid]
        return list(self.by_video.get(iid, []))

    def evaluate(self, ids: list[Any], dets: list[dict]) -> tuple[float | None, float | None]:
        from vcmref.eval.task_metrics import coco_map

        sub = {"info": self.gt.get("info", {}), "categories": self.gt.get("categories", []),
               "images": [self.images[i] for i in ids],
               "annotations": [a for i in ids for a in self.anns.get(i, [])]}
        res = coco_map(sub, dets, iou_type=self.iou_type, image_ids=ids)

        def clean(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) or v < 0 else float(v)

        return clean(res.map), clean(res.map50)


def _iou_type(cfg: dict[str, Any]) -> str:
    task = cfg.get("task")
    if isinstance(task, dict) and task.get("iou_type") in ("bbox", "segm"):
        return str(task["iou_type"])
    return "bbox"


# ---------------------------------------------------------------------------------------------
# building


def _rate_unit(cfg: dict[str, Any], ok: list[_Rec], messages: list[str]) -> str:
    asked = cfg.get("rate")
    if asked is None and isinstance(cfg.get("report"), dict):
        asked = cfg["report"].get("rate")
    if asked is not None:
        if asked in RATE_UNITS:
            return str(asked)
        messages.append(f"config rate {asked!r} is not one of {', '.join(RATE_UNITS)}: "
                        "chosen from the items instead")
    durations = [_duration(r.item) for r in ok]
    if durations and all(d is not None for d in durations):
        return "kbps"
    if any(d is not None for d in durations):
        messages.append("some items are video (frame rate given) and some are not: rates in bpp")
    return "bpp"


def _codec_order(cfg: dict[str, Any], recs: list[_Rec]) -> tuple[str | None, list[str]]:
    anchor = cfg.get("anchor")
    anchor = None if anchor is None else str(anchor)
    order: list[str] = []
    if anchor is not None:
        order.append(anchor)
    codecs = cfg.get("codecs")
    if isinstance(codecs, dict):
        order += [str(c) for c in codecs if str(c) not in order]
    order += sorted({r.codec for r in recs} - set(order))
    return anchor, order


def _metric_order(cfg: dict[str, Any], ok: list[_Rec]) -> list[str]:
    present: set[str] = set()
    for r in ok:
        m = r.raw.get("metrics")
        if isinstance(m, dict):
            present.update(str(k) for k in m)
    declared = cfg.get("metrics") if isinstance(cfg.get("metrics"), list) else []
    order = [str(m) for m in declared if str(m) in present]
    return order + sorted(present - set(order) - set(TASK_METRICS))


def _record_metric(rec: _Rec, key: str) -> float | None:
    m = rec.raw.get("metrics")
    return _num(m.get(key)) if isinstance(m, dict) else None


def _groups(rec: _Rec) -> list[str]:
    return [rec.cls, ALL] if rec.cls is not None else [ALL]


def build_report(run_dir: str | os.PathLike, *, item_map: bool = True) -> Report:
    """Read a run directory and compute every table (see docs/ctc-report.md).

    ``item_map=False`` skips the per-item mAP column of per_item (one COCO evaluation per
    record, the slow part on large image sets); class mAPs are computed either way."""
    run = Path(run_dir)
    messages: list[str] = []
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} not found")
    cfg = _read_config(run, messages)
    recs = _read_records(run, messages)
    if not recs:
        messages.append("no job records under results/")
    ok = [r for r in recs if r.ok]
    failed = [r for r in recs if not r.ok]

    anchor, codecs = _codec_order(cfg, recs)
    rate_unit = _rate_unit(cfg, ok, messages)
    metric_keys = _metric_order(cfg, ok)
    classes = sorted({r.cls for r in recs if r.cls is not None})
    groups = [*classes, ALL]

    provenance = _read_json(run / "provenance.json", "provenance", messages)
    if not isinstance(provenance, dict):
        provenance = {}

    gt = _read_json(run / "ground_truth.json", "ground truth", messages)
    task: _Task | None = None
    gt_label: str | None = None
    pseudo = False
    if isinstance(gt, dict):
        from vcmref.tasks.inference import PSEUDO_GT_KEY, ground_truth_label

        gt_label = ground_truth_label(gt)
        pseudo = bool((gt.get("info") or {}).get(PSEUDO_GT_KEY))
        task = _Task(gt, _iou_type(cfg))
    has_dets = task is not None and any(r.raw.get("detections") is not None for r in ok)
    task_metrics = list(TASK_METRICS) if has_dets else []
    if task is not None and not has_dets and ok:
        messages.append("ground_truth.json is present but no successful record has "
                        "detections: no task metrics")
    metrics = task_metrics + metric_keys

    # ---- per item
    item_task: dict[int, tuple[float | None, float | None]] = {}
    if has_dets and item_map:
        assert task is not None
        for r in ok:
            dets = r.raw.get("detections")
            if dets is None:
                continue
            ids = task.image_ids(r.item)
            if not ids:
                messages.append(f"{r.codec} point {r.point_index} item {r.name}: item id "
                                f"{r.item.get('id')!r} is not an image of the ground truth")
                continue
            try:
                item_task[id(r)] = task.evaluate(ids, dets)
            except (ValueError, KeyError, TypeError) as exc:
                messages.append(f"{r.codec} point {r.point_index} item {r.name}: mAP not "
                                f"computed ({exc})")

    item_cols = ["codec", "point_index", "point", "item", "item_id", "class", "status", "error",
                 "bits", "pixels", "samples", "bpp", "bits_per_sample", "kbps", *metrics,
                 "encode_s", "decode_s", "eval_s"]
    per_item = Table("per_item", item_cols)
    for r in sorted(recs, key=lambda r: (codecs.index(r.codec), r.point_index, r.name)):
        row = {"codec": r.codec, "point_index": r.point_index, "point": r.point,
               "item": r.name, "item_id": r.item.get("id"), "class": r.cls or "",
               "status": r.raw.get("status"), "error": r.raw.get("error")}
        for k in ("bits", "pixels", "samples", "bpp", "bits_per_sample", "kbps",
                  "encode_s", "decode_s", "eval_s"):
            row[k] = r.raw.get(k)
        for k in metric_keys:
            row[k] = _record_metric(r, k)
        if id(r) in item_task:
            row["mAP"], row["mAP50"] = item_task[id(r)]
        per_item.rows.append(row)

    # ---- per point
    names_by_group: dict[str, set[str]] = {g: set() for g in groups}
    for r in recs:
        for g in _groups(r):
            names_by_group[g].add(r.name)
    point_cols = ["codec", "class", "point_index", "point", "items", "failed", "missing",
                  "bits", "pixels", "samples", "duration_s", "bpp", "bits_per_sample", "kbps",
                  *metrics, "encode_s", "decode_s"]
    per_point = Table("per_point", point_cols)
    by_key: dict[tuple[str, str, int], list[_Rec]] = {}
    for r in recs:
        for g in _groups(r):
            by_key.setdefault((r.codec, g, r.point_index), []).append(r)
    for codec in codecs:
        idxs = sorted({r.point_index for r in recs if r.codec == codec})
        for g in groups:
            for pidx in idxs:
                group = by_key.get((codec, g, pidx), [])
                if not group and g != ALL:
                    continue
                per_point.rows.append(_point_row(codec, g, pidx, group, names_by_group[g],
                                                 metric_keys, task_metrics, task, messages))

    # ---- BD-rate
    bd = _bd_table(anchor, codecs, groups, metrics, task_metrics, rate_unit, per_point.rows,
                   messages)

    # ---- MPEG CTC template
    mpeg = _mpeg_table(codecs, groups, metrics, task_metrics, rate_unit, per_point.rows, recs)

    fail_rows = [{"codec": r.codec, "point_index": r.point_index, "point": r.point,
                  "item": r.name, "class": r.cls or "", "status": r.raw.get("status"),
                  "error": r.raw.get("error")}
                 for r in sorted(failed, key=lambda r: (codecs.index(r.codec), r.point_index,
                                                        r.name))]
    name = str(cfg.get("name") or run.resolve().name)
    return Report(run, name, anchor, codecs, groups, metrics, rate_unit, gt_label, pseudo,
                  provenance, per_item, per_point, bd, mpeg, fail_rows, messages)


def _point_row(codec: str, g: str, pidx: int, group: list[_Rec], names: set[str],
               metric_keys: list[str], task_metrics: list[str], task: _Task | None,
               messages: list[str]) -> dict[str, Any]:
    ok = [r for r in group if r.ok]
    point = group[0].point if group else None
    bits = _sum(r.raw.get("bits") for r in ok) if ok else None
    pixels = _sum(r.raw.get("pixels") for r in ok) if ok else None
    samples = _sum(r.raw.get("samples") for r in ok) if ok else None
    duration = _sum(_duration(r.item) for r in ok) if ok else None
    row: dict[str, Any] = {
        "codec": codec, "class": g, "point_index": pidx, "point": point, "items": len(ok),
        "failed": len(group) - len(ok), "missing": len(names - {r.name for r in group}),
        "bits": bits, "pixels": pixels, "samples": samples, "duration_s": duration,
        "bpp": _ratio(bits, pixels), "bits_per_sample": _ratio(bits, samples),
        "kbps": _ratio(bits, duration, 1000.0),
    }
    for k in metric_keys:
        row[k] = _mean(_record_metric(r, k) for r in ok)
    if task_metrics:
        row["mAP"] = row["mAP50"] = None
        dets_ok = ok and all(r.raw.get("detections") is not None for r in ok)
        if dets_ok and task is not None:
            ids: list[Any] = []
            for r in ok:
                ids.extend(i for i in task.image_ids(r.item) if i not in ids)
            dets = [d for r in ok for d in r.raw["detections"]]
            if ids:
                try:
                    row["mAP"], row["mAP50"] = task.evaluate(ids, dets)
                except (ValueError, KeyError, TypeError) as exc:
                    messages.append(f"{codec} class {g} point {pidx}: pooled mAP not computed "
                                    f"({exc})")
    row["encode_s"] = _mean(r.raw.get("encode_s") for r in ok)
    row["decode_s"] = _mean(r.raw.get("decode_s") for r in ok)
    return row


def _warning_text(warnings: Iterable[Any]) -> str:
    return "; ".join(f"{w.kind.value}: {w.message}" for w in warnings)


def _bd(fn: Any, anchor: tuple, test: tuple, method: str, refit: bool) -> tuple[Any, str]:
    try:
        res = fn(anchor, test, method, refit=refit)
    except CurveError as exc:
        return None, f"error: {exc}"
    return res.value, _warning_text(res.warnings)


def _bd_table(anchor: str | None, codecs: list[str], groups: list[str], metrics: list[str],
              task_metrics: list[str], rate_unit: str, rows: list[dict[str, Any]],
              messages: list[str]) -> Table:
    cols = ["test_codec", "anchor", "class", "metric", "method", "rate_unit", "anchor_points",
            "test_points", "bd_rate_pct", "bd_quality", "warnings", "bd_rate_refit_pct",
            "refit_warnings"]
    table = Table("bd_rate", cols)
    if anchor is None:
        messages.append("no anchor is configured: no BD-rate computed")
    tests = [c for c in codecs if c != anchor]
    if anchor is not None and not tests:
        messages.append("no test codec besides the anchor: no BD-rate computed")
    index = {(r["codec"], r["class"]): [] for r in rows}
    for r in rows:
        index[(r["codec"], r["class"])].append(r)

    def curve(codec: str, g: str, metric: str) -> tuple[list[float], list[float], str]:
        pts = [r for r in index.get((codec, g), []) if r["items"] > 0]
        incomplete = [str(r["point"]) for r in index.get((codec, g), [])
                      if r["failed"] or r["missing"]]
        xs, ys = [], []
        for r in pts:
            x, y = _num(r[rate_unit]), _num(r.get(metric))
            if x is not None and y is not None:
                xs.append(x)
                ys.append(y)
        note = ""
        if incomplete:
            note = (f"incomplete: {codec} has failed or missing jobs at point(s) "
                    f"{', '.join(incomplete)}")
        return xs, ys, note

    for test in tests:
        for g in groups:
            for metric in metrics:
                tx, ty, tnote = curve(test, g, metric)
                if anchor is not None:
                    ax, ay, anote = curve(anchor, g, metric)
                for method in BD_METHODS:
                    row: dict[str, Any] = {
                        "test_codec": test, "anchor": anchor or "", "class": g,
                        "metric": metric, "method": method, "rate_unit": rate_unit,
                        "anchor_points": None, "test_points": len(tx), "bd_rate_pct": None,
                        "bd_quality": None, "warnings": "", "bd_rate_refit_pct": None,
                        "refit_warnings": ""}
                    table.rows.append(row)
                    if anchor is None:
                        row["warnings"] = "no anchor configured"
                        continue
                    row["anchor_points"] = len(ax)
                    if not ax:
                        row["warnings"] = (f"no anchor records: anchor {anchor!r} has no "
                                           f"successful {metric} results for class {g}")
                        continue
                    if not tx:
                        row["warnings"] = (f"no test records: {test!r} has no successful "
                                           f"{metric} results for class {g}")
                        continue
                    a, t = (ax, ay), (tx, ty)
                    a_c, t_c = _named(a, anchor), _named(t, test)
                    row["bd_rate_pct"], warn = _bd(bd_rate, a_c, t_c, method, False)
                    row["bd_quality"], _ = _bd(bd_quality, a_c, t_c, method, False)
                    notes = [n for n in (anote, tnote) if n]
                    row["warnings"] = "; ".join([*([warn] if warn else []), *notes])
                    if metric in task_metrics:
                        row["bd_rate_refit_pct"], rwarn = _bd(bd_rate, a_c, t_c, method, True)
                        row["refit_warnings"] = "; ".join([*([rwarn] if rwarn else []),
                                                           *notes])
    return table


def _named(points: tuple[list[float], list[float]], name: str) -> Any:
    from vcmref.eval.bd import Curve

    return Curve(tuple(points[0]), tuple(points[1]), name)


def _mpeg_table(codecs: list[str], groups: list[str], metrics: list[str],
                task_metrics: list[str], rate_unit: str, rows: list[dict[str, Any]],
                recs: list[_Rec]) -> Table:
    def header(m: str) -> str:
        return f"{m} (%)" if m in task_metrics else m

    cols = ["Codec", "Sequence", "QP", _RATE_HEADERS[rate_unit], *(header(m) for m in metrics),
            "EncT (s)", "DecT (s)"]
    table = Table("mpeg_ctc", cols)
    totals: dict[tuple[str, str, int], list[float | None]] = {}
    for r in recs:
        if not r.ok:
            continue
        for g in _groups(r):
            t = totals.setdefault((r.codec, g, r.point_index), [0.0, 0.0])
            for i, k in enumerate(("encode_s", "decode_s")):
                v = _num(r.raw.get(k))
                t[i] = None if v is None or t[i] is None else t[i] + v
    order = {g: i for i, g in enumerate(groups)}
    for r in sorted(rows, key=lambda r: (codecs.index(r["codec"]), order[r["class"]],
                                         r["point_index"])):
        if r["items"] == 0:
            continue
        t = totals.get((r["codec"], r["class"], r["point_index"]), [None, None])
        row = {"Codec": r["codec"], "Sequence": r["class"], "QP": r["point"],
               _RATE_HEADERS[rate_unit]: r[rate_unit], "EncT (s)": t[0], "DecT (s)": t[1]}
        for m in metrics:
            v = r.get(m)
            row[header(m)] = v * 100.0 if v is not None and m in task_metrics else v
        table.rows.append(row)
    return table


# ---------------------------------------------------------------------------------------------
# writing


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _csv_bytes(table: Table) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.columns)
    for row in table.rows:
        w.writerow([_cell(row.get(c)) for c in table.columns])
    return buf.getvalue().encode("utf-8")


def _xlsx_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _xlsx_bytes(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    sheets = [*report.tables(),
              Table("failures", ["codec", "point_index", "point", "item", "class", "status",
                                 "error"], report.failures)]
    bold = Font(bold=True)
    for table in sheets:
        ws = wb.create_sheet(table.name)
        ws.append(table.columns)
        for c in ws[1]:
            c.font = bold
        for row in table.rows:
            ws.append([_xlsx_value(row.get(c)) for c in table.columns])
        ws.freeze_panes = "A2"
    wb.properties.creator = "vcmref"
    wb.properties.created = _FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    return _normalize_zip(raw.getvalue())


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite an XLSX with fixed entry times and a fixed modified date (deterministic)."""
    stamp = _FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + stamp.encode() + rb"\g<2>", content)
            zi = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, content)
    return out.getvalue()


def _plots(report: Report) -> list[tuple[str, str]]:
    """(metric, base64 PNG) RD plots of the ALL group, one per quality metric."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = []
    rows = [r for r in report.per_point.rows if r["class"] == ALL and r["items"] > 0]
    for metric in report.metrics:
        fig = Figure(figsize=(6.4, 4.4), dpi=90)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        drawn = False
        for i, codec in enumerate(report.codecs):
            pts = sorted((_num(r[report.rate_unit]), _num(r.get(metric))) for r in rows
                         if r["codec"] == codec and _num(r[report.rate_unit]) is not None
                         and _num(r.get(metric)) is not None)
            if not pts:
                continue
            is_anchor = codec == report.anchor
            ax.plot([p[0] for p in pts], [p[1] for p in pts],
                    linestyle="--" if is_anchor else "-", marker="o", color=f"C{i}",
                    label=f"{codec} (anchor)" if is_anchor else codec)
            drawn = True
        if not drawn:
            continue
        ax.set_xlabel(_RATE_HEADERS[report.rate_unit])
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} vs {_RATE_HEADERS[report.rate_unit]} ({ALL})")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.12)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        out.append((metric, base64.b64encode(buf.getvalue()).decode("ascii")))
    return out


_CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em 0;font-size:0.85em}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}
th{background:#eee}td.t{text-align:left}
.gt{padding:0.6em 1em;border:1px solid #888;background:#f4f4f4;display:inline-block}
.pseudo{border:3px solid #c60;background:#fff1e0;font-size:1.15em}
.warn{color:#a40}.msg{color:#a00}
pre{background:#f6f6f6;padding:0.8em;overflow:auto}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else repr(value)
    return _cell(value)


def _html_table(table: Table, columns: list[str] | None = None) -> str:
    cols = columns or table.columns
    out = ["<table><tr>", *(f"<th>{html.escape(c)}</th>" for c in cols), "</tr>"]
    for row in table.rows:
        out.append("<tr>")
        for c in cols:
            v = row.get(c)
            cls = ' class="t"' if not isinstance(v, int | float) or isinstance(v, bool) else ""
            out.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _html_bytes(report: Report, plots: list[tuple[str, str]] | None) -> bytes:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>CTC report: {e(report.name)}</title><style>{_CSS}</style></head><body>",
             f"<h1>CTC report: {e(report.name)}</h1>",
             f"<p>Anchor: <b>{e(report.anchor or '(none configured)')}</b>; codecs: "
             f"{e(', '.join(report.codecs))}; rate axis: {e(_RATE_HEADERS[report.rate_unit])}"
             "</p>"]
    if report.ground_truth_label is not None:
        if report.pseudo_ground_truth:
            parts.append('<div class="gt pseudo"><b>Task fidelity, not accuracy:</b> task '
                         f"metrics are measured against {e(report.ground_truth_label)}.</div>")
        else:
            parts.append(f'<div class="gt">Task metrics are measured against '
                         f"<b>{e(report.ground_truth_label)}</b>.</div>")
    if report.messages:
        parts.append("<h2>Messages</h2><ul>")
        parts += [f'<li class="msg">{e(m)}</li>' for m in report.messages]
        parts.append("</ul>")
    parts.append(f"<h2>Failures ({len(report.failures)})</h2>")
    if report.failures:
        parts.append(_html_table(Table("failures", ["codec", "point_index", "point", "item",
                                                    "class", "status", "error"],
                                       report.failures)))
    else:
        parts.append("<p>No failed jobs.</p>")
    parts.append("<h2>Per rate point</h2>")
    parts.append(_html_table(report.per_point))
    parts.append("<h2>BD-rate</h2><p>Negative: the test codec needs less rate than the anchor "
                 "for the same quality. Refit: monotone refit of both curves (task metrics, "
                 "VCM CTC practice).</p>")
    parts.append(_html_table(report.bd_rate))
    parts.append("<h2>Rate-distortion curves</h2>")
    if plots is None:
        parts.append("<p>matplotlib is not installed: no plots.</p>")
    elif not plots:
        parts.append("<p>No points to plot.</p>")
    for metric, b64 in plots or []:
        parts.append(f'<figure><img alt="{e(metric)} RD curves" '
                     f'src="data:image/png;base64,{b64}"><figcaption>{e(metric)}'
                     "</figcaption></figure>")
    parts.append("<details><summary>Provenance</summary><pre>"
                 f"{e(json.dumps(report.provenance, indent=2, sort_keys=True, default=str))}"
                 "</pre></details>")
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")


def write_report(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                 report: Report | None = None, item_map: bool = True) -> dict[str, Path]:
    """Build the report (unless given) and write its files to OUT_DIR (default RUN/report),
    each atomically; returns {file name: path}. Identical records give identical bytes."""
    report = report if report is not None else build_report(run_dir, item_map=item_map)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for table in report.tables():
        path = out / f"{table.name}.csv"
        write_atomic(path, _csv_bytes(table))
        paths[path.name] = path
    try:
        data = _xlsx_bytes(report)
    except ImportError:
        report.messages.append("openpyxl is not installed: no report.xlsx")
    else:
        write_atomic(out / "report.xlsx", data)
        paths["report.xlsx"] = out / "report.xlsx"
    try:
        plots: list[tuple[str, str]] | None = _plots(report)
    except ImportError:
        plots = None
    write_atomic(out / "report.html", _html_bytes(report, plots))
    paths["report.html"] = out / "report.html"
    return paths
