"""BD-rate / BD-quality (vcmref.eval.bd) and the `vcmref bdrate` logic (vcmref.eval.bdrate_cli).

Reference values and where they come from:

* JCTVC-E137 pairs (HM anchor vs test, 4 points each) with the BD-rates published in Netflix
  VMAF's unit tests, python/test/bd_rate_calculator_test.py (BDrateCalculatorJCTVCTest,
  https://github.com/Netflix/vmaf), whose calculator ports the JCT-VC sheet's piecewise cubic
  and states it is validated against JCTVC-E137
  (http://phenix.it-sudparis.eu/jct/doc_end_user/documents/5_Geneva/wg11/JCTVC-E137-v1.zip):
  -0.00465215420752807 and -0.018779823450567612 (fractions, i.e. -0.465...% and -1.877...%).
* The 99-point vs 45-point VMAF curves of the same VMAF test file
  (test_bd_rate_calculator_different: 0.08267113720900943, i.e. 8.267...%).
* The FAU-LMS `bjontegaard` package examples (README.md and example_usage.py of
  https://github.com/FAU-LMS/bjontegaard, "Test 1" with 4 points and "Test 3" with 6 points).
  The repository prints no numbers for them, so the values below were recorded from
  bjontegaard 1.3.0 (PyPI) with SciPy 1.17.1: methods 'pchip' (stated there to equal the
  JVET-T2010 sheet to 10 decimals), 'akima' (scipy Akima1DInterpolator) and 'cubic'
  (numpy.polyfit of degree 3, VCEG-M33). They are an independent implementation's output, not
  a standards body's table.

All comparisons are to 1e-6 percentage points (BD-rate) or 1e-6 quality units (BD-quality).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from vcmref.errors import VcmrefError
from vcmref.eval.bd import (
    METHODS,
    MIN_POINTS,
    Curve,
    CurveError,
    WarningKind,
    bd_quality,
    bd_rate,
    monotone_refit,
)
from vcmref.eval.bdrate_cli import read_curve, run_bdrate

TOL = 1e-6

# --------------------------------------------------------------------------- reference data


def curve(points, name):
    return Curve([p[0] for p in points], [p[1] for p in points], name)


# JCTVC-E137 data as used in VMAF's BDrateCalculatorJCTVCTest: (rate, PSNR).
E137_1_ANCHOR = [(108048.8736, 43.6471), (61279.976, 40.3953), (33905.6656, 37.247),
                 (18883.6928, 34.2911)]
E137_1_TEST = [(108061.2784, 43.6768), (61299.9936, 40.4232), (33928.7472, 37.2761),
               (18910.912, 34.3147)]
E137_2_ANCHOR = [(40433.8848, 37.5761), (7622.7456, 35.3756), (2394.488, 33.8977),
                 (1017.6184, 32.0603)]
E137_2_TEST = [(40370.12, 37.5982), (7587.0024, 35.4025), (2390.0944, 33.9194),
               (1017.0984, 32.0822)]

# VMAF test_bd_rate_calculator_different: (rate, VMAF score).
VMAF_SET_A = [
    (35.99646889759373, 21.955645250419696), (37.99471487409067, 25.51236452853944),
    (39.970621712367105, 28.044365039171787), (42.346972697257975, 30.479270893956333),
    (44.7457131337437, 32.55129509653048), (47.154365304980416, 34.35170492445439),
    (49.85285605484052, 36.159880512031336), (52.668811762730826, 37.817858687744824),
    (55.623246648013435, 39.4236739227756), (58.709821225517615, 40.97726075825405),
    (61.95339030218243, 42.47586071628426), (65.39086712367096, 43.94792672076104),
    (69.07053575825405, 45.38187315332959), (72.92296374930051, 46.7512838066592),
    (77.04220356463348, 48.12043552042529), (81.27714736989365, 49.42854125629547),
    (85.80023587017347, 50.72125632344712), (90.70151323447116, 52.02140726776721),
    (95.61377568550643, 53.247009597090084), (101.18490854504753, 54.54781877448235),
    (106.70571125909345, 55.77207227895914), (112.80107593732511, 57.05675384023505),
    (118.71002956351424, 58.22286424174595), (125.49624718522664, 59.4644650601567),
    (132.55080280358143, 60.67429805540012), (140.1958864969222, 61.90510035674314),
    (147.88641993844433, 63.041928063794046), (156.33494113598206, 64.22106624930048),
    (164.76788195858984, 65.33567544767766), (173.94668501398993, 66.48116736149971),
    (184.07738357022944, 67.64570549104643), (194.3000549748181, 68.7236593242865),
    (205.02014116955786, 69.79909077364297), (216.48558646334627, 70.86179997202017),
    (228.6963740850587, 71.91020905148292), (241.1654202574147, 72.91811104504754),
    (254.97357365976498, 73.96942905008393), (269.34394547845557, 74.9730472439843),
    (284.15034977056513, 75.93786445159483), (300.33591073866813, 76.91376459149411),
    (317.0971573363177, 77.86057887520982), (334.6360977616115, 78.78165542809175),
    (353.52509696138776, 79.69565129406824), (373.29134338556247, 80.57908869613874),
    (393.9552307218803, 81.44409020705092), (415.95752090095135, 82.30904120733068),
    (438.74847322327906, 83.13002760212642), (463.7617672915498, 83.97161655008395),
    (490.0063805707889, 84.77690864577501), (516.9553140067148, 85.5381991116396),
    (544.9439733240066, 86.28044596390599), (576.3607511751537, 87.049304036094),
    (607.7912813486286, 87.75004198377168), (642.9993396698372, 88.46859445998881),
    (678.4288774650249, 89.13938649272522), (716.0146116899828, 89.79232830861778),
    (757.1422397593731, 90.43804418019025), (799.5379996586456, 91.04304998601005),
    (843.7057127476214, 91.61936168158924), (891.0241835086737, 92.18129753777283),
    (941.0654296082818, 92.7274914871293), (992.0100858869608, 93.22531138080583),
    (1049.361345377728, 93.72490778539446), (1106.0225737101287, 94.16627750419697),
    (1169.031521835478, 94.61364252937885), (1234.2873478623392, 95.02554775461667),
    (1303.8650088919974, 95.42153838836039), (1377.1698176105203, 95.788557491606),
    (1453.2463230386118, 96.12595161583663), (1532.4943320201453, 96.43917551762732),
    (1621.3588033296023, 96.747294998601), (1705.825332271964, 97.00223929071069),
    (1807.3925386066035, 97.27276210128707), (1908.5000484107447, 97.50972255875773),
    (2014.398598975937, 97.72906203133745), (2127.9466272691657, 97.92876842473417),
    (2245.784021667598, 98.10873614297704), (2371.8831237045324, 98.2783919418019),
    (2505.2980083995526, 98.43403286233912), (2644.597092540571, 98.57010871572473),
    (2790.9417932904316, 98.69238183407946), (2948.672410660327, 98.80515458869611),
    (3107.1893589871306, 98.90337104085056), (3288.155564739787, 98.99696463346388),
    (3470.8710826636825, 99.07321914521543), (3665.2945898880803, 99.14012702853941),
    (3869.5733634862895, 99.19701270285395), (4071.5218731505315, 99.24300500839394),
    (4311.484267084497, 99.28674711807501), (4558.244802909904, 99.31946469641859),
    (4806.482321382206, 99.34378444320092), (5079.722132064913, 99.36144804141017),
    (5361.911769636264, 99.37290286793508), (5665.047368091774, 99.38022224398433),
    (5973.631636653609, 99.38404458589815), (6315.611591936206, 99.38606273782877),
    (6667.651857364297, 99.3870162283156), (7037.4516035086735, 99.3875896334639),
    (7434.023280637938, 99.38792124370454),
]
VMAF_SET_B = [
    (49.87328328483493, 28.61330510632344), (52.38326659205375, 32.39771999160604),
    (55.48787012870734, 35.43877945579183), (58.73340142697256, 37.81863505176273),
    (61.38781766088415, 39.45287702853945), (65.24973810856183, 41.51289594991606),
    (68.91803592053719, 43.25002306939003), (72.90461613878006, 44.95657251678791),
    (76.50681894795746, 46.343293172915494), (81.22743775601566, 48.06086461947399),
    (85.8963679574706, 49.55961627728036), (90.6221019585898, 50.90070572887522),
    (95.65390898712923, 52.23381047146056), (101.13434360380525, 53.61339359960829),
    (106.40240546726353, 54.8475233841634), (112.42335666480132, 56.18486674594291),
    (118.79365039171795, 57.459968270844996), (125.05231551203133, 58.63419768466705),
    (132.43335461667598, 59.89586900531618), (139.88996440962507, 61.0835185996083),
    (146.16949280917734, 62.04168247761612), (155.7417632232793, 63.3899363878008),
    (163.313640956911, 64.36612914101849), (173.5439432232792, 65.58913973139342),
    (182.53828067711245, 66.58945198656969), (193.15859545047564, 67.70600593172915),
    (204.38533732512593, 68.81500302182431), (215.95536735310577, 69.90734120033578),
    (227.63617066032455, 70.90756786513711), (241.31498514829323, 71.9597451385003),
    (253.7268753273643, 72.82036908925575), (267.2595965472859, 73.70446921516509),
    (283.9250800223839, 74.66681882344713), (294.27475915500827, 75.23454667039732),
    (316.458982495803, 76.38518377867935), (334.1048723838837, 77.20506813094572),
    (352.4061945998881, 77.96106693480695), (369.71439789031893, 78.57269429910465),
    (388.71730656966986, 79.09373393956353), (416.22584212646893, 79.73839594292109),
    (431.8296127756015, 80.04573062395076), (456.8111591046446, 80.4380911723559),
    (489.9550944711808, 80.81746619334079), (505.8411566927812, 80.9060061345831),
    (531.839469233352, 81.04617807078903),
]

# FAU-LMS bjontegaard examples: rates (kbps) and PSNR (dB).
FAU_1 = (
    [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851],
    [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987],
)
FAU_3 = (
    [82472.76, 26875.24, 9487.76, 4593.6, 3600, 2900], [43.825, 41.404, 40.037, 38.615, 36.5, 35.1],
    [99896.96, 33952.04, 9787.8, 4469.0, 4040, 3300], [44.731, 41.875, 40.121, 38.651, 37, 36.5],
)
# method -> (BD-rate %, BD-PSNR dB) from bjontegaard 1.3.0 (see the module docstring).
FAU_1_EXPECTED = {
    "pchip-jctvc": (-4.417485350589045, 0.11969278542479489),
    "akima": (-4.425245156997493, 0.11940927028529469),
    "cubic-m33": (-4.420462706125383, 0.12040941911451103),
}
FAU_3_EXPECTED = {
    "pchip-jctvc": (-2.9528024116427964, 0.08953590194998828),
    "akima": (-2.52692018696532, 0.050889305024889205),
    "cubic-m33": (-0.6392886208794191, 0.10358085154995482),
}


def fau(case):
    ra, qa, rt, qt = case
    return Curve(ra, qa, "anchor"), Curve(rt, qt, "test")


# --------------------------------------------------------------------------- published values


@pytest.mark.parametrize(
    ("anchor", "test", "expected_fraction"),
    [
        (E137_1_ANCHOR, E137_1_TEST, -0.00465215420752807),
        (E137_2_ANCHOR, E137_2_TEST, -0.018779823450567612),
    ],
)
def test_jctvc_e137_reference_values(anchor, test, expected_fraction):
    """JCTVC-E137 pairs: BD-rate as published in VMAF's BDrateCalculatorJCTVCTest."""
    result = bd_rate(curve(anchor, "anchor"), curve(test, "test"), "pchip-jctvc")
    assert result.value == pytest.approx(expected_fraction * 100, abs=TOL)
    assert result.warnings == ()
    assert result.overlap_fraction == pytest.approx(1.0, abs=0.02)


def test_vmaf_many_points_reference_value():
    """99 vs 45 points, VMAF test_bd_rate_calculator_different: 0.08267113720900943."""
    result = bd_rate(curve(VMAF_SET_A, "a"), curve(VMAF_SET_B, "b"), "pchip-jctvc")
    assert result.value == pytest.approx(0.08267113720900943 * 100, abs=TOL)
    assert bd_rate(curve(VMAF_SET_A, "a"), curve(VMAF_SET_A, "b")).value == pytest.approx(
        0.0, abs=1e-10
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("case", "expected"), [(FAU_1, FAU_1_EXPECTED), (FAU_3, FAU_3_EXPECTED)])
def test_fau_bjontegaard_examples(method, case, expected):
    """FAU-LMS bjontegaard README/example_usage data, values of bjontegaard 1.3.0."""
    anchor, test = fau(case)
    rate, psnr = expected[method]
    assert bd_rate(anchor, test, method).value == pytest.approx(rate, abs=TOL)
    assert bd_quality(anchor, test, method).value == pytest.approx(psnr, abs=TOL)


def test_pchip_alias_is_the_ctc_piecewise_cubic():
    anchor, test = fau(FAU_1)
    assert bd_rate(anchor, test, "pchip").value == bd_rate(anchor, test, "pchip-jctvc").value
    assert bd_rate(anchor, test, "pchip").method == "pchip-jctvc"


# --------------------------------------------------------------------------- properties


def synthetic(n, *, offset=0.0):
    rates = np.geomspace(100.0, 6400.0, n)
    quality = 30.0 + 6.0 * np.log10(rates) - 0.4 * np.log10(rates) ** 2 + offset
    return rates, quality


@pytest.mark.parametrize("n", [3, 4, 6, 8])
@pytest.mark.parametrize("method", METHODS)
def test_identical_scaled_and_shifted_curves(method, n):
    if n < MIN_POINTS[method]:
        pytest.skip("fewer points than the method accepts (tested in test_too_few_points)")
    rates, quality = synthetic(n)
    anchor = Curve(rates, quality, "anchor")
    same = bd_rate(anchor, Curve(rates, quality, "test"), method)
    assert same.value == pytest.approx(0.0, abs=1e-10)
    cheaper = bd_rate(anchor, Curve(rates * 0.9, quality, "test"), method)
    assert cheaper.value == pytest.approx(-10.0, abs=1e-9)
    assert cheaper.overlap_fraction == pytest.approx(1.0)
    assert bd_quality(anchor, Curve(rates, quality, "test"), method).value == pytest.approx(
        0.0, abs=1e-10
    )
    better = bd_quality(anchor, Curve(rates, quality + 0.5, "test"), method)
    assert better.value == pytest.approx(0.5, abs=1e-10)
    assert better.warnings == ()


@pytest.mark.parametrize("method", METHODS)
def test_swapping_curves_inverts_the_rate_ratio(method):
    anchor, test = fau(FAU_3)
    forward = bd_rate(anchor, test, method).value
    backward = bd_rate(test, anchor, method).value
    assert (1 + forward / 100) * (1 + backward / 100) == pytest.approx(1.0, abs=1e-12)
    assert bd_quality(anchor, test, method).value == pytest.approx(
        -bd_quality(test, anchor, method).value, abs=1e-12
    )


def test_point_order_does_not_matter_and_pairs_stay_pairs():
    ra, qa, rt, qt = FAU_3
    forward = bd_rate(Curve(ra, qa, "a"), Curve(rt, qt, "t")).value
    order = [3, 0, 5, 1, 4, 2]
    shuffled = bd_rate(
        Curve([ra[i] for i in order], [qa[i] for i in order], "a"), Curve(rt[::-1], qt[::-1], "t")
    ).value
    assert shuffled == forward


def test_tuple_input_and_different_point_counts():
    rates, quality = synthetic(8)
    r4, q4 = synthetic(4)
    result = bd_rate((list(rates), list(quality)), (list(r4 * 1.1), list(q4)), "akima")
    assert result.value is not None and -1 < result.value - 10 < 1


def test_overlap_is_the_intersection_of_the_quality_ranges():
    anchor, test = fau(FAU_1)
    r = bd_rate(anchor, test)
    assert r.overlap == (34.987, 40.037)
    q = bd_quality(anchor, test)
    assert q.overlap == pytest.approx((1358.24, 9487.76))


# --------------------------------------------------------------------------- bad curves


@pytest.mark.parametrize("method", METHODS)
def test_too_few_points(method):
    k = MIN_POINTS[method] - 1
    rates, quality = synthetic(6)
    with pytest.raises(CurveError, match=r"^short one: .* at least"):
        bd_rate(Curve(rates, quality, "good"), Curve(rates[:k], quality[:k], "short one"), method)


@pytest.mark.parametrize(
    ("rates", "quality", "pattern"),
    [
        ([100, 200, float("nan"), 800], [30, 32, 34, 36], "rate of point 2 is nan"),
        ([100, 200, 400, 800], [30, float("inf"), 34, 36], "quality of point 1 is inf"),
        ([100, 200, 400, 800], [30, 32, float("-inf"), 36], "quality of point 2 is -inf"),
        ([0, 200, 400, 800], [30, 32, 34, 36], r"rate of point 0 is 0.0 \(must be > 0\)"),
        ([100, -200, 400, 800], [30, 32, 34, 36], "rate of point 1 is -200.0"),
        ([100, 200, 400, 800], [30, 32, 34], "4 rates but 3 qualities"),
        ([100, 200, 400, 800], [30, 32, "x", 36], "not numbers"),
    ],
)
def test_bad_curves_name_the_curve(rates, quality, pattern):
    good = Curve([100, 200, 400, 800], [30, 32, 34, 36], "anchor.csv")
    with pytest.raises(CurveError, match=rf"^test codec: .*{pattern}"):
        bd_rate(good, Curve(rates, quality, "test codec"))
    with pytest.raises(VcmrefError):
        bd_quality(Curve(rates, quality, "test codec"), good)


def test_unknown_method():
    anchor, test = fau(FAU_1)
    with pytest.raises(CurveError, match="unknown BD method 'spline'"):
        bd_rate(anchor, test, "spline")


def test_same_names_are_told_apart():
    rates, quality = synthetic(4)
    with pytest.raises(CurveError, match=r"^test x: "):
        bd_rate(Curve(rates, quality, "x"), Curve(rates[:2], quality[:2], "x"))


# --------------------------------------------------------------------------- warnings


@pytest.mark.parametrize("method", METHODS)
def test_no_overlap(method):
    rates, quality = synthetic(5)
    r = bd_rate(Curve(rates, quality, "a"), Curve(rates, quality + 40, "t"), method)
    assert r.value is None and r.overlap is None and r.overlap_fraction == 0.0
    assert r.has(WarningKind.NO_OVERLAP)
    q = bd_quality(Curve(rates, quality, "a"), Curve(rates * 1e6, quality, "t"), method)
    assert q.value is None and q.has(WarningKind.NO_OVERLAP)


def test_small_overlap_still_computes():
    rates, quality = synthetic(6)
    r = bd_rate(Curve(rates, quality, "a"), Curve(rates, quality + 4.0, "t"))
    assert r.value is not None and r.value < 0
    assert r.has(WarningKind.SMALL_OVERLAP)
    assert 0 < r.overlap_fraction < 0.5
    assert not bd_rate(Curve(rates, quality, "a"), Curve(rates, quality + 0.2, "t")).warnings
    relaxed = bd_rate(Curve(rates, quality, "a"), Curve(rates, quality + 4.0, "t"), min_overlap=0.1)
    assert not relaxed.has(WarningKind.SMALL_OVERLAP)


def test_non_monotonic_curve_is_reported_not_repaired():
    a = Curve([100, 200, 400, 800, 1600], [30, 33, 32, 35, 37], "wobbly")
    b = Curve([100, 200, 400, 800, 1600], [30.5, 33, 34, 35.5, 37.2], "test")
    for method in METHODS:
        r = bd_rate(a, b, method)
        assert r.value is None
        assert [w.kind for w in r.warnings] == [WarningKind.NON_MONOTONIC]
        assert r.warnings[0].curve == "wobbly" and "wobbly" in r.warnings[0].message
        q = bd_quality(a, b, method)  # quality is still a function of rate
        assert q.value is not None and q.has(WarningKind.NON_MONOTONIC)


def test_lower_is_better_metric_is_non_monotonic():
    r = bd_rate(Curve([100, 200, 400, 800], [9, 7, 5, 3], "mse"), synthetic(4))
    assert r.value is None and r.has(WarningKind.NON_MONOTONIC)
    assert "negated" in r.warnings[0].message


def test_saturated_task_accuracy():
    rates = [50, 100, 200, 400, 800, 1600]
    anchor = Curve(rates, [0.20, 0.30, 0.36, 0.39, 0.39, 0.388], "anchor mAP")
    test = Curve([r * 0.8 for r in rates], [0.21, 0.31, 0.365, 0.392, 0.395, 0.396], "test mAP")
    r = bd_rate(anchor, test)
    assert r.value is None
    assert [w.kind for w in r.warnings] == [WarningKind.SATURATED]
    assert r.warnings[0].curve == "anchor mAP"
    q = bd_quality(anchor, test)
    assert q.value is not None and q.value > 0 and q.has(WarningKind.SATURATED)
    refitted = bd_rate(anchor, test, refit=True)
    assert refitted.refit and refitted.value is not None and refitted.value < 0
    assert refitted.has(WarningKind.SATURATED)  # the original curve's state is still reported


def test_exact_duplicates_are_merged_and_reported():
    ra, qa, rt, qt = FAU_1
    plain = bd_rate(Curve(ra, qa, "a"), Curve(rt, qt, "t")).value
    dup = bd_rate(Curve(ra + [ra[1]], qa + [qa[1]], "a"), Curve(rt, qt, "t"))
    assert dup.value == plain
    assert [w.kind for w in dup.warnings] == [WarningKind.DUPLICATE_POINTS]
    assert dup.warnings[0].curve == "a"


def test_contradictory_duplicates_give_no_value():
    ra, qa, rt, qt = FAU_1
    bad = Curve(ra + [ra[1]], qa + [qa[1] + 0.3], "a")
    for fn in (bd_rate, bd_quality):
        r = fn(bad, Curve(rt, qt, "t"))
        assert r.value is None and r.has(WarningKind.DUPLICATE_POINTS)
    with pytest.raises(CurveError, match="3 distinct points"):
        bd_rate(Curve([1, 2, 3, 3], [1, 2, 3, 3], "a"), Curve(rt, qt, "t"), "cubic-m33")


# --------------------------------------------------------------------------- monotone refit


def test_monotone_refit_is_non_decreasing_and_optimal():
    rates = [50, 100, 200, 400, 800, 1600, 3200]
    acc = [0.20, 0.31, 0.36, 0.40, 0.395, 0.41, 0.405]
    fit = monotone_refit(rates, acc, name="mAP")
    dense = fit(np.geomspace(50, 3200, 2001))
    assert np.all(np.diff(dense) >= -1e-12)
    assert np.all(np.diff(fit.qualities) > 0)
    x = (np.log10(rates) - fit.center) / fit.scale
    e = np.vander(x, 4, increasing=True)
    sse = float(np.sum((e @ np.array(fit.coefficients) - acc) ** 2))
    unconstrained = np.linalg.lstsq(e, acc, rcond=None)[0]
    assert np.min(np.polynomial.polynomial.polyval(np.linspace(-1, 1, 201),
                                                   np.polynomial.polynomial.polyder(
                                                       unconstrained))) < 0
    # No monotone cubic fits better: compare with random perturbations that stay monotone.
    rng = np.random.default_rng(0)
    grid = np.linspace(-1, 1, 4001)
    tried = 0
    for _ in range(400):
        c = np.array(fit.coefficients) + rng.normal(scale=1e-3, size=4)
        if (c[1] + 2 * c[2] * grid + 3 * c[3] * grid**2).min() >= 0:
            tried += 1
            assert float(np.sum((e @ c - acc) ** 2)) >= sse - 1e-15
    assert tried > 10


def test_monotone_refit_keeps_an_increasing_cubic():
    x = np.linspace(1.0, 3.0, 6)
    q = 0.1 + 0.2 * x - 0.02 * x**2 + 0.005 * x**3  # q' > 0 everywhere
    fit = monotone_refit(10**x, q)
    assert fit.qualities == pytest.approx(q, abs=1e-12)


def test_monotone_refit_needs_four_points():
    with pytest.raises(CurveError, match="^few: 3 points"):
        monotone_refit([1, 2, 3], [0.1, 0.2, 0.3], name="few")
    with pytest.raises(CurveError, match="^flatrate: monotone refit needs at least 4 distinct"):
        monotone_refit([1, 2, 3, 3], [0.1, 0.2, 0.3, 0.3], name="flatrate")


# --------------------------------------------------------------------------- the CLI logic


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_run_bdrate_table(tmp_path):
    ra, qa, rt, qt = FAU_1
    a = write(tmp_path / "anchor.csv",
              "qp,kbps,psnr\n" + "".join(f"{22 + 5 * i},{r},{q}\n" for i, (r, q) in
                                        enumerate(zip(ra, qa, strict=True))))
    body = "".join(f"{r},{q}\n" for r, q in zip(rt, qt, strict=True))
    t = write(tmp_path / "test.csv", "# x265 slower\nBitrate,PSNR\n\n" + body)
    out = run_bdrate(a, t)
    lines = out.splitlines()
    assert lines[0].startswith("anchor: ") and "(4 points)" in lines[0]
    for method in METHODS:
        row = next(line for line in lines if line.startswith(method))
        assert f"{FAU_1_EXPECTED[method][0]:+.4f}" in row
        assert f"{FAU_1_EXPECTED[method][1]:+.4f}" in row
    assert "warnings:" not in out
    only = run_bdrate(a, t, ["akima"])
    assert "akima" in only and "cubic-m33" not in only


def test_run_bdrate_selected_columns_and_warnings(tmp_path):
    a = write(tmp_path / "a.csv", "bpp,map,psnr\n0.1,0.20,30\n0.2,0.30,32\n0.4,0.36,34\n"
              "0.8,0.39,36\n1.6,0.388,38\n")
    t = write(tmp_path / "t.csv", "bpp,map,psnr\n0.1,0.22,30.5\n0.2,0.31,32.5\n0.4,0.37,34.5\n"
              "0.8,0.40,36.5\n")
    out = run_bdrate(a, t, quality_column="psnr")
    assert "warnings:" not in out
    out = run_bdrate(a, t)  # by default 'psnr' is preferred to 'map'
    assert "warnings:" not in out
    out = run_bdrate(a, t, quality_column="MAP")
    assert "\n  saturated: anchor a.csv: quality stops increasing" in out  # once, for all
    assert "n/a" in out
    out = run_bdrate(a, t, ["pchip-jctvc"], quality_column="map", refit=True)
    assert "monotone refit applied" in out
    row = next(line for line in out.splitlines() if line.startswith("pchip-jctvc"))
    assert "n/a" not in row.split()[1]


def test_run_bdrate_three_points_reports_method_error(tmp_path):
    a = write(tmp_path / "a.csv", "rate,quality\n100,30\n200,32\n400,33.5\n")
    t = write(tmp_path / "t.csv", "rate,quality\n90,30\n180,32\n360,33.5\n")
    out = run_bdrate(a, t)
    assert "cubic-m33: error: anchor a.csv: 3 points, the method needs at least 4" in out
    row = next(line for line in out.splitlines() if line.startswith("akima"))
    assert "-10.0000" in row


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("kbps,psnr\n100,30\n200,abc\n", r"bad.csv: line 3, column 'psnr': not a number: 'abc'"),
        ("kbps,psnr\n100,30\n200\n", r"bad.csv: line 3, column 'psnr': missing value"),
        ("size_kb,psnr\n100,30\n", r"bad.csv: line 1: no rate column"),
        ("kbps,score\n100,30\n", r"bad.csv: line 1: no quality column"),
        ("kbps,psnr\n", r"bad.csv: line 1: a header but no data rows"),
        ("", r"bad.csv: empty file"),
        ("kbps,psnr\n100,30\n-5,31\n200,32\n", r"bad.csv: line 3, column 'kbps': rate -5 \(must"),
        ("kbps,psnr\n100,30\n0,31\n200,32\n", r"bad.csv: line 3, column 'kbps': rate 0 "),
        ("kbps,psnr\n100,30\n50,nan\n", r"bad.csv: line 3, column 'psnr': nan \(must be finite"),
        ("kbps,psnr\n100,30\ninf,31\n", r"bad.csv: line 3, column 'kbps': inf "),
    ],
)
def test_run_bdrate_errors_name_file_line_column(tmp_path, text, pattern):
    bad = write(tmp_path / "bad.csv", text)
    good = write(tmp_path / "good.csv", "kbps,psnr\n100,30\n200,32\n400,34\n800,36\n")
    with pytest.raises(CurveError, match=pattern):
        run_bdrate(bad, good)


def test_read_curve_explicit_columns(tmp_path):
    path = write(tmp_path / "c.csv", "R,Q,psnr\n1,5,30\n2,6,31\n")
    c = read_curve(path, rate_column="r", quality_column="Q")
    assert list(c.rates) == [1.0, 2.0] and list(c.qualities) == [5.0, 6.0]
    with pytest.raises(CurveError, match="no quality column 'ssim'"):
        read_curve(path, rate_column="r", quality_column="ssim")
    with pytest.raises(CurveError, match="cannot read"):
        read_curve(tmp_path / "missing.csv")


def test_runtime_is_small():
    start = time.perf_counter()
    for method in METHODS:
        bd_rate(curve(VMAF_SET_A, "a"), curve(VMAF_SET_B, "b"), method)
    assert time.perf_counter() - start < 2.0
    assert math.isfinite(bd_rate(curve(VMAF_SET_A, "a"), curve(VMAF_SET_B, "b"), "akima").value)


def test_bdrate_command(tmp_path) -> None:
    """`vcmref bdrate` prints one row per method; with no usable method it exits 1."""
    from typer.testing import CliRunner

    from vcmref.cli import app

    anchor, test, short = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    anchor.write_text("kbps,psnr\n1000,30\n2000,33\n4000,36\n8000,39\n")
    test.write_text("kbps,psnr\n900,30\n1800,33\n3600,36\n7200,39\n")
    short.write_text("kbps,psnr\n1000,30\n")
    res = CliRunner().invoke(app, ["bdrate", str(anchor), str(test)])
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.output.splitlines() if line.startswith(METHODS)]
    assert [r[0] for r in rows] == list(METHODS)
    assert all(abs(float(r[1]) + 10.0) < 1e-6 for r in rows)
    res = CliRunner().invoke(app, ["bdrate", str(anchor), str(short)])
    assert res.exit_code == 1 and "needs at least" in res.output


def test_cubic_fit_that_turns_back_is_refused() -> None:
    """A saturated task curve, refitted: the M33 cubic of log-rate shoots off inside the
    overlap and its integral would be garbage (it gave -99.99999% on COCO): refused, while the
    local methods give a value."""
    anchor = Curve((0.085, 0.294, 0.744, 1.372, 2.095), (0.138, 0.282, 0.306, 0.312, 0.307), "a")
    test = Curve((0.097, 0.268, 0.522, 1.478, 1.765), (0.083, 0.208, 0.224, 0.300, 0.301), "t")
    m33 = bd_rate(anchor, test, "cubic-m33", refit=True)
    assert m33.value is None and m33.has(WarningKind.UNSTABLE_FIT)
    pchip = bd_rate(anchor, test, "pchip-jctvc", refit=True)
    assert pchip.value is not None and pchip.value > 0
