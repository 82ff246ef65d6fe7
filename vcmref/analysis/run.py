"""The two analysis commands as functions: `analyze_splits` (measure the cuts of a task network
and write the tables and plots) and `plan_splits` (the planner on a saved analysis), with
`list_cuts` to show the candidates; `vcmref analyze splits|plan` call them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vcmref.analysis.graph import DEFAULT_MAX_TENSORS, SplitGraph
from vcmref.analysis.measure import FeatureCoding, ImageCoding, Progress, measure_splits
from vcmref.analysis.planner import Plan, load_planner_config, plan
from vcmref.analysis.report import write_plan, write_report
from vcmref.analysis.results import load_analysis
from vcmref.assets import package_folder
from vcmref.tasks.base import TaskModel

DEFAULT_QPS = (22, 27, 32, 37, 42)  # the feature anchor's (VVC) and the image anchor's
DEFAULT_IMAGE_QPS = (17, 22, 27, 32, 37, 42)
DEFAULT_VCMREF_QPS = (36, 42, 48, 54, 60)  # uniform steps 0.25 .. 4


def example_planner_config() -> Path:
    """The shipped example planner YAML (package data)."""
    return package_folder("vcmref.analysis", "configs") / "planner_example.yaml"


def task_model(model: str | Path | TaskModel | None, threads: int = 1) -> TaskModel:
    """A task model as given, else YOLOX-Nano (vcmref.tasks.yolox) from the file (None: the
    lookup of vcmref.tasks.model_files)."""
    if isinstance(model, TaskModel):
        return model
    from vcmref.tasks.yolox import YoloxDetector

    return YoloxDetector(model, threads=threads)


def list_cuts(model: str | Path | TaskModel | None,
              max_tensors: int = DEFAULT_MAX_TENSORS) -> list[str]:
    """One line per cut: the named splits (a task model's, or YOLOX-Nano's for its file),
    then the candidates (stage cuts marked with *), with depth, samples, MACs of front and
    back and tensors. A model file is read as a graph only (any ONNX model)."""
    if isinstance(model, TaskModel):
        graph = SplitGraph(model.onnx.model, model.input, model.onnx.path.name)
        named = dict(getattr(model, "split_points", {}) or {})
    else:
        from vcmref.tasks.model_files import YOLOX_NANO_SHA256, find_yolox_model
        from vcmref.tasks.onnx_split import sha256_of
        from vcmref.tasks.yolox import YoloxDetector

        path = find_yolox_model(model)[0]
        graph = SplitGraph(path)
        is_yolox = sha256_of(path) == YOLOX_NANO_SHA256
        named = dict(YoloxDetector.split_points) if is_yolox else {}
    stage = {c.tensors for c in graph.stage_cuts(max_tensors)}
    cuts = [graph.resolve(n, named, max_tensors) for n in named]
    cuts += graph.candidates(max_tensors)
    return [f"{'*' if c.tensors in stage else ' '} {c.name:>10} depth {c.depth:4d}  "
            f"{c.samples:8d} samples  MACs {c.macs_front / 1e6:8.1f}M + "
            f"{c.macs_back / 1e6:8.1f}M  {'+'.join(c.tensors)}" for c in cuts]


def analyze_splits(model: str | Path | TaskModel | None, dataset: Any, out_dir: str | Path, *,
                   splits: Sequence[str] | None = None, qps: Sequence[int] = DEFAULT_QPS,
                   image_qps: Sequence[int] | None = DEFAULT_IMAGE_QPS,
                   vcmref_qps: Sequence[int] | None = DEFAULT_VCMREF_QPS,
                   codec: str = "vvenc",
                   max_tensors: int = DEFAULT_MAX_TENSORS,
                   progress: Progress | None = None) -> list[Path]:
    """Measure the cuts `splits` names (default: the stage cuts and the model's named splits)
    on an annotated dataset with the feature anchor (inner codec `codec`) at `qps`, the
    vcmref codec at `vcmref_qps` and the image anchor at `image_qps` (None or empty: leave
    that codec out); write analysis.json, the
    tables and the plots to out_dir and return their paths. Resumes from out_dir/cache/."""
    options = {} if codec == "vvenc" else {"codec": codec}
    features = [FeatureCoding("feature-anchor", tuple(qps), options)] if qps else []
    if vcmref_qps:
        features.append(FeatureCoding("vcmref", tuple(vcmref_qps)))
    image = ImageCoding(tuple(image_qps), codec) if image_qps else None
    analysis = measure_splits(task_model(model), dataset, out_dir, splits=splits,
                              features=features, image=image, max_tensors=max_tensors,
                              progress=progress)
    return write_report(analysis, out_dir)


def plan_splits(config: str | Path, analysis: str | Path, out_dir: str | Path | None = None
                ) -> tuple[list[Plan], list[Path]]:
    """The planner YAML `config` on the analysis saved in `analysis` (a folder or its
    analysis.json); plan.csv and plan.png go to out_dir (default: the analysis folder)."""
    saved = load_analysis(analysis)
    plans = plan(saved, load_planner_config(config))
    folder = Path(out_dir) if out_dir is not None else (
        Path(analysis) if Path(analysis).is_dir() else Path(analysis).parent)
    return plans, write_plan(plans, folder)
