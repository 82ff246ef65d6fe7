"""Profiles and levels: every size a decoder allocates is bounded here before allocation."""

from __future__ import annotations

from dataclasses import dataclass

PROFILE_MAIN = 1
PROFILE_MAIN_INTER = 2  # main plus temporal prediction (unit type 10, clause 5.9.1)
PROFILES = {PROFILE_MAIN: "main", PROFILE_MAIN_INTER: "main-inter"}


@dataclass(frozen=True)
class Level:
    """Limits of one level; a stream that exceeds any of them does not conform to it."""

    idc: int
    max_tensors: int
    max_channels: int
    max_dimension: int
    max_tensor_samples: int
    max_frame_samples: int
    max_layers: int
    max_tile_dimension: int
    max_unit_payload_bytes: int
    max_unit_samples: int  # samples one data unit may carry: bounds the decoder's scratch


LEVELS: dict[int, Level] = {
    lv.idc: lv
    for lv in (
        Level(10, 8, 1024, 1024, 1 << 20, 1 << 21, 4, 4096, 1 << 22, 1 << 18),
        Level(20, 16, 2048, 2048, 1 << 22, 1 << 23, 8, 8192, 1 << 24, 1 << 19),
        Level(30, 32, 4096, 4096, 1 << 24, 1 << 25, 16, 16384, 1 << 26, 1 << 20),
        Level(40, 64, 8192, 8192, 1 << 26, 1 << 27, 32, 32768, 1 << 28, 1 << 21),
    )
}

# The largest value any level allows, for range checks made before the level is known.
MAX_LEVEL = LEVELS[40]
