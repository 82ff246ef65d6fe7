"""Fuzzing harness for the decoder: seeded, structure-aware mutation of vcmref streams.

What is tested: the decoder (``Decoder().decode``, on the compiled rANS kernel and on the
numpy-only path, chosen per call through ``VCMREF_NUMPY_ONLY``), ``Decoder(max_layers=1)``,
``inspect_stream`` and ``extract(data, max_layers=1)``. On any input, each may succeed or raise
:class:`~vcmref.errors.BitstreamError`; anything else is a *finding*:

* ``exception``: any other exception (``MemoryError``, ``IndexError``, ``AssertionError``...),
  including a broken promise of a successful decode (shapes, dtypes, sample range, finite
  tensors) or a ``BitstreamError`` without a message;
* ``timeout``: one input takes longer than the time limit (all targets together);
* ``crash``: the process dies (a memory-safety bug in the native kernel, an abort...);
* ``mismatch``: the compiled kernel and the numpy path disagree (one decodes, the other
  rejects, or they decode different samples).

How: a parent process generates inputs with a seeded ``random.Random`` (same seed, same input
sequence) and hands them in batches to forked worker processes, which run every target on
every input and report each input's outcome over a pipe. A worker that dies or stops
answering (hang) is replaced; the input it was working on is known exactly, is re-run alone in
a fresh worker to confirm it, and is saved with its details under ``OUT/failures/``. The
worker's Python stack at the crash or hang is captured with :mod:`faulthandler`.

Inputs come from a seed corpus: small, varied valid streams built here with the reference
encoder (always), plus the conformance suite (``vcmref/conformance/streams/**/*.vcm``).
Mutators know the container (units, payload sizes, data-unit CRC-32s, syntax elements as
``inspect_stream`` lists them), so most mutations get past the container checks and the CRC
and reach the syntax parsers, the tile models and the entropy decoder. Inputs whose outcome
shows something new (a first successful decode, or a rejection for a new reason at a new
syntax element) join the corpus: a cheap stand-in for coverage feedback.

Entry points: :func:`run` (used by ``benchmarks/fuzz_decoder.py`` and the smoke test),
:func:`check_input` and :func:`reproduce` (re-run a saved input in this process), and
``python -m vcmref.conformance.fuzz reproduce FILE``. :func:`atheris_main` is an optional
coverage-guided mode on top of atheris (not a dependency of vcmref).

Modules, one job each: ``targets`` (the functions under test, outcomes), ``seeds`` (the seed
corpus), ``container`` (streams as units of bytes), ``mutators``, ``workers`` (the forked
worker pool), ``report`` (findings, statistics, saved inputs), ``runner`` (:func:`run`,
:func:`reproduce`), ``atheris_mode`` and ``__main__`` (the command line).
"""

from vcmref.conformance.fuzz.atheris_mode import atheris_main
from vcmref.conformance.fuzz.container import (
    RawUnit,
    build_data_unit,
    fix_crc,
    join_units,
    parse_data_unit,
    split_units,
)
from vcmref.conformance.fuzz.mutators import (
    MUTATORS,
    Mutator,
    element_table,
    mutate,
    mutate_ans_data,
    mutate_data_unit_fields,
    mutate_in_payload,
    rewrite_element,
)
from vcmref.conformance.fuzz.report import Finding, FuzzStats
from vcmref.conformance.fuzz.runner import reproduce, run
from vcmref.conformance.fuzz.seeds import builtin_seeds, seed_corpus, suite_seeds
from vcmref.conformance.fuzz.targets import (
    ContractViolationError,
    Outcome,
    Target,
    check_decoded,
    check_input,
    decode_kernel,
    decode_max_layers_1,
    decode_numpy,
    default_targets,
    extract_target,
    inspect_target,
    kernel_available,
    numpy_only,
    run_target,
)

__all__ = [
    "MUTATORS", "ContractViolationError", "Finding", "FuzzStats", "Mutator", "Outcome",
    "RawUnit", "Target", "atheris_main", "build_data_unit", "builtin_seeds", "check_decoded",
    "check_input", "decode_kernel", "decode_max_layers_1", "decode_numpy", "default_targets",
    "element_table", "extract_target", "fix_crc", "inspect_target", "join_units",
    "kernel_available", "mutate", "mutate_ans_data", "mutate_data_unit_fields",
    "mutate_in_payload", "numpy_only", "parse_data_unit", "reproduce", "rewrite_element", "run",
    "run_target", "seed_corpus", "split_units", "suite_seeds",
]
