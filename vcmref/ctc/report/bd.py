"""The BD-rate table: each test codec against the anchor, per class group, quality metric and
BD method, with the warnings of ``vcmref.eval.bd`` (docs/bd-rate.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from vcmref.ctc.report.model import BD_METHODS, Table, py_value
from vcmref.eval.bd import Curve, CurveError, bd_quality, bd_rate
from vcmref.registry import METRICS

COLUMNS = [
    "test_codec", "anchor", "class", "metric", "method", "rate_unit", "anchor_points",
    "test_points", "bd_rate_pct", "bd_quality", "warnings", "bd_rate_refit_pct",
    "refit_warnings",
]  # fmt: skip


def _warning_text(warnings: Iterable[Any]) -> str:
    return "; ".join(f"{w.kind.value}: {w.message}" for w in warnings)


def _bd(fn: Any, anchor: Curve, test: Curve, method: str, refit: bool) -> tuple[Any, str]:
    try:
        res = fn(anchor, test, method, refit=refit)
    except CurveError as exc:
        return None, f"error: {exc}"
    return res.value, _warning_text(res.warnings)


def _sign(metric: str) -> float:
    """-1 for a registered metric that is lower-is-better (NLPD): BD needs quality rising with
    rate, so its values enter negated (bd_quality then in negated units, positive = better)."""
    lower = metric in METRICS and not getattr(METRICS.get(metric), "higher_is_better", True)
    return -1.0 if lower else 1.0


def _curve(
    per_point: pd.DataFrame, codec: str, group: str, metric: str, rate_unit: str
) -> tuple[list[float], list[float], str]:
    """The codec's RD points of the group (points with successful items and both values; a
    lower-is-better metric negated), and an ``incomplete: ...`` note when a point has failed or
    missing jobs."""
    rows = per_point.loc[(per_point["codec"] == codec) & (per_point["class"] == group)]
    incomplete = rows.loc[(rows["failed"] > 0) | (rows["missing"] > 0), "point"]
    pts = rows.loc[rows["items"] > 0, [rate_unit, metric]].dropna()
    xs = [float(v) for v in pts[rate_unit]]
    ys = [_sign(metric) * float(v) for v in pts[metric]]
    note = ""
    if len(incomplete):
        note = (
            f"incomplete: {codec} has failed or missing jobs at point(s) "
            f"{', '.join(str(py_value(p)) for p in incomplete)}"
        )
    return xs, ys, note


def bd_table(
    anchor: str | None,
    codecs: list[str],
    groups: list[str],
    metrics: list[str],
    task_metrics: list[str],
    rate_unit: str,
    per_point: pd.DataFrame,
    messages: list[str],
    references: list[str] | None = None,
) -> Table:
    """One row per test codec x group x metric x method, in that nesting order, against the
    anchor; then the same against each of `references` (further anchors, e.g. another route
    to the same task), each codec but the reference itself."""
    if anchor is None:
        messages.append("no anchor is configured: no BD-rate computed")
    tests = [c for c in codecs if c != anchor]
    if anchor is not None and not tests:
        messages.append("no test codec besides the anchor: no BD-rate computed")
    rows: list[dict[str, Any]] = []
    pairs = [(anchor, test) for test in tests]
    if anchor is not None:
        pairs += [(ref, test) for ref in references or () if ref in codecs
                  for test in codecs if test != ref]
    for anchor, test in pairs:
        for g in groups:
            for metric in metrics:
                tx, ty, tnote = _curve(per_point, test, g, metric, rate_unit)
                if anchor is not None:
                    ax, ay, anote = _curve(per_point, anchor, g, metric, rate_unit)
                for method in BD_METHODS:
                    row: dict[str, Any] = {
                        "test_codec": test, "anchor": anchor or "", "class": g,
                        "metric": metric, "method": method, "rate_unit": rate_unit,
                        "anchor_points": None, "test_points": len(tx), "bd_rate_pct": None,
                        "bd_quality": None, "warnings": "", "bd_rate_refit_pct": None,
                        "refit_warnings": "",
                    }  # fmt: skip
                    rows.append(row)
                    if anchor is None:
                        row["warnings"] = "no anchor configured"
                        continue
                    row["anchor_points"] = len(ax)
                    if not ax:
                        row["warnings"] = (
                            f"no anchor records: anchor {anchor!r} has no "
                            f"successful {metric} results for class {g}"
                        )
                        continue
                    if not tx:
                        row["warnings"] = (
                            f"no test records: {test!r} has no successful "
                            f"{metric} results for class {g}"
                        )
                        continue
                    a_c = Curve(tuple(ax), tuple(ay), anchor)
                    t_c = Curve(tuple(tx), tuple(ty), test)
                    row["bd_rate_pct"], warn = _bd(bd_rate, a_c, t_c, method, False)
                    row["bd_quality"], _ = _bd(bd_quality, a_c, t_c, method, False)
                    notes = [n for n in (anote, tnote) if n]
                    row["warnings"] = "; ".join([*([warn] if warn else []), *notes])
                    if metric in task_metrics:
                        row["bd_rate_refit_pct"], rwarn = _bd(bd_rate, a_c, t_c, method, True)
                        row["refit_warnings"] = "; ".join([*([rwarn] if rwarn else []), *notes])
    rows += _jpeg_ai_average(rows, metrics, rate_unit)
    return Table.from_rows("bd_rate", COLUMNS, rows)


JPEG_AI_AVERAGE = "jpeg_ai_average"


def _jpeg_ai_average(rows: list[dict[str, Any]], metrics: list[str],
                     rate_unit: str) -> list[dict[str, Any]]:
    """Where a run measures all seven of JPEG AI's averaged metrics: per test codec, anchor,
    class and method, the mean of their BD-rates (metric ``jpeg_ai_average``), as JPEG AI
    reports its headline figure; empty, with a warning, when one of them has none."""
    from vcmref.eval.iqa.jpeg_ai import JPEG_AI_AVERAGED

    if not set(JPEG_AI_AVERAGED) <= set(metrics):
        return []
    groups: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        if r["metric"] in JPEG_AI_AVERAGED:
            key = (r["test_codec"], r["anchor"], r["class"], r["method"])
            groups.setdefault(key, {})[r["metric"]] = r["bd_rate_pct"]
    out = []
    for (test, anchor, g, method), values in groups.items():
        missing = [m for m in JPEG_AI_AVERAGED if values.get(m) is None]
        out.append({
            "test_codec": test, "anchor": anchor, "class": g, "metric": JPEG_AI_AVERAGE,
            "method": method, "rate_unit": rate_unit, "anchor_points": None,
            "test_points": None, "bd_quality": None, "bd_rate_refit_pct": None,
            "refit_warnings": "",
            "bd_rate_pct": None if missing else sum(values.values()) / len(values),
            "warnings": f"no BD-rate for {', '.join(missing)}" if missing else
            f"mean of {len(values)} metrics' BD-rates",
        })  # fmt: skip
    return out
