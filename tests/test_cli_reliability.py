"""The CLI's reliability (issue 11): output paths that are refused, written with the usual mode
and reported by their own name; damaged inputs refused with one line; option values refused
before anything runs."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from vcmref import fileio
from vcmref.cli import app
from vcmref.errors import EncoderInputError
from vcmref.fileio import OutputPathError, check_output_path, write_atomic
from vcmref.refsw.encoder import EncoderConfig, encode

# --------------------------------------------------------------------------- helpers


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(res, *words: str) -> str:
    """The one-line error of a command that must fail with exit status 1."""
    assert res.exit_code == 1, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("error: ") and "internal error" not in line, line
    for w in words:
        assert w in line, (w, line)
    return line


@pytest.fixture
def npy(tmp_path):
    path = tmp_path / "feat.npy"
    np.save(path, np.linspace(-1, 1, 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4))
    return path


def no_leftovers(folder) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".part")]


# --------------------------------------------------------------------------- A: output paths


def test_refuses_to_replace_a_fifo(tmp_path, npy) -> None:
    fifo = tmp_path / "out.vcm"
    os.mkfifo(fifo)
    # Held open for reading and writing: even a wrong implementation that opened it could
    # neither block nor go unnoticed.
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        line = refused(cli("encode", npy, "-o", fifo), str(fifo), "FIFO")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        with pytest.raises(BlockingIOError):
            os.read(fd, 1)  # nothing was written into it
    finally:
        os.close(fd)
    assert ".part" not in line
    no_leftovers(tmp_path)


def test_refuses_to_replace_a_symlink(tmp_path, npy) -> None:
    target = tmp_path / "target.vcm"
    target.write_bytes(b"keep me")
    link = tmp_path / "out.vcm"
    link.symlink_to(target)
    refused(cli("encode", npy, "-o", link), str(link), "symbolic link")
    assert link.is_symlink() and target.read_bytes() == b"keep me"
    dangling = tmp_path / "dangling.vcm"
    dangling.symlink_to(tmp_path / "nowhere")
    refused(cli("encode", npy, "-o", dangling), str(dangling), "symbolic link")
    assert dangling.is_symlink() and not (tmp_path / "nowhere").exists()
    no_leftovers(tmp_path)


def test_refuses_to_replace_a_device_node(tmp_path, npy) -> None:
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot create a device node here: {e}")
    refused(cli("encode", npy, "-o", dev), str(dev), "character device")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    refused(cli("inspect", npy, "-o", dev), str(dev))  # any command: checked before writing
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    no_leftovers(tmp_path)


def test_check_output_path_refuses_dev_null_without_touching_it() -> None:
    with pytest.raises(OutputPathError) as ei:
        check_output_path("/dev/null")
    assert ei.value.filename == "/dev/null" and "character device" in str(ei.value)
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_refuses_a_folder_and_an_empty_path(tmp_path, npy) -> None:
    (tmp_path / "dir.vcm").mkdir()
    refused(cli("encode", npy, "-o", tmp_path / "dir.vcm"), str(tmp_path / "dir.vcm"), "folder")
    refused(cli("encode", npy, "-o", ""), "empty")
    refused(cli("encode", npy, "-o", npy / "x.vcm"), str(npy / "x.vcm"))
    assert (tmp_path / "dir.vcm").is_dir()
    no_leftovers(tmp_path)


def test_check_output_path(tmp_path) -> None:
    assert check_output_path(tmp_path / "new" / "a.vcm") == tmp_path / "new" / "a.vcm"
    (tmp_path / "f").write_bytes(b"")
    assert check_output_path(str(tmp_path / "f")) == tmp_path / "f"
    for bad in ("", ".", tmp_path):
        with pytest.raises(OutputPathError):
            check_output_path(bad)
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_created_files_follow_the_umask(tmp_path, npy) -> None:
    old = os.umask(0o027)
    try:
        res = cli("encode", npy, "-o", tmp_path / "a.vcm")
        assert res.exit_code == 0, res.output
        res = cli("inspect", tmp_path / "a.vcm", "-o", tmp_path / "a.txt")
        assert res.exit_code == 0, res.output
    finally:
        os.umask(old)
    for name in ("a.vcm", "a.txt"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~0o027, name
    write_atomic(tmp_path / "b.bin", b"x")
    write_atomic(tmp_path / "c.bin", lambda p: p.write_bytes(b"y"))
    for name in ("b.bin", "c.bin"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~old, name


def test_write_error_names_the_path_given(tmp_path, npy, monkeypatch) -> None:
    real_write = os.write

    def full(fd, data):
        if fd <= 2:
            return real_write(fd, data)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "write", full)
    out = tmp_path / "out.vcm"
    line = refused(cli("encode", npy, "-o", out))
    monkeypatch.undo()
    assert line == f"error: {out}: No space left on device"
    assert not out.exists()
    no_leftovers(tmp_path)


def test_write_error_of_a_writer_function_names_the_path_given(tmp_path) -> None:
    def writer(tmp):
        with open(tmp, "wb"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError) as ei:
        write_atomic(tmp_path / "out.npz", writer)
    assert ei.value.errno == errno.ENOSPC and ei.value.filename == str(tmp_path / "out.npz")
    no_leftovers(tmp_path)


def test_real_write_error_names_the_path_given(tmp_path, npy) -> None:
    """A real failing write (EFBIG past RLIMIT_FSIZE) in a child process."""

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40, 40))

    proc = subprocess.run(
        [sys.executable, "-m", "vcmref.cli", "encode", "feat.npy", "-o", "out.vcm"],
        cwd=tmp_path,
        preexec_fn=small_files,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == "error: out.vcm: File too large"
    assert not (tmp_path / "out.vcm").exists()
    no_leftovers(tmp_path)


def test_a_regular_file_is_still_replaced(tmp_path, npy) -> None:
    out = tmp_path / "out.vcm"
    out.write_bytes(b"old")
    res = cli("encode", npy, "-o", out)
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(encode({"feat": np.load(npy)})[:8])
    no_leftovers(tmp_path)


# --------------------------------------------------------------------------- B: damaged inputs

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"


def _npz_bytes(tmp_path) -> bytes:
    path = tmp_path / "whole.npz"
    np.savez(path, a=np.ones((2, 8, 8), np.float32), b=np.zeros((1, 4, 4), np.float32))
    return path.read_bytes()


@pytest.mark.parametrize(
    "name,make,words",
    [
        ("x.npy", lambda t: b"", ["x.npy: empty file", ".npy"]),
        ("x.npz", lambda t: b"", ["x.npz: empty file", ".npz"]),
        ("x.npy", lambda t: PNG, ["not a NumPy .npy file", "PNG image", "expected a .npy array"]),
        ("x.npy", lambda t: b"hello, world\n", ["not a NumPy .npy file", "text"]),
        ("x.npz", lambda t: b"a,b\n1,2\n", ["x.npz", "not a NumPy .npz", "text"]),
        ("x.npz", lambda t: _npz_bytes(t)[:-40], ["x.npz: truncated or damaged .npz (zip) file"]),
        ("x.npz", lambda t: _npz_bytes(t)[:3], ["x.npz: truncated"]),
        ("x.npy", lambda t: _npz_bytes(t), ["x.npy", "zip"]),
    ],
)
def test_damaged_input_is_one_line(tmp_path, name, make, words) -> None:
    path = tmp_path / name
    path.write_bytes(make(tmp_path))
    out = tmp_path / "out.vcm"
    refused(cli("encode", path, "-o", out), *words)
    assert not out.exists()


def test_truncated_npy(tmp_path) -> None:
    np.save(tmp_path / "whole.npy", np.ones((4, 8, 8), np.float32))
    data = (tmp_path / "whole.npy").read_bytes()
    for cut, word in ((len(data) - 100, "truncated"), (40, "damaged")):
        (tmp_path / "x.npy").write_bytes(data[:cut])
        refused(cli("encode", tmp_path / "x.npy", "-o", tmp_path / "o.vcm"), "x.npy", word)
    assert not (tmp_path / "o.vcm").exists()


def test_corrupt_npz_member(tmp_path) -> None:
    path = tmp_path / "c.npz"
    np.savez_compressed(path, a=np.linspace(0, 1, 4096, dtype=np.float32).reshape(1, 64, 64))
    data = bytearray(path.read_bytes())
    for i in range(120, 140):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    refused(cli("encode", path, "-o", tmp_path / "o.vcm"), "c.npz", "damaged")


def test_object_and_non_numeric_arrays(tmp_path) -> None:
    np.save(tmp_path / "o.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    refused(
        cli("encode", tmp_path / "o.npy", "-o", tmp_path / "x.vcm"),
        "o.npy",
        "object (pickled) array",
    )
    np.savez(
        tmp_path / "o.npz", ok=np.ones((1, 2, 2), np.float32), bad=np.array([None], dtype=object)
    )
    refused(
        cli("encode", tmp_path / "o.npz", "-o", tmp_path / "x.vcm"),
        "o.npz",
        "'bad'",
        "object (pickled) array",
    )
    np.save(tmp_path / "s.npy", np.array([["ab", "c"]]))
    refused(
        cli("encode", tmp_path / "s.npy", "-o", tmp_path / "x.vcm"), "s.npy", "<U2", "not numeric"
    )
    with zipfile.ZipFile(tmp_path / "t.npz", "w") as z:
        z.writestr("readme.txt", "hello")
    refused(cli("encode", tmp_path / "t.npz", "-o", tmp_path / "x.vcm"), "t.npz", "'readme.txt'")
    refused(cli("anchor-encode", tmp_path / "s.npy", "-o", tmp_path / "x.vcm"), "not numeric")
    assert not (tmp_path / "x.vcm").exists()


# --------------------------------------------------------------------------- C: options


@pytest.mark.parametrize(
    "args,words",
    [
        (["--quant", "minmax", "--qp", "5"], ["--qp 5", "--quant qp"]),
        (["--quant", "minmax-channel", "--qp", "5"], ["--qp 5"]),
        (["--quant", "step", "--qp", "5", "--step", "0.1"], ["--qp 5"]),
        (["--quant", "minmax", "--step", "0.1"], ["--step 0.1", "--quant step"]),
        (["--quant", "qp", "--qp", "5", "--step", "0.1"], ["--step 0.1"]),
    ],
)
def test_encode_refuses_options_its_quant_does_not_use(tmp_path, npy, args, words) -> None:
    out = tmp_path / "out.vcm"
    refused(cli("encode", npy, "-o", out, *args), *words)
    assert not out.exists()


@pytest.mark.parametrize(
    "quant,qp,tensor_qp",
    [("minmax", 5, None), ("step", 5, None), ("minmax-channel", None, {"t": 3})],
)
def test_encoder_api_refuses_qp_without_quant_qp(quant, qp, tensor_qp) -> None:
    cfg = EncoderConfig(
        quant=quant, qp=qp, tensor_qp=tensor_qp, step=0.1 if quant == "step" else None
    )
    with pytest.raises(EncoderInputError, match="only used with quant 'qp'"):
        encode({"t": np.ones((1, 2, 2), np.float32)}, cfg)


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_ctc_and_demo_refuse_workers_below_one(tmp_path, workers) -> None:
    refused(
        cli("ctc", "demo", "--run-dir", tmp_path / "run", "--workers", workers),
        f"--workers {workers}",
    )
    refused(
        cli("demo", "--workdir", tmp_path / "demo", "--workers", workers), f"--workers {workers}"
    )
    assert not (tmp_path / "run").exists() and not (tmp_path / "demo").exists()
