"""The CTC runner on small real runs: configs validated with clear messages, jobs resumable
after a real kill, the Dask path on a LocalCluster, repeatable results, failures recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vcmref.cli import app
from vcmref.ctc.config import ConfigError, load_config, parse_config
from vcmref.ctc.runner import failures, run


def _images(folder: Path, count: int = 2, size: tuple[int, int] = (96, 64)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[: size[1], : size[0]]
    for k in range(count):
        rgb = np.stack([(x * (3 + k)) % 256, (y * 5 + 40 * k) % 256, (x + y) % 256], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"img{k}.png")
    return folder


def _doc(images: Path, points: int = 3) -> dict:
    return {
        "name": "tiny", "description": "test",
        "dataset": {"kind": "folder", "images": str(images)},
        "metrics": ["psnr_rgb", "psnr_y"],
        "anchor": "hevc",
        "codecs": {
            "hevc": {"kind": "image-anchor", "rate_parameter": "qp",
                     "points": [27, 32, 37, 42][:points],
                     "params": {"codec": "x265", "bit_depth": 8,
                                "codec_options": {"preset": "ultrafast"}}},
            "vcmref": {"kind": "vcmref-image", "rate_parameter": "step",
                       "points": [4, 8, 16, 32][:points],
                       "params": {"quant": "step", "bit_depth": 9}},
        },
    }


def _records(run_dir: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(run_dir.glob("results/*/*/*.json")):
        rec = json.loads(path.read_text())
        for key in ("encode_s", "decode_s", "eval_s"):
            rec.pop(key, None)
        out[str(path.relative_to(run_dir))] = rec
    return out


def test_run_writes_one_record_per_job_and_resumes(tmp_path) -> None:
    cfg = parse_config(_doc(_images(tmp_path / "img")), "tiny.yaml")
    first = run(cfg, tmp_path / "run")
    assert (first.total, first.skipped, first.done, first.failed) == (12, 0, 12, [])
    records = _records(tmp_path / "run")
    assert len(records) == 12
    rec = records["results/hevc/0/img0.json"]
    assert rec["status"] == "ok" and rec["bits"] > 0 and rec["pixels"] == 96 * 64
    assert rec["bpp"] == rec["bits"] / rec["pixels"]
    assert 25 < rec["metrics"]["psnr_rgb"] < 80
    assert (tmp_path / "run" / "bitstreams" / "hevc" / "0" / "img0.bin").stat().st_size * 8 \
        == rec["bits"]
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["versions"]["numpy"] and prov["encoders"]["ffmpeg"]["version"]
    assert prov["encoders"]["ffmpeg"]["encoders"]["libvvenc"][0].isdigit()
    assert prov["encoders"]["ffmpeg"]["encoders"]["libx265"][0].isdigit()
    again = run(cfg, tmp_path / "run")
    assert (again.skipped, again.done) == (12, 0)


def test_repeated_runs_give_identical_results(tmp_path) -> None:
    cfg = parse_config(_doc(_images(tmp_path / "img"), points=2), "tiny.yaml")
    run(cfg, tmp_path / "a")
    run(cfg, tmp_path / "b")
    assert _records(tmp_path / "a") == _records(tmp_path / "b")
    for path in (tmp_path / "a" / "bitstreams").rglob("*.bin"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_encode_then_evaluate_equals_all(tmp_path) -> None:
    cfg = parse_config(_doc(_images(tmp_path / "img"), points=2), "tiny.yaml")
    enc = run(cfg, tmp_path / "split", phase="encode")
    assert enc.done == 8 and not list((tmp_path / "split").glob("results/*/*/*.json"))
    run(cfg, tmp_path / "split", phase="evaluate")
    run(cfg, tmp_path / "whole")
    assert _records(tmp_path / "split") == _records(tmp_path / "whole")


def test_a_failing_job_is_recorded_and_the_others_run(tmp_path) -> None:
    doc = _doc(_images(tmp_path / "img"), points=2)
    # valid as declared, but the encoder refuses it for a 3-channel image
    doc["codecs"]["vcmref"]["params"]["layers"] = 4
    summary = run(parse_config(doc, "tiny.yaml"), tmp_path / "run")
    assert len(summary.failed) == 4 and summary.done == 8
    assert all("would carry no channel" in err for _, err in summary.failed)
    assert len(failures(tmp_path / "run")) == 4
    ok = [r for r in _records(tmp_path / "run").values() if r["status"] == "ok"]
    assert len(ok) == 4


def test_killed_run_resumes_without_redoing_finished_jobs(tmp_path) -> None:
    """A real SIGKILL in the middle of a run: the restart keeps every finished record."""
    cfg_path = tmp_path / "tiny.yaml"
    import yaml

    doc = _doc(_images(tmp_path / "img", count=4, size=(160, 128)), points=4)
    cfg_path.write_text(yaml.safe_dump(doc))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "vcmref", "ctc", str(cfg_path), "--run-dir", str(run_dir),
           "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(list(run_dir.glob("results/*/*/*.json"))) >= 5:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: (p.stat().st_mtime_ns, p.read_bytes())
                for p in run_dir.glob("results/*/*/*.json")}
    assert 5 <= len(finished) < 32, "the run must be killed in the middle"
    summary = run(load_config(cfg_path), run_dir)
    assert summary.skipped == len(finished) and summary.done == 32 - len(finished)
    assert not summary.failed
    for path, (mtime, data) in finished.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == data
    assert len(list(run_dir.glob("results/*/*/*.json"))) == 32
    assert not list(run_dir.rglob(".*.part"))


def test_two_local_workers(tmp_path) -> None:
    cfg = parse_config(_doc(_images(tmp_path / "img"), points=2), "tiny.yaml")
    summary = run(cfg, tmp_path / "pool", workers=2)
    assert summary.done == 8 and not summary.failed
    run(cfg, tmp_path / "serial")
    assert _records(tmp_path / "pool") == _records(tmp_path / "serial")


def test_dask_local_cluster(tmp_path) -> None:
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    cfg = parse_config(_doc(_images(tmp_path / "img"), points=2), "tiny.yaml")
    summary = run(cfg, tmp_path / "dask", workers=2, scheduler="local")
    assert summary.done == 8 and not summary.failed
    run(cfg, tmp_path / "serial")
    assert _records(tmp_path / "dask") == _records(tmp_path / "serial")


@pytest.mark.parametrize("change,message", [
    (lambda d: d.update(anchor="vvc"), "anchor: expected the name of one of the codecs"),
    (lambda d: d["codecs"]["hevc"].update(kind="h267"), "codecs.hevc.kind: expected one of"),
    (lambda d: d["codecs"]["hevc"].update(points=[]), "codecs.hevc.points: expected a non-empty"),
    (lambda d: d.update(metrics=["psnr", "map"]), "metrics[0]: expected one of"),
    (lambda d: d.update(metrics=["map"]), "metrics[0]: expected a task section"),
    (lambda d: d.update(colour="red"), "colour: unknown key"),
    (lambda d: d["dataset"].update(count=0), "dataset.count: expected an integer >= 1"),
    (lambda d: d["codecs"]["vcmref"].update(kind="vcmref-features"),
     "codecs.vcmref.kind: expected an image codec kind when task.split is not set"),
])
def test_config_errors_name_the_key(tmp_path, change, message) -> None:
    doc = _doc(tmp_path)
    change(doc)
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "my.yaml")
    assert str(info.value).startswith("my.yaml: ") and message in str(info.value)


def test_shipped_configs_load_and_overrides_apply() -> None:
    for name in ("fcm_coco_detection", "vcm_coco_images", "human_kodak", "human_video",
                 "demo", "demo_machine", "jpegai_kodak", "jpegai_coco_detection"):
        assert load_config(name).codecs
    cfg = load_config("fcm_coco_detection", ["dataset.count=2", "codecs.vcmref.points=[0.5]"])
    assert cfg.dataset.count == 2 and cfg.codecs["vcmref"].points == [0.5]
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        load_config("demo", ["oops"])
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("nope")


def test_run_dir_of_another_config_is_refused(tmp_path) -> None:
    images = _images(tmp_path / "img")
    run(parse_config(_doc(images, points=1), "tiny.yaml"), tmp_path / "run")
    with pytest.raises(ConfigError, match="holds a run of another configuration"):
        run(parse_config(_doc(images, points=2), "tiny.yaml"), tmp_path / "run")


def test_cli_ctc_and_report(tmp_path) -> None:
    import yaml

    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(_doc(_images(tmp_path / "img"), points=3)))
    res = CliRunner().invoke(app, ["ctc", str(cfg_path), "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "12 jobs" in res.output and "report:" in res.output
    assert (tmp_path / "r" / "report" / "report.html").is_file()
    res = CliRunner().invoke(app, ["report", str(tmp_path / "r")])
    assert res.exit_code == 0 and "html" in res.output
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 1 and "not a CTC run directory" in res.output
    res = CliRunner().invoke(app, ["ctc", str(cfg_path), "--set", "anchor=nope"])
    assert res.exit_code == 1 and "anchor: expected" in res.output


def test_fcm_track_on_coco_gives_tables_and_bd_rate(tmp_path) -> None:
    """The FCM-style track, on 2 COCO images: the tables exist, the vcmref codec has a BD-rate
    against the VVC feature anchor (feature PSNR) and BD rows for mAP with their warnings; the
    hybrid's streams are the anchor's plus the restoration_model unit; the image route is a
    second reference."""
    from vcmref.ctc.report import write_report
    from vcmref.tasks.model_files import default_model_path

    cfg = load_config("fcm_coco_detection", [
        "dataset.count=2", "codecs.vvc-feature-anchor.points=[27,32,37,42]",
        "codecs.vcmref.points=[0.4,0.8,1.6,3.2]", "codecs.vcmref-hybrid.points=[32,42]",
        "codecs.image-route.points=[32,42]"])
    if not (Path(cfg.dataset.annotations).is_file() and default_model_path().is_file()):
        pytest.skip("shared COCO subset or YOLOX-Nano model not found (set VCMREF_SHARED)")
    summary = run(cfg, tmp_path / "fcm", workers=2)
    assert summary.done == 24 and not summary.failed
    paths = write_report(tmp_path / "fcm")
    import csv

    rows = list(csv.DictReader(paths["bd_rate.csv"].read_text().splitlines()))
    psnr = [r for r in rows if r["test_codec"] == "vcmref" and r["metric"] == "feature_psnr"
            and r["class"] == "all" and r["anchor"] == "vvc-feature-anchor"]
    assert {r["method"] for r in psnr} == {"pchip-jctvc", "cubic-m33", "akima"}
    assert all(r["bd_rate_pct"] for r in psnr)
    assert any(r["metric"] == "mAP" for r in rows)
    assert {(r["anchor"], r["test_codec"]) for r in rows if r["anchor"] == "image-route"} == {
        ("image-route", c) for c in ("vvc-feature-anchor", "vcmref-hybrid", "vcmref")}
    per_point = list(csv.DictReader(paths["per_point.csv"].read_text().splitlines()))
    assert {r["codec"] for r in per_point} == {"vvc-feature-anchor", "vcmref-hybrid",
                                               "image-route", "vcmref"}
    assert all(0 <= float(r["mAP"]) <= 1 for r in per_point if r["class"] == "all")
    image = [r for r in per_point if r["codec"] == "image-route"]
    assert image and all(r["feature_psnr"] == "" for r in image)  # no features to compare
    per_item = list(csv.DictReader(paths["per_item.csv"].read_text().splitlines()))
    bits = {(r["codec"], r["point"], r["item"]): int(r["bits"]) for r in per_item}
    for (codec, point, item), b in bits.items():
        if codec == "vcmref-hybrid":  # + unit header and payload of restoration_model
            assert b == bits[("vvc-feature-anchor", point, item)] + 8 * (6 + 33)


def test_classes_group_items_in_the_report(tmp_path) -> None:
    from vcmref.ctc.report import write_report

    doc = _doc(_images(tmp_path / "img", count=3), points=2)
    doc["dataset"]["classes"] = {"A": ["img0", "img1"], "B": ["img2"]}
    run(parse_config(doc, "tiny.yaml"), tmp_path / "run")
    rec = json.loads((tmp_path / "run" / "results" / "hevc" / "0" / "img2.json").read_text())
    assert rec["item"]["class"] == "B"
    paths = write_report(tmp_path / "run")
    classes = {line.split(",")[1] for line in paths["per_point.csv"].read_text().splitlines()[1:]}
    assert classes == {"A", "B", "all"}
    doc["dataset"]["classes"] = {"A": ["img0"], "B": ["img0"]}
    with pytest.raises(ConfigError, match="dataset.classes.B: expected item names in one class"):
        parse_config(doc, "tiny.yaml")
    doc["dataset"]["classes"] = {"A": ["nope"]}
    with pytest.raises(ConfigError, match="no item named nope"):
        run(parse_config(doc, "tiny.yaml"), tmp_path / "other")


def test_video_track_reports_kbps(tmp_path) -> None:
    """A y4m sequence (4:2:0 8-bit, 25 fps) coded at 10 bits by two anchors: records carry
    frames and frame rate, kbps = bits x fps / frames / 1000, and BD-rates use kbps."""
    from vcmref.ctc.report import write_report
    from vcmref.eval.datasets.video import write_y4m
    from vcmref.media.yuv import YuvSequence

    rng = np.random.default_rng(5)
    y, x = np.mgrid[:64, :96]
    luma = np.stack([(x * 2 + y + 3 * k) % 256 for k in range(4)]).astype(np.uint16)
    luma = np.clip(luma + rng.integers(0, 8, luma.shape), 0, 255).astype(np.uint16)
    chroma = np.full((4, 32, 48), 128, np.uint16)
    write_y4m(tmp_path / "seq.y4m", YuvSequence((luma, chroma, chroma), "420", 8, 25.0))
    doc = {"name": "video", "dataset": {"kind": "video", "videos": [str(tmp_path / "seq.y4m")]},
           "metrics": ["psnr_y", "psnr_yuv"], "anchor": "vvc", "codecs": {
               "vvc": {"kind": "video-anchor", "rate_parameter": "qp", "points": [27, 32, 37],
                       "params": {"codec": "vvenc", "bit_depth": 10,
                                  "codec_options": {"intra_period": 4}}},
               "hevc": {"kind": "video-anchor", "rate_parameter": "qp", "points": [27, 32, 37],
                        "params": {"codec": "x265", "bit_depth": 10,
                                   "codec_options": {"intra_period": 4, "preset": "fast"}}}}}
    summary = run(parse_config(doc, "video.yaml"), tmp_path / "run")
    assert summary.done == 6 and not summary.failed, summary.failed
    rec = json.loads((tmp_path / "run" / "results" / "hevc" / "0" / "seq.json").read_text())
    assert rec["item"]["frames"] == 4 and rec["item"]["frame_rate"] == 25.0
    assert rec["kbps"] == pytest.approx(rec["bits"] * 25 / 4 / 1000)
    assert rec["pixels"] == 96 * 64 * 4
    assert 30 < rec["metrics"]["psnr_y"] < 70 and rec["metrics"]["psnr_yuv"] > 0
    bd = write_report(tmp_path / "run")["bd_rate.csv"].read_text().splitlines()
    assert all(",kbps," in line for line in bd[1:])
    doc["metrics"] = ["psnr_rgb"]
    with pytest.raises(ConfigError,
                       match="expected one of psnr_y, psnr_yuv, vmaf for video codecs"):
        parse_config(doc, "video.yaml")
