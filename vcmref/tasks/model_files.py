"""Where the reference detector's weights are found. vcmref ships no model weights: users
obtain YOLOX-Nano themselves, and any local path is taken.

Lookup order, the first that is there wins:

1. an explicit path: `--model`, a CTC config's `task.model_path`, `YoloxDetector(path)`;
2. `$VCMREF_YOLOX_MODEL` (the path of the file; set but not there is an error);
3. the user cache, `$XDG_CACHE_HOME/vcmref/yolox_nano_416.onnx` (`~/.cache/vcmref/` when
   XDG_CACHE_HOME is unset);
4. the shared assets folder, `$VCMREF_SHARED/models/yolox_nano_416.onnx` (`../shared` beside a
   checkout).

A file found by 2 to 4 is the reference model: its sha256 must be YOLOX_NANO_SHA256. An
explicit path is checked against the sha256 given with it (`--sha256`, `task.sha256`), if any.
When nothing is found the error names the file, where to get it and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

from vcmref.assets import shared_dir
from vcmref.tasks.base import TaskModelError

YOLOX_NANO_FILE = "yolox_nano_416.onnx"
YOLOX_NANO_SHA256 = "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd"
YOLOX_MODEL_ENV = "VCMREF_YOLOX_MODEL"
YOLOX_RELEASES = "https://github.com/Megvii-BaseDetection/YOLOX/releases"


def user_cache_dir() -> Path:
    """vcmref's folder in the user cache: $XDG_CACHE_HOME/vcmref, else ~/.cache/vcmref."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "vcmref"


def yolox_model_candidates() -> list[tuple[str, Path]]:
    """(where, path) of the places looked at after an explicit path, in lookup order."""
    out = []
    env = os.environ.get(YOLOX_MODEL_ENV)
    if env:
        out.append((f"${YOLOX_MODEL_ENV}", Path(env).expanduser()))
    out.append(("the user cache", user_cache_dir() / YOLOX_NANO_FILE))
    out.append(("the shared assets", shared_dir() / "models" / YOLOX_NANO_FILE))
    return out


def missing_model_message() -> str:
    """One line: the file, where it was looked for, where to get it and where to put it."""
    looked = ", ".join(str(p) for _, p in yolox_model_candidates())
    return (f"the YOLOX-Nano model {YOLOX_NANO_FILE} is not found (looked at {looked}): get "
            f"yolox_nano.onnx from the YOLOX release page ({YOLOX_RELEASES}), the official "
            f"ONNX export at 416x416 input (sha256 {YOLOX_NANO_SHA256}), and put it at "
            f"{user_cache_dir() / YOLOX_NANO_FILE}, or set ${YOLOX_MODEL_ENV} to its path, "
            "or pass --model PATH")


def find_yolox_model(explicit: str | Path | None = None) -> tuple[Path, str | None]:
    """(path, sha256 it must have) by the lookup order above; the sha256 is None for an
    explicit path (the caller's own sha256, if any, applies). Raises TaskModelError, one line,
    when nothing is found."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise TaskModelError(f"{path}: model file not found")
        return path, None
    for where, path in yolox_model_candidates():
        if path.is_file():
            return path, YOLOX_NANO_SHA256
        if where.startswith("$"):
            raise TaskModelError(f"${YOLOX_MODEL_ENV}={path}: model file not found")
    raise TaskModelError(missing_model_message())


def default_model_path() -> Path:
    """The model file the lookup finds without an explicit path; when there is none, where it
    belongs (the user cache, or $VCMREF_YOLOX_MODEL's path when that is set)."""
    try:
        return find_yolox_model()[0]
    except TaskModelError:
        return yolox_model_candidates()[0][1]
