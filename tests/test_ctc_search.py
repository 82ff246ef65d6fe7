"""Rate-point search (vcmref.ctc.search): the point closest to a target bpp, the cache, the
written config, bad inputs, and the accuracy-drop search on two COCO images."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

from vcmref.ctc.codecs import make_codec
from vcmref.ctc.config import load_config
from vcmref.ctc.search import (
    CACHE_FILE,
    SearchCache,
    SearchError,
    SearchWarning,
    _bisect,
    rate_grid,
    run_search,
    search_accuracy_drop,
    search_bpp,
    write_points,
)

OVERRIDES = ["dataset.names=[astronaut]", "codecs.hevc.params.codec_options.preset=ultrafast"]
TARGETS = [0.1, 0.3]
QP_RANGE = (28, 46)
# the demo compares VVC and HEVC only: the vcmref codec on images, for the step-grid cases
VCMREF_IMAGE = ["codecs.vcmref={kind: vcmref-image, rate_parameter: step, "
                "points: [4, 8, 16, 32], params: {quant: step, bit_depth: 9}}"]


def _demo():
    return load_config("demo", OVERRIDES)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("search")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchWarning)
        result = search_bpp(_demo(), "hevc", TARGETS, run_dir, qp_range=QP_RANGE)
    return run_dir, result


def _log_distance(bpp: float, target: float) -> float:
    return abs(math.log(bpp / target))


def test_found_point_is_closest_in_log_rate(searched):
    run_dir, result = searched
    assert result.encodes > 0 and list(result.per_item) == ["astronaut"]
    cache = json.loads((run_dir / CACHE_FILE).read_text())
    bits = {int(k): v for k, v in cache["codecs"]["hevc"]["bits"]["astronaut"].items()}
    pixels = 512 * 512
    for sp in result.per_item["astronaut"]:
        assert QP_RANGE[0] <= sp.point <= QP_RANGE[1] and not sp.clamped
        assert sp.bpp == bits[sp.point] / pixels
        # closest among every visited point of the cache
        best = min(bits, key=lambda q, t=sp.target: _log_distance(bits[q] / pixels, t))
        assert _log_distance(sp.bpp, sp.target) <= _log_distance(bits[best] / pixels,
                                                                 sp.target)
    # brute force: the neighbouring QPs of the first target, encoded here, are no closer
    sp = result.per_item["astronaut"][0]
    cfg = _demo()
    codec = make_codec(cfg.codecs["hevc"])
    from vcmref.eval.datasets import image_folder

    image = image_folder(run_dir / "images").load_image("astronaut")
    for qp in (sp.point - 1, sp.point + 1):
        bpp = bits[qp] / pixels if qp in bits else 8 * len(codec.encode(image, qp)) / pixels
        assert _log_distance(sp.bpp, sp.target) <= _log_distance(bpp, sp.target)
    # rate falls as QP rises, so a lower target gets a coarser QP
    assert result.per_item["astronaut"][0].point > result.per_item["astronaut"][1].point
    assert result.common_points() == [p.point for p in result.per_item["astronaut"]]


def test_second_search_encodes_nothing(searched):
    run_dir, first = searched
    again = search_bpp(_demo(), "hevc", TARGETS, run_dir, qp_range=QP_RANGE)
    assert again.encodes == 0 and again.cache_hits > 0
    assert again.common_points() == first.common_points()


def test_written_config_loads(searched, tmp_path):
    _, result = searched
    out = write_points("demo", "hevc", result, tmp_path / "demo_points.yaml",
                       overrides=OVERRIDES)
    cfg = load_config(out)
    hevc = cfg.codecs["hevc"]
    assert hevc.points == result.common_points()
    assert set(hevc.points_per_item) == {"astronaut"}
    assert len(hevc.points_per_item["astronaut"]) == len(TARGETS) == len(hevc.points)
    assert cfg.dataset.names == ["astronaut"]
    assert cfg.codecs["vvc"].points == load_config("demo").codecs["vvc"].points


def test_run_search_table(searched, tmp_path):
    run_dir, result = searched
    text = run_search("demo", "hevc", bpp=TARGETS, run_dir=run_dir, overrides=OVERRIDES,
                      qp_range=QP_RANGE, out=tmp_path / "o.yaml")
    assert "astronaut" in text and "0 encodes" in text and str(result.common_points()[0]) in text
    assert load_config(tmp_path / "o.yaml").codecs["hevc"].points == result.common_points()


def test_bad_inputs(tmp_path):
    cfg = load_config("demo", OVERRIDES + VCMREF_IMAGE)
    odd = load_config("demo", OVERRIDES + VCMREF_IMAGE
                      + ["codecs.vcmref.rate_parameter=bit_depth",
                         "codecs.vcmref.params={quant: minmax}", "codecs.vcmref.points=[6, 8, 10]"])
    cases = [(lambda: search_bpp(cfg, "nope", [0.1], tmp_path), "no codec 'nope'"),
             (lambda: search_bpp(cfg, "hevc", [0.1], tmp_path, qp_range=(40, 30)), "qp range"),
             (lambda: search_bpp(cfg, "vcmref", [0.1], tmp_path, qp_range=(0, 1)),
              "step range"),
             (lambda: search_bpp(odd, "vcmref", [0.1], tmp_path),
              "rate_parameter: 'bit_depth' cannot be searched"),
             (lambda: search_accuracy_drop(cfg, "hevc", [0.01], tmp_path),
              "needs a task track"),
             (lambda: run_search("demo", "hevc", run_dir=tmp_path),
              "either target bpps or target mAP drops"),
             (lambda: run_search("demo", "hevc", bpp=[0.1], drops=[0.01], run_dir=tmp_path),
              "either target bpps"),
             (lambda: write_points("no_such_config", "hevc", None, tmp_path / "o.yaml"),
              "no such config")]
    for bad in ([0.0], [-0.1], [float("nan")], [True], []):
        cases.append((lambda bad=bad: search_bpp(cfg, "hevc", bad, tmp_path),
                      "target bpp|no target bpp"))
    for call, match in cases:
        with pytest.raises(SearchError, match=match) as info:
            call()
        assert "\n" not in str(info.value)
    assert not (tmp_path / CACHE_FILE).exists()  # nothing was encoded


def test_grids():
    cfg = load_config("demo", OVERRIDES + VCMREF_IMAGE)
    assert rate_grid(cfg, "hevc") == list(range(52))  # x265
    assert rate_grid(cfg, "vvc") == list(range(64))  # vvenc
    steps = rate_grid(cfg, "vcmref", (4, 16))
    assert steps[0] == 4.0 and steps[-1] == 16.0 and len(steps) == 9
    assert all(b > a for a, b in zip(steps, steps[1:], strict=False))
    assert _bisect(10, lambda i: i <= 3) == 3
    assert _bisect(10, lambda i: False) == -1 and _bisect(10, lambda i: True) == 9


def test_cache_merges_concurrent_writers(tmp_path):
    path = tmp_path / CACHE_FILE
    a, b = SearchCache(path), SearchCache(path)
    settings = {"kind": "image-anchor"}
    a.section("c", settings)["bits"]["x"] = {"30": 100}
    a.save()
    b.section("c", settings)["bits"]["x"] = {"31": 90}
    b.save()
    assert SearchCache(path).section("c", settings)["bits"]["x"] == {"30": 100, "31": 90}
    # other settings: the codec's entries start afresh
    assert SearchCache(path).section("c", {"kind": "other"})["bits"] == {}
    assert not list(tmp_path.glob("*.part"))


def test_accuracy_drop_search(tmp_path):
    from vcmref.tasks.model_files import default_model_path

    cfg = load_config("vcm_coco_images", ["dataset.count=2",
                                          "codecs.hevc.params.codec_options.preset=ultrafast"])
    if not default_model_path().is_file() or not Path(cfg.dataset.annotations).is_file():
        pytest.skip("the YOLOX-Nano model or the COCO sample is not in the shared assets")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchWarning)
        result = search_accuracy_drop(cfg, "hevc", [0.03], tmp_path, qp_range=(44, 51))
    (sp,) = result.points
    assert 44 <= sp.point <= 51 and result.reference_map is not None
    assert math.isclose(sp.drop, result.reference_map - sp.map)
    cache = json.loads((tmp_path / CACHE_FILE).read_text())["codecs"]["hevc"]["map"]
    drops = {int(k): result.reference_map - v["map"] for k, v in cache.items()}
    if not sp.clamped:
        assert sp.drop <= 0.03
        assert sp.point + 1 not in drops or drops[sp.point + 1] > 0.03
    assert not result.per_item
    out = write_points("vcm_coco_images", "hevc", result, tmp_path / "o.yaml",
                       overrides=["dataset.count=2"])
    written = load_config(out).codecs["hevc"]
    assert written.points == [sp.point] and written.points_per_item == {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchWarning)
        again = search_accuracy_drop(cfg, "hevc", [0.03], tmp_path, qp_range=(44, 51))
    assert again.encodes == 0 and again.points[0].point == sp.point


def test_search_command_needs_one_kind_of_target(tmp_path) -> None:
    from typer.testing import CliRunner

    from vcmref.cli import app

    res = CliRunner().invoke(app, ["search", "demo", "--codec", "hevc", "--run-dir",
                                   str(tmp_path)])
    assert res.exit_code == 1 and "give target --bpp values or target --drop values" in res.output
    res = CliRunner().invoke(app, ["search", "demo", "--codec", "nope", "--bpp", "0.5",
                                   "--run-dir", str(tmp_path)])
    assert res.exit_code == 1 and "nope" in res.output
