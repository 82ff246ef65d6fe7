"""CTC run reports: per-item, per-point, BD-rate and MPEG-template tables, XLSX and HTML.

``build_report(run_dir)`` reads a run directory (its paths from
``vcmref.ctc.jobs.RunLayout``: the resolved config, ``ground_truth.json`` for task tracks,
``provenance.json`` and the job records under ``results/<codec>/<point_index>/<item>.json``)
and computes the tables as pandas DataFrames; ``write_report`` writes them to ``RUN/report/``:
``per_item.csv``, ``per_point.csv``, ``bd_rate.csv``, ``mpeg_ctc.csv``, ``report.xlsx`` and
``report.html``. Every column is defined in docs/ctc-report.md.

Modules: ``read`` (the run directory), ``task`` (COCO mAP on subsets of the ground truth),
``build`` (records -> tables), ``bd`` (the BD-rate table), ``model`` (``Table``, ``Report``),
``render_csv``, ``render_xlsx``, ``render_html``, ``plots`` (RD curves) and ``write``
(``write_report``). Output is deterministic: the same records give the same bytes.
"""

from vcmref.ctc.report.build import build_report
from vcmref.ctc.report.model import (
    ALL,
    BD_METHODS,
    RATE_UNITS,
    REPORT_FILES,
    TASK_METRICS,
    Report,
    Table,
)
from vcmref.ctc.report.write import write_report

__all__ = [
    "ALL",
    "BD_METHODS",
    "RATE_UNITS",
    "REPORT_FILES",
    "TASK_METRICS",
    "Report",
    "Table",
    "build_report",
    "write_report",
]
