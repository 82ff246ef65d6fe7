"""CSV rendering of a report table (pandas ``to_csv``) with fixed cell formatting."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from vcmref.ctc.report.model import Table, py_value


def cell(value: Any) -> str:
    """A CSV cell: empty for a missing value, floats as Python's shortest round-trip repr,
    booleans as true/false, lists and mappings as sorted JSON."""
    value = py_value(value)
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


def csv_bytes(table: Table) -> bytes:
    """The table as UTF-8 CSV: a header row, then one line per row ("\\n" line ends)."""
    frame = table.frame
    # cell by cell over each column (DataFrame.map would hand integer columns with missing
    # values over as floats in some pandas versions)
    cells = pd.DataFrame(
        {c: pd.Series([cell(v) for v in frame[c]], dtype=object) for c in frame.columns},
        columns=frame.columns,
    )
    return cells.to_csv(index=False, lineterminator="\n").encode("utf-8")
