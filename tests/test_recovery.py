"""Tensor recovery after losses (vcmref.eval.recovery): every method leaves the samples that
arrived bit-exact and beats zero fill on real YOLOX-Nano features with lost rows; the
low-rank methods converge; ALTeC's fitted weights round-trip through a file; CALTeC finds the
channel a lost one depends on; bad input is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from vcmref.errors import VcmrefError
from vcmref.eval.recovery import (
    RECOVERY,
    ALTeC,
    RecoveryError,
    recovery_method,
    row_loss_mask,
)
from vcmref.params import ParamError
from vcmref.registry import RegistryError

METHODS = ("zero", "mean", "nearest", "bilinear", "inpaint-ns", "inpaint-telea", "silrtc",
           "halrtc", "altec", "caltec")
KINDS = ("dark3", "dark4", "dark5")


@pytest.fixture(scope="module")
def altec(feature_paths) -> ALTeC:
    """ALTeC fitted on the real feature files other than the first (the first is the test
    tensor of `real_features`): a held-out fit, fast enough for a test."""
    method = ALTeC()
    tensors = []
    for path in feature_paths[1:]:
        with np.load(path) as z:
            tensors.append({k: z[k].astype(np.float32) for k in z.files})
    method.fit(tensors)
    return method


def make(name: str, altec: ALTeC | None = None, iterations: int = 20):
    """The method with its defaults (ALTeC: the held-out fit; the low-rank methods: a few
    iterations, for time: BLAS threads on a busy machine make each one slow)."""
    if name == "altec" and altec is not None:
        return altec
    if name in ("silrtc", "halrtc"):
        return recovery_method(name, max_iterations=iterations)
    return recovery_method(name)


def rel_mse(y: np.ndarray, x: np.ndarray, mask: np.ndarray) -> float:
    d = y[mask].astype(np.float64) - x[mask]
    return float(np.mean(d * d) / np.mean(x[mask].astype(np.float64) ** 2))


def test_registry_names_and_settings_checked() -> None:
    assert set(METHODS) <= set(RECOVERY.names())
    with pytest.raises(RegistryError, match="unknown recovery method 'nope'; known: altec"):
        recovery_method("nope")
    with pytest.raises(ParamError, match=r"silrtc.beta: expected a number > 0"):
        recovery_method("silrtc", beta=-1.0)
    with pytest.raises(ParamError, match=r"halrtc.alpha: expected 3 non-negative numbers"):
        recovery_method("halrtc", alpha=[1.0, 2.0])
    with pytest.raises(ParamError, match=r"nearest.radius: unknown key"):
        recovery_method("nearest", radius=3)
    with pytest.raises(ParamError, match=r"inpaint-ns.radius: expected an integer from 1"):
        recovery_method("inpaint-ns", radius=0)


@pytest.mark.parametrize("name", METHODS)
def test_available_samples_untouched_and_error_below_zero_fill(name, real_features,
                                                               altec) -> None:
    """30 % of the rows lost: the rest bit-exact, the lost samples closer than zero fill on
    every tensor (zero fill itself: exactly its own error)."""
    method = make(name, altec)
    for j, kind in enumerate(KINDS):
        x = real_features[kind]
        mask = row_loss_mask(x.shape, 0.3, 7 + j)
        garbage = np.where(mask, np.float32(np.nan), x)  # lost samples' values are ignored
        y = method.recover(garbage, mask, name=kind)
        assert y.dtype == np.float32 and y.shape == x.shape and np.isfinite(y).all()
        assert np.array_equal(y[~mask].view(np.uint32), x[~mask].view(np.uint32))
        err = rel_mse(y, x, mask)
        if name == "zero":
            assert err == pytest.approx(1.0)
        else:
            assert err < 1.0, f"{name} on {kind}: {err:.3f} of zero fill's MSE"


@pytest.mark.parametrize("name", METHODS)
def test_whole_channels_and_everything_lost(name, real_features, altec) -> None:
    method = make(name, altec, iterations=5)
    x = real_features["dark5"]
    mask = row_loss_mask(x.shape, 0.2, 3)
    mask[:5] = True  # five whole channels lost
    y = method.recover(x, mask, name="dark5")
    assert np.isfinite(y).all() and np.array_equal(y[~mask], x[~mask])
    everything = method.recover(x, np.ones(x.shape, bool), name="dark5")
    assert np.isfinite(everything).all() and everything.dtype == np.float32
    if name == "altec":  # the bias of the no-neighbour pattern: the training mean
        means = everything.mean(axis=(1, 2))
        assert np.allclose(everything, means[:, None, None])
        assert np.corrcoef(means, x.mean(axis=(1, 2)))[0, 1] > 0.5
    else:
        assert not everything.any()  # the fallback: 0


@pytest.mark.parametrize("name", METHODS)
def test_nothing_lost_copy_and_deterministic(name, real_features, altec) -> None:
    method = make(name, altec, iterations=5)
    x = real_features["dark5"]
    y = method.recover(x, np.zeros(x.shape, bool))
    assert y is not x and np.array_equal(y, x)
    mask = row_loss_mask(x.shape, 0.3, 11)
    assert np.array_equal(method.recover(x, mask), method.recover(x.copy(), mask.copy()))


@pytest.mark.parametrize("name", ["silrtc", "halrtc"])
def test_low_rank_converges_and_respects_max_iterations(name, real_features) -> None:
    x = real_features["dark5"]
    mask = row_loss_mask(x.shape, 0.3, 5)
    errors = []
    for iterations in (1, 5, 25):
        method = recovery_method(name, max_iterations=iterations, tolerance=0.0)
        errors.append(rel_mse(method.recover(x, mask), x, mask))
        assert method.last_iterations == iterations
    assert errors[0] > errors[1] > errors[2], errors
    early = recovery_method(name, max_iterations=500, tolerance=3e-2)
    early.recover(x, mask)
    assert 1 <= early.last_iterations < 500


def test_altec_fit_save_load_round_trip(altec, real_features, tmp_path) -> None:
    path = altec.save(tmp_path / "altec.npz")
    assert path.stat().st_size < 2 * 1024 * 1024
    loaded = ALTeC()
    state = loaded.load(path, shapes={"dark3": (64, 52, 52), "dark4": (128, 26, 26)})
    assert set(state) == set(KINDS)
    for kind in KINDS:
        assert np.array_equal(state[kind]["weights"], altec.state[kind]["weights"])
        x = real_features[kind]
        mask = row_loss_mask(x.shape, 0.3, 1)
        assert np.array_equal(loaded.recover(x, mask), altec.recover(x, mask))
    # from the setting, loaded on first use
    lazy = ALTeC(weights=str(path))
    x = real_features["dark4"]
    mask = row_loss_mask(x.shape, 0.1, 2)
    assert np.array_equal(lazy.recover(x, mask), altec.recover(x, mask))


def test_altec_refuses_files_for_other_shapes_and_settings(altec, tmp_path) -> None:
    small = ALTeC()
    small.fit([np.random.default_rng(0).normal(size=(4, 9, 8)).astype(np.float32)
               for _ in range(3)])
    path = small.save(tmp_path / "small.npz")
    with pytest.raises(RecoveryError) as info:
        ALTeC().load(path, shapes=[(64, 52, 52)])
    text = str(info.value)
    assert "\n" not in text and str(path) in text and "expected tensor 64x52x52" in text
    assert "tensor 4x9x8" in text
    user = ALTeC(weights=str(path))
    tensor = np.zeros((128, 26, 26), np.float32)
    with pytest.raises(RecoveryError, match=r"small\.npz: altec data made for tensor 4x9x8; "
                       r"expected tensor 128x26x26"):
        user.recover(tensor, row_loss_mask(tensor.shape, 0.5, 0))
    with pytest.raises(RecoveryError, match=r"small\.npz: fitted with reach=2, expected reach=1"):
        ALTeC(reach=1).load(path)
    mean_file = recovery_method("mean", means="training")
    mean_file.fit([np.ones((4, 9, 8), np.float32)])
    other = mean_file.save(tmp_path / "mean.npz")
    with pytest.raises(RecoveryError, match=r"mean\.npz: made for method 'mean' format 1, "
                       r"expected 'altec'"):
        ALTeC().load(other)
    with pytest.raises(RecoveryError, match="altec: not fitted"):
        ALTeC().recover(tensor, row_loss_mask(tensor.shape, 0.5, 0))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(RecoveryError, match=r"junk\.npz: not a state file of method 'altec'"):
        ALTeC().load(tmp_path / "junk.npz")


def test_mean_fill_from_training_means(tmp_path) -> None:
    rng = np.random.default_rng(4)
    train = [rng.normal(loc=np.arange(3)[:, None, None], size=(3, 6, 5)).astype(np.float32)
             for _ in range(50)]
    method = recovery_method("mean", means="training")
    method.fit(train)
    method.save(tmp_path / "means.npz")
    loaded = recovery_method("mean", means="training", weights=str(tmp_path / "means.npz"))
    y = loaded.recover(train[0], np.ones((3, 6, 5), bool))
    assert np.allclose(y.mean(axis=(1, 2)), [0, 1, 2], atol=0.1)


def test_caltec_picks_the_most_correlated_channel() -> None:
    """Channel 5 is an exact linear function of channel 2 (and channel 6 a negative one of
    channel 0); the others are noise: their lost rows come back almost exactly."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 20, 16)).astype(np.float32)
    x[5] = 2.5 * x[2] - 0.7
    x[6] = -1.5 * x[0] + 3.0
    rows = np.zeros((8, 20), bool)
    rows[5, [1, 4, 9, 15]] = True
    rows[6, [0, 7, 19]] = True
    rows[3, [2, 3]] = True  # noise: nothing to predict it from but its mean
    mask = np.repeat(rows[:, :, None], 16, axis=2)
    y = recovery_method("caltec").recover(x, mask)
    np.testing.assert_allclose(y[5][mask[5]], x[5][mask[5]], atol=1e-4)
    np.testing.assert_allclose(y[6][mask[6]], x[6][mask[6]], atol=1e-4)
    assert np.abs(y[3][mask[3]] - x[3][mask[3]]).mean() > 0.3
    # the best channel lost the same row: the next best serves
    x[7] = 0.9 * x[2] + 0.1 * x[5] + 0.01 * rng.normal(size=(20, 16)).astype(np.float32)
    mask2 = mask.copy()
    mask2[2, 4] = True  # channel 2 lost row 4, which channel 5 lost too
    y2 = recovery_method("caltec").recover(x, mask2)
    assert np.abs(y2[5, 4] - x[5, 4]).max() < 0.2


@pytest.mark.parametrize("name", ["inpaint-ns", "inpaint-telea"])
def test_inpainting_fills_smooth_channels(name) -> None:
    h, w = np.mgrid[0:20, 0:24].astype(np.float32)
    x = np.stack([0.3 * h + 0.1 * w - 2.0, np.full((20, 24), 1.5, np.float32),
                  5.0 * np.sin(h / 4.0)])
    mask = np.zeros(x.shape, bool)
    mask[:, [5, 11, 12]] = True
    y = recovery_method(name).recover(x, mask)
    assert np.array_equal(y[~mask], x[~mask])
    err = np.abs(y - x)[mask]  # rows filled from their neighbours, not 0 (|x| up to 5)
    assert err.max() < 1.0 and err.mean() < 0.3
    assert np.array_equal(y[1][mask[1]], x[1][mask[1]])  # a constant channel stays constant


def test_interpolation_between_rows() -> None:
    x = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3)
    mask = np.zeros(x.shape, bool)
    mask[0, [0, 2, 3]] = True
    mask[1, :, 1] = True  # a whole column lost: filled along the rows
    lin = recovery_method("bilinear").recover(x, mask)
    near = recovery_method("nearest").recover(x, mask)
    # x is linear along rows and columns: exact between rows, and along a row for the column
    assert np.array_equal(lin[0, 1:], x[0, 1:]) and np.array_equal(lin[1], x[1])
    np.testing.assert_array_equal(lin[0, 0], x[0, 1])  # the edge: the nearest row copied
    np.testing.assert_array_equal(near[0, 2], x[0, 1])  # a tie: the row above
    np.testing.assert_array_equal(near[0, 3], x[0, 4])
    np.testing.assert_array_equal(near[1, :, 1], x[1, :, 0])


BAD = [
    ("nan", lambda x, m: (np.where(m, x, np.nan).astype(np.float32), m),
     r"tensor: \d+ available sample\(s\) not finite \(NaN or Inf\), the first at channel 0"),
    ("inf", lambda x, m: (np.where(m, x, np.inf).astype(np.float32), m), "not finite"),
    ("mask shape", lambda x, m: (x, m[:, :-1]),
     r"missing: expected the tensor's shape \(4, 6, 5\), got \(4, 5, 5\)"),
    ("mask dtype", lambda x, m: (x, m.astype(np.uint8)),
     r"missing: expected dtype bool \(True = lost\), got uint8"),
    ("ndim", lambda x, m: (x[0], m[0]), r"tensor: expected 3 dimensions \(C, H, W\), got 2"),
    ("int tensor", lambda x, m: (x.astype(np.int32), m), "tensor: expected a float array"),
    ("list", lambda x, m: (x.tolist(), m), "tensor: expected a numpy array"),
    ("list mask", lambda x, m: (x, m.tolist()), "missing: expected a numpy bool array"),
]


@pytest.mark.parametrize("name", ["zero", "caltec", "altec"])
@pytest.mark.parametrize(("case", "spoil", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_one_line(name, case, spoil, message) -> None:
    x = np.random.default_rng(1).normal(size=(4, 6, 5)).astype(np.float32)
    m = row_loss_mask(x.shape, 0.5, 2)
    m[0, 0] = False
    tensor, mask = spoil(x, m)
    method = recovery_method(name)
    with pytest.raises(RecoveryError, match=message) as info:
        method.recover(tensor, mask)
    assert isinstance(info.value, ValueError) and isinstance(info.value, VcmrefError)
    assert "\n" not in str(info.value)


def test_row_loss_mask() -> None:
    m = row_loss_mask((64, 52, 52), 0.3, 0)
    assert m.dtype == np.bool_ and (m == m[:, :, :1]).all()
    assert 0.27 < m.mean() < 0.33
    assert np.array_equal(m, row_loss_mask((64, 52, 52), 0.3, 0))
    with pytest.raises(RecoveryError, match="rate: expected a probability"):
        row_loss_mask((2, 2, 2), 1.5, 0)
