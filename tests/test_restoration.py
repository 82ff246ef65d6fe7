"""Feature restoration (spec clause 8): the model file, the network, and a stream that names it."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pytest
from typer.testing import CliRunner

from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor
from vcmref.bitstream.units import UnitType, iter_units
from vcmref.cli import app
from vcmref.errors import EncoderInputError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.restoration import (
    MODELS_ENV,
    RestorationError,
    TensorRestorer,
    find_model,
    model_bytes,
    parse_model,
    resolve_model,
    shipped_models,
)

SHAPES = {"p": (4, 6, 5), "q": (3, 4, 4)}


def random_restorer(name: str, channels: int, hidden: int, seed: int,
                    scale: float = 0.2) -> TensorRestorer:
    rng = np.random.default_rng(seed)
    r = TensorRestorer(name, channels, hidden, *([None] * 6))  # type: ignore[arg-type]
    for key, shape in r.shapes().items():
        setattr(r, key, (scale * rng.normal(size=shape)).astype(np.float32))
    return r


def small_model_bytes(seed: int = 0) -> bytes:
    restorers = [random_restorer(n, s[0], 3, seed + k) for k, (n, s) in enumerate(SHAPES.items())]
    return model_bytes({"name": "small"}, restorers)


@pytest.fixture
def model_folder(tmp_path, monkeypatch):
    """A lookup folder holding one small model, as $VCMREF_RESTORATION_MODELS names it."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "small.vcmr").write_bytes(small_model_bytes())
    monkeypatch.setenv(MODELS_ENV, str(folder))
    return folder


def test_model_file_round_trip_and_identity() -> None:
    data = small_model_bytes()
    model = parse_model(data)
    assert model.sha256 == hashlib.sha256(data).digest()
    assert list(model.tensors) == ["p", "q"]
    assert model.header["architecture"] == "residual-conv3-conv3-conv1"
    again = model_bytes(model.header, list(model.tensors.values()))
    assert again == data


def _reference_restore(r: TensorRestorer, x: np.ndarray) -> np.ndarray:
    """The clause 8.2 formulas written out sample by sample (float64)."""
    def conv(v, w, b):
        k, c, kh, kw = w.shape
        pad = kh // 2
        p = np.pad(v.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
        out = np.zeros((k, v.shape[1], v.shape[2]))
        for dy in range(kh):
            for dx in range(kw):
                out += np.einsum("kc,chw->khw", w[:, :, dy, dx],
                                 p[:, dy:dy + v.shape[1], dx:dx + v.shape[2]])
        return out + b[:, None, None]

    def silu(v):
        return v / (1 + np.exp(-v))

    h = silu(conv(x, r.a_weight, r.a_bias))
    h = silu(conv(h, r.b_weight, r.b_bias))
    return x + conv(h, r.c_weight, r.c_bias)


def test_network_matches_the_specified_formulas() -> None:
    r = random_restorer("p", 4, 3, seed=5, scale=0.5)
    x = np.random.default_rng(1).normal(size=(4, 6, 5)).astype(np.float32)
    got = r(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _reference_restore(r, x), rtol=1e-5, atol=1e-5)
    # zero padding: a corner sample sees only the 2x2 samples inside the tensor
    assert not np.allclose(got, x)


def test_network_matches_torch_conv2d() -> None:
    torch = pytest.importorskip("torch")
    r = random_restorer("p", 4, 3, seed=2, scale=0.5)
    x = np.random.default_rng(3).normal(size=(4, 7, 9)).astype(np.float32)
    f = torch.nn.functional
    t = torch.from_numpy(x)[None]
    h = f.silu(f.conv2d(t, torch.from_numpy(r.a_weight), torch.from_numpy(r.a_bias), padding=1))
    h = f.silu(f.conv2d(h, torch.from_numpy(r.b_weight), torch.from_numpy(r.b_bias), padding=1))
    y = t + f.conv2d(h, torch.from_numpy(r.c_weight), torch.from_numpy(r.c_bias))
    np.testing.assert_allclose(r(x), y[0].numpy(), rtol=1e-5, atol=1e-5)


def _with_header(header: dict, weights: bytes) -> bytes:
    text = json.dumps(header).encode()
    return b"VCMR\x01" + struct.pack("<I", len(text)) + text + weights


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"VCMX" + d[4:], "not a restoration model file"),
    (lambda d: d[:4] + b"\x02" + d[5:], "format version 2"),
    (lambda d: d[:5] + struct.pack("<I", 1 << 30) + d[9:], "does not fit the file"),
    (lambda d: d[:-4], "the file ends inside c_bias of tensor 'q'"),
    (lambda d: d + b"\x00", "1 bytes after the last weight"),
    (lambda d: d[:-4] + struct.pack("<f", float("nan")), "c_bias of tensor 'q' is not finite"),
    (lambda d: _with_header({"architecture": "unet", "tensors": [
        {"name": "p", "channels": 1, "hidden": 1}]}, b""), "architecture 'unet'"),
    (lambda d: _with_header({"architecture": "residual-conv3-conv3-conv1", "tensors": [
        {"name": "p", "channels": 1, "hidden": 1}] * 2}, b""), "distinct tensors"),
    (lambda d: _with_header({"architecture": "residual-conv3-conv3-conv1", "tensors": [
        {"name": "p", "channels": 0, "hidden": 1}]}, b""), "0 channels"),
    (lambda d: b"VCMR\x01\x03\x00\x00\x00{x}", "unreadable header"),
    (lambda d: _with_header({"architecture": "residual-conv3-conv3-conv1", "tensors": [
        {"name": "p", "channels": "4", "hidden": 1}]}, b""), "integer 'channels'"),
    (lambda d: _with_header({"architecture": "residual-conv3-conv3-conv1", "tensors": [
        {"name": 5, "channels": 4, "hidden": True}]}, b""), "a string 'name'"),
    (lambda d: b"VCMR\x01\x06\x00\x00\x00[1e999", "unreadable header"),
    (lambda d: _with_header([1], b""), "the header must be an object"),
])
def test_bad_model_files_are_refused_saying_what_is_wrong(mutate, message) -> None:
    with pytest.raises(RestorationError, match=message.replace("(", r"\(")) as e:
        parse_model(mutate(small_model_bytes()), "m.vcmr")
    assert "\n" not in str(e.value) and str(e.value).startswith("m.vcmr: ")


def test_restore_refuses_tensors_the_model_does_not_restore() -> None:
    model = parse_model(small_model_bytes())
    x = {n: np.zeros(s, np.float32) for n, s in SHAPES.items()}
    assert model.restore(x)["p"].shape == SHAPES["p"]
    frames = {n: np.zeros((2, *s), np.float32) for n, s in SHAPES.items()}
    assert model.restore(frames)["q"].shape == (2, *SHAPES["q"])
    with pytest.raises(RestorationError, match=r"restores tensors \{p: 4 channels, q: 3 "
                                               r"channels\}, the stream has \{p: 5 channels"):
        model.restore({"p": np.zeros((5, 6, 5), np.float32), "q": x["q"]})


def test_lookup_by_name_path_and_hash(model_folder) -> None:
    assert shipped_models()["small"] == model_folder / "small.vcmr"
    by_name = resolve_model("small")
    assert resolve_model(model_folder / "small.vcmr").sha256 == by_name.sha256
    assert find_model(by_name.sha256).path == model_folder / "small.vcmr"
    with pytest.raises(RestorationError, match="not a model file, nor one of the known"):
        resolve_model("nonesuch")
    with pytest.raises(RestorationError, match=f"{'ab' * 32}, which is not in .*"
                                               f"{MODELS_ENV}"):
        find_model(bytes.fromhex("ab" * 32))


def _tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: np.abs(rng.normal(size=s)).astype(np.float32) for n, s in SHAPES.items()}


def test_anchor_stream_names_the_model_and_decoding_restores(model_folder) -> None:
    from vcmref.ctc.codecs import FeatureAnchorCodec
    from vcmref.ctc.config import CodecConfig

    x = _tensors()
    plain = encode_feature_anchor(x, FeatureAnchorConfig(qp=30))
    named = encode_feature_anchor(x, FeatureAnchorConfig(qp=30, restoration="small"))
    types = [u.unit_type for u in iter_units(named.stream)]
    assert types[:2] == [UnitType.STREAM_PARAMETER_SET, UnitType.RESTORATION_MODEL]
    assert len(named.stream) == len(plain.stream) + 6 + 33
    # the conformance point does not change: same samples, same hashes
    a = Decoder(inner_decoder=decode_inner_pictures).decode(plain.stream)
    b = Decoder(inner_decoder=decode_inner_pictures).decode(named.stream)
    assert a.restoration is None
    assert b.restoration.model_sha256 == resolve_model("small").sha256
    for n in SHAPES:
        np.testing.assert_array_equal(a.frames[0].samples[n], b.frames[0].samples[n])
    # the CTC codec's decode gives the restored tensors
    codec = FeatureAnchorCodec(CodecConfig(name="r", kind="feature-anchor", rate_parameter="qp",
                                           points=[30], params={"restoration": "small"}))
    got = codec.decode(named.stream, 0, 0, 30)
    want = resolve_model("small").restore({n: b.frames[0].tensors[n] for n in SHAPES})
    for n in SHAPES:
        np.testing.assert_allclose(got[n], want[n], rtol=1e-6)
        assert not np.allclose(got[n], b.frames[0].tensors[n])


def test_anchor_refuses_a_model_for_other_tensors(model_folder) -> None:
    x = {"p": np.ones((2, 6, 5), np.float32)}
    with pytest.raises(EncoderInputError, match="restores tensors"):
        encode_feature_anchor(x, FeatureAnchorConfig(restoration="small"))


def test_cli_decode_restores_unless_told_not_to(model_folder, tmp_path) -> None:
    named = encode_feature_anchor(_tensors(), FeatureAnchorConfig(qp=30, restoration="small"))
    stream = tmp_path / "s.vcm"
    stream.write_bytes(named.stream)
    runner = CliRunner()
    res = runner.invoke(app, ["decode", str(stream), "-o", str(tmp_path / "r.npz")])
    assert res.exit_code == 0, res.output
    assert "tensors restored with small" in res.output
    res = runner.invoke(app, ["decode", str(stream), "-o", str(tmp_path / "u.npz"),
                              "--no-restoration"])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "r.npz") as r, np.load(tmp_path / "u.npz") as u:
        assert not np.allclose(r["p"], u["p"])
        model = resolve_model("small")
        np.testing.assert_allclose(r["p"][0], model.tensors["p"](u["p"][0]), rtol=1e-6)
    # a stream naming a model this machine lacks: one line, non-zero, no output file
    (model_folder / "small.vcmr").unlink()
    res = runner.invoke(app, ["decode", str(stream), "-o", str(tmp_path / "x.npz")])
    assert res.exit_code != 0
    assert "which is not in" in res.output and not (tmp_path / "x.npz").exists()


def test_ctc_config_names_only_known_models(model_folder) -> None:
    from vcmref.ctc.codecs import FeatureAnchorCodec
    from vcmref.params import ParamError, check_settings

    check_settings(FeatureAnchorCodec.parameters, {"restoration": "small"}, "codecs.x.params.")
    with pytest.raises(ParamError, match="restoration: expected one of .*small"):
        check_settings(FeatureAnchorCodec.parameters, {"restoration": "nonesuch"},
                       "codecs.x.params.")


def test_shipped_models_read_and_fit_yolox_nano() -> None:
    models = {n: resolve_model(n) for n in shipped_models()
              if n.startswith("yolox_nano_")}
    if not models:
        pytest.skip("no YOLOX-Nano restoration model shipped")
    channels = {"backbone": {"dark3": 64, "dark4": 128, "dark5": 256},
                "neck": {"pan_out2": 64, "pan_out1": 128, "pan_out0": 256}}
    for name, model in models.items():
        split = model.header["split"]
        assert {n: r.channels for n, r in model.tensors.items()} == channels[split], name
        assert "coco_train" in model.header["trained_on"]
        assert model.path.stat().st_size < 4 << 20  # small weights ship
