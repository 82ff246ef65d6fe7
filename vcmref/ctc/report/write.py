"""Writing a report's files, each atomically (a temporary name, then a rename)."""

from __future__ import annotations

import os
from pathlib import Path

from vcmref.ctc.jobs import RunLayout
from vcmref.ctc.report.build import build_report
from vcmref.ctc.report.model import Report
from vcmref.ctc.report.render_csv import csv_bytes
from vcmref.ctc.report.render_html import html_bytes
from vcmref.fileio import write_atomic


def write_report(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    report: Report | None = None,
    item_map: bool = True,
) -> dict[str, Path]:
    """Build the report (unless given) and write its files to OUT_DIR (default RUN/report),
    each atomically; returns {file name: path}. Identical records give identical bytes."""
    report = report if report is not None else build_report(run_dir, item_map=item_map)
    out = Path(out_dir) if out_dir is not None else RunLayout(run_dir).report
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for table in report.tables():
        path = out / f"{table.name}.csv"
        write_atomic(path, csv_bytes(table))
        paths[path.name] = path
    try:
        from vcmref.ctc.report.render_xlsx import xlsx_bytes

        data = xlsx_bytes(report)
    except ImportError:
        report.messages.append("openpyxl is not installed: no report.xlsx")
    else:
        write_atomic(out / "report.xlsx", data)
        paths["report.xlsx"] = out / "report.xlsx"
    try:
        from vcmref.ctc.report.plots import rd_plots

        plots: list[tuple[str, str]] | None = rd_plots(report)
    except ImportError:
        plots = None
    write_atomic(out / "report.html", html_bytes(report, plots))
    paths["report.html"] = out / "report.html"
    return paths
