"""Where data are found: what the package ships (configs, the conformance suite), read with
importlib.resources; the shared assets for development and CI ($VCMREF_SHARED, else ../shared
beside the repository), which are not part of the package."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from vcmref.errors import VcmrefError

# The folder above the package: the repository root when vcmref runs from a checkout (an
# editable install), site-packages or the like otherwise. Package data never depend on it.
REPO_ROOT = Path(__file__).resolve().parent.parent


def package_folder(package: str, name: str) -> Path:
    """The data folder `name` that `package` ships (importlib.resources), as a file-system
    path: vcmref is installed as files (a wheel or an editable checkout), not zipped."""
    folder = resources.files(package).joinpath(name)
    if not isinstance(folder, Path):
        raise VcmrefError(f"{package}/{name}: the package's data are not files on disk "
                          f"({type(folder).__name__}); install vcmref unzipped")
    return folder


def in_checkout() -> bool:
    """Whether vcmref runs from a source checkout (the package folder beside pyproject.toml),
    where the shipped data folders are the repository's own and may be rewritten."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "vcmref").is_dir()


def shared_dir() -> Path:
    """The shared assets folder (it may not exist)."""
    env = os.environ.get("VCMREF_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def feature_files() -> list[Path]:
    """The real split-point feature files (YOLOX-Nano backbone outputs), sorted; [] if absent."""
    return sorted((shared_dir() / "data" / "features").glob("yolox_nano_backbone_*.npz"))
