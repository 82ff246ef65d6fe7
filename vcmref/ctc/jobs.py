"""Jobs of a CTC run: one per (codec, rate point, item), with the run directory's layout.

RUN/config.resolved.yaml, RUN/provenance.json, RUN/ground_truth.json (task tracks),
RUN/images/ (materialized sample images), RUN/features/ITEM.npz (uncompressed split tensors),
RUN/bitstreams/CODEC/POINT_INDEX/ITEM.bin, RUN/results/CODEC/POINT_INDEX/ITEM.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcmref.ctc.config import CtcConfig
from vcmref.fileio import write_atomic

__all__ = ["RECORD_SCHEMA", "Job", "expand_jobs", "job_done", "read_record", "write_atomic",
           "write_json"]

RECORD_SCHEMA = 1


@dataclass(frozen=True)
class Job:
    codec: str
    point_index: int
    point: Any
    item_id: int
    item_name: str

    def _path(self, run_dir: Path, folder: str, suffix: str) -> Path:
        return Path(run_dir) / folder / self.codec / str(self.point_index) / (self.item_name
                                                                              + suffix)

    def result_path(self, run_dir: Path) -> Path:
        return self._path(run_dir, "results", ".json")

    def bitstream_path(self, run_dir: Path) -> Path:
        return self._path(run_dir, "bitstreams", ".bin")

    def encode_info_path(self, run_dir: Path) -> Path:
        return self._path(run_dir, "bitstreams", ".json")

    def label(self) -> str:
        return f"{self.codec} point {self.point_index} ({self.point}) item {self.item_name}"


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


def job_done(run_dir: Path, job: Job, phase: str) -> bool:
    """Encode phase: the bitstream is there. Otherwise: an 'ok' result record is there."""
    if phase == "encode":
        return job.bitstream_path(run_dir).is_file() and job.encode_info_path(run_dir).is_file()
    record = read_record(job.result_path(run_dir))
    return record is not None and record.get("status") == "ok"
