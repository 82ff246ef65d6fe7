"""Pool workers die with their run: `vcmref ctc --workers 2` killed with SIGKILL (the parent
alone, as `kill -9 PID` does) leaves no worker, resource tracker or tool process behind, and
no record is written after it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ctc_docs import image_codecs_doc, write_images

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds the run's processes in /proc"
)


JOBS = 64


def _config(tmp_path: Path) -> Path:
    """8 images x 2 quick codecs x 4 points: 64 jobs, several seconds on two workers (enough
    that a loaded machine does not finish the run before the test interrupts it)."""
    images = write_images(tmp_path / "img", count=8, height=128, width=160)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(image_codecs_doc(images, [27, 32, 37, 42], [4, 8, 16, 32])))
    return path


def _group(pgid: int) -> dict[int, str]:
    """Live (not zombie) processes of the process group: pid -> command line."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
            if int(fields[2]) != pgid or fields[0] in "ZX":
                continue
            out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return out


def _records(run_dir: Path) -> set[Path]:
    return set(run_dir.glob("results/*/*/*.json"))


def _running(proc: subprocess.Popen, run_dir: Path) -> list[str]:
    """Wait until both pool workers run and a first record is written; their command lines."""
    workers: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [c for c in _group(proc.pid).values() if "spawn_main" in c]
        if len(workers) == 2 and _records(run_dir):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the test could stop it"
    return workers


def test_sigkilled_run_leaves_no_worker_behind(tmp_path) -> None:
    cfg_path = _config(tmp_path)
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "vcmref",
        "ctc",
        str(cfg_path),
        "--run-dir",
        str(run_dir),
        "--workers",
        "2",
        "--no-report",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )  # its own group: pgid == proc.pid
    try:
        workers = _running(proc, run_dir)
        assert len(workers) == 2 and 0 < len(_records(run_dir)) < JOBS, "not in the middle"

        os.kill(proc.pid, signal.SIGKILL)  # the parent only, not its group
        proc.wait()
        deadline = time.monotonic() + 5
        while (left := _group(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"survived the parent: {left}"

        written = _records(run_dir)
        time.sleep(1)
        assert _records(run_dir) == written, "records written after the run was killed"
        assert len(written) < JOBS
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_ctrl_c_stops_the_queued_jobs(tmp_path) -> None:
    """Ctrl-C (SIGINT to the terminal's process group) ends the run within seconds, without
    running the jobs still queued first; a rerun resumes from the records written."""
    cfg_path = _config(tmp_path)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "vcmref", "ctc", str(cfg_path), "--run-dir", str(run_dir),
           "--workers", "2", "--no-report"]
    # SIGINT must reach the run with its default action: a disposition of "ignore" in this
    # process (left by another test or the test runner) would be inherited and hide Ctrl-C.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _running(proc, run_dir)
        ignored = int(Path(f"/proc/{proc.pid}/status").read_text().split("SigIgn:")[1].split()[0],
                      16) & (1 << (signal.SIGINT - 1))
        assert not ignored, "the run ignores SIGINT"
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        proc.wait(timeout=30)
        assert time.monotonic() - t0 < 10
        assert proc.returncode != 0
        written = len(_records(run_dir))
        assert written < JOBS // 2, (f"{written} of {JOBS} records: the queued jobs ran after "
                                     "Ctrl-C")
        deadline = time.monotonic() + 5
        while _group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
