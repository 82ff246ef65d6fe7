"""Jobs of a CTC run: one per (codec, rate point, item), and the run directory's layout.

The layout is defined here once (``RunLayout``); the runner, the rate-point search, the
report and the CLI take every path from it (docs/ctc.md, "The run directory"):
RUN/config.resolved.yaml, RUN/provenance.json, RUN/ground_truth.json (task tracks),
RUN/images/ (materialized sample images), RUN/features/ITEM.npz (uncompressed split tensors),
RUN/bitstreams/CODEC/POINT_INDEX/ITEM.bin (and ITEM.json, the encode time),
RUN/results/CODEC/POINT_INDEX/ITEM.json (the job records), RUN/report/ (the tables).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vcmref.ctc.config import CtcConfig
from vcmref.fileio import write_atomic

__all__ = ["RECORD_SCHEMA", "Job", "RunLayout", "expand_jobs", "job_done", "read_record",
           "write_atomic", "write_json"]

RECORD_SCHEMA = 1


@dataclass(frozen=True)
class Job:
    codec: str
    point_index: int
    point: Any
    item_id: int
    item_name: str

    def result_path(self, run_dir: str | os.PathLike) -> Path:
        return RunLayout(run_dir).record(self)

    def bitstream_path(self, run_dir: str | os.PathLike) -> Path:
        return RunLayout(run_dir).bitstream(self)

    def encode_info_path(self, run_dir: str | os.PathLike) -> Path:
        return RunLayout(run_dir).encode_info(self)

    def label(self) -> str:
        return f"{self.codec} point {self.point_index} ({self.point}) item {self.item_name}"


@dataclass(frozen=True)
class RunLayout:
    """The paths of a run directory: ``RunLayout(run_dir).results``, ``.record(job)``, ...

    Job paths take a ``Job`` or anything with ``codec``, ``point_index`` and ``item_name``."""

    root: Path

    CONFIG_FILE: ClassVar[str] = "config.resolved.yaml"
    PROVENANCE_FILE: ClassVar[str] = "provenance.json"
    GROUND_TRUTH_FILE: ClassVar[str] = "ground_truth.json"
    SEARCH_CACHE_FILE: ClassVar[str] = "search_cache.json"
    IMAGES_DIR: ClassVar[str] = "images"
    FEATURES_DIR: ClassVar[str] = "features"
    BITSTREAMS_DIR: ClassVar[str] = "bitstreams"
    RESULTS_DIR: ClassVar[str] = "results"
    REPORT_DIR: ClassVar[str] = "report"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # ---- files and folders of the run
    @property
    def resolved_config(self) -> Path:
        """The config after overrides and expansion; a rerun with another config is refused."""
        return self.root / self.CONFIG_FILE

    @property
    def provenance(self) -> Path:
        return self.root / self.PROVENANCE_FILE

    @property
    def ground_truth(self) -> Path:
        return self.root / self.GROUND_TRUTH_FILE

    @property
    def search_cache(self) -> Path:
        """The rate-point search's cache of encodes (a search's run directory)."""
        return self.root / self.SEARCH_CACHE_FILE

    @property
    def images(self) -> Path:
        """Materialized sample images (datasets that are not files, e.g. scikit-image's)."""
        return self.root / self.IMAGES_DIR

    @property
    def features(self) -> Path:
        return self.root / self.FEATURES_DIR

    @property
    def bitstreams(self) -> Path:
        return self.root / self.BITSTREAMS_DIR

    @property
    def results(self) -> Path:
        return self.root / self.RESULTS_DIR

    @property
    def report(self) -> Path:
        """The default folder of the report's files."""
        return self.root / self.REPORT_DIR

    def is_run(self) -> bool:
        """Whether the folder holds a run (its resolved config is there)."""
        return self.resolved_config.is_file()

    # ---- per item and per job
    def feature_file(self, item_name: str) -> Path:
        """The uncompressed split tensors of an item."""
        return self.features / f"{item_name}.npz"

    def _job_path(self, folder: Path, job: Any, suffix: str) -> Path:
        return folder / job.codec / str(job.point_index) / f"{job.item_name}{suffix}"

    def record(self, job: Any) -> Path:
        """The job's result record (results/CODEC/POINT_INDEX/ITEM.json)."""
        return self._job_path(self.results, job, ".json")

    def bitstream(self, job: Any) -> Path:
        return self._job_path(self.bitstreams, job, ".bin")

    def encode_info(self, job: Any) -> Path:
        """The bitstream's encode information (its size and encode time)."""
        return self._job_path(self.bitstreams, job, ".json")

    def record_files(self) -> list[Path]:
        """Every record file under results/, sorted by path."""
        return sorted(self.results.glob("*/*/*.json"))

    @staticmethod
    def record_key(path: str | os.PathLike) -> tuple[str, str, str]:
        """(codec, point index, item name) of a record file, as its path spells them."""
        p = Path(path)
        return p.parent.parent.name, p.parent.name, p.stem


def expand_jobs(cfg: CtcConfig, items: list[tuple[int, str]]) -> list[Job]:
    """Every (codec, rate point, item) of the config, codec by codec in config order."""
    jobs = []
    for name, codec in cfg.codecs.items():
        for item_id, item_name in items:
            for k, point in enumerate(codec.item_points(item_name)):
                jobs.append(Job(name, k, point, item_id, item_name))
    return jobs


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=1, sort_keys=False) + "\n").encode())


def read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def job_done(run_dir: str | os.PathLike, job: Job, phase: str) -> bool:
    """Encode phase: the bitstream is there. Otherwise: an 'ok' result record is there."""
    layout = RunLayout(run_dir)
    if phase == "encode":
        return layout.bitstream(job).is_file() and layout.encode_info(job).is_file()
    record = read_record(layout.record(job))
    return record is not None and record.get("status") == "ok"
