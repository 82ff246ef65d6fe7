"""Feature restoration after the conformance point (spec clause 8): a small residual network per
tensor, named by a stream's restoration_model unit through the SHA-256 of its model file.

The decoded integer samples, and the tensors dequantized from them, stay the conformance point;
restoration maps those tensors to the ones the task network's back half receives. It runs in
float32 with numpy and is deterministic on one machine, but not bit-exact across machines (the
matrix products' summation order is the BLAS library's), which is why it comes after the point
that conformance checks.

A model file (``.vcmr``, clause 8.1) is: the 4 bytes ``VCMR``, a format version byte (1), a
32-bit little-endian header size, a UTF-8 JSON header, then the weights of each tensor in header
order as little-endian float32 arrays. Shipped models live in ``restoration_models/`` beside this
module; ``$VCMREF_RESTORATION_MODELS`` (a list of folders, ``os.pathsep``-separated) adds more.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vcmref.errors import VcmrefError

MAGIC = b"VCMR"
FORMAT_VERSION = 1
ARCHITECTURE = "residual-conv3-conv3-conv1"
MODEL_SUFFIX = ".vcmr"
MODELS_ENV = "VCMREF_RESTORATION_MODELS"
MAX_HEADER_BYTES = 1 << 20
MAX_WEIGHTS = 1 << 26  # 256 MiB of float32: refuse bigger files before reading them whole


class RestorationError(VcmrefError):
    """A restoration model that cannot be found, read, or applied to a stream's tensors."""


@dataclass
class TensorRestorer:
    """The weights that restore one tensor: y = x + C(silu(B(silu(A(x))))), A and B 3x3
    convolutions with zero padding, C a 1x1 convolution (clause 8.2)."""

    name: str
    channels: int
    hidden: int
    a_weight: np.ndarray  # (hidden, channels, 3, 3)
    a_bias: np.ndarray  # (hidden,)
    b_weight: np.ndarray  # (hidden, hidden, 3, 3)
    b_bias: np.ndarray  # (hidden,)
    c_weight: np.ndarray  # (channels, hidden, 1, 1)
    c_bias: np.ndarray  # (channels,)

    ARRAYS = ("a_weight", "a_bias", "b_weight", "b_bias", "c_weight", "c_bias")

    def shapes(self) -> dict[str, tuple[int, ...]]:
        c, h = self.channels, self.hidden
        return {"a_weight": (h, c, 3, 3), "a_bias": (h,), "b_weight": (h, h, 3, 3),
                "b_bias": (h,), "c_weight": (c, h, 1, 1), "c_bias": (c,)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The restored (C, H, W) float32 tensor."""
        x = np.asarray(x, np.float32)
        h = _silu(_conv3x3(x, self.a_weight, self.a_bias))
        h = _silu(_conv3x3(h, self.b_weight, self.b_bias))
        c = self.c_weight.reshape(self.channels, self.hidden)
        out = (c @ h.reshape(self.hidden, -1)).reshape(x.shape)
        return x + out + self.c_bias[:, None, None]


@dataclass
class RestorationModel:
    """A parsed model file: its header (metadata) and one restorer per tensor, by name."""

    sha256: bytes
    header: dict[str, Any]
    tensors: dict[str, TensorRestorer] = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str:
        return str(self.header.get("name", self.sha256.hex()[:16]))

    def check_shapes(self, shapes: dict[str, tuple[int, int, int]]) -> None:
        """Refuse a stream whose tensors (name -> (C, H, W)) this model does not restore."""
        want = {n: r.channels for n, r in self.tensors.items()}
        have = {n: s[0] for n, s in shapes.items()}
        if want != have:
            raise RestorationError(
                f"restoration model {self.name} ({self.sha256.hex()[:16]}...) restores tensors "
                f"{_describe(want)}, the stream has {_describe(have)}")

    def restore(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The restored tensors ((C, H, W) or (F, C, H, W) each), float32."""
        self.check_shapes({n: tuple(x.shape[-3:]) for n, x in tensors.items()})
        out = {}
        for name, x in tensors.items():
            x = np.asarray(x, np.float32)
            if x.ndim == 4:
                out[name] = np.stack([self.tensors[name](f) for f in x])
            else:
                out[name] = self.tensors[name](x)
        return out


def _describe(channels: dict[str, int]) -> str:
    return "{" + ", ".join(f"{n}: {c} channels" for n, c in channels.items()) + "}"


def _silu(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return v / (np.float32(1) + np.exp(-v))


def _conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Cross-correlation of (C, H, W) with (K, C, 3, 3), zero padding 1, plus bias: (K, H, W)."""
    c, h, w = x.shape
    padded = np.zeros((c, h + 2, w + 2), np.float32)
    padded[:, 1:-1, 1:-1] = x
    columns = np.empty((c, 3, 3, h, w), np.float32)
    for dy in range(3):
        for dx in range(3):
            columns[:, dy, dx] = padded[:, dy:dy + h, dx:dx + w]
    k = weight.shape[0]
    out = weight.reshape(k, c * 9) @ columns.reshape(c * 9, h * w)
    return out.reshape(k, h, w) + bias[:, None, None]


# -- the model file (clause 8.1) ------------------------------------------------------------


def model_bytes(header: dict[str, Any], tensors: list[TensorRestorer]) -> bytes:
    """A model file's bytes; the header gets the architecture and tensor list filled in."""
    header = dict(header)
    header["architecture"] = ARCHITECTURE
    header["tensors"] = [{"name": r.name, "channels": r.channels, "hidden": r.hidden}
                         for r in tensors]
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    parts = [MAGIC, bytes([FORMAT_VERSION]), struct.pack("<I", len(text)), text]
    for r in tensors:
        for key, shape in r.shapes().items():
            a = np.asarray(getattr(r, key), np.float32)
            if a.shape != shape:
                raise RestorationError(f"tensor {r.name!r}: {key} has shape {a.shape}, "
                                       f"expected {shape}")
            if not np.isfinite(a).all():
                raise RestorationError(f"tensor {r.name!r}: {key} is not finite")
            parts.append(a.astype("<f4").tobytes())
    return b"".join(parts)


def parse_model(data: bytes, where: str = "restoration model") -> RestorationModel:
    """A model from a file's bytes; every malformation is a RestorationError naming it."""
    if data[:4] != MAGIC:
        raise RestorationError(f"{where}: not a restoration model file (expected the magic "
                               f"'VCMR', found {data[:4]!r})")
    if len(data) < 9 or data[4] != FORMAT_VERSION:
        version = data[4] if len(data) > 4 else None
        raise RestorationError(f"{where}: format version {version}, expected {FORMAT_VERSION}")
    (size,) = struct.unpack("<I", data[5:9])
    if size > MAX_HEADER_BYTES or 9 + size > len(data):
        raise RestorationError(f"{where}: header of {size} bytes does not fit the file")
    try:
        header = json.loads(data[9:9 + size].decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise RestorationError(f"{where}: unreadable header ({type(e).__name__})") from None
    entries = header.get("tensors") if isinstance(header, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str)
            and all(type(e.get(k)) is int for k in ("channels", "hidden")) for e in entries):
        raise RestorationError(f"{where}: the header must be an object whose 'tensors' lists "
                               "objects with a string 'name' and integer 'channels', 'hidden'")
    specs = [(e["name"], e["channels"], e["hidden"]) for e in entries]
    if header.get("architecture") != ARCHITECTURE:
        raise RestorationError(f"{where}: architecture {header.get('architecture')!r}, "
                               f"expected {ARCHITECTURE!r}")
    if not specs or len({n for n, _, _ in specs}) != len(specs):
        raise RestorationError(f"{where}: the header must list distinct tensors")
    offset, tensors = 9 + size, {}
    for name, channels, hidden in specs:
        if not (0 < channels <= 1 << 16 and 0 < hidden <= 1 << 12):
            raise RestorationError(f"{where}: tensor {name!r} has {channels} channels and "
                                   f"{hidden} hidden channels, expected 1..65536 and 1..4096")
        r = TensorRestorer(name, channels, hidden, *([None] * 6))  # type: ignore[arg-type]
        for key, shape in r.shapes().items():
            count = int(np.prod(shape))
            if count > MAX_WEIGHTS or offset + 4 * count > len(data):
                raise RestorationError(f"{where}: the file ends inside {key} of tensor {name!r}")
            a = np.frombuffer(data, "<f4", count, offset).reshape(shape).astype(np.float32)
            if not np.isfinite(a).all():
                raise RestorationError(f"{where}: {key} of tensor {name!r} is not finite")
            setattr(r, key, a)
            offset += 4 * count
        tensors[name] = r
    if offset != len(data):
        raise RestorationError(f"{where}: {len(data) - offset} bytes after the last weight")
    return RestorationModel(hashlib.sha256(data).digest(), header, tensors)


_BY_FILE: dict[tuple[str, int, int], RestorationModel] = {}


def load_model(path: str | os.PathLike) -> RestorationModel:
    """The model in a file (the last few files read are kept, by path, size and mtime: an
    encoder names the same model for every item)."""
    p = Path(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if key in _BY_FILE:
            return _BY_FILE[key]
        data = p.read_bytes()
    except OSError as e:
        raise RestorationError(f"restoration model {p}: cannot read it ({e.strerror})") from None
    model = parse_model(data, f"restoration model {p}")
    model.path = p
    if len(_BY_FILE) >= 4:
        _BY_FILE.pop(next(iter(_BY_FILE)))
    _BY_FILE[key] = model
    return model


def model_folders() -> list[Path]:
    """Where models are looked up: the folders of $VCMREF_RESTORATION_MODELS, then the
    package's own."""
    extra = [Path(d) for d in os.environ.get(MODELS_ENV, "").split(os.pathsep) if d]
    return [*extra, Path(str(resources.files("vcmref.refsw") / "restoration_models"))]


def shipped_models() -> dict[str, Path]:
    """Model name (file stem) -> path, for every model file in the lookup folders (the
    first folder wins for a name)."""
    found: dict[str, Path] = {}
    for folder in model_folders():
        if folder.is_dir():
            for p in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
                found.setdefault(p.stem, p)
    return found


def find_model(sha256: bytes) -> RestorationModel:
    """The model whose file has this SHA-256, from the lookup folders."""
    for path in shipped_models().values():
        if hashlib.sha256(path.read_bytes()).digest() == sha256:
            return load_model(path)
    folders = ", ".join(str(f) for f in model_folders())
    raise RestorationError(f"the stream names restoration model {sha256.hex()}, which is not "
                           f"in {folders} (add its folder to ${MODELS_ENV}, or decode without "
                           "restoration: vcmref decode --no-restoration)")


_LOADED: dict[bytes, RestorationModel] = {}


def model_for(sha256: bytes) -> RestorationModel:
    """find_model, keeping the last few models loaded (a CTC worker decodes many streams)."""
    if sha256 not in _LOADED:
        if len(_LOADED) >= 4:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[sha256] = find_model(sha256)
    return _LOADED[sha256]


def resolve_model(name_or_path: str | os.PathLike) -> RestorationModel:
    """A model by shipped name (file stem) or by file path."""
    known = shipped_models()
    if str(name_or_path) in known:
        return load_model(known[str(name_or_path)])
    p = Path(name_or_path)
    if p.suffix == MODEL_SUFFIX or p.exists():
        return load_model(p)
    raise RestorationError(f"restoration model {str(name_or_path)!r}: not a model file, nor "
                           f"one of the known models ({', '.join(known) or 'none'})")
