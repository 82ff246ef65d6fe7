"""Shared fixtures: real feature tensors from the shared assets (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from vcmref.assets import feature_files, shared_dir


@pytest.fixture(scope="session")
def feature_paths():
    paths = feature_files()
    if not paths:
        pytest.skip(f"shared feature assets not found under {shared_dir()} "
                    "(set VCMREF_SHARED to the folder holding data/features/)")
    return paths


@pytest.fixture(scope="session")
def real_features(feature_paths) -> dict[str, np.ndarray]:
    """The three YOLOX-Nano backbone tensors of the first image, float32 (C, H, W)."""
    with np.load(feature_paths[0]) as z:
        return {k: z[k].astype(np.float32) for k in z.files}
