"""vcmref's own learned architecture, ``lapped-hyperprior`` (vcmref.anchors.learned.lapped): its
transform starts as an exact, orthonormal colour-plus-DCT pair, its gains start from the
high-rate optimum of the loss, it codes through the CompressAI codec like any other model, and
the shipped rate points code a photograph with rising rate and quality."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vcmref.errors import ToolNotFoundError

try:
    from vcmref.anchors.learned.compressai_import import import_compressai

    import_compressai()
except ToolNotFoundError as e:
    pytest.skip(f"torch or CompressAI is not installed ({e})", allow_module_level=True)

import torch  # noqa: E402
from skimage import data  # noqa: E402

from vcmref.anchors.learned import container  # noqa: E402
from vcmref.anchors.learned.codec import (  # noqa: E402
    CompressAICodec,
    load_codec,
    save_checkpoint,
    shipped_models,
)
from vcmref.anchors.learned.lapped import (  # noqa: E402
    ARCHITECTURE,
    BLOCK,
    RGB_TO_YCBCR,
    initial_step,
    register,
)

PHOTO = data.astronaut()  # 512 x 512 R'G'B'
SHIPPED = "vcmref-lapped"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / mse)


def _model(step: float = 8.0, seed: int = 0):
    torch.manual_seed(seed)
    return register()(N=16, filter_channels=8, step=step)


def test_the_initial_step_is_the_high_rate_optimum_of_the_loss() -> None:
    for lmbda in (0.0006, 0.0055, 0.022):
        step = initial_step(lmbda)
        # lambda * dD/dR = -1 with D = step^2 / 12 and dD/dR = -2 ln 2 D
        assert lmbda * 2 * math.log(2) * step**2 / 12 == pytest.approx(1.0)
    assert initial_step(0.0055) > initial_step(0.022)  # a lower lambda quantizes more coarsely
    with pytest.raises(ValueError, match="lambda must be positive, got 0"):
        initial_step(0)


def test_the_untrained_transform_is_an_orthonormal_ycbcr_dct_and_inverts_exactly() -> None:
    model = _model(step=255.0)  # gains of 1: the coefficients themselves
    x = torch.from_numpy(PHOTO[:64, :96].astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = model.g_a(x)
        assert y.shape == (1, 3 * BLOCK * BLOCK, 8, 12)
        assert torch.allclose(model.g_s(y), x, atol=1e-5)  # the refinement starts at zero
        # The DC coefficient of Y' in block (0, 0) is 8 times the block's mean Y'.
        luma = sum(c * x[0, i, :BLOCK, :BLOCK] for i, c in enumerate(RGB_TO_YCBCR[0]))
        assert float(y[0, 0, 0, 0]) == pytest.approx(8 * float(luma.mean()), rel=1e-5)
        # Orthonormal: the Y' plane's energy equals its 64 coefficients' energy.
        full = sum(c * x[0, i] for i, c in enumerate(RGB_TO_YCBCR[0]))
        assert float((y[0, :64] ** 2).sum()) == pytest.approx(float((full**2).sum()), rel=1e-4)


def test_an_untrained_model_codes_at_its_step_s_quality(tmp_path) -> None:
    """Before any training the model is a block-DCT codec: quantizing with step 8 (0..255
    units) keeps the picture near 10 log10(255^2 / (8^2 / 12)) = 40.9 dB, or better."""
    path = tmp_path / "lapped_q1.pt"
    save_checkpoint(path, _model(step=8.0), ARCHITECTURE, {"N": 16, "filter_channels": 8})
    codec = CompressAICodec.from_checkpoint(path)
    assert codec.multiple == 32
    image = PHOTO[100:167, 50:143]  # 67 x 93: padded to 96 x 96
    stream = codec.encode(image)
    decoded = codec.decode(stream)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert len(container.unpack(stream).strings) == 2  # coefficients and hyper-latent
    assert _psnr(image, decoded) > 38.0
    again = CompressAICodec.from_checkpoint(path)
    assert again.encode(image) == stream and np.array_equal(again.decode(stream), decoded)


def test_compressai_s_own_format_loads_by_naming_the_architecture(tmp_path) -> None:
    model = _model(step=12.0, seed=4)
    path = tmp_path / "trained.pth.tar"
    torch.save({"state_dict": model.state_dict()}, path)
    codec = CompressAICodec.from_checkpoint(path, ARCHITECTURE)
    assert codec.model.filter_channels == 8 and codec.model.N == 16
    assert codec.decode(codec.encode(PHOTO[:64, :64])).shape == (64, 64, 3)


@pytest.fixture(scope="module")
def shipped() -> tuple[int, ...]:
    qualities = shipped_models().get(SHIPPED, ())
    if not qualities:
        pytest.skip(f"{SHIPPED} is not shipped in this checkout")
    return tuple(qualities)


def test_the_shipped_rate_points_rise_in_rate_and_quality(shipped) -> None:
    image = PHOTO[:256, 128:384]
    rates, quality = [], []
    for q in shipped:
        codec = load_codec(SHIPPED, q)
        stream = codec.encode(image)
        rates.append(8 * len(stream) / image.shape[0] / image.shape[1])
        quality.append(_psnr(image, codec.decode(stream)))
    assert rates == sorted(rates) and quality == sorted(quality), (rates, quality)
    assert rates[0] < 0.15 and rates[-1] > 0.6  # most of JPEG AI's 0.06..0.75 bpp
    assert quality[-1] - quality[0] > 6.0
