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
from vcmref.ctc.config import ConfigError, CtcConfig, parse_config
from vcmref.ctc.jobs import (
    RECORD_SCHEMA,
    Job,
    expand_jobs,
    job_done,
    read_record,
    write_atomic,
    write_json,
)
from vcmref.errors import VcmrefError

PHASES = ("all", "encode", "evaluate")
CONFIG_FILE = "config.resolved.yaml"


@dataclass
class RunSummary:
    run_dir: Path
    total: int
    skipped: int
    done: int
    failed: list[tuple[str, str]] = field(default_factory=list)  # (job label, error)
    seconds: float = 0.0


# -- per-process state: the config, dataset and model of a run, loaded once ---------------------

_STATE: dict[str, Any] = {}


def _state(run_dir: Path) -> dict[str, Any]:
    key = str(Path(run_dir).resolve())
    if _STATE.get("key") != key:
        import yaml

        doc = yaml.safe_load((Path(run_dir) / CONFIG_FILE).read_text())
        cfg = parse_config(doc, str(Path(run_dir) / CONFIG_FILE))
        _STATE.clear()
        _STATE.update(key=key, cfg=cfg, dataset=None, model=None)
    return _STATE


def dataset_of(run_dir: Path):
    """The run's dataset, opened once per process."""
    st = _state(run_dir)
    if st["dataset"] is None:
        st["dataset"] = open_dataset(st["cfg"], Path(run_dir))
    return st["dataset"]


def model_of(run_dir: Path):
    """The run's task model, loaded once per process."""
    st = _state(run_dir)
    if st["model"] is None:
        from vcmref.tasks.yolox import YoloxDetector

        task = st["cfg"].task
        st["model"] = YoloxDetector(task.model_path, sha256=task.sha256)
    return st["model"]


SKIMAGE_DEFAULT = ("astronaut", "coffee", "chelsea", "rocket")


def open_dataset(cfg: CtcConfig, run_dir: Path):
    """The config's dataset; skimage sample images are written to RUN/images/ first."""
    from vcmref.eval.datasets import coco_dataset, image_folder

    ds_cfg = cfg.dataset
    if ds_cfg.kind == "video":
        ds = _video_dataset(cfg)
    elif ds_cfg.kind == "coco":
        ds = coco_dataset(ds_cfg.annotations, ds_cfg.images)
    elif ds_cfg.kind == "folder":
        ds = image_folder(ds_cfg.images)
    else:
        folder = run_dir / "images"
        names = ds_cfg.names or list(SKIMAGE_DEFAULT)
        if not all((folder / f"{n}.png").is_file() for n in names):
            _write_skimage(names, folder)
        ds = image_folder(folder)
    if ds_cfg.ids is not None:
        ds = ds.subset(ids=ds_cfg.ids)
    if ds_cfg.count is not None:
        ds = ds.subset(count=min(ds_cfg.count, len(ds)))
    return ds


def _video_dataset(cfg: CtcConfig):
    """One item per sequence of dataset.videos (ids 1.., names the file stems)."""
    from vcmref.eval.datasets import Dataset, Item
    from vcmref.eval.datasets.video import video_frames

    items = []
    for k, path in enumerate(cfg.dataset.videos or []):
        if not Path(path).is_file():
            raise ConfigError(f"{cfg.source}: dataset.videos[{k}]: no such file {path}")
        info = video_frames(path).info
        items.append(Item(k + 1, Path(path).stem, Path(path), info.width, info.height))
    return Dataset(items, kind="video", source=cfg.source, annotated=False)


def video_of(run_dir: Path, item):
    """The item's sequence: its first dataset.frames frames (all when not set)."""
    from vcmref.eval.datasets.video import video_frames

    cfg = _state(run_dir)["cfg"]
    source = video_frames(item.path)
    stop = len(source) if cfg.dataset.frames is None else min(cfg.dataset.frames, len(source))
    return source.read(0, stop)


def _write_skimage(names: list[str], folder: Path) -> None:
    import io

    import skimage.data
    from PIL import Image

    for name in names:
        fn = getattr(skimage.data, name, None)
        if fn is None:
            raise ConfigError(f"dataset.names: scikit-image has no sample image {name!r}")
        image = np.asarray(fn())
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        buf = io.BytesIO()
        Image.fromarray(image[:, :, :3].astype(np.uint8)).save(buf, format="PNG")
        write_atomic(folder / f"{name}.png", buf.getvalue())


# -- one job ------------------------------------------------------------------------------------

def features_of(run_dir: Path, item) -> dict[str, np.ndarray]:
    """The item's uncompressed split tensors, computed once per run and cached."""
    cfg = _state(run_dir)["cfg"]
    path = Path(run_dir) / "features" / f"{item.name}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    model = model_of(run_dir)
    prepared = model.preprocess(dataset_of(run_dir).load_image(item), item.id)
    tensors = model.front(prepared, cfg.task.split)
    import io

    buf = io.BytesIO()
    np.savez(buf, **tensors)
    write_atomic(path, buf.getvalue())
    return tensors


def _encode(run_dir: Path, job: Job) -> tuple[bytes, float]:
    cfg = _state(run_dir)["cfg"]
    codec = make_codec(cfg.codecs[job.codec])
    item = dataset_of(run_dir)[job.item_id]
    if codec.input == "features":
        data = features_of(run_dir, item)
    elif codec.input == "video":
        data = video_of(run_dir, item)
    else:
        data = dataset_of(run_dir).load_image(item)
    start = time.perf_counter()
    bitstream = codec.encode(data, job.point)
    encode_s = time.perf_counter() - start
    write_atomic(job.bitstream_path(run_dir), bitstream)
    write_json(job.encode_info_path(run_dir), {"bytes": len(bitstream), "encode_s": encode_s})
    return bitstream, encode_s


def _luma(rgb: np.ndarray) -> np.ndarray:
    from vcmref.anchors.color import rgb_to_ycbcr

    return rgb_to_ycbcr(rgb, matrix="bt709", full_range=True, bit_depth=8, chroma="444")[0]


def _evaluate(run_dir: Path, job: Job, bitstream: bytes, encode_s: float) -> dict[str, Any]:
    from vcmref.eval import quality

    cfg = _state(run_dir)["cfg"]
    codec = make_codec(cfg.codecs[job.codec])
    item = dataset_of(run_dir)[job.item_id]
    original = video_of(run_dir, item) if codec.input == "video" else None
    start = time.perf_counter()
    if original is not None:
        decoded = codec.decode(bitstream, item.width, item.height, job.point, like=original)
    else:
        decoded = codec.decode(bitstream, item.width, item.height, job.point)
    decode_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics: dict[str, float] = {}
    detections = None
    samples = None
    frames, frame_rate = 1, None
    if original is not None:
        frames, frame_rate = original.num_frames, float(original.frame_rate)
        psnr = quality.psnr_ycbcr(original.planes, decoded.planes, original.bit_depth)
        if "psnr_y" in cfg.metrics:
            metrics["psnr_y"] = psnr.y
        if "psnr_yuv" in cfg.metrics:
            metrics["psnr_yuv"] = psnr.weighted
    elif codec.input == "features":
        original = features_of(run_dir, item)
        samples = int(sum(v.size for v in original.values()))
        if "feature_psnr" in cfg.metrics:
            x = np.concatenate([original[k].ravel() for k in sorted(original)])
            y = np.concatenate([np.asarray(decoded[k]).ravel() for k in sorted(original)])
            metrics["feature_psnr"] = quality.feature_psnr(x, y)
        if "map" in cfg.metrics:
            model = model_of(run_dir)
            detections = model.back(decoded, model.prepared_for(item.width, item.height,
                                                                item.id), cfg.task.split)
    else:
        original = dataset_of(run_dir).load_image(item)
        if "psnr_rgb" in cfg.metrics:
            metrics["psnr_rgb"] = quality.psnr_rgb(original, decoded).rgb
        if "psnr_y" in cfg.metrics:
            metrics["psnr_y"] = quality.psnr(_luma(original), _luma(decoded), 255)
        if "ms_ssim" in cfg.metrics:
            metrics["ms_ssim"] = quality.ms_ssim(_luma(original), _luma(decoded), 255)
        if "map" in cfg.metrics:
            detections = model_of(run_dir).full(decoded, item.id)
    eval_s = time.perf_counter() - start
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
    from vcmref.anchors.ffmpeg_tool import encoder_versions, ffmpeg_exe
    from vcmref.anchors.process import run_tool

    out: dict[str, Any] = {}
    try:
        exe = ffmpeg_exe()
        first = run_tool([exe, "-hide_banner", "-version"], what="ffmpeg -version",
                         timeout=30).stdout.decode().splitlines()[0]
        out["ffmpeg"] = {"path": exe, "version": first, "encoders": encoder_versions()}
    except VcmrefError as e:
        out["ffmpeg"] = {"error": str(e)}
    from vcmref.anchors.codec import get_codec

    for name, codec in cfg.codecs.items():
        inner = codec.params.get("codec")
        if inner not in ("vtm", "hm", "x265-cli"):
            continue
        entry: dict[str, Any] = {"codec": inner,
                                 "options": codec.params.get("codec_options", {})}
        try:
            tool = get_codec(inner, **codec.params.get("codec_options", {}))
            exes = [getattr(tool, m)() for m in ("encoder_exe", "decoder_exe", "x265_exe")
                    if hasattr(tool, m)]
            entry["binaries"] = [str(e) for e in exes if e]
        except VcmrefError as e:
            entry["error"] = str(e)
        out[name] = entry
    return out


def prepare_run(cfg: CtcConfig, run_dir: Path) -> None:
    """Write the resolved config and the provenance; refuse a run dir of another config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = cfg.to_yaml()
    path = run_dir / CONFIG_FILE
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
    write_json(run_dir / "provenance.json", provenance)


def prepare_ground_truth(cfg: CtcConfig, run_dir: Path) -> None:
    """RUN/ground_truth.json: the dataset's annotations, or pseudo ground truth (computed once
    from the uncompressed images)."""
    if cfg.task is None or "map" not in cfg.metrics:
        return
    path = run_dir / "ground_truth.json"
    if path.is_file():
        return
    ds = dataset_of(run_dir)
    if cfg.task.ground_truth == "pseudo":
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
    for path in sorted(Path(run_dir).glob("results/*/*/*.json")):
        record = read_record(path)
        if record is not None and record.get("status") != "ok":
            out.append((str(path.relative_to(run_dir)), record.get("error") or ""))
    return out
