"""The report's self-contained HTML page: run summary, ground-truth label, messages, failures,
per-point and BD-rate tables, RD plots (embedded PNGs) and the provenance."""

from __future__ import annotations

import html
import json
import math
from typing import Any

from vcmref.ctc.report.model import RATE_HEADERS, Report, Table
from vcmref.ctc.report.render_csv import cell

CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em 0;font-size:0.85em}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}
th{background:#eee}td.t{text-align:left}
.gt{padding:0.6em 1em;border:1px solid #888;background:#f4f4f4;display:inline-block}
.pseudo{border:3px solid #c60;background:#fff1e0;font-size:1.15em}
.warn{color:#a40}.msg{color:#a00}
pre{background:#f6f6f6;padding:0.8em;overflow:auto}
"""


def fmt(value: Any) -> str:
    """A table cell on the page: floats to 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else repr(value)
    return cell(value)


def html_table(table: Table, columns: list[str] | None = None) -> str:
    cols = columns or table.columns
    out = ["<table><tr>", *(f"<th>{html.escape(c)}</th>" for c in cols), "</tr>"]
    for row in table.rows:
        out.append("<tr>")
        for c in cols:
            v = row.get(c)
            cls = ' class="t"' if not isinstance(v, int | float) or isinstance(v, bool) else ""
            out.append(f"<td{cls}>{html.escape(fmt(v))}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def html_bytes(report: Report, plots: list[tuple[str, str]] | None) -> bytes:
    """The page; ``plots`` None: matplotlib is not installed."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>CTC report: {e(report.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>CTC report: {e(report.name)}</h1>",
        f"<p>Anchor: <b>{e(report.anchor or '(none configured)')}</b>; codecs: "
        f"{e(', '.join(report.codecs))}; rate axis: {e(RATE_HEADERS[report.rate_unit])}"
        "</p>",
    ]
    if report.ground_truth_label is not None:
        if report.pseudo_ground_truth:
            parts.append(
                '<div class="gt pseudo"><b>Task fidelity, not accuracy:</b> task '
                f"metrics are measured against {e(report.ground_truth_label)}.</div>"
            )
        else:
            parts.append(
                f'<div class="gt">Task metrics are measured against '
                f"<b>{e(report.ground_truth_label)}</b>.</div>"
            )
    if report.messages:
        parts.append("<h2>Messages</h2><ul>")
        parts += [f'<li class="msg">{e(m)}</li>' for m in report.messages]
        parts.append("</ul>")
    parts.append(f"<h2>Failures ({len(report.failures)})</h2>")
    if report.failures:
        parts.append(html_table(report.failures_table()))
    else:
        parts.append("<p>No failed jobs.</p>")
    parts.append("<h2>Per rate point</h2>")
    parts.append(html_table(report.per_point))
    parts.append(
        "<h2>BD-rate</h2><p>Negative: the test codec needs less rate than the anchor "
        "for the same quality. Refit: monotone refit of both curves (task metrics, "
        "VCM CTC practice).</p>"
    )
    parts.append(html_table(report.bd_rate))
    parts.append("<h2>Rate-distortion curves</h2>")
    if plots is None:
        parts.append("<p>matplotlib is not installed: no plots.</p>")
    elif not plots:
        parts.append("<p>No points to plot.</p>")
    for metric, b64 in plots or []:
        parts.append(
            f'<figure><img alt="{e(metric)} RD curves" '
            f'src="data:image/png;base64,{b64}"><figcaption>{e(metric)}'
            "</figcaption></figure>"
        )
    parts.append(
        "<details><summary>Provenance</summary><pre>"
        f"{e(json.dumps(report.provenance, indent=2, sort_keys=True, default=str))}"
        "</pre></details>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts).encode("utf-8")
