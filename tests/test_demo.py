"""The README's main command, `vcmref demo`: the codec round trip, then the CTC demo with its
HTML reports (the machine part when the reference detector is found)."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from vcmref.cli import app
from vcmref.tasks.model_files import default_model_path


def test_codec_only_demo(tmp_path) -> None:
    res = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), "--codec-only"])
    assert res.exit_code == 0, res.output
    assert "matches the full decode's base layer: True" in res.output
    assert (tmp_path / "example.vcm").is_file()


def test_full_demo_ends_with_the_reports(tmp_path) -> None:
    res = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path), "--workers", "2"])
    assert res.exit_code == 0, res.output
    html = tmp_path / "runs" / "demo" / "report" / "report.html"
    assert f"HTML report: {html.resolve()}" in res.output
    rows = list(csv.DictReader((html.parent / "bd_rate.csv").read_text().splitlines()))
    hevc = [r for r in rows if r["test_codec"] == "hevc" and r["metric"] == "psnr_rgb"
            and r["method"] == "pchip-jctvc"]
    assert hevc and float(hevc[0]["bd_rate_pct"]) > 0  # HEVC needs more bits than VVC
    machine = tmp_path / "runs" / "demo_machine" / "report" / "report.html"
    if default_model_path().is_file():
        assert machine.is_file() and "Task fidelity" in machine.read_text()
    else:
        assert "machine vision part skipped" in res.output


def test_human_viewing_demo_compares_human_viewing_codecs() -> None:
    """The vcmref feature codec is compared against the feature anchor (demo_machine), not
    coded on pixels beside VVC and HEVC, where its BD-rate would say nothing."""
    from vcmref.ctc.config import load_config

    human = load_config("demo")
    assert human.anchor == "vvc" and {c.kind for c in human.codecs.values()} == {"image-anchor"}
    machine = load_config("demo_machine")
    assert {c.kind for c in machine.codecs.values()} == {"feature-anchor", "vcmref-features"}
