"""The CTC runner: expands a config into jobs, runs encode, decode and evaluation for each, and
records one result per job. Resumable (a job with a result is skipped), atomic (a killed run
loses no finished job), with provenance; locally in a process pool or on a Dask cluster."""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.assets import REPO_ROOT
from vcmref.ctc.codecs import make_codec
from vcmref.ctc.config import ConfigError, CtcConfig, needs_predictions, parse_config
from vcmref.ctc.jobs import (
    RECORD_SCHEMA,
    Job,
    RunLayout,
    expand_jobs,
    job_done,
    read_record,
    write_atomic,
    write_json,
)
from vcmref.errors import VcmrefError
from vcmref.registry import DATASETS, METRICS, TASKS

PHASES = ("all", "encode", "evaluate")


@dataclass
class RunSummary:
    run_dir: Path
    total: int
    skipped: int
    done: int
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job label, error)
    seconds: float = 0.0


# -- per-process state: the config, dataset and model of a run, loaded once ---------------------

class Run:
    """What the jobs of a run share in one process: the config, the dataset and the task
    model (each loaded once, on first use) and the items' split tensors (computed once per
    run and kept in RUN/features/). Codecs get their inputs from it (`CtcCodec.original`)."""

    def __init__(self, run_dir: Path, cfg: CtcConfig) -> None:
        self.dir, self.cfg = Path(run_dir), cfg
        self._dataset = None
        self._model = None
        self.metrics = {name: METRICS.get(name)() for name in cfg.metrics}
        self.predicts = needs_predictions(cfg)

    @property
    def dataset(self):
        if self._dataset is None:
            self._dataset = open_dataset(self.cfg, self.dir)
        return self._dataset

    @property
    def model(self):
        if self._model is None:
            task = self.cfg.task
            self._model = TASKS.get(task.kind).from_settings(task.params)
        return self._model

    def codec(self, name: str):
        return make_codec(self.cfg.codecs[name])

    def features(self, item) -> dict[str, np.ndarray]:
        """The item's uncompressed split tensors: (C, H, W) each for a picture, (F, C, H, W)
        for a sequence's F frames."""
        path = RunLayout(self.dir).feature_file(item.name)
        if path.is_file():
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        split = self.cfg.task.split
        frames = [self.model.front(self.model.preprocess(image, fid), split)
                  for image, fid in zip(self.dataset.load_frames(item),
                                        self.dataset.frame_ids(item), strict=True)]
        tensors = frames[0]
        if self.dataset.is_video:
            tensors = {k: np.stack([f[k] for f in frames]) for k in frames[0]}
        import io

        buf = io.BytesIO()
        np.savez(buf, **tensors)
        write_atomic(path, buf.getvalue())
        return tensors


_STATE: dict[str, Any] = {}


def _state(run_dir: Path) -> Run:
    """The run of RUN/config.resolved.yaml, loaded once per process."""
    key = str(Path(run_dir).resolve())
    if _STATE.get("key") != key:
        import yaml

        path = RunLayout(run_dir).resolved_config
        doc = yaml.safe_load(path.read_text())
        cfg = parse_config(doc, str(path))
        _STATE.clear()
        _STATE.update(key=key, run=Run(Path(run_dir), cfg))
    return _STATE["run"]


def run_state(run_dir: Path) -> Run:
    """The run's per-process state: config, dataset, task model, split tensors."""
    return _state(run_dir)


def dataset_of(run_dir: Path):
    """The run's dataset, opened once per process."""
    return _state(run_dir).dataset


def model_of(run_dir: Path):
    """The run's task model, loaded once per process."""
    return _state(run_dir).model


def open_dataset(cfg: CtcConfig, run_dir: Path):
    """The config's dataset (its kind from the registry), subset as the config says; a kind
    that makes its images (skimage) writes them to RUN/images/."""
    ds_cfg = cfg.dataset
    ds = DATASETS.get(ds_cfg.kind)(ds_cfg.params).open(RunLayout(run_dir).images)
    if ds_cfg.ids is not None:
        ds = ds.subset(ids=ds_cfg.ids)
    if ds_cfg.count is not None:
        ds = ds.subset(count=min(ds_cfg.count, len(ds)))
    return ds


# -- one job ------------------------------------------------------------------------------------

def _encode(run_dir: Path, job: Job) -> tuple[bytes, float]:
    run = _state(run_dir)
    codec = run.codec(job.codec)
    data = codec.original(run, run.dataset[job.item_id])
    codec.prepare(job.point)  # loading a model is not encoding
    start = time.perf_counter()
    bitstream = codec.encode(data, job.point)
    encode_s = time.perf_counter() - start
    write_atomic(job.bitstream_path(run_dir), bitstream)
    write_json(job.encode_info_path(run_dir), {"bytes": len(bitstream), "encode_s": encode_s})
    return bitstream, encode_s


def _evaluate(run_dir: Path, job: Job, bitstream: bytes, encode_s: float) -> dict[str, Any]:
    run = _state(run_dir)
    cfg, codec = run.cfg, run.codec(job.codec)
    item = run.dataset[job.item_id]
    original = codec.original(run, item)
    codec.prepare(job.point)
    start = time.perf_counter()
    decoded = codec.decode(bitstream, item.width, item.height, job.point, like=original)
    decode_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = {name: metric.measure(codec.input, original, decoded)
               for name, metric in run.metrics.items()
               if metric.task_output is None and metric.applies_to(codec.input)}
    split = cfg.task.split if codec.needs_split else None  # an image codec: remote inference
    detections = predict_frames(run, codec, decoded, item, split) if run.predicts else None
    eval_s = time.perf_counter() - start
    extent = codec.extent(original)
    frames, frame_rate, samples = extent.frames, extent.frame_rate, extent.samples
    if frame_rate is None:
        frame_rate = run.dataset.frame_rate(item)
    bits = 8 * len(bitstream)
    pixels = item.width * item.height * frames
    spec = cfg.codecs[job.codec]
    return {"schema": RECORD_SCHEMA, "codec": job.codec, "kind": spec.kind,
            "rate_parameter": spec.rate_parameter, "point": job.point,
            "point_index": job.point_index,
            "item": {"id": item.id, "name": item.name, "width": item.width,
                     "height": item.height, "frames": frames, "frame_rate": frame_rate,
                     "class": item_class(cfg, item.name)},
            "status": "ok", "error": None, "bits": bits, "pixels": pixels, "samples": samples,
            "bpp": bits / pixels, "bits_per_sample": bits / samples if samples else None,
            "kbps": bits * frame_rate / frames / 1000 if frame_rate else None,
            "encode_s": encode_s, "decode_s": decode_s, "eval_s": eval_s,
            "metrics": metrics, "detections": detections}


def predict_frames(run: Run, codec: Any, decoded: Any, item: Any,
                   split: str | None) -> list[dict[str, Any]]:
    """The task's predictions on what was decoded: of the picture, or of every frame of a
    sequence (each under its frame's image id, in display order)."""
    if not run.dataset.is_video:
        return run.model.predict(decoded, item.width, item.height, item.id, split)
    out: list[dict[str, Any]] = []
    for f, fid in enumerate(run.dataset.frame_ids(item)):
        frame = codec.frame(decoded, f, run.dataset)
        out.extend(run.model.predict(frame, item.width, item.height, fid, split))
    return out


def item_class(cfg: CtcConfig, name: str) -> str | None:
    """The CTC class of an item (dataset.classes), or None."""
    for cls, names in (cfg.dataset.classes or {}).items():
        if name in names:
            return cls
    return None


def _one_line(exc: BaseException) -> str:
    text = f"{exc}" if isinstance(exc, VcmrefError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def execute_job(run_dir: str | Path, job: Job, phase: str = "all") -> dict[str, Any]:
    """Run one job and write its record (or, for the encode phase, its bitstream); never
    raises for a failing codec: the failure is the record."""
    run_dir = Path(run_dir)
    try:
        if phase == "evaluate":
            info = json.loads(job.encode_info_path(run_dir).read_text())
            bitstream, encode_s = job.bitstream_path(run_dir).read_bytes(), info["encode_s"]
        else:
            bitstream, encode_s = _encode(run_dir, job)
        if phase == "encode":
            return {"status": "ok", "job": job.label()}
        record = _evaluate(run_dir, job, bitstream, encode_s)
    except Exception as exc:  # one failed job must not stop the others
        record = {"schema": RECORD_SCHEMA, "codec": job.codec, "point": job.point,
                  "point_index": job.point_index,
                  "item": {"id": job.item_id, "name": job.item_name},
                  "status": "failed", "error": _one_line(exc),
                  "traceback": traceback.format_exc(limit=6)}
        if isinstance(exc, FileNotFoundError) and phase == "evaluate":
            record["error"] = f"no bitstream: run the encode phase first ({exc.filename})"
    write_json(job.result_path(run_dir), record)
    return {"status": record["status"], "job": job.label(), "error": record.get("error")}


# -- the run ------------------------------------------------------------------------------------

def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("vcmref", "numpy", "onnxruntime", "onnx", "imageio-ffmpeg", "pycocotools",
                "scikit-image", "torch", "dask", "distributed"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def _git_revision() -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, timeout=10,
                               check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip() + ("+modified" if dirty.stdout.strip() else "")


def _encoders(cfg: CtcConfig) -> dict[str, Any]:
    from vcmref.media.ffmpeg_tool import encoder_versions, ffmpeg_exe
    from vcmref.media.process import run_tool

    out: dict[str, Any] = {}
    try:
        exe = ffmpeg_exe()
        first = run_tool([exe, "-hide_banner", "-version"], what="ffmpeg -version",
                         timeout=30).stdout.decode().splitlines()[0]
        out["ffmpeg"] = {"path": exe, "version": first, "encoders": encoder_versions()}
    except VcmrefError as e:
        out["ffmpeg"] = {"error": str(e)}
    from vcmref.anchors.registry import get_codec

    for name, codec in cfg.codecs.items():
        inner = codec.params.get("codec")
        if inner is None:  # not an anchor codec kind
            continue
        entry: dict[str, Any] = {"codec": inner,
                                 "options": codec.params.get("codec_options", {})}
        try:
            entry["binaries"] = [str(e) for e in get_codec(
                inner, **codec.params.get("codec_options", {})).binaries()]
        except VcmrefError as e:
            entry["error"] = str(e)
        if entry.get("binaries") != []:  # ffmpeg's codecs are covered above
            out[name] = entry
    return out


def prepare_run(cfg: CtcConfig, run_dir: Path) -> None:
    """Write the resolved config and the provenance; refuse a run dir of another config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = cfg.to_yaml()
    path = RunLayout(run_dir).resolved_config
    if path.is_file() and path.read_text() != resolved:
        raise ConfigError(f"{run_dir}: holds a run of another configuration (see {path}); "
                          "use a new run directory, or the same config and overrides")
    if not path.is_file():
        write_atomic(path, resolved.encode())
    for stale in run_dir.rglob(".*.part"):  # left by a killed run: never a finished file
        stale.unlink(missing_ok=True)
    provenance = {"config_source": cfg.source, "versions": _versions(),
                  "git_revision": _git_revision(), "encoders": _encoders(cfg),
                  "machine": {"platform": platform.platform(), "processor":
                              platform.processor(), "python": sys.executable}}
    write_json(RunLayout(run_dir).provenance, provenance)


def prepare_ground_truth(cfg: CtcConfig, run_dir: Path) -> None:
    """RUN/ground_truth.json: the dataset's annotations, or pseudo ground truth (computed once
    from the uncompressed images)."""
    if cfg.task is None or not needs_predictions(cfg):
        return
    path = RunLayout(run_dir).ground_truth
    if path.is_file():
        return
    ds = dataset_of(run_dir)
    if cfg.task.ground_truth == "pseudo" and ds.is_video:
        from vcmref.tasks.inference import video_pseudo_ground_truth

        gt = video_pseudo_ground_truth(model_of(run_dir), ds, cfg.task.pseudo_score_threshold)
    elif cfg.task.ground_truth == "pseudo":
        from vcmref.tasks.inference import pseudo_ground_truth

        gt = pseudo_ground_truth(model_of(run_dir), ds, cfg.task.pseudo_score_threshold)
    else:
        gt = ds.coco_ground_truth()
    write_json(path, gt)


Progress = Callable[[int, int, int, str], None]  # (done, total, failed, last job label)


def _execute_local(run_dir: Path, jobs: list[Job], phase: str,
                   workers: int) -> Iterable[dict[str, Any]]:
    if workers <= 1:
        for job in jobs:
            yield execute_job(run_dir, job, phase)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from vcmref.ctc.workers import init_worker

    ctx = multiprocessing.get_context("spawn")
    # init_worker: a worker exits when this process dies, even by SIGKILL (no orphans)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker)
    try:
        futures = [pool.submit(execute_job, str(run_dir), job, phase) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()
    except BaseException:
        # Ctrl-C or an error: drop the queued jobs instead of running them all before exiting
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _execute_dask(run_dir: Path, jobs: list[Job], phase: str, scheduler: str,
                  workers: int) -> Iterable[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("--scheduler needs dask.distributed: pip install "
                          "'dask[distributed]'") from None
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="30s")
    try:
        futures = [client.submit(execute_job, str(run_dir), job, phase, pure=False,
                                 key=f"vcmref-{job.label()}-{time.monotonic_ns()}")
                   for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run(cfg: CtcConfig, run_dir: str | Path, *, workers: int = 1, scheduler: str | None = None,
        phase: str = "all", progress: Progress | None = None) -> RunSummary:
    """Run every job of the config that has no result yet; return the summary."""
    if phase not in PHASES:
        raise ConfigError(f"phase {phase!r}: expected one of {', '.join(PHASES)}")
    run_dir = Path(run_dir)
    start = time.perf_counter()
    from vcmref.ctc.config import check_inputs

    check_inputs(cfg)  # a missing dataset or model: refused before the run directory exists
    unresolved = [name for name, spec in cfg.codecs.items() if not spec.points]
    if unresolved:
        raise ConfigError(f"{cfg.source}: codecs {', '.join(unresolved)} give target_bpp but "
                          "no points: resolve them first (vcmref.ctc.search."
                          "resolve_target_rates; `vcmref ctc` does)")
    prepare_run(cfg, run_dir)
    _state(run_dir)
    ds = dataset_of(run_dir)
    if phase != "encode":
        prepare_ground_truth(cfg, run_dir)
    if cfg.dataset.classes:
        unknown = sorted({n for names in cfg.dataset.classes.values() for n in names}
                         - {it.name for it in ds})
        if unknown:
            raise ConfigError(f"{cfg.source}: dataset.classes: no item named "
                              f"{', '.join(unknown[:5])} in the dataset")
    jobs = expand_jobs(cfg, [(it.id, it.name) for it in ds])
    pending = [j for j in jobs if not job_done(run_dir, j, phase)]
    summary = RunSummary(run_dir, len(jobs), len(jobs) - len(pending), 0)
    results = (_execute_dask(run_dir, pending, phase, scheduler, workers) if scheduler
               else _execute_local(run_dir, pending, phase, workers))
    for outcome in results:
        summary.done += 1
        if outcome["status"] != "ok":
            summary.failed.append((outcome["job"], outcome.get("error") or ""))
        if progress is not None:
            progress(summary.done, len(pending), len(summary.failed), outcome["job"])
    summary.seconds = time.perf_counter() - start
    return summary


def failures(run_dir: str | Path) -> list[tuple[str, str]]:
    """(job, error) of every failed record in a run directory."""
    out = []
    for path in RunLayout(run_dir).record_files():
        record = read_record(path)
        if record is not None and record.get("status") != "ok":
            out.append((str(path.relative_to(run_dir)), record.get("error") or ""))
    return out
