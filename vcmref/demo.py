"""The README's first command: an embedded example tensor through encode, inspect, extract and
decode, with the checks a user would make by hand; then a small CTC run on photographs that
scikit-image ships (human viewing, and machine vision when the reference detector is found)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vcmref.bitstream.extract import extract
from vcmref.bitstream.inspect import format_text, inspect_stream
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder import Encoder, EncoderConfig

DEMO_STEP = 0.1


def example_tensors(seed: int = 2026) -> dict[str, np.ndarray]:
    """Two feature-like tensors: SiLU of smooth Gaussian fields with per-channel offsets, like
    the outputs of a detector's backbone (sparse small negatives, a long positive tail)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (c, h, w) in {"p3": (32, 40, 40), "p4": (64, 20, 20)}.items():
        z = rng.standard_normal((c, h + 4, w + 4))
        box = np.ones(5) / 5
        for axis in (1, 2):
            z = np.apply_along_axis(np.convolve, axis, z, box, mode="valid")
        z = 2.2 * z + rng.normal(-1.0, 1.0, (c, 1, 1))
        out[name] = (z / (1 + np.exp(-z))).astype(np.float32)
    return out


def run_demo(workdir: Path, say: Callable[[str], None] = print) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    tensors = example_tensors()
    np.savez(workdir / "example.npz", **tensors)
    n = sum(x.size for x in tensors.values())
    say(f"1. example tensors {', '.join(f'{k} {x.shape}' for k, x in tensors.items())} "
        f"-> {workdir / 'example.npz'}")

    enc = Encoder(EncoderConfig(quant="step", step=DEMO_STEP, bit_depth=12, layers=2,
                                model_id="demo", split_point="synthetic"))
    stream = enc.encode(tensors)
    (workdir / "example.vcm").write_bytes(stream)
    rep = enc.report
    say(f"2. encode: uniform step {DEMO_STEP}, 12-bit samples, 2 layers -> {len(stream)} bytes, "
        f"{8 * len(stream) / n:.3f} bits/sample; entropy-coded data within "
        f"{100 * (8 * rep.ans_bytes / rep.ideal_bits - 1):+.2f}% of the model's ideal length")

    sig, units = inspect_stream(stream)
    (workdir / "example.inspect.txt").write_text(format_text(sig, units) + "\n")
    kinds: dict[str, int] = {}
    for u in units:
        kinds[u.type_name] = kinds.get(u.type_name, 0) + 1
    n_el = len(sig) + sum(len(u.header) + len(u.payload) for u in units)
    say(f"3. inspect: {len(units)} units ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
        f"{n_el} syntax elements -> {workdir / 'example.inspect.txt'}")

    base = extract(stream, max_layers=1)
    (workdir / "example.base.vcm").write_bytes(base)
    say(f"4. extract layer 0: {len(base)} bytes -> {workdir / 'example.base.vcm'}")

    full = Decoder().decode(stream)
    part = Decoder().decode(base)
    err = max(float(np.abs(full.frames[0].tensors[k] - x).max()) for k, x in tensors.items())
    same = all(
        np.array_equal(part.frames[0].samples[k][: x.shape[0] // 2],
                       full.frames[0].samples[k][: x.shape[0] // 2])
        for k, x in tensors.items())
    np.savez(workdir / "example.decoded.npz", **full.stacked_tensors())
    say(f"5. decode: max |error| {err:.4f} (step/2 = {DEMO_STEP / 2}), "
        f"{sum(f.hashes_checked for f in full.frames)} MD5 hashes verified; base-layer stream "
        f"decodes layers {part.frames[0].layers} and matches the full decode's base layer: {same}")
    if err > DEMO_STEP / 2 + 1e-6 or not same:
        raise RuntimeError("demo round trip failed")
    say(f"done: files in {workdir}/")


def run_ctc_demo(workdir: Path, model: Path | None, workers: int,
                 say: Callable[[str], None] = print) -> list[Path]:
    """The demo configs: human viewing always; the machine part when a model is available.
    Returns the HTML reports."""
    from vcmref.ctc.jobs import RunLayout
    from vcmref.ctc.pipeline import run_ctc
    from vcmref.tasks.base import TaskModelError
    from vcmref.tasks.model_files import find_yolox_model

    reports = []
    say("6. CTC demo, human viewing: 4 photographs from scikit-image, VVC (anchor) against "
        "HEVC, PSNR and MS-SSIM (the vcmref feature codec is compared in the machine part)")
    run_ctc("demo", workdir / "runs" / "demo", [], workers, None, "all", True, say)
    reports.append(RunLayout(workdir / "runs" / "demo").report / "report.html")
    try:  # --model, else $VCMREF_YOLOX_MODEL, the user cache, the shared assets
        path, _ = find_yolox_model(model)
    except TaskModelError as e:
        say(f"7. machine vision part skipped: {e}")
        return reports
    say(f"7. CTC demo, machine vision: YOLOX-Nano ({path}) split at its backbone, the vcmref "
        "codec against the VVC feature anchor, mAP on pseudo ground truth (task fidelity)")
    run_ctc("demo_machine", workdir / "runs" / "demo_machine",
            [] if model is None else [f"task.model_path={path}"], workers, None, "all", True,
            say)
    reports.append(RunLayout(workdir / "runs" / "demo_machine").report / "report.html")
    return reports
