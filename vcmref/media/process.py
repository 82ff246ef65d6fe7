"""Running external tools (encoders, decoders): argument lists, a timeout, exit status checked,
stderr kept in the error, and a message that says what to install when the tool is missing."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from vcmref.errors import ToolError, ToolNotFoundError

__all__ = ["ToolError", "ToolNotFoundError", "ToolResult", "find_tool", "run_tool"]

DEFAULT_TIMEOUT_S = 600.0
STDERR_TAIL_CHARS = 2000


@dataclass(frozen=True)
class ToolResult:
    """What a finished tool run left: its output streams and its wall-clock time."""

    stdout: bytes
    stderr: bytes
    seconds: float


def find_tool(name: str, directory: str | Path | None = None, *, hint: str) -> str:
    """The path of executable `name`, from `directory` when given, else from PATH.

    `hint` tells the user what to install or which setting to point at the tool.
    """
    if directory is not None:
        path = Path(directory).expanduser() / name
        if path.is_file() and shutil.which(str(path)):
            return str(path)
        raise ToolNotFoundError(f"{name} not found in {directory} (or not executable); {hint}")
    found = shutil.which(name)
    if found is None:
        raise ToolNotFoundError(f"{name} not found on PATH; {hint}")
    return found


def _tail(stderr: bytes) -> str:
    text = stderr.decode(errors="replace").strip()
    if len(text) > STDERR_TAIL_CHARS:
        text = "..." + text[-STDERR_TAIL_CHARS:]
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def run_tool(
    argv: list[str],
    *,
    what: str,
    stdin: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    cwd: str | Path | None = None,
) -> ToolResult:
    """Run `argv` (no shell) and return its output; raise ToolError naming `what` on failure."""
    if not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError(f"{what}: argv must be a non-empty list of str, got {argv!r}")
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                              cwd=cwd, check=False,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise ToolNotFoundError(f"{what}: cannot execute {argv[0]}: {exc.strerror}") from None
    except PermissionError as exc:
        raise ToolNotFoundError(f"{what}: cannot execute {argv[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired as exc:
        detail = _tail(exc.stderr or b"")
        raise ToolError(f"{what} timed out after {timeout:g} s: {' '.join(argv)}"
                        + (f": {detail}" if detail else "")) from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        detail = _tail(proc.stderr) or _tail(proc.stdout)
        raise ToolError(f"{what} failed with exit status {proc.returncode}: "
                        f"{' '.join(argv)}" + (f": {detail}" if detail else ""))
    return ToolResult(proc.stdout, proc.stderr, seconds)
