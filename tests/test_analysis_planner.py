"""The split planner (vcmref.analysis.planner) on a small hand-made analysis whose optimum is
known, its YAML config and one-line errors, and the report files (vcmref.analysis.report)."""

from __future__ import annotations

import csv

import pytest

from vcmref.analysis.planner import (
    ON_DEVICE,
    PlannerConfig,
    PlannerError,
    load_planner_config,
    parse_planner_config,
    plan,
)
from vcmref.analysis.report import write_plan, write_report
from vcmref.analysis.results import RatePoint, SplitAnalysis, SplitMeasurement, load_analysis
from vcmref.analysis.run import example_planner_config

REF = 0.30


def split(name: str, depth: int, front_s: float, back_s: float, macs: int, samples: int,
          points: list[tuple[int, float, float]]) -> SplitMeasurement:
    return SplitMeasurement(
        name=name, depth=depth, tensors=[f"{name}.t"], shapes=[[1, samples]], samples=samples,
        macs_front=macs, macs_back=1000 - macs, flops_front=2 * macs,
        flops_back=2 * (1000 - macs), front_s=front_s, back_s=back_s,
        entropy_bits=5.0 * samples, entropy_bits_per_sample=5.0, map_uncoded=REF,
        points=[RatePoint("feature-anchor", qp, bits, m) for qp, bits, m in points])


@pytest.fixture
def table() -> SplitAnalysis:
    """Two splits and the image; mAP drops: early 0.33 %, 0.97 %, 10 %; late 0.17 %, 0.5 %,
    6.7 %; image 0.17 %, 2 %. Whole network 0.1 s, 1000 MACs."""
    early = split("early", 10, 0.01, 0.09, 100, 100_000,
                  [(22, 400_000, 0.299), (32, 100_000, 0.2971), (42, 20_000, 0.27)])
    late = split("late", 50, 0.05, 0.05, 500, 50_000,
                 [(22, 200_000, 0.2995), (32, 50_000, 0.2985), (42, 10_000, 0.28)])
    image = [RatePoint("image-anchor", 22, 1_000_000, 0.2995),
             RatePoint("image-anchor", 32, 300_000, 0.294)]
    return SplitAnalysis(model="toy.onnx", dataset="toy", images=4, reference_map=REF,
                         reference_map50=0.5, full_s=0.1, total_macs=1000, total_flops=2000,
                         entropy_bit_depth=10, splits=[early, late], image_points=image,
                         input_samples=3 * 64 * 64, nodes=60)


def test_the_planner_picks_the_known_latency_optimum(table) -> None:
    cfg = PlannerConfig(bandwidth_mbps=(0.05, 1.0, 1000.0), device_ratio=10.0,
                        max_map_drop=0.01)
    slow, mid, fast = plan(table, cfg)
    # on-device: 0.1 x 10 = 1 s. early QP 32: 0.01 x 10 + 0.1 Mbit / B + 0.09.
    # late QP 32: 0.5 + 0.05 Mbit / B + 0.05. image QP 22: 1 Mbit / B + 0.1.
    assert slow.best.option.split == ON_DEVICE
    assert slow.best.latency_s == pytest.approx(1.0)
    assert (mid.best.option.split, mid.best.option.point) == ("early", 32)
    assert mid.best.latency_s == pytest.approx(0.19 + 0.1)
    assert (fast.best.option.split, fast.best.option.codec) == ("image", "image-anchor")
    assert fast.best.latency_s == pytest.approx(0.1 + 0.001)
    # the curve: per split its best feasible point, in depth order
    assert [p.option.split for p in mid.curve] == ["image", "early", "late", ON_DEVICE]
    by_split = {p.option.split: p for p in mid.curve}
    assert by_split["late"].option.point == 32
    assert by_split["late"].latency_s == pytest.approx(0.55 + 0.05)
    assert by_split["image"].latency_s == pytest.approx(1.1)
    assert all(p.feasible for p in mid.curve)


def test_uncoded_tensors_and_the_delay(table) -> None:
    cfg = PlannerConfig(bandwidth_mbps=(1000.0,), network_delay_s=0.5, image=False,
                        device_ratio=10.0, on_device=False, codecs=("feature-anchor",),
                        max_map_drop=0.0)
    (p,) = plan(table, cfg)
    # only the float32 tensors keep the reference mAP: 32 x 100 000 bits for early
    assert (p.best.option.split, p.best.option.codec) == ("early", "float32")
    assert p.best.transmit_s == pytest.approx(3.2 / 1000 + 0.5)


def test_the_energy_objective(table) -> None:
    cfg = PlannerConfig(bandwidth_mbps=(1.0,), objective="energy", energy_per_mac_j=1e-6,
                        energy_per_bit_j=1e-9)
    (p,) = plan(table, cfg)
    # on-device 1e-3 J; early 100e-6 + 1e5 x 1e-9 = 2e-4; late 5e-4 + 5e-5; image 1e-3
    assert p.best.option.split == "early" and p.best.energy_j == pytest.approx(2e-4)
    per_flop = PlannerConfig(bandwidth_mbps=(1.0,), objective="energy",
                             energy_per_flop_j=0.5e-6, energy_per_bit_j=1e-9)
    (q,) = plan(table, per_flop)  # FLOPs are 2 x MACs here: the same energies
    assert q.best.option.split == "early" and q.best.energy_j == pytest.approx(2e-4)


def test_no_feasible_option(table) -> None:
    cfg = PlannerConfig(bandwidth_mbps=(1.0,), max_map_drop=0.0, on_device=False,
                        uncoded=False)
    (p,) = plan(table, cfg)
    assert p.best is None
    assert not any(q.feasible for q in p.curve)
    # the most accurate point stands for each split
    assert {q.option.split: q.option.point for q in p.curve} == {"image": 22, "early": 22,
                                                                 "late": 22}


def test_the_example_config_loads() -> None:
    cfg = load_planner_config(example_planner_config())
    assert cfg.bandwidth_mbps == (1.0, 10.0, 100.0) and cfg.objective == "latency"
    assert cfg.max_map_drop == 0.05 and cfg.device_ratio / cfg.server_ratio == 10.0


@pytest.mark.parametrize("doc, key", [
    ({"bandwidth_mbps": 10, "device_ratio": 0}, "device_ratio"),
    ({"bandwidth_mbps": 10, "server_ratio": -2.0}, "server_ratio"),
    ({"bandwidth_mbps": -1}, "bandwidth_mbps"),
    ({"bandwidth_mbps": [5, 0]}, "bandwidth_mbps[1]"),
    ({"bandwidth_mbps": "fast"}, "bandwidth_mbps"),
    ({}, "bandwidth_mbps"),
    ({"bandwidth_mbps": 10, "max_map_drop": 1.5}, "max_map_drop"),
    ({"bandwidth_mbps": 10, "energy_per_mac_j": -1e-12}, "energy_per_mac_j"),
    ({"bandwidth_mbps": 10, "energy_per_flop_j": -1.0}, "energy_per_flop_j"),
    ({"bandwidth_mbps": 10, "objective": "speed"}, "objective"),
    ({"bandwidth_mbps": 10, "objective": "energy"}, "energy_per_mac_j"),
    ({"bandwidth_mbps": 10, "bandwith": 3}, "bandwith"),
    ({"bandwidth_mbps": 10, "network_delay_s": -0.1}, "network_delay_s"),
])
def test_out_of_range_parameters_are_one_line_errors(doc, key) -> None:
    with pytest.raises(PlannerError) as e:
        parse_planner_config(doc, "plan.yaml")
    msg = str(e.value)
    assert msg.startswith(f"plan.yaml: {key}: ") and "\n" not in msg, msg


def test_bad_yaml_and_unknown_splits(table, tmp_path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("bandwidth_mbps: [1, 2\n")
    with pytest.raises(PlannerError, match="not YAML") as e:
        load_planner_config(path)
    assert "\n" not in str(e.value)
    with pytest.raises(PlannerError, match="splits: 'middle' was not measured; measured: "
                                           "early, late"):
        plan(table, PlannerConfig(bandwidth_mbps=(1.0,), splits=("middle",)))
    with pytest.raises(PlannerError, match="device_ratio: expected a number > 0"):
        PlannerConfig(bandwidth_mbps=(1.0,), device_ratio=0.0)


def test_report_and_plan_files(table, tmp_path) -> None:
    paths = write_report(table, tmp_path)
    assert {p.name for p in paths} == {"analysis.json", "splits.csv", "points.csv",
                                       "rate_vs_depth.png", "rd_curves.png"}
    assert load_analysis(tmp_path).to_json() == table.to_json()
    with open(tmp_path / "splits.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["split"], r["codec"]) for r in rows] == [
        ("image", "image-anchor"), ("early", "feature-anchor"), ("late", "feature-anchor")]
    early = rows[1]
    assert early["samples"] == "100000" and early["map_qp32"] == "0.2971"
    # 1 % of 0.30 is a loss of 0.003: crossed between 20 kbit (0.03) and 100 kbit (0.0029)
    assert 90 < float(early["kbit_at_1pct_drop"]) <= 100
    assert float(early["rd_r2"]) > 0.9
    plans = plan(table, PlannerConfig(bandwidth_mbps=(0.05, 1.0), device_ratio=10.0))
    files = write_plan(plans, tmp_path)
    with open(files[0]) as f:
        chosen = [r for r in csv.DictReader(f) if r["chosen"] == "True"]
    assert [(r["bandwidth_mbps"], r["split"]) for r in chosen] == [("0.05", ON_DEVICE),
                                                                    ("1.0", "early")]
    assert files[1].stat().st_size > 1000


def test_the_cli_lists_cuts_and_refuses_a_missing_analysis(tmp_path) -> None:
    from typer.testing import CliRunner

    from vcmref.assets import shared_dir
    from vcmref.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["analyze", "plan", str(tmp_path / "nothing")])
    assert res.exit_code == 1 and "no analysis file" in res.output
    assert len(res.output.strip().splitlines()) == 1
    model = shared_dir() / "models" / "yolox_nano_416.onnx"
    if not model.is_file():
        pytest.skip(f"needs {model} (the shared assets)")
    res = runner.invoke(app, ["analyze", "splits", str(model), "--list"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[0] == "backbone" and lines[1].split()[0] == "neck"
    assert sum(line.startswith("*") for line in lines) >= 6  # the stage cuts
