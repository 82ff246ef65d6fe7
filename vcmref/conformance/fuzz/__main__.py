"""``python -m vcmref.conformance.fuzz reproduce FILE...`` or ``... run``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from vcmref.conformance.fuzz.runner import reproduce, run


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m vcmref.conformance.fuzz",
                                description="Fuzz the vcmref decoder, or re-run a saved input.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reproduce", help="run every target on saved inputs, in this process")
    r.add_argument("files", nargs="+")
    f = sub.add_parser("run", help="fuzz (see benchmarks/fuzz_decoder.py for the report)")
    f.add_argument("--seconds", type=float, default=60.0)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--workers", type=int, default=1)
    f.add_argument("--out", default="fuzz-out")
    a = p.parse_args(argv)
    if a.cmd == "reproduce":
        ok = True
        for path in a.files:
            print(f"=== {path}")
            ok = reproduce(path) and ok
        return 0 if ok else 1
    stats = run(a.seconds, a.seed, a.workers, a.out)
    print(stats.summary())
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
