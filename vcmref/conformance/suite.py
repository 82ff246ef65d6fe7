"""The suite on disk: streams, their manifest with the MD5s of the decoded output, and the
command that regenerates it byte for byte (the inner-codec streams, made with external video
encoders, are kept as committed unless rebuilt on purpose: see `generate`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from vcmref.assets import package_folder
from vcmref.bitstream.parameter_sets import (
    EntropyCoder,
    InnerCodec,
    StreamParameterSet,
    stream_parameter_set,
)
from vcmref.bitstream.syntax import Reader
from vcmref.bitstream.units import UnitType, iter_units
from vcmref.errors import BitstreamError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import DecodedFrame, Decoder, DecodeResult

# The suite ships in the package (vcmref/conformance/streams/); from a checkout this is the
# repository's folder, which `vcmref conform --generate` rewrites.
SUITE_DIR = package_folder("vcmref.conformance", "streams")
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def frame_samples_bytes(sps: StreamParameterSet, frame: DecodedFrame) -> bytes:
    """One frame of the decoded-sample file: each tensor in SPS order, its C*H*W samples
    row-major, each a big-endian 32-bit two's complement integer."""
    return b"".join(frame.samples[t.name].astype(">i4").tobytes() for t in sps.tensors)


def frame_values_bytes(sps: StreamParameterSet, frame: DecodedFrame) -> bytes:
    """One frame of the decoded-value file: the same order, each value big-endian IEEE-754
    binary32."""
    return b"".join(frame.tensors[t.name].astype(">f4").tobytes() for t in sps.tensors)


def samples_bytes(result: DecodeResult) -> bytes:
    """The decoded-sample file: its frames one after another."""
    return b"".join(frame_samples_bytes(result.sps, f) for f in result.frames)


def values_bytes(result: DecodeResult) -> bytes:
    """The decoded-value file: its frames one after another."""
    return b"".join(frame_values_bytes(result.sps, f) for f in result.frames)


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
    # what a decoder needs besides itself: the inner codec's decoder for entropy_coder_idc 1
    needs: list[str] = field(default_factory=list)


INNER_DECODER_NEEDED = {InnerCodec.H266_VVC: "H.266/VVC decoder",
                        InnerCodec.H265_HEVC: "H.265/HEVC decoder"}


def needs_of(data: bytes) -> list[str]:
    """The inner codec decoder a stream needs (its first stream parameter set, if it parses,
    says entropy_coder_idc 1), else nothing."""
    try:
        for unit in iter_units(data):
            if unit.unit_type == UnitType.STREAM_PARAMETER_SET:
                sps = stream_parameter_set(Reader(unit.payload), StreamParameterSet())
                if sps.entropy_coder == EntropyCoder.INNER_CODEC:
                    return [INNER_DECODER_NEEDED[sps.inner_codec]]
                return []
    except BitstreamError:
        pass
    return []


def generate(out_dir: Path = SUITE_DIR, rebuild_external: bool = False) -> list[SuiteEntry]:
    """Write every stream of the suite and its manifest into out_dir; return the entries.

    The external cases (inner-codec streams, whose bytes depend on the video encoder's version)
    are copied from the committed suite when it has them; `rebuild_external` (or deleting the
    committed file) encodes them anew. The must-reject cases built on them follow."""
    from vcmref.conformance.cases import CASES, case_stream
    from vcmref.conformance.reject import reject_cases

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "reject").mkdir(exist_ok=True)
    entries = []
    built: dict[str, bytes] = {}
    for case in CASES:
        data = case_stream(case, rebuild=rebuild_external)
        built[case.name] = data
        result = Decoder(inner_decoder=decode_inner_pictures).decode(data)
        entries.append(SuiteEntry(
            case.name, f"{case.name}.vcm", hashlib.sha256(data).hexdigest(), case.description,
            list(case.exercises), len(result.frames), md5(samples_bytes(result)),
            md5(values_bytes(result)), needs=needs_of(data)))
    rejects = reject_cases(built)
    for name, data in built.items():
        (out_dir / f"{name}.vcm").write_bytes(data)
    for rc in rejects:
        rel = f"reject/{rc.name}.vcm"
        (out_dir / rel).write_bytes(rc.data)
        entries.append(SuiteEntry(rc.name, rel, hashlib.sha256(rc.data).hexdigest(),
                                  rc.description, [], 0, "", "", "reject", rc.element,
                                  rc.reason, needs_of(rc.data)))
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
    """(samples MD5, values MD5) of the reference decoder's output (inner codec data decoded
    by ffmpeg)."""
    result = Decoder(inner_decoder=decode_inner_pictures).decode(data)
    return md5(samples_bytes(result)), md5(values_bytes(result))
