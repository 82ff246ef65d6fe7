"""A learned image codec that trains on two CPU cores: a lapped block transform with a mean-scale
hyperprior (CompressAI architecture ``lapped-hyperprior``).

Why this shape: the scale hyperprior's deep GDN transforms need GPU-days to converge, and after
an hour on a CPU they code worse than JPEG. Here the analysis is one linear layer, a 16x16
kernel at stride 8 that starts as an orthonormal 8x8 DCT of Y'CbCr (JPEG's transform) and is
free to learn overlap (a lapped transform, fewer block edges), with a learned gain per
coefficient (its quantization step). The synthesis is its transposed twin followed by a small
residual network at full resolution (deblocking). Every coefficient is coded with a Gaussian
whose mean and scale come from a hyperprior (Minnen et al. 2018, CompressAI's
`MeanScaleHyperprior`), trained end to end with CompressAI's rate-distortion loss. The model
starts as a JPEG-like codec with a learned entropy coder, so a few thousand steps suffice.

Shapes: M = 3 * 8 * 8 = 192 latent channels at stride 8; the hyper-latent (N channels) at stride
32, the model's downsampling factor (a picture is padded to a multiple of 32).
"""

from __future__ import annotations

import math
from typing import Any

from vcmref.anchors.learned.compressai_import import import_compressai, import_torch

__all__ = ["ARCHITECTURE", "BLOCK", "initial_step", "register"]

ARCHITECTURE = "lapped-hyperprior"
BLOCK = 8  # the transform's block (and stride); kernels are 2 * BLOCK wide
COMPONENTS = 3
# BT.601 full-range R'G'B' -> Y'CbCr (rows Y', Cb, Cr), as JFIF; offsets are left to the
# hyperprior's means.
RGB_TO_YCBCR = ((0.299, 0.587, 0.114),
                (-0.168736, -0.331264, 0.5),
                (0.5, -0.418688, -0.081312))

_REGISTERED: dict[str, Any] = {}


def initial_step(lmbda: float) -> float:
    """The quantization step (in 0..255 sample units, on orthonormal coefficients) the gains
    start from for a rate-distortion weight `lmbda` of CompressAI's loss (lmbda * 255^2 * MSE +
    bpp): at high rate, D = step^2 / 12 and the optimum has lmbda * 2 ln 2 * D = 1."""
    if not lmbda > 0:
        raise ValueError(f"lambda must be positive, got {lmbda}")
    return math.sqrt(12.0 / (2.0 * math.log(2.0) * lmbda))


def _dct_basis(torch: Any) -> Any:
    """(64, 8, 8) orthonormal DCT-II basis, index u * 8 + v (vertical u, horizontal v)."""
    n = BLOCK
    k = torch.arange(n, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))  # [freq, sample]
    c[0] *= 1 / math.sqrt(2)
    c *= math.sqrt(2 / n)
    return torch.einsum("ui,vj->uvij", c, c).reshape(n * n, n, n)


def _transform_weights(torch: Any) -> tuple[Any, Any]:
    """(analysis, synthesis) kernels: (192, 3, 16, 16) colour-then-DCT, centred in the 16x16
    window, and its exact inverse for ConvTranspose2d (192, 3, 16, 16)."""
    basis = _dct_basis(torch)
    colour = torch.tensor(RGB_TO_YCBCR, dtype=torch.float64)
    inverse = torch.linalg.inv(colour)
    n, o = BLOCK, BLOCK // 2
    analysis = torch.zeros(COMPONENTS * n * n, 3, 2 * n, 2 * n, dtype=torch.float64)
    synthesis = torch.zeros_like(analysis)
    for comp in range(COMPONENTS):
        rows = slice(comp * n * n, (comp + 1) * n * n)
        analysis[rows, :, o:o + n, o:o + n] = colour[comp][None, :, None, None] * basis[:, None]
        synthesis[rows, :, o:o + n, o:o + n] = (inverse[:, comp][None, :, None, None]
                                                 * basis[:, None])
    return analysis.float(), synthesis.float()


def register() -> Any:
    """The model class, defined and registered in CompressAI's model registry on first call."""
    if ARCHITECTURE in _REGISTERED:
        return _REGISTERED[ARCHITECTURE]
    torch = import_torch()
    import_compressai()
    from compressai.models.google import MeanScaleHyperprior
    from compressai.models.utils import conv, deconv
    from compressai.registry import register_model
    from torch import nn

    class LappedAnalysis(nn.Module):
        """x in [0, 1] -> coefficients / step: one 16x16 stride-8 linear layer, then gains."""

        def __init__(self, step: float) -> None:
            super().__init__()
            analysis, _ = _transform_weights(torch)
            self.weight = nn.Parameter(analysis)
            self.log_gain = nn.Parameter(torch.full((analysis.shape[0],), math.log(255 / step)))

        def forward(self, x: Any) -> Any:
            y = nn.functional.conv2d(x, self.weight, stride=BLOCK, padding=BLOCK // 2)
            return y * self.log_gain.exp()[None, :, None, None]

    class LappedSynthesis(nn.Module):
        """Quantized coefficients -> x: undo the gains, the transposed 16x16 layer, then a
        residual network of three 3x3 convolutions (its last layer starts at zero)."""

        def __init__(self, step: float, channels: int) -> None:
            super().__init__()
            _, synthesis = _transform_weights(torch)
            self.weight = nn.Parameter(synthesis)
            self.log_gain = nn.Parameter(torch.full((synthesis.shape[0],), math.log(step / 255)))
            self.refine = nn.Sequential(
                nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(inplace=True),
                nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(inplace=True),
                nn.Conv2d(channels, 3, 3, padding=1))
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)

        def forward(self, y: Any) -> Any:
            y = y * self.log_gain.exp()[None, :, None, None]
            x = nn.functional.conv_transpose2d(y, self.weight, stride=BLOCK, padding=BLOCK // 2)
            return x + self.refine(x)

    @register_model(ARCHITECTURE)
    class LappedHyperprior(MeanScaleHyperprior):
        """Lapped block transform + mean-scale hyperprior (module docstring). `N`: hyper-latent
        channels; `filter_channels`: width of the synthesis's residual network; `step`: the
        quantization step the gains start from (0..255 units; see `initial_step`)."""

        def __init__(self, N: int = 48, filter_channels: int = 24,  # noqa: N803 (CompressAI's)
                     step: float = 16.0, **kwargs: Any) -> None:
            m = COMPONENTS * BLOCK * BLOCK
            super().__init__(N=N, M=m, **kwargs)
            self.g_a = LappedAnalysis(step)
            self.g_s = LappedSynthesis(step, filter_channels)
            self.h_a = nn.Sequential(
                conv(m, N, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True),
                conv(N, N), nn.LeakyReLU(inplace=True),
                conv(N, N))
            self.h_s = nn.Sequential(
                deconv(N, N), nn.LeakyReLU(inplace=True),
                deconv(N, N * 3 // 2), nn.LeakyReLU(inplace=True),
                conv(N * 3 // 2, 2 * m, stride=1, kernel_size=3))
            self.filter_channels = int(filter_channels)

        @property
        def downsampling_factor(self) -> int:
            return BLOCK * 4

        @classmethod
        def from_state_dict(cls, state_dict: dict) -> Any:
            net = cls(N=int(state_dict["h_a.0.weight"].size(0)),
                      filter_channels=int(state_dict["g_s.refine.0.weight"].size(0)))
            net.load_state_dict(state_dict)
            return net

    _REGISTERED[ARCHITECTURE] = LappedHyperprior
    return LappedHyperprior
