"""Optional coverage-guided fuzzing with atheris (libFuzzer), which is not a dependency of
vcmref: the same targets, seeds and mutators."""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from pathlib import Path

from vcmref.conformance.fuzz.mutators import element_table, mutate
from vcmref.conformance.fuzz.report import slug
from vcmref.conformance.fuzz.seeds import seed_corpus
from vcmref.conformance.fuzz.targets import default_targets, run_target


def atheris_main(argv: Sequence[str], corpus_dir: str | Path,
                 suite_dir: str | Path | None = None) -> None:  # pragma: no cover - optional
    """Coverage-guided fuzzing with atheris (libFuzzer), if it is installed: the same targets
    and mutators (as libFuzzer's custom mutator, mixed with its own), the seed corpus written
    to `corpus_dir`. `argv` are libFuzzer options, e.g. ``-max_total_time=3600 -timeout=5
    -rss_limit_mb=4096 -artifact_prefix=out/``. For line coverage of vcmref, import vcmref
    under ``atheris.instrument_imports()`` before calling this (benchmarks/fuzz_decoder.py
    --atheris does). Failing inputs are libFuzzer's crash-*/timeout-* files: re-run them with
    ``python -m vcmref.conformance.fuzz reproduce FILE``."""
    import atheris

    corpus = Path(corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = seed_corpus(suite_dir)
    if not any(corpus.iterdir()):
        for name, data in seeds:
            (corpus / (slug(name) + ".vcm")).write_bytes(data)
    seed_data = [d for _, d in seeds]
    targets = default_targets()

    def test_one(data: bytes) -> None:
        for t in targets:
            o = run_target(t, data)
            if o[0] == "fail":
                raise RuntimeError(f"{t.name}: {o[1]}: {o[2]}\n{o[3]}")

    def custom_mutator(data: bytes, max_size: int, s: int) -> bytes:
        r = random.Random(s)
        element_table(data)  # in-process anyway
        if not data or r.random() < 0.25:
            return atheris.Mutate(data or r.choice(seed_data), max_size)
        out, _ = mutate(r, data, r.choice(seed_data), max_size)
        return out

    atheris.Setup([sys.argv[0], *argv, str(corpus)], test_one,
                  custom_mutator=custom_mutator)
    atheris.Fuzz()
