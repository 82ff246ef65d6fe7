"""The report's data: constants, ``Table`` (a named pandas DataFrame) and ``Report``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vcmref.eval.bd import METHODS

ALL = "all"
"""Name of the group holding every item (the only group when items have no class)."""

BD_METHODS: tuple[str, ...] = tuple(METHODS)
"""BD interpolation methods of bd_rate.csv, in order (the CTC sheet's pchip-jctvc first)."""

RATE_UNITS: tuple[str, ...] = ("bpp", "kbps", "bits_per_sample")
"""Rate axes of the BD table; chosen by the config's ``rate`` option, else kbps for video."""

RATE_HEADERS: dict[str, str] = {
    "bpp": "bpp",
    "kbps": "Bitrate (kbps)",
    "bits_per_sample": "Bits per sample",
}
"""The rate axis as the MPEG template and the plots name it."""

TASK_METRICS: tuple[str, ...] = ("mAP", "mAP50")
"""Task metrics computed from detections: COCO AP@[.5:.95] and AP@.5 (fractions in 0..1)."""

TRACK_METRICS: tuple[str, ...] = ("MOTA", "IDF1")
"""Task metrics of sequences whose ground truth has tracks: the tracker on the detections,
scored by motmetrics (fractions; MOTA may be negative)."""

REPORT_FILES: tuple[str, ...] = (
    "per_item.csv",
    "per_point.csv",
    "bd_rate.csv",
    "mpeg_ctc.csv",
    "report.xlsx",
    "report.html",
)

FAILURE_COLUMNS: tuple[str, ...] = (
    "codec",
    "point_index",
    "point",
    "item",
    "class",
    "status",
    "error",
)


def py_value(value: Any) -> Any:
    """A table cell as a plain Python value: None for a missing value (None, NaN, pd.NA)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def object_frame(columns: list[str], rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A DataFrame of the rows' values as they are (object columns: no int -> float upcast)."""
    return pd.DataFrame(
        {c: pd.Series([r.get(c) for r in rows], dtype=object) for c in columns},
        columns=columns,
    )


@dataclass
class Table:
    """One table: its name (the CSV's stem and the XLSX sheet) and its DataFrame (column order,
    row order; missing values are None/NaN/pd.NA)."""

    name: str
    frame: pd.DataFrame

    @classmethod
    def from_rows(cls, name: str, columns: list[str], rows: list[dict[str, Any]]) -> Table:
        return cls(name, object_frame(columns, rows))

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts of plain Python values, None where a value is missing."""
        cols = self.columns
        return [
            {c: py_value(v) for c, v in zip(cols, values, strict=True)}
            for values in self.frame.itertuples(index=False, name=None)
        ]


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

    def failures_table(self) -> Table:
        return Table.from_rows("failures", list(FAILURE_COLUMNS), self.failures)
