"""Peak memory of the reference decoder against the number of samples, and at each level's
largest frame (clause 6), with the size of the decoded output as the yardstick.

Run from the repository root:

    .venv/bin/python benchmarks/decoder_memory.py [--levels 10 20 30 40] [--frames 32]

Each measurement runs in a fresh process and reads its peak resident set size (ru_maxrss);
the figure reported is that peak less the peak of a process that only imports the decoder
(numpy, vcmref: the baseline, printed). Streams hold sparse content (1% of samples non-zero)
coded with uniform steps, so encoding stays quick; a frame's decoded output is 8 bytes a
sample (an int32 sample and a binary32 value), which the decoder must hold whatever it does.

1. Per level: the level's largest frame, MaxFrameSamples samples in two square one-channel
   tensors of MaxTensorSamples / 2... samples each (data units cut at MaxUnitSamples),
   decoded by `vcmref decode -o` (output written to a temporary folder): peak in MiB, bytes
   per sample, and the ratio of the peak to the frame's 8-byte-a-sample output.
2. Frames: a level-10 stream of N frames of 2^20 samples, decoded by the command line (frame
   by frame) and by `Decoder().decode` (every frame held, the API's whole-stream call), the
   named alternative: peak MiB of each.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ENCODE = """
import sys, numpy as np
from vcmref.refsw.encoder import EncoderConfig, encode
side, tensors, frames, level, out = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                     int(sys.argv[4]), sys.argv[5])
rng = np.random.default_rng(7)
x = np.zeros((1, side, side), np.float32)
x[rng.random(x.shape, dtype=np.float32) < 0.01] = 1.0
data = {f"t{i}": np.broadcast_to(x, (frames, 1, side, side)) for i in range(tensors)}
open(out, "wb").write(encode(data, EncoderConfig(quant="step", step=0.5, bit_depth=4,
                                                  level=level)))
"""

_PEAK = """
import resource, sys, time
import numpy as np
from vcmref.refsw.decoder import Decoder
mode = sys.argv[1]
t0 = time.perf_counter()
if mode == "cli":
    from vcmref.cli import main
    sys.argv = ["vcmref", "decode", sys.argv[2], "-o", sys.argv[3]]
    try:
        main()
    except SystemExit as e:
        if e.code:
            raise
elif mode == "api":
    result = Decoder().decode(open(sys.argv[2], "rb").read())
dt = time.perf_counter() - t0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, dt, file=sys.stderr)
"""


def _python(script: str, *args: str) -> str:
    run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=3600)
    if run.returncode:
        raise SystemExit(f"measurement failed: {run.stderr.strip().splitlines()[-1]}")
    return run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""


def _peak(mode: str, *args: str) -> tuple[int, float]:
    peak, seconds = _python(_PEAK, mode, *args).split()
    return int(peak), float(seconds)


def _encode(folder: Path, side: int, tensors: int, frames: int, level: int) -> Path:
    path = folder / f"s{side}x{tensors}x{frames}_l{level}.vcm"
    _python(_ENCODE, str(side), str(tensors), str(frames), str(level), str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 20, 30, 40])
    parser.add_argument("--frames", type=int, default=32)
    args = parser.parse_args()

    from vcmref.bitstream.levels import LEVELS

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")
    base, _ = _peak("none")
    mib = 1 << 20
    print(f"baseline (imports only): {base / mib:.0f} MiB\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("largest frame of each level, `vcmref decode -o`:")
        print(f"{'level':>5} {'samples':>12} {'unit max':>9} {'stream B':>9} {'peak MiB':>9} "
              f"{'B/sample':>9} {'peak/output':>11} {'decode s':>9}")
        for level in args.levels:
            lv = LEVELS[level]
            side = math.isqrt(lv.max_frame_samples // 2)
            stream = _encode(folder, side, 2, 1, level)
            peak, seconds = _peak("cli", str(stream), str(folder / "out.npz"))
            samples = 2 * side * side
            extra = peak - base
            print(f"{level:>5} {samples:>12} {lv.max_unit_samples:>9} "
                  f"{stream.stat().st_size:>9} {extra / mib:>9.0f} {extra / samples:>9.1f} "
                  f"{extra / (8 * samples):>11.2f} {seconds:>9.2f}")
            stream.unlink()
            (folder / "out.npz").unlink()

        frames = args.frames
        stream = _encode(folder, 1024, 1, frames, 10)
        print(f"\n{frames} frames of 2^20 samples (level 10), peak MiB above the baseline:")
        for n in (1, frames):
            one = _encode(folder, 1024, 1, n, 10) if n != frames else stream
            cli, t_cli = _peak("cli", str(one), str(folder / "out.npz"))
            api, t_api = _peak("api", str(one))
            print(f"  {n:>3} frames: vcmref decode (frame by frame) {(cli - base) / mib:>6.0f} "
                  f"MiB in {t_cli:.2f} s; Decoder().decode (all frames held) "
                  f"{(api - base) / mib:>6.0f} MiB in {t_api:.2f} s")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n({time.perf_counter() - t0:.0f} s)")
