"""The checker: runs the suite against the reference decoder or any decoder command.

Inner-codec streams (entropy_coder_idc 1; the manifest's `needs`) also need a decoder of the
inner video codec: the checker gives the reference decoder one (by default the ffmpeg of
imageio-ffmpeg, vcmref.media.inner_decoders); when it is missing those streams fail with a
message that says so."""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vcmref.bitstream.syntax import base_name
from vcmref.conformance.suite import (
    SUITE_DIR,
    SuiteEntry,
    load_manifest,
    md5,
    samples_bytes,
    values_bytes,
)
from vcmref.errors import BitstreamError, ToolNotFoundError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.inner_pictures import InnerDecoder

PLACEHOLDERS = ("{bitstream}", "{output}")


@dataclass(frozen=True)
class Outcome:
    name: str
    expect: str
    passed: bool
    detail: str
    seconds: float


def check_reference(entry: SuiteEntry, data: bytes,
                    inner_decoder: InnerDecoder = decode_inner_pictures) -> tuple[bool, str]:
    """Decode with the reference decoder in this process."""
    try:
        result = Decoder(inner_decoder=inner_decoder).decode(data)
    except ToolNotFoundError as e:
        return False, f"needs {', '.join(entry.needs) or 'an inner codec decoder'}: {e}"
    except BitstreamError as e:
        if entry.expect == "decode":
            return False, f"rejected: {e}"
        element = base_name(e.element) if e.element else None
        if element != entry.element or entry.reason not in str(e):
            return False, (f"rejected for another reason: {e} (expected element "
                           f"{entry.element}, message with {entry.reason!r})")
        return True, f"rejected: {e}"
    if entry.expect == "reject":
        return False, "accepted a stream that must be rejected"
    got = (md5(samples_bytes(result)), md5(values_bytes(result)))
    if got != (entry.samples_md5, entry.values_md5):
        return False, f"MD5 samples {got[0]} values {got[1]} differ from the manifest"
    return True, f"{len(result.frames)} frames, MD5 match"


def check_command(entry: SuiteEntry, path: Path, template: str,
                  timeout: float) -> tuple[bool, str]:
    """Run a decoder command; `{output}` receives the sample file, `{values}` (optional) the
    value file; a non-zero exit status means the decoder rejected the stream."""
    with tempfile.TemporaryDirectory(prefix="vcmref-conform-") as tmp:
        out, vals = Path(tmp) / "samples.bin", Path(tmp) / "values.bin"
        args = [a.replace("{bitstream}", str(path)).replace("{output}", str(out))
                .replace("{values}", str(vals)) for a in shlex.split(template)]
        try:
            proc = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout:g} s"
        except OSError as e:
            return False, f"cannot run {args[0]!r}: {e.strerror or e}"
        if entry.expect == "reject":
            if proc.returncode == 0:
                return False, "exit status 0 on a stream that must be rejected"
            return True, f"rejected (exit status {proc.returncode})"
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            return False, f"exit status {proc.returncode}: {err[-1] if err else 'no stderr'}"
        if not out.exists():
            return False, "no sample file written"
        if md5(out.read_bytes()) != entry.samples_md5:
            return False, "sample MD5 differs from the manifest"
        if "{values}" in template:
            if not vals.exists():
                return False, "no value file written"
            if md5(vals.read_bytes()) != entry.values_md5:
                return False, "value MD5 differs from the manifest"
        return True, "MD5 match"


def run_suite(suite_dir: Path = SUITE_DIR, command: str | None = None,
              timeout: float = 60.0, names: set[str] | None = None,
              inner_decoder: InnerDecoder = decode_inner_pictures) -> list[Outcome]:
    """Check every stream of the suite (or those named); with `command`, an external
    decoder; `inner_decoder` is what the reference decoder decodes inner codec data with."""
    if command is not None and not all(p in command for p in PLACEHOLDERS):
        raise ValueError(f"decoder command {command!r} must contain {' and '.join(PLACEHOLDERS)}")
    outcomes = []
    for entry in load_manifest(suite_dir):
        if names is not None and entry.name not in names:
            continue
        path = suite_dir / entry.file
        t0 = time.perf_counter()
        if not path.exists():
            passed, detail = False, f"{path}: missing"
        elif command is None:
            passed, detail = check_reference(entry, path.read_bytes(), inner_decoder)
        else:
            passed, detail = check_command(entry, path, command, timeout)
            if not passed and entry.needs:
                detail += f" (the stream needs an {' and '.join(entry.needs)})"
        outcomes.append(Outcome(entry.name, entry.expect, passed, detail,
                                time.perf_counter() - t0))
    return outcomes


def format_table(outcomes: list[Outcome]) -> str:
    width = max((len(o.name) for o in outcomes), default=4)
    lines = [f"{'stream':<{width}}  expect  result  time (s)  detail"]
    for o in outcomes:
        lines.append(f"{o.name:<{width}}  {o.expect:<6}  {'pass' if o.passed else 'FAIL':<6}"
                     f"  {o.seconds:8.3f}  {o.detail}")
    failed = sum(not o.passed for o in outcomes)
    lines.append(f"{len(outcomes) - failed} passed, {failed} failed")
    return "\n".join(lines)
