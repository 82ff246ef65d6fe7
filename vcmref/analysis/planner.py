"""The split planner: for each uplink bandwidth, the split and rate point of least end-to-end
latency (or device energy) whose accuracy drop stays within the constraint, and per split its
best feasible point (the whole curve).

Options: each measured split at each of its rate points (each feature codec's QPs, and the
uncoded float32 tensors: 32 bits a sample, the uncoded mAP); the whole network on the device
(nothing sent, the reference mAP); the input image coded by the image anchor at each QP, the
whole network on the server. For an option with front time F, back time B (seconds, measured
on this CPU), front MACs M and FLOPs P (vcmref.analysis.graph's counting rule) and bits b per
image:

  latency = F x device_ratio + b / (bandwidth_mbps x 10^6) + network_delay_s + B x server_ratio
  energy  = M x energy_per_mac_j + P x energy_per_flop_j + b x energy_per_bit_j   (the device's,
            joules; coding the tensors or the image is not counted, nor the server's energy)

network_delay_s counts only when something is sent. An option is feasible when its mAP drop,
1 - mAP / reference mAP, is at most max_map_drop. Ties go to the shallower split, then the
fewer bits.

The planner's YAML (docs/split-analysis.md; every key but bandwidth_mbps has a default)::

  objective: latency        # or energy
  bandwidth_mbps: [1, 10, 100]
  device_ratio: 10.0        # the device takes 10x the time measured here
  server_ratio: 0.2         # the server 0.2x
  network_delay_s: 0.0
  max_map_drop: 0.01        # 1 % of the reference mAP
  energy_per_mac_j: 0.0     # give MACs or FLOPs their energy (or both: they add up)
  energy_per_flop_j: 0.0
  energy_per_bit_j: 0.0
  splits: null              # the splits to consider; null: all measured
  codecs: null              # the feature codecs to consider; null: all measured
  on_device: true           # consider running everything on the device
  image: true               # consider sending the coded image
  uncoded: true             # consider sending the float32 tensors
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcmref.analysis.results import RatePoint, SplitAnalysis
from vcmref.errors import VcmrefError
from vcmref.params import Param, ParamError, check_settings

OBJECTIVES = ("latency", "energy")
ON_DEVICE = "on-device"
IMAGE = "image"
UNCODED = "float32"


class PlannerError(VcmrefError):
    """A planner config or request that is not as documented: names the key and what was
    expected, on one line."""


PLANNER_PARAMETERS = (
    Param("objective", str, "latency", choices=OBJECTIVES),
    Param("bandwidth_mbps", (float, list), doc="uplink Mbit/s (10^6 bit/s) > 0, or a list"),
    Param("device_ratio", float, 1.0, positive=True,
          doc="device time / time measured on this CPU"),
    Param("server_ratio", float, 1.0, positive=True,
          doc="server time / time measured on this CPU"),
    Param("network_delay_s", float, 0.0, min=0.0),
    Param("max_map_drop", float, 0.01, min=0.0, max=1.0,
          doc="a fraction of the reference mAP"),
    Param("energy_per_mac_j", float, 0.0, min=0.0),
    Param("energy_per_flop_j", float, 0.0, min=0.0),
    Param("energy_per_bit_j", float, 0.0, min=0.0),
    Param("splits", list, optional=True, items=str),
    Param("codecs", list, optional=True, items=str),
    Param("on_device", bool, True),
    Param("image", bool, True),
    Param("uncoded", bool, True),
)


@dataclass(frozen=True)
class PlannerConfig:
    """The planner's inputs (see the module docstring for their meaning)."""

    bandwidth_mbps: tuple[float, ...]
    objective: str = "latency"
    device_ratio: float = 1.0
    server_ratio: float = 1.0
    network_delay_s: float = 0.0
    max_map_drop: float = 0.01
    energy_per_mac_j: float = 0.0
    energy_per_flop_j: float = 0.0
    energy_per_bit_j: float = 0.0
    splits: tuple[str, ...] | None = None
    codecs: tuple[str, ...] | None = None
    on_device: bool = True
    image: bool = True
    uncoded: bool = True

    def __post_init__(self) -> None:
        try:
            check_settings(PLANNER_PARAMETERS, {
                **{k: getattr(self, k) for k in (p.name for p in PLANNER_PARAMETERS)},
                "bandwidth_mbps": list(self.bandwidth_mbps),
                "splits": None if self.splits is None else list(self.splits),
                "codecs": None if self.codecs is None else list(self.codecs)})
            _check_bandwidths(list(self.bandwidth_mbps))
            if self.objective == "energy" and not (self.energy_per_mac_j
                                                   or self.energy_per_flop_j
                                                   or self.energy_per_bit_j):
                raise ParamError("energy_per_mac_j", "expected energy_per_mac_j, "
                                 "energy_per_flop_j or energy_per_bit_j > 0 for objective "
                                 "energy, got none")
        except ParamError as e:
            raise PlannerError(str(e)) from None


def _check_bandwidths(value: Any) -> tuple[float, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ParamError("bandwidth_mbps", "expected a number > 0 or a non-empty list, got []")
    for i, v in enumerate(values):
        key = f"bandwidth_mbps[{i}]" if isinstance(value, list) else "bandwidth_mbps"
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or v <= 0:
            raise ParamError(key, f"expected a number > 0 (Mbit/s), got {v!r}")
    return tuple(float(v) for v in values)


def parse_planner_config(doc: Any, source: str = "<planner config>") -> PlannerConfig:
    """The planner config a loaded YAML document describes; PlannerError (one line, naming
    the file and key) when it is not as documented."""
    if not isinstance(doc, Mapping):
        raise PlannerError(f"{source}: expected a mapping of planner keys at the top, got "
                           f"{type(doc).__name__}")
    if "bandwidth_mbps" not in doc:
        raise PlannerError(f"{source}: bandwidth_mbps: missing (uplink Mbit/s, a number or "
                           "a list)")
    try:
        settings = check_settings(PLANNER_PARAMETERS, doc)
        settings["bandwidth_mbps"] = _check_bandwidths(settings["bandwidth_mbps"])
        for key in ("splits", "codecs"):
            if settings[key] is not None:
                settings[key] = tuple(settings[key])
        for key in ("device_ratio", "server_ratio", "network_delay_s", "max_map_drop",
                    "energy_per_mac_j", "energy_per_flop_j", "energy_per_bit_j"):
            settings[key] = float(settings[key])
        return PlannerConfig(**settings)
    except (ParamError, PlannerError) as e:
        raise PlannerError(f"{source}: {e}") from None


def load_planner_config(path: str | Path) -> PlannerConfig:
    """Read and check a planner YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PlannerError(f"{path}: no such planner config file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PlannerError(f"{path}: not YAML ({' '.join(str(e).split())})") from None
    return parse_planner_config(doc, str(path))


@dataclass(frozen=True)
class Option:
    """One way to run the task at one rate point, with its cost and accuracy."""

    split: str  # a split's name, "on-device" or "image"
    depth: int  # non-constant nodes on the device (the whole network for on-device)
    codec: str  # the rate point's codec; "" on the device
    point: int | None
    bits: float
    map: float
    front_s: float  # measured on this CPU
    back_s: float
    macs_device: int
    flops_device: int = 0


@dataclass(frozen=True)
class PlanPoint:
    """An option costed for one bandwidth."""

    option: Option
    map_drop: float
    device_s: float
    transmit_s: float
    server_s: float
    latency_s: float
    energy_j: float
    feasible: bool

    def cost(self, objective: str) -> float:
        return self.latency_s if objective == "latency" else self.energy_j


@dataclass(frozen=True)
class Plan:
    """The choice for one bandwidth, and per split (in depth order) its best point: the best
    feasible one, else the most accurate (marked infeasible)."""

    bandwidth_mbps: float
    objective: str
    best: PlanPoint | None  # None when no option meets the accuracy constraint
    curve: tuple[PlanPoint, ...]


def options(analysis: SplitAnalysis, cfg: PlannerConfig) -> list[Option]:
    """Every option the analysis measured that the config lets the planner consider."""
    wanted = set(cfg.splits) if cfg.splits is not None else None
    if wanted is not None:
        unknown = sorted(wanted - {s.name for s in analysis.splits})
        if unknown:
            raise PlannerError(f"splits: {unknown[0]!r} was not measured; measured: "
                               f"{', '.join(s.name for s in analysis.splits)}")
    codecs = set(cfg.codecs) if cfg.codecs is not None else None
    if codecs is not None:
        unknown = sorted(codecs - set(analysis.codecs()))
        if unknown:
            raise PlannerError(f"codecs: {unknown[0]!r} was not measured; measured: "
                               f"{', '.join(analysis.codecs())}")
    out = []
    total_depth = max([analysis.nodes] + [s.depth + 1 for s in analysis.splits])
    if cfg.on_device:
        out.append(Option(ON_DEVICE, total_depth, "", None, 0.0, analysis.reference_map,
                          analysis.full_s, 0.0, analysis.total_macs, analysis.total_flops))
    if cfg.image:
        out += [Option(IMAGE, 0, p.codec, p.point, p.bits, p.map, 0.0, analysis.full_s, 0)
                for p in analysis.image_points]
    for s in analysis.splits:
        if wanted is not None and s.name not in wanted:
            continue
        points: list[RatePoint] = [p for p in s.points if codecs is None or p.codec in codecs]
        if cfg.uncoded:
            points.append(RatePoint(UNCODED, None, 32.0 * s.samples, s.map_uncoded))
        out += [Option(s.name, s.depth, p.codec, p.point, p.bits, p.map, s.front_s, s.back_s,
                       s.macs_front, s.flops_front) for p in points]
    return out


def cost(option: Option, cfg: PlannerConfig, bandwidth_mbps: float, reference_map: float
         ) -> PlanPoint:
    """The option's latency, energy and accuracy drop at one bandwidth."""
    device_s = option.front_s * cfg.device_ratio
    server_s = option.back_s * cfg.server_ratio
    sends = option.bits > 0
    transmit_s = option.bits / (bandwidth_mbps * 1e6) + (cfg.network_delay_s if sends else 0.0)
    energy = (option.macs_device * cfg.energy_per_mac_j
              + option.flops_device * cfg.energy_per_flop_j + option.bits * cfg.energy_per_bit_j)
    drop = 1.0 - option.map / reference_map if reference_map > 0 else float("nan")
    feasible = math.isfinite(drop) and drop <= cfg.max_map_drop + 1e-12
    return PlanPoint(option, drop, device_s, transmit_s, server_s,
                     device_s + transmit_s + server_s, energy, feasible)


def _rank(point: PlanPoint, objective: str) -> tuple[float, int, float]:
    return point.cost(objective), point.option.depth, point.option.bits


def plan(analysis: SplitAnalysis, cfg: PlannerConfig) -> list[Plan]:
    """One plan per bandwidth of the config (see the module docstring)."""
    opts = options(analysis, cfg)
    if not opts:
        raise PlannerError("no option to plan with: every split, the image and on-device "
                           "are excluded by the config")
    plans = []
    for bandwidth in cfg.bandwidth_mbps:
        points = [cost(o, cfg, bandwidth, analysis.reference_map) for o in opts]
        feasible = [p for p in points if p.feasible]
        best = min(feasible, key=lambda p: _rank(p, cfg.objective)) if feasible else None
        curve = []
        for split in dict.fromkeys(p.option.split for p in points):
            mine = [p for p in points if p.option.split == split]
            ok = [p for p in mine if p.feasible]
            curve.append(min(ok, key=lambda p: _rank(p, cfg.objective)) if ok
                         else max(mine, key=lambda p: (p.option.map, -p.option.bits)))
        curve.sort(key=lambda p: p.option.depth)
        plans.append(Plan(bandwidth, cfg.objective, best, tuple(curve)))
    return plans


def plan_from_files(config: str | Path, analysis: str | Path) -> list[Plan]:
    """The plans of a planner YAML for the analysis saved in a folder (analysis.json)."""
    from vcmref.analysis.results import load_analysis

    return plan(load_analysis(analysis), load_planner_config(config))


def describe(plans: Sequence[Plan]) -> list[str]:
    """One line per bandwidth: the chosen split and rate point, its latency and accuracy."""
    lines = []
    for p in plans:
        head = f"{p.bandwidth_mbps:g} Mbit/s:"
        if p.best is None:
            lines.append(f"{head} no option meets the accuracy constraint")
            continue
        o = p.best.option
        rate = f"{o.codec} QP {o.point}" if o.point is not None else (o.codec or "nothing sent")
        lines.append(f"{head} {o.split} ({rate}, {o.bits:.0f} bits) latency "
                     f"{p.best.latency_s * 1000:.1f} ms, energy {p.best.energy_j:.3g} J, "
                     f"mAP drop {100 * p.best.map_drop:.2f} %")
    return lines
