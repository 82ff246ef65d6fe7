"""Split measurement (vcmref.analysis.measure): tensor reshaping and sample entropy, and a smoke
run of the real detector on 2 COCO images, one split, one QP per codec, with the cache that
makes a rerun resume."""

from __future__ import annotations

import numpy as np
import pytest

from vcmref.analysis.graph import SplitError
from vcmref.analysis.measure import (
    FeatureCoding,
    ImageCoding,
    as_chw,
    measure_splits,
    quantized_entropy,
)
from vcmref.assets import shared_dir
from vcmref.eval.datasets.base import Dataset

YOLOX = shared_dir() / "models" / "yolox_nano_416.onnx"
COCO = shared_dir() / "data" / "coco_val80"


def test_cut_tensors_become_chw() -> None:
    assert as_chw(np.zeros((1, 8, 5, 6))).shape == (8, 5, 6)
    assert as_chw(np.zeros((1, 85, 2704))).shape == (1, 85, 2704)
    assert as_chw(np.zeros((1, 7))).shape == (1, 1, 7)
    assert as_chw(np.zeros((1, 2, 3, 4, 5))).shape == (6, 4, 5)
    with pytest.raises(SplitError, match="expected a batch of 1"):
        as_chw(np.zeros((2, 3, 4, 5)))


def test_entropy_of_quantized_samples() -> None:
    ramp = np.arange(1024, dtype=np.float32) / 7.0  # every 10-bit level once
    assert quantized_entropy([ramp]) == pytest.approx(1024 * 10.0)
    assert quantized_entropy([np.full(50, 3.0)]) == 0.0  # a constant: nothing to code
    two = np.array([0.0, 1.0] * 8)  # two levels, equally often: 1 bit a sample
    assert quantized_entropy([two, ramp]) == pytest.approx(16 + 10240.0)


def test_feature_codings_are_checked() -> None:
    with pytest.raises(SplitError, match="feature codec 'jpeg'"):
        FeatureCoding("jpeg", (22,))
    with pytest.raises(SplitError, match="expected QPs"):
        FeatureCoding("feature-anchor", (70,))
    with pytest.raises(SplitError, match="image anchor points"):
        ImageCoding(())


@pytest.fixture(scope="module")
def detector_and_images():
    if not (YOLOX.is_file() and COCO.is_dir()):
        pytest.skip(f"the shared YOLOX-Nano model or COCO sample is not under {shared_dir()}")
    from vcmref.eval.datasets import coco_dataset
    from vcmref.tasks.yolox import YoloxDetector

    ds = coco_dataset(COCO / "annotations" / "instances_val2017.json", COCO / "val2017")
    return YoloxDetector(YOLOX), ds.subset(count=2)


def test_measurement_smoke_run_and_resume(detector_and_images, tmp_path) -> None:
    model, images = detector_and_images
    kwargs = {"splits": ["backbone"],
              "features": [FeatureCoding("feature-anchor", (37,)), FeatureCoding("vcmref", (48,))],
              "image": ImageCoding((37,))}
    messages: list[str] = []
    first = measure_splits(model, images, tmp_path, progress=messages.append, **kwargs)
    assert first.images == 2 and 0 < first.reference_map <= 1
    (split,) = first.splits
    assert split.name == "backbone" and split.samples == 64 * 52 * 52 + 128 * 26 * 26 + 256 * 169
    assert split.map_uncoded == pytest.approx(first.reference_map, abs=1e-6)
    assert 0 < split.entropy_bits_per_sample < 10
    assert 0 < split.front_s < 5 and 0 < split.back_s < 5 and first.full_s > 0
    assert split.macs_front + split.macs_back == first.total_macs
    assert [(p.codec, p.point) for p in split.points] == [("feature-anchor", 37), ("vcmref", 48)]
    for p in split.points + first.image_points:
        assert p.bits > 1000 and 0 <= p.map <= 1
    assert len(first.image_points) == 1 and first.image_points[0].codec == "image-anchor"
    assert any("backbone" in m for m in messages)

    cached = sorted(p for p in (tmp_path / "cache").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cached]
    again = measure_splits(model, images, tmp_path, **kwargs)
    assert again.splits[0].points == split.points  # read back, not measured again
    assert [p.stat().st_mtime_ns for p in cached if p.name != "setup.json"] == \
        [s for p, s in zip(cached, stamps, strict=True) if p.name != "setup.json"]

    with pytest.raises(SplitError, match="results of another setup") as e:
        measure_splits(model, Dataset(images.items, kind="coco", source="elsewhere.json",
                                      categories=images.categories), tmp_path, **kwargs)
    assert "\n" not in str(e.value)


def test_a_bad_split_fails_before_any_work(detector_and_images, tmp_path) -> None:
    model, images = detector_and_images
    with pytest.raises(SplitError, match="'dark9' does not cut the graph; valid splits: "
                                         "backbone, neck, d001") as e:
        measure_splits(model, images, tmp_path, splits=["dark9"])
    assert "\n" not in str(e.value)
    assert not (tmp_path / "cache").exists()
