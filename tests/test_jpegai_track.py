"""The JPEG AI track: its shipped configs, and the average of the seven metrics' BD-rates that
the report adds where a run measures them all."""

from __future__ import annotations

import pytest

from vcmref.ctc.config import load_config
from vcmref.ctc.report.bd import JPEG_AI_AVERAGE, bd_table
from vcmref.eval.iqa.jpeg_ai import JPEG_AI_AVERAGED, JPEG_AI_METRICS


def test_shipped_configs_name_the_metric_set_and_the_targets() -> None:
    kodak = load_config("jpegai_kodak")
    assert set(JPEG_AI_METRICS) <= set(kodak.metrics)
    assert kodak.anchor == "vvc"
    for name in ("vvc", "hevc", "jpeg"):
        assert kodak.codecs[name].target_bpp == [0.06, 0.12, 0.25, 0.5, 0.75]
    assert kodak.codecs["jpeg2000"].points == [400, 200, 96, 48, 32]  # 24 / ratio bpp
    assert kodak.codecs["learned"].kind == "compressai"
    coco = load_config("jpegai_coco_detection")
    assert "map" in coco.metrics and coco.task is not None and coco.task.split is None


def _per_point(metric_curves: dict[str, tuple[list[float], list[float]]]):
    import pandas as pd

    rows = []
    for codec, scale in (("anchor", 1.0), ("test", 0.8)):  # the test needs 20% less rate
        for k, rate in enumerate([0.1, 0.2, 0.4, 0.8]):
            row = {"codec": codec, "class": "all", "point_index": k, "point": k,
                   "bpp": rate * scale, "failed": 0, "missing": 0, "items": 4}
            for m in metric_curves:
                row[m] = 30 + 6 * k if m != "nlpd" else 0.5 - 0.1 * k
            rows.append(row)
    return pd.DataFrame(rows)


def test_average_of_the_seven_bd_rates() -> None:
    metrics = list(JPEG_AI_AVERAGED)
    messages: list[str] = []
    table = bd_table("anchor", ["anchor", "test"], ["all"], metrics, [], "bpp",
                     _per_point(dict.fromkeys(metrics)), messages)
    rows = table.rows
    avg = [r for r in rows if r["metric"] == JPEG_AI_AVERAGE and r["method"] == "pchip-jctvc"]
    assert len(avg) == 1
    each = [r["bd_rate_pct"] for r in rows
            if r["metric"] in JPEG_AI_AVERAGED and r["method"] == "pchip-jctvc"]
    assert len(each) == 7 and all(v == pytest.approx(-20.0, abs=1e-6) for v in each)
    assert avg[0]["bd_rate_pct"] == pytest.approx(-20.0, abs=1e-6)


def test_no_average_without_all_seven() -> None:
    metrics = list(JPEG_AI_AVERAGED[:6])
    table = bd_table("anchor", ["anchor", "test"], ["all"], metrics, [], "bpp",
                     _per_point(dict.fromkeys(metrics)), [])
    assert not [r for r in table.rows if r["metric"] == JPEG_AI_AVERAGE]
