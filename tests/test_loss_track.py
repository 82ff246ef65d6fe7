"""The CTC loss track: config checks, seeds, and a small real run on COCO with YOLOX-Nano."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vcmref.ctc.config import ConfigError, load_config
from vcmref.ctc.jobs import Job
from vcmref.ctc.loss_track import (
    channel_label,
    loss_seed,
    parse_loss,
    run_loss_track,
    write_loss_report,
)

GOOD = {"channels": [{"model": "iid"}, {"model": "ge", "burst": 3}], "p": [0.1, 0.3],
        "methods": ["zero", {"altec": {"weights": "shipped"}}], "runs": 2, "seed": 5}


def test_a_good_section_is_read() -> None:
    s = parse_loss(GOOD)
    assert s.p == [0.1, 0.3] and s.runs == 2 and s.seed == 5
    assert s.methods == {"zero": {}, "altec": {"weights": "shipped"}}
    assert [channel_label(c) for c in s.channels] == ["iid", "ge-burst3"]


@pytest.mark.parametrize("change, message", [
    ({"p": [0.1, 1.0]}, r"loss.p: expected a non-empty list of loss probabilities in \[0, 1\)"),
    ({"methods": ["zero", "magic"]}, r"loss.methods\[1\]: .*magic"),
    ({"methods": ["zero", "zero"]}, r"loss.methods\[1\]: expected each method once"),
    ({"methods": [{"silrtc": {"max_iterations": 0}}]}, r"loss.methods\[0\]: .*max_iterations"),
    ({"channels": [{"model": "ge", "burst": 1}], "p": [0.6]},
     r"loss.channels\[0\] at p=0.6: .*impossible"),
    ({"channels": [{"model": "carrier-pigeon"}]}, r"loss.channels\[0\] at p=0.1: .*"),
    ({"runs": 0}, r"loss.runs: expected an integer >= 1, got 0"),
    ({"seed": -1}, r"loss.seed: expected an integer >= 0"),
    ({"bursts": [3]}, r"loss.bursts: expected one of channels, p, methods"),
])
def test_bad_sections_say_what_is_expected(change, message) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        parse_loss({**GOOD, **change})
    assert "\n" not in str(e.value)


def test_the_shipped_config_loads_and_needs_a_feature_codec(tmp_path) -> None:
    cfg = load_config("resilience_coco")
    assert parse_loss(cfg.raw["loss"]).runs == 3
    import yaml

    doc = yaml.safe_load((Path(__file__).parents[1] / "vcmref/ctc/configs/vcm_coco_images.yaml")
                         .read_text())
    doc["loss"] = GOOD
    path = tmp_path / "images.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="loss: expected a config with a feature codec"):
        load_config(path)


def test_seeds_name_every_damaged_stream() -> None:
    job = Job("vcmref", 0, 0.4, 1, "a")
    seeds = {loss_seed(1, job, c, p, r) for c in (0, 1) for p in (0.1, 0.3) for r in (0, 1)}
    assert len(seeds) == 8
    assert loss_seed(1, job, 0, 0.1, 0) == loss_seed(1, job, 0, 0.1, 0)
    assert loss_seed(2, job, 0, 0.1, 0) != loss_seed(1, job, 0, 0.1, 0)


def _run(tmp_path: Path, name: str):
    from vcmref.ctc.runner import run
    from vcmref.tasks.model_files import default_model_path

    cfg = load_config("resilience_coco", [
        "dataset.count=2", "loss.p=[0.3]", "loss.runs=2", "loss.channels=[{model: iid}]",
        "loss.methods=[zero, bilinear]"])
    if not (Path(cfg.dataset.annotations).is_file() and default_model_path().is_file()):
        pytest.skip("shared COCO subset or YOLOX-Nano model not found (set VCMREF_SHARED)")
    run_dir = tmp_path / name
    assert not run(cfg, run_dir, workers=1).failed
    return cfg, run_dir


def test_a_small_loss_track_is_deterministic_and_resumes(tmp_path) -> None:
    from vcmref.ctc.report import write_report

    cfg, a = _run(tmp_path, "a")
    total, skipped, failed = run_loss_track(cfg, a, workers=1)
    assert (total, skipped, failed) == (2, 0, [])
    assert run_loss_track(cfg, a, workers=1)[1] == 2  # resumed: nothing left to do
    paths = write_loss_report(a)
    rows = list(csv.DictReader(paths["loss_map.csv"].read_text().splitlines()))
    assert [(r["channel"], r["p"], r["method"]) for r in rows] == [
        ("iid", "0.0", "bilinear"), ("iid", "0.0", "zero"),
        ("iid", "0.3", "bilinear"), ("iid", "0.3", "zero")]
    ordinary = {r["codec"]: r for r in csv.DictReader(
        write_report(a)["per_point.csv"].read_text().splitlines()) if r["class"] == "all"}
    for r in rows[:2]:  # p = 0 is the ordinary decode, at the ordinary report's rate and mAP
        assert float(r["lost_fraction"]) == 0 and r["mAP_ci95"] == ""
        assert float(r["mAP"]) == pytest.approx(float(ordinary["vcmref"]["mAP"]))
    for r in rows[2:]:
        assert r["runs"] == "2" and r["items"] == "2" and r["mAP_ci95"] != ""
        assert 0.2 < float(r["lost_fraction"]) < 0.4
        assert 0 <= float(r["mAP"]) <= 1
    for r in rows:
        assert float(r["rate"]) == pytest.approx(float(ordinary["vcmref"]["bpp"]))
    assert {"loss_map.png", "loss_rd.png"} <= set(paths)
    assert paths["loss_rd.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    times = list(csv.DictReader(paths["loss_recovery_time.csv"].read_text().splitlines()))
    assert {(t["method"], t["tensor"]) for t in times} == {
        (m, t) for m in ("zero", "bilinear") for t in ("dark3", "dark4", "dark5")}
    # the same config in another run directory: the same losses and the same scores
    _, b = _run(tmp_path, "b")
    run_loss_track(cfg, b, workers=2)
    for rec_a in sorted((a / "loss").rglob("*.json")):
        rec_b = b / rec_a.relative_to(a)
        ea, eb = json.loads(rec_a.read_text())["entries"], json.loads(rec_b.read_text())["entries"]
        assert [e["lost_units"] for e in ea] == [e["lost_units"] for e in eb]
        assert [e["methods"]["zero"]["detections"] for e in ea] == \
            [e["methods"]["zero"]["detections"] for e in eb]
    assert (write_loss_report(b)["loss_map.csv"].read_text()
            == paths["loss_map.csv"].read_text())
