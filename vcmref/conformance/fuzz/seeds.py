"""The seed corpus: small, varied valid streams made with the reference encoder, and the
conformance suite's streams."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np

from vcmref.bitstream.extract import extract
from vcmref.bitstream.frame_units import RESTORATION_TYPE_RESIDUAL_CONV
from vcmref.bitstream.units import UnitType
from vcmref.conformance.fuzz.container import RawUnit, join_units, split_units
from vcmref.conformance.suite import SUITE_DIR
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.refsw.encoder import EncoderConfig, encode

DEFAULT_SUITE_DIR = SUITE_DIR
MAX_SEED_BYTES = 1 << 20  # suite files larger than this are not used as seeds


def _silu_like(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0,
               shift: float = 0.0) -> np.ndarray:
    x = rng.normal(size=shape) * scale + shift
    with np.errstate(over="ignore"):
        return (x / (1.0 + np.exp(-x))).astype(np.float32)


def builtin_seeds() -> list[tuple[str, bytes]]:
    """Small, varied, valid streams: every quantization mode, bit depths 1 to 16, one to three
    layers (with explicit references), several tensors and frames, one or many data units per
    tile, wavefront blocks and lane limits, escape tokens, a one-token model, reserved units,
    a restoration_model unit, temporal prediction (profile 2: predicted frames and a
    random-access point), a stream without frames and an extracted sub-stream.
    Deterministic."""
    rng = np.random.default_rng(20240601)
    a = {"t0": _silu_like(rng, (2, 5, 6, 7)), "t1": _silu_like(rng, (2, 3, 4, 4)),
         "t2": _silu_like(rng, (2, 2, 1, 9))}
    big = {"x": (rng.normal(size=(1, 2, 6, 6)) * 8.0).astype(np.float32)}
    cases: list[tuple[str, dict[str, np.ndarray], EncoderConfig]] = [
        ("minmax-channel-2layers-rows3", a,
         EncoderConfig(layers=2, rows_per_unit=3, quant="minmax-channel", bit_depth=8)),
        ("qp-block2-lanes3-direct3", a,
         EncoderConfig(layers=2, quant="qp", qp=40, bit_depth=6, wavefront_block_size=2,
                       direct_token_log2=3, max_magnitude_class=3, lane_limit=3)),
        ("step-12bit-nohash-cols2", {"t0": a["t0"]},
         EncoderConfig(quant="step", step=0.05, bit_depth=12, hashes=False, tile_columns=2)),
        ("minmax-1bit", {"m": _silu_like(rng, (1, 4, 3, 3))},
         EncoderConfig(bit_depth=1)),
        ("step-16bit-escapes-direct2", big,
         EncoderConfig(quant="step", step=1e-3, bit_depth=16, direct_token_log2=2,
                       max_magnitude_class=2)),
        ("lane0-block1", {"w": _silu_like(rng, (1, 2, 5, 8))},
         EncoderConfig(lane_limit=0, wavefront_block_size=1, bit_depth=7)),
        ("qp-3layers-refs-order-padding",
         {"t0": _silu_like(rng, (1, 6, 3, 4)), "t1": _silu_like(rng, (1, 3, 2, 5))},
         EncoderConfig(quant="qp", qp=30, tensor_qp={"t0": 20, "t1": 50}, layers=3,
                       layer_refs=[[], [0], [0]], channel_order={"t0": [5, 4, 3, 2, 1, 0]},
                       tile_padding=1, bit_depth=9)),
        ("3frames-rows1", {"f": _silu_like(rng, (3, 2, 3, 5))},
         EncoderConfig(rows_per_unit=1, quant="minmax", bit_depth=10)),
        ("constant-one-token-model", {"z": np.zeros((1, 2, 4, 4), dtype=np.float32)},
         EncoderConfig(quant="step", step=0.1, bit_depth=8)),
        ("single-sample", {"s": np.full((1, 1, 1, 1), 0.5, dtype=np.float32)},
         EncoderConfig(quant="minmax", bit_depth=4)),
        ("level20-names-one-context", {"n": _silu_like(rng, (1, 17, 2, 3))},
         EncoderConfig(level=20, model_id="yolox-nano", split_point="dark3",
                       max_magnitude_class=0, direct_token_log2=6, bit_depth=10)),
        ("many-contexts-wide-lanes", {"v": _silu_like(rng, (1, 1, 16, 40), scale=3.0)},
         EncoderConfig(quant="step", step=0.01, bit_depth=14, direct_token_log2=6,
                       max_magnitude_class=9, lane_limit=64, rows_per_unit=5)),
        ("layer-uneven-explicit-plan",
         {"p": _silu_like(rng, (2, 5, 2, 2)), "q": _silu_like(rng, (2, 2, 3, 3))},
         EncoderConfig(layer_channels=[{"p": 4}, {"p": 1, "q": 2}], layer_refs=[[], []],
                       quant="minmax-channel", bit_depth=5, wavefront_block_size=3,
                       lane_limit=2)),
        # spec clause 5.9.1: frames 1 and 3 predicted from the frame before, frame 2 a
        # random-access point; signed samples (step) whose differences wrap around
        ("inter-step-2layers-period2",
         {"i": _silu_like(rng, (4, 4, 3, 5), scale=3.0), "j": _silu_like(rng, (4, 2, 2, 3))},
         EncoderConfig(quant="step", step=0.05, bit_depth=6, layers=2, intra_period=2,
                       rows_per_unit=2)),
        ("inter-minmax-period0", {"k": _silu_like(rng, (3, 2, 4, 4))},
         EncoderConfig(quant="minmax", bit_depth=3, intra_period=0)),
    ]
    seeds = []
    for name, tensors, cfg in cases:
        try:
            seeds.append((name, encode(tensors, cfg)))
        except EncoderInputError:  # pragma: no cover - a seed the encoder no longer takes
            continue
    by_name = dict(seeds)
    first = by_name.get("minmax-channel-2layers-rows3") or seeds[0][1]
    chunks = split_units(first)[1]
    if len(chunks) >= 2:  # SPS then end of stream: a valid stream with no frame
        seeds.append(("no-frames", join_units(chunks[:1] + chunks[-1:])))
        reserved = [RawUnit.make(7, 0, b"\x00\x01"), RawUnit.make(127, 0, b"")]
        seeds.append(("reserved-units",
                      join_units(chunks[:1] + reserved[:1] + chunks[1:-1] + reserved[1:]
                                 + chunks[-1:])))
        # spec clause 4.9: after the stream parameter set, before the first frame header
        restoration = RawUnit.make(UnitType.RESTORATION_MODEL, 0, bytes(
            [RESTORATION_TYPE_RESIDUAL_CONV]) + hashlib.sha256(b"fuzz seed model").digest())
        seeds.append(("restoration-model", join_units(chunks[:1] + [restoration] + chunks[1:])))
    with contextlib.suppress(BitstreamError):
        seeds.append(("extracted-layer0", extract(first, max_layers=1)))
    return seeds


def suite_seeds(suite_dir: Path | str | None = None,
                max_bytes: int = MAX_SEED_BYTES) -> list[tuple[str, bytes]]:
    """The conformance suite's streams (``*.vcm`` under suite_dir, recursively), smallest
    files first; [] when the folder does not exist."""
    root = Path(suite_dir) if suite_dir is not None else DEFAULT_SUITE_DIR
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.rglob("*.vcm")):
        with contextlib.suppress(OSError):
            if p.is_file() and p.stat().st_size <= max_bytes:
                out.append((str(p.relative_to(root)), p.read_bytes()))
    return out


def seed_corpus(suite_dir: Path | str | None = None,
                use_suite: bool = True) -> list[tuple[str, bytes]]:
    """Built-in seeds, then the suite's streams (when present)."""
    seeds = [(f"builtin:{n}", d) for n, d in builtin_seeds()]
    if use_suite:
        seeds += [(f"suite:{n}", d) for n, d in suite_seeds(suite_dir)]
    return seeds
