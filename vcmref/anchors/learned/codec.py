"""CompressAI's learned image codecs as codecs of (H, W, 3) uint8 R'G'B' pictures.

A model is had in one of three ways (`load_codec` picks by its arguments):

- a CompressAI zoo architecture and quality (`CompressAICodec.from_zoo`): the pretrained
  weights from torch.hub's cache (``$TORCH_HOME/hub/checkpoints``, by default
  ``~/.cache/torch/hub/checkpoints``), fetched there only when `download` is asked for;
- a shipped model, ``vcmref-NAME`` and a quality (`CompressAICodec.shipped`): the package data
  file ``vcmref/anchors/learned/models/vcmref-NAME_q{quality}.pt``;
- a checkpoint file (`CompressAICodec.from_checkpoint`): vcmref's own format (a dict with
  ``format: vcmref-compressai``, ``architecture``, ``kwargs``, ``state_dict``, ``training``;
  see `save_checkpoint`), or CompressAI's training output (``{"state_dict": ...}`` or a bare
  state dict), whose architecture the caller names.

Coding: the picture, x / 255 as float32, is padded on the right and below to a multiple of the
model's downsampling factor by repeating its last column and row, compressed by the model and
put in the container of `vcmref.anchors.learned.container` (picture size, model id, strings).
Decoding undoes it: decompress, crop to H x W, clamp to [0, 1], round(x * 255) (half to even)
to uint8. Both run in eval mode, without gradients, on one torch thread (the entropy
parameters a hyperprior decoder computes must equal the encoder's to the bit), so that the same
picture and model give the same bytes and the same decoded pixels on a machine.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.anchors.learned.compressai_import import import_compressai, import_torch
from vcmref.anchors.learned.container import MAX_SIDE, MODEL_ID_BYTES, Container, pack, unpack
from vcmref.anchors.learned.lapped import ARCHITECTURE as LAPPED_ARCHITECTURE
from vcmref.anchors.learned.lapped import register as register_lapped
from vcmref.assets import package_folder
from vcmref.errors import BitstreamError, EncoderInputError, VcmrefError

__all__ = ["ARCHITECTURES", "CHECKPOINT_FORMAT", "SHIPPED_PREFIX", "ZOO_METRICS", "ZOO_MODELS",
           "CompressAICodec", "LearnedModelError", "coding_threads", "load_codec", "models_dir",
           "save_checkpoint", "shipped_models", "zoo_qualities", "zoo_weights"]

# The CompressAI architectures (compressai.registry.MODELS names) whose `compress` returns one
# string per latent and the deepest latent's size, the picture's padded size over the model's
# downsampling factor: the container holds no latent shapes. (The latent-codec models, e.g.
# cheng2020-anchor-checkerboard and elic2022, return nested shapes and are not supported.)
# vcmref's own `lapped-hyperprior` (vcmref.anchors.learned.lapped) is registered with them.
ARCHITECTURES = ("bmshj2018-factorized", "bmshj2018-factorized-relu", "bmshj2018-hyperprior",
                 "mbt2018-mean", "mbt2018", "cheng2020-anchor", "cheng2020-attn",
                 LAPPED_ARCHITECTURE)
ZOO_MODELS = tuple(a for a in ARCHITECTURES  # those with pretrained weights
                   if a not in ("bmshj2018-factorized-relu", LAPPED_ARCHITECTURE))
ZOO_METRICS = ("mse", "ms-ssim")
CHECKPOINT_FORMAT = "vcmref-compressai"
SHIPPED_PREFIX = "vcmref-"
DEFAULT_MULTIPLE = 64  # for a model that does not say its downsampling factor
_SHIPPED_FILE = re.compile(r"(vcmref-[A-Za-z0-9_.-]+)_q([0-9]+)\.pt")
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.")
_CACHE_SIZE = 16
_CACHE: OrderedDict[tuple, CompressAICodec] = OrderedDict()


class LearnedModelError(VcmrefError):
    """A learned model that cannot be had: an unknown name or quality, missing weights, or a
    checkpoint that is unreadable or for another architecture (one line, naming the file)."""


def _one_line(exc: BaseException, limit: int = 240) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@contextmanager
def coding_threads() -> Iterator[None]:
    """One torch thread inside (the same float sums in encoder and decoder), restored after."""
    torch = import_torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- where models come from ---------------------------------------------------------------------

def zoo_qualities(architecture: str, metric: str = "mse") -> tuple[int, ...]:
    """The qualities CompressAI's zoo has pretrained weights for."""
    import_compressai()
    from compressai.zoo.image import model_urls

    return tuple(sorted(model_urls.get(architecture, {}).get(metric, {})))


def zoo_weights(architecture: str, quality: int, metric: str = "mse") -> tuple[str, Path]:
    """(URL, path in torch.hub's cache) of a zoo model's pretrained weights."""
    if architecture not in ZOO_MODELS:
        raise LearnedModelError(f"unknown CompressAI zoo model {architecture!r}; known: "
                                f"{', '.join(ZOO_MODELS)}")
    if metric not in ZOO_METRICS:
        raise LearnedModelError(f"zoo model {architecture}: unknown metric {metric!r}; known: "
                                f"{', '.join(ZOO_METRICS)}")
    qualities = zoo_qualities(architecture, metric)
    if quality not in qualities:
        raise LearnedModelError(f"zoo model {architecture} ({metric}): no quality {quality!r}; "
                                f"known: {', '.join(map(str, qualities))}")
    from compressai.zoo.image import model_urls

    url = model_urls[architecture][metric][quality]
    torch = import_torch()
    return url, Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def models_dir() -> Path:
    """The folder of the shipped models (package data)."""
    return package_folder("vcmref.anchors.learned", "models")


def shipped_models() -> dict[str, tuple[int, ...]]:
    """Shipped model name -> the qualities it has files for."""
    found: dict[str, list[int]] = {}
    folder = models_dir()
    for p in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
        m = _SHIPPED_FILE.fullmatch(p.name)
        if m:
            found.setdefault(m.group(1), []).append(int(m.group(2)))
    return {name: tuple(sorted(q)) for name, q in sorted(found.items())}


def _shipped_path(name: str, quality: int) -> Path:
    models = shipped_models()
    if name not in models:
        known = ", ".join(models) or f"none (no {SHIPPED_PREFIX}*_q*.pt in {models_dir()})"
        raise LearnedModelError(f"unknown shipped model {name!r}; shipped: {known}")
    if quality not in models[name]:
        raise LearnedModelError(f"shipped model {name}: no quality {quality!r}; shipped: "
                                f"{', '.join(map(str, models[name]))}")
    return models_dir() / f"{name}_q{quality}.pt"


def save_checkpoint(path: str | Path, model: Any, architecture: str,
                    kwargs: Mapping[str, Any], training: Mapping[str, Any] | None = None) -> None:
    """Write `model` (built as ARCHITECTURE(**kwargs)) in vcmref's checkpoint format; call
    ``model.update(force=True)`` before, so that the file carries its CDF tables."""
    if architecture not in ARCHITECTURES:
        raise LearnedModelError(f"unsupported architecture {architecture!r}; supported: "
                                f"{', '.join(ARCHITECTURES)}")
    torch = import_torch()
    record = {"format": CHECKPOINT_FORMAT, "architecture": architecture, "kwargs": dict(kwargs),
              "state_dict": model.state_dict(), "training": dict(training or {})}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(record, tmp)
    tmp.replace(path)


def _architecture_class(architecture: str, where: str) -> Any:
    if architecture not in ARCHITECTURES:
        raise LearnedModelError(f"{where}: unsupported architecture {architecture!r}; "
                                f"supported: {', '.join(ARCHITECTURES)}")
    import_compressai()
    register_lapped()
    from compressai.registry import MODELS

    return MODELS[architecture]


def _needs_cdfs(model: Any) -> bool:
    """Whether an entropy model of `model` lacks its CDF tables (a checkpoint saved before
    CompressAI's update())."""
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional

    for m in model.modules():
        if isinstance(m, (EntropyBottleneck, GaussianConditional)) and (
                m._quantized_cdf.numel() == 0
                or (isinstance(m, GaussianConditional) and m.scale_table.numel() == 0)):
            return True
    return False


def _read_checkpoint(path: Path) -> tuple[Any, str]:
    """(the unpickled checkpoint, its SHA-256 in hex), read once; tensors only, no code."""
    torch = import_torch()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LearnedModelError(f"{path}: no such checkpoint file") from None
    except OSError as e:
        raise LearnedModelError(f"{path}: cannot read the checkpoint ({_one_line(e)})") from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise LearnedModelError(f"{path}: not a readable torch checkpoint "
                                f"({_one_line(e)})") from None
    return obj, hashlib.sha256(data).hexdigest()


def _model_from_checkpoint(obj: Any, path: Path, architecture: str | None) -> Any:
    """The model a checkpoint holds (vcmref's format or CompressAI's training output)."""
    torch = import_torch()
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        arch, kwargs, state = obj.get("architecture"), obj.get("kwargs", {}), obj.get("state_dict")
        if architecture is not None and architecture != arch:
            raise LearnedModelError(f"{path}: a checkpoint of {arch}, not of {architecture}")
        if not isinstance(kwargs, dict) or not isinstance(state, dict):
            raise LearnedModelError(f"{path}: a {CHECKPOINT_FORMAT} checkpoint needs 'kwargs' "
                                    "and 'state_dict' mappings")
        cls = _architecture_class(str(arch), str(path))
        try:
            model = cls(**kwargs)
            model.load_state_dict(state)
        except Exception as e:
            raise LearnedModelError(f"{path}: not a checkpoint of {arch} with {kwargs} "
                                    f"({_one_line(e)})") from None
        return model
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = obj["state_dict"]
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = obj
    else:
        raise LearnedModelError(f"{path}: neither a {CHECKPOINT_FORMAT} checkpoint nor "
                                "CompressAI's (a state_dict)")
    if architecture is None:
        raise LearnedModelError(f"{path}: a CompressAI state dict; name its architecture (one "
                                f"of {', '.join(ARCHITECTURES)})")
    cls = _architecture_class(architecture, str(path))
    from compressai.zoo.pretrained import load_pretrained

    try:
        return cls.from_state_dict(load_pretrained(state))
    except Exception as e:
        raise LearnedModelError(f"{path}: not a checkpoint of {architecture} "
                                f"({_one_line(e)})") from None


# -- the codec ----------------------------------------------------------------------------------

def _model_id(identity: str) -> bytes:
    return hashlib.sha256(identity.encode()).digest()[:MODEL_ID_BYTES]


class CompressAICodec:
    """A CompressAI image model coding (H, W, 3) uint8 R'G'B' pictures to the container of
    vcmref.anchors.learned.container; `identity` says which model (its SHA-256 prefix is the
    container's model id), `multiple` is the padding multiple (the downsampling factor) and
    `min_side` the smallest picture side it takes."""

    def __init__(self, model: Any, identity: str, model_id: bytes | None = None) -> None:
        import_compressai()
        if _needs_cdfs(model):
            model.update(force=True)
        self.model = model.eval()
        self.identity = identity
        self.model_id = model_id if model_id is not None else _model_id(identity)
        self.multiple = int(getattr(model, "downsampling_factor", DEFAULT_MULTIPLE))
        # Smaller pictures would be coded as more padding than picture.
        self.min_side = self.multiple

    def __repr__(self) -> str:
        return f"CompressAICodec({self.identity})"

    @classmethod
    def from_zoo(cls, architecture: str, quality: int, metric: str = "mse",
                 download: bool = False) -> CompressAICodec:
        """A zoo model's pretrained weights from torch.hub's cache (fetched only with
        `download`); missing weights are a one-line error naming the file, URL and folder."""
        url, path = zoo_weights(architecture, quality, metric)
        if not path.is_file():
            missing = (f"the weights of CompressAI zoo model {architecture} ({metric}, quality "
                       f"{quality}) are not in torch.hub's cache: get {url} and put it in "
                       f"{path.parent} as {path.name}")
            if not download:
                raise LearnedModelError(f"{missing} (or allow downloading)")
            torch = import_torch()
            prefix = _HASH_IN_NAME.search(path.name)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(url, str(path), prefix and prefix.group(1),
                                               progress=False)
            except Exception as e:
                raise LearnedModelError(f"{missing} (the download failed: "
                                        f"{_one_line(e)})") from None
        state, digest = _read_checkpoint(path)
        prefix = _HASH_IN_NAME.search(path.name)
        if prefix and not digest.startswith(prefix.group(1)):
            raise LearnedModelError(f"{path}: damaged (its SHA-256 begins {digest[:8]}, its name "
                                    f"says {prefix.group(1)}): delete it and fetch {url} again")
        from compressai.zoo.pretrained import load_pretrained

        try:
            model = _architecture_class(architecture, str(path)).from_state_dict(
                load_pretrained(state))
        except Exception as e:
            raise LearnedModelError(f"{path}: not the weights of {architecture} "
                                    f"({_one_line(e)})") from None
        return cls(model, f"compressai-zoo {architecture} {metric} q{quality}")

    @classmethod
    def from_checkpoint(cls, path: str | Path, architecture: str | None = None
                        ) -> CompressAICodec:
        """A model from a checkpoint file; the container's model id is the first 8 bytes of
        the file's SHA-256."""
        path = Path(path)
        obj, digest = _read_checkpoint(path)
        model = _model_from_checkpoint(obj, path, architecture)
        return cls(model, f"checkpoint {path.name} sha256 {digest[:16]}",
                   bytes.fromhex(digest[:2 * MODEL_ID_BYTES]))

    @classmethod
    def shipped(cls, name: str, quality: int) -> CompressAICodec:
        """A shipped model (package data vcmref/anchors/learned/models/NAME_qQ.pt)."""
        return cls.from_checkpoint(_shipped_path(name, quality))

    # -- coding -----------------------------------------------------------------------------

    def _padded(self, height: int, width: int) -> tuple[int, int]:
        m = self.multiple
        return -(-height // m) * m, -(-width // m) * m

    def _check_picture(self, image: Any) -> None:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                or image.shape[2] != 3:
            what = (f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray)
                    else type(image).__name__)
            raise EncoderInputError(f"expected an (H, W, 3) uint8 R'G'B' image, got {what}")
        h, w = image.shape[:2]
        if min(h, w) < self.min_side or max(h, w) > MAX_SIDE:
            raise EncoderInputError(f"a {w}x{h} image: {self.identity} codes sides of "
                                    f"{self.min_side} to {MAX_SIDE} samples")

    def encode(self, image: np.ndarray) -> bytes:
        """The container of an (H, W, 3) uint8 R'G'B' picture."""
        self._check_picture(image)
        torch = import_torch()
        import torch.nn.functional as F  # noqa: N812

        h, w = image.shape[:2]
        hp, wp = self._padded(h, w)
        x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None] / 255
        if (hp, wp) != (h, w):
            x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
        with coding_threads(), torch.no_grad():
            out = self.model.compress(x)
        strings = out["strings"]
        if not all(isinstance(g, (list, tuple)) and len(g) == 1 and isinstance(g[0], bytes)
                   for g in strings):
            raise LearnedModelError(f"{self.identity}: compress() returned strings this "
                                    "container does not hold (one per latent expected)")
        if tuple(out["shape"]) != (hp // self.multiple, wp // self.multiple):
            raise LearnedModelError(f"{self.identity}: its latent shape {tuple(out['shape'])} "
                                    f"is not the padded {wp}x{hp} over {self.multiple}")
        return pack(Container(self.model_id, h, w, tuple(g[0] for g in strings)))

    def decode(self, stream: bytes) -> np.ndarray:
        """The (H, W, 3) uint8 picture of a container coded by this model."""
        c = unpack(stream)
        if c.model_id != self.model_id:
            raise BitstreamError(f"coded by another model (id {c.model_id.hex()}); this decoder "
                                 f"is {self.identity} (id {self.model_id.hex()})",
                                 element="model id", bit_offset=40)
        torch = import_torch()
        hp, wp = self._padded(c.height, c.width)
        shape = torch.Size((hp // self.multiple, wp // self.multiple))
        try:
            with coding_threads(), torch.no_grad():
                x = self.model.decompress([[s] for s in c.strings], shape)["x_hat"]
        except Exception as e:  # e.g. a string count the model does not have
            raise BitstreamError(f"{self.identity} cannot decode this container's "
                                 f"{len(c.strings)} strings ({_one_line(e)})") from None
        x = x[0, :, :c.height, :c.width].clamp(0, 1)
        pixels = torch.round(x * 255).to(torch.uint8).permute(1, 2, 0)
        return np.ascontiguousarray(pixels.numpy())


# -- one cache per process ----------------------------------------------------------------------

def load_codec(model: str | None = None, quality: int | None = None, *,
               checkpoint: str | Path | None = None, architecture: str | None = None,
               metric: str = "mse", download: bool = False) -> CompressAICodec:
    """The codec of a zoo model (`model`: an architecture, with `quality`, `metric`), a shipped
    model (`model`: vcmref-NAME, with `quality`) or a checkpoint (``{quality}`` in its path is
    replaced by `quality`; `architecture` for CompressAI's own format), loaded once per process
    (a checkpoint again when its file changes)."""
    if (model is None) == (checkpoint is None):
        raise LearnedModelError("give either a model name or a checkpoint")
    if checkpoint is not None:
        path = Path(str(checkpoint).replace("{quality}", str(quality))).expanduser()
        try:
            st = path.stat()
        except OSError:
            raise LearnedModelError(f"{path}: no such checkpoint file") from None
        key: tuple = ("checkpoint", str(path.resolve()), st.st_mtime_ns, st.st_size,
                      architecture)
    elif str(model).startswith(SHIPPED_PREFIX):
        path = _shipped_path(str(model), int(quality or 0))
        st = path.stat()
        key = ("checkpoint", str(path.resolve()), st.st_mtime_ns, st.st_size, None)
    elif model in ZOO_MODELS:
        key = ("zoo", model, metric, quality)
    else:
        shipped = ", ".join(shipped_models()) or "none"
        raise LearnedModelError(f"unknown learned model {model!r}; zoo models: "
                                f"{', '.join(ZOO_MODELS)}; shipped: {shipped}")
    codec = _CACHE.get(key)
    if codec is None:
        if key[0] == "checkpoint":
            codec = CompressAICodec.from_checkpoint(key[1], key[4])
        else:
            codec = CompressAICodec.from_zoo(str(model), int(quality or 0), metric, download)
        _CACHE[key] = codec
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return codec
