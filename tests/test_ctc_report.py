"""CTC run reports (vcmref.ctc.report) on synthetic run directories."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import yaml

from vcmref.ctc.report import ALL, BD_METHODS, REPORT_FILES, build_report, write_report
from vcmref.tasks.inference import PSEUDO_GT_KEY

ANCHOR_BITS = [10_000, 20_000, 40_000, 80_000]  # per item at points 0..3 (before the offset)


def record(codec: str, pidx: int, item: dict, *, bits: int, metrics: dict | None = None,
           status: str = "ok", detections: list | None = None, point: float | None = None,
           encode_s: float = 1.0, decode_s: float = 0.5) -> dict:
    pixels = item["width"] * item["height"] * item["frames"]
    ok = status == "ok"
    return {
        "schema": 1, "codec": codec, "kind": "test", "rate_parameter": "qp",
        "point": point if point is not None else 40 - 5 * pidx, "point_index": pidx,
        "item": item, "status": status, "error": None if ok else "encoder crashed",
        "bits": bits if ok else None, "pixels": pixels, "samples": pixels * 3,
        "bpp": bits / pixels if ok else None, "bits_per_sample": bits / pixels / 3 if ok else None,
        "kbps": None, "encode_s": encode_s, "decode_s": decode_s, "eval_s": 0.1,
        "metrics": (metrics or {}) if ok else {}, "detections": detections if ok else None,
    }


def item(i: int, cls: str | None = None, frames: int = 1, frame_rate: float | None = None,
         width: int = 64, height: int = 48) -> dict:
    return {"id": 1000 + i, "name": f"item{i:02d}", "width": width, "height": height,
            "frames": frames, "frame_rate": frame_rate, "class": cls}


def make_run(root: Path, records: list[dict], *, anchor: str | None = "anchor",
             codecs: tuple[str, ...] = ("anchor", "test"), gt: dict | None = None,
             name: str = "synthetic", extra: dict | None = None) -> Path:
    run = root / "run"
    run.mkdir()
    cfg = {"name": name, "anchor": anchor,
           "codecs": {c: {"kind": "test", "rate_parameter": "qp", "points": [40, 35, 30, 25]}
                      for c in codecs},
           "metrics": ["psnr_y", "psnr_rgb"], **(extra or {})}
    (run / "config.resolved.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (run / "provenance.json").write_text(json.dumps({"vcmref": "0.1.0", "numpy": "x"}))
    if gt is not None:
        (run / "ground_truth.json").write_text(json.dumps(gt))
    for rec in records:
        path = run / "results" / rec["codec"] / str(rec["point_index"]) / \
            f"{rec['item']['name']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
    return run


def rd_records(codec: str, scale: float, items: list[dict], points: int = 4,
               failed: set[tuple[int, int]] = frozenset(), psnr_y: bool = False) -> list[dict]:
    """PSNR rises with rate; the test codec spends `scale` x the anchor's bits for it."""
    recs = []
    for p in range(points):
        for k, it in enumerate(items):
            bits = int(round((ANCHOR_BITS[p] + 1000 * k) * scale))
            psnr = 30.0 + 3.0 * p + 0.5 * k
            status = "failed" if (p, k) in failed else "ok"
            recs.append(record(codec, p, it, bits=bits, status=status,
                               metrics={"psnr_y": psnr + 1.0, "psnr_rgb": psnr} if psnr_y
                               else {"psnr_rgb": psnr}))
    return recs


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------


def test_bd_rate_minus_ten_percent_every_method(tmp_path):
    items = [item(i) for i in range(3)]
    run = make_run(tmp_path, rd_records("anchor", 1.0, items, psnr_y=True)
                   + rd_records("test", 0.9, items, psnr_y=True))
    rep = build_report(run)
    assert rep.anchor == "anchor" and rep.codecs == ["anchor", "test"]
    assert rep.metrics == ["psnr_y", "psnr_rgb"] and rep.rate_unit == "bpp"
    rows = [r for r in rep.bd_rate.rows if r["class"] == ALL]
    assert {(r["metric"], r["method"]) for r in rows} == {
        (m, meth) for m in ("psnr_y", "psnr_rgb") for meth in BD_METHODS}
    assert [r["method"] for r in rows[:3]] == ["pchip-jctvc", "cubic-m33", "akima"]
    for r in rows:
        assert r["bd_rate_pct"] == pytest.approx(-10.0, abs=1e-6), r
        assert r["warnings"] == ""
        assert r["bd_rate_refit_pct"] is None  # refit only for task metrics

    # per point: bpp = total bits / total pixels, PSNR = mean of the items
    pp = [r for r in rep.per_point.rows if r["codec"] == "anchor" and r["point_index"] == 1]
    assert len(pp) == 1
    bits = sum(20_000 + 1000 * k for k in range(3))
    assert pp[0]["bpp"] == pytest.approx(bits / (3 * 64 * 48))
    assert pp[0]["bits_per_sample"] == pytest.approx(bits / (3 * 64 * 48 * 3))
    assert pp[0]["psnr_rgb"] == pytest.approx(33.5)
    assert pp[0]["items"] == 3 and pp[0]["failed"] == 0 and pp[0]["kbps"] is None

    paths = write_report(run)
    assert set(paths) == set(REPORT_FILES)
    assert all(p.parent == run / "report" for p in paths.values())
    bd = read_csv(paths["bd_rate.csv"])
    assert float(bd[0]["bd_rate_pct"]) == pytest.approx(-10.0, abs=1e-6)
    per_item = read_csv(paths["per_item.csv"])
    assert len(per_item) == 24 and per_item[0]["codec"] == "anchor"
    assert not list((run / "report").glob(".*.part"))


def test_references_give_bd_rates_against_a_second_anchor(tmp_path):
    items = [item(i) for i in range(3)]
    run = make_run(tmp_path, rd_records("anchor", 1.0, items) + rd_records("test", 0.9, items)
                   + rd_records("route", 0.5, items), codecs=("anchor", "test", "route"),
                   extra={"references": ["route"]})
    rows = [r for r in build_report(run).bd_rate.rows
            if r["class"] == ALL and r["metric"] == "psnr_rgb" and r["method"] == "pchip-jctvc"]
    got = {(r["anchor"], r["test_codec"]): r["bd_rate_pct"] for r in rows}
    assert got == pytest.approx({("anchor", "test"): -10.0, ("anchor", "route"): -50.0,
                                 ("route", "anchor"): 100.0, ("route", "test"): 80.0})


def test_config_references_must_be_other_codecs(tmp_path):
    from vcmref.ctc.config import ConfigError, parse_config

    doc = {"name": "r", "dataset": {"kind": "folder", "images": str(tmp_path)},
           "metrics": ["psnr_rgb"], "anchor": "a",
           "codecs": {c: {"kind": "image-anchor", "rate_parameter": "qp", "points": [30, 40]}
                      for c in ("a", "b")}}
    assert parse_config({**doc, "references": ["b"]}).references == ["b"]
    for bad in (["a"], ["c"], ["b", "b"]):
        with pytest.raises(ConfigError, match=r"references\["):
            parse_config({**doc, "references": bad})


def test_deterministic_and_xlsx_and_html(tmp_path):
    from openpyxl import load_workbook

    items = [item(i) for i in range(3)]
    run = make_run(tmp_path, rd_records("anchor", 1.0, items, psnr_y=True)
                   + rd_records("test", 0.8, items, psnr_y=True))
    first = {k: p.read_bytes() for k, p in write_report(run).items()}
    second = {k: p.read_bytes() for k, p in write_report(run).items()}
    assert first == second

    wb = load_workbook(run / "report" / "report.xlsx")
    assert wb.sheetnames == ["per_item", "per_point", "bd_rate", "mpeg_ctc", "failures"]
    ws = wb["per_point"]
    assert ws["A1"].value == "codec" and ws["A1"].font.bold
    header = [c.value for c in ws[1]]
    bpp = ws.cell(row=2, column=header.index("bpp") + 1).value
    assert isinstance(bpp, float) and bpp > 0
    assert isinstance(ws.cell(row=2, column=header.index("items") + 1).value, int)

    page = first["report.html"].decode()
    assert "<title>CTC report: synthetic</title>" in page
    assert page.count('<img alt="') == 2  # psnr_y and psnr_rgb
    assert 'src="data:image/png;base64,iVBOR' in page
    assert "<details><summary>Provenance</summary>" in page and "0.1.0" in page
    assert "No failed jobs." in page

    mpeg = read_csv(run / "report" / "mpeg_ctc.csv")
    assert list(mpeg[0]) == ["Codec", "Sequence", "QP", "bpp", "psnr_y", "psnr_rgb",
                             "EncT (s)", "DecT (s)"]
    assert [r["Codec"] for r in mpeg] == ["anchor"] * 4 + ["test"] * 4
    assert mpeg[0]["QP"] == "40" and float(mpeg[0]["EncT (s)"]) == 3.0  # summed over items


def test_failures_excluded_and_listed(tmp_path):
    items = [item(i) for i in range(3)]
    recs = rd_records("anchor", 1.0, items) + rd_records("test", 0.9, items, failed={(2, 1)})
    run = make_run(tmp_path, recs)
    rep = build_report(run)
    assert [(f["codec"], f["point_index"], f["item"]) for f in rep.failures] == [
        ("test", 2, "item01")]
    row = next(r for r in rep.per_point.rows if r["codec"] == "test" and r["point_index"] == 2)
    assert row["items"] == 2 and row["failed"] == 1
    assert row["bits"] == pytest.approx(0.9 * (40_000 + 42_000))
    assert row["psnr_rgb"] == pytest.approx(36.0 + 0.5)  # mean of items 0 and 2
    bd = rep.bd_rate.rows[0]
    assert bd["bd_rate_pct"] is not None and "incomplete" in bd["warnings"]
    write_report(run)
    page = (run / "report" / "report.html").read_text()
    assert "Failures (1)" in page and "encoder crashed" in page
    failures = [r for r in read_csv(run / "report" / "per_item.csv") if r["status"] != "ok"]
    assert len(failures) == 1 and failures[0]["error"] == "encoder crashed"


def test_missing_pieces_do_not_crash(tmp_path):
    items = [item(i) for i in range(2)]
    # a test codec with one point and no anchor records at all
    recs = rd_records("test", 0.9, items, points=1) + rd_records("other", 1.1, items)
    run = make_run(tmp_path, recs, codecs=("anchor", "test", "other"))
    rep = build_report(run)
    assert rep.codecs == ["anchor", "test", "other"]
    for r in rep.bd_rate.rows:
        assert r["bd_rate_pct"] is None
        assert "no anchor records" in r["warnings"]
    write_report(run)

    # anchor present: the one-point codec says how many points the method needs
    (tmp_path / "b").mkdir()
    recs = rd_records("anchor", 1.0, items) + rd_records("test", 0.9, items, points=1)
    rep = build_report(make_run(tmp_path / "b", recs))
    for r in rep.bd_rate.rows:
        assert r["bd_rate_pct"] is None
        assert "needs at least" in r["warnings"], r["warnings"]
    write_report(rep.run_dir)

    # no config, no records
    (tmp_path / "c").mkdir()
    rep = build_report(tmp_path / "c")
    assert rep.bd_rate.rows == [] and any("no job records" in m for m in rep.messages)
    paths = write_report(tmp_path / "c")
    assert "no anchor" in paths["report.html"].read_text()


def test_classes_and_video_kbps(tmp_path):
    # class A: two 2 s / 1 s sequences at 30 fps; class B: one 4 s sequence at 25 fps
    items = [item(0, "A", frames=60, frame_rate=30.0), item(1, "A", frames=30, frame_rate=30.0),
             item(2, "B", frames=100, frame_rate=25.0)]
    run = make_run(tmp_path, rd_records("anchor", 1.0, items) + rd_records("test", 0.9, items))
    rep = build_report(run)
    assert rep.rate_unit == "kbps" and rep.classes == ["A", "B", ALL]
    a0 = next(r for r in rep.per_point.rows
              if r["codec"] == "anchor" and r["class"] == "A" and r["point_index"] == 0)
    assert a0["items"] == 2 and a0["duration_s"] == pytest.approx(3.0)
    assert a0["kbps"] == pytest.approx((10_000 + 11_000) / 3.0 / 1000)  # duration-weighted
    all0 = next(r for r in rep.per_point.rows
                if r["codec"] == "anchor" and r["class"] == ALL and r["point_index"] == 0)
    assert all0["kbps"] == pytest.approx((10_000 + 11_000 + 12_000) / 7.0 / 1000)
    groups = {r["class"] for r in rep.bd_rate.rows}
    assert groups == {"A", "B", ALL}
    for r in rep.bd_rate.rows:
        assert r["rate_unit"] == "kbps"
        assert r["bd_rate_pct"] == pytest.approx(-10.0, abs=1e-6)

    # a rate option picks bits per sample instead
    (tmp_path / "b").mkdir()
    run = make_run(tmp_path / "b", rd_records("anchor", 1.0, items)
                   + rd_records("test", 0.9, items), extra={"rate": "bits_per_sample"})
    rep = build_report(run)
    assert rep.rate_unit == "bits_per_sample"
    assert rep.bd_rate.rows[0]["bd_rate_pct"] == pytest.approx(-10.0, abs=1e-6)
    mpeg = write_report(run)["mpeg_ctc.csv"]
    assert read_csv(mpeg)[0]["Sequence"] == "A" and "Bits per sample" in read_csv(mpeg)[0]


def _gt(pseudo: bool) -> dict:
    info = ({"description": "pseudo ground truth (task fidelity): toy detector",
             PSEUDO_GT_KEY: True} if pseudo else {})
    return {"info": info,
            "images": [{"id": 1000, "width": 64, "height": 48, "file_name": "a"},
                       {"id": 1001, "width": 64, "height": 48, "file_name": "b"}],
            "annotations": [
                {"id": 1, "image_id": 1000, "category_id": 1, "bbox": [10, 10, 20, 20],
                 "area": 400, "iscrowd": 0},
                {"id": 2, "image_id": 1001, "category_id": 1, "bbox": [5, 5, 30, 30],
                 "area": 900, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "thing"}]}


def _task_records(codec: str, points: int, bits_scale: float) -> list[dict]:
    items = [item(0), item(1)]
    recs = []
    for p in range(points):
        # item 0: a false positive ranked above its true positive (AP 0.5 alone);
        # item 1: one true positive (AP 1 alone). Pooled: P = 2/3 at full recall.
        # Lower rate points shift the boxes (lower IoU): mAP@[.5:.95] rises with rate.
        s = 2 * (points - 1 - p)
        dets0 = [{"image_id": 1000, "category_id": 1, "bbox": [40, 30, 10, 10], "score": 0.9},
                 {"image_id": 1000, "category_id": 1, "bbox": [10 + s, 10, 20, 20],
                  "score": 0.5}]
        dets1 = [{"image_id": 1001, "category_id": 1, "bbox": [5 + s, 5, 30, 30], "score": 0.8}]
        for it, dets in zip(items, (dets0, dets1), strict=True):
            recs.append(record(codec, p, it, bits=int((1000 + 1000 * p) * bits_scale),
                               detections=dets, metrics={"psnr_rgb": 30.0 + p}))
    return recs


def test_task_map_is_pooled_not_averaged(tmp_path):
    run = make_run(tmp_path, _task_records("anchor", 4, 1.0) + _task_records("test", 4, 0.9),
                   gt=_gt(pseudo=False))
    rep = build_report(run)
    assert rep.metrics == ["mAP", "mAP50", "psnr_rgb"]
    assert rep.ground_truth_label == "ground truth" and not rep.pseudo_ground_truth
    per_item = {r["item"]: r["mAP"] for r in rep.per_item.rows
                if r["codec"] == "anchor" and r["point_index"] == 3}
    assert per_item["item00"] == pytest.approx(0.5, abs=0.01)
    assert per_item["item01"] == pytest.approx(1.0)
    point = next(r for r in rep.per_point.rows
                 if r["codec"] == "anchor" and r["point_index"] == 3)
    assert point["mAP"] == pytest.approx(2 / 3, abs=0.01)
    assert not math.isclose(point["mAP"], sum(per_item.values()) / 2, abs_tol=0.05)
    maps = [r["mAP"] for r in rep.per_point.rows if r["codec"] == "anchor"]
    assert maps == sorted(maps) and maps[0] < maps[-1]
    # same detections at 0.9 x the bits: -10 % with and without the monotone refit
    rows = [r for r in rep.bd_rate.rows if r["metric"] == "mAP" and r["class"] == ALL]
    assert [r["method"] for r in rows] == list(BD_METHODS)
    for row in rows:
        assert row["bd_rate_pct"] == pytest.approx(-10.0, abs=1e-6), row
        assert row["bd_rate_refit_pct"] == pytest.approx(-10.0, abs=1e-6), row
    psnr = next(r for r in rep.bd_rate.rows if r["metric"] == "psnr_rgb")
    assert psnr["bd_rate_pct"] == pytest.approx(-10.0, abs=1e-6)
    assert psnr["bd_rate_refit_pct"] is None
    paths = write_report(run)
    mpeg = read_csv(paths["mpeg_ctc.csv"])
    assert list(mpeg[0])[:6] == ["Codec", "Sequence", "QP", "bpp", "mAP (%)", "mAP50 (%)"]
    assert float(mpeg[3]["mAP (%)"]) == pytest.approx(100 * point["mAP"])
    page = paths["report.html"].read_text()
    assert "measured against <b>ground truth</b>" in page and "Task fidelity" not in page


def test_pseudo_ground_truth_labelled(tmp_path):
    run = make_run(tmp_path, _task_records("anchor", 3, 1.0) + _task_records("test", 3, 0.9),
                   gt=_gt(pseudo=True))
    rep = build_report(run)
    assert rep.pseudo_ground_truth
    page = write_report(run)["report.html"].read_text()
    assert 'class="gt pseudo"' in page and "Task fidelity" in page
    assert "pseudo ground truth (task fidelity): toy detector" in page


def test_tables_are_dataframes_with_plain_rows(tmp_path):
    import pandas as pd

    items = [item(i) for i in range(3)]
    recs = rd_records("anchor", 1.0, items) + rd_records("test", 0.9, items, failed={(1, 0)})
    rep = build_report(make_run(tmp_path, recs))
    pp = rep.per_point.frame
    assert isinstance(pp, pd.DataFrame) and list(pp.columns) == rep.per_point.columns
    assert str(pp["items"].dtype) == "int64" and str(pp["bits"].dtype) == "Int64"
    row = rep.per_point.rows[0]
    assert type(row["bits"]) is int and type(row["bpp"]) is float and row["kbps"] is None
    assert type(row["point"]) is int  # as recorded, not upcast to float
    failed = next(r for r in rep.per_item.rows if r["status"] == "failed")
    assert failed["bits"] is None and failed["psnr_rgb"] is None
    bd = rep.bd_rate.rows[0]
    assert type(bd["anchor_points"]) is int and type(bd["test_points"]) is int


def test_per_point_means_are_accurate_to_the_last_bit(tmp_path):
    """Per-point means come from pandas' compensated summation: within one unit in the last
    place of the exactly rounded mean (plain left-to-right sums can be further off)."""
    import math

    values = [27.13894, 31.098654996442377, 38.772]
    items = [item(i) for i in range(3)]
    recs = [record("anchor", 0, it, bits=1000, metrics={"psnr_rgb": v})
            for it, v in zip(items, values, strict=True)]
    rep = build_report(make_run(tmp_path, recs))
    exact = math.fsum(values) / 3
    assert abs(rep.per_point.rows[0]["psnr_rgb"] - exact) <= math.ulp(exact)


def test_rd_plots_use_a_log_rate_axis(tmp_path):
    from vcmref.ctc.report.plots import rd_figures

    items = [item(i) for i in range(2)]
    rep = build_report(make_run(tmp_path, rd_records("anchor", 1.0, items, psnr_y=True)
                                + rd_records("test", 0.9, items, psnr_y=True)))
    figures = rd_figures(rep)
    assert [m for m, _ in figures] == ["psnr_y", "psnr_rgb"]
    for _, fig in figures:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log" and "log scale" in ax.get_xlabel()
        assert [line.get_label() for line in ax.get_lines()] == ["anchor (anchor)", "test"]


def test_run_layout(tmp_path):
    from vcmref.ctc.jobs import Job, RunLayout, job_done

    layout = RunLayout(tmp_path / "run")
    job = Job("vvc", 2, 37, 5, "img0")
    assert layout.record(job) == tmp_path / "run" / "results" / "vvc" / "2" / "img0.json"
    assert layout.bitstream(job) == tmp_path / "run" / "bitstreams" / "vvc" / "2" / "img0.bin"
    assert layout.encode_info(job) == layout.bitstream(job).with_suffix(".json")
    assert job.result_path(tmp_path / "run") == layout.record(job)
    assert layout.resolved_config.name == "config.resolved.yaml" and not layout.is_run()
    assert layout.feature_file("img0") == layout.features / "img0.npz"
    assert RunLayout.record_key(layout.record(job)) == ("vvc", "2", "img0")
    assert not job_done(layout.root, job, "all")

    # the report reads what the layout names, and writes to layout.report
    items = [item(i) for i in range(2)]
    (tmp_path / "x").mkdir()
    run = make_run(tmp_path / "x", rd_records("anchor", 1.0, items))
    records = RunLayout(run).record_files()
    assert len(records) == 8 and records == sorted(records)
    assert RunLayout(run).is_run()
    assert set(write_report(run).values()) <= set(RunLayout(run).report.iterdir())
