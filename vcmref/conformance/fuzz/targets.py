"""The functions under test, and how one input's outcome on each is classified.

A target takes the input bytes and returns a short digest, or raises BitstreamError on a
non-conforming input; anything else (another exception, a successful decode that breaks a
promise of DecodeResult, a BitstreamError without a message) is a failure."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import struct
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vcmref.bitstream.extract import extract
from vcmref.bitstream.inspect import inspect_stream
from vcmref.errors import BitstreamError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import Decoder, DecodeResult
from vcmref.refsw.rans_decoder import compiled_kernel

NUMPY_ONLY_ENV = "VCMREF_NUMPY_ONLY"


class ContractViolationError(AssertionError):
    """A decode that succeeded but broke a promise of DecodeResult (or an empty error)."""


class Target(NamedTuple):
    """One function under test: takes the input bytes, returns a short digest or None, raises
    BitstreamError on a non-conforming input and nothing else."""

    name: str
    fn: Callable[[bytes], Any]


@contextlib.contextmanager
def numpy_only(flag: bool) -> Iterator[None]:
    """Set (or clear) VCMREF_NUMPY_ONLY for the duration; the decoder reads it at each call."""
    old = os.environ.get(NUMPY_ONLY_ENV)
    if flag:
        os.environ[NUMPY_ONLY_ENV] = "1"
    else:
        os.environ.pop(NUMPY_ONLY_ENV, None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(NUMPY_ONLY_ENV, None)
        else:
            os.environ[NUMPY_ONLY_ENV] = old


def kernel_available() -> bool:
    with numpy_only(False):
        return compiled_kernel() is not None


def check_decoded(res: DecodeResult) -> None:
    """What a caller may rely on when decoding succeeds (raises ContractViolationError)."""
    sps = res.sps
    for fr in res.frames:
        for ti in sps.tensors:
            s, y = fr.samples[ti.name], fr.tensors[ti.name]
            shape = (ti.channels, ti.height, ti.width)
            if s.shape != shape or y.shape != shape:
                raise ContractViolationError(f"tensor {ti.name!r}: shapes {s.shape}, {y.shape}, "
                                        f"SPS says {shape}")
            if s.dtype != np.int32 or y.dtype != np.float32:
                raise ContractViolationError(f"tensor {ti.name!r}: dtypes {s.dtype}, {y.dtype}")
            if s.size and (s.min() < sps.sample_min or s.max() > sps.sample_max):
                raise ContractViolationError(f"tensor {ti.name!r}: samples in [{s.min()}, "
                                        f"{s.max()}], outside [{sps.sample_min}, "
                                        f"{sps.sample_max}]")
            if not np.isfinite(y).all():
                raise ContractViolationError(f"tensor {ti.name!r}: non-finite decoded values")


def result_digest(res: DecodeResult) -> str:
    """Short digest of every decoded sample (for comparing the two decoding paths)."""
    h = hashlib.sha1()
    for fr in res.frames:
        h.update(struct.pack(">q", fr.frame_index))
        for name in sorted(fr.samples):
            h.update(name.encode())
            h.update(np.ascontiguousarray(fr.samples[name]).tobytes())
    return f"{len(res.frames)}:{h.hexdigest()[:16]}"


def _decode(data: bytes, numpy: bool, max_layers: int | None = None) -> str:
    with numpy_only(numpy):
        res = Decoder(max_layers=max_layers, inner_decoder=decode_inner_pictures).decode(data)
    check_decoded(res)
    return result_digest(res)


def decode_kernel(data: bytes) -> str:
    return _decode(data, numpy=False)


def decode_numpy(data: bytes) -> str:
    return _decode(data, numpy=True)


def decode_max_layers_1(data: bytes) -> str:
    return _decode(data, numpy=False, max_layers=1)


def inspect_target(data: bytes) -> str:
    sig, units = inspect_stream(data)
    return f"{len(units)} units"


def extract_target(data: bytes) -> str:
    out = extract(data, max_layers=1)
    return f"{len(out)} bytes"


KERNEL_TARGET, NUMPY_TARGET = "decode/kernel", "decode/numpy"


def default_targets() -> list[Target]:
    """Both decoding paths (the kernel one only where it is built), a layer-limited decode,
    inspect and extract."""
    targets = []
    if kernel_available():
        targets.append(Target(KERNEL_TARGET, decode_kernel))
    targets += [Target(NUMPY_TARGET, decode_numpy),
                Target("decode/max_layers=1", decode_max_layers_1),
                Target("inspect", inspect_target),
                Target("extract", extract_target)]
    return targets


# Outcome of one target on one input (plain tuples: they cross the worker pipe):
#   ("ok", digest) | ("error", feature) | ("fail", exc_type, message, traceback, location)
Outcome = tuple


_NUMBER_RE = re.compile(r"0x[0-9a-fA-F]+|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def error_feature(e: BitstreamError) -> str:
    """A BitstreamError with its numbers blanked: the kind of check that rejected the input."""
    unit = e.unit or ""
    unit = unit.split(":", 1)[1] if ":" in unit else _NUMBER_RE.sub("#", unit)
    element = re.sub(r"\[[^\]]*\]", "", e.element or "")
    return f"{unit}|{element}|{_NUMBER_RE.sub('#', e.reason)}"[:240]


def _location(tb: traceback.StackSummary) -> str:
    """Where an exception caught in run_target came from: the innermost frame of vcmref code
    (this harness aside), else the innermost frame; as 'file.py:123 in fn'."""
    frames = list(tb)[1:] or list(tb)  # the first frame is run_target's
    here = os.path.dirname(os.path.abspath(__file__))
    ours = [f for f in frames if f"{os.sep}vcmref{os.sep}" in f.filename
            and os.path.dirname(os.path.abspath(f.filename)) != here]
    f = (ours or frames)[-1] if frames else None
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}" if f else "?"


def run_target(target: Target, data: bytes) -> Outcome:
    try:
        return ("ok", target.fn(data))
    except BitstreamError as e:
        if not str(e):
            return ("fail", "ContractViolationError", "BitstreamError with an empty message",
                    traceback.format_exc(), _location(traceback.extract_tb(e.__traceback__)))
        return ("error", error_feature(e))
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - anything else is what we look for
        return ("fail", type(e).__name__, str(e)[:2000], traceback.format_exc(),
                _location(traceback.extract_tb(e.__traceback__)))


def check_input(data: bytes, targets: Sequence[Target] | None = None) -> list[tuple[str, Outcome]]:
    """Run every target on one input in this process: [(target name, outcome)]."""
    targets = default_targets() if targets is None else targets
    return [(t.name, run_target(t, data)) for t in targets]
