"""Measure each cut of a task network: run the front on each image, code the cut's tensors at
each rate point, run the back on the decoded tensors, and score the detections (COCO mAP pooled
over the images); the same for the input image coded by the image anchor with the whole
network on the decoded image. Every image's result is kept in OUT/cache/ as it is made, so an
interrupted run resumes where it stopped.

Per cut and image: the front and back times (onnxruntime, the session warmed up on the first
image, the median over the images reported), the zeroth-order entropy of the cut's samples
min/max-quantized to 10 bits per tensor, and per rate point the stream's bits (all of it,
headers included) and the decoded tensors' detections. A cut tensor of shape (1, C, H, W) is
coded as (C, H, W); another rank as (C, H, W) with leading dimensions merged into C (and 1s
put in front of a rank below 3), decoded back to its own shape. Tensors are coded under the
names t0, t1, ... in the cut's order.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.analysis.graph import DEFAULT_MAX_TENSORS, Cut, SplitError, SplitGraph
from vcmref.analysis.results import RatePoint, SplitAnalysis, SplitMeasurement
from vcmref.tasks.base import Prepared, TaskModel

FEATURE_CODECS = ("feature-anchor", "vcmref")
ENTROPY_BIT_DEPTH = 10
CACHE_FOLDER = "cache"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FeatureCoding:
    """A feature codec and its rate points: ``feature-anchor`` (FeatureAnchorConfig fields as
    options, points are the inner codec's QPs) or ``vcmref`` (EncoderConfig fields, uniform
    quantization by QP: points are its QPs, step about 2^(QP/6 - 8))."""

    codec: str
    points: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.codec not in FEATURE_CODECS:
            raise SplitError(f"feature codec {self.codec!r}: expected one of "
                             f"{', '.join(FEATURE_CODECS)}")
        if not self.points or not all(isinstance(p, int) and 0 <= p <= 63
                                      for p in self.points):
            raise SplitError(f"{self.codec} points {list(self.points)!r}: expected QPs, "
                             "integers from 0 to 63")

    @property
    def key(self) -> str:
        """A folder name for its results: the codec and a digest of its options."""
        if not self.options:
            return self.codec
        digest = hashlib.sha1(json.dumps(dict(self.options), sort_keys=True).encode())
        return f"{self.codec}-{digest.hexdigest()[:8]}"

    def code(self, tensors: dict[str, np.ndarray], qp: int
             ) -> tuple[int, dict[str, np.ndarray], float, float]:
        """(stream bits, decoded tensors, encode s, decode s) of (C, H, W) tensors at qp."""
        from vcmref.media.inner_decoders import decode_inner_pictures
        from vcmref.refsw.decoder import Decoder

        start = time.perf_counter()
        if self.codec == "feature-anchor":
            from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor

            stream = encode_feature_anchor(tensors,
                                           FeatureAnchorConfig(**{**self.options, "qp": qp})
                                           ).stream
        else:
            from vcmref.refsw.encoder import EncoderConfig, encode

            stream = encode(tensors, EncoderConfig(**{"quant": "qp", **self.options, "qp": qp}))
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        result = Decoder(inner_decoder=decode_inner_pictures).decode(stream)
        decode_s = time.perf_counter() - start
        return 8 * len(stream), result.frames[0].tensors, encode_s, decode_s


@dataclass(frozen=True)
class ImageCoding:
    """The image anchor (vcmref.anchors.image_anchor): the R'G'B' image converted to Y'CbCr
    (BT.709, limited range, 10 bits, 4:2:0) and coded as one intra picture at each QP."""

    points: tuple[int, ...]
    codec: str = "vvenc"
    options: Mapping[str, Any] = field(default_factory=dict)  # the codec class's keywords

    def __post_init__(self) -> None:
        if not self.points or not all(isinstance(p, int) and 0 <= p <= 63
                                      for p in self.points):
            raise SplitError(f"image anchor points {list(self.points)!r}: expected QPs, "
                             "integers from 0 to 63")

    def code(self, rgb: np.ndarray, qp: int) -> tuple[int, np.ndarray, float, float]:
        """(bits, decoded R'G'B', encode s, decode s)."""
        from vcmref.anchors.image_anchor import code_image
        from vcmref.anchors.registry import get_codec

        result = code_image(rgb, get_codec(self.codec, **self.options), qp, matrix="bt709",
                            full_range=False, bit_depth=10, chroma="420")
        return result.bits, result.decoded_rgb, result.encode_s, result.decode_s


def as_chw(x: np.ndarray) -> np.ndarray:
    """A cut tensor as the (C, H, W) a feature codec takes (see the module docstring)."""
    if x.ndim == 0 or x.shape[0] != 1:
        raise SplitError(f"cut tensor of shape {x.shape}: expected a batch of 1")
    x = x[0]
    if x.ndim < 3:
        return x.reshape((1,) * (3 - x.ndim) + x.shape)
    return x.reshape((-1, *x.shape[-2:]))


def quantized_entropy(tensors: Sequence[np.ndarray], bit_depth: int = ENTROPY_BIT_DEPTH
                      ) -> float:
    """Bits to code the tensors' samples, min/max-quantized to `bit_depth` bits per tensor,
    at their zeroth-order empirical entropy: sum over tensors of samples x H(histogram)."""
    total = 0.0
    levels = (1 << bit_depth) - 1
    for x in tensors:
        x = np.asarray(x, np.float64).ravel()
        lo, hi = float(x.min()), float(x.max())
        if hi <= lo:
            continue
        q = np.rint((x - lo) * (levels / (hi - lo))).astype(np.int64)
        counts = np.bincount(q, minlength=levels + 1)
        p = counts[counts > 0] / x.size
        total += x.size * float(-(p * np.log2(p)).sum())
    return total


class CutRunner:
    """An ONNX task model run at any cut of its graph: front to the cut's tensors, back from
    them to the predictions, and the whole network; each run timed."""

    def __init__(self, model: TaskModel) -> None:
        onnx = getattr(model, "onnx", None)
        if onnx is None or not hasattr(model, "post"):
            raise SplitError(f"{getattr(model, 'name', model)}: split analysis needs an ONNX "
                             "task model (vcmref.tasks.onnx_task.OnnxTaskModel)")
        self.model, self.onnx = model, onnx

    def front(self, prepared: Prepared, cut: Cut) -> tuple[dict[str, np.ndarray], float]:
        start = time.perf_counter()
        out = self.onnx.run({self.model.input: prepared.input}, cut.tensors)
        return out, time.perf_counter() - start

    def back(self, tensors: dict[str, np.ndarray], prepared: Prepared
             ) -> tuple[list[dict[str, Any]], float]:
        start = time.perf_counter()
        out = self.onnx.run(tensors, self.onnx.outputs)
        seconds = time.perf_counter() - start
        return self.model.post([out[k] for k in self.onnx.outputs], prepared), seconds

    def full(self, prepared: Prepared) -> tuple[list[dict[str, Any]], float]:
        return self.back({self.model.input: prepared.input}, prepared)


# -- the per-image cache ------------------------------------------------------------------------

def _pack(detections: list[dict[str, Any]]) -> list[list[float]]:
    """Detections as [category_id, score, x, y, w, h] rows (score to 6 digits, box to 0.001)."""
    return [[d["category_id"], round(float(d["score"]), 6),
             *(round(float(v), 3) for v in d["bbox"])] for d in detections]


def _unpack(rows: list[list[float]], image_id: int) -> list[dict[str, Any]]:
    return [{"image_id": image_id, "category_id": int(r[0]), "score": r[1], "bbox": r[2:6]}
            for r in rows]


class ImageCache:
    """One JSON file per image and condition under OUT/cache/, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts)

    def get(self, *parts: str) -> dict[str, Any] | None:
        path = self.path(*parts)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:  # a file cut short by a crash: measure it again
            return None

    def put(self, record: dict[str, Any], *parts: str) -> None:
        path = self.path(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, separators=(",", ":")))
        tmp.replace(path)


def cut_folder(cut: Cut) -> str:
    """The cache folder of a cut: its name and a digest of its tensors."""
    digest = hashlib.sha1("+".join(cut.tensors).encode()).hexdigest()[:8]
    return f"{cut.name}-{digest}"


def _check_setup(cache: ImageCache, setup: dict[str, Any]) -> None:
    """Refuse a cache made with another model or dataset; note this run's setup otherwise."""
    known = cache.get("setup.json")
    if known is not None and known != setup:
        changed = sorted(k for k in setup if known.get(k) != setup[k])
        raise SplitError(f"{cache.folder}: results of another setup ({', '.join(changed)} "
                         "differ); use another output folder")
    cache.put(setup, "setup.json")


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


# -- the measurement ----------------------------------------------------------------------------

@dataclass
class _Scorer:
    """Pooled COCO mAP of per-image detections on the dataset's images."""

    ground_truth: dict[str, Any]
    ids: list[int]

    def __call__(self, detections: list[dict[str, Any]]) -> tuple[float, float]:
        from vcmref.eval.task_metrics import coco_map

        result = coco_map(self.ground_truth, detections, image_ids=self.ids)
        return float(result.map), float(result.map50)


def resolve_cuts(graph: SplitGraph, splits: Sequence[str | Sequence[str]] | None,
                 named: Mapping[str, Sequence[str]],
                 max_tensors: int = DEFAULT_MAX_TENSORS) -> list[Cut]:
    """The cuts the splits name (see SplitGraph.resolve), by depth; default: the stage cuts
    (before each downsampling) and the model's named splits."""
    if splits is None:
        cuts = graph.stage_cuts(max_tensors)
        cuts += [graph.resolve(name, named, max_tensors) for name in named]
    else:
        cuts = [graph.resolve(s, named, max_tensors) for s in splits]
    unique: dict[frozenset[str], Cut] = {}
    for cut in cuts:  # a named split replaces the candidate with the same tensors
        key = frozenset(cut.tensors)
        if key not in unique or cut.name in named:
            unique[key] = cut
    return sorted(unique.values(), key=lambda c: (c.depth, c.name))


def measure_splits(model: TaskModel, dataset: Any, out_dir: str | Path, *,
                   splits: Sequence[str | Sequence[str]] | None = None,
                   features: Sequence[FeatureCoding] = (),
                   image: ImageCoding | None = None,
                   max_tensors: int = DEFAULT_MAX_TENSORS,
                   progress: Progress | None = None) -> SplitAnalysis:
    """Measure the cuts `splits` names (default: see resolve_cuts) of an ONNX task model on an
    annotated dataset (vcmref.eval.datasets), each coded by each of `features`, and the image
    anchor `image`; per-image results are cached under out_dir/cache/ (a rerun resumes)."""
    say = progress or (lambda _msg: None)
    runner = CutRunner(model)
    graph = SplitGraph(runner.onnx.model, model.input, runner.onnx.path.name)
    named = dict(getattr(model, "split_points", {}) or {})
    cuts = resolve_cuts(graph, splits, named, max_tensors)
    if not getattr(dataset, "annotated", False) or len(dataset) == 0:
        raise SplitError(f"{getattr(dataset, 'source', dataset)}: expected an annotated "
                         "dataset with at least one image")
    cache = ImageCache(Path(out_dir) / CACHE_FOLDER)
    from vcmref.tasks.onnx_split import sha256_of

    _check_setup(cache, {"model_sha256": sha256_of(runner.onnx.path),
                         "dataset": str(dataset.source), "input": model.input})
    items = list(dataset)
    score = _Scorer(dataset.coco_ground_truth(), [it.id for it in items])
    images = _ImageSource(dataset, model)

    full_dets, full_times = [], []
    for n, item in enumerate(items):
        rec = cache.get("full", f"{item.id}.json")
        if rec is None:
            prepared = images.prepared(item)
            if n == 0:
                runner.full(prepared)  # warm up the session
            dets, seconds = runner.full(prepared)
            rec = {"full_s": seconds, "detections": _pack(dets)}
            cache.put(rec, "full", f"{item.id}.json")
        full_dets += _unpack(rec["detections"], item.id)
        full_times.append(rec["full_s"])
    reference_map, reference_map50 = score(full_dets)
    say(f"whole network: mAP {reference_map:.4f} on {len(items)} images")

    image_points = _measure_image(image, items, images, runner, cache, score, say) \
        if image is not None else []
    measured = [_measure_cut(cut, features, items, images, runner, cache, score, say)
                for cut in cuts]
    input_shape = graph.shapes.get(model.input, ())
    return SplitAnalysis(
        model=runner.onnx.path.name, dataset=str(dataset.source), images=len(items),
        reference_map=reference_map, reference_map50=reference_map50,
        full_s=_median(full_times), total_macs=graph.total_macs, total_flops=graph.total_flops,
        entropy_bit_depth=ENTROPY_BIT_DEPTH, splits=measured, image_points=image_points,
        input_samples=math.prod(input_shape) if input_shape else 0,
        nodes=graph.live_nodes)


class _ImageSource:
    """The dataset's images and their network inputs, the last one kept."""

    def __init__(self, dataset: Any, model: TaskModel) -> None:
        self.dataset, self.model = dataset, model
        self._last: tuple[int, np.ndarray, Prepared] | None = None

    def _load(self, item: Any) -> tuple[np.ndarray, Prepared]:
        if self._last is None or self._last[0] != item.id:
            rgb = self.dataset.load_image(item)
            self._last = (item.id, rgb, self.model.preprocess(rgb, item.id))
        return self._last[1], self._last[2]

    def rgb(self, item: Any) -> np.ndarray:
        return self._load(item)[0]

    def prepared(self, item: Any) -> Prepared:
        return self._load(item)[1]


def _measure_image(image: ImageCoding, items: list[Any], images: _ImageSource,
                   runner: CutRunner, cache: ImageCache, score: _Scorer,
                   say: Progress) -> list[RatePoint]:
    points = []
    for qp in image.points:
        folder = f"{image.codec}-qp{qp}"
        dets, bits, enc, dec = [], [], [], []
        for item in items:
            rec = cache.get("image", folder, f"{item.id}.json")
            if rec is None:
                b, decoded, enc_s, dec_s = image.code(images.rgb(item), qp)
                d, _ = runner.full(runner.model.preprocess(decoded, item.id))
                rec = {"bits": b, "encode_s": enc_s, "decode_s": dec_s, "detections": _pack(d)}
                cache.put(rec, "image", folder, f"{item.id}.json")
            dets += _unpack(rec["detections"], item.id)
            bits.append(rec["bits"])
            enc.append(rec["encode_s"])
            dec.append(rec["decode_s"])
        m, m50 = score(dets)
        points.append(RatePoint("image-anchor", qp, float(np.mean(bits)), m, m50,
                                _median(enc), _median(dec)))
        say(f"image anchor QP {qp}: {np.mean(bits):.0f} bits, mAP {m:.4f}")
    return points


def _measure_cut(cut: Cut, features: Sequence[FeatureCoding], items: list[Any],
                 images: _ImageSource, runner: CutRunner, cache: ImageCache, score: _Scorer,
                 say: Progress) -> SplitMeasurement:
    folder = cut_folder(cut)
    names = [f"t{i}" for i in range(len(cut.tensors))]
    conditions = [(coding, qp) for coding in features for qp in coding.points]
    records: dict[tuple[str, int], list[dict[str, Any]]] = {}
    base: list[dict[str, Any]] = []
    start = time.perf_counter()
    warm = False
    for item in items:
        rec = cache.get(folder, "uncoded", f"{item.id}.json")
        todo = [(c, qp) for c, qp in conditions
                if cache.get(folder, f"{c.key}-qp{qp}", f"{item.id}.json") is None]
        if rec is None or todo:
            prepared = images.prepared(item)
            if not warm:  # the sessions' first runs are not timed
                runner.back(runner.front(prepared, cut)[0], prepared)
                warm = True
            tensors, front_s = runner.front(prepared, cut)
            if rec is None:
                dets, back_s = runner.back(tensors, prepared)
                entropy = quantized_entropy(list(tensors.values()))
                rec = {"front_s": front_s, "back_s": back_s, "entropy_bits": entropy,
                       "detections": _pack(dets)}
                cache.put(rec, folder, "uncoded", f"{item.id}.json")
        base.append(rec)
        for coding, qp in todo:
            chw = {name: as_chw(tensors[t]) for name, t in zip(names, cut.tensors, strict=True)}
            bits, decoded, enc_s, dec_s = coding.code(chw, qp)
            feeds = {t: decoded[name].reshape(tensors[t].shape)
                     for name, t in zip(names, cut.tensors, strict=True)}
            dets, _ = runner.back(feeds, images.prepared(item))
            cache.put({"bits": bits, "encode_s": enc_s, "decode_s": dec_s,
                       "detections": _pack(dets)}, folder, f"{coding.key}-qp{qp}",
                      f"{item.id}.json")
        for coding, qp in conditions:
            records.setdefault((coding.key, qp), []).append(
                cache.get(folder, f"{coding.key}-qp{qp}", f"{item.id}.json"))
    map_uncoded = score([d for it, r in zip(items, base, strict=True)
                         for d in _unpack(r["detections"], it.id)])[0]
    points = []
    for coding, qp in conditions:
        recs = records[(coding.key, qp)]
        dets = [d for it, r in zip(items, recs, strict=True)
                for d in _unpack(r["detections"], it.id)]
        m, m50 = score(dets)
        points.append(RatePoint(coding.codec, qp, float(np.mean([r["bits"] for r in recs])), m,
                                m50, _median([r["encode_s"] for r in recs]),
                                _median([r["decode_s"] for r in recs])))
    entropy = float(np.mean([r["entropy_bits"] for r in base]))
    say(f"{cut.label}: {len(points)} rate points in {time.perf_counter() - start:.0f} s, "
        f"uncoded mAP {map_uncoded:.4f}")
    return SplitMeasurement(
        name=cut.name, depth=cut.depth, tensors=list(cut.tensors),
        shapes=[list(s) for s in cut.shapes], samples=cut.samples, macs_front=cut.macs_front,
        macs_back=cut.macs_back, flops_front=cut.flops_front, flops_back=cut.flops_back,
        front_s=_median([r["front_s"] for r in base]), back_s=_median([r["back_s"] for r in base]),
        entropy_bits=entropy, entropy_bits_per_sample=entropy / cut.samples,
        map_uncoded=map_uncoded, points=points)
