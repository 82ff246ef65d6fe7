"""The suite on disk: streams, their manifest with the MD5s of the decoded output, and the
command that regenerates it byte for byte."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from vcmref.assets import REPO_ROOT
from vcmref.refsw.decoder import Decoder, DecodeResult

SUITE_DIR = REPO_ROOT / "conformance_streams"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def samples_bytes(result: DecodeResult) -> bytes:
    """The decoded-sample file: for each frame, each tensor in SPS order, its C*H*W samples
    row-major, each a big-endian 32-bit two's complement integer."""
    return b"".join(f.samples[t.name].astype(">i4").tobytes()
                    for f in result.frames for t in result.sps.tensors)


def values_bytes(result: DecodeResult) -> bytes:
    """The decoded-value file: the same order, each value big-endian IEEE-754 binary32."""
    return b"".join(f.tensors[t.name].astype(">f4").tobytes()
                    for f in result.frames for t in result.sps.tensors)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass(frozen=True)
class SuiteEntry:
    name: str
    file: str
    sha256: str
    description: str
    exercises: list[str]
    frames: int
    samples_md5: str
    values_md5: str
    expect: str = "decode"  # or "reject"
    element: str | None = None  # for reject: the element the error must name
    reason: str = ""  # for reject: a substring of the error message


def generate(out_dir: Path = SUITE_DIR) -> list[SuiteEntry]:
    """Write every stream of the suite and its manifest into out_dir; return the entries."""
    from vcmref.conformance.cases import CASES
    from vcmref.conformance.reject import reject_cases

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "reject").mkdir(exist_ok=True)
    entries = []
    for case in CASES:
        data = case.build()
        result = Decoder().decode(data)
        (out_dir / f"{case.name}.vcm").write_bytes(data)
        entries.append(SuiteEntry(
            case.name, f"{case.name}.vcm", hashlib.sha256(data).hexdigest(), case.description,
            list(case.exercises), len(result.frames), md5(samples_bytes(result)),
            md5(values_bytes(result))))
    for rc in reject_cases():
        rel = f"reject/{rc.name}.vcm"
        (out_dir / rel).write_bytes(rc.data)
        entries.append(SuiteEntry(rc.name, rel, hashlib.sha256(rc.data).hexdigest(),
                                  rc.description, [], 0, "", "", "reject", rc.element,
                                  rc.reason))
    manifest = {"version": MANIFEST_VERSION,
                "sample_file": "per frame, per tensor in SPS order: C*H*W samples row-major, "
                               "big-endian int32",
                "value_file": "the same order: big-endian IEEE-754 binary32",
                "streams": [e.__dict__ for e in entries]}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return entries


def load_manifest(suite_dir: Path = SUITE_DIR) -> list[SuiteEntry]:
    """The suite's entries as recorded in its manifest."""
    path = suite_dir / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path}: no conformance manifest (run `vcmref conform "
                                "--generate`)")
    doc = json.loads(path.read_text())
    if doc.get("version") != MANIFEST_VERSION:
        raise ValueError(f"{path}: manifest version {doc.get('version')}, expected "
                         f"{MANIFEST_VERSION}")
    return [SuiteEntry(**e) for e in doc["streams"]]


def decoded_md5s(data: bytes) -> tuple[str, str]:
    """(samples MD5, values MD5) of the reference decoder's output."""
    result = Decoder().decode(data)
    return md5(samples_bytes(result)), md5(values_bytes(result))
