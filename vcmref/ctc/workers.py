"""Local pool workers that die with the run: a worker whose parent is gone (killed, even with
SIGKILL) stops its tool subprocesses and exits, instead of finishing its queued jobs and then
waiting forever on a queue nobody feeds (holding the terminal and the resource tracker)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import wait
from pathlib import Path


def init_worker() -> None:
    """Pool initializer: watch the parent's sentinel pipe and exit when the parent dies.

    Why a sentinel pipe rather than prctl(PR_SET_PDEATHSIG): the pipe's write end lives in the
    parent, so the kernel closes it however the parent dies; it works on every platform (a
    process handle on Windows), cannot be missed if the parent died before this ran (EOF
    stays), does not fire when the spawning thread merely ends (PDEATHSIG does), and lets the
    worker kill its own encoder subprocesses before it goes."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:  # not a spawned child: nothing to watch
        return
    threading.Thread(
        target=_exit_with_parent, args=(parent.sentinel,), name="vcmref-parent-watch", daemon=True
    ).start()


def _exit_with_parent(sentinel) -> None:
    wait([sentinel])  # returns once the parent is gone (EOF on its pipe)
    kill_children()
    os._exit(1)


def kill_children() -> None:
    """SIGKILL this process's descendants (ffmpeg, VTM, ...): on Linux from /proc, elsewhere
    with psutil when it is installed, else none (a tool then ends on its broken pipes)."""
    pids = _descendants(os.getpid())
    if pids is None:
        try:
            import psutil

            pids = [p.pid for p in psutil.Process().children(recursive=True)]
        except Exception:  # psutil missing or refusing: the tools end on their own
            pids = []
    for pid in pids:
        with contextlib.suppress(OSError):  # gone already
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def _descendants(pid: int) -> list[int] | None:
    """Descendants of pid from /proc/PID/task/*/children, or None where /proc lacks them."""
    if not Path(f"/proc/{pid}/task/{pid}/children").exists():  # not Linux, or no such file
        return None
    out: list[int] = []
    todo = [pid]
    while todo:
        for path in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                kids = [int(k) for k in path.read_text().split()]
            except (OSError, ValueError):
                continue
            out += kids
            todo += kids
    return out
