"""COCO mAP against pycocotools called directly, pooled class-level mAP, top-k accuracy."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest

from vcmref.assets import shared_dir
from vcmref.eval.task_metrics import (
    CocoMap,
    TaskMetric,
    TopKAccuracy,
    coco_map,
    pooled_map,
    topk_accuracy,
)

pytest.importorskip("pycocotools", reason="pycocotools is not installed")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

COCO_GT = shared_dir() / "data" / "coco_val80" / "annotations" / "instances_val2017.json"


@pytest.fixture(scope="module")
def gt_path():
    if not COCO_GT.is_file():
        pytest.skip(f"shared COCO assets not found at {COCO_GT} (set VCMREF_SHARED)")
    return COCO_GT


@pytest.fixture(scope="module")
def gt(gt_path):
    return json.loads(gt_path.read_text())


def jittered_detections(gt: dict, seed: int = 0) -> list[dict]:
    """Deterministic detections from the ground truth: boxes jittered, ~20 % dropped, one false
    positive per image (a random class at a random place), random scores."""
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    dets = []
    for a in gt["annotations"]:
        if rng.random() < 0.2:
            continue
        x, y, w, h = a["bbox"]
        j = rng.normal(0.0, 0.08, 4)
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"],
                     "bbox": [x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3])],
                     "score": float(rng.random())})
    for img in gt["images"]:
        w, h = rng.uniform(10, 100, 2)
        dets.append({"image_id": img["id"], "category_id": int(rng.choice(cats)),
                     "bbox": [float(rng.uniform(0, img["width"] - w)),
                              float(rng.uniform(0, img["height"] - h)), float(w), float(h)],
                     "score": float(rng.random())})
    return dets


def direct(gt_source, dets: list[dict], iou_type: str = "bbox", img_ids=None) -> COCOeval:
    """pycocotools called directly, the documented way."""
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt_source, dict):
            coco_gt = COCO()
            coco_gt.dataset = copy.deepcopy(gt_source)
            coco_gt.createIndex()
        else:
            coco_gt = COCO(str(gt_source))
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), iou_type)
        if img_ids is not None:
            ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def test_bbox_map_matches_pycocotools_direct(gt_path, gt):
    dets = jittered_detections(gt)
    before = copy.deepcopy(dets)
    ours = coco_map(gt_path, dets)
    ev = direct(gt_path, dets)
    assert dets == before  # inputs are not mutated
    assert np.max(np.abs(np.array(ours.stats) - ev.stats)) <= 1e-12
    assert (ours.map, ours.map50, ours.map75) == tuple(ev.stats[:3])
    assert 0.2 < ours.map < 0.9 and ours.num_images == 80 and ours.num_detections == len(dets)
    # every class has ground truth here, so the mean of per-class APs is the mAP
    assert len(ours.per_class) == 80 and not any(math.isnan(v) for v in ours.per_class.values())
    assert abs(np.mean(list(ours.per_class.values())) - ours.map) < 1e-12
    assert abs(np.mean(list(ours.per_class50.values())) - ours.map50) < 1e-12
    assert set(ours.per_class_by_name()) == {c["name"] for c in gt["categories"]}
    assert ours.as_dict()["stats"]["AP"] == ours.map


def test_image_subset_and_json_file_match_direct(gt_path, gt, tmp_path):
    dets = jittered_detections(gt, seed=1)
    ids = sorted(img["id"] for img in gt["images"])[::4]
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(dets))
    ours = coco_map(gt, det_file, image_ids=ids)
    ev = direct(gt, dets, img_ids=ids)
    assert ours.num_images == len(ids)
    assert np.max(np.abs(np.array(ours.stats) - ev.stats)) <= 1e-12
    # classes without ground truth in the subset get NaN and are left out of the mean
    per_class = [v for v in ours.per_class.values() if not math.isnan(v)]
    assert 0 < len(per_class) < 80
    assert abs(np.mean(per_class) - ours.map) < 1e-12


def test_pooling_halves_equals_whole_set(gt):
    """Two 'sequences' (halves of the set) pooled give exactly the mAP of the whole set."""
    imgs = sorted(gt["images"], key=lambda i: i["id"])[:16]
    anns = [a for a in gt["annotations"] if a["image_id"] in {i["id"] for i in imgs}]
    gt = {**gt, "categories": [c for c in gt["categories"]  # fewer classes: a faster test
                               if c["id"] in {a["category_id"] for a in anns}]}
    small = {**gt, "images": imgs, "annotations": anns}
    dets = [d for d in jittered_detections(gt, seed=2)
            if d["image_id"] in {i["id"] for i in imgs}]
    assert len(gt["categories"]) < 40 and len(dets) > 50
    halves = []
    for part in (imgs[:8], imgs[8:]):
        ids = {i["id"] for i in part}
        halves.append(({**gt, "images": part,
                        "annotations": [a for a in small["annotations"] if a["image_id"] in ids]},
                       [d for d in dets if d["image_id"] in ids]))
    whole = coco_map(small, dets)
    pooled = pooled_map(halves)
    assert pooled.stats == whole.stats
    metric = CocoMap()
    for h_gt, h_dets in halves:
        metric.update(h_dets, h_gt)
    assert metric.result().stats == whole.stats


# ---- hand-computable cases -------------------------------------------------------------------

CATS = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 7, "name": "bird"}]


def tiny_gt(boxes: list[tuple[int, int, list[float]]], n_images: int = 1) -> dict:
    """A ground truth of n 200x200 images; boxes are (image id, category id, bbox)."""
    return {"images": [{"id": i + 1, "width": 200, "height": 200} for i in range(n_images)],
            "categories": copy.deepcopy(CATS),
            "annotations": [{"id": k + 1, "image_id": im, "category_id": c, "bbox": b,
                             "area": b[2] * b[3], "iscrowd": 0}
                            for k, (im, c, b) in enumerate(boxes)]}


def det(image_id, cat, bbox, score):
    return {"image_id": image_id, "category_id": cat, "bbox": bbox, "score": score}


def test_per_class_ap_by_hand():
    gt = tiny_gt([(1, 1, [0, 0, 50, 50]), (1, 1, [100, 100, 50, 50]),
                  (1, 2, [0, 100, 100, 100])])
    dets = [det(1, 1, [0, 0, 50, 50], 0.9),        # TP at every IoU threshold
            det(1, 1, [150, 0, 40, 40], 0.8),      # FP
            det(1, 1, [100, 100, 50, 50], 0.7),    # TP
            det(1, 2, [0, 100, 100, 62], 0.6)]     # IoU 0.62: TP at .50, .55, .60 only
    r = coco_map(gt, dets)
    # class 1: precision 1 up to recall .5 (51 of the 101 recall points), 2/3 above (50 points)
    ap_cat = (51 * 1.0 + 50 * 2 / 3) / 101
    assert r.per_class[1] == pytest.approx(ap_cat, abs=1e-12)
    assert r.per_class[2] == pytest.approx(0.3, abs=1e-12)  # 3 of 10 IoU thresholds
    assert math.isnan(r.per_class[7])                       # no ground truth
    assert r.per_class50 == pytest.approx({1: ap_cat, 2: 1.0, 7: math.nan}, nan_ok=True)
    assert r.map == pytest.approx((ap_cat + 0.3) / 2, abs=1e-12)
    assert r.map50 == pytest.approx((ap_cat + 1.0) / 2, abs=1e-12)
    assert np.max(np.abs(np.array(r.stats) - direct(gt, dets).stats)) <= 1e-12


def test_pooled_differs_from_mean_of_sequences():
    seq_a = (tiny_gt([(1, 1, [0, 0, 50, 50])]), [det(1, 1, [0, 0, 50, 50], 0.5)])
    seq_b = (tiny_gt([(1, 1, [0, 0, 50, 50])]),
             [det(1, 1, [120, 120, 50, 50], 0.9), det(1, 1, [0, 0, 50, 50], 0.4)])
    a, b = coco_map(*seq_a), coco_map(*seq_b)
    assert a.map == pytest.approx(1.0) and b.map == pytest.approx(0.5)
    pooled = pooled_map([seq_a, seq_b])
    # pooled ranking FP .9, TP .5, TP .4 over 2 instances: interpolated precision 2/3 everywhere
    assert pooled.map == pytest.approx(2 / 3, abs=1e-12)
    assert pooled.map != pytest.approx((a.map + b.map) / 2)
    # the pooled set is the hand-merged set with renumbered images, evaluated directly
    merged = tiny_gt([(1, 1, [0, 0, 50, 50]), (2, 1, [0, 0, 50, 50])], n_images=2)
    merged_dets = [det(1, 1, [0, 0, 50, 50], 0.5), det(2, 1, [120, 120, 50, 50], 0.9),
                   det(2, 1, [0, 0, 50, 50], 0.4)]
    assert pooled.stats == tuple(float(s) for s in direct(merged, merged_dets).stats)


def test_pooled_rejects_conflicting_category_names():
    other = tiny_gt([])
    other["categories"][0]["name"] = "not a cat"
    with pytest.raises(ValueError, match="category 1"):
        pooled_map([(tiny_gt([]), []), (other, [])])


def test_empty_detections_give_zero_not_a_crash(gt):
    ids = sorted(img["id"] for img in gt["images"])[:10]
    r = coco_map(gt, [], image_ids=ids)
    assert r.map == 0.0 and r.map50 == 0.0 and r.num_detections == 0
    assert {v for v in r.per_class.values() if not math.isnan(v)} == {0.0}
    tiny = tiny_gt([(1, 1, [0, 0, 50, 50])])
    tiny["annotations"][0]["segmentation"] = square(0, 0, 50)
    assert coco_map(tiny, [], iou_type="segm").map == 0.0
    assert pooled_map([(tiny, []), (tiny, [])]).map == 0.0


def square(x, y, s):
    return [[x, y, x + s, y, x + s, y + s, x, y + s]]


def test_segm_on_polygons_matches_direct():
    gt = tiny_gt([], n_images=2)
    polys = [(1, 1, square(10, 10, 60)), (1, 2, [[100, 100, 180, 110, 150, 190]]),
             (2, 1, square(50, 50, 100))]
    for k, (im, c, seg) in enumerate(polys):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, 200, 200))
        gt["annotations"].append({"id": k + 1, "image_id": im, "category_id": c,
                                  "segmentation": seg, "iscrowd": 0,
                                  "area": float(mask_utils.area(rle)),
                                  "bbox": list(mask_utils.toBbox(rle))})

    def rle(seg):
        r = mask_utils.merge(mask_utils.frPyObjects(seg, 200, 200))
        return {"size": r["size"], "counts": r["counts"].decode()}

    dets = [{"image_id": 1, "category_id": 1, "segmentation": rle(square(12, 12, 60)),
             "score": 0.9},
            {"image_id": 1, "category_id": 2, "segmentation": rle([[100, 100, 180, 110,
                                                                    150, 190]]),
             "score": 0.8},
            {"image_id": 2, "category_id": 1, "segmentation": rle(square(70, 70, 100)),
             "score": 0.7},
            {"image_id": 2, "category_id": 2, "segmentation": rle(square(0, 0, 30)),
             "score": 0.6}]
    before = copy.deepcopy(dets)
    ours = coco_map(gt, dets, iou_type="segm")
    assert dets == before
    ev = direct(gt, dets, "segm")
    assert np.max(np.abs(np.array(ours.stats) - ev.stats)) <= 1e-12
    assert 0.0 < ours.map < 1.0 and ours.per_class[2] == pytest.approx(1.0)
    # polygon detections are turned into RLE on the image size: same numbers
    poly_dets = [{**d, "segmentation": s} for d, s in zip(
        dets, [square(12, 12, 60), [[100, 100, 180, 110, 150, 190]], square(70, 70, 100),
               square(0, 0, 30)], strict=True)]
    assert coco_map(gt, poly_dets, iou_type="segm").stats == ours.stats


@pytest.mark.parametrize("bad, match", [
    ({"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}, "image_id 9"),
    ({"image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 1}, "category_id 3"),
    ({"image_id": 1, "category_id": 1, "score": 1}, "bbox"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 1}, r"\[x, y, width"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": math.nan}, "score"),
])
def test_bad_detections_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        coco_map(tiny_gt([(1, 1, [0, 0, 5, 5])]), [bad])


def test_bad_arguments_rejected(tmp_path):
    gt = tiny_gt([(1, 1, [0, 0, 5, 5])])
    with pytest.raises(ValueError, match="iou_type"):
        coco_map(gt, [], iou_type="keypoints")
    with pytest.raises(ValueError, match="COCO dict"):
        coco_map({"images": []}, [])
    with pytest.raises(FileNotFoundError, match="not found"):
        coco_map(tmp_path / "missing.json", [])
    with pytest.raises(ValueError, match="not images"):
        coco_map(gt, [], image_ids=[5])
    with pytest.raises(ValueError, match="at least one"):
        pooled_map([])


# ---- classification ------------------------------------------------------------------------


def test_topk_accuracy_known_values():
    scores = np.array([[0.1, 0.5, 0.2, 0.0, 0.3, 0.9],   # ranking 5 1 4 2 0 3
                       [2.0, 1.0, 0.0, -1.0, 0.5, 0.2],  # ranking 0 1 4 5 2 3
                       [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],   # ties: 0 1 2 3 4 5
                       [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])  # ranking 5 4 3 2 1 0
    labels = np.array([5, 4, 5, 0])
    assert topk_accuracy(scores, labels, k=(1, 3, 5, 6)) == {1: 0.25, 3: 0.5, 5: 0.5, 6: 1.0}
    ranked = np.argsort(-scores, axis=1, kind="stable")
    assert topk_accuracy(ranked, labels, k=(1, 3), ranked=True) == {1: 0.25, 3: 0.5}
    metric = TopKAccuracy(k=(1, 3))
    metric.update(scores[:2], labels[:2])
    metric.update(scores[2:], labels[2:])
    assert metric.result() == {1: 0.25, 3: 0.5}
    metric.reset()
    with pytest.raises(ValueError, match="no samples"):
        metric.result()


def test_topk_accuracy_errors():
    s = np.zeros((2, 4))
    with pytest.raises(ValueError, match="exceeds"):
        topk_accuracy(s, np.array([0, 1]), k=(5,))
    with pytest.raises(ValueError, match=r"expected \(2,\) integers"):
        topk_accuracy(s, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="expected \\[0, 3\\]"):
        topk_accuracy(s, np.array([0, 4]), k=(1,))
    with pytest.raises(ValueError, match="NaN"):
        topk_accuracy(np.full((2, 4), np.nan), np.array([0, 1]), k=(1,))
    with pytest.raises(ValueError, match="positive integers"):
        topk_accuracy(s, np.array([0, 1]), k=(0,))


def test_task_metric_is_extensible():
    class CountingMetric(TaskMetric):  # the shape a MOTA metric takes
        name = "count"

        def reset(self):
            self.n = 0

        def update(self, predictions, ground_truth):
            self.n += len(ground_truth)

        def result(self):
            return self.n

    m = CountingMetric()
    m.update([], [1, 2])
    m.update([], [3])
    assert m.result() == 3
    with pytest.raises(TypeError):
        TaskMetric()  # abstract
