"""Task metrics of a report: COCO mAP of detections on a subset of the ground truth's images,
and, where the ground truth has tracks (``track_id`` on its annotations), MOTA and IDF1 of the
tracker run on each sequence's detections."""

from __future__ import annotations

import math
from typing import Any


class GroundTruth:
    """The ground truth indexed by image, to evaluate subsets of images quickly."""

    def __init__(self, gt: dict[str, Any], iou_type: str):
        self.gt = gt
        self.iou_type = iou_type
        self.images = {img["id"]: img for img in gt.get("images", [])}
        self.anns: dict[Any, list[dict]] = {}
        for ann in gt.get("annotations", []):
            self.anns.setdefault(ann.get("image_id"), []).append(ann)
        self.by_video: dict[Any, list[Any]] = {}
        for img in gt.get("images", []):
            if "video_id" in img:
                self.by_video.setdefault(img["video_id"], []).append(img["id"])
        annotations = gt.get("annotations", [])
        self.has_tracks = bool(self.by_video) and bool(annotations) and all(
            "track_id" in a for a in annotations)

    def image_ids(self, item: dict[str, Any]) -> list[Any]:
        """The item's images: the image whose id is the item's, else the images of the video
        whose id it is."""
        iid = item.get("id")
        if iid in self.images:
            return [iid]
        return list(self.by_video.get(iid, []))

    def evaluate(self, ids: list[Any], dets: list[dict]) -> tuple[float | None, float | None]:
        """(mAP, mAP50) of the detections on these images (None when not defined)."""
        from vcmref.eval.task_metrics import coco_map

        sub = {
            "info": self.gt.get("info", {}),
            "categories": self.gt.get("categories", []),
            "images": [self.images[i] for i in ids],
            "annotations": [a for i in ids for a in self.anns.get(i, [])],
        }
        res = coco_map(sub, dets, iou_type=self.iou_type, image_ids=ids)

        def clean(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) or v < 0 else float(v)

        return clean(res.map), clean(res.map50)


    def scores(self, items: list[dict[str, Any]], dets: list[dict]) -> dict[str, float | None]:
        """mAP and mAP50 of the detections on the items' images (pooled), and with tracks
        MOTA and IDF1 over the items' sequences (motmetrics' overall figures)."""
        ids: list[Any] = []
        for item in items:
            ids.extend(i for i in self.image_ids(item) if i not in ids)
        m, m50 = self.evaluate(ids, dets)
        out: dict[str, float | None] = {"mAP": m, "mAP50": m50}
        if self.has_tracks:
            out.update(self.track_scores(items, dets))
        return out

    def track_scores(self, items: list[dict[str, Any]], dets: list[dict]
                     ) -> dict[str, float | None]:
        """MOTA and IDF1 of the tracker on the detections of each item's sequence, against the
        ground truth's tracks, summed over the sequences."""
        from vcmref.eval.tracking.coco import score_sequences

        grouped: dict[Any, list[Any]] = {}  # the chunks of a video join into its sequence
        for item in items:
            for f in self.by_video.get(item.get("id"), []):
                key = self.images[f].get("sequence_id", item.get("id"))
                grouped.setdefault(key, []).append(f)
        sequences = []
        for key, frames in grouped.items():
            frames = sorted(set(frames))  # frame ids rise in display order
            wanted = set(frames)
            gt = [a for f in frames for a in self.anns.get(f, [])]
            hyp = [d for d in dets if d.get("image_id") in wanted]
            sequences.append((f"sequence {key}", frames, gt, hyp))
        if not sequences:
            return {"MOTA": None, "IDF1": None}
        summary = score_sequences(sequences)
        return {"MOTA": summary["mota"], "IDF1": summary["idf1"]}


def iou_type(cfg: dict[str, Any]) -> str:
    task = cfg.get("task")
    if isinstance(task, dict) and task.get("iou_type") in ("bbox", "segm"):
        return str(task["iou_type"])
    return "bbox"

