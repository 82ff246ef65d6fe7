"""The video task track: video and MOT datasets seen frame by frame (image ids, R'G'B' frames,
ground truth with tracks), tracking of COCO-style detections and its MOTA/IDF1, and a CTC run
on real video (Foreman, YOLOX-Nano) whose features are coded as sequences, with per-frame
detection and tracking in the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vcmref.assets import shared_dir
from vcmref.ctc.config import ConfigError, load_config, parse_config
from vcmref.eval.datasets import open_dataset
from vcmref.eval.datasets.base import DatasetError
from vcmref.eval.datasets.video import FRAME_ID_BASE, VideoDataset, write_y4m
from vcmref.eval.tracking.coco import score_sequences, track_detections
from vcmref.eval.tracking.synthetic import write_synthetic_sequence
from vcmref.media.yuv import YuvSequence

FOREMAN = shared_dir() / "data" / "video" / "foreman_cif_h264.mp4"
YOLOX = shared_dir() / "models" / "yolox_nano_416.onnx"


def _y4m(path, frames: int = 3, depth: int = 8):
    y, x = np.mgrid[:32, :48]
    luma = np.stack([(x * 3 + y + 5 * k) % 200 + 16 for k in range(frames)])
    chroma = np.full((frames, 16, 24), 1 << (depth - 1), np.uint16)
    write_y4m(path, YuvSequence((luma.astype(np.uint16) << (depth - 8), chroma, chroma),
                                "420", depth, 30.0))
    return path


def test_a_video_item_is_its_frames(tmp_path) -> None:
    ds = VideoDataset([_y4m(tmp_path / "a.y4m"), _y4m(tmp_path / "b.y4m", 5)], frames=4)
    a, b = ds.items
    assert ds.is_video and ds.frame_rate(a) == 30.0
    assert ds.frame_ids(a) == [FRAME_ID_BASE, FRAME_ID_BASE + 1, FRAME_ID_BASE + 2]
    assert ds.frame_ids(b) == [2 * FRAME_ID_BASE + f for f in range(4)]  # the first 4 of 5
    frames = ds.load_frames(b)
    assert len(frames) == 4 and frames[0].shape == (32, 48, 3) and frames[0].dtype == np.uint8
    # grey chroma: R' = G' = B' = the luma expanded from limited range
    assert np.array_equal(frames[0][..., 0], frames[0][..., 1])
    records = ds.frame_records(b)
    assert [r["video_id"] for r in records] == [2] * 4
    assert [r["frame_index"] for r in records] == [0, 1, 2, 3]
    ten = VideoDataset([_y4m(tmp_path / "c.y4m", 2, depth=10)])
    with pytest.raises(DatasetError, match="10-bit video: the task networks take 8-bit"):
        ten.load_frames(1)


def test_a_chunked_video_is_several_items_of_one_sequence(tmp_path) -> None:
    path = _y4m(tmp_path / "a.y4m", 7)
    whole = VideoDataset([path])
    ds = VideoDataset([path], chunk=3)
    assert [it.name for it in ds.items] == ["a@00000", "a@00003", "a@00006"]
    assert [ds.num_frames(it) for it in ds.items] == [3, 3, 1]
    assert {ds.sequence_id(it) for it in ds.items} == {1}
    assert sum((ds.frame_ids(it) for it in ds.items), []) == whole.frame_ids(1)
    middle = ds.load_video(2)
    assert np.array_equal(middle.planes[0], whole.load_video(1).planes[0][3:6])
    assert [r["frame_index"] for r in ds.frame_records(2)] == [3, 4, 5]
    assert {r["video_id"] for r in ds.frame_records(2)} == {2}
    with pytest.raises(ValueError, match="chunk 0: expected at least 1 frame"):
        VideoDataset([path], chunk=0)


def test_a_mot_folder_gives_frames_and_tracks(tmp_path) -> None:
    folder = write_synthetic_sequence(tmp_path / "SYN", name="SYN-01", frame_rate=10)
    ds = open_dataset("mot", [str(folder)], frames=8)
    item = ds.items[0]
    assert (item.name, ds.num_frames(item), ds.frame_rate(item)) == ("SYN-01", 8, 10.0)
    assert len(ds.load_frames(item)) == 8 and ds.load_video(item).num_frames == 8
    gt = ds.coco_ground_truth()
    assert [img["id"] for img in gt["images"]] == ds.frame_ids(item)
    assert gt["categories"] == [{"id": 1, "name": "person", "supercategory": "person"}]
    assert {a["image_id"] for a in gt["annotations"]} <= set(ds.frame_ids(item))
    tracks = {a["track_id"] for a in gt["annotations"]}
    assert len(tracks) >= 3 and all(a["category_id"] == 1 for a in gt["annotations"])


def test_bad_mot_folders_are_named_in_one_line(tmp_path) -> None:
    from PIL import Image

    from vcmref.eval.tracking.mot import MotFormatError
    from vcmref.params import ParamError
    from vcmref.registry import DATASETS

    folder = write_synthetic_sequence(tmp_path / "SYN", name="SYN-01", frame_rate=10)
    Image.new("RGB", (80, 60)).save(folder / "img1" / "000005.png")  # a frame of another size
    ds = open_dataset("mot", [str(folder)])
    with pytest.raises(DatasetError, match=r"000005.png.*frame 5 is 80x60, seqinfo.ini says "
                                           r"160x120 \(the frame size may not change\)"):
        ds.load_frames(1)
    (folder / "img1" / "000030.png").unlink()  # the sequence ends early
    with pytest.raises(MotFormatError, match=r"1 of 30 frames missing \(seqLength 30\): "
                                             r"000030.png"):
        open_dataset("mot", [str(folder)])
    (folder / "seqinfo.ini").unlink()
    kind = DATASETS.get("mot")({"sequences": [str(folder)], "frames": None,
                                "matrix": "bt601", "full_range": False})
    with pytest.raises(ParamError, match="sequences\\[0\\]: .*a MOT sequence folder with a "
                                         "seqinfo.ini"):
        kind.check_inputs()


def _synthetic_detections(tmp_path) -> tuple[list[int], list[dict]]:
    folder = write_synthetic_sequence(tmp_path / "SYN", name="SYN-01", frame_rate=10)
    ds = open_dataset("mot", [str(folder)])
    gt = ds.coco_ground_truth()
    return ds.frame_ids(ds.items[0]), gt["annotations"]


def test_tracks_of_perfect_detections_score_one(tmp_path) -> None:
    frame_ids, gt = _synthetic_detections(tmp_path)
    dets = [{**a, "score": 0.9} for a in gt]
    tracked = track_detections(dets, frame_ids)
    # every box is kept with one identity per ground-truth track
    pairs = {(a["image_id"], tuple(round(v) for v in a["bbox"])): a["track_id"] for a in gt}
    mapping = {}
    for t in tracked:
        key = (t["image_id"], tuple(round(v) for v in t["bbox"]))
        mapping.setdefault(pairs[key], set()).add(t["track_id"])
    assert len(tracked) == len(gt) and all(len(v) == 1 for v in mapping.values())
    scores = score_sequences([("SYN-01", frame_ids, gt, dets)])
    assert scores == {"mota": 1.0, "idf1": 1.0, "num_switches": 0}


def test_missed_and_false_detections_lower_mota_as_motmetrics_counts(tmp_path) -> None:
    frame_ids, gt = _synthetic_detections(tmp_path)
    dets = [{**a, "score": 0.9} for a in gt]
    dropped = [d for d in dets if not (d["track_id"] == 1 and d["image_id"] % 2)]
    misses = len(dets) - len(dropped)
    false = [{"image_id": fid, "category_id": 1, "bbox": [130.0, 5.0, 20.0, 20.0], "score": 0.9}
             for fid in frame_ids[5:15]]  # a confirmed ghost track, 10 boxes
    scores = score_sequences([("SYN-01", frame_ids, gt, dropped + false)])
    assert scores["num_switches"] == 0
    # MOTA = 1 - (FN + FP + IDSW) / GT, the tracker neither filling the gaps nor dropping
    # the ghost
    assert scores["mota"] == pytest.approx(1 - (misses + len(false)) / len(gt))
    assert 0 < scores["idf1"] < 1


def test_feature_codecs_take_video_datasets_and_image_codecs_do_not() -> None:
    cfg = load_config("vcmref/ctc/configs/fcm_video_tracking.yaml")
    assert cfg.dataset.kind == "video" and cfg.task.ground_truth == "pseudo"
    assert cfg.codecs["anchor-ld"].params["codec_options"]["structure"] == "low_delay"
    doc = {"name": "v", "dataset": {"kind": "video", "videos": ["x.mp4"]},
           "metrics": ["psnr_rgb"], "anchor": "a",
           "codecs": {"a": {"kind": "image-anchor", "rate_parameter": "qp", "points": [32],
                            "params": {"codec": "vvenc"}}}}
    with pytest.raises(ConfigError, match="codecs.a.kind: expected one of .*video-anchor.* for "
                                          "a video dataset"):
        parse_config(doc, "v.yaml")


@pytest.mark.skipif(not (FOREMAN.is_file() and YOLOX.is_file()),
                    reason=f"needs {FOREMAN} and {YOLOX} (the shared assets)")
def test_a_video_track_codes_feature_sequences_and_scores_tracking(tmp_path) -> None:
    """Four Foreman frames: the feature anchor random access and low delay (one inner
    sequence each), the video route; detections per frame under the frames' image ids,
    pseudo ground truth with tracks, and MOTA/IDF1 in the report."""
    from vcmref.ctc.report import write_report
    from vcmref.ctc.runner import run

    cfg = load_config("vcmref/ctc/configs/fcm_video_tracking.yaml", [
        "dataset.frames=6", "dataset.chunk=3",
        "codecs.anchor-ra.points=[32]", "codecs.anchor-ld.points=[32]",
        "codecs.anchor-ra.params.frames_per_unit=3", "codecs.anchor-ld.params.frames_per_unit=3",
        "codecs.anchor-intra.points=[32]", "codecs.vcmref-intra.points=[0.4]",
        "codecs.vcmref-inter.points=[0.4]", "codecs.video-route.points=[32]"])
    summary = run(cfg, tmp_path / "run")
    assert summary.done == 12 and not summary.failed, summary.failed  # 2 chunks x 6 codecs
    gt = json.loads((tmp_path / "run" / "ground_truth.json").read_text())
    assert "pseudo ground truth" in gt["info"]["description"]
    assert [img["id"] for img in gt["images"]] == [FRAME_ID_BASE + f for f in range(6)]
    assert gt["annotations"] and all("track_id" in a for a in gt["annotations"])
    # one sequence, tracked across the chunks: the person keeps one identity
    assert len({a["track_id"] for a in gt["annotations"] if a["category_id"] == 1}) == 1
    records = {}
    for codec in ("anchor-ra", "anchor-ld", "anchor-intra", "vcmref-intra", "vcmref-inter",
                  "video-route"):
        chunks = []
        for start in (0, 3):
            path = (tmp_path / "run" / "results" / codec / "0"
                    / f"foreman_cif_h264@{start:05d}.json")
            rec = json.loads(path.read_text())
            assert rec["item"]["frames"] == 3 and rec["item"]["frame_rate"] == 25.0
            assert rec["kbps"] == pytest.approx(rec["bits"] * 25 / 3 / 1000)
            frames = {FRAME_ID_BASE + f for f in range(start, start + 3)}
            assert {d["image_id"] for d in rec["detections"]} <= frames
            chunks.append(rec)
        records[codec] = {"bits": sum(r["bits"] for r in chunks), "metrics": {
            "feature_psnr": np.mean([r["metrics"].get("feature_psnr", 0) for r in chunks])}}
    # inter coding: the sequence costs less than four intra pictures at the same QP
    assert records["anchor-ra"]["bits"] < records["anchor-intra"]["bits"]
    assert records["anchor-ld"]["bits"] < records["anchor-intra"]["bits"]
    assert records["anchor-ra"]["bits"] != records["anchor-ld"]["bits"]
    # temporal prediction with the config's dead zone: far fewer bits for a little error
    inter, intra = records["vcmref-inter"], records["vcmref-intra"]
    assert inter["bits"] < 0.8 * intra["bits"]
    assert 0 < intra["metrics"]["feature_psnr"] - inter["metrics"]["feature_psnr"] < 1.5
    per_point = write_report(tmp_path / "run")["per_point.csv"].read_text().splitlines()
    header = per_point[0].split(",")
    assert {"mAP", "MOTA", "IDF1", "kbps"} <= set(header)
    rows = {r.split(",")[0]: dict(zip(header, r.split(","), strict=True)) for r in per_point[1:]}
    for codec in ("anchor-ra", "anchor-intra"):
        assert -1.0 <= float(rows[codec]["MOTA"]) <= 1.0
        assert 0.0 <= float(rows[codec]["IDF1"]) <= 1.0
