"""CLEAR MOT scores (MOTA, MOTP) and identity scores (IDF1, IDP, IDR) of tracker output against
ground truth, computed by motmetrics (py-motmetrics 1.4): one accumulator per sequence, then a
summary with a row per sequence and an OVERALL row over all of them (motmetrics'
``compute_many(..., generate_overall=True)``: the counts summed, the ratios recomputed).

Matching (motmetrics): per frame, ground truth and hypotheses pair by IoU of their boxes with
IoU >= 0.5 (distance 1 - IoU <= 0.5), established pairs kept while they stay within the gate,
the rest by minimum total distance.

* MOTA = 1 - (FN + FP + IDSW) / GT, GT the number of counted ground-truth boxes, summed over
  frames; MOTP here is motmetrics' mean distance 1 - IoU over matched pairs (lower is better;
  the MOT Challenge devkit reports (1 - MOTP) x 100).
* IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN) after the best one-to-one assignment of whole ground
  truth tracks to whole hypothesis tracks; IDP = IDTP / (IDTP + IDFP), IDR = IDTP / (IDTP +
  IDFN).

Ignored ground truth follows `GtRules`: an entry counts if its flag is non-zero (and its class
is one of `counted_classes`, when given); before matching, each hypothesis paired (IoU >= 0.5,
one assignment per frame) with a not-counted entry that is a distractor is removed, so it is
neither a match nor a false positive. `MOT17_RULES` are motmetrics' MOT16/17 rules
(pedestrians counted, classes 2, 7, 8, 12 distractors); the default counts every flagged entry
and treats every flag-0 entry as a region to ignore.

motmetrics 1.4.0 with numpy 2: ``motmetrics.distances.iou_matrix`` calls ``np.asfarray``, which
numpy 2 removed, so `iou_distance_matrix` computes the same matrix with motmetrics' own
``boxiou``; nothing of numpy or motmetrics is patched. The other parts used here (the
accumulator, ``compute_many``, the assignment solver) run unchanged on numpy 2 and pandas 3.
The assignments use scipy's solver whatever else is installed (`SOLVER`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import motmetrics as mm
import numpy as np
import pandas as pd
from motmetrics.distances import boxiou
from motmetrics.lap import linear_sum_assignment

from vcmref.eval.tracking.mot import FrameEntries, MotTracks

OVERALL = "OVERALL"
STANDARD_MIN_IOU = 0.5
#: motmetrics takes the first assignment solver installed (lapsolver, lap, scipy, ...); scores
#: name scipy's, so that they do not depend on what else is installed.
SOLVER = "scipy"


@dataclass(frozen=True)
class GtRules:
    """Which ground truth counts and which hypotheses are dropped before matching.

    `counted_classes`: None counts every class (an entry still needs a non-zero flag).
    `distractor_classes`: among not-counted entries, those a hypothesis may cover without
    being a false positive; None makes every not-counted entry one."""

    counted_classes: frozenset[int] | None = None
    distractor_classes: frozenset[int] | None = None

    def counts(self, entries: FrameEntries) -> np.ndarray:
        """Which entries of a ground-truth frame count (bool mask)."""
        counted = entries.counted.copy()
        if self.counted_classes is not None:
            counted &= np.isin(entries.classes, sorted(self.counted_classes))
        return counted

    def distractors(self, entries: FrameEntries) -> np.ndarray:
        """Which entries of a ground-truth frame absorb a hypothesis (bool mask)."""
        ignored = ~self.counts(entries)
        if self.distractor_classes is None:
            return ignored
        return ignored & np.isin(entries.classes, sorted(self.distractor_classes))


DEFAULT_RULES = GtRules()
#: motmetrics' MOT16/17 rules (utils.CLEAR_MOT_M, preprocess.preprocessResult): class 1
#: (pedestrian) counted; person on vehicle, static person, distractor, reflection absorb.
MOT17_RULES = GtRules(counted_classes=frozenset({1}), distractor_classes=frozenset({2, 7, 8, 12}))


def iou_distance_matrix(gt_ltwh: np.ndarray, hyp_ltwh: np.ndarray,
                        max_distance: float = 1.0 - STANDARD_MIN_IOU) -> np.ndarray:
    """motmetrics' ``iou_matrix``: 1 - IoU of every ground-truth box with every hypothesis
    box, both (left, top, width, height); NaN (cannot pair) where above `max_distance`.
    Returns (0, 0) when either side is empty, as motmetrics does."""
    gt_ltwh = np.asarray(gt_ltwh, dtype=np.float64)
    hyp_ltwh = np.asarray(hyp_ltwh, dtype=np.float64)
    if gt_ltwh.size == 0 or hyp_ltwh.size == 0:
        return np.empty((0, 0))
    distance = 1.0 - boxiou(gt_ltwh.reshape(-1, 4)[:, None], hyp_ltwh.reshape(-1, 4)[None, :])
    return np.where(distance > max_distance, np.nan, distance)


def _without_distractor_hits(gt: FrameEntries, hyp: FrameEntries, rules: GtRules,
                             max_distance: float) -> FrameEntries:
    """`hyp` less the hypotheses the frame's assignment pairs with a distractor."""
    distractor = rules.distractors(gt)
    if not distractor.any() or len(hyp) == 0:
        return hyp
    distances = iou_distance_matrix(gt.ltwh(), hyp.ltwh(), max_distance)
    rows, cols = linear_sum_assignment(distances, solver=SOLVER)
    drop = np.zeros(len(hyp), dtype=bool)
    for r, c in zip(rows, cols, strict=True):
        if np.isfinite(distances[r, c]) and distractor[r]:
            drop[c] = True
    return hyp.select(~drop)


def accumulate(gt: MotTracks, hypotheses: MotTracks, *, rules: GtRules = DEFAULT_RULES,
               min_iou: float = STANDARD_MIN_IOU) -> mm.MOTAccumulator:
    """motmetrics' event accumulator of one sequence, frame ids 1..N (N the longer of the
    two); boxes pair when their IoU is at least `min_iou` (0.5: the MOT Challenge's)."""
    if not 0.0 < min_iou <= 1.0:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
    max_distance = 1.0 - min_iou
    accumulator = mm.MOTAccumulator()
    with mm.lap.set_default_solver(SOLVER):
        for frame in range(1, max(gt.num_frames, hypotheses.num_frames) + 1):
            gt_frame, hyp_frame = gt.frame(frame), hypotheses.frame(frame)
            hyp_frame = _without_distractor_hits(gt_frame, hyp_frame, rules, max_distance)
            gt_frame = gt_frame.select(rules.counts(gt_frame))
            distances = iou_distance_matrix(gt_frame.ltwh(), hyp_frame.ltwh(), max_distance)
            accumulator.update(gt_frame.ids, hyp_frame.ids,
                               distances.reshape(len(gt_frame), len(hyp_frame)), frameid=frame)
    return accumulator


#: The motmetrics metrics a `TrackingScores` holds, by their motmetrics names.
METRICS = (
    "mota", "motp", "idf1", "idp", "idr", "precision", "recall",
    "num_switches", "num_fragmentations", "num_false_positives", "num_misses", "num_matches",
    "num_objects", "num_predictions", "num_unique_objects", "mostly_tracked",
    "partially_tracked", "mostly_lost", "num_frames",
)


@dataclass(frozen=True)
class TrackingScores:
    """Scores of one sequence (or OVERALL), named as motmetrics names them.

    Ratios are floats (NaN where undefined, e.g. MOTP without a match): `mota`, `motp` (mean
    1 - IoU of matches), `idf1`, `idp`, `idr`, `precision`, `recall`. Counts are ints, summed
    over frames: `num_switches` (IDSW), `num_fragmentations`, `num_false_positives` (FP),
    `num_misses` (FN), `num_matches`, `num_objects` (GT: counted ground-truth boxes),
    `num_predictions` (hypothesis boxes scored), `num_unique_objects` (ground-truth tracks),
    `mostly_tracked`/`partially_tracked`/`mostly_lost` (tracks covered >= 80 %, 20-80 %,
    < 20 %), `num_frames`. `pseudo_gt`: scored against pseudo ground truth."""

    name: str
    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    precision: float
    recall: float
    num_switches: int
    num_fragmentations: int
    num_false_positives: int
    num_misses: int
    num_matches: int
    num_objects: int
    num_predictions: int
    num_unique_objects: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    num_frames: int
    pseudo_gt: bool = False

    @classmethod
    def from_row(cls, name: str, row: pd.Series, pseudo_gt: bool = False) -> TrackingScores:
        values = {}
        for f in fields(cls):
            if f.name in METRICS:
                value = float(row[f.name])
                values[f.name] = value if f.type == "float" else int(round(value))
        return cls(name=name, pseudo_gt=pseudo_gt, **values)


@dataclass(frozen=True, eq=False)
class TrackingSummary:
    """Scores per sequence and OVERALL, and motmetrics' table (one row per sequence, then
    OVERALL; columns `METRICS`). `pseudo_gt`: some sequence was scored against pseudo ground
    truth; `gt_sources` says where each sequence's ground truth came from."""

    sequences: dict[str, TrackingScores]
    overall: TrackingScores
    table: pd.DataFrame
    pseudo_gt: bool = False
    gt_sources: dict[str, str] = field(default_factory=dict)

    @property
    def gt_label(self) -> str:
        """What the scores were measured against, in words, for a report."""
        flags = {s.pseudo_gt for s in self.sequences.values()}
        if flags == {True}:
            return "pseudo ground truth"
        return "ground truth, partly pseudo" if True in flags else "ground truth"


def summarize(accumulators: Mapping[str, mm.MOTAccumulator], *,
              pseudo_gt: Mapping[str, bool] | None = None,
              gt_sources: Mapping[str, str] | None = None) -> TrackingSummary:
    """Per-sequence and OVERALL scores of motmetrics accumulators, keyed by sequence name;
    `pseudo_gt` says which sequences' ground truth is pseudo ground truth."""
    if not accumulators:
        raise ValueError("no sequences to summarize")
    if OVERALL in accumulators:
        raise ValueError(f"a sequence may not be named {OVERALL!r} (the summary row's name)")
    names = list(accumulators)
    pseudo = {n: bool((pseudo_gt or {}).get(n, False)) for n in names}
    with mm.lap.set_default_solver(SOLVER):  # IDF1's assignment of whole tracks
        table = mm.metrics.create().compute_many(
            [accumulators[n] for n in names], metrics=list(METRICS), names=names,
            generate_overall=True)
    sequences = {n: TrackingScores.from_row(n, table.loc[n], pseudo[n]) for n in names}
    overall = TrackingScores.from_row(OVERALL, table.loc[OVERALL], any(pseudo.values()))
    return TrackingSummary(sequences, overall, table, any(pseudo.values()),
                           dict(gt_sources or {}))


def evaluate(sequences: Mapping[str, tuple[MotTracks, MotTracks]], *,
             rules: GtRules = DEFAULT_RULES,
             min_iou: float = STANDARD_MIN_IOU) -> TrackingSummary:
    """Score tracker output against ground truth: `sequences` maps a name to (ground truth,
    hypotheses); the pseudo-GT label of each ground truth is carried into the scores."""
    accumulators = {n: accumulate(gt, hyp, rules=rules, min_iou=min_iou)
                    for n, (gt, hyp) in sequences.items()}
    return summarize(accumulators,
                     pseudo_gt={n: gt.pseudo_gt for n, (gt, _) in sequences.items()},
                     gt_sources={n: gt.source for n, (gt, _) in sequences.items()})


def evaluate_sequence(gt: MotTracks, hypotheses: MotTracks, name: str = "sequence", *,
                      rules: GtRules = DEFAULT_RULES,
                      min_iou: float = STANDARD_MIN_IOU) -> TrackingScores:
    """The scores of one sequence (`evaluate` with one entry)."""
    return evaluate({name: (gt, hypotheses)}, rules=rules, min_iou=min_iou).sequences[name]

