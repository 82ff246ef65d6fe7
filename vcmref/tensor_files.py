"""Reading float tensors from .npy and .npz files, with one clear line for every way such a
file can be wrong: missing, empty, truncated, damaged, another kind of file under the name, an
object (pickled) array, a non-numeric dtype. The header's announced size is checked against
the bytes present before numpy allocates the array."""

from __future__ import annotations

from pathlib import Path

from vcmref.errors import VcmrefError


class TensorFileError(VcmrefError):
    """A tensor file that cannot be read: names the file and what was expected."""


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or an empty archive
_FILE_KINDS = (  # (leading bytes, what a file starting so probably is)
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip file"),
    (b"BM", "a BMP image"),
    (_NPY_MAGIC, "a NumPy .npy array"),
    (_ZIP_MAGICS[0], "a zip (.npz) archive"),
    (_ZIP_MAGICS[1], "a zip (.npz) archive"),
    (b"\x80", "pickled Python data"),
)


def _looks_like(head: bytes) -> str:
    """What a file starting with `head` seems to be, for error messages."""
    for magic, kind in _FILE_KINDS:
        if head.startswith(magic):
            return kind
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head[:-3].decode("utf-8", "replace")  # maybe a character cut at the end
        if "\ufffd" in text:
            return "unrecognized binary data"
    return (
        "text"
        if all(c.isprintable() or c in "\t\r\n" for c in text)
        else ("unrecognized binary data")
    )


def _npy_size_problem(f, available: int) -> str | None:
    """Reads a .npy header from `f`; what is wrong if the `available` bytes (the header's
    included) cannot hold the array it announces, else None (numpy reports other damage)."""
    import numpy as np
    from numpy.lib import format as npy_format

    start = f.tell()
    version = npy_format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = npy_format.read_array_header_2_0(f)
    else:
        return None
    if dtype.hasobject:
        return None
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = available - (f.tell() - start)
    if have < need:
        return (
            f"truncated .npy data: its header announces a {dtype} array of shape "
            f"{tuple(shape)} ({need} bytes), only {max(have, 0)} bytes follow"
        )
    return None


def load_tensors(path: Path) -> dict:
    """Tensors from .npy (one tensor, named after the file) or .npz (one per array name).

    A missing, empty, truncated or damaged file, a file of another kind under the name, an
    object (pickled) array and a non-numeric array are each refused with one line (TensorFileError).
    """
    import zipfile
    import zlib

    import numpy as np

    kind = {".npy": ".npy array", ".npz": ".npz archive of arrays"}.get(path.suffix)
    if kind is None:
        raise TensorFileError(f"{path}: expected a .npy or .npz file")
    if not path.exists():
        raise TensorFileError(f"{path}: no such file")
    if not path.is_file():
        raise TensorFileError(f"{path}: not a regular file; expected a {kind}")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise TensorFileError(f"{path}: empty file, expected a {kind}")
    npy = path.suffix == ".npy"
    if any(m.startswith(head) and m != head for m in (_NPY_MAGIC, *_ZIP_MAGICS)):
        raise TensorFileError(f"{path}: truncated file ({len(head)} bytes); expected a {kind}")
    if npy and not head.startswith(_NPY_MAGIC):
        raise TensorFileError(
            f"{path}: not a NumPy .npy file (it starts like {_looks_like(head)}); "
            f"expected a .npy array"
        )
    if not npy and not head.startswith(_ZIP_MAGICS):
        raise TensorFileError(
            f"{path}: not a NumPy .npz (zip) file (it starts like "
            f"{_looks_like(head)}); expected a .npz archive of arrays"
        )
    damaged = (
        ValueError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        KeyError,
    )
    member = ""
    try:
        if npy:
            with open(path, "rb") as f:
                problem = _npy_size_problem(f, path.stat().st_size)
            if problem:
                raise TensorFileError(f"{path}: {problem}")
            tensors = {path.stem: np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as z:
                for name in z.files:
                    member = f" (array {name!r})"
                    info = z.zip.getinfo(name if name in z.zip.namelist() else f"{name}.npy")
                    if not info.filename.endswith(".npy"):
                        raise TensorFileError(
                            f"{path}: member {info.filename!r} is not a .npy array; "
                            f"expected a .npz archive of arrays"
                        )
                    with z.zip.open(info) as f:
                        problem = _npy_size_problem(f, info.file_size)
                    if problem:
                        raise TensorFileError(f"{path}{member}: {problem}")
                tensors = {}
                for name in z.files:
                    member = f" (array {name!r})"
                    tensors[name] = z[name]
            if not tensors:
                raise TensorFileError(f"{path}: the .npz holds no arrays")
    except damaged as e:
        if "allow_pickle" in str(e):
            raise TensorFileError(
                f"{path}{member}: an object (pickled) array, which vcmref does not "
                f"load; expected numeric arrays"
            ) from None
        what = "NumPy .npy" if npy else ".npz (zip)"
        raise TensorFileError(f"{path}{member}: truncated or damaged {what} file ({e})") from None
    except MemoryError:
        raise TensorFileError(
            f"{path}{member}: out of memory reading it (an array too large for "
            f"this machine, or a damaged header)"
        ) from None
    for name, x in tensors.items():
        if x.dtype.kind not in "biufc":
            where = f" (array {name!r})" if not npy else ""
            raise TensorFileError(
                f"{path}{where}: dtype {x.dtype} is not numeric; expected numbers (float tensors)"
            )
    return tensors
