"""Where the shared test assets live: $VCMREF_SHARED, else ../shared beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The shared assets folder (it may not exist)."""
    env = os.environ.get("VCMREF_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def feature_files() -> list[Path]:
    """The real split-point feature files (YOLOX-Nano backbone outputs), sorted; [] if absent."""
    return sorted((shared_dir() / "data" / "features").glob("yolox_nano_backbone_*.npz"))
