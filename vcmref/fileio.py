"""Writing files whole or not at all: a temporary file in the same folder, then a rename, so a
killed process never leaves a half-written result under the final name.

Only a missing path or a regular file is ever replaced: a symbolic link, a folder, a FIFO, a
device node or a socket is refused (`OutputPathError`), and `check_output_path` checks a path
up front, so that a command can validate all its outputs before writing any of them. Files are
created with the usual mode (0666 less the umask), and errors name the path as given, never
the temporary file."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

__all__ = ["OutputPathError", "check_output_path", "write_atomic"]


class OutputPathError(OSError):
    """An output path that vcmref will not write: empty, or naming something that is not a
    regular file. `filename` is the path as given, `strerror` says why (one line)."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}" if self.filename else str(self.strerror)


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_output_path(path: str | os.PathLike) -> Path:
    """Refuse an output path that `write_atomic` must not replace; returns it as a Path.

    Fine: a missing file (its folders are created when writing) or a regular file. Refused,
    with an OutputPathError naming the path as given: an empty path or ".", a symbolic link,
    a folder, a FIFO, a device node, a socket, and a path below something that is not a folder.
    Nothing is opened, so a FIFO is never blocked on."""
    shown = os.fsdecode(os.fspath(path))
    if shown in ("", "."):
        raise OutputPathError(
            errno.EINVAL, "the output path is empty (or '.'): expected a file name"
        )
    p = Path(shown)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return p
    except NotADirectoryError:
        raise OutputPathError(errno.ENOTDIR, "a folder on the path is a file", shown) from None
    except OSError as e:
        raise OutputPathError(e.errno, e.strerror or str(e), shown) from None
    if not stat.S_ISREG(st.st_mode):
        what = _kind(st.st_mode)
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EEXIST
        raise OutputPathError(code, f"is {what}, not a regular file: refusing to replace it", shown)
    return p


def _create_temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new file next to the target, opened for writing, mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / f".{name[:200]}.{os.urandom(6).hex()}.part"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", os.fspath(folder / name))


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _restate(e: OSError, shown: str, tmp: Path) -> OSError:
    """`e` as the same kind of error about the path the caller gave, if it named the
    temporary file or no file at all (a failed write, e.g. ENOSPC); else `e` itself."""
    if isinstance(e, OutputPathError) or e.filename not in (None, tmp, os.fspath(tmp)):
        return e
    return OSError(e.errno, e.strerror or str(e), shown)  # OSError picks the errno's subclass


def write_atomic(path: str | os.PathLike, data: bytes | Callable[[Path], None]) -> None:
    """Write `data` (bytes, or a function that writes the file it is given) to `path`.

    `path` must be missing or a regular file (see check_output_path); its folders are
    created. The file appears under its name only once written whole."""
    target = check_output_path(path)
    shown = os.fsdecode(os.fspath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(target.parent, target.name)
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), shown) from None
    try:
        if callable(data):
            fd, closing = -1, fd
            os.close(closing)
            data(tmp)
        else:
            _write_fd(fd, data)
            fd, closing = -1, fd
            os.close(closing)
        check_output_path(path)  # still missing or a regular file
        os.replace(tmp, target)
    except BaseException as e:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and (new := _restate(e, shown, tmp)) is not e:
            raise new from None
        raise
