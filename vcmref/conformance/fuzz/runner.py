"""A fuzzing run: seeds, then mutants of the corpus, in rounds of batches for the workers; and
re-running a saved input in this process."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vcmref.conformance.fuzz.mutators import element_table, mutate
from vcmref.conformance.fuzz.report import FuzzStats, Recorder
from vcmref.conformance.fuzz.seeds import builtin_seeds, suite_seeds
from vcmref.conformance.fuzz.targets import KERNEL_TARGET, Target, default_targets, run_target
from vcmref.conformance.fuzz.workers import WorkerPool

DEFAULT_TIME_LIMIT = 5.0  # seconds per input, all targets together
DEFAULT_MEMORY_LIMIT_MB = 4096  # address space a worker may add to what it starts with
DEFAULT_BATCH_SIZE = 16
MAX_CORPUS = 4000  # inputs kept for mutation (seeds included)
# Rejections that happen while decoding a frame (after every unit parsed): inputs rejected
# there, or decoded, are preferred as parents of new mutants.
DEEP_ELEMENTS = {"ans_data", "decoded_md5", "quant_step", "tensor_max", "max"}


@dataclass
class _Entry:
    data: bytes
    name: str


def run(seconds: float, seed: int = 0, workers: int = 1, out_dir: str | Path | None = None,
        *, targets: Sequence[Target] | None = None, time_limit: float = DEFAULT_TIME_LIMIT,
        suite_dir: str | Path | None = None, use_suite: bool = True,
        seeds: Sequence[tuple[str, bytes]] | None = None, max_executions: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
        progress: Callable[[FuzzStats], None] | None = None,
        progress_every: float = 30.0) -> FuzzStats:
    """Fuzz for about `seconds` (or `max_executions` inputs), with `workers` worker processes.

    The inputs are a deterministic function of `seed` and the seed corpus: the seeds
    themselves first, then mutants. Rounds of one batch per worker; the next round is made
    after the previous one's outcomes are in, so the same seed gives the same inputs whatever
    the speed (a run just stops earlier or later). Failing inputs go to
    ``out_dir/failures/<signature>/<sha1>.vcm`` with a ``.json`` beside each (exception and
    traceback, or the worker's stack at a crash or hang), a summary to ``out_dir/summary.json``.
    `targets` (default: :func:`default_targets`) and `seeds` (default: :func:`seed_corpus`)
    can be replaced, e.g. to test the harness itself.
    """
    t_start = time.monotonic()
    targets = list(default_targets() if targets is None else targets)
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="vcmref-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    if seeds is None:
        builtin = [(f"builtin:{n}", d) for n, d in builtin_seeds()]
        suite = ([(f"suite:{n}", d) for n, d in suite_seeds(suite_dir)] if use_suite else [])
        seeds = builtin + suite
    else:
        builtin, suite = list(seeds), []
    if not seeds:
        raise ValueError("no seed inputs")
    stats = FuzzStats(seed=seed, workers=workers, out_dir=str(out),
                      targets=[t.name for t in targets], seeds_builtin=len(builtin),
                      seeds_suite=len(suite),
                      kernel=any(t.name == KERNEL_TARGET for t in targets))
    for t in targets:
        stats.outcomes[t.name] = {"ok": 0, "error": 0, "fail": 0}
    rng = random.Random(seed)
    seed_entries = [_Entry(d, n) for n, d in seeds]
    inspect_idx = next((i for i, t in enumerate(targets) if t.name == "inspect"), None)
    found_entries: list[_Entry] = []
    deep_entries: list[_Entry] = []  # found entries that decode, or fail only in a frame
    features: set[tuple[str, str]] = set()
    max_len = max(1 << 16, 2 * max(len(d) for _, d in seeds))
    recorder = Recorder(out, stats, targets, seed)
    pending_seeds = list(seed_entries)
    workdir = Path(tempfile.mkdtemp(prefix="vcmref-fuzz-work-"))
    pool = WorkerPool(max(1, workers), targets, time_limit, workdir, memory_limit_mb)
    last_progress = time.monotonic()

    def next_input() -> tuple[bytes, str]:
        if pending_seeds:
            e = pending_seeds.pop(0)
            return e.data, e.name
        r = rng.random()
        pool_ = (deep_entries if deep_entries and r < 0.35 else
                 found_entries if found_entries and r < 0.65 else seed_entries)
        parent = rng.choice(pool_)
        other = rng.choice(seed_entries if rng.random() < 0.7 else pool_)
        data, names = mutate(rng, parent.data, other.data, max_len)
        return data, f"{parent.name} <- {'+'.join(names)}"

    try:
        while True:
            elapsed = time.monotonic() - t_start
            if elapsed >= seconds:
                break
            if max_executions is not None and stats.executions >= max_executions:
                break
            n_round = max(1, workers) * batch_size
            if max_executions is not None:
                n_round = min(n_round, max_executions - stats.executions)
            made = [next_input() for _ in range(n_round)]
            batches = [[d for d, _ in made[k::max(1, workers)]] for k in range(max(1, workers))]
            prov = [[p for _, p in made[k::max(1, workers)]] for k in range(max(1, workers))]
            results = pool.run(batches)
            for k in range(len(batches)):
                for i, res in enumerate(results[k]):
                    data = batches[k][i]
                    stats.executions += 1
                    stats.slowest_input_s = max(stats.slowest_input_s, res.seconds)
                    found = recorder.findings(res)
                    if res.outcomes is not None:
                        # element tables (for rewrite_element) of seeds and corpus entries are
                        # made here only once the worker has run inspect on them unharmed
                        inspected = (inspect_idx is not None
                                     and res.outcomes[inspect_idx][0] == "ok")
                        if inspected and " <- " not in prov[k][i]:
                            element_table(data)
                        new = False
                        if res.outcomes[0][0] == "error":
                            elem = res.outcomes[0][1].split("|")[1] or "(none)"
                            stats.rejections[elem] = stats.rejections.get(elem, 0) + 1
                        for t, o in zip(targets, res.outcomes, strict=True):
                            stats.outcomes[t.name][o[0]] += 1
                            feat = (t.name, o[1] if o[0] == "error" else o[0])
                            if feat not in features:
                                features.add(feat)
                                new = True
                        if (new and not found and len(found_entries) + len(seed_entries)
                                < MAX_CORPUS):
                            entry = _Entry(data, f"found#{stats.executions}")
                            found_entries.append(entry)
                            first = res.outcomes[0]
                            if first[0] == "ok" or (first[0] == "error" and
                                                    first[1].split("|")[1] in DEEP_ELEMENTS):
                                deep_entries.append(entry)
                            if inspected:
                                element_table(data)
                    if found:
                        confirmed = None
                        if res.dead and any(f.signature not in stats.unique_failures
                                            for f in found):
                            again = pool.run_alone(data)
                            confirmed = again.dead == res.dead
                        recorder.record(data, res, found, stats.executions, prov[k][i],
                                        confirmed)
            stats.seconds = time.monotonic() - t_start
            if progress is not None and time.monotonic() - last_progress >= progress_every:
                last_progress = time.monotonic()
                stats.corpus_size = len(seed_entries) + len(found_entries)
                stats.features = len(features)
                progress(stats)
    except KeyboardInterrupt:
        pass
    finally:
        pool.close()
        stats.worker_restarts = pool.restarts
        shutil.rmtree(workdir, ignore_errors=True)
    stats.seconds = time.monotonic() - t_start
    stats.corpus_size = len(seed_entries) + len(found_entries)
    stats.features = len(features)
    (out / "summary.json").write_text(json.dumps(stats.to_json(), indent=1) + "\n")
    return stats


def reproduce(path: str | Path, targets: Sequence[Target] | None = None) -> bool:
    """Run every target on a saved input in this process and print what each does (a crash
    takes this process down, which is the reproduction). True if all behave."""
    data = Path(path).read_bytes()
    ok = True
    targets = default_targets() if targets is None else targets
    for t in targets:
        t0 = time.perf_counter()
        print(f"--- {t.name}", flush=True)
        o = run_target(t, data)
        dt = time.perf_counter() - t0
        if o[0] == "fail":
            ok = False
            print(f"FAIL after {dt:.2f} s: {o[1]}: {o[2]}\n{o[3]}", flush=True)
        else:
            print(f"{o[0]} ({dt:.2f} s): {o[1]}", flush=True)
    return ok
