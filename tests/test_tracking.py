"""MOT evaluation: the MOT Challenge formats (read, write, bad input), the scores against
motmetrics' published numbers, and pseudo ground truth."""

from __future__ import annotations

import importlib.resources
import math
import warnings
from pathlib import Path

import motmetrics as mm
import numpy as np
import pytest

from vcmref.errors import VcmrefError
from vcmref.eval.tracking.mot import (
    FrameEntries,
    MotFormatError,
    MotTracks,
    read_mot_file,
    read_seqinfo,
    read_sequence,
    write_mot_file,
)
from vcmref.eval.tracking.pseudo_gt import pseudo_ground_truth
from vcmref.eval.tracking.scores import (
    DEFAULT_RULES,
    MOT17_RULES,
    accumulate,
    evaluate,
    evaluate_sequence,
    iou_distance_matrix,
    summarize,
)
from vcmref.eval.tracking.synthetic import (
    SyntheticScene,
    noisy_detections,
    write_synthetic_sequence,
)
from vcmref.eval.tracking.tracker import track_sequence

MOTMETRICS_DATA = importlib.resources.files("motmetrics") / "data"

SEQINFO = """[Sequence]
name=TINY
imDir=img1
frameRate=25
seqLength=4
imWidth=64
imHeight=48
imExt=.jpg
"""


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory) -> Path:
    return write_synthetic_sequence(tmp_path_factory.mktemp("mot") / "SYNTH-crossing")


def tiny_sequence(folder: Path, gt_text: str, seqinfo: str = SEQINFO) -> Path:
    """A MOT folder with the given seqinfo.ini and gt/gt.txt, and no frames."""
    (folder / "gt").mkdir(parents=True)
    (folder / "seqinfo.ini").write_text(seqinfo)
    (folder / "gt" / "gt.txt").write_text(gt_text)
    return folder


def one_line_error(call, *parts: str) -> str:
    """Run `call`; it must raise a one-line MotFormatError (a VcmrefError) naming `parts`."""
    with pytest.raises(MotFormatError) as caught:
        call()
    message = str(caught.value)
    assert isinstance(caught.value, VcmrefError)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)
    return message


# --------------------------------------------------------------------------- reading


def test_synthetic_sequence_reads_back_as_rendered(synthetic_folder):
    sequence = read_sequence(synthetic_folder)
    info = sequence.info
    assert (info.name, info.width, info.height, info.num_frames) == ("SYNTH-crossing", 160, 120,
                                                                     30)
    assert info.frame_rate == 30.0 and info.image_path(7).name == "000007.png"
    assert info.image_path(30).is_file() and sequence.detections is None
    truth = SyntheticScene().ground_truth()
    assert sequence.gt.num_frames == 30 and sequence.gt.num_entries() == truth.num_entries()
    for frame in (1, 5, 17, 30):
        read, known = sequence.gt.frame(frame), truth.frame(frame)
        np.testing.assert_array_equal(read.ids, known.ids)
        np.testing.assert_array_equal(read.boxes, known.boxes)  # 0-based xyxy after reading
        np.testing.assert_allclose(read.visibility, known.visibility)
    # the red rectangle's 0-based corner (8, 30) is "9,31" in the 1-based file
    first_line = (synthetic_folder / "gt" / "gt.txt").read_text().splitlines()[0]
    assert first_line == "1,1,9,31,16,24,1,1,1"
    assert sequence.gt.frame(17).visibility[0] == pytest.approx(4 / 24)  # red behind green
    assert 4 not in sequence.gt.frame(4).ids and 4 in sequence.gt.frame(6).ids  # enters
    assert 4 in sequence.gt.frame(24).ids and 4 not in sequence.gt.frame(25).ids  # leaves


def test_mot17_flags_mot15_lines_and_detections(tmp_path):
    folder = tiny_sequence(tmp_path / "TINY", "1,1,10,10,5,8,1,1,0.9\n"
                                               "1,2,20,10,5,8,0,7,0.2\n"
                                               "3,1,11,10,5,8,1,1,1\n")
    (folder / "det").mkdir()
    (folder / "det" / "det.txt").write_text("2,-1,10.5,10,5,8,0.87,-1,-1,-1\n")
    sequence = read_sequence(folder, check_images=False)
    frame = sequence.gt.frame(1)
    assert frame.counted.tolist() == [True, False]  # flag 0: ignored
    assert frame.classes.tolist() == [1, 7]
    np.testing.assert_array_equal(frame.boxes[0], [9, 9, 14, 17])
    assert len(sequence.gt.frame(2)) == 0 and sequence.gt.num_frames == 4
    det = sequence.detections.frame(2)
    assert det.scores.tolist() == [0.87] and det.boxes[0, 0] == 9.5

    mot15 = tmp_path / "mot15.txt"
    mot15.write_text("1,1,399,182,121,229,1,-1,-1,-1\n2,1,400,182,121,229,0,-1,-1,-1\n")
    tracks = read_mot_file(mot15, "gt")
    assert tracks.num_frames == 2
    assert tracks.frame(1).counted.tolist() == [True] and tracks.frame(2).counted.tolist() == [
        False]
    assert tracks.frame(1).classes.tolist() == [-1]  # not given in MOT15


# --------------------------------------------------------------------------- bad input


def test_folder_without_seqinfo(tmp_path):
    (tmp_path / "SEQ").mkdir()
    one_line_error(lambda: read_sequence(tmp_path / "SEQ"), "SEQ/seqinfo.ini", "not found")


@pytest.mark.parametrize("key", ["seqLength", "imExt", "imWidth"])
def test_seqinfo_missing_key(tmp_path, key):
    text = "".join(line + "\n" for line in SEQINFO.splitlines()
                   if not line.startswith(key + "="))
    folder = tiny_sequence(tmp_path / "SEQ", "", text)
    one_line_error(lambda: read_seqinfo(folder), "SEQ/seqinfo.ini", f"missing key {key!r}")


def test_seqinfo_bad_value_and_no_section(tmp_path):
    folder = tiny_sequence(tmp_path / "A", "", SEQINFO.replace("seqLength=4", "seqLength=four"))
    one_line_error(lambda: read_seqinfo(folder), "A/seqinfo.ini: line 5:", "seqLength",
                   "'four'")
    folder = tiny_sequence(tmp_path / "B", "", SEQINFO.replace("[Sequence]", "[Other]"))
    one_line_error(lambda: read_seqinfo(folder), "B/seqinfo.ini", "no [Sequence] section")


@pytest.mark.parametrize(("gt_text", "line", "says"), [
    ("1,1,10,10,5,8,1,1,1\n1,2,10,10,5,8,1,1\n", 2, "8 fields"),
    ("1,1,10,10,5,8,1\n", 1, "7 fields, expected 9"),
    ("1,1,10,10,5,8,1,1,1\n1,2,10,10,5,8,1,-1,-1,-1\n", 2, "10 fields, but line 1 has 9"),
    ("1,1,10,10,5,8,1,1,1\n\n2,1,ten,10,5,8,1,1,1\n", 3, "left is not a finite number: 'ten'"),
    ("1,1,10,10,5,8,1,1,nan\n", 1, "visibility is not a finite number"),
    ("0,1,10,10,5,8,1,1,1\n", 1, "frame 0 outside 1..4"),
    ("1,1,10,10,5,8,1,1,1\n5,1,10,10,5,8,1,1,1\n", 2, "frame 5 outside 1..4"),
    ("1,1,10,10,-5,8,1,1,1\n", 1, "negative width -5"),
    ("1,1,10,10,5,-0.5,1,1,1\n", 1, "negative height -0.5"),
    ("1.5,1,10,10,5,8,1,1,1\n", 1, "frame 1.5 is not an integer"),
    ("1,1,10,10,5,8,1,1,1\n1,1,12,10,5,8,1,1,1\n", 2, "id 1 appears twice in frame 1"),
])
def test_bad_gt_lines(tmp_path, gt_text, line, says):
    folder = tiny_sequence(tmp_path / "SEQ", gt_text)
    one_line_error(lambda: read_sequence(folder, check_images=False),
                   f"SEQ/gt/gt.txt: line {line}: ", says)


def test_missing_gt_and_missing_frames(tmp_path):
    folder = tiny_sequence(tmp_path / "SEQ", "")
    (folder / "gt" / "gt.txt").unlink()
    one_line_error(lambda: read_sequence(folder, check_images=False), "SEQ/gt/gt.txt",
                   "not found")
    assert read_sequence(folder, need_gt=False, check_images=False).gt is None
    (folder / "img1").mkdir()
    (folder / "img1" / "000001.jpg").write_bytes(b"")
    one_line_error(lambda: read_sequence(folder, need_gt=False), "SEQ/img1",
                   "3 of 4 frames missing", "000002.jpg")


# --------------------------------------------------------------------------- scores


def readme_accumulator(frames: int) -> mm.MOTAccumulator:
    """motmetrics' README example (its "Usage" section), the first `frames` frames."""
    updates = [
        ([1, 2], [1, 2, 3], [[0.1, np.nan, 0.3], [0.5, 0.2, 0.3]]),
        ([1, 2], [1], [[0.2], [0.4]]),
        ([1, 2], [1, 3], [[0.6, 0.2], [0.1, 0.6]]),
    ]
    accumulator = mm.MOTAccumulator()
    for frame, (objects, hypotheses, distances) in enumerate(updates[:frames], start=1):
        accumulator.update(objects, hypotheses, distances, frameid=frame)
    return accumulator


def test_summary_reproduces_the_motmetrics_readme_example():
    # README table: full 83.3 % IDF1, FP 1, FN 1, IDs 1, FM 1, MOTA 50 %, MOTP 0.340; part
    # (frames 1-2) 75 % IDF1, IDs 0, MOTP 0.167; OVERALL 80 % IDF1, MOTA 50 %, MOTP 0.275
    summary = summarize({"full": readme_accumulator(3), "part": readme_accumulator(2)})
    full, part, overall = summary.sequences["full"], summary.sequences["part"], summary.overall
    assert (full.mota, full.motp, full.idf1) == pytest.approx((0.5, 0.34, 5 / 6))
    assert (full.num_false_positives, full.num_misses, full.num_switches,
            full.num_fragmentations, full.num_objects) == (1, 1, 1, 1, 6)
    assert (part.mota, part.motp, part.idf1, part.num_switches) == pytest.approx(
        (0.5, 1 / 6, 0.75, 0))
    assert (overall.mota, overall.motp, overall.idf1) == pytest.approx((0.5, 0.275, 0.8))
    assert (overall.num_switches, overall.num_false_positives, overall.num_unique_objects,
            overall.mostly_tracked) == (1, 2, 4, 2)
    assert list(summary.table.index) == ["full", "part", "OVERALL"]
    assert not summary.pseudo_gt and summary.gt_label == "ground truth"


def test_tud_sequences_score_as_motmetrics_publishes():
    # motmetrics' test_metrics.py::test_motchallenge_files, the expected table there: our reader
    # (MOT15 10-field ground truth, 10-field results) and our IoU matrix give the same numbers
    sequences = {
        name: (read_mot_file(MOTMETRICS_DATA / name / "gt.txt", "gt"),
               read_mot_file(MOTMETRICS_DATA / name / "test.txt", "results"))
        for name in ("TUD-Campus", "TUD-Stadtmitte")
    }
    summary = evaluate(sequences)
    published = {  # IDF1, IDP, IDR, Rcll, Prcn, GT, MT, PT, ML, FP, FN, IDs, FM, MOTA, MOTP
        "TUD-Campus": (0.557659, 0.729730, 0.451253, 0.582173, 0.941441, 8, 1, 6, 1, 13, 150,
                       7, 7, 0.526462, 0.277201),
        "TUD-Stadtmitte": (0.644619, 0.819760, 0.531142, 0.608997, 0.939920, 10, 5, 4, 1, 45,
                           452, 7, 6, 0.564014, 0.345904),
        "OVERALL": (0.624296, 0.799176, 0.512211, 0.602640, 0.940268, 18, 6, 10, 2, 58, 602,
                    14, 13, 0.555116, 0.330177),
    }
    for name, expected in published.items():
        s = summary.overall if name == "OVERALL" else summary.sequences[name]
        got = (s.idf1, s.idp, s.idr, s.recall, s.precision, s.num_unique_objects,
               s.mostly_tracked, s.partially_tracked, s.mostly_lost, s.num_false_positives,
               s.num_misses, s.num_switches, s.num_fragmentations, s.mota, s.motp)
        assert got == pytest.approx(expected, abs=1e-6), name
        assert s.mota == pytest.approx(
            1 - (s.num_misses + s.num_false_positives + s.num_switches) / s.num_objects)


def test_iou_distance_matrix_is_motmetrics_iou_matrix(monkeypatch):
    rng = np.random.default_rng(0)
    gt = np.column_stack([rng.uniform(0, 50, (7, 2)), rng.uniform(1, 30, (7, 2))])
    hyp = np.concatenate([gt[:4] + rng.normal(0, 3, (4, 4)).clip(-0.5, None),
                          rng.uniform(1, 40, (3, 4))])
    ours = {gate: iou_distance_matrix(gt, hyp, gate) for gate in (0.5, 0.9)}
    # motmetrics 1.4.0's own iou_matrix needs np.asfarray (gone in numpy 2): lend it here only
    monkeypatch.setattr(np, "asfarray", lambda a: np.asarray(a, dtype=np.float64),
                        raising=False)
    for gate, distances in ours.items():
        theirs = mm.distances.iou_matrix(gt, hyp, max_iou=gate)
        np.testing.assert_array_equal(np.isnan(distances), np.isnan(theirs))
        np.testing.assert_allclose(distances, theirs)
        assert np.isfinite(distances).sum() >= 3 and np.isnan(distances).sum() >= 10
    assert iou_distance_matrix(gt[:0], hyp).shape == (0, 0)


def test_ground_truth_as_hypotheses_is_perfect(synthetic_folder):
    gt = read_sequence(synthetic_folder).gt
    scores = evaluate_sequence(gt, gt, "SYNTH")
    assert scores.mota == 1.0 and scores.idf1 == 1.0 and scores.motp == 0.0
    assert scores.num_switches == scores.num_misses == scores.num_false_positives == 0
    assert scores.num_objects == gt.num_entries() and scores.num_unique_objects == 4
    assert scores.num_frames == 30


def test_mot17_rules_match_motmetrics_clear_mot(tmp_path, monkeypatch):
    # MOT17-style: the blue object is a static person (class 7, flag 0: a distractor), the
    # yellow a car (class 3, flag 0: ignored but no distractor); the tracker tracks all four
    scene = SyntheticScene()
    truth = scene.ground_truth()
    classes = {1: 1, 2: 1, 3: 7, 4: 3}
    gt = MotTracks(tuple(
        FrameEntries(f.boxes, f.ids, [classes[i] for i in f.ids.tolist()], f.scores,
                     f.visibility, [classes[i] == 1 for i in f.ids.tolist()])
        for f in truth.frames))
    hyp = track_sequence(noisy_detections(truth, jitter=1.0, miss_rate=0.1, seed=4))
    (tmp_path / "gt").mkdir()
    write_mot_file(tmp_path / "gt" / "gt.txt", gt, kind="gt")
    write_mot_file(tmp_path / "results.txt", hyp)
    (tmp_path / "seqinfo.ini").write_text(SEQINFO.replace("seqLength=4", "seqLength=30"))

    ours = evaluate_sequence(gt, hyp, rules=MOT17_RULES)
    monkeypatch.setattr(np, "asfarray", lambda a: np.asarray(a, dtype=np.float64),
                        raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # motmetrics' loader: pandas 3 deprecation warnings
        accumulator, _ = mm.utils.CLEAR_MOT_M(
            mm.io.loadtxt(tmp_path / "gt" / "gt.txt", fmt="mot16"),
            mm.io.loadtxt(tmp_path / "results.txt", fmt="mot16"),
            str(tmp_path / "seqinfo.ini"), "iou", distth=0.5)
    theirs = summarize({"seq": accumulator}).sequences["seq"]
    for name in ("mota", "motp", "idf1", "num_false_positives", "num_misses", "num_switches",
                 "num_objects", "num_predictions"):
        assert getattr(ours, name) == pytest.approx(getattr(theirs, name)), name
    assert ours.num_objects == 2 * 30  # red and green, in every frame
    frame = truth.frame(10)
    car = iou_distance_matrix(frame.ltwh()[frame.ids == 4], hyp.frame(10).ltwh())
    car_track = hyp.frame(10).ids[np.nanargmin(car)]
    # the car's track is all false positives; the static person's is dropped
    assert ours.num_false_positives == sum(np.count_nonzero(f.ids == car_track)
                                           for f in hyp.frames) > 10
    default = evaluate_sequence(gt, hyp, rules=DEFAULT_RULES)
    assert default.num_false_positives == 0  # by default every flag-0 box is ignored


# --------------------------------------------------------------------------- round trip


def test_tracker_output_round_trip(synthetic_folder, tmp_path):
    sequence = read_sequence(synthetic_folder)
    hyp = track_sequence(noisy_detections(sequence.gt, jitter=1.0, miss_rate=0.1, seed=1))
    path = tmp_path / "out" / "SYNTH-crossing.txt"
    write_mot_file(path, hyp)
    line = path.read_text().splitlines()[0].split(",")
    assert len(line) == 10 and line[0] == "1" and line[7:] == ["-1", "-1", "-1"]
    back = read_mot_file(path, "results", num_frames=sequence.info.num_frames)
    for frame in range(1, 31):
        np.testing.assert_allclose(back.frame(frame).boxes, hyp.frame(frame).boxes,
                                   rtol=0, atol=1e-12)
        np.testing.assert_array_equal(back.frame(frame).ids, hyp.frame(frame).ids)
        np.testing.assert_array_equal(back.frame(frame).scores, hyp.frame(frame).scores)
    before = evaluate_sequence(sequence.gt, hyp)
    after = evaluate_sequence(sequence.gt, back)
    for name in ("num_switches", "num_false_positives", "num_misses", "num_objects",
                 "num_fragmentations"):
        assert getattr(after, name) == getattr(before, name)
    assert (after.mota, after.idf1, after.motp) == pytest.approx(
        (before.mota, before.idf1, before.motp), abs=1e-12)

    gt_copy = tmp_path / "gt.txt"
    write_mot_file(gt_copy, sequence.gt, kind="gt")
    assert gt_copy.read_text() == (synthetic_folder / "gt" / "gt.txt").read_text()


# --------------------------------------------------------------------------- pseudo GT


def test_pseudo_ground_truth_is_labelled_and_scores_against_itself():
    truth = SyntheticScene().ground_truth()
    # "uncompressed video": good detections; "decoded video": noisier, some missed
    reference = track_sequence(noisy_detections(truth, jitter=0.5, seed=10))
    pseudo = pseudo_ground_truth(reference, source="synthetic detections, tracker defaults")
    assert pseudo.pseudo_gt and pseudo.source.startswith("pseudo ground truth: ")
    assert pseudo.notes["tracks"] == "4"

    assert evaluate_sequence(pseudo, reference).idf1 == 1.0  # its own tracks: perfect
    decoded = track_sequence(noisy_detections(truth, jitter=1.5, miss_rate=0.1, seed=11))
    summary = evaluate({"SYNTH": (pseudo, decoded)})
    assert summary.pseudo_gt and summary.overall.pseudo_gt
    assert summary.sequences["SYNTH"].pseudo_gt and summary.gt_label == "pseudo ground truth"
    assert summary.gt_sources["SYNTH"] == pseudo.source
    assert 0.7 < summary.overall.mota < 1.0

    # short tracks (here: the yellow one, present 19 frames) are kept but ignored
    short = pseudo_ground_truth(reference, source="x", min_track_length=20)
    yellow = [f for f in short.frames if len(f) == 4]
    assert yellow and all(f.counted.tolist() == [True, True, True, False] for f in yellow)
    ignored = evaluate_sequence(short, decoded)
    counted = evaluate_sequence(pseudo, decoded)
    assert ignored.num_objects < counted.num_objects
    assert ignored.num_false_positives == counted.num_false_positives == 0
    assert not math.isnan(ignored.idf1)
    with pytest.raises(ValueError):
        pseudo_ground_truth(reference, source="x", min_track_length=0)


def test_accumulator_counts_every_frame():
    truth = SyntheticScene().ground_truth()
    empty = MotTracks((FrameEntries.empty(),) * 30)
    scores = summarize({"s": accumulate(truth, empty)}).sequences["s"]
    assert scores.num_frames == 30 and scores.num_misses == truth.num_entries()
    assert scores.mota == 0.0 and scores.idf1 == 0.0
