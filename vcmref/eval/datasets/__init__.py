"""Datasets for CTC runs: pictures with COCO-form ground truth, and video as frames.

Image sets (each a :class:`Dataset` of :class:`Item`):

* :func:`coco_dataset` -- COCO instances JSON + image folder
* :func:`voc_dataset` -- Pascal VOC XML (lxml) + image folder
* :func:`yolo_dataset` -- YOLO text labels, converted to COCO boxes
* :func:`image_folder` -- plain images, no annotations (PSNR-only runs)

or by name through :func:`open_dataset` (the dataset kinds registered in
`vcmref.registry.DATASETS`, which a CTC config's ``dataset.kind`` names). Video
(:func:`video_frames`): Y4M, raw .yuv, and whatever ffmpeg decodes (mp4, ...), read by frame
ranges as YuvSequence; MOT Challenge sequence folders (:class:`MotDataset`). Conventions
(ids, coordinates, subsetting, pixel formats) are in docs/datasets.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vcmref.eval.datasets.base import (
    IMAGE_EXTENSIONS,
    Dataset,
    DatasetError,
    DatasetKind,
    Item,
    image_size,
    load_image,
)
from vcmref.eval.datasets.coco import coco_dataset, read_coco_json
from vcmref.eval.datasets.folder import image_folder
from vcmref.eval.datasets.mot import MotDataset
from vcmref.eval.datasets.samples import SKIMAGE_DEFAULT, sample_dataset
from vcmref.eval.datasets.video import (
    FfmpegVideo,
    RawYuvVideo,
    VideoDataset,
    VideoInfo,
    VideoSource,
    Y4mVideo,
    frame_to_rgb,
    video_frames,
    write_y4m,
    y4m_bytes,
)
from vcmref.eval.datasets.voc import VOC_CLASSES, parse_voc_xml, voc_dataset
from vcmref.eval.datasets.yolo import parse_yolo_labels, yolo_dataset
from vcmref.registry import DATASETS

__all__ = [
    "DATASETS", "IMAGE_EXTENSIONS", "SKIMAGE_DEFAULT", "VOC_CLASSES", "Dataset",
    "DatasetError", "DatasetKind", "FfmpegVideo", "Item", "MotDataset", "RawYuvVideo",
    "VideoDataset",
    "VideoInfo", "VideoSource", "Y4mVideo", "coco_dataset", "frame_to_rgb", "image_folder",
    "image_size", "load_image", "open_dataset", "parse_voc_xml", "parse_yolo_labels",
    "read_coco_json", "sample_dataset", "video_frames", "voc_dataset", "write_y4m",
    "y4m_bytes", "yolo_dataset",
]

def open_dataset(kind: str, *args: str | Path, **kwargs: Any) -> Dataset:
    """``open_dataset("coco", annotations_json=..., image_dir=...)`` and so on: the loader of
    the dataset kind registered as `kind` (coco, voc, yolo, folder, skimage, video, mot, and those
    of plugins) called with these arguments."""
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of "
                         f"{', '.join(DATASETS.names())}")
    return DATASETS.get(kind).load(*args, **kwargs)
