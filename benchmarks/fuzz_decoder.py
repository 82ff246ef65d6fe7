"""Fuzz the vcmref decoder for a fixed time and report what was found.

Run from the repository root (low priority on a shared machine):

    nice -n 10 .venv/bin/python benchmarks/fuzz_decoder.py --seconds 600 --seed 1 --out /tmp/fuzz1

Targets (vcmref/conformance/fuzz/targets.py): ``Decoder().decode`` on the compiled rANS kernel
and on the numpy path (``VCMREF_NUMPY_ONLY=1``), ``Decoder(max_layers=1).decode``,
``inspect_stream`` and ``extract(data, max_layers=1)``. Anything but success or
``BitstreamError`` is a failure, as is an input that takes longer than ``--time-limit``
seconds (default 5), a crashed worker process, or the two decoding paths disagreeing. The seed
corpus is a built-in set of small valid streams plus the package's conformance suite,
``vcmref/conformance/streams/**/*.vcm`` (``--no-suite`` to leave it out, ``--suite DIR`` for
another folder).

Output: executions, executions/s, failures (failing inputs, unique signatures), elapsed time;
``OUT/summary.json``; each failing input as ``OUT/failures/<signature>/<sha1>.vcm`` with a
``.json`` beside it (exception and traceback, or the worker's Python stack at a crash or hang,
the mutations that made it, whether it fails again when run alone). Re-run one with

    .venv/bin/python -m vcmref.conformance.fuzz reproduce OUT/failures/<signature>/<sha1>.vcm

Exit status: 0 nothing found, 1 failures found.

Running longer
--------------
* Hours: ``--seconds 14400`` (4 h). The run can be stopped with Ctrl-C at any time; it still
  prints the report and writes summary.json. ``--progress 300`` prints a line every 5 min.
* More cores: ``--workers N`` runs N worker processes from one input stream (one core each);
  or run several seeds side by side, each its own process and output folder, e.g.

      for s in 1 2 3 4; do
          nice -n 10 .venv/bin/python benchmarks/fuzz_decoder.py --seconds 28800 --seed $s \\
              --out fuzz-out/seed$s > fuzz-out/seed$s.log 2>&1 &
      done; wait

  Different seeds give different input sequences; the same seed gives the same inputs again
  (with the same seed corpus), however fast the machine (a run just gets further).
* Coverage-guided (optional): with atheris installed (``pip install atheris``; not a vcmref
  dependency), ``--atheris`` runs libFuzzer over line coverage of vcmref with the same targets,
  seeds and structure-aware mutators (``--out`` is then the corpus and artifact folder;
  ``-fork=N`` style libFuzzer options can follow ``--``). Crashes are libFuzzer's
  ``crash-*``/``timeout-*`` files.
"""

from __future__ import annotations

import os

# Before numpy loads: no BLAS thread pools (vcmref uses elementwise numpy only).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _import_fuzz(instrument: bool):
    if instrument:
        import atheris

        with atheris.instrument_imports(include=["vcmref"]):
            from vcmref.conformance import fuzz
        return fuzz
    from vcmref.conformance import fuzz
    return fuzz


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=600.0, help="how long to fuzz (600)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the input sequence")
    p.add_argument("--out", default="fuzz-out", help="folder for failing inputs and summary")
    p.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    p.add_argument("--time-limit", type=float, default=5.0,
                   help="seconds one input may take, all targets together (5)")
    p.add_argument("--memory-limit-mb", type=int, default=4096,
                   help="address space a worker may add (MemoryError beyond it) (4096)")
    p.add_argument("--suite", default=None,
                   help="folder of suite streams (default: the package's suite)")
    p.add_argument("--no-suite", action="store_true", help="built-in seeds only")
    p.add_argument("--progress", type=float, default=60.0,
                   help="seconds between progress lines (60; 0: none)")
    p.add_argument("--atheris", action="store_true",
                   help="coverage-guided mode with atheris/libFuzzer (optional dependency)")
    a = p.parse_args(argv)

    if a.atheris:
        try:
            fuzz = _import_fuzz(instrument=True)
        except ImportError:
            print("--atheris needs atheris: pip install atheris", file=sys.stderr)
            return 2
        out = Path(a.out)
        (out / "artifacts").mkdir(parents=True, exist_ok=True)
        opts = [f"-max_total_time={int(a.seconds)}", f"-timeout={max(1, int(a.time_limit))}",
                f"-rss_limit_mb={a.memory_limit_mb + 1024}", f"-seed={a.seed}",
                f"-artifact_prefix={out / 'artifacts'}/", "-print_final_stats=1", *extra]
        fuzz.atheris_main(opts, out / "corpus", None if a.no_suite else a.suite)
        return 0

    fuzz = _import_fuzz(instrument=False)
    print(f"vcmref decoder fuzzing: {a.seconds:.0f} s, seed {a.seed}, {a.workers} worker(s), "
          f"time limit {a.time_limit} s per input, output {a.out}")
    print(f"python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; compiled rANS kernel: "
          f"{'yes' if fuzz.kernel_available() else 'no (numpy path only)'}", flush=True)

    t0 = time.monotonic()

    def progress(st) -> None:
        print(f"  [{time.monotonic() - t0:7.0f} s] {st.executions} executions "
              f"({st.execs_per_second:.1f}/s), corpus {st.corpus_size}, "
              f"failures {st.failures} ({st.unique} unique)", flush=True)

    stats = fuzz.run(a.seconds, seed=a.seed, workers=a.workers, out_dir=a.out,
                     time_limit=a.time_limit, suite_dir=a.suite, use_suite=not a.no_suite,
                     memory_limit_mb=a.memory_limit_mb,
                     progress=progress if a.progress > 0 else None,
                     progress_every=a.progress or 60.0)
    print()
    print(stats.summary())
    print()
    print(f"executions:    {stats.executions}")
    print(f"executions/s:  {stats.execs_per_second:.1f}")
    print(f"failures:      {stats.failures} failing inputs, {stats.unique} unique")
    print(f"time:          {stats.seconds:.1f} s")
    if stats.saved:
        print(f"saved inputs:  {len(stats.saved)} under {Path(a.out) / 'failures'}")
    print(f"summary:       {Path(a.out) / 'summary.json'}")
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
