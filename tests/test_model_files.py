"""The reference detector's model lookup: --model, $VCMREF_YOLOX_MODEL, the user cache, the
shared assets; the known sha256 for what the lookup finds; a one-line error that says what to
get, from where, and where to put it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vcmref.cli import app
from vcmref.tasks.base import TaskModelError
from vcmref.tasks.model_files import (
    YOLOX_MODEL_ENV,
    YOLOX_NANO_FILE,
    YOLOX_NANO_SHA256,
    default_model_path,
    find_yolox_model,
    user_cache_dir,
)
from vcmref.tasks.yolox import YoloxDetector


@pytest.fixture
def places(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """Empty user cache and shared folders, no $VCMREF_YOLOX_MODEL."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("VCMREF_SHARED", str(tmp_path / "shared"))
    monkeypatch.delenv(YOLOX_MODEL_ENV, raising=False)
    return {"cache": tmp_path / "cache" / "vcmref" / YOLOX_NANO_FILE,
            "shared": tmp_path / "shared" / "models" / YOLOX_NANO_FILE,
            "env": tmp_path / "elsewhere" / "nano.onnx",
            "explicit": tmp_path / "mine.onnx"}


def _make(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not the model")
    return path


def test_lookup_order(places, monkeypatch) -> None:
    for p in places.values():
        _make(p)
    monkeypatch.setenv(YOLOX_MODEL_ENV, str(places["env"]))
    assert find_yolox_model(places["explicit"]) == (places["explicit"], None)
    assert find_yolox_model() == (places["env"], YOLOX_NANO_SHA256)
    monkeypatch.delenv(YOLOX_MODEL_ENV)
    assert find_yolox_model() == (places["cache"], YOLOX_NANO_SHA256)
    places["cache"].unlink()
    assert find_yolox_model() == (places["shared"], YOLOX_NANO_SHA256)
    assert default_model_path() == places["shared"]


def test_user_cache_follows_xdg(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert user_cache_dir() == tmp_path / "vcmref"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert user_cache_dir() == Path.home() / ".cache" / "vcmref"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert user_cache_dir() == Path.home() / ".cache" / "vcmref"


def test_nothing_found_says_what_where_from_and_where_to(places) -> None:
    with pytest.raises(TaskModelError) as info:
        find_yolox_model()
    msg = str(info.value)
    assert "\n" not in msg
    for part in (YOLOX_NANO_FILE, "yolox_nano.onnx", "YOLOX release page",
                 "github.com/Megvii-BaseDetection/YOLOX/releases", "416", YOLOX_NANO_SHA256,
                 f"put it at {places['cache']}", YOLOX_MODEL_ENV, "--model",
                 str(places["shared"])):
        assert part in msg, part
    assert default_model_path() == places["cache"]  # where it belongs


def test_env_set_but_missing_is_an_error(places, monkeypatch) -> None:
    _make(places["shared"])
    monkeypatch.setenv(YOLOX_MODEL_ENV, str(places["env"]))
    with pytest.raises(TaskModelError, match=f"{YOLOX_MODEL_ENV}=.*model file not found"):
        find_yolox_model()


def test_found_files_must_have_the_known_sha256(places) -> None:
    """A file the lookup finds is the reference model, checked before it is loaded; an
    explicit path is the user's and is loaded as it is (here: not ONNX at all)."""
    _make(places["cache"])
    with pytest.raises(TaskModelError, match=f"sha256 .* is not the expected {YOLOX_NANO_SHA256}"):
        YoloxDetector()
    with pytest.raises(TaskModelError, match="not a readable ONNX model"):
        YoloxDetector(_make(places["explicit"]))


def test_cli_without_a_model_fails_in_one_line(places, tmp_path) -> None:
    res = CliRunner().invoke(app, ["detect", str(tmp_path), "--annotations",
                                   str(tmp_path / "none.json")])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and YOLOX_NANO_FILE in lines[0] and "release page" in lines[0]
