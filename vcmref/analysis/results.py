"""What a split-point analysis measured, as plain data: rate points per split and for the input
image, with compute and times; saved as one JSON file (``analysis.json``) that the report and
the planner read back.

Units: bits are per image (mean over the images, stream bytes x 8), times in seconds (median
over the images, onnxruntime on one CPU thread), mAP is COCO AP@[.5:.95] pooled over the
images, MACs and FLOPs per image by the counting rule of `vcmref.analysis.graph`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vcmref.errors import VcmrefError

ANALYSIS_FILE = "analysis.json"
SCHEMA = 1


class AnalysisFileError(VcmrefError):
    """An analysis file that is missing or not as this module writes it."""


@dataclass(frozen=True)
class RatePoint:
    """One coding of every image at one rate point: mean bits per image and pooled mAP."""

    codec: str  # "feature-anchor", "vcmref", "image-anchor" or "float32" (uncoded features)
    point: int | None  # the codec's QP; None for float32
    bits: float
    map: float
    map50: float = float("nan")
    encode_s: float = float("nan")  # median per image
    decode_s: float = float("nan")


@dataclass
class SplitMeasurement:
    """One cut: its tensors and compute, the times of its halves, the entropy of its samples,
    and its rate points."""

    name: str
    depth: int
    tensors: list[str]
    shapes: list[list[int]]
    samples: int
    macs_front: int
    macs_back: int
    flops_front: int
    flops_back: int
    front_s: float
    back_s: float
    # zeroth-order entropy of the samples min/max-quantized to `entropy_bit_depth` bits (per
    # tensor), in bits per image (mean) and per sample
    entropy_bits: float
    entropy_bits_per_sample: float
    map_uncoded: float  # back(front(x)) on the uncompressed tensors
    points: list[RatePoint] = field(default_factory=list)

    def codec_points(self, codec: str) -> list[RatePoint]:
        return sorted((p for p in self.points if p.codec == codec), key=lambda p: p.bits)


@dataclass
class SplitAnalysis:
    """Every cut of one model measured on one dataset, with the whole network and the
    image anchor (the input coded, the whole network on the decoded image) as reference."""

    model: str
    dataset: str
    images: int
    reference_map: float  # the whole network on the uncompressed images
    reference_map50: float
    full_s: float  # median time of the whole network
    total_macs: int
    total_flops: int
    entropy_bit_depth: int
    splits: list[SplitMeasurement]
    image_points: list[RatePoint]
    input_samples: int = 0  # samples of the network input (3 x H x W)
    nodes: int = 0  # non-constant nodes of the whole network

    def split(self, name: str) -> SplitMeasurement:
        for s in self.splits:
            if s.name == name:
                return s
        raise AnalysisFileError(f"no split {name!r} in the analysis; it has "
                                f"{', '.join(s.name for s in self.splits) or 'none'}")

    def codecs(self) -> list[str]:
        """The feature codecs measured, in the order first met."""
        seen: list[str] = []
        for s in self.splits:
            for p in s.points:
                if p.codec not in seen:
                    seen.append(p.codec)
        return seen

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **_finite(asdict(self))}

    @classmethod
    def from_json(cls, doc: dict[str, Any], source: str = "<analysis>") -> SplitAnalysis:
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise AnalysisFileError(f"{source}: not a split analysis of schema {SCHEMA}")
        try:
            doc = _nan(dict(doc))
            doc.pop("schema")
            splits = [SplitMeasurement(**{**s, "points": [RatePoint(**p) for p in s["points"]]})
                      for s in doc.pop("splits")]
            image = [RatePoint(**p) for p in doc.pop("image_points")]
            return cls(**doc, splits=splits, image_points=image)
        except (KeyError, TypeError) as e:
            raise AnalysisFileError(f"{source}: not a split analysis ({e})") from None

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / ANALYSIS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1))
        tmp.replace(path)
        return path


def load_analysis(path: str | Path) -> SplitAnalysis:
    """The analysis saved in a folder (its analysis.json) or file."""
    path = Path(path)
    if path.is_dir():
        path = path / ANALYSIS_FILE
    if not path.is_file():
        raise AnalysisFileError(f"{path}: no analysis file (run `vcmref analyze splits` first)")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise AnalysisFileError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    return SplitAnalysis.from_json(doc, str(path))


def _finite(value: Any) -> Any:
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


NAN_FIELDS = ("map", "map50", "encode_s", "decode_s", "front_s", "back_s", "entropy_bits",
              "entropy_bits_per_sample", "map_uncoded", "bits", "reference_map",
              "reference_map50", "full_s")


def _nan(value: Any) -> Any:
    """null back to NaN in the float fields."""
    if isinstance(value, dict):
        return {k: float("nan") if v is None and k in NAN_FIELDS else _nan(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_nan(v) for v in value]
    return value
