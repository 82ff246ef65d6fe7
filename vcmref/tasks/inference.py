"""Running a task model over a dataset: remote inference (whole network on each image) or
split inference (front, an optional transform of the split tensors such as a codec round trip,
then back), streaming one image at a time, and pseudo ground truth for unannotated content."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.eval.datasets import Dataset
from vcmref.fileio import write_atomic
from vcmref.tasks.base import Predictions, TaskModel, Tensors

TensorTransform = Callable[[Tensors], Tensors]
PSEUDO_GT_KEY = "vcmref_pseudo_ground_truth"


@dataclass
class InferenceRecord:
    """Predictions of one image; `tensors` holds the split tensors when asked for."""

    image_id: int
    name: str
    predictions: Predictions
    tensors: Tensors | None = None


def run_inference(model: TaskModel, dataset: Dataset, split: str | None = None,
                  transform: TensorTransform | None = None,
                  keep_tensors: bool = False) -> Iterator[InferenceRecord]:
    """Yield each image's predictions: `full` when `split` is None, else front -> transform
    -> back. One image is in memory at a time."""
    if split is not None:
        model.check_split(split)
    for item in dataset:
        image = dataset.load_image(item)
        if split is None:
            yield InferenceRecord(item.id, item.name, model.full(image, item.id))
            continue
        prepared = model.preprocess(image, item.id)
        tensors = model.front(prepared, split)
        if transform is not None:
            tensors = transform(tensors)
        yield InferenceRecord(item.id, item.name, model.back(tensors, prepared, split),
                              tensors if keep_tensors else None)


def detections(model: TaskModel, dataset: Dataset, split: str | None = None,
               transform: TensorTransform | None = None) -> Predictions:
    """All COCO detections of a dataset, in image order."""
    out: Predictions = []
    for record in run_inference(model, dataset, split, transform):
        out.extend(record.predictions)
    return out


def pseudo_ground_truth(model: TaskModel, dataset: Dataset, score_threshold: float = 0.5,
                        categories: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """COCO ground truth made of the model's detections on the uncompressed images with a score
    of at least `score_threshold`: task fidelity rather than accuracy. The result says so in
    its ``info`` (see `ground_truth_label`)."""
    if not 0.0 < score_threshold <= 1.0:
        raise ValueError(f"score threshold {score_threshold}: expected a value in (0, 1]")
    label = (f"pseudo ground truth (task fidelity): {model.name} detections on the "
             f"uncompressed images, score >= {score_threshold:g}")
    images, annotations = [], []
    for record in run_inference(model, dataset):
        item = dataset[record.image_id]
        images.append(item.image_record())
        for det in record.predictions:
            if det["score"] < score_threshold:
                continue
            x, y, w, h = det["bbox"]
            annotations.append({"id": len(annotations) + 1, "image_id": record.image_id,
                                "category_id": det["category_id"], "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    cats = categories if categories is not None else (list(dataset.categories)
                                                      or default_categories(model))
    return {"info": {"description": label, PSEUDO_GT_KEY: True}, "images": images,
            "annotations": annotations, "categories": cats}


def video_pseudo_ground_truth(model: TaskModel, dataset: Dataset, score_threshold: float = 0.5,
                              categories: list[dict[str, Any]] | None = None
                              ) -> dict[str, Any]:
    """Pseudo ground truth of a video dataset: the model's detections (score >= threshold) on
    every uncompressed frame, one ``images`` entry per frame (``video_id``: the sequence's
    item id), and tracks: each annotation's ``track_id`` is the identity the tracker gives it
    on those detections (vcmref.eval.tracking), for MOTA and IDF1. Labelled as pseudo."""
    from vcmref.eval.tracking.coco import track_detections

    if not 0.0 < score_threshold <= 1.0:
        raise ValueError(f"score threshold {score_threshold}: expected a value in (0, 1]")
    label = (f"pseudo ground truth (task fidelity): {model.name} detections on the "
             f"uncompressed frames, score >= {score_threshold:g}, tracked")
    images, annotations = [], []
    sequences: dict[int, list[Any]] = {}  # chunks of one video are tracked as one sequence
    for item in dataset:
        sequences.setdefault(dataset.sequence_id(item), []).append(item)
    for items in sequences.values():
        frame_ids, kept = [], []
        for item in items:
            images.extend(dataset.frame_records(item))
            ids = dataset.frame_ids(item)
            frame_ids += ids
            kept += [d for image, fid in zip(dataset.load_frames(item), ids, strict=True)
                     for d in model.full(image, fid) if d["score"] >= score_threshold]
        for det in track_detections(kept, frame_ids):
            x, y, w, h = det["bbox"]
            annotations.append({"id": len(annotations) + 1, "image_id": det["image_id"],
                                "category_id": det["category_id"], "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0, "track_id": det["track_id"]})
    cats = categories if categories is not None else (list(dataset.categories)
                                                      or default_categories(model))
    return {"info": {"description": label, PSEUDO_GT_KEY: True}, "images": images,
            "annotations": annotations, "categories": cats}


def default_categories(model: TaskModel) -> list[dict[str, Any]]:
    names = getattr(model, "category_names", None)
    if not names:
        raise ValueError(f"{model.name} has no category list; pass categories")
    return [{"id": cid, "name": name} for cid, name in names.items()]


def ground_truth_label(ground_truth: dict[str, Any]) -> str:
    """'ground truth', or the pseudo ground truth's own description: for every result table."""
    info = ground_truth.get("info") or {}
    if info.get(PSEUDO_GT_KEY):
        return str(info.get("description", "pseudo ground truth"))
    return "ground truth"


def export_features(model: TaskModel, dataset: Dataset, split: str,
                    out_dir: str | Path) -> list[Path]:
    """Write each image's split-point tensors to OUT_DIR/NAME.npz (float32 (C, H, W) per
    tensor, the codec's input format) and an index.json of the images; streams one image at
    a time, and writes each file whole (temporary name, then rename)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, index = [], []
    for record in run_inference(model, dataset, split, keep_tensors=True):
        assert record.tensors is not None
        path = out / f"{record.name}.npz"
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v, np.float32) for k, v in record.tensors.items()})
        write_atomic(path, buf.getvalue())
        item = dataset[record.image_id]
        index.append({"image_id": record.image_id, "name": record.name, "file": path.name,
                      "width": item.width, "height": item.height})
        paths.append(path)
    meta = {"model": model.name, "split": split,
            "tensors": list(getattr(model, "split_labels", lambda s: [])(split)),
            "images": index}
    write_atomic(out / "index.json", json.dumps(meta, indent=1).encode())
    return paths
