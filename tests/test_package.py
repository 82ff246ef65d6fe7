"""The package carries what it needs: a wheel built from the sources, installed into a folder
of its own, runs `vcmref conform`, `vcmref ctc demo` and `vcmref detect` from a directory
outside the checkout, with the checkout out of reach (its configs, suite and ../shared are
found through nothing but the package and the documented model lookup)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import vcmref
from vcmref.assets import shared_dir
from vcmref.tasks.model_files import YOLOX_NANO_FILE

CHECKOUT = Path(__file__).resolve().parent.parent
SHARED_MODEL = shared_dir() / "models" / YOLOX_NANO_FILE
COCO80 = shared_dir() / "data" / "coco_val80"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """The wheel (built without build isolation from a copy of the sources, so the checkout
    gets no build/ folder) installed with --target into a folder of its own."""
    if not (CHECKOUT / "pyproject.toml").is_file():
        pytest.skip("not run from a checkout")
    root = tmp_path_factory.mktemp("package")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(CHECKOUT / name, src / name)
    shutil.copytree(CHECKOUT / "vcmref", src / "vcmref",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir",
                    str(root / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((root / "dist").glob("vcmref-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target",
                    str(root / "site"), str(wheel)], check=True, capture_output=True)
    work = root / "work"
    work.mkdir()
    return {"wheel": wheel, "site": root / "site", "work": work, "root": root}


def _env(installed: dict[str, Path], **extra: str) -> dict[str, str]:
    """The environment for the installed package: PYTHONPATH is its folder only, the script's
    directory is not put on sys.path, ../shared and the user cache are not where the checkout's
    are (a model comes only from what a test passes)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VCMREF_SHARED", "VCMREF_YOLOX_MODEL")}
    env.update(PYTHONPATH=str(installed["site"]), PYTHONSAFEPATH="1",
               XDG_CACHE_HOME=str(installed["root"] / "cache"),
               VCMREF_SHARED=str(installed["root"] / "no-shared"), **extra)
    return env


def _run(installed: dict[str, Path], *args: str, timeout: float = 300,
         **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=installed["work"],
                          env=_env(installed, **extra), capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_wheel_holds_the_package_data(installed) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    suite = CHECKOUT / "vcmref" / "conformance" / "streams"
    shipped = {"vcmref/conformance/streams/" + p.relative_to(suite).as_posix()
               for p in suite.rglob("*") if p.is_file()}
    assert "vcmref/conformance/streams/manifest.json" in shipped
    assert shipped <= names, sorted(shipped - names)[:5]
    configs = {f"vcmref/ctc/configs/{p.name}"
               for p in (CHECKOUT / "vcmref" / "ctc" / "configs").glob("*.yaml")}
    assert "vcmref/ctc/configs/demo.yaml" in configs and configs <= names
    models = {f"vcmref/refsw/restoration_models/{p.name}" for p in
              (CHECKOUT / "vcmref" / "refsw" / "restoration_models").glob("*.vcmr")}
    assert models <= names  # the small restoration networks named by streams (clause 8)
    learned = {f"vcmref/anchors/learned/models/{p.name}" for p in
               (CHECKOUT / "vcmref" / "anchors" / "learned" / "models").glob("*.pt")}
    assert learned and learned <= names  # the shipped learned image codec's rate points
    assert not [n for n in names if n.endswith(".onnx")], "no task network weights"
    assert {n.split("/")[0] for n in names} == {"vcmref", f"vcmref-{vcmref.__version__}.dist-info"}


def test_installed_package_is_the_one_imported(installed) -> None:
    res = _run(installed, "-c", "import vcmref, vcmref.assets as a; "
               "from vcmref.conformance.suite import SUITE_DIR; "
               "from vcmref.ctc.config import CONFIGS_DIR; "
               "print(vcmref.__file__, SUITE_DIR, CONFIGS_DIR, a.in_checkout(), sep='\\n')")
    assert res.returncode == 0, res.stderr
    module, suite, configs, in_checkout = res.stdout.split("\n")[:4]
    for path in (module, suite, configs):
        assert Path(path).is_relative_to(installed["site"]), path
    assert in_checkout == "False"


def test_conform(installed) -> None:
    res = _run(installed, "-m", "vcmref", "conform")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    assert res.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")
    refused = _run(installed, "-m", "vcmref", "conform", "--generate")
    assert refused.returncode == 1 and "--suite" in refused.stderr, refused.stderr


def test_ctc_demo(installed) -> None:
    run_dir = installed["work"] / "demo-run"
    res = _run(installed, "-m", "vcmref", "ctc", "demo", "--run-dir", str(run_dir))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert (run_dir / "report" / "report.html").is_file()
    assert "0 failed" in res.stdout


def test_detect_needs_a_model_and_says_where_to_get_it(installed) -> None:
    res = _run(installed, "-m", "vcmref", "detect", str(installed["work"]), "--annotations",
               str(installed["work"] / "none.json"))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and YOLOX_NANO_FILE in lines[0] and "release page" in lines[0]


@pytest.mark.skipif(not (SHARED_MODEL.is_file() and COCO80.is_dir()),
                    reason=f"the shared YOLOX-Nano model or COCO sample is not at {shared_dir()}")
@pytest.mark.parametrize("how", ["env", "option"])
def test_detect_with_the_shared_model(installed, how: str) -> None:
    args = ["-m", "vcmref", "detect", str(COCO80 / "val2017"), "--annotations",
            str(COCO80 / "annotations" / "instances_val2017.json"), "--count", "2"]
    if how == "env":
        res = _run(installed, *args, VCMREF_YOLOX_MODEL=str(SHARED_MODEL))
    else:
        res = _run(installed, *args, "--model", str(SHARED_MODEL))
    assert res.returncode == 0, res.stderr
    assert "2 images" in res.stdout and "mAP@[.5:.95]" in res.stdout
