"""MOT Challenge sequence folders as a video dataset (``dataset.kind: mot``): one item per
sequence, its frames the images of ``img1/`` (``seqinfo.ini`` says how many, their size and
rate), its ground truth the tracks of ``gt/gt.txt`` (vcmref.eval.tracking.mot reads both).

Ground truth for the CTC: every counted entry (flag 1) of class 1 (pedestrian) or of an
unspecified class (-1, MOT15) becomes a COCO annotation of category 1, "person" (the COCO
detectors' class), on its frame's image (id: item id * FRAME_ID_BASE + frame index), with its
``track_id``; other classes and ignored entries are left out (COCO evaluation has no ignore
regions). For codecs of pixels, frames are converted to Y'CbCr 4:2:0 8-bit with `matrix` and
`full_range` (vcmref.media.color), as a video dataset's are converted back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vcmref.eval.datasets.base import DatasetError, DatasetKind, Item, load_image
from vcmref.eval.datasets.video import FRAME_ID_BASE, SEQUENCE_PARAMETERS, VideoDataset
from vcmref.media.yuv import ChromaFormat, YuvSequence
from vcmref.params import Param, ParamError
from vcmref.registry import DATASETS

__all__ = ["MotDataset", "MotKind", "PERSON"]

PERSON = {"id": 1, "name": "person", "supercategory": "person"}
PEDESTRIAN_CLASSES = (1, -1)  # MOT16/17 pedestrian; -1: no class given (MOT15)


class MotDataset(VideoDataset):
    """MOT sequence folders, one item each (ids 1.. in the order given, named by
    ``seqinfo.ini``'s name); the first `frames` frames of each (all when None)."""

    def __init__(self, folders: list[str | Path], frames: int | None = None, *,
                 matrix: str = "bt601", full_range: bool = False) -> None:
        from vcmref.eval.tracking.mot import read_sequence

        self._sequences = {}
        self._rates, self._spans = {}, {}
        items = []
        for k, folder in enumerate(folders):
            seq = read_sequence(folder, need_gt=True)
            info = seq.info
            items.append(Item(k + 1, info.name, Path(folder), info.width, info.height))
            self._sequences[k + 1] = seq
            self._rates[k + 1] = info.frame_rate
            n = info.num_frames if frames is None else min(frames, info.num_frames)
            self._spans[k + 1] = (k + 1, 0, n)
        source = Path(folders[0]).parent if folders else Path(".")
        super(VideoDataset, self).__init__(items, kind="mot", source=source,
                                           categories=[PERSON], annotated=True)
        self.frames, self.chunk = frames, None
        self.matrix, self.full_range = matrix, full_range

    def load_frames(self, item: Item | int | str) -> list[np.ndarray]:
        it = item if isinstance(item, Item) else self[item]
        info = self._sequences[it.id].info
        frames = []
        for f in range(self.num_frames(it)):
            path = info.image_path(f + 1)
            rgb = load_image(path)
            if rgb.shape[:2] != (info.height, info.width):
                raise DatasetError(path, "size", f"frame {f + 1} is {rgb.shape[1]}x"
                                   f"{rgb.shape[0]}, seqinfo.ini says {info.width}x"
                                   f"{info.height} (the frame size may not change)")
            frames.append(rgb)
        return frames

    def load_video(self, item: Item | int | str) -> YuvSequence:
        from vcmref.media.color import rgb_to_ycbcr

        it = item if isinstance(item, Item) else self[item]
        planes = [rgb_to_ycbcr(rgb, matrix=self.matrix, full_range=self.full_range,
                               bit_depth=8) for rgb in self.load_frames(it)]
        return YuvSequence(tuple(np.stack([p[k] for p in planes]) for k in range(3)),
                           ChromaFormat.YUV420, 8, self.frame_rate(it))

    def coco_ground_truth(self) -> dict[str, Any]:
        """One image per frame (``video_id``: the sequence's item id) and the pedestrians'
        boxes with their ``track_id`` (module docstring)."""
        images, annotations = [], []
        for it in self:
            images.extend(self.frame_records(it))
            gt = self._sequences[it.id].gt
            for f in range(self.num_frames(it)):
                entries = gt.frame(f + 1)
                keep = entries.counted & np.isin(entries.classes, PEDESTRIAN_CLASSES)
                for box, tid in zip(entries.boxes[keep], entries.ids[keep], strict=True):
                    x1, y1, x2, y2 = (float(v) for v in box)
                    annotations.append({
                        "id": len(annotations) + 1, "image_id": it.id * FRAME_ID_BASE + f,
                        "category_id": PERSON["id"], "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1), "iscrowd": 0, "track_id": int(tid)})
        return {"images": images, "annotations": annotations, "categories": [dict(PERSON)]}


@DATASETS.register("mot")
class MotKind(DatasetKind):
    """``dataset.kind: mot``: ``sequences`` (MOT sequence folders: seqinfo.ini, img1/,
    gt/gt.txt), ``frames`` (the first N of each), ``matrix`` and ``full_range`` (for codecs of
    pixels)."""

    media = "video"
    annotated = True
    parameters = (Param("sequences", list, items=str, doc="MOT sequence folders"),
                  *SEQUENCE_PARAMETERS)
    required = ("sequences",)
    load = MotDataset

    def check_inputs(self) -> None:
        for k, folder in enumerate(self.settings["sequences"]):
            if not (Path(folder) / "seqinfo.ini").is_file():
                raise ParamError(f"sequences[{k}]", f"a MOT sequence folder with a seqinfo.ini, "
                                 f"got {folder!r}")

    def open(self, scratch: Path) -> MotDataset:
        return MotDataset(self.settings["sequences"], self.settings["frames"],
                          matrix=self.settings["matrix"], full_range=self.settings["full_range"])
