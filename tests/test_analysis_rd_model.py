"""The rate-distortion model of task accuracy (vcmref.analysis.rd_model): the fit recovers known
parameters from synthetic points, the inversions agree with the curve, the allocation has equal
slopes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vcmref.analysis.rd_model import (
    RdModel,
    RdModelError,
    allocate_rate,
    fit_rd_model,
    rate_at_loss,
)


def test_one_term_fit_recovers_known_parameters() -> None:
    truth = RdModel(0.002, (0.3,), (0.02,))
    rates = np.array([10.0, 25, 50, 100, 200, 400, 800])
    model = fit_rd_model(rates, truth.loss(rates))
    assert model.gamma == pytest.approx(0.002, abs=1e-6)
    assert model.alpha[0] == pytest.approx(0.3, rel=1e-4)
    assert model.beta[0] == pytest.approx(0.02, rel=1e-4)
    assert model.r2 == pytest.approx(1.0, abs=1e-9) and model.rmse < 1e-7
    assert model.points == 7


def test_one_term_fit_on_noisy_points_reports_a_lower_r2() -> None:
    truth = RdModel(0.0, (0.25,), (0.01,))
    rates = np.geomspace(5, 1000, 12)
    noise = np.random.default_rng(1).normal(0, 0.01, rates.size)
    model = fit_rd_model(rates, truth.loss(rates) + noise)
    assert 0.9 < model.r2 < 1.0
    assert model.beta[0] == pytest.approx(0.01, rel=0.3)


def test_two_term_fit_recovers_known_parameters() -> None:
    truth = RdModel(0.01, (0.3, 0.2), (0.05, 0.1))
    rng = np.random.default_rng(0)
    rates = rng.uniform(0, 80, size=(40, 2))
    model = fit_rd_model(rates, truth.loss(rates))
    assert model.gamma == pytest.approx(0.01, abs=1e-5)
    assert model.alpha == pytest.approx((0.3, 0.2), rel=1e-3)
    assert model.beta == pytest.approx((0.05, 0.1), rel=1e-3)
    assert model.r2 == pytest.approx(1.0, abs=1e-9)


def test_inverting_the_model_gives_the_rate_back() -> None:
    model = RdModel(0.001, (0.3,), (0.02,))
    for rate in (5.0, 60.0, 300.0):
        assert model.rate_at_loss(float(model.loss(rate))) == pytest.approx(rate, rel=1e-9)
    assert model.rate_at_loss(0.0005) is None  # below gamma: never reached
    two = RdModel(0.0, (0.3, 0.2), (0.05, 0.1))
    total = two.rate_at_loss(0.01)
    assert float(two.loss(allocate_rate(two, total))) == pytest.approx(0.01, rel=1e-6)


def test_allocation_has_equal_slopes_and_spends_the_budget() -> None:
    model = RdModel(0.0, (0.3, 0.2, 0.05), (0.05, 0.1, 0.02))
    rates = allocate_rate(model, 100.0)
    assert rates.sum() == pytest.approx(100.0)
    a, b = np.array(model.alpha), np.array(model.beta)
    slopes = a * b * math.log(2) * np.exp2(-b * rates)
    active = rates > 0
    assert np.ptp(slopes[active]) < 1e-12
    assert (slopes[~active] <= slopes[active].min() + 1e-12).all()
    # no other split of the budget does better
    rng = np.random.default_rng(0)
    best = float(model.loss(rates))
    for _ in range(200):
        w = rng.dirichlet(np.ones(3)) * 100.0
        assert float(model.loss(w)) >= best - 1e-12


def test_a_small_budget_goes_to_the_steepest_term_only() -> None:
    model = RdModel(0.0, (0.3, 0.001), (0.05, 0.05))
    rates = allocate_rate(model, 10.0)
    assert rates[1] == 0.0 and rates[0] == pytest.approx(10.0)


def test_interpolated_rate_at_loss() -> None:
    rates, losses = [10.0, 20.0, 40.0, 80.0], [0.2, 0.1, 0.02, 0.0]
    assert rate_at_loss(rates, losses, 0.1) == pytest.approx(20.0)
    # between 20 (0.1) and 40 (0.02): 5/8 of the way in log2(rate)
    assert rate_at_loss(rates, losses, 0.05) == pytest.approx(2 ** (math.log2(20) + 0.625))
    assert rate_at_loss(rates, losses, 0.5) == 10.0  # every point meets it
    assert rate_at_loss(rates, [0.3, 0.2, 0.1, 0.05], 0.01) is None  # never reached
    # a noisy bump at low rate does not hide the crossing above it
    assert rate_at_loss([10, 20, 40, 80], [0.2, 0.0, 0.1, 0.0], 0.01) == pytest.approx(
        2 ** (math.log2(40) + 0.9))


def test_too_few_points_is_an_error() -> None:
    with pytest.raises(RdModelError, match="needs at least 3"):
        fit_rd_model([1.0, 2.0], [0.1, 0.05])
    with pytest.raises(RdModelError, match="expected"):
        fit_rd_model(np.ones((4, 2)), [0.1, 0.05])
