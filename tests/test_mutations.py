"""Mutation testing: a damaged stream decodes, or fails with BitstreamError; nothing else.

Every mutation is drawn from a seeded generator, so a failure names a reproducible case id.
"""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from streams import silu_like

from vcmref.bitstream.extract import extract
from vcmref.bitstream.inspect import inspect_stream
from vcmref.conformance.fuzz import ContractViolationError, check_decoded, mutate
from vcmref.errors import BitstreamError
from vcmref.refsw.decoder import Decoder, DecodeResult
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.rans_decoder import compiled_kernel

CASE_SECONDS = 5.0






@pytest.fixture(scope="module")
def small_streams() -> list[bytes]:
    rng = np.random.default_rng(31337)
    x = {"t0": silu_like(rng, (2, 5, 6, 7)), "t1": silu_like(rng, (2, 3, 4, 4)),
         "t2": silu_like(rng, (2, 2, 1, 9))}
    return [
        encode(x, EncoderConfig(layers=2, rows_per_unit=3, quant="minmax-channel", bit_depth=8)),
        encode(x, EncoderConfig(layers=2, quant="qp", qp=40, bit_depth=6,
                                wavefront_block_size=2, direct_token_log2=3,
                                max_magnitude_class=3, lane_limit=3)),
        encode({"t0": x["t0"]}, EncoderConfig(quant="step", step=0.05, bit_depth=12,
                                              hashes=False, tile_columns=2)),
    ]


# --------------------------------------------------------------------------- mutations


def mutated_cases(streams: list[bytes], n: int, seed: int):
    """n seeded mutants of the streams, by the fuzz harness's structure-aware mutators."""
    rng = random.Random(seed)
    for case in range(n):
        s = rng.randrange(len(streams))
        other = streams[(s + 1) % len(streams)]
        data, names = mutate(rng, streams[s], other)
        yield f"seed={seed} case={case} stream={s} {'+'.join(names)}", data


# --------------------------------------------------------------------------- checks


def check_result(res: DecodeResult) -> None:
    """What a caller may rely on when decoding succeeds."""
    try:
        check_decoded(res)
    except ContractViolationError as e:
        pytest.fail(str(e))


def outcome(fn, data: bytes, label: str):
    """('ok', value) or ('error', BitstreamError); anything else fails the test."""
    t0 = time.perf_counter()
    try:
        value = fn(data)
        result = ("ok", value)
    except BitstreamError as e:
        assert str(e), f"{label}: empty BitstreamError message"
        result = ("error", e)
    except Exception as e:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{label}: {fn.__qualname__} raised {type(e).__name__}: {e}")
    elapsed = time.perf_counter() - t0
    assert elapsed < CASE_SECONDS, f"{label}: {fn.__qualname__} took {elapsed:.1f} s"
    return result


def run_case(label: str, data: bytes) -> str:
    kind, res = outcome(Decoder().decode, data, label)
    if kind == "ok":
        check_result(res)
    kind1, res1 = outcome(Decoder(max_layers=1).decode, data, label)
    if kind1 == "ok":
        check_result(res1)
    outcome(inspect_stream, data, label)
    outcome(lambda d: extract(d, max_layers=1), data, label)
    return kind


def test_unmutated_streams_decode(small_streams) -> None:
    for s in small_streams:
        assert run_case("original", s) == "ok"


def test_mutations_small_streams(small_streams) -> None:
    kinds = {"ok": 0, "error": 0}
    for label, data in mutated_cases(small_streams, 300, seed=20240601):
        kinds[run_case(label, data)] += 1
    # the mutations must mostly be caught, or the test is not exercising the checks
    assert kinds["error"] > 220


def test_mutations_real_features(real_features) -> None:
    a = encode(real_features, EncoderConfig(layers=2, rows_per_unit=16, quant="step",
                                            step=0.2, bit_depth=8))
    b = encode(real_features, EncoderConfig(quant="minmax-channel", bit_depth=10,
                                            wavefront_block_size=4, lane_limit=16))
    assert run_case("original", a) == "ok" and run_case("original", b) == "ok"
    kinds = {"ok": 0, "error": 0}
    for label, data in mutated_cases([a, b], 26, seed=77):
        kinds[run_case(label, data)] += 1
    assert kinds["error"] > 16


@pytest.mark.skipif(compiled_kernel() is None, reason="compiled rANS kernel not built")
def test_compiled_kernel_agrees_with_numpy_on_mutations(small_streams, monkeypatch) -> None:
    """The compiled kernel and the numpy decoder make the same decision on damaged data."""
    cases = [(lbl, d) for lbl, d in mutated_cases(small_streams, 260, seed=4242)
             if "ans_data" in lbl or "in_payload" in lbl or "data_unit" in lbl]
    assert len(cases) >= 40
    for label, data in [("original", s) for s in small_streams] + cases:
        monkeypatch.delenv("VCMREF_NUMPY_ONLY", raising=False)
        k_kind, k_res = outcome(Decoder().decode, data, label)
        monkeypatch.setenv("VCMREF_NUMPY_ONLY", "1")
        n_kind, n_res = outcome(Decoder().decode, data, label)
        assert k_kind == n_kind, f"{label}: kernel {k_kind} ({k_res}), numpy {n_kind} ({n_res})"
        if k_kind == "ok":
            for a, b in zip(k_res.frames, n_res.frames, strict=True):
                for name in a.samples:
                    assert np.array_equal(a.samples[name], b.samples[name]), label


@pytest.mark.slow
def test_mutations_many(small_streams) -> None:
    for seed in (1, 2):
        for label, data in mutated_cases(small_streams, 1000, seed=seed):
            run_case(label, data)


@pytest.mark.slow
def test_mutations_many_numpy_only(small_streams, monkeypatch) -> None:
    monkeypatch.setenv("VCMREF_NUMPY_ONLY", "1")
    for label, data in mutated_cases(small_streams, 1000, seed=99):
        run_case(label, data)
