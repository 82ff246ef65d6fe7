"""The fuzz harness: a short deterministic run finds nothing, and the harness does report an
unexpected exception, a hang and a crash of the code under test (saving the inputs)."""

from __future__ import annotations

import ctypes
import json
import random
from pathlib import Path

import pytest

from vcmref.bitstream.units import UnitType
from vcmref.conformance import fuzz
from vcmref.errors import BitstreamError
from vcmref.refsw.decoder import Decoder

SMOKE_EXECUTIONS = 1400


@pytest.fixture(scope="module")
def seeds() -> list[tuple[str, bytes]]:
    return fuzz.builtin_seeds()


def test_builtin_seeds_are_valid(seeds) -> None:
    assert len(seeds) >= 12
    # new unit types reach the fuzzer through the seeds: restoration_model, temporal_prediction
    types = {u.unit_type for _, data in seeds for u in fuzz.split_units(data)[1]}
    assert {UnitType.RESTORATION_MODEL, UnitType.TEMPORAL_PREDICTION} <= types
    for name, data in seeds:
        for target, outcome in fuzz.check_input(data):
            assert outcome[0] == "ok", f"{name}: {target}: {outcome}"


def test_mutators_never_raise(seeds) -> None:
    rng = random.Random(7)
    for _name, data in seeds:
        fuzz.element_table(data)
    junk = [b"", b"\x00", b"VCM1", bytes(range(40))]
    for _ in range(150):
        a = rng.choice([d for _, d in seeds] + junk) or b"\x00"
        b = rng.choice([d for _, d in seeds] + junk)
        for mutator, _w in fuzz.MUTATORS:
            assert isinstance(mutator(rng, a, b), bytes), mutator.__name__


def test_crc_fixing_mutations_reach_the_entropy_decoder(seeds) -> None:
    """mutate_ans_data keeps the container and the CRC right: only ans_data can be wrong."""
    rng = random.Random(3)
    with_data = [d for _, d in seeds
                 if any(u.unit_type == UnitType.DATA_UNIT for u in fuzz.split_units(d)[1])]
    elements = set()
    for _ in range(60):
        data = fuzz.mutate_ans_data(rng, rng.choice(with_data), b"")
        _, units, tail = fuzz.split_units(data)
        assert not tail
        for u in units:
            if u.unit_type == UnitType.DATA_UNIT:
                assert fuzz.fix_crc(u.payload) == u.payload
        try:
            Decoder().decode(data)
        except BitstreamError as e:
            elements.add(e.element)
    assert elements <= {"ans_data", "decoded_md5"} and "ans_data" in elements


def test_smoke_run_finds_nothing(tmp_path: Path) -> None:
    """About 20-30 s: the seeds, then mutants, through every target; deterministic (built-in
    seeds only, fixed seed and number of executions)."""
    stats = fuzz.run(seconds=120, seed=1, workers=1, out_dir=tmp_path, use_suite=False,
                     max_executions=SMOKE_EXECUTIONS)
    print(stats.summary())
    assert stats.failures == 0, stats.summary()
    assert stats.executions == SMOKE_EXECUTIONS
    assert not stats.saved and not list((tmp_path).glob("failures/**/*.vcm"))
    # the mutants get past the container and CRC checks into the entropy decoder, and some
    # of them still decode
    assert stats.rejections.get("ans_data", 0) > 10, stats.rejections
    assert all(c["ok"] > len(fuzz.builtin_seeds()) for c in stats.outcomes.values())
    assert json.loads((tmp_path / "summary.json").read_text())["executions"] == stats.executions


# --------------------------------------------------------------------------- the harness works


def _index_error_on_some(data: bytes) -> str:
    """A deliberately broken decoder: IndexError on inputs of some lengths."""
    if len(data) % 11 == 0:
        return [][len(data)]
    return fuzz.decode_kernel(data)


def test_detects_unexpected_exception(tmp_path: Path, seeds) -> None:
    target = fuzz.Target("broken-decode", _index_error_on_some)
    stats = fuzz.run(seconds=60, seed=3, out_dir=tmp_path, targets=[target], seeds=seeds,
                     max_executions=120, time_limit=1.0)
    assert stats.failures > 0
    assert stats.executions == 120  # went on after each failure
    [sig] = stats.unique_failures
    assert sig.startswith("exception in broken-decode: IndexError at test_fuzz_smoke.py:")
    saved = [Path(p) for p in stats.saved]
    assert saved and all(p.exists() and len(p.read_bytes()) % 11 == 0 for p in saved)
    meta = json.loads(saved[0].with_suffix(".json").read_text())
    assert meta["kind"] == "exception" and "IndexError" in meta["detail"]
    assert "_index_error_on_some" in meta["detail"]  # the traceback
    [(name, outcome)] = fuzz.check_input(saved[0].read_bytes(), [target])
    assert outcome[0] == "fail" and outcome[1] == "IndexError"


def _hang_or_crash(data: bytes) -> str:
    if data.startswith(b"HANG"):
        while True:
            pass
    if data.startswith(b"CRASH"):
        ctypes.string_at(0)  # SIGSEGV, as a memory-safety bug in a native kernel would
    if data.startswith(b"VCM1"):
        return fuzz.decode_numpy(data)
    raise BitstreamError("not a stream")


def test_detects_hang_and_crash(tmp_path: Path, seeds) -> None:
    target = fuzz.Target("hang-or-crash", _hang_or_crash)
    inputs = [("hang", b"HANG" + bytes(20)), ("ok", seeds[3][1]), ("crash", b"CRASH!"),
              ("ok2", seeds[9][1])]
    stats = fuzz.run(seconds=60, seed=0, out_dir=tmp_path, targets=[target], seeds=inputs,
                     max_executions=len(inputs), time_limit=1.0)
    assert stats.executions == len(inputs)
    assert stats.failures == 2
    kinds = {json.loads(Path(p).with_suffix(".json").read_text())["kind"]: Path(p)
             for p in stats.saved}
    assert set(kinds) == {"timeout", "crash"}
    assert kinds["timeout"].read_bytes().startswith(b"HANG")
    assert kinds["crash"].read_bytes() == b"CRASH!"
    hang = json.loads(kinds["timeout"].with_suffix(".json").read_text())
    crash = json.loads(kinds["crash"].with_suffix(".json").read_text())
    assert hang["reproduced_alone"] and crash["reproduced_alone"]
    assert "_hang_or_crash" in hang["detail"]  # the worker's stack, from faulthandler
    assert "SIGSEGV" in crash["signature"] and "_hang_or_crash" in crash["detail"]
    # the inputs after the hang and the crash were run by fresh workers
    assert stats.outcomes["hang-or-crash"]["ok"] == 2


def test_same_seed_same_inputs(tmp_path: Path, seeds) -> None:
    """The input sequence depends only on the seed (and the seed corpus), not on timing."""
    target = [fuzz.Target("inspect", fuzz.inspect_target)]

    def once(seed: int, folder: str) -> tuple:
        st = fuzz.run(seconds=60, seed=seed, out_dir=tmp_path / folder, targets=target,
                      seeds=seeds, max_executions=150)
        return st.executions, st.outcomes, st.rejections, st.corpus_size, st.features

    a = once(5, "a")
    assert a == once(5, "b")
    assert a != once(6, "c")
