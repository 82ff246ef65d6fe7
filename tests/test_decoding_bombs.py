"""Decoding bombs: what a stream can make a decoder allocate is bounded by its level, checked
before allocation (MaxUnitSamples, clause 6), and decoder and encoder memory scale with one
frame, not with the number of frames."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from vcmref.bitstream.extract import extract
from vcmref.bitstream.levels import LEVELS
from vcmref.bitstream.units import UnitType, iter_units
from vcmref.conformance.suite import SUITE_DIR, samples_bytes, values_bytes
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder import EncoderConfig, encode
from vcmref.refsw.tiles import CACHE_BUDGET_BYTES, tile_geometry, unit_tensor_index

BOMB = SUITE_DIR / "reject" / "unit_samples_bomb.vcm"


def _sparse(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    x = np.zeros(shape, np.float32)
    x[np.random.default_rng(seed).random(shape) < 0.01] = 1.0
    return x


def test_level_40_bomb_is_refused_before_allocation() -> None:
    """The issue's bomb: one all-zero 1x8192x8192 tensor in one data unit, a stream of about a
    hundred bytes. Without MaxUnitSamples the decoder built a 67-million-sample schedule
    (10 GB, 35 s); now the stream parameter set is refused."""
    data = BOMB.read_bytes()
    assert len(data) < 200
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(BitstreamError) as err:
            Decoder().decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5
    assert peak < 16 << 20
    assert err.value.element == "rows_per_unit[0]"
    assert "may carry 67108864 samples, above level 40's 2097152" in str(err.value)


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_every_data_unit_within_max_unit_samples(level: int) -> None:
    """rows_per_unit 0 (the default) cuts a tile larger than MaxUnitSamples into units of as
    many rows as fit; the stream decodes to the input."""
    limit = LEVELS[level].max_unit_samples
    width = 512
    height = min(2 * limit // width, LEVELS[level].max_dimension)
    x = _sparse((1, height, width))
    data = encode({"x": x}, EncoderConfig(quant="step", step=0.5, bit_depth=4, level=level))
    result = Decoder().decode(data)
    sps = result.sps
    assert sps.tile_layouts[0].rows_per_unit == limit // width
    geom = tile_geometry(sps, 0, 0)
    sizes = [unit_tensor_index(geom, k, sps.wavefront_block_size, sps.lane_limit)[0].n
             for k in range(geom.num_units)]
    assert max(sizes) == limit and sum(sizes) == height * width
    assert np.array_equal(result.frames[0].tensors["x"], x)


def test_explicit_rows_per_unit_over_the_limit_is_refused() -> None:
    with pytest.raises(EncoderInputError, match=r"rows_per_unit 600: data units of tensor 'x' "
                       r"would carry 307200 samples, above level 10's 262144; use at most 512"):
        encode({"x": _sparse((1, 1024, 512))}, EncoderConfig(rows_per_unit=600, level=10))


def test_schedule_cache_stays_within_its_budget() -> None:
    """Units of many distinct shapes cannot make the cache grow without bound."""
    unit_tensor_index.cache_clear()
    data = encode({f"t{i}": _sparse((3, 64 + i, 256), seed=i) for i in range(8)},
                  EncoderConfig(quant="step", step=0.5, bit_depth=4, rows_per_unit=7))
    Decoder().decode(data)
    assert 0 < unit_tensor_index.cache_bytes() <= CACHE_BUDGET_BYTES


_PEAK = """
import resource, sys
import numpy as np
from vcmref.cli import main
sys.argv = ["vcmref", *sys.argv[1:]]
try:
    main()
except SystemExit as e:
    if e.code:
        raise
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
"""

_ENCODE_PEAK = """
import resource, sys
import numpy as np
from vcmref.refsw.encoder import EncoderConfig, encode
frames = int(sys.argv[1])
x = np.zeros((1, 1024, 1024), np.float32)
x[np.random.default_rng(1).random(x.shape) < 0.01] = 1.0
stream = encode({"x": np.broadcast_to(x, (frames, 1, 1024, 1024))},
                EncoderConfig(quant="step", step=0.5, bit_depth=4))
open(sys.argv[2], "wb").write(stream)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
"""


def _peak(script: str, *args: str) -> int:
    run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return int(run.stderr.strip().splitlines()[-1])


def test_memory_scales_with_one_frame_not_the_sequence(tmp_path: Path) -> None:
    """Encoding and decoding (CLI, every output) 24 frames of 2^20 samples take about the
    memory of 2 frames: 24 frames held at once would be 24 x 8 MiB more."""
    peaks = {}
    for frames in (2, 24):
        stream = tmp_path / f"f{frames}.vcm"
        enc = _peak(_ENCODE_PEAK, str(frames), str(stream))
        dec = _peak(_PEAK, "decode", str(stream), "-o", str(tmp_path / f"d{frames}.npz"),
                    "--samples", str(tmp_path / f"s{frames}.npz"),
                    "--raw-samples", str(tmp_path / f"r{frames}.bin"))
        peaks[frames] = (enc, dec)
    with np.load(tmp_path / "d24.npz") as z:
        assert z["x"].shape == (24, 1, 1024, 1024)
    assert (tmp_path / "r24.bin").stat().st_size == 24 * 4 * 2**20
    grow_enc = peaks[24][0] - peaks[2][0]
    grow_dec = peaks[24][1] - peaks[2][1]
    assert grow_enc < 32 << 20, f"encoder peak grew by {grow_enc / 2**20:.0f} MiB"
    assert grow_dec < 32 << 20, f"decoder peak grew by {grow_dec / 2**20:.0f} MiB"


def test_frames_decode_one_at_a_time() -> None:
    """Decoder.frames yields frames as it goes, and gives what decode() gives."""
    data = encode({"a": _sparse((5, 2, 16, 16)), "b": _sparse((5, 3, 8, 8), seed=2)},
                  EncoderConfig(quant="step", step=0.5, bit_depth=6, layers=2))
    whole = Decoder().decode(data)
    stream = Decoder().frames(data)
    assert [t.name for t in stream.sps.tensors] == ["a", "b"]
    for got, want in zip(stream, whole.frames, strict=True):
        for name in ("a", "b"):
            assert np.array_equal(got.samples[name], want.samples[name])
            assert np.array_equal(got.tensors[name], want.tensors[name])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vcmref", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def two_layer_stream(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bombs") / "two.vcm"
    path.write_bytes(encode({"a": _sparse((3, 4, 8, 8))},
                            EncoderConfig(quant="step", step=0.5, bit_depth=6, layers=2)))
    return path


def test_cli_outputs_equal_the_decode_result(two_layer_stream: Path, tmp_path: Path) -> None:
    data = two_layer_stream.read_bytes()
    result = Decoder().decode(data)
    run = _cli("decode", str(two_layer_stream), "-o", str(tmp_path / "d.npz"),
               "--samples", str(tmp_path / "s.npz"), "--frames", str(tmp_path / "f.npz"),
               "--raw-samples", str(tmp_path / "r.bin"), "--raw-values", str(tmp_path / "v.bin"))
    assert run.returncode == 0, run.stderr
    with np.load(tmp_path / "d.npz") as d, np.load(tmp_path / "s.npz") as s, \
            np.load(tmp_path / "f.npz") as f:
        for name, x in result.stacked_tensors().items():
            assert d[name].dtype == np.float32 and np.array_equal(d[name], x)
        for name, x in result.stacked_samples().items():
            assert s[name].dtype == np.int32 and np.array_equal(s[name], x)
        frames = result.tile_frames()
        assert sorted(f.files) == sorted(frames)
        for name, x in frames.items():
            assert np.array_equal(f[name], x)
    assert (tmp_path / "r.bin").read_bytes() == samples_bytes(result)
    assert (tmp_path / "v.bin").read_bytes() == values_bytes(result)


def test_cli_decodes_a_stream_without_frames(tmp_path: Path) -> None:
    """It used to fail with an internal error (stacking no frames)."""
    run = _cli("decode", str(SUITE_DIR / "zero_frames.vcm"), "-o", str(tmp_path / "z.npz"))
    assert run.returncode == 0, run.stderr
    sps = Decoder().frames((SUITE_DIR / "zero_frames.vcm").read_bytes()).sps
    with np.load(tmp_path / "z.npz") as z:
        for ti in sps.tensors:
            assert z[ti.name].shape == (0, ti.channels, ti.height, ti.width)


def test_a_stream_that_fails_after_its_frames_leaves_no_output(two_layer_stream: Path,
                                                               tmp_path: Path) -> None:
    data = two_layer_stream.read_bytes()
    last = list(iter_units(data))[-1]
    assert last.unit_type == UnitType.END_OF_STREAM
    cut = tmp_path / "no_eos.vcm"
    cut.write_bytes(data[: last.byte_offset])
    run = _cli("decode", str(cut), "-o", str(tmp_path / "d.npz"), "--raw-samples",
               str(tmp_path / "r.bin"))
    assert run.returncode == 1
    assert "without an end_of_stream unit" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no_eos.vcm"]


@pytest.mark.parametrize("bad", ["x.npy/s.npz", "folder"])
def test_a_bad_second_output_is_refused_before_anything_is_written(
        two_layer_stream: Path, tmp_path: Path, bad: str) -> None:
    (tmp_path / "x.npy").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    run = _cli("decode", str(two_layer_stream), "-o", str(tmp_path / "d.npz"), "--samples",
               str(tmp_path / bad))
    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d.npz").exists()


def test_the_same_file_as_two_outputs_is_refused(two_layer_stream: Path,
                                                 tmp_path: Path) -> None:
    run = _cli("decode", str(two_layer_stream), "-o", str(tmp_path / "d.npz"), "--samples",
               str(tmp_path / "d.npz"))
    assert run.returncode == 1 and "named as two outputs" in run.stderr
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize("command", ["decode", "extract"])
@pytest.mark.parametrize("layers", ["0", "-1", "-3"])
def test_layers_below_one_are_refused(two_layer_stream: Path, tmp_path: Path, command: str,
                                      layers: str) -> None:
    out = tmp_path / "out"
    run = _cli(command, str(two_layer_stream), "-o", str(out), "--layers", layers)
    assert run.returncode == 1
    assert run.stderr.strip() == (f"error: --layers {layers}: expected at least 1 (layer 0 is "
                                  f"always {'decoded' if command == 'decode' else 'kept'})")
    assert not out.exists()


@pytest.mark.parametrize("k", [0, -1, True])
def test_api_refuses_max_layers_below_one(two_layer_stream: Path, k) -> None:
    with pytest.raises(ValueError, match="expected at least 1"):
        Decoder(max_layers=k)
    with pytest.raises(ValueError, match="expected at least 1"):
        extract(two_layer_stream.read_bytes(), max_layers=k)
