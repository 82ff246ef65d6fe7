"""The logic of ``vcmref bdrate``: read two CSVs of (rate, quality) points, print a BD table.

:func:`run_bdrate` returns the text the command prints; the CLI wires it to its options.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from vcmref.eval.bd import (
    METHODS,
    BdResult,
    Curve,
    CurveError,
    bd_quality,
    bd_rate,
)

RATE_COLUMNS = ("rate", "kbps", "bitrate", "bpp", "bps", "bits", "bytes", "size")
"""Header names taken as the rate column, in order of preference (case-insensitive)."""

QUALITY_COLUMNS = (
    "quality", "psnr", "y-psnr", "psnr-y", "psnr_y", "map", "miou", "mota", "accuracy",
)
"""Header names taken as the quality column, in order of preference (case-insensitive)."""


def _pick(header: list[str], wanted: str | None, candidates: tuple[str, ...], path: Path,
          what: str) -> int:
    lowered = [h.strip().lower() for h in header]
    if wanted is not None:
        if wanted.strip().lower() in lowered:
            return lowered.index(wanted.strip().lower())
        raise CurveError(
            f"{path}: line 1: no {what} column {wanted!r} (columns: {', '.join(header)})"
        )
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    raise CurveError(
        f"{path}: line 1: no {what} column (looked for {', '.join(candidates)}; "
        f"columns: {', '.join(header)}; choose one explicitly)"
    )


def read_curve(
    path: Path, *, rate_column: str | None = None, quality_column: str | None = None,
    name: str | None = None,
) -> Curve:
    """Read a CSV with a header row; blank lines and lines starting with '#' are skipped.

    Errors (:class:`CurveError`) name the file, the line and the column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CurveError(f"{path}: cannot read ({exc.strerror or exc})") from None
    rows = [
        (lineno, row)
        for lineno, row in enumerate(csv.reader(text.splitlines()), start=1)
        if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#")
    ]
    if not rows:
        raise CurveError(f"{path}: empty file (expected a header row and (rate, quality) rows)")
    header_line, header = rows[0]
    ri = _pick(header, rate_column, RATE_COLUMNS, path, "rate")
    qi = _pick(header, quality_column, QUALITY_COLUMNS, path, "quality")
    rates: list[float] = []
    qualities: list[float] = []
    for lineno, row in rows[1:]:
        values = []
        for idx in (ri, qi):
            col = header[idx].strip()
            if idx >= len(row) or not row[idx].strip():
                raise CurveError(f"{path}: line {lineno}, column {col!r}: missing value")
            try:
                value = float(row[idx])
            except ValueError:
                raise CurveError(
                    f"{path}: line {lineno}, column {col!r}: not a number: {row[idx].strip()!r}"
                ) from None
            if not math.isfinite(value):
                raise CurveError(f"{path}: line {lineno}, column {col!r}: {value} (must be finite)")
            if idx == ri and value <= 0:
                raise CurveError(
                    f"{path}: line {lineno}, column {col!r}: rate {value:g} (must be > 0)"
                )
            values.append(value)
        rates.append(values[0])
        qualities.append(values[1])
    if not rates:
        raise CurveError(f"{path}: line {header_line}: a header but no data rows")
    return Curve(rates, qualities, name or str(path))


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _overlap(result: BdResult, digits: int) -> str:
    if result.overlap is None:
        return "none"
    lo, hi = result.overlap
    return f"{lo:.{digits}g}..{hi:.{digits}g} ({result.overlap_fraction:.0%})"


def run_bdrate(
    anchor_csv: Path,
    test_csv: Path,
    methods: list[str] | None = None,
    *,
    rate_column: str | None = None,
    quality_column: str | None = None,
    refit: bool = False,
) -> str:
    """Return the ``vcmref bdrate`` report: one row per method with BD-rate (%), BD-quality,
    the overlap of the quality and rate ranges, and the warnings listed below the table.

    Raises :class:`CurveError` (one line, naming the file, line and column) for unreadable
    input, or when no method can run on the data; a method that cannot (too few points) while
    others can shows its error in its row.
    """
    anchor = read_curve(Path(anchor_csv), rate_column=rate_column,
                        quality_column=quality_column, name=f"anchor {Path(anchor_csv).name}")
    test = read_curve(Path(test_csv), rate_column=rate_column,
                      quality_column=quality_column, name=f"test {Path(test_csv).name}")
    chosen = list(methods) if methods else list(METHODS)
    errors = []
    for method in chosen:
        try:
            bd_rate(anchor, test, method, refit=refit)
        except CurveError as exc:
            errors.append(exc)
    if len(errors) == len(chosen):
        raise errors[0]
    header = ("method", "BD-rate %", "BD-quality", "quality overlap", "rate overlap", "warnings")
    table: list[tuple[str, ...]] = []
    notes: dict[str, list[str]] = {}  # warning or error text -> the methods that gave it
    for method in chosen:
        try:
            r = bd_rate(anchor, test, method, refit=refit)
            q = bd_quality(anchor, test, method, refit=refit)
        except CurveError as exc:
            table.append((method, "error", "error", "-", "-", "1"))
            notes.setdefault(f"error: {exc}", []).append(method)
            continue
        seen: list[str] = []
        for w in r.warnings + q.warnings:
            text = str(w)
            if text not in seen:
                seen.append(text)
                notes.setdefault(text, []).append(r.method)
        table.append(
            (r.method, _fmt(r.value, 4), _fmt(q.value, 4), _overlap(r, 6), _overlap(q, 6),
             str(len(seen)) if seen else "-")
        )
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    lines = [
        f"anchor: {anchor_csv} ({len(anchor.rates)} points)",
        f"test:   {test_csv} ({len(test.rates)} points)"
        + ("   [monotone refit applied]" if refit else ""),
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
    ]
    for row in table:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if notes:
        lines.append("warnings:")
        for text, which in notes.items():
            prefix = "" if len(which) == len(table) and len(table) > 1 else f"{', '.join(which)}: "
            lines.append(f"  {prefix}{text}")
    return "\n".join(lines) + "\n"
