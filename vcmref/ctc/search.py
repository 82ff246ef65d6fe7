"""Rate-point search: the rate parameter (QP, or quantization step) of a codec that hits target
bitrates per item, or target task-accuracy drops over the dataset, by bisection over the rate
parameter with every visited point cached; the points found are written into a config
(docs/ctc-search.md).

Target bitrates (`search_bpp`): for each item and target bpp, the point whose bpp is closest to
the target in log-rate (|log(bpp / target)| smallest, as JPEG AI's CTC picks its rate points),
among the two points that bracket the target: the largest point (coarsest QP) with
bpp >= target and the next one. Ties go to the one with bpp >= target.

Target accuracy drops (`search_accuracy_drop`): one point for the whole dataset per target drop
of mAP (in mAP units, 0.01 = one mAP point, relative to the mAP of the uncompressed input): the
largest point (coarsest QP) whose mAP drop does not exceed the target.

Both assume that the rate falls (and the drop grows) as the rate parameter grows; the visited
points are checked and a warning says where they are not monotonic. Integer QPs are searched
over their range (0..max_qp of the inner codec, 0..63 for the vcmref codec's `qp`); a float
`step` is searched over a grid of quarter-octave steps 2**(k/4).

The cache, RUN/search_cache.json, holds the bit count of every (codec, item, point) encoded and
the mAP of every (codec, point) evaluated, with the codec's settings they were made with; a
repeated search costs no encode. It is rewritten atomically after every new entry.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vcmref.ctc import runner
from vcmref.ctc.codecs import make_codec
from vcmref.ctc.config import (
    CONFIGS_DIR,
    ConfigError,
    CtcConfig,
    apply_override,
    load_config,
    parse_config,
)
from vcmref.ctc.jobs import RunLayout, write_atomic, write_json
from vcmref.params import check_settings
from vcmref.registry import CODECS

CACHE_FILE = RunLayout.SEARCH_CACHE_FILE
CACHE_SCHEMA = 1
STEP_GRID = (-24, 32)  # default step grid: 2**(k/4) for k in this range, 1/64 .. 256


class SearchError(ConfigError):
    """A search that cannot run as asked: one line naming what is wrong."""


class SearchWarning(UserWarning):
    """Something the search found but could not fix: unreachable target, non-monotonic rate."""


@dataclass
class SearchPoint:
    """The point found for one target."""

    target: float
    point: Any  # the rate parameter's value (int QP or float step)
    bpp: float  # achieved (accuracy search: mean bpp over the dataset)
    map: float | None = None  # accuracy search: mAP at the point
    drop: float | None = None  # accuracy search: reference mAP - mAP
    clamped: bool = False  # the target is out of reach: the end of the range was taken


@dataclass
class SearchResult:
    codec: str
    rate_parameter: str
    mode: str  # "bpp" or "map_drop"
    targets: list[float]
    points: list[SearchPoint]  # one per target: the common point (bpp: median over items)
    per_item: dict[str, list[SearchPoint]] = field(default_factory=dict)  # bpp search only
    reference_map: float | None = None  # accuracy search: mAP of the uncompressed input
    encodes: int = 0  # encodes run (cache misses)
    cache_hits: int = 0  # encodes (bpp) or mAP evaluations (accuracy) the cache answered
    warnings: list[str] = field(default_factory=list)

    def common_points(self) -> list[Any]:
        return [p.point for p in self.points]

    def points_per_item(self) -> dict[str, list[Any]]:
        return {name: [p.point for p in pts] for name, pts in self.per_item.items()}


# -- the grid of rate parameter values ---------------------------------------------------------

def _step_value(k: int) -> float:
    return float(f"{2.0 ** (k / 4):.6g}")


def rate_grid(cfg: CtcConfig, codec_name: str,
              qp_range: tuple[float, float] | None = None) -> list[Any]:
    """The values the search visits, in the order of falling rate, for a rate parameter the
    codec kind lists as `searchable`: an integer one (a QP) over `qp_range` (default: the
    range the kind declares for it, e.g. the inner codec's QPs), increasing, or decreasing
    for one the kind lists in `rate_rises` (a learned codec's quality); a float one (a step)
    over the quarter-octave steps 2**(k/4) within `qp_range` (read as min and max step)."""
    spec = _codec_spec(cfg, codec_name)
    param = spec.rate_parameter
    cls = CODECS.get(spec.kind)
    if param not in cls.searchable:
        raise SearchError(f"codecs.{codec_name}.rate_parameter: {param!r} cannot be searched; "
                          f"expected {' or '.join(cls.searchable)} for kind {spec.kind}")
    declared = next(p for p in cls.rate_parameters if p.name == param)
    settings = check_settings(cls.parameters, spec.params)
    if declared.type is int:
        low = _resolve(declared.min, settings) or 0
        choices = _resolve(declared.choices, settings)
        if qp_range is None:
            high = _resolve(declared.max, settings)
            if high is None and choices:
                high = max(choices)
            if high is None:
                raise SearchError(f"codecs.{codec_name}: {param} has no largest value to search "
                                  "up to; give a range (qp_range / --range)")
            qp_range = (low, high)
        lo, hi = qp_range
        if int(lo) != lo or int(hi) != hi or lo < low or hi < lo:
            raise SearchError(f"{param} range {lo}..{hi}: expected integers {low} <= min <= "
                              "max")
        values = [v for v in range(int(lo), int(hi) + 1) if not choices or v in choices]
        return values[::-1] if param in cls.rate_rises else values
    if qp_range is None:
        ks = range(STEP_GRID[0], STEP_GRID[1] + 1)
    else:
        lo, hi = qp_range
        if not 0 < lo <= hi:
            raise SearchError(f"{param} range {lo}..{hi}: expected 0 < min <= max")
        ks = range(math.ceil(4 * math.log2(lo) - 1e-9), math.floor(4 * math.log2(hi)
                                                                    + 1e-9) + 1)
    grid = [_step_value(k) for k in ks]
    if not grid:
        raise SearchError(f"{param} range {qp_range[0]}..{qp_range[1]}: holds no "
                          "quarter-octave step 2**(k/4)")
    return grid


def _resolve(value: Any, settings: dict[str, Any]) -> Any:
    return value(settings) if callable(value) else value


def _codec_spec(cfg: CtcConfig, codec_name: str):
    if codec_name not in cfg.codecs:
        raise SearchError(f"{cfg.source}: no codec {codec_name!r}; the config's codecs: "
                          f"{', '.join(cfg.codecs)}")
    return cfg.codecs[codec_name]


# -- the cache ----------------------------------------------------------------------------------

def _key(point: Any) -> str:
    return json.dumps(point)


class SearchCache:
    """RUN/search_cache.json: {"schema", "codecs": {name: {"settings", "bits": {item: {point:
    bits}}, "map": {point: mAP}, "reference_map"}}}. A codec whose settings changed starts
    afresh. Saved (merged with what another process may have written meanwhile) atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.doc = self._read()
        self.hits = 0
        self.misses = 0

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"schema": CACHE_SCHEMA, "codecs": {}}
        if not isinstance(doc, dict) or doc.get("schema") != CACHE_SCHEMA:
            return {"schema": CACHE_SCHEMA, "codecs": {}}
        doc.setdefault("codecs", {})
        return doc

    def section(self, codec: str, settings: dict[str, Any]) -> dict[str, Any]:
        sec = self.doc["codecs"].get(codec)
        if sec is None or sec.get("settings") != settings:
            sec = {"settings": settings, "bits": {}, "map": {}, "reference_map": None}
            self.doc["codecs"][codec] = sec
        return sec

    def save(self) -> None:
        on_disk = self._read()
        for name, sec in self.doc["codecs"].items():
            other = on_disk["codecs"].get(name)
            if other is not None and other.get("settings") == sec["settings"]:
                for item, pts in other.get("bits", {}).items():
                    sec["bits"].setdefault(item, {})
                    for k, v in pts.items():
                        sec["bits"][item].setdefault(k, v)
                for k, v in other.get("map", {}).items():
                    sec["map"].setdefault(k, v)
                if sec.get("reference_map") is None:
                    sec["reference_map"] = other.get("reference_map")
        write_json(self.path, self.doc)


def _settings(cfg: CtcConfig, codec_name: str, with_task: bool) -> dict[str, Any]:
    spec = cfg.codecs[codec_name]
    raw = cfg.raw
    out = {"kind": spec.kind, "rate_parameter": spec.rate_parameter, "params": spec.params}
    if with_task:  # mAP: depends on the whole dataset and the task
        out.update(dataset=raw.get("dataset"), task=raw.get("task"))
    elif CODECS.get(spec.kind).needs_split:
        out["task"] = raw.get("task")  # the split-point tensors depend on the model and split
    return json.loads(json.dumps(out))


# -- the run directory --------------------------------------------------------------------------

def _search_view(cfg: CtcConfig) -> CtcConfig:
    """The config the search's run directory records: rate points left out (they are what
    the search changes), so a config written by the search can reuse the directory."""
    doc = copy.deepcopy(cfg.raw)
    for name, codec in doc.get("codecs", {}).items():
        codec["points"] = [_placeholder(cfg, name)]
        codec.pop("points_per_item", None)
        codec.pop("target_bpp", None)
    return parse_config(doc, cfg.source)


def _placeholder(cfg: CtcConfig, codec_name: str) -> Any:
    """A value the codec's rate parameter takes: its minimum where it has one, else 1 (a QP,
    step or bit depth)."""
    spec = cfg.codecs[codec_name]
    cls = CODECS.get(spec.kind)
    declared = next(p for p in cls.rate_parameters if p.name == spec.rate_parameter)
    low = _resolve(declared.min, check_settings(cls.parameters, spec.params))
    return low if isinstance(low, int) and low > 1 else 1


def _open(cfg: CtcConfig, run_dir: Path):
    """Prepare the run directory the runner's helpers read (RUN/config.resolved.yaml) and
    return the dataset."""
    runner.prepare_run(_search_view(cfg), run_dir)
    return runner.dataset_of(run_dir)


def _input(run_dir: Path, codec, ds, item) -> Any:
    return codec.original(runner.run_state(run_dir), item)


# -- bisection ----------------------------------------------------------------------------------

def _bisect(n: int, holds: Callable[[int], bool]) -> int:
    """The last index i in 0..n-1 where holds(i), assuming holds is true then false along the
    grid; -1 when it holds nowhere. Visits about log2(n) indices."""
    lo, hi = -1, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if holds(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _check_targets(targets: list[float], what: str) -> list[float]:
    if not targets:
        raise SearchError(f"no target {what} given")
    out = []
    for t in targets:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) \
                or t <= 0:
            raise SearchError(f"target {what} {t!r}: expected a number > 0")
        out.append(float(t))
    return out


def _monotonic(values: dict[int, float], grid: list[Any], rising: bool, what: str) -> str | None:
    """A warning when the visited values do not fall (rising=False) or rise along the grid."""
    idx = sorted(values)
    for a, b in zip(idx, idx[1:], strict=False):
        bad = values[b] > values[a] if not rising else values[b] < values[a]
        if bad:
            return (f"{what}: not monotonic in the rate parameter: {values[a]:.6g} at "
                    f"{grid[a]} but {values[b]:.6g} at {grid[b]}")
    return None


def _warn(result: SearchResult, message: str) -> None:
    result.warnings.append(message)
    warnings.warn(message, SearchWarning, stacklevel=3)


# -- target bitrates ----------------------------------------------------------------------------

class _ItemRate:
    """bpp of one item at grid index i: from the cache, or encoded (and cached)."""

    def __init__(self, run_dir: Path, codec, codec_name: str, ds, item, grid: list[Any],
                 cache: SearchCache, bits_of: dict[str, int],
                 progress: Callable[[str], None] | None) -> None:
        self.run_dir, self.codec, self.codec_name, self.ds, self.item = (run_dir, codec,
                                                                         codec_name, ds, item)
        self.grid, self.cache, self.bits_of, self.progress = grid, cache, bits_of, progress
        self.pixels = item.width * item.height
        self.data = None
        self.bpp: dict[int, float] = {}

    def __call__(self, i: int) -> float:
        if i in self.bpp:
            return self.bpp[i]
        point = self.grid[i]
        key = _key(point)
        if key in self.bits_of:
            self.cache.hits += 1
        else:
            if self.data is None:
                self.data = _input(self.run_dir, self.codec, self.ds, self.item)
            if self.progress is not None:
                self.progress(f"{self.codec_name} {self.item.name} "
                              f"{self.codec.cfg.rate_parameter} {point}")
            self.bits_of[key] = 8 * len(self.codec.encode(self.data, point))
            self.cache.misses += 1
            self.cache.save()
        self.bpp[i] = self.bits_of[key] / self.pixels
        return self.bpp[i]


def search_bpp(cfg: CtcConfig, codec_name: str, targets: list[float], run_dir: Path, *,
               qp_range: tuple[float, float] | None = None,
               progress: Callable[[str], None] | None = None) -> SearchResult:
    """For each item of the dataset and each target bpp, the rate point whose bpp is closest to
    the target in log-rate (see the module docstring); the common points are the per-item
    medians (the lower median for an even count, so a visited value)."""
    spec = _codec_spec(cfg, codec_name)
    targets = _check_targets(targets, "bpp")
    grid = rate_grid(cfg, codec_name, qp_range)
    run_dir = Path(run_dir)
    ds = _open(cfg, run_dir)
    codec = make_codec(spec)
    cache = SearchCache(RunLayout(run_dir).search_cache)
    section = cache.section(codec_name, _settings(cfg, codec_name, with_task=False))
    result = SearchResult(codec_name, spec.rate_parameter, "bpp", targets, [])
    for item in ds:
        at = _ItemRate(run_dir, codec, codec_name, ds, item, grid, cache,
                       section["bits"].setdefault(item.name, {}), progress)
        found = []
        for t in targets:
            lo = _bisect(len(grid), lambda i, t=t, at=at: at(i) >= t)
            # the bracketing pair; closest in log-rate, a tie to the one with bpp >= target
            cands = [(abs(math.log(max(at(i), 1e-12) / t)), i != lo, i)
                     for i in (lo, lo + 1) if 0 <= i < len(grid)]
            best = min(cands)[2]
            clamped = lo < 0 or lo == len(grid) - 1
            if clamped:
                end = "highest" if lo < 0 else "lowest"
                _warn(result, f"{item.name}: target {t:g} bpp is out of reach; the {end} rate "
                      f"of the range ({spec.rate_parameter} {grid[best]}, {at(best):.4g} bpp) "
                      "was taken")
            found.append(SearchPoint(t, grid[best], at(best), clamped=clamped))
        result.per_item[item.name] = found
        msg = _monotonic(at.bpp, grid, rising=False, what=f"{item.name}: bpp")
        if msg:
            _warn(result, msg)
        chosen = [p.point for p in found]
        if len(set(chosen)) < len(chosen):
            _warn(result, f"{item.name}: several targets give the same "
                  f"{spec.rate_parameter} ({chosen}); the targets are closer than the "
                  "rate parameter's resolution")
    for k, t in enumerate(targets):
        pts = [result.per_item[name][k] for name in result.per_item]
        median = statistics.median_low([p.point for p in pts])
        at_median = [p.bpp for p in pts if p.point == median]
        result.points.append(SearchPoint(t, median, statistics.fmean(at_median),
                                         clamped=any(p.clamped for p in pts)))
    result.encodes, result.cache_hits = cache.misses, cache.hits
    return result


# -- target accuracy drops ----------------------------------------------------------------------

def search_accuracy_drop(cfg: CtcConfig, codec_name: str, drops: list[float], run_dir: Path, *,
                         qp_range: tuple[float, float] | None = None,
                         progress: Callable[[str], None] | None = None) -> SearchResult:
    """For each target mAP drop (mAP units: 0.01 is one mAP point), the largest rate point
    (coarsest) whose mAP over the dataset is at most the target below the mAP of the
    uncompressed input; one point for the whole dataset."""
    spec = _codec_spec(cfg, codec_name)
    if cfg.task is None or "map" not in cfg.metrics:
        raise SearchError(f"{cfg.source}: an accuracy-drop search needs a task track (a task "
                          "section and metric map)")
    drops = _check_targets(drops, "mAP drop")
    grid = rate_grid(cfg, codec_name, qp_range)
    run_dir = Path(run_dir)
    ds = _open(cfg, run_dir)
    runner.prepare_ground_truth(cfg, run_dir)
    gt = json.loads(RunLayout(run_dir).ground_truth.read_text())
    model = runner.model_of(run_dir)
    codec = make_codec(spec)
    items = list(ds)
    ids = [it.id for it in items]
    pixels = sum(it.width * it.height for it in items)
    cache = SearchCache(RunLayout(run_dir).search_cache)
    section = cache.section(codec_name, _settings(cfg, codec_name, with_task=True))

    from vcmref.eval.task_metrics import coco_map

    def evaluate(dets: list[dict]) -> float:
        value = coco_map(gt, dets, image_ids=ids).map
        return float(value) if math.isfinite(value) and value >= 0 else 0.0

    if section.get("reference_map") is None:
        dets = []
        for item in items:
            data = _input(run_dir, codec, ds, item)
            dets.extend(model.predict(data, item.width, item.height, item.id,
                                      cfg.task.split))
        section["reference_map"] = evaluate(dets)
        cache.save()
    ref = float(section["reference_map"])
    result = SearchResult(codec_name, spec.rate_parameter, "map_drop", drops, [],
                          reference_map=ref)
    maps: dict[int, float] = {}
    rates: dict[int, float] = {}

    def at(i: int) -> float:
        if i in maps:
            return maps[i]
        key = _key(grid[i])
        entry = section["map"].get(key)
        if entry is not None:
            cache.hits += 1
        else:
            dets, bits = [], 0
            for item in items:
                data = _input(run_dir, codec, ds, item)
                if progress is not None:
                    progress(f"{codec_name} {item.name} {spec.rate_parameter} {grid[i]}")
                stream = codec.encode(data, grid[i])
                cache.misses += 1
                bits += 8 * len(stream)
                decoded = codec.decode(stream, item.width, item.height, grid[i], like=data)
                dets.extend(model.predict(decoded, item.width, item.height, item.id,
                                          cfg.task.split))
            entry = {"map": evaluate(dets), "bits": bits}
            section["map"][key] = entry
            cache.save()
        maps[i] = float(entry["map"])
        rates[i] = entry["bits"] / pixels
        return maps[i]

    for d in drops:
        lo = _bisect(len(grid), lambda i, d=d: ref - at(i) <= d)
        clamped = lo < 0 or lo == len(grid) - 1
        best = max(lo, 0)
        if lo < 0:
            _warn(result, f"target mAP drop {d:g} is out of reach: even {spec.rate_parameter} "
                  f"{grid[0]} loses {ref - at(0):.4f}; it was taken")
        elif lo == len(grid) - 1:
            _warn(result, f"target mAP drop {d:g} is not reached within the range: "
                  f"{spec.rate_parameter} {grid[-1]} loses {ref - at(best):.4f}; it was taken")
        result.points.append(SearchPoint(d, grid[best], rates[best], maps[best],
                                         ref - maps[best], clamped))
    msg = _monotonic({i: ref - m for i, m in maps.items()}, grid, rising=True,
                     what="mAP drop")
    if msg:
        _warn(result, msg)
    result.encodes, result.cache_hits = cache.misses, cache.hits
    return result


# -- writing the points into a config -----------------------------------------------------------

def _config_path(config: str | Path) -> Path:
    path = Path(config)
    if path.is_file():
        return path
    builtin = CONFIGS_DIR / f"{path}.yaml"
    if builtin.is_file():
        return builtin
    raise SearchError(f"{path}: no such config file (nor a shipped config {path.name}.yaml in "
                      f"{CONFIGS_DIR})")


def write_points(cfg_path: str | Path, codec_name: str, result: SearchResult, out_path: Path,
                 *, overrides: list[str] | None = None) -> Path:
    """Write a copy of the config (its unexpanded YAML, with `overrides` applied) whose
    codecs.<codec>.points are the result's common points and points_per_item its per-item
    points (removed for an accuracy search, whose points are common); the copy is validated by
    loading it back. YAML comments are not kept."""
    src = _config_path(cfg_path)
    doc = yaml.safe_load(src.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise SearchError(f"{src}: not a config (a mapping)")
    for assignment in overrides or []:
        apply_override(doc, assignment, str(src))
    codecs = doc.get("codecs")
    if not isinstance(codecs, dict) or not isinstance(codecs.get(codec_name), dict):
        raise SearchError(f"{src}: no codec {codec_name!r} under codecs")
    codec = codecs[codec_name]
    if len(result.points) != len(result.targets):
        raise SearchError("the search result has no point for some target")
    codec["points"] = result.common_points()
    per_item = result.points_per_item()
    if per_item:
        codec["points_per_item"] = per_item
    else:
        codec.pop("points_per_item", None)
    unit = "bpp" if result.mode == "bpp" else "mAP drop"
    header = (f"# Written by the vcmref rate-point search from {src.name}: codecs.{codec_name}"
              f" points for target {unit} {', '.join(f'{t:g}' for t in result.targets)}.\n")
    out_path = Path(out_path)
    text = header + yaml.safe_dump(doc, sort_keys=False, width=100, default_flow_style=None)
    write_atomic(out_path, text.encode())
    try:
        load_config(out_path)
    except ConfigError as e:
        raise SearchError(f"the written config does not validate: {e}") from None
    return out_path


# -- the command --------------------------------------------------------------------------------

def format_result(result: SearchResult) -> str:
    """The table the command prints."""
    p = result.rate_parameter
    lines = []
    if result.mode == "bpp":
        lines.append(f"{'item':<20} {'target bpp':>10} {p:>8} {'bpp':>9}")
        for name, pts in result.per_item.items():
            for sp in pts:
                mark = " (out of reach)" if sp.clamped else ""
                lines.append(f"{name:<20} {sp.target:>10g} {sp.point!s:>8} {sp.bpp:>9.4f}{mark}")
        lines.append("common points (median over items): " + ", ".join(
            f"{sp.target:g} bpp -> {sp.point}" for sp in result.points))
    else:
        lines.append(f"uncompressed mAP {result.reference_map:.4f}")
        lines.append(f"{'target drop':>11} {p:>8} {'mAP':>8} {'drop':>8} {'bpp':>9}")
        for sp in result.points:
            mark = " (out of reach)" if sp.clamped else ""
            lines.append(f"{sp.target:>11g} {sp.point!s:>8} {sp.map:>8.4f} {sp.drop:>8.4f} "
                         f"{sp.bpp:>9.4f}{mark}")
    lines.append(f"{result.encodes} encodes, {result.cache_hits} answered by the cache")
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)


def run_search(config: str | Path, codec: str, *, bpp: list[float] | None = None,
               drops: list[float] | None = None, run_dir: Path, out: Path | None = None,
               overrides: list[str] | None = None,
               qp_range: tuple[float, float] | None = None,
               progress: Callable[[str], None] | None = None) -> str:
    """Search target bpps or target mAP drops (exactly one), write the points into `out` when
    given, and return the table to print."""
    if (bpp is None) == (drops is None):
        raise SearchError("give either target bpps or target mAP drops (not both)")
    cfg = load_config(config, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchWarning)  # they are in the table
        if bpp is not None:
            result = search_bpp(cfg, codec, bpp, Path(run_dir), qp_range=qp_range,
                                progress=progress)
        else:
            result = search_accuracy_drop(cfg, codec, drops, Path(run_dir),
                                          qp_range=qp_range, progress=progress)
    text = format_result(result)
    if out is not None:
        write_points(config, codec, result, Path(out), overrides=overrides)
        text += f"\nwrote {out}"
    return text


SEARCH_DIR = "search"  # RUN/search/CODEC/: the target-rate searches' run directories, caches


def resolve_target_rates(cfg: CtcConfig, run_dir: Path,
                         progress: Callable[[str], None] | None = None
                         ) -> tuple[CtcConfig, list[str]]:
    """The config with the points of every codec that gives `target_bpp` found by
    `search_bpp` (per item, in RUN/search/, whose cache makes a rerun encode nothing), and the
    search's warnings; a config without targets comes back as it is."""
    todo = [name for name, spec in cfg.codecs.items() if spec.target_bpp]
    if not todo:
        return cfg, []
    doc = copy.deepcopy(cfg.raw)
    messages: list[str] = []
    for name in todo:
        # What a codec's bitrate search depends on: the dataset, the task and that codec, not
        # the metrics, the other codecs nor the loss track; so each codec searches in its own
        # directory, RUN/search/CODEC/, which changing those keeps, with its cache.
        view = {k: copy.deepcopy(v) for k, v in cfg.raw.items()
                if k in ("name", "plugins", "dataset", "task")}
        view.update(metrics=[], anchor=name, codecs={name: copy.deepcopy(cfg.raw["codecs"][name])})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SearchWarning)  # returned instead
            result = search_bpp(parse_config(view, cfg.source), name,
                                cfg.codecs[name].target_bpp, Path(run_dir) / SEARCH_DIR / name,
                                progress=progress)
        messages += [f"codecs.{name}: {w}" for w in result.warnings]
        doc["codecs"][name]["points"] = result.common_points()
        doc["codecs"][name]["points_per_item"] = result.points_per_item()
    return parse_config(doc, cfg.source), messages
