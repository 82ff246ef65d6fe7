"""What a run found: findings per input, the run's statistics and summary, failing inputs saved
with what reproduces them."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcmref.conformance.fuzz.targets import KERNEL_TARGET, NUMPY_TARGET, Target
from vcmref.conformance.fuzz.workers import InputResult, top_frame

MAX_SAVED_PER_SIGNATURE = 3


@dataclass
class Finding:
    kind: str  # exception | timeout | crash | mismatch
    target: str
    signature: str
    summary: str
    detail: str = ""  # traceback or faulthandler dump


@dataclass
class FuzzStats:
    """Result of a run: executions, failures and where failing inputs were saved."""

    seed: int = 0
    workers: int = 1
    seconds: float = 0.0
    executions: int = 0
    failures: int = 0  # failing inputs (an input with several findings counts once)
    unique_failures: dict[str, int] = field(default_factory=dict)  # signature -> inputs
    saved: list[str] = field(default_factory=list)  # paths of saved failing inputs
    out_dir: str = ""
    targets: list[str] = field(default_factory=list)
    seeds_builtin: int = 0
    seeds_suite: int = 0
    corpus_size: int = 0
    features: int = 0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # target -> ok/error
    # BitstreamErrors of the first target, by syntax element: how deep the inputs get
    rejections: dict[str, int] = field(default_factory=dict)
    slowest_input_s: float = 0.0
    worker_restarts: int = 0
    kernel: bool = False

    @property
    def execs_per_second(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    @property
    def unique(self) -> int:
        return len(self.unique_failures)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["execs_per_second"] = round(self.execs_per_second, 2)
        return d

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}, {self.workers} worker(s), targets: {', '.join(self.targets)}",
            f"seed corpus: {self.seeds_builtin} built-in streams, {self.seeds_suite} from the "
            f"suite; corpus at the end: {self.corpus_size} inputs, {self.features} distinct "
            "outcomes",
            f"executions: {self.executions} in {self.seconds:.1f} s "
            f"({self.execs_per_second:.1f} executions/s); slowest input "
            f"{self.slowest_input_s:.2f} s; worker restarts {self.worker_restarts}",
        ]
        for t, c in self.outcomes.items():
            lines.append(f"  {t}: {c.get('ok', 0)} decoded/accepted, {c.get('error', 0)} "
                         f"BitstreamError, {c.get('fail', 0)} failures")
        if self.rejections:
            top = sorted(self.rejections.items(), key=lambda kv: -kv[1])[:12]
            lines.append(f"  {self.targets[0]} rejections by syntax element: "
                         + ", ".join(f"{k} {v}" for k, v in top))
        lines.append(f"failures: {self.failures} failing inputs, {self.unique} unique")
        for sig, n in sorted(self.unique_failures.items()):
            lines.append(f"  [{n}x] {sig}")
        if self.saved:
            lines.append(f"failing inputs saved under {self.out_dir}/failures")
        return "\n".join(lines)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_")[:120]


class Recorder:
    """Turns results into findings, counts them and saves failing inputs."""

    def __init__(self, out_dir: Path, stats: FuzzStats, targets: Sequence[Target],
                 seed: int) -> None:
        self.out_dir, self.stats, self.targets, self.seed = out_dir, stats, targets, seed
        self.names = [t.name for t in targets]
        self.pairs = ([(self.names.index(KERNEL_TARGET), self.names.index(NUMPY_TARGET))]
                      if KERNEL_TARGET in self.names and NUMPY_TARGET in self.names else [])
        self.saved_per_sig: dict[str, int] = {}

    def findings(self, res: InputResult) -> list[Finding]:
        out = []
        if res.dead:
            tname = self.names[res.target] if 0 <= res.target < len(self.names) else "?"
            where = top_frame(res.trace)
            sig = f"{res.dead} in {tname}: {res.detail} at {where}"
            out.append(Finding(res.dead, tname, sig, sig, res.trace))
            return out
        assert res.outcomes is not None
        for name, o in zip(self.names, res.outcomes, strict=True):
            if o[0] == "fail":
                _, etype, msg, tb, loc = o
                sig = f"exception in {name}: {etype} at {loc}"
                out.append(Finding("exception", name, sig, f"{etype}: {msg}", tb))
        for a, b in self.pairs:
            oa, ob = res.outcomes[a], res.outcomes[b]
            if "fail" in (oa[0], ob[0]):
                continue
            if oa[0] != ob[0] or (oa[0] == "ok" and oa[1] != ob[1]):
                sig = (f"mismatch {self.names[a]} {oa[0]} / {self.names[b]} {ob[0]}"
                       + (" (different samples)" if oa[0] == ob[0] else ""))
                out.append(Finding("mismatch", f"{self.names[a]}+{self.names[b]}", sig,
                                   f"{self.names[a]}: {oa}; {self.names[b]}: {ob}"))
        return out

    def record(self, data: bytes, res: InputResult, found: list[Finding], execution: int,
               provenance: str, confirmed: bool | None) -> None:
        st = self.stats
        st.failures += 1
        for f in found:
            first = f.signature not in st.unique_failures
            st.unique_failures[f.signature] = st.unique_failures.get(f.signature, 0) + 1
            n = self.saved_per_sig.get(f.signature, 0)
            if n >= MAX_SAVED_PER_SIGNATURE:
                continue
            self.saved_per_sig[f.signature] = n + 1
            folder = self.out_dir / "failures" / slug(f.signature)
            folder.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha1(data).hexdigest()[:16]
            path = folder / f"{digest}.vcm"
            path.write_bytes(data)
            meta = {
                "kind": f.kind, "target": f.target, "signature": f.signature,
                "summary": f.summary, "detail": f.detail, "seed": self.seed,
                "execution": execution, "provenance": provenance,
                "first_of_signature": first, "reproduced_alone": confirmed,
                "input_bytes": len(data), "sha1": hashlib.sha1(data).hexdigest(),
                "reproduce": f"{Path(sys.executable).name} -m vcmref.conformance.fuzz "
                             f"reproduce {path}",
            }
            path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
            st.saved.append(str(path))



