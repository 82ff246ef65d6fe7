"""The learned image codecs of CompressAI (vcmref.anchors.learned) and the CTC kind
``compressai``, with real CompressAI models (small, randomly initialised, saved as checkpoints)
on real photographs: round trips at odd sizes, identical bytes and pixels from two codecs, the
container's checks, checkpoint and zoo-weight errors, and a config through the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from ctc_docs import write_images

from vcmref.errors import BitstreamError, EncoderInputError, ToolNotFoundError

try:
    from vcmref.anchors.learned.compressai_import import import_compressai

    import_compressai()
except ToolNotFoundError as e:
    pytest.skip(f"torch or CompressAI is not installed ({e})", allow_module_level=True)

import torch  # noqa: E402
from compressai.models import FactorizedPrior, ScaleHyperprior  # noqa: E402
from skimage import data  # noqa: E402

from vcmref.anchors.learned import container  # noqa: E402
from vcmref.anchors.learned.codec import (  # noqa: E402
    ARCHITECTURES,
    ZOO_MODELS,
    CompressAICodec,
    LearnedModelError,
    load_codec,
    save_checkpoint,
)
from vcmref.ctc.codecs import make_codec  # noqa: E402
from vcmref.ctc.config import CodecConfig, ConfigError, check_inputs, parse_config  # noqa: E402
from vcmref.registry import CODECS  # noqa: E402

CHECKOUT = Path(__file__).resolve().parent.parent
PHOTO = data.astronaut()
SQUARE = PHOTO[:128, :160]
ODD = PHOTO[100:167, 50:143]  # 67 x 93: padded on both axes


def _factorized(seed: int) -> FactorizedPrior:
    torch.manual_seed(seed)
    model = FactorizedPrior(N=16, M=16)
    model.update(force=True)
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints: factorized priors at q1 and q2 (vcmref's format), a hyperprior saved
    before update() (no CDF tables), and the q1 factorized prior in CompressAI's format."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for q in (1, 2):
        paths[f"q{q}"] = folder / f"fp_q{q}.pt"
        save_checkpoint(paths[f"q{q}"], _factorized(q), "bmshj2018-factorized",
                        {"N": 16, "M": 16}, {"seed": q})
    torch.manual_seed(3)
    paths["hyperprior"] = folder / "hp.pt"
    save_checkpoint(paths["hyperprior"], ScaleHyperprior(N=16, M=16), "bmshj2018-hyperprior",
                    {"N": 16, "M": 16})
    paths["compressai"] = folder / "compressai.pth.tar"
    torch.save({"epoch": 3, "state_dict": _factorized(1).state_dict()}, paths["compressai"])
    return paths


# -- importing ----------------------------------------------------------------------------------

def test_the_torchvision_stand_in_is_gone_after_the_import() -> None:
    module = sys.modules.get("torchvision")
    assert module is None or not getattr(module, "__vcmref_stand_in__", False)
    assert "compressai.zoo" in sys.modules


def _python(code: str, tmp_path: Path, *path: Path) -> str:
    """What a fresh interpreter prints (stdout, stderr) running `code` with `path` first."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, path), str(CHECKOUT)])}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, timeout=120,
                          capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def test_the_stand_in_for_a_broken_torchvision_and_the_install_hint(tmp_path) -> None:
    """In a fresh interpreter whose torchvision raises on import: without CompressAI, the one
    line names the install commands; with it, the import goes through the stand-in and a
    later `import torchvision` still fails as before."""
    broken = tmp_path / "site" / "torchvision"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does "
                                        "not exist')\n")
    out = _python(
        "import sys\n"
        "from vcmref.anchors.learned.compressai_import import import_compressai\n"
        "from vcmref.errors import ToolNotFoundError\n"
        "sys.modules['compressai'] = None\n"
        "try:\n    import_compressai()\nexcept ToolNotFoundError as e:\n    print(e)\n"
        "del sys.modules['compressai']\n"
        "import_compressai()\n"
        "import compressai.zoo\n"
        "try:\n    import torchvision\nexcept RuntimeError as e:\n    print('still', e)\n",
        tmp_path, tmp_path / "site")
    assert "pip install -e '.[learned]' then pip install --no-deps compressai==1.2.8" in out, out
    assert "still operator torchvision::nms does not exist" in out, out


def test_the_architectures_are_compressai_s() -> None:
    from compressai.registry import MODELS

    from vcmref.anchors.learned.lapped import register

    register()  # vcmref's own architecture registers itself in CompressAI's registry
    from compressai.zoo.image import model_urls

    assert set(ARCHITECTURES) <= set(MODELS)
    assert set(ZOO_MODELS) == set(model_urls)


# -- coding -------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["q1", "hyperprior"])
@pytest.mark.parametrize("image", [SQUARE, ODD], ids=["128x160", "67x93"])
def test_round_trip_keeps_the_size_and_counts_every_byte(models, which, image) -> None:
    codec = CompressAICodec.from_checkpoint(models[which])
    stream = codec.encode(image)
    decoded = codec.decode(stream)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    c = container.unpack(stream)
    assert (c.height, c.width) == image.shape[:2]
    assert len(stream) == 22 + 4 * len(c.strings) + sum(map(len, c.strings))
    assert len(c.strings) == (1 if which == "q1" else 2)


def test_a_checkpoint_without_cdf_tables_gets_them(models) -> None:
    state = torch.load(models["hyperprior"], weights_only=True)["state_dict"]
    assert state["gaussian_conditional._quantized_cdf"].numel() == 0
    codec = CompressAICodec.from_checkpoint(models["hyperprior"])
    assert codec.multiple == 64 and codec.model.gaussian_conditional._quantized_cdf.numel() > 0


def test_two_codecs_give_the_same_bytes_and_pixels(models) -> None:
    a = CompressAICodec.from_checkpoint(models["hyperprior"])
    b = CompressAICodec.from_checkpoint(models["hyperprior"])
    assert a is not b
    stream = a.encode(ODD)
    assert b.encode(ODD) == stream == a.encode(ODD)
    assert np.array_equal(a.decode(stream), b.decode(stream))


def test_pictures_it_does_not_take_are_refused(models) -> None:
    codec = CompressAICodec.from_checkpoint(models["q1"])
    assert codec.min_side == codec.multiple == 16
    with pytest.raises(EncoderInputError, match=r"a 20x8 image: .* codes sides of 16"):
        codec.encode(PHOTO[:8, :20])
    with pytest.raises(EncoderInputError, match="expected an \\(H, W, 3\\) uint8"):
        codec.encode(SQUARE.astype(np.float32))
    with pytest.raises(EncoderInputError, match="expected an \\(H, W, 3\\) uint8"):
        codec.encode(SQUARE[:, :, 0])


# -- the container ------------------------------------------------------------------------------

def test_damaged_containers_are_refused_in_one_line(models) -> None:
    codec = CompressAICodec.from_checkpoint(models["hyperprior"])
    stream = codec.encode(SQUARE)
    flipped = bytearray(stream)
    flipped[31] ^= 0x10  # inside the first string
    cases = {
        "truncated": stream[:-1],
        "trailing bytes": stream + b"\0",
        "CRC-32 does not match": bytes(flipped),
        "not a learned-codec container": b"JUNK" + stream[4:],
        "shorter than its": stream[:10],
        "version 2, expected 1": stream[:4] + b"\x02" + stream[5:],
    }
    for expected, bad in cases.items():
        with pytest.raises(BitstreamError, match=expected) as info:
            codec.decode(bad)
        assert "\n" not in str(info.value)
    rng = np.random.default_rng(0)
    with pytest.raises(BitstreamError):
        codec.decode(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())


def test_a_stream_of_another_model_is_refused(models) -> None:
    q1, q2 = (CompressAICodec.from_checkpoint(models[q]) for q in ("q1", "q2"))
    assert q1.model_id != q2.model_id
    with pytest.raises(BitstreamError, match="coded by another model"):
        q2.decode(q1.encode(SQUARE))


def test_container_fields_out_of_range_are_not_written() -> None:
    with pytest.raises(ValueError, match="picture size"):
        container.pack(container.Container(b"\0" * 8, 70000, 5, (b"x",)))
    with pytest.raises(ValueError, match="strings"):
        container.pack(container.Container(b"\0" * 8, 5, 5, ()))


# -- checkpoints and zoo weights ----------------------------------------------------------------

def test_compressai_s_own_checkpoints_need_their_architecture(models) -> None:
    with pytest.raises(LearnedModelError, match="name its architecture"):
        CompressAICodec.from_checkpoint(models["compressai"])
    codec = CompressAICodec.from_checkpoint(models["compressai"], "bmshj2018-factorized")
    mine = CompressAICodec.from_checkpoint(models["q1"])
    assert np.array_equal(codec.decode(codec.encode(ODD)), mine.decode(mine.encode(ODD)))


def test_a_checkpoint_of_another_architecture_is_refused(models, tmp_path) -> None:
    with pytest.raises(LearnedModelError, match=r"compressai.pth.tar: not a checkpoint of "
                       r"bmshj2018-hyperprior") as info:
        CompressAICodec.from_checkpoint(models["compressai"], "bmshj2018-hyperprior")
    assert "\n" not in str(info.value)
    wrong = tmp_path / "wrong.pt"
    record = torch.load(models["q1"], weights_only=True)
    torch.save({**record, "architecture": "bmshj2018-hyperprior"}, wrong)
    with pytest.raises(LearnedModelError, match=r"wrong.pt: not a checkpoint of "
                       r"bmshj2018-hyperprior") as info:
        CompressAICodec.from_checkpoint(wrong)
    assert "\n" not in str(info.value)
    with pytest.raises(LearnedModelError, match="a checkpoint of bmshj2018-factorized, not of "
                       "mbt2018"):
        CompressAICodec.from_checkpoint(models["q1"], "mbt2018")


def test_a_corrupt_checkpoint_is_refused_naming_the_file(models, tmp_path) -> None:
    for name, content in (("garbage.pt", b"not a checkpoint at all"),
                          ("cut.pt", models["q1"].read_bytes()[:2000])):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(LearnedModelError, match=f"{name}: not a readable torch checkpoint"
                           ) as info:
            CompressAICodec.from_checkpoint(tmp_path / name)
        assert "\n" not in str(info.value)
    with pytest.raises(LearnedModelError, match="no such checkpoint file"):
        CompressAICodec.from_checkpoint(tmp_path / "absent.pt")


def test_missing_zoo_weights_name_the_file_the_url_and_the_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    with pytest.raises(LearnedModelError) as info:
        CompressAICodec.from_zoo("bmshj2018-hyperprior", 3)
    text = str(info.value)
    assert "https://compressai.s3.amazonaws.com/models/v1/bmshj2018-hyperprior-3-6d87be32" \
           ".pth.tar" in text and f"put it in {folder} as bmshj2018-hyperprior-3-6d87be32" \
           ".pth.tar" in text and "\n" not in text

    def offline(*args, **kwargs):
        from urllib.error import URLError

        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(LearnedModelError, match="the download failed: URLError"):
        CompressAICodec.from_zoo("bmshj2018-hyperprior", 3, download=True)
    with pytest.raises(LearnedModelError, match="no quality 9; known: 1, 2, 3, 4, 5, 6"):
        CompressAICodec.from_zoo("cheng2020-anchor", 9)


def test_zoo_weights_in_the_cache_are_checked_and_loaded(monkeypatch, tmp_path) -> None:
    """A file under the zoo's name whose SHA-256 does not begin with the name's hex digits is
    refused; with the check off, a state dict saved from a DataParallel model loads."""
    import vcmref.anchors.learned.codec as codec_module

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    weights = folder / "bmshj2018-factorized-prior-1-446d5c7f.pth.tar"
    torch.save({f"module.{k}": v for k, v in _factorized(5).state_dict().items()}, weights)
    with pytest.raises(LearnedModelError, match="damaged .* delete it and fetch https://"):
        CompressAICodec.from_zoo("bmshj2018-factorized", 1)
    monkeypatch.setattr(codec_module, "_HASH_IN_NAME", codec_module.re.compile("(?!)"))
    codec = CompressAICodec.from_zoo("bmshj2018-factorized", 1)
    assert codec.identity == "compressai-zoo bmshj2018-factorized mse q1"
    assert codec.decode(codec.encode(ODD)).shape == ODD.shape


def test_unknown_models_list_what_exists() -> None:
    with pytest.raises(LearnedModelError, match="unknown learned model 'nope'; zoo models: "
                       "bmshj2018-factorized, "):
        load_codec("nope", 1)
    with pytest.raises(LearnedModelError, match="unknown shipped model 'vcmref-nope'"):
        load_codec("vcmref-nope", 1)


def test_models_load_once_per_process(models) -> None:
    template = str(models["q1"]).replace("_q1", "_q{quality}")
    first = load_codec(checkpoint=template, quality=1)
    assert load_codec(checkpoint=template, quality=1) is first
    assert load_codec(checkpoint=template, quality=2) is not first


# -- the CTC kind -------------------------------------------------------------------------------

def _config_doc(images: Path, params: dict, points: list) -> dict:
    return {"name": "learned", "dataset": {"kind": "folder", "images": str(images)},
            "metrics": ["psnr_rgb"], "anchor": "learned",
            "codecs": {"learned": {"kind": "compressai", "rate_parameter": "quality",
                                   "points": points, "params": params}}}


def test_the_ctc_kind_codes_an_image_through_the_registry(models) -> None:
    from vcmref.ctc.learned_codecs import CompressAIImage

    assert CODECS.get("compressai") is CompressAIImage
    template = str(models["q1"]).replace("_q1", "_q{quality}")
    codec = make_codec(CodecConfig("learned", "compressai", "quality", [1, 2],
                                   {"checkpoint": template}))
    h, w = ODD.shape[:2]
    for point in (1, 2):
        codec.prepare(point)
        stream = codec.encode(ODD, point)
        decoded = codec.decode(stream, w, h, point)
        assert decoded.shape == ODD.shape and decoded.dtype == np.uint8
    with pytest.raises(BitstreamError, match="the item is 94x67"):
        codec.decode(stream, w + 1, h, 2)


def test_bad_params_are_refused_when_the_config_loads(models, tmp_path) -> None:
    images = write_images(tmp_path / "img")
    ckpt = str(models["q1"])
    cases = {
        "params.model: expected either a model or a checkpoint, got both":
            ({"model": "mbt2018", "checkpoint": ckpt}, [1]),
        "params.model: expected either a model or a checkpoint, got neither": ({}, [1]),
        "params.device: expected one of cpu": ({"model": "mbt2018", "device": "cuda"}, [1]),
        "params.model: expected one of bmshj2018-factorized": ({"model": "nope"}, [1]),
        "points[1]: expected one of 1, 2, 3, 4, 5, 6, got 7": ({"model": "cheng2020-attn"},
                                                              [1, 7]),
        "params.architecture: expected no value without a checkpoint":
            ({"model": "mbt2018", "architecture": "mbt2018"}, [1]),
        "params.metric: expected mse": ({"checkpoint": ckpt, "metric": "ms-ssim"}, [1]),
        "points[0]: expected an integer >= 1": ({"checkpoint": ckpt}, [0]),
    }
    for expected, (params, points) in cases.items():
        with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
            parse_config(_config_doc(images, params, points), "c.yaml")
    cfg = parse_config(_config_doc(images, {"checkpoint": ckpt, "architecture": None}, [1]))
    check_inputs(cfg)  # one point: a fixed path will do


def test_missing_files_are_refused_before_a_run(models, tmp_path, monkeypatch) -> None:
    images = write_images(tmp_path / "img")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    zoo = parse_config(_config_doc(images, {"model": "bmshj2018-factorized"}, [1, 2]), "z.yaml")
    with pytest.raises(ConfigError, match=r"z.yaml: codecs.learned.params.model: expected the "
                       r"weights of bmshj2018-factorized quality 1 .* get https://"):
        check_inputs(zoo)
    check_inputs(parse_config(_config_doc(images, {"model": "bmshj2018-factorized",
                                                   "download": True}, [1])))
    fixed = parse_config(_config_doc(images, {"checkpoint": str(models["q1"])}, [1, 2]), "f.yaml")
    with pytest.raises(ConfigError, match=r"params.checkpoint: expected \{quality\} in the path"):
        check_inputs(fixed)
    template = str(models["q1"]).replace("_q1", "_q{quality}")
    absent = parse_config(_config_doc(images, {"checkpoint": template}, [1, 3]), "a.yaml")
    with pytest.raises(ConfigError, match="a checkpoint file for quality 3, got .*fp_q3.pt"):
        check_inputs(absent)


def test_a_ctc_run_records_the_container_s_bits(models, tmp_path) -> None:
    import json

    from vcmref.ctc.runner import run

    images = write_images(tmp_path / "img", count=1, height=40, width=56)
    template = str(models["q1"]).replace("_q1", "_q{quality}")
    cfg = parse_config(_config_doc(images, {"checkpoint": template}, [1, 2]), "run.yaml")
    summary = run(cfg, tmp_path / "run")
    assert (summary.done, summary.failed) == (2, [])
    for k in (0, 1):
        rec = json.loads((tmp_path / "run" / "results" / "learned" / str(k) / "img0.json")
                         .read_text())
        stream = (tmp_path / "run" / "bitstreams" / "learned" / str(k) / "img0.bin").read_bytes()
        assert rec["status"] == "ok" and rec["bits"] == 8 * len(stream)
        assert rec["pixels"] == 40 * 56 and rec["metrics"]["psnr_rgb"] > 0
