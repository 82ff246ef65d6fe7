"""The restoration_model unit (type 9) and feature restoration as docs/spec.md writes them:
the conformance point does not depend on the unit (clause 5.13), extraction keeps it (clause
7), and the model file (clause 8.1) and network (clause 8.2) of vcmref.refsw.restoration are
those of the spec's text."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vcmref.bitstream.extract import extract
from vcmref.bitstream.inspect import inspect_stream
from vcmref.bitstream.units import UnitType, iter_units
from vcmref.cli import app
from vcmref.conformance import plain_decoder
from vcmref.conformance.cases import UNSHIPPED_MODEL_SHA256
from vcmref.conformance.suite import SUITE_DIR, load_manifest, md5, samples_bytes, values_bytes
from vcmref.refsw import restoration
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.restoration import RestorationError, TensorRestorer, model_bytes, parse_model

SUITE_STREAM = SUITE_DIR / "restoration_model.vcm"


@pytest.fixture(scope="module")
def stream() -> bytes:
    return SUITE_STREAM.read_bytes()


def _restoration_index(data: bytes) -> int:
    return next(u.index for u in iter_units(data) if u.unit_type == UnitType.RESTORATION_MODEL)


# -- the unit: conformance point, extraction, inspection ------------------------------------------

def test_suite_stream_decodes_as_without_the_unit(stream: bytes) -> None:
    """Clause 5.13: the stream decodes to the manifest's MD5s, which are those of the same
    stream without its restoration_model unit; both decoders name the same model."""
    entry = next(e for e in load_manifest() if e.name == "restoration_model")
    with_unit = Decoder().decode(stream)
    without = Decoder().decode(extract(stream, drop_units={_restoration_index(stream)}))
    got = [(md5(samples_bytes(r)), md5(values_bytes(r))) for r in (with_unit, without)]
    assert got == [(entry.samples_md5, entry.values_md5)] * 2
    assert with_unit.restoration is not None and without.restoration is None
    assert with_unit.restoration.restoration_type == 1
    assert with_unit.restoration.model_sha256 == UNSHIPPED_MODEL_SHA256
    frames, plain = plain_decoder.decode_stream(stream)
    assert plain == plain_decoder.PlainRestoration(1, UNSHIPPED_MODEL_SHA256)
    assert len(frames) == entry.frames == 2


def test_extraction_keeps_the_unit(stream: bytes) -> None:
    """Clause 7: max_layers keeps the restoration_model (layer 0, not a frame unit); it may be
    dropped, which leaves a conforming stream that names no restoration."""
    idx = _restoration_index(stream)
    for k in (1, 2):
        out = extract(stream, max_layers=k)
        assert _restoration_index(out) == idx
        assert Decoder().decode(out).restoration.model_sha256 == UNSHIPPED_MODEL_SHA256
    # kept whatever its layer_id, like the other units that are not frame units (a stream
    # with a restoration_model in layer 1 does not conform, before and after)
    chunks = [stream[u.byte_offset:u.byte_offset + 6 + len(u.payload)]
              for u in iter_units(stream)]
    chunks[idx] = chunks[idx][:1] + b"\x01" + chunks[idx][2:]
    relabelled = stream[:4] + b"".join(chunks)
    assert _restoration_index(extract(relabelled, max_layers=1)) == idx
    dropped = extract(stream, drop_units={idx})
    assert [u.unit_type for u in iter_units(dropped)].count(UnitType.RESTORATION_MODEL) == 0
    assert Decoder().decode(dropped).restoration is None


def test_inspect_lists_the_elements(stream: bytes) -> None:
    _, units = inspect_stream(stream)
    iu = units[_restoration_index(stream)]
    assert iu.type_name == "restoration_model" and iu.payload_size == 33
    assert [(e.name, e.descriptor, e.value) for e in iu.payload] == [
        ("restoration_type", "u(8)", 1), ("model_sha256", "b(256)", UNSHIPPED_MODEL_SHA256)]


def test_decode_command_and_a_missing_model(stream: bytes, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Clause 8.3: the model is not shipped, so restored output is refused with an error that
    names the hash; --no-restoration and the conformance outputs decode."""
    monkeypatch.setenv(restoration.MODELS_ENV, str(tmp_path))
    path = tmp_path / "s.vcm"
    path.write_bytes(stream)
    runner = CliRunner()
    res = runner.invoke(app, ["decode", str(path), "-o", str(tmp_path / "r.npz")])
    assert res.exit_code == 1 and UNSHIPPED_MODEL_SHA256.hex() in res.output
    assert not (tmp_path / "r.npz").exists()
    res = runner.invoke(app, ["decode", str(path), "-o", str(tmp_path / "d.npz"),
                              "--no-restoration"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["decode", str(path), "--raw-samples", str(tmp_path / "s.bin"),
                              "--raw-values", str(tmp_path / "v.bin")])
    assert res.exit_code == 0, res.output
    entry = next(e for e in load_manifest() if e.name == "restoration_model")
    assert md5((tmp_path / "s.bin").read_bytes()) == entry.samples_md5
    assert md5((tmp_path / "v.bin").read_bytes()) == entry.values_md5


# -- clause 8.1: the model file -------------------------------------------------------------------

def _restorer(rng: np.random.Generator, name: str, c: int, k: int,
              scale: float = 0.3) -> TensorRestorer:
    def w(*shape: int) -> np.ndarray:
        return (rng.normal(size=shape) * scale).astype(np.float32)
    return TensorRestorer(name, c, k, w(k, c, 3, 3), w(k), w(k, k, 3, 3), w(k), w(c, k, 1, 1),
                          w(c))


@pytest.fixture(scope="module")
def model_file() -> bytes:
    rng = np.random.default_rng(8)
    return model_bytes({"name": "spec-test"}, [_restorer(rng, "p3", 3, 4),
                                               _restorer(rng, "p4", 2, 5)])


def _spec_read(data: bytes) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """The model file read as clause 8.1 writes it, by hand."""
    assert data[:4] == b"VCMR" and data[4] == 1
    (size,) = struct.unpack("<I", data[5:9])
    header = json.loads(data[9:9 + size].decode("utf-8"))
    assert header["architecture"] == "residual-conv3-conv3-conv1"
    pos, arrays = 9 + size, {}
    for entry in header["tensors"]:
        c, k = entry["channels"], entry["hidden"]
        shapes = {"a_weight": (k, c, 3, 3), "a_bias": (k,), "b_weight": (k, k, 3, 3),
                  "b_bias": (k,), "c_weight": (c, k, 1, 1), "c_bias": (c,)}
        arrays[entry["name"]] = {}
        for key, shape in shapes.items():
            n = int(np.prod(shape))
            arrays[entry["name"]][key] = np.array(struct.unpack(f"<{n}f", data[pos:pos + 4 * n]),
                                                  np.float32).reshape(shape)
            pos += 4 * n
    assert pos == len(data)
    return header, arrays


def test_model_file_layout(model_file: bytes) -> None:
    header, arrays = _spec_read(model_file)
    model = parse_model(model_file)
    assert model.sha256 == hashlib.sha256(model_file).digest()
    size = 9 + struct.unpack("<I", model_file[5:9])[0] + 4 * sum(
        9 * k * c + k + 9 * k * k + k + k * c + c
        for c, k in ((e["channels"], e["hidden"]) for e in header["tensors"]))
    assert size == len(model_file)
    assert set(model.tensors) == set(arrays) == {"p3", "p4"}
    for name, r in model.tensors.items():
        for key in TensorRestorer.ARRAYS:
            assert np.array_equal(getattr(r, key), arrays[name][key]), (name, key)
    # other header members are free and informative, but they change the model's hash
    other = model_bytes({"name": "spec-test", "note": "x"}, list(model.tensors.values()))
    assert parse_model(other).sha256 != model.sha256


def _with_header(data: bytes, change) -> bytes:
    (size,) = struct.unpack("<I", data[5:9])
    header = json.loads(data[9:9 + size])
    change(header)
    text = json.dumps(header).encode()
    return data[:5] + struct.pack("<I", len(text)) + text + data[9 + size:]


def _first_weight_offset(data: bytes) -> int:
    return 9 + struct.unpack("<I", data[5:9])[0]


INVALID = {
    "magic": lambda d: b"VCMX" + d[4:],
    "version 2": lambda d: d[:4] + b"\x02" + d[5:],
    "shorter than 9 bytes": lambda d: d[:7],
    "header over 2^20": lambda d: d[:5] + struct.pack("<I", (1 << 20) + 1) + d[9:],
    "header past the end": lambda d: d[:5] + struct.pack("<I", len(d)) + d[9:],
    "header not UTF-8": lambda d: d[:9] + b"\xff" + d[10:],
    "header not JSON": lambda d: d[:9] + b"[" + d[10:],
    "no architecture": lambda d: _with_header(d, lambda h: h.pop("architecture")),
    "other architecture": lambda d: _with_header(
        d, lambda h: h.update(architecture="residual-conv3-conv1")),
    "no tensors": lambda d: _with_header(d, lambda h: h.pop("tensors")),
    "empty tensors": lambda d: _with_header(d, lambda h: h.update(tensors=[])),
    "duplicate name": lambda d: _with_header(
        d, lambda h: h["tensors"][1].update(name=h["tensors"][0]["name"])),
    "no hidden": lambda d: _with_header(d, lambda h: h["tensors"][0].pop("hidden")),
    "channels 0": lambda d: _with_header(d, lambda h: h["tensors"][0].update(channels=0)),
    "channels 65537": lambda d: _with_header(
        d, lambda h: h["tensors"][0].update(channels=65537)),
    "hidden 4097": lambda d: _with_header(d, lambda h: h["tensors"][0].update(hidden=4097)),
    "ends inside an array": lambda d: d[:-2],
    "a NaN weight": lambda d: (d[:_first_weight_offset(d)] + struct.pack("<f", float("nan"))
                               + d[_first_weight_offset(d) + 4:]),
    "an infinite weight": lambda d: (d[:-4] + struct.pack("<f", float("-inf"))),
    "a byte after the last array": lambda d: d + b"\x00",
}


@pytest.mark.parametrize("what", list(INVALID))
def test_invalid_model_files(model_file: bytes, what: str) -> None:
    """Each malformation that clause 8.1 lists makes the file invalid."""
    bad = INVALID[what](model_file)
    assert bad != model_file
    with pytest.raises(RestorationError):
        parse_model(bad)


# -- clause 8.2: the network ----------------------------------------------------------------------

def _spec_network(r: TensorRestorer, x: np.ndarray) -> np.ndarray:
    """Clause 8.2 written out, in float64 (exact up to float64 rounding)."""
    def conv3(z: np.ndarray, v: np.ndarray, bias: np.ndarray) -> np.ndarray:
        n, h, w = z.shape
        zp = np.zeros((n, h + 2, w + 2))
        zp[:, 1:-1, 1:-1] = z
        out = np.zeros((v.shape[0], h, w))
        for m in range(v.shape[0]):
            out[m] = bias[m]
            for c in range(n):
                for dy in range(3):
                    for dx in range(3):
                        out[m] += v[m, c, dy, dx] * zp[c, dy:dy + h, dx:dx + w]
        return out

    def silu(v: np.ndarray) -> np.ndarray:
        return v / (1.0 + np.exp(-v))

    f = {key: getattr(r, key).astype(np.float64) for key in TensorRestorer.ARRAYS}
    h1 = silu(conv3(x.astype(np.float64), f["a_weight"], f["a_bias"]))
    h2 = silu(conv3(h1, f["b_weight"], f["b_bias"]))
    cw = f["c_weight"][:, :, 0, 0]
    return x + f["c_bias"][:, None, None] + np.einsum("ck,kyx->cyx", cw, h2)


def _rel_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - want).max() / (1.0 + np.abs(want).max()))


@pytest.mark.parametrize(("c", "k", "h", "w"), [(3, 4, 5, 7), (1, 1, 1, 1), (8, 16, 6, 4)])
def test_network_is_the_spec_formula(c: int, k: int, h: int, w: int) -> None:
    """vcmref's float32 network agrees with clause 8.2's formulas (zero padding, no flipped
    kernel, SiLU, residual) within float32 rounding; PyTorch's conv2d too."""
    rng = np.random.default_rng(c * 100 + k)
    r = _restorer(rng, "t", c, k)
    x = (rng.normal(size=(c, h, w)) * 2.0).astype(np.float32)
    x[0, 0, 0] = -200.0  # SiLU of a large negative value (exp overflows in float32)
    want = _spec_network(r, x)
    got = r(x)
    assert got.dtype == np.float32 and got.shape == (c, h, w)
    assert _rel_error(got, want) < 1e-5
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    t = {key: torch.from_numpy(getattr(r, key)) for key in TensorRestorer.ARRAYS}
    with torch.no_grad():
        z = torch.from_numpy(x)[None]
        z1 = fn.silu(fn.conv2d(z, t["a_weight"], t["a_bias"], padding=1))
        z2 = fn.silu(fn.conv2d(z1, t["b_weight"], t["b_bias"], padding=1))
        y = (z + fn.conv2d(z2, t["c_weight"], t["c_bias"]))[0].numpy()
    assert _rel_error(y, want) < 1e-5


def test_restoration_checks_the_stream_tensors(model_file: bytes) -> None:
    """Clause 8.3: the model's tensors must be exactly the stream's (names and channels; the
    sizes are free), else no restored output."""
    model = parse_model(model_file)
    ok = {"p4": np.zeros((2, 7, 3), np.float32), "p3": np.ones((2, 3, 4, 5), np.float32)}
    out = model.restore(ok)
    assert {n: a.shape for n, a in out.items()} == {n: a.shape for n, a in ok.items()}
    for bad in ({"p3": ok["p3"]},  # a model tensor missing from the stream
                {**ok, "p5": ok["p4"]},  # a stream tensor the model does not restore
                {**ok, "p4": np.zeros((3, 7, 3), np.float32)}):  # channels differ
        with pytest.raises(RestorationError):
            model.restore(bad)
