"""The XLSX workbook of a report (pandas ``to_excel`` through openpyxl), byte-deterministic."""

from __future__ import annotations

import datetime
import io
import json
import math
import re
import zipfile
from typing import Any

import pandas as pd

from vcmref.ctc.report.model import Report, Table, py_value

FIXED_TIME = datetime.datetime(2000, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def xlsx_value(value: Any) -> Any:
    """A cell: numbers as numbers, non-finite numbers as text, booleans as true/false, lists
    and mappings as sorted JSON, missing values as None (an empty cell)."""
    value = py_value(value)
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


def _sheet_frame(table: Table) -> pd.DataFrame:
    """The cells as ``xlsx_value``s in object columns (no int -> float upcast)."""
    frame = table.frame
    return pd.DataFrame(
        {c: pd.Series([xlsx_value(v) for v in frame[c]], dtype=object) for c in frame.columns},
        columns=frame.columns,
    )


def xlsx_bytes(report: Report) -> bytes:
    """Sheets per_item, per_point, bd_rate, mpeg_ctc and failures: a bold, frozen header row,
    then the rows; fixed document dates and zip entry times. Raises ImportError without
    openpyxl."""
    from openpyxl.styles import Font

    bold = Font(bold=True)
    raw = io.BytesIO()
    with pd.ExcelWriter(raw, engine="openpyxl") as writer:
        for table in [*report.tables(), report.failures_table()]:
            _sheet_frame(table).to_excel(
                writer, sheet_name=table.name, index=False, freeze_panes=(1, 0)
            )
            ws = writer.sheets[table.name]
            for c in ws[1]:
                c.font = bold
            for row in ws.iter_rows(min_row=2):
                for c in row:
                    if c.value == "":  # pandas writes missing values as "": no cell instead
                        c.value = None
        writer.book.properties.creator = "vcmref"
        writer.book.properties.created = FIXED_TIME
    return normalize_zip(raw.getvalue())


def normalize_zip(data: bytes) -> bytes:
    """Rewrite an XLSX with fixed entry times and a fixed modified date (deterministic)."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    content,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, content)
    return out.getvalue()
