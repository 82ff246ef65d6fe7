"""Forked worker processes that run the targets on batches of inputs and survive the code under
test crashing or hanging: per input, its outcomes, or 'crash' / 'timeout' with the worker's
Python stack (from faulthandler) and exit status."""

from __future__ import annotations

import contextlib
import faulthandler
import mmap
import multiprocessing
import os
import re
import signal
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_connections
from pathlib import Path

from vcmref.conformance.fuzz.targets import Outcome, Target, run_target


def _worker_main(conn, mm: mmap.mmap, targets: Sequence[Target], trace_path: str,
                 memory_limit_mb: int | None) -> None:  # pragma: no cover - child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    trace = open(trace_path, "w")  # noqa: SIM115 - kept open for faulthandler until exit
    faulthandler.enable(file=trace, all_threads=False)
    faulthandler.register(signal.SIGUSR1, file=trace, all_threads=False, chain=False)
    if memory_limit_mb:
        _limit_address_space(memory_limit_mb)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        start, inputs = msg
        for k, data in enumerate(inputs):
            struct.pack_into("<qq", mm, 0, start + k, -1)
            outcomes = []
            t0 = time.perf_counter()
            for ti, target in enumerate(targets):
                struct.pack_into("<q", mm, 8, ti)
                outcomes.append(run_target(target, data))
            conn.send((start + k, outcomes, time.perf_counter() - t0))


def _limit_address_space(extra_mb: int) -> None:  # pragma: no cover - child process
    try:
        import resource

        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = vm * 1024 + extra_mb * (1 << 20)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, StopIteration, ValueError):
        pass


class _Worker:
    """One forked worker; `run_batch`-style bookkeeping is done by the caller."""

    def __init__(self, ctx, targets: Sequence[Target], trace_path: str,
                 memory_limit_mb: int | None) -> None:
        self.ctx, self.targets = ctx, targets
        self.trace_path, self.memory_limit_mb = trace_path, memory_limit_mb
        self.proc = None
        self.conn = None
        self.last_exit: int | None = None
        self.start()

    def start(self) -> None:
        self.mm = mmap.mmap(-1, 16)
        struct.pack_into("<qq", self.mm, 0, -1, -1)
        with open(self.trace_path, "w"):
            pass
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker_main, daemon=True,
                                     args=(child, self.mm, self.targets, self.trace_path,
                                           self.memory_limit_mb))
        self.proc.start()
        child.close()
        self.conn = parent

    def current(self) -> tuple[int, int]:
        """(input index, target index) the worker was last working on."""
        return struct.unpack_from("<qq", self.mm, 0)

    def trace(self) -> str:
        try:
            return Path(self.trace_path).read_text(errors="replace")
        except OSError:
            return ""

    def kill(self, dump: bool = False) -> None:
        """Stop the worker: after a Python stack dump into its trace file if `dump` (a hang),
        else after letting a dying worker finish dying (to keep its exit status)."""
        proc = self.proc
        if proc is not None:
            if dump and proc.is_alive():
                with contextlib.suppress(OSError):
                    os.kill(proc.pid, signal.SIGUSR1)
                time.sleep(0.3)
            elif not dump:
                proc.join(2)
            if proc.is_alive():
                with contextlib.suppress(OSError):
                    proc.kill()
            proc.join(5)
            self.last_exit = proc.exitcode
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(None)
        if self.proc is not None:
            self.proc.join(2)
        self.kill()


@dataclass
class InputResult:
    """What happened to one input."""

    outcomes: list[Outcome] | None = None  # per target; None after a crash or a timeout
    seconds: float = 0.0
    dead: str = ""  # "crash" or "timeout"
    target: int = -1  # target running when it died
    detail: str = ""  # exit status
    trace: str = ""  # faulthandler dump


def top_frame(trace: str) -> str:
    """Innermost frame of a faulthandler dump: 'file.py:123 in fn'."""
    for line in trace.splitlines():
        m = re.match(r'\s*File "([^"]+)", line (\d+) in (\S+)', line)
        if m:
            return f"{Path(m.group(1)).name}:{m.group(2)} in {m.group(3)}"
    return "?"


def _exit_detail(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class WorkerPool:
    """Workers that run batches of inputs and survive crashes and hangs of the code under
    test: per input, one outcome (or 'crash' / 'timeout' with the worker's stack)."""

    def __init__(self, n: int, targets: Sequence[Target], time_limit: float, workdir: Path,
                 memory_limit_mb: int | None) -> None:
        self.ctx = multiprocessing.get_context("fork")
        self.time_limit = time_limit
        self.workers = [_Worker(self.ctx, targets, str(workdir / f"worker{i}.trace"),
                                memory_limit_mb) for i in range(n)]
        self.restarts = 0

    def close(self) -> None:
        for w in self.workers:
            w.stop()

    def run(self, batches: Sequence[Sequence[bytes]]) -> list[list[InputResult]]:
        """Run batch k on worker k (len(batches) <= workers); results in input order."""
        results: list[list[InputResult | None]] = [[None] * len(b) for b in batches]
        nxt = [0] * len(batches)
        deadline = [0.0] * len(batches)
        active = set()
        for k, b in enumerate(batches):
            if b:
                self._submit(k, b, 0)
                deadline[k] = time.monotonic() + self.time_limit
                active.add(k)
        while active:
            now = time.monotonic()
            timeout = max(0.0, min(deadline[k] for k in active) - now)
            conns = {self.workers[k].conn: k for k in active}
            ready = wait_connections(list(conns), timeout)
            for c in ready:
                k = conns[c]
                try:
                    idx, outcomes, secs = c.recv()
                except (EOFError, OSError):
                    self._dead(k, batches[k], nxt, results, "crash")
                else:
                    results[k][idx] = InputResult(outcomes, secs)
                    nxt[k] = idx + 1
                deadline[k] = time.monotonic() + self.time_limit
                if nxt[k] >= len(batches[k]):
                    active.discard(k)
            now = time.monotonic()
            for k in list(active):
                if deadline[k] > now:
                    continue
                if self.workers[k].conn.poll():  # an answer arrived just in time
                    continue
                self._dead(k, batches[k], nxt, results, "timeout")
                deadline[k] = time.monotonic() + self.time_limit
                if nxt[k] >= len(batches[k]):
                    active.discard(k)
        return [[r if r is not None else InputResult(dead="crash", detail="lost")
                 for r in rs] for rs in results]

    def _submit(self, k: int, batch: Sequence[bytes], start: int) -> None:
        w = self.workers[k]
        if w.proc is None or not w.proc.is_alive():  # died between batches
            self.restarts += 1
            w.restart()
        w.conn.send((start, list(batch[start:])))

    def _dead(self, k: int, batch: Sequence[bytes], nxt: list[int],
              results: list[list[InputResult | None]], how: str) -> None:
        """Worker k died or hung on input nxt[k]: record it, restart, go on after it."""
        w = self.workers[k]
        w.kill(dump=how == "timeout")
        idx, target = w.current()
        idx = nxt[k] if idx < nxt[k] else idx
        exit_code = None if how == "timeout" else w.last_exit
        results[k][idx] = InputResult(dead=how, target=target, trace=w.trace(),
                                  detail="time limit" if how == "timeout" else
                                  _exit_detail(exit_code))
        self.restarts += 1
        w.start()
        nxt[k] = idx + 1
        if nxt[k] < len(batch):
            self._submit(k, batch, nxt[k])

    def run_alone(self, data: bytes) -> InputResult:
        """Re-run one input in a fresh worker (to confirm a crash or a hang)."""
        w = self.workers[0]
        w.restart()
        return self.run([[data]])[0][0]
