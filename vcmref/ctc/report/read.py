"""Reading a run directory: the resolved config, provenance, ground truth and job records.

Paths come from ``vcmref.ctc.jobs.RunLayout``. Nothing here stops the report: what is missing
or unreadable becomes a message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from vcmref.ctc.jobs import RunLayout

RAW_FIELDS: tuple[str, ...] = (
    "bits",
    "pixels",
    "samples",
    "bpp",
    "bits_per_sample",
    "kbps",
    "encode_s",
    "decode_s",
    "eval_s",
)
"""Record fields shown as recorded in per_item."""

RECORD_COLUMNS: tuple[str, ...] = (
    "codec",
    "point_index",
    "point",
    "item",
    "item_id",
    "class",
    "status",
    "error",
    *RAW_FIELDS,
    "metrics",
    "detections",
    "item_info",
)
"""Columns of ``read_records``: one row per readable record; ``class`` is None when the
item has none, ``metrics`` the record's metrics mapping, ``item_info`` its ``item`` mapping."""


def read_json(path: Path, what: str, messages: list[str]) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        messages.append(f"{what} {path.name} could not be read ({exc})")
        return None


def read_config(layout: RunLayout, messages: list[str]) -> dict[str, Any]:
    path = layout.resolved_config
    if not path.exists():
        messages.append(
            f"{path.name} is missing: codecs are taken from the records and no anchor is known"
        )
        return {}
    import yaml

    try:
        cfg = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        messages.append(f"{path.name} could not be read ({exc})")
        return {}
    if not isinstance(cfg, dict):
        messages.append(f"{path.name} is not a mapping")
        return {}
    return cfg


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _class(item: dict[str, Any]) -> str | None:
    c = item.get("class")
    return None if c is None or c == "" else str(c)


def read_records(layout: RunLayout, messages: list[str]) -> pd.DataFrame:
    """Every readable record under results/, one row each (object columns: values as
    recorded), ordered by codec, point index and item name."""
    rows = []
    for path in layout.record_files():
        raw = read_json(path, "record", messages)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            messages.append(f"record {path.relative_to(layout.root)} is not a JSON object: skipped")
            continue
        codec_dir, pidx_dir, stem = RunLayout.record_key(path)
        item = raw.get("item") if isinstance(raw.get("item"), dict) else {}
        item = {"name": stem, **item}
        metrics = raw.get("metrics")
        rows.append(
            {
                "codec": str(raw.get("codec") or codec_dir),
                "point_index": _int(raw.get("point_index"), _int(pidx_dir, 0)),
                "point": raw.get("point"),
                "item": str(item.get("name", item.get("id", ""))),
                "item_id": item.get("id"),
                "class": _class(item),
                "status": raw.get("status"),
                "error": raw.get("error"),
                **{k: raw.get(k) for k in RAW_FIELDS},
                "metrics": metrics if isinstance(metrics, dict) else {},
                "detections": raw.get("detections"),
                "item_info": item,
            }
        )
    frame = pd.DataFrame(
        {c: pd.Series([r[c] for r in rows], dtype=object) for c in RECORD_COLUMNS},
        columns=list(RECORD_COLUMNS),
    )
    frame["point_index"] = frame["point_index"].astype("int64")
    return frame.sort_values(["codec", "point_index", "item"], kind="stable", ignore_index=True)
