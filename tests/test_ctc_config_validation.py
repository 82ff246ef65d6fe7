"""A bad CTC config is refused with one line naming the file, the key and what was expected,
before anything runs: params, codec_options, rate_parameter and points are checked against
what the codec kind declares, task.split against the task's split points, ${env:X} against
the environment, and the dataset and model files before the run directory is created."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import yaml
from ctc_docs import image_codecs_doc, write_images

from vcmref.ctc.config import ConfigError, load_config
from vcmref.ctc.runner import run

UNSET = "VCMREF_TEST_SURELY_UNSET_VARIABLE"


def _feature_doc(images: Path, model: Path) -> dict:
    return {
        "name": "tiny-features",
        "dataset": {"kind": "folder", "images": str(images)},
        "task": {
            "model": "yolox-nano",
            "model_path": str(model),
            "split": "backbone",
            "ground_truth": "pseudo",
        },
        "metrics": ["feature_psnr"],
        "anchor": "vcmref",
        "codecs": {
            "vcmref": {
                "kind": "vcmref-features",
                "rate_parameter": "step",
                "points": [0.5],
                "params": {"quant": "step", "bit_depth": 12},
            }
        },
    }


# (config: "image" or "features", overrides, the key the message names, more it must name)
CASES = {
    "unknown params key": (
        "image",
        ["codecs.vcmref.params.colour=red"],
        "codecs.vcmref.params.colour",
        "unknown key",
    ),
    "unknown codec_options key": (
        "image",
        ["codecs.hevc.params.codec_options.gop=8"],
        "codecs.hevc.params.codec_options.gop",
        "unknown key",
    ),
    "bit_depth nine": (
        "image",
        ["codecs.vcmref.params.bit_depth=nine"],
        "codecs.vcmref.params.bit_depth",
        "an integer",
    ),
    "points not numbers": (
        "image",
        ["codecs.vcmref.points=[a, b, c]"],
        "codecs.vcmref.points[0]",
        "a number",
    ),
    "rate_parameter qp on vcmref-image": (
        "image",
        ["codecs.vcmref.rate_parameter=qp"],
        "codecs.vcmref.rate_parameter",
        "step",
    ),
    "unknown task.split": ("features", ["task.split=head"], "task.split", "backbone, neck"),
    "non-integer QP": (
        "image",
        ["codecs.hevc.points=[32, 27.5]"],
        "codecs.hevc.points[1]",
        "an integer",
    ),
    "duplicate points": (
        "image",
        ["codecs.hevc.points=[32, 37, 32]"],
        "codecs.hevc.points",
        "32 is given twice",
    ),
    "unset env variable": (
        "image",
        [f"dataset.images=${{env:{UNSET}}}/img"],
        "dataset.images",
        UNSET,
    ),
    "missing dataset": ("image", ["dataset.images=MISSING"], "dataset.images", "not there"),
    "missing model": ("features", ["task.model_path=MISSING"], "task.model_path", "not there"),
}


def _config(tmp_path: Path, which: str, overrides: list[str]) -> tuple[Path, list[str]]:
    images = write_images(tmp_path / "img")
    doc = (image_codecs_doc(images, [32, 37], [8, 16]) if which == "image"
           else _feature_doc(images, tmp_path / "model.onnx"))
    if which == "features":
        (tmp_path / "model.onnx").write_bytes(b"not looked at before the jobs run")
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(doc))
    missing = str(tmp_path / "nowhere" / "missing")
    return path, [o.replace("MISSING", missing) for o in overrides]


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_the_run_directory_exists(tmp_path, monkeypatch, case) -> None:
    which, overrides, key, detail = CASES[case]
    monkeypatch.delenv(UNSET, raising=False)
    path, overrides = _config(tmp_path, which, overrides)
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        run(load_config(path, overrides), run_dir)  # what `vcmref ctc` does
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert detail in message, message
    assert not run_dir.exists()


@pytest.mark.parametrize("case", ["bit_depth nine", "missing dataset"])
def test_cli_exits_1_with_one_line(tmp_path, case) -> None:
    which, overrides, key, _ = CASES[case]
    path, overrides = _config(tmp_path, which, overrides)
    run_dir = tmp_path / "run"
    sets = [a for o in overrides for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k != UNSET}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vcmref",
            "ctc",
            str(path),
            "--run-dir",
            str(run_dir),
            "--no-report",
            *sets,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], proc.stderr
    assert not run_dir.exists()


def test_valid_settings_still_load(tmp_path) -> None:
    """Floats are steps, integers QPs; per-item points may repeat (the search writes them);
    options and params the codecs take pass."""
    path, _ = _config(tmp_path, "image", [])
    cfg = load_config(
        path,
        [
            "codecs.vcmref.points=[0.5, 2, 7.25]",
            "codecs.hevc.params.codec_options={preset: fast, intra_period: 1}",
            "codecs.hevc.params.chroma='444'",
            "codecs.vcmref.points_per_item={img0: [2, 2, 4]}",
        ],
    )
    assert cfg.codecs["vcmref"].points == [0.5, 2, 7.25]
    cfg = load_config(
        path,
        [
            "codecs.vcmref.params={quant: qp}",
            "codecs.vcmref.rate_parameter=qp",
            "codecs.vcmref.points=[8, 16]",
        ],
    )
    assert cfg.codecs["vcmref"].rate_parameter == "qp"


@pytest.mark.parametrize(
    "override,message",
    [
        (
            "codecs.vcmref.params.qp=4",
            "codecs.vcmref.params.qp: expected no value unless codecs.vcmref.params.quant is qp",
        ),
        ("codecs.hevc.params.qp=30", "codecs.hevc.params.qp: expected no value: qp is the rate"),
        ("codecs.hevc.points=[32, 60]", "codecs.hevc.points[1]: expected an integer from 0 to 51"),
        (
            "codecs.hevc.params={codec: vvenc, bit_depth: 8}",
            "codecs.hevc.params.bit_depth: expected one of 10",
        ),
        (
            "codecs.hevc.params={codec: kvazaar}",
            "codecs.hevc.params.bit_depth: expected one of 8 (a bit depth the codec codes), got 10 "
            "(the default)",
        ),
        ("codecs.hevc.params.chroma=420", "codecs.hevc.params.chroma: expected a string"),
        ("codecs.hevc.params.codec=h267", "codecs.hevc.params.codec: expected one of"),
        (
            "codecs.hevc.params.codec_options.preset=fastest",
            "codec_options.preset: expected one of",
        ),
        ("codecs.hevc.params.matrix=bt2020", "codecs.hevc.params.matrix: expected one of"),
        ("codecs.vcmref.params.quant=minmax", "codecs.vcmref.rate_parameter: expected bit_depth"),
        ("codecs.vcmref.points=[0, 1]", "codecs.vcmref.points[0]: expected a number > 0"),
        ("codecs.vcmref.params.level=50", "codecs.vcmref.params.level: expected one of 10, 20"),
        ("codecs.vcmref.rate_parameter=bitrate", "codecs.vcmref.rate_parameter: expected one of"),
        ("codecs.vcmref.points_per_item={img0: [1, x]}", "points_per_item.img0[1]: expected"),
    ],
)
def test_declared_types_and_ranges(tmp_path, override, message) -> None:
    path, _ = _config(tmp_path, "image", [])
    with pytest.raises(ConfigError) as info:
        load_config(path, [override])
    assert message in str(info.value), str(info.value)


def test_declarations_match_the_classes() -> None:
    """The declared parameters are the EncoderConfig / FeatureAnchorConfig fields and the
    anchor codecs' constructor arguments, with the same defaults."""
    from vcmref.anchors.feature_anchor import FeatureAnchorConfig
    from vcmref.anchors.registry import codec_class, codec_names
    from vcmref.refsw.encoder.encoder import EncoderConfig
    from vcmref.registry import CODECS

    def dataclass_defaults(cls) -> dict:
        return {
            f.name: (f.default if f.default is not MISSING else f.default_factory())
            for f in fields(cls)
        }

    for kind, dc in (
        ("vcmref-features", EncoderConfig),
        ("vcmref-image", EncoderConfig),
        ("feature-anchor", FeatureAnchorConfig),
    ):
        declared = {p.name: p.default for p in CODECS.get(kind).parameters}
        assert declared == dataclass_defaults(dc), kind
    for name in codec_names():
        cls = codec_class(name)
        sig = {
            k: v.default
            for k, v in inspect.signature(cls.__init__).parameters.items()
            if k != "self"
        }
        assert {p.name: p.default for p in cls.options} == sig, name
    for kind, cls in CODECS.items():
        assert cls.rate_parameters, kind
