"""Compression and speed of vcmref on real YOLOX-Nano features, against ffmpeg's VVC decoder.

Run from the repository root:

    .venv/bin/python benchmarks/codec_benchmark.py [--quick] [--json out.json]

1. Compression: the 8 corpus images (dark3, dark4, dark5 coded together in one stream per
   image) at uniform steps 0.1 and 0.4, against the sum over channels of the zeroth-order
   entropy of each channel's quantized samples.
2. Speed on one core: encode and decode throughput, best of 3, per corpus image and on a
   256x64x64 tensor resampled from real dark3 features.
3. ffmpeg's native VVC decoder (libvvenc, QP 32, preset faster, one 10-bit monochrome frame)
   against vcmref's decoder on the same samples.
4. The lane limit (stream size against numpy decoding speed) and the two decoder paths: the
   compiled kernel and numpy only (VCMREF_NUMPY_ONLY=1), on one corpus image.

``--quick`` uses 2 corpus images and 1 repeat (a smoke test).  Exit status 2: no features.
"""

from __future__ import annotations

import os

# Before numpy loads: no BLAS thread pools.  vcmref itself uses elementwise numpy only.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from vcmref.assets import feature_files, shared_dir  # noqa: E402
from vcmref.refsw.decoder import Decoder  # noqa: E402
from vcmref.refsw.encoder import Encoder, EncoderConfig  # noqa: E402

T = TypeVar("T")
Tensors = dict[str, np.ndarray]

TENSOR_NAMES = ("dark3", "dark4", "dark5")
STEPS = (0.1, 0.4)
STEP_BIT_DEPTH = 12
MINMAX_BIT_DEPTH = 10
REPEATS = 3
QUICK_IMAGES = 2
LARGE_SOURCES = 4  # dark3 of this many images -> 256 channels
LARGE_SIZE = 64
VVC_QP = 32
VVC_PRESET = "faster"
VVC_REPEATS = 5
VVC_FRAMES = 32
QUICK_VVC_FRAMES = 8


# ---------------------------------------------------------------------------------------------
# Machine and inputs


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, cores, load and software versions, for the header and the JSON."""
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_1_5_15": [float(v) for v in load],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_threads": 1,
        "platform": platform.platform(),
    }


def print_header(info: dict[str, Any], quick: bool) -> None:
    """Print the machine header."""
    print(f"vcmref codec benchmark{' (--quick)' if quick else ''}")
    print(f"machine: {info['cpu']}, {info['cores']} cores "
          f"({info['usable_cores']} usable), load average {info['loadavg_1_5_15']}")
    print(f"software: Python {info['python']}, numpy {info['numpy']} "
          f"(single-threaded: OPENBLAS/OMP/MKL_NUM_THREADS=1, vcmref uses no BLAS), "
          f"{info['platform']}")


def load_image(path: Path) -> Tensors:
    """The three float32 (C, H, W) tensors of one feature file, in fixed order."""
    with np.load(path) as npz:
        return {name: np.ascontiguousarray(npz[name], dtype=np.float32) for name in TENSOR_NAMES}


def samples_of(tensors: Tensors) -> int:
    """Total number of samples of a dict of tensors."""
    return sum(x.size for x in tensors.values())


def bilinear_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Resample one axis of ``x`` to ``size`` bilinearly (half-pixel centres, edge clamped)."""
    n = x.shape[axis]
    pos = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0.0, n - 1.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac_shape = [1] * x.ndim
    frac_shape[axis] = size
    frac = (pos - lo).reshape(frac_shape)
    return np.take(x, lo, axis=axis) * (1.0 - frac) + np.take(x, hi, axis=axis) * frac


def large_tensor(images: list[Tensors]) -> np.ndarray:
    """256x64x64 float32: dark3 of 4 images stacked to 256 channels, each resampled to 64x64."""
    stacked = np.concatenate([img["dark3"] for img in images[:LARGE_SOURCES]]).astype(np.float64)
    out = bilinear_axis(bilinear_axis(stacked, LARGE_SIZE, 1), LARGE_SIZE, 2)
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Codec helpers


def step_config(step: float) -> EncoderConfig:
    """Uniform-step quantization at 12 bits."""
    return EncoderConfig(quant="step", step=step, bit_depth=STEP_BIT_DEPTH)


def minmax_config() -> EncoderConfig:
    """Per-tensor min/max quantization at 10 bits (the VVC packing's samples)."""
    return EncoderConfig(quant="minmax", bit_depth=MINMAX_BIT_DEPTH)


def encode(tensors: Tensors, cfg: EncoderConfig) -> tuple[bytes, Encoder]:
    """Encode tensors with a fresh encoder; return the stream and the encoder (for its report)."""
    enc = Encoder(cfg)
    return enc.encode(tensors), enc


def decode_samples(stream: bytes) -> dict[str, np.ndarray]:
    """Decode a one-frame stream to its integer samples, per tensor."""
    return Decoder().decode(stream).frames[0].samples


def step_samples(x: np.ndarray, step: float) -> np.ndarray:
    """The reference quantization q = rint(x / float32(step)), as int64."""
    return np.rint(x / np.float32(step)).astype(np.int64)


def minmax_samples(x: np.ndarray, bit_depth: int = MINMAX_BIT_DEPTH) -> np.ndarray:
    """rint((x - min) / (max - min) * (2**B - 1)) with the per-tensor float32 min and max."""
    lo, hi = float(np.float32(x.min())), float(np.float32(x.max()))
    if hi <= lo:
        return np.zeros(x.shape, dtype=np.int64)
    q = np.rint((x.astype(np.float64) - lo) / (hi - lo) * ((1 << bit_depth) - 1))
    return np.clip(q, 0, (1 << bit_depth) - 1).astype(np.int64)


def channel_entropy_bits(q: np.ndarray) -> float:
    """Sum over channels of n_c * H0(channel c) in bits, for integer samples (C, H, W)."""
    total = 0.0
    for plane in q:
        _, counts = np.unique(plane, return_counts=True)
        p = counts / plane.size
        total += float(-(counts * np.log2(p)).sum())
    return total


def check_step_round_trip(stream: bytes, tensors: Tensors, step: float) -> None:
    """Raise unless the decoded samples equal the reference quantization of every tensor."""
    decoded = decode_samples(stream)
    for name, x in tensors.items():
        if not np.array_equal(decoded[name], step_samples(x, step)):
            raise RuntimeError(f"decoded samples of {name} differ from rint(x / {step})")


def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, float, T]:
    """(best wall seconds, CPU/wall of that run, last result) of ``repeats`` calls of ``fn``."""
    best, ratio, result = math.inf, 0.0, None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, ratio = wall, (time.process_time() - c0) / wall
    return best, ratio, result  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# 1. Compression


def compression_row(images: list[Tensors], step: float) -> dict[str, Any]:
    """Stream size, entropy reference, coder overhead and side information at one step."""
    stream_bytes = ans_bytes = samples = 0
    ideal_bits = entropy_bits = 0.0
    for tensors in images:
        stream, enc = encode(tensors, step_config(step))
        check_step_round_trip(stream, tensors, step)
        rep = enc.report
        if rep.clipped_samples:
            raise RuntimeError(f"{rep.clipped_samples} samples clipped at step {step}")
        stream_bytes += len(stream)
        ans_bytes += rep.ans_bytes
        ideal_bits += rep.ideal_bits
        samples += rep.samples
        entropy_bits += sum(channel_entropy_bits(step_samples(x, step)) for x in tensors.values())
    if samples != sum(samples_of(t) for t in images):
        raise RuntimeError(f"encoder reports {samples} samples, the corpus has "
                           f"{sum(samples_of(t) for t in images)}")
    bps = 8 * stream_bytes / samples
    h0 = entropy_bits / samples
    return {
        "step": step, "images": len(images), "samples": samples, "stream_bytes": stream_bytes,
        "stream_bits_per_sample": bps, "entropy_bits_per_sample": h0, "ratio": bps / h0,
        "ans_overhead_percent": 100 * (8 * ans_bytes / ideal_bits - 1),
        "side_info_bits_per_sample": 8 * (stream_bytes - ans_bytes) / samples,
    }


def print_compression(rows: list[dict[str, Any]]) -> None:
    """Print section 1."""
    n = rows[0]
    print(f"\n1. Compression: {n['images']} corpus images x (dark3 64x52x52, dark4 128x26x26, "
          f"dark5 256x13x13) = {n['samples']} samples; one stream per image, 12-bit samples")
    print("   H0 = sum over channels of the zeroth-order entropy of q = rint(x / float32(step));"
          " all streams decoded and checked equal to q")
    print(f"   {'step':>5} {'stream':>11} {'stream':>12} {'H0':>12} {'stream/H0':>9} "
          f"{'rANS vs ideal':>13} {'side info':>12}")
    print(f"   {'':>5} {'(bytes)':>11} {'(bit/sample)':>12} {'(bit/sample)':>12} {'':>9} "
          f"{'(%)':>13} {'(bit/sample)':>12}")
    for r in rows:
        print(f"   {r['step']:>5} {r['stream_bytes']:>11} {r['stream_bits_per_sample']:>12.4f} "
              f"{r['entropy_bits_per_sample']:>12.4f} {r['ratio']:>9.4f} "
              f"{r['ans_overhead_percent']:>+13.3f} {r['side_info_bits_per_sample']:>12.4f}")


# ---------------------------------------------------------------------------------------------
# 2. Speed


def time_codec(tensors: Tensors, cfg: EncoderConfig, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` encode and decode seconds of one stream, with CPU/wall ratios."""
    enc_s, enc_cpu, (stream, _) = best_time(lambda: encode(tensors, cfg), repeats)
    dec_s, dec_cpu, _ = best_time(lambda: Decoder().decode(stream), repeats)
    return {"encode_s": enc_s, "decode_s": dec_s, "encode_cpu_per_wall": enc_cpu,
            "decode_cpu_per_wall": dec_cpu, "stream_bytes": len(stream)}


def speed_row(label: str, inputs: list[Tensors], step: float, repeats: int) -> dict[str, Any]:
    """Throughput over ``inputs`` (one stream each): samples / sum of per-stream best times."""
    timings = [time_codec(t, step_config(step), repeats) for t in inputs]
    samples = sum(samples_of(t) for t in inputs)
    enc_s = sum(t["encode_s"] for t in timings)
    dec_s = sum(t["decode_s"] for t in timings)
    return {
        "input": label, "step": step, "streams": len(inputs), "samples": samples,
        "encode_s": enc_s, "decode_s": dec_s,
        "encode_msamples_per_s": samples / enc_s / 1e6,
        "decode_msamples_per_s": samples / dec_s / 1e6,
        "min_cpu_per_wall": min(min(t["encode_cpu_per_wall"], t["decode_cpu_per_wall"])
                                for t in timings),
    }


def print_speed(rows: list[dict[str, Any]], repeats: int) -> None:
    """Print section 2."""
    print(f"\n2. Speed on one core (single thread; best of {repeats} per stream, "
          "time.perf_counter; decode verifies the MD5 data hashes)")
    print(f"   {'input':<34} {'step':>5} {'samples':>9} {'encode':>9} {'encode':>10} "
          f"{'decode':>9} {'decode':>10} {'CPU/wall':>8}")
    print(f"   {'':<34} {'':>5} {'':>9} {'(ms)':>9} {'(Msample/s)':>10} "
          f"{'(ms)':>9} {'(Msample/s)':>10} {'(min)':>8}")
    for r in rows:
        print(f"   {r['input']:<34} {r['step']:>5} {r['samples']:>9} {1e3 * r['encode_s']:>9.1f} "
              f"{r['encode_msamples_per_s']:>10.3f} {1e3 * r['decode_s']:>9.1f} "
              f"{r['decode_msamples_per_s']:>10.3f} {r['min_cpu_per_wall']:>8.2f}")


# ---------------------------------------------------------------------------------------------
# 3. ffmpeg VVC decoder


def psnr(a: np.ndarray, b: np.ndarray, peak: int) -> float:
    """PSNR in dB between two arrays at ``peak``."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def vvc_anchor(vvc: Any, q: np.ndarray, workdir: Path, repeats: int,
               frames: int) -> dict[str, Any]:
    """Encode 10-bit samples as one VVC frame; its size, fidelity and decode timing."""
    from vcmref.anchors.image_codecs import tile_channels, untile_channels
    from vcmref.anchors.registry import get_codec
    from vcmref.media.yuv import monochrome

    frame = tile_channels(q.astype(np.uint16))
    coded = get_codec("vvenc", preset=VVC_PRESET).code(monochrome(frame, MINMAX_BIT_DEPTH),
                                                       VVC_QP)
    workdir.mkdir(parents=True, exist_ok=True)
    bitstream = workdir / "frame.266"
    bitstream.write_bytes(coded.bitstream)
    timing = vvc.time_vvc_decode(bitstream, repeats=repeats, frames=frames)
    cells = untile_channels(coded.decoded.planes[0][0], *q.shape)
    return {
        "frame": f"{frame.shape[1]}x{frame.shape[0]}", "bytes": len(coded.bitstream),
        "bits_per_sample": coded.bits / q.size,
        "psnr_db": psnr(cells, q, (1 << MINMAX_BIT_DEPTH) - 1),
        "max_abs_error": int(np.abs(cells.astype(np.int64) - q).max()), **timing,
    }


def vcmref_decode(x: np.ndarray, cfg: EncoderConfig, repeats: int,
                  expect: np.ndarray) -> dict[str, Any]:
    """Best-of-``repeats`` vcmref decode of one tensor; checks the samples equal ``expect``."""
    stream, _ = encode({"x": x}, cfg)
    if not np.array_equal(decode_samples(stream)["x"], expect):
        raise RuntimeError(f"vcmref decode of {cfg.quant} stream differs from the expected samples")
    dec_s, _, _ = best_time(lambda: Decoder().decode(stream), repeats)
    return {"bytes": len(stream), "bits_per_sample": 8 * len(stream) / x.size, "decode_s": dec_s}


def vvc_row(vvc: Any, label: str, x: np.ndarray, repeats: int, vvc_repeats: int,
            frames: int) -> dict[str, Any]:
    """VVC anchor and vcmref (minmax 10-bit and uniform steps) on the same tensor."""
    q10 = minmax_samples(x)
    with tempfile.TemporaryDirectory(prefix="vcm_bench_vvc_") as tmp:
        anchor = vvc_anchor(vvc, q10, Path(tmp), vvc_repeats, frames)
    ours = {"minmax10": vcmref_decode(x, minmax_config(), repeats, q10)}
    for step in STEPS:
        ours[f"step{step}"] = vcmref_decode(x, step_config(step), repeats, step_samples(x, step))
    for v in ours.values():
        v["ratio_to_vvc_decode"] = v["decode_s"] / anchor["decode_s"]
    return {"input": label, "shape": list(x.shape), "samples": x.size, "vvc": anchor,
            "vcmref": ours}


def print_vvc(rows: list[dict[str, Any]], repeats: int, vvc_repeats: int, frames: int) -> None:
    """Print section 3."""
    print(f"\n3. ffmpeg native VVC decoder (-threads 1) vs vcmref decoder, same samples: "
          f"libvvenc QP {VVC_QP}, preset {VVC_PRESET}, all-intra 4:0:0, one 10-bit frame of the "
          "minmax 10-bit samples")
    print(f"   VVC decode_s = (T_{frames} - T_1) / {frames - 1} over streams of 1 and {frames} "
          f"copies, best of {vvc_repeats}; startup_s = T_1 - decode_s; vcmref: best of "
          f"{repeats}, in process; ratio = vcmref decode / VVC decode_s (< 1: vcmref faster)")
    for r in rows:
        a = r["vvc"]
        print(f"   {r['input']} ({r['samples']} samples, VVC frame {a['frame']}):")
        print(f"     {'decoder':<24} {'stream':>9} {'stream':>12} {'decode':>9} {'startup':>9} "
              f"{'ratio':>7}  fidelity")
        print(f"     {'':<24} {'(bytes)':>9} {'(bit/sample)':>12} {'(ms)':>9} {'(ms)':>9} "
              f"{'':>7}")
        print(f"     {'ffmpeg VVC QP ' + str(VVC_QP):<24} {a['bytes']:>9} "
              f"{a['bits_per_sample']:>12.4f} {1e3 * a['decode_s']:>9.2f} "
              f"{1e3 * a['startup_s']:>9.1f} {1.0:>7.3f}  lossy: PSNR {a['psnr_db']:.2f} dB, "
              f"max |err| {a['max_abs_error']} (10-bit)")
        for key, v in r["vcmref"].items():
            what = ("lossless on the 10-bit samples" if key == "minmax10"
                    else "samples = rint(x / step), |err| <= step/2")
            print(f"     {'vcmref ' + key:<24} {v['bytes']:>9} {v['bits_per_sample']:>12.4f} "
                  f"{1e3 * v['decode_s']:>9.2f} {'-':>9} {v['ratio_to_vvc_decode']:>7.3f}  {what}")


# ---------------------------------------------------------------------------------------------
# Driver


LANE_LIMITS = (64, 0)


def path_row(tensors: Tensors, step: float, lane_limit: int, repeats: int) -> dict[str, Any]:
    """Stream size and decode speed of one image with each decoder path, at one lane limit."""
    cfg = EncoderConfig(quant="step", step=step, bit_depth=STEP_BIT_DEPTH, lane_limit=lane_limit)
    stream, enc = encode(tensors, cfg)
    n = samples_of(tensors)
    row: dict[str, Any] = {"lane_limit": lane_limit, "step": step, "samples": n,
                           "bits_per_sample": 8 * len(stream) / n,
                           "rans_overhead_pct": 100 * (8 * enc.report.ans_bytes
                                                       / enc.report.ideal_bits - 1)}
    for path, env in (("kernel", None), ("numpy", "1")):
        old = os.environ.pop("VCMREF_NUMPY_ONLY", None)
        if env is not None:
            os.environ["VCMREF_NUMPY_ONLY"] = env
        try:
            seconds, _, _ = best_time(lambda: Decoder().decode(stream), repeats)
        finally:
            os.environ.pop("VCMREF_NUMPY_ONLY", None)
            if old is not None:
                os.environ["VCMREF_NUMPY_ONLY"] = old
        row[f"{path}_decode_ms"] = 1e3 * seconds
        row[f"{path}_msamples_per_s"] = n / seconds / 1e6
    return row


def print_paths(rows: list[dict[str, Any]], label: str, kernel: bool) -> None:
    """Section 4: lane limit against stream size and the speed of both decoder paths."""
    print(f"\n4. Lane limit and decoder path: {label}; the compiled kernel is "
          f"{'built' if kernel else 'NOT built (both rows use numpy)'}")
    print("   lanes   step  bit/sample  rANS vs ideal   kernel decode   numpy-only decode")
    print("                                      (%)    (Msample/s)        (Msample/s)")
    for r in rows:
        lanes = r["lane_limit"] or "pass"
        print(f"   {lanes:>5} {r['step']:>6} {r['bits_per_sample']:>11.4f} "
              f"{r['rans_overhead_pct']:>+14.3f} {r['kernel_msamples_per_s']:>15.2f} "
              f"{r['numpy_msamples_per_s']:>19.2f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK_IMAGES} corpus images, 1 repeat (smoke test)")
    ap.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    return ap.parse_args(argv)


def import_vvc() -> Any:
    """The ffmpeg_vvc helper module, or None when imageio-ffmpeg is missing."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import ffmpeg_vvc
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return None
    return ffmpeg_vvc


def main(argv: list[str] | None = None) -> int:
    """Run the three sections in fixed order; return the exit status."""
    args = parse_args(argv)
    paths = feature_files()
    if len(paths) < LARGE_SOURCES:
        print(f"error: the YOLOX-Nano feature files are missing ({len(paths)} found under "
              f"{shared_dir() / 'data' / 'features'}); set VCMREF_SHARED to the shared assets "
              "folder", file=sys.stderr)
        return 2
    repeats = 1 if args.quick else REPEATS
    vvc_repeats = 1 if args.quick else VVC_REPEATS
    frames = QUICK_VVC_FRAMES if args.quick else VVC_FRAMES
    info = machine_info()
    print_header(info, args.quick)
    all_images = [load_image(p) for p in paths]
    images = all_images[:QUICK_IMAGES] if args.quick else all_images
    print(f"inputs: {len(images)} of {len(paths)} files in {paths[0].parent}: "
          f"{', '.join(p.stem.rsplit('_', 1)[1] for p in paths[:len(images)])}")
    large = large_tensor(all_images)
    large_label = f"256x64x64 (dark3 of {LARGE_SOURCES} images)"
    results: dict[str, Any] = {"machine": info, "quick": args.quick, "repeats": repeats}

    results["compression"] = [compression_row(images, s) for s in STEPS]
    print_compression(results["compression"])

    corpus_label = f"corpus, {len(images)} images x 3 tensors"
    results["speed"] = [speed_row(corpus_label, images, s, repeats) for s in STEPS]
    results["speed"] += [speed_row(large_label, [{"x": large}], s, repeats) for s in STEPS]
    print_speed(results["speed"], repeats)

    vvc = import_vvc()
    if vvc is None:
        print("\n3. skipped: imageio-ffmpeg is not installed (pip install '.[bench]')")
        results["vvc"] = None
    else:
        inputs = [(f"dark3 of {paths[0].stem.rsplit('_', 1)[1]} (64x52x52)", images[0]["dark3"]),
                  (large_label, large)]
        results["vvc"] = [vvc_row(vvc, label, x, repeats, vvc_repeats, frames)
                          for label, x in inputs]
        print_vvc(results["vvc"], repeats, vvc_repeats, frames)

    from vcmref.refsw.rans_decoder import compiled_kernel

    kernel = compiled_kernel() is not None
    results["paths"] = [path_row(images[0], s, lanes, repeats)
                        for lanes in LANE_LIMITS for s in STEPS]
    print_paths(results["paths"], f"corpus image {paths[0].stem.rsplit('_', 1)[1]}", kernel)

    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
