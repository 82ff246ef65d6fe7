"""Bjøntegaard-delta metrics: BD-rate and BD-quality between an anchor and a test curve.

Methods (the formulas, end-slope rules and warning thresholds are stated in docs/bd-rate.md):

* ``pchip-jctvc``: the piecewise cubic of the JCT-VC/JVET CTC Excel sheets (``bdRIntEnh`` /
  ``intCurve`` / ``pchipend``), integrated analytically over the overlapping interval.
  ``pchip`` is an alias: on the curves the metric accepts it is identical to a standard PCHIP.
* ``cubic-m33``: the cubic polynomial least-squares fit of VCEG-M33, integrated analytically.
* ``akima``: Akima's 1970 local interpolation (with his end-point extrapolation of the slopes),
  the same Hermite integration as ``pchip-jctvc``.

BD-rate interpolates log10(rate) against quality; BD-quality interpolates quality against
log10(rate). Both integrate only over the interval where the two curves overlap, never
extrapolate, and report what went wrong as typed warnings (:class:`WarningKind`) instead of
returning garbage: a result whose ``value`` is ``None`` says why in its warnings.

Only numpy is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from vcmref.errors import VcmrefError

# --------------------------------------------------------------------------- public types

METHODS: tuple[str, ...] = ("pchip-jctvc", "cubic-m33", "akima")
"""The interpolation methods, in the order the CLI prints them."""

_ALIASES = {
    "pchip": "pchip-jctvc",
    "jctvc": "pchip-jctvc",
    "m33": "cubic-m33",
    "cubic": "cubic-m33",
}

MIN_POINTS: dict[str, int] = {"pchip-jctvc": 3, "cubic-m33": 4, "akima": 3}
"""Fewest distinct points per curve each method accepts."""

DEFAULT_MIN_OVERLAP = 0.5
"""SMALL_OVERLAP is raised when the overlap covers less than this fraction of either curve."""


class CurveError(VcmrefError):
    """A curve that cannot be evaluated at all: the one-line message names the curve."""


class WarningKind(str, Enum):
    """What may be wrong with a BD comparison; see docs/bd-rate.md for each kind's effect."""

    NO_OVERLAP = "no-overlap"
    SMALL_OVERLAP = "small-overlap"
    NON_MONOTONIC = "non-monotonic"
    DUPLICATE_POINTS = "duplicate-points"
    SATURATED = "saturated"
    UNSTABLE_FIT = "unstable-fit"


@dataclass(frozen=True)
class BdWarning:
    """One typed warning: its kind, the curve it concerns (None: both) and a one-line message."""

    kind: WarningKind
    message: str
    curve: str | None = None

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


@dataclass(frozen=True)
class Curve:
    """Rate-quality points of one codec configuration; ``name`` appears in every message."""

    rates: Sequence[float]
    qualities: Sequence[float]
    name: str = "curve"


@dataclass(frozen=True)
class BdResult:
    """Outcome of one BD computation.

    ``value`` is the BD-rate in percent (negative: the test saves rate) or the BD-quality in
    quality units (positive: the test is better); ``None`` when it cannot be computed, with
    the reason in ``warnings``. ``overlap`` is the integration interval: in quality units for
    BD-rate, in rate units for BD-quality (integration itself runs over log10 of the rate).
    ``overlap_fraction`` is the overlap's length over the longer of the two curves' ranges
    on the integration axis (0 when they do not overlap).
    """

    value: float | None
    metric: str
    method: str
    overlap: tuple[float, float] | None
    overlap_fraction: float
    warnings: tuple[BdWarning, ...] = field(default_factory=tuple)
    refit: bool = False

    def has(self, kind: WarningKind) -> bool:
        return any(w.kind is kind for w in self.warnings)


CurveLike = Curve | tuple[Sequence[float], Sequence[float]]

# --------------------------------------------------------------------------- curve checks


@dataclass
class _Prepared:
    name: str
    log_rate: np.ndarray  # log10(rate), strictly increasing
    quality: np.ndarray
    warnings: list[BdWarning]
    rate_ok: bool  # quality strictly increasing in rate: BD-rate possible
    quality_ok: bool  # rates distinct: BD-quality possible


def _as_curve(curve: CurveLike, default_name: str) -> Curve:
    if isinstance(curve, Curve):
        return curve
    if isinstance(curve, tuple) and len(curve) == 2:
        return Curve(curve[0], curve[1], default_name)
    raise CurveError(f"{default_name}: expected a Curve or a (rates, qualities) pair")


def _to_array(values: Sequence[float], name: str, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CurveError(f"{name}: {what} are not numbers ({exc})") from None
    if arr.ndim != 1:
        raise CurveError(f"{name}: {what} must be a flat list, got shape {arr.shape}")
    return arr


def _check(curve: Curve, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate, return (rates, qualities) sorted by rate; errors name the curve."""
    name = curve.name
    rates = _to_array(curve.rates, name, "rates")
    quality = _to_array(curve.qualities, name, "qualities")
    if rates.size != quality.size:
        raise CurveError(
            f"{name}: {rates.size} rates but {quality.size} qualities (lengths must match)"
        )
    for arr, what in ((rates, "rate"), (quality, "quality")):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise CurveError(f"{name}: {what} of point {bad[0]} is {arr[bad[0]]} (must be finite)")
    bad = np.flatnonzero(rates <= 0)
    if bad.size:
        raise CurveError(f"{name}: rate of point {bad[0]} is {rates[bad[0]]} (must be > 0)")
    if rates.size < min_points:
        raise CurveError(f"{name}: {rates.size} points, the method needs at least {min_points}")
    order = np.argsort(rates, kind="stable")  # pairs stay pairs: only their order changes
    return rates[order], quality[order]


def _prepare(curve: Curve, min_points: int) -> _Prepared:
    name = curve.name
    rates, quality = _check(curve, min_points)
    warnings: list[BdWarning] = []

    # Exact duplicates are merged (as the CTC sheet's removeDuplicates does), and reported.
    keep = np.ones(rates.size, dtype=bool)
    keep[1:] = ~((rates[1:] == rates[:-1]) & (quality[1:] == quality[:-1]))
    if not keep.all():
        warnings.append(
            BdWarning(
                WarningKind.DUPLICATE_POINTS,
                f"{name}: {int((~keep).sum())} repeated (rate, quality) point(s) counted once",
                name,
            )
        )
        rates, quality = rates[keep], quality[keep]
        if rates.size < min_points:
            raise CurveError(
                f"{name}: {rates.size} distinct points, the method needs at least {min_points}"
            )

    quality_ok = True
    same_rate = np.flatnonzero(rates[1:] == rates[:-1])
    if same_rate.size:
        i = int(same_rate[0])
        warnings.append(
            BdWarning(
                WarningKind.DUPLICATE_POINTS,
                f"{name}: rate {rates[i]:g} appears with qualities {quality[i]:g} and "
                f"{quality[i + 1]:g}; no BD value is computed from contradictory points",
                name,
            )
        )
        quality_ok = False

    rate_ok = quality_ok
    if quality_ok:
        dq = np.diff(quality)
        if np.any(dq <= 0):
            rate_ok = False
            k = int(np.flatnonzero(dq <= 0)[0])
            top = quality[k]
            saturated = bool(np.all(dq[:k] > 0) and np.all(quality[k + 1 :] <= top))
            if saturated and k > 0:
                warnings.append(
                    BdWarning(
                        WarningKind.SATURATED,
                        f"{name}: quality stops increasing above rate {rates[k]:g} "
                        f"(peak {top:g}); BD-rate needs quality strictly increasing in rate "
                        "(a monotone refit, refit=True, makes it usable)",
                        name,
                    )
                )
            else:
                warnings.append(
                    BdWarning(
                        WarningKind.NON_MONOTONIC,
                        f"{name}: quality {quality[k]:g} at rate {rates[k]:g} is not below "
                        f"{quality[k + 1]:g} at rate {rates[k + 1]:g}; BD-rate needs quality "
                        "strictly increasing in rate (lower-is-better metrics must be negated)",
                        name,
                    )
                )
    log_rate = np.log10(rates)
    return _Prepared(name, log_rate, quality, warnings, rate_ok, quality_ok)


def _method(method: str) -> str:
    m = _ALIASES.get(method, method)
    if m not in METHODS:
        raise CurveError(f"unknown BD method {method!r} (known: {', '.join(METHODS)}, pchip)")
    return m


# --------------------------------------------------------------------------- interpolation


def _pchipend(h1: float, h2: float, del1: float, del2: float) -> float:
    """End slope of the CTC sheet (``pchipend``): the non-centred three-point formula, set to
    0 if its sign differs from the first secant's, limited to 3*del1 if the secants differ in
    sign and it exceeds that in magnitude."""
    d = ((2.0 * h1 + h2) * del1 - h1 * del2) / (h1 + h2)
    if d * del1 < 0:
        return 0.0
    if del1 * del2 < 0 and abs(d) > abs(3.0 * del1):
        return 3.0 * del1
    return d


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Node slopes of the CTC sheet's piecewise cubic (``intCurve``).

    Interior: the weighted harmonic mean 3(h[i-1]+h[i]) / ((2h[i]+h[i-1])/del[i-1] +
    (h[i]+2h[i-1])/del[i]). The sheet applies it unconditionally; where the two secants are of
    opposite sign or either is 0 (never the case for a curve BD-rate accepts) it is undefined or
    not shape-preserving, and the Fritsch-Carlson value 0 is used instead, as in Moler's pchip.
    """
    h = np.diff(x)
    delta = np.diff(y) / h
    n = x.size
    d = np.empty(n)
    d[0] = _pchipend(h[0], h[1], delta[0], delta[1])
    for i in range(1, n - 1):
        if delta[i - 1] * delta[i] <= 0:
            d[i] = 0.0
        else:
            d[i] = (3.0 * h[i - 1] + 3.0 * h[i]) / (
                (2.0 * h[i] + h[i - 1]) / delta[i - 1] + (h[i] + 2.0 * h[i - 1]) / delta[i]
            )
    d[n - 1] = _pchipend(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3])
    return d


def _akima_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Akima (1970) node slopes: secants extended by two on each side by linear extrapolation
    (m[-1] = 2 m[0] - m[1], ...); t[i] = (|m[i+1]-m[i]| m[i-1] + |m[i-1]-m[i-2]| m[i]) / (sum of
    the weights), the mean of m[i-1], m[i] where both weights vanish (tolerance as in SciPy's
    Akima1DInterpolator: 1e-9 times the largest weight sum)."""
    m = np.diff(y) / np.diff(x)
    ext = np.empty(m.size + 4)
    ext[2:-2] = m
    ext[1] = 2.0 * ext[2] - ext[3]
    ext[0] = 2.0 * ext[1] - ext[2]
    ext[-2] = 2.0 * ext[-3] - ext[-4]
    ext[-1] = 2.0 * ext[-2] - ext[-3]
    dm = np.abs(np.diff(ext))
    f1 = dm[2:]  # |m[i+1] - m[i]|
    f2 = dm[:-2]  # |m[i-1] - m[i-2]|
    f12 = f1 + f2
    t = 0.5 * (ext[3:] + ext[:-3])
    ok = f12 > 1e-9 * np.max(f12)
    t[ok] = (f1[ok] * ext[1:-2][ok] + f2[ok] * ext[2:-1][ok]) / f12[ok]
    return t


def _hermite_integral(x: np.ndarray, y: np.ndarray, d: np.ndarray, lo: float, hi: float) -> float:
    """Integral over [lo, hi] of the piecewise cubic Hermite interpolant (nodes x, values y,
    slopes d), segment by segment as the CTC sheet does: on segment i with s = t - x[i] the cubic
    is y[i] + d[i] s + c[i] s^2 + b[i] s^3, c = (3 del - 2 d[i] - d[i+1]) / h,
    b = (d[i] - 2 del + d[i+1]) / h^2, and its primitive is evaluated at the clipped ends."""
    result = 0.0
    for i in range(x.size - 1):
        h = x[i + 1] - x[i]
        delta = (y[i + 1] - y[i]) / h
        c = (3.0 * delta - 2.0 * d[i] - d[i + 1]) / h
        b = (d[i] - 2.0 * delta + d[i + 1]) / (h * h)
        s0 = min(max(x[i], lo), hi) - x[i]
        s1 = min(max(x[i + 1], lo), hi) - x[i]
        if s1 > s0:
            result += (s1 - s0) * y[i]
            result += (s1 * s1 - s0 * s0) * d[i] / 2.0
            result += (s1**3 - s0**3) * c / 3.0
            result += (s1**4 - s0**4) * b / 4.0
    return result


def _cubic_stays_near(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> bool:
    """Whether VCEG-M33's fitted cubic y(x) stays, over [lo, hi] (257 points), within the data's
    y range widened by half its span on each side."""
    x0 = float(np.mean(x))
    fitted = np.polyval(np.polyfit(x - x0, y, 3), np.linspace(lo, hi, 257) - x0)
    margin = 0.5 * float(y.max() - y.min())
    return bool(fitted.min() >= y.min() - margin and fitted.max() <= y.max() + margin)


def _integral(method: str, x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    if method == "cubic-m33":
        # Least-squares cubic (the exact interpolating cubic for 4 points), centred for
        # conditioning; centring does not change the fitted function.
        x0 = float(np.mean(x))
        prim = np.polyint(np.polyfit(x - x0, y, 3))
        return float(np.polyval(prim, hi - x0) - np.polyval(prim, lo - x0))
    slopes = _pchip_slopes(x, y) if method == "pchip-jctvc" else _akima_slopes(x, y)
    return _hermite_integral(x, y, slopes, lo, hi)


# --------------------------------------------------------------------------- monotone refit


@dataclass(frozen=True)
class MonotoneFit:
    """Cubic q(t) = sum c[k] t^k in t = (log10(rate) - center) / scale, non-decreasing on the
    fitted rate range (t in [-1, 1]); ``qualities`` are its values at the input rates."""

    coefficients: tuple[float, float, float, float]
    center: float
    scale: float
    rates: np.ndarray
    qualities: np.ndarray

    def __call__(self, rates: Sequence[float] | np.ndarray) -> np.ndarray:
        t = (np.log10(np.asarray(rates, dtype=np.float64)) - self.center) / self.scale
        return np.polynomial.polynomial.polyval(t, np.asarray(self.coefficients))


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lawson-Hanson non-negative least squares: argmin ||a u - b|| subject to u >= 0."""
    m, n = a.shape
    passive = np.zeros(n, dtype=bool)
    u = np.zeros(n)
    tol = 10.0 * np.finfo(float).eps * np.linalg.norm(a, 1) * max(m, n)
    grad = a.T @ (b - a @ u)
    for _ in range(3 * n + 30):
        if passive.all() or not np.any(grad[~passive] > tol):
            return u
        j = int(np.argmax(np.where(passive, -np.inf, grad)))
        passive[j] = True
        for _ in range(3 * n + 30):
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if np.all(z[passive] > tol):
                u = z
                break
            neg = passive & (z <= tol)
            alpha = float(np.min(u[neg] / (u[neg] - z[neg])))
            u = u + alpha * (z - u)
            passive &= u > tol
            u[~passive] = 0.0
        grad = a.T @ (b - a @ u)
    raise CurveError("monotone refit: the constrained fit did not converge")


def _lsi(
    uu: np.ndarray, s: np.ndarray, vt: np.ndarray, q: np.ndarray, g: np.ndarray, name: str
) -> np.ndarray:
    """argmin ||U S V^T c - q|| subject to g c >= 0 (Lawson & Hanson's LSI -> LDP -> NNLS)."""
    gh = g @ vt.T / s
    hh = -gh @ (uu.T @ q)
    if np.all(hh <= 0):  # the unconstrained fit already satisfies the constraints
        w = np.zeros(vt.shape[0])
    else:
        # LDP -> NNLS: minimise ||[gh^T; hh^T] u - (0, ..., 0, 1)|| over u >= 0.
        mat = np.vstack([gh.T, hh[None, :]])
        rhs = np.zeros(mat.shape[0])
        rhs[-1] = 1.0
        u = _nnls(mat, rhs)
        res = mat @ u - rhs
        if abs(res[-1]) < 1e-300:
            raise CurveError(f"{name}: monotone refit constraints are infeasible")
        w = -res[:-1] / res[-1]
    return vt.T @ ((w + uu.T @ q) / s)


def monotone_refit(
    rates: Sequence[float],
    qualities: Sequence[float],
    *,
    name: str = "curve",
    grid_points: int = 201,
) -> MonotoneFit:
    """Refit quality against log10(rate) by a cubic that does not decrease over the rate range.

    The least-squares cubic is found subject to q'(t) >= 0 on the normalised range
    t in [-1, 1] (the VCM CTC monotone refit of task-accuracy curves: a constrained cubic in
    log-rate). The constraint is imposed at ``grid_points`` equally spaced points, plus the
    minimum of the quadratic q' wherever it would dip below 0 between them (cutting planes),
    so q' >= 0 holds on the whole range up to rounding. Each constrained least-squares problem
    is solved exactly by reduction to least distance programming and non-negative least
    squares (Lawson & Hanson, Solving Least Squares Problems, 1974, ch. 23). Needs 4 distinct
    rates.
    """
    r, q = _check(Curve(rates, qualities, name), 4)
    if np.unique(r).size < 4:
        raise CurveError(f"{name}: monotone refit needs at least 4 distinct rates")
    x = np.log10(r)
    center = 0.5 * (x[0] + x[-1])
    scale = 0.5 * (x[-1] - x[0])
    t = (x - center) / scale
    e = np.vander(t, 4, increasing=True)  # columns 1, t, t^2, t^3
    grid = np.linspace(-1.0, 1.0, grid_points)
    g = np.stack([np.zeros_like(grid), np.ones_like(grid), 2.0 * grid, 3.0 * grid**2], axis=1)

    # LSI -> LDP: with e = U S V^T and w = S V^T c - U^T q, ||e c - q||^2 = ||w||^2 + const and
    # g c >= 0 becomes gh w >= hh. Grid constraints are then tightened by cutting planes: the
    # minimum of the quadratic q' between grid points is added until q' >= 0 on all of [-1, 1].
    uu, s, vt = np.linalg.svd(e, full_matrices=False)
    for _ in range(20):
        coef = _lsi(uu, s, vt, q, g, name)
        a1, a2, a3 = coef[1], 2.0 * coef[2], 3.0 * coef[3]  # q'(t) = a1 + a2 t + a3 t^2
        if a3 <= 0:
            break  # a concave q' has its minimum at an end, which is on the grid
        vertex = -a2 / (2.0 * a3)
        slack = a1 + a2 * vertex + a3 * vertex * vertex
        if not -1.0 < vertex < 1.0 or slack >= -1e-13 * (abs(a1) + abs(a2) + abs(a3)):
            break
        g = np.vstack([g, [0.0, 1.0, 2.0 * vertex, 3.0 * vertex * vertex]])
    fitted = np.polynomial.polynomial.polyval(t, coef)
    coefficients = (float(coef[0]), float(coef[1]), float(coef[2]), float(coef[3]))
    return MonotoneFit(coefficients, float(center), float(scale), r, fitted)


# --------------------------------------------------------------------------- BD metrics


def _refit_curve(curve: Curve) -> Curve:
    fit = monotone_refit(curve.rates, curve.qualities, name=curve.name)
    return Curve(tuple(fit.rates), tuple(fit.qualities), curve.name)


def _compute(
    metric: str,
    anchor: CurveLike,
    test: CurveLike,
    method: str,
    refit: bool,
    min_overlap: float,
) -> BdResult:
    m = _method(method)
    a_curve = _as_curve(anchor, "anchor")
    t_curve = _as_curve(test, "test")
    if a_curve.name == t_curve.name:
        a_curve = Curve(a_curve.rates, a_curve.qualities, f"anchor {a_curve.name}")
        t_curve = Curve(t_curve.rates, t_curve.qualities, f"test {t_curve.name}")
    warnings: list[BdWarning] = []
    if refit:
        # Report what the original curves looked like, then evaluate the refitted ones.
        for c in (a_curve, t_curve):
            warnings.extend(_prepare(c, MIN_POINTS[m]).warnings)
        a_curve, t_curve = _refit_curve(a_curve), _refit_curve(t_curve)
    a = _prepare(a_curve, MIN_POINTS[m])
    t = _prepare(t_curve, MIN_POINTS[m])
    if not refit:
        warnings.extend(a.warnings + t.warnings)
    else:
        warnings.extend(w for w in a.warnings + t.warnings if w not in warnings)

    usable = (a.rate_ok and t.rate_ok) if metric == "bd-rate" else (a.quality_ok and t.quality_ok)
    if metric == "bd-rate":
        ax, ay, tx, ty = a.quality, a.log_rate, t.quality, t.log_rate
    else:
        ax, ay, tx, ty = a.log_rate, a.quality, t.log_rate, t.quality
    lo = max(float(ax.min()), float(tx.min()))
    hi = min(float(ax.max()), float(tx.max()))
    span = max(float(ax.max() - ax.min()), float(tx.max() - tx.min()))
    shown = (lo, hi) if metric == "bd-rate" else (10.0**lo, 10.0**hi)
    if hi <= lo:
        unit = "quality" if metric == "bd-rate" else "rate"
        warnings.append(
            BdWarning(
                WarningKind.NO_OVERLAP,
                f"the {unit} ranges of {a.name} and {t.name} do not overlap",
            )
        )
        return BdResult(None, metric, m, None, 0.0, tuple(warnings), refit)
    fraction = (hi - lo) / span if span > 0 else 0.0
    small = [
        c.name
        for c, x in ((a, ax), (t, tx))
        if (hi - lo) < min_overlap * float(x.max() - x.min())
    ]
    if small:
        warnings.append(
            BdWarning(
                WarningKind.SMALL_OVERLAP,
                f"the overlap covers less than {min_overlap:.0%} of the range of "
                f"{' and '.join(small)}",
            )
        )
    if not usable:
        return BdResult(None, metric, m, shown, fraction, tuple(warnings), refit)
    if m == "cubic-m33" and metric == "bd-rate":
        wild = [c.name for c, x, y in ((a, ax, ay), (t, tx, ty))
                if not _cubic_stays_near(x, y, lo, hi)]
        if wild:
            warnings.append(BdWarning(
                WarningKind.UNSTABLE_FIT,
                f"the cubic fit of log-rate against quality of {' and '.join(wild)} leaves the "
                "data's log-rate range by more than half its span inside the overlap (flat or "
                "saturated curves), so its integral means nothing; use pchip-jctvc or akima"))
            return BdResult(None, metric, m, shown, fraction, tuple(warnings), refit)
    ia = _integral(m, ax, ay, lo, hi)
    it = _integral(m, tx, ty, lo, hi)
    avg = (it - ia) / (hi - lo)
    value = (10.0**avg - 1.0) * 100.0 if metric == "bd-rate" else avg
    if not math.isfinite(value):
        raise CurveError(f"{m}: {metric} of {t.name} against {a.name} is not finite")
    return BdResult(float(value), metric, m, shown, fraction, tuple(warnings), refit)


def bd_rate(
    anchor: CurveLike,
    test: CurveLike,
    method: str = "pchip-jctvc",
    *,
    refit: bool = False,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> BdResult:
    """Average rate difference of ``test`` against ``anchor`` at equal quality, in percent.

    ``refit=True`` first replaces each curve's qualities by its :func:`monotone_refit` at the
    same rates (VCM CTC practice for task-accuracy curves); warnings about the original curves
    are still reported. Raises :class:`CurveError` for curves that cannot be evaluated (too few
    points, NaN/Inf, non-positive rates, mismatched lengths, unknown method).
    """
    return _compute("bd-rate", anchor, test, method, refit, min_overlap)


def bd_quality(
    anchor: CurveLike,
    test: CurveLike,
    method: str = "pchip-jctvc",
    *,
    refit: bool = False,
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> BdResult:
    """Average quality difference of ``test`` against ``anchor`` at equal rate (BD-PSNR for
    PSNR), in quality units, integrated over log10(rate). Same options and errors as
    :func:`bd_rate`; a curve whose quality is not increasing still gets a value (quality is a
    function of rate), with its NON_MONOTONIC or SATURATED warning."""
    return _compute("bd-quality", anchor, test, method, refit, min_overlap)
