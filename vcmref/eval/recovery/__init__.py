"""Recovery of split-point tensors after losses: the cloud fills the samples that a lossy
channel dropped (whole rows of some channels) before it runs the rest of the network.

One interface (`RecoveryMethod`: ``recover(tensor, missing)``, see `vcmref.eval.recovery.base`
for the conventions) and the methods compared in the literature, registered in
`vcmref.registry.RECOVERY` under these names:

* ``zero``, ``mean`` -- fills (`basic`)
* ``nearest``, ``bilinear`` -- interpolation within a channel (`basic`)
* ``inpaint-ns``, ``inpaint-telea`` -- OpenCV inpainting per channel (`basic`)
* ``silrtc``, ``halrtc`` -- low-rank tensor completion, Liu et al. 2013 (`lowrank`)
* ``altec`` -- linear completion with weights fitted on training features, Bragilevsky and
  Bajic 2020 (`linear`)
* ``caltec`` -- content-adaptive linear completion, Dhondea, Cohen and Bajic 2021 (`linear`)

``recovery_method(name, **settings)`` makes one; third-party methods plug in through the
entry-point group ``vcmref.recovery``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vcmref.eval.recovery.base import (
    FALLBACK,
    FittedRecovery,
    RecoveryError,
    RecoveryMethod,
    check_input,
    shipped_weights,
)
from vcmref.eval.recovery.basic import (
    BilinearFill,
    InpaintNS,
    InpaintTelea,
    MeanFill,
    NearestFill,
    ZeroFill,
)
from vcmref.eval.recovery.linear import SHIPPED_ALTEC, ALTeC, CALTeC
from vcmref.eval.recovery.lowrank import HaLRTC, SiLRTC
from vcmref.registry import RECOVERY

__all__ = [
    "FALLBACK", "RECOVERY", "SHIPPED_ALTEC", "ALTeC", "BilinearFill", "CALTeC",
    "FittedRecovery", "HaLRTC", "InpaintNS", "InpaintTelea", "MeanFill", "NearestFill",
    "RecoveryError", "RecoveryMethod", "SiLRTC", "ZeroFill", "check_input", "recovery_method",
    "row_loss_mask", "shipped_weights",
]

def recovery_method(name: str, **settings: Any) -> RecoveryMethod:
    """The recovery method registered as `name`, made with `settings` (checked against its
    declared parameters)."""
    return RECOVERY.get(name)(**settings)


def row_loss_mask(shape: tuple[int, int, int], rate: float,
                  rng: np.random.Generator | int) -> np.ndarray:
    """A loss mask (True = lost) where each row of each channel is lost independently with
    probability `rate` (i.i.d. row losses)."""
    if not 0.0 <= rate <= 1.0:
        raise RecoveryError(f"rate: expected a probability from 0 to 1, got {rate!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    c, h, w = shape
    rows = gen.random((c, h)) < rate
    return np.repeat(rows[:, :, None], w, axis=2)
