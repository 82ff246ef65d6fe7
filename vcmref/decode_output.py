"""Decoded frames to files as they come: .npz archives of (F, ...) arrays and the conformance
suite's raw big-endian files, spooled a frame at a time so that memory holds one frame.

Nothing appears under an output's name until the whole stream has decoded: each output is
spooled to an anonymous temporary file, then written with `write_atomic`. A decode error
leaves no output behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import numpy as np

from vcmref.fileio import check_output_path, write_atomic

_COPY_BYTES = 1 << 22


class NpzSpool:
    """An .npz of arrays that grow by one frame at a time along a new first axis."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parts: dict[str, tuple[IO[bytes], np.dtype, tuple[int, ...]]] = {}
        self.frames: dict[str, int] = {}

    def add(self, name: str, frame: np.ndarray) -> None:
        """Append one frame of array `name` (every frame of a name has one shape and dtype)."""
        self.declare(name, frame.dtype, frame.shape)
        spool, dtype, shape = self._parts[name]
        if frame.dtype != dtype or frame.shape != shape:
            raise ValueError(f"{name}: frame of {frame.dtype} {frame.shape}, expected "
                             f"{dtype} {shape}")
        spool.write(np.ascontiguousarray(frame).tobytes())
        self.frames[name] += 1

    def declare(self, name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        """Make `name` part of the archive even if no frame comes (a stream of zero frames)."""
        if name not in self._parts:
            self._parts[name] = (tempfile.TemporaryFile(), np.dtype(dtype), shape)  # noqa: SIM115
            self.frames[name] = 0

    def _write(self, tmp: Path) -> None:
        with open(tmp, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED,
                                                   allowZip64=True) as zf:
            for name, (spool, dtype, shape) in self._parts.items():
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                          "shape": (self.frames[name], *shape)}
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(member, header)
                    spool.seek(0)
                    shutil.copyfileobj(spool, member, _COPY_BYTES)

    def commit(self) -> None:
        write_atomic(self.path, self._write)

    def close(self) -> None:
        for spool, _, _ in self._parts.values():
            spool.close()


class RawSpool:
    """A raw file written as a concatenation of parts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._spool: IO[bytes] | None = None

    def add(self, data: bytes) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._spool.write(data)

    def _write(self, tmp: Path) -> None:
        with open(tmp, "wb") as f:
            if self._spool is not None:
                self._spool.seek(0)
                shutil.copyfileobj(self._spool, f, _COPY_BYTES)

    def commit(self) -> None:
        write_atomic(self.path, self._write)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


class DecodeOutputs:
    """The files a decode writes, each optional: tensors (float32), samples (int32), tile
    frames (.npz), and the conformance suite's raw sample and value files."""

    def __init__(self, *, tensors: Path | None = None, samples: Path | None = None,
                 tile_frames: Path | None = None, raw_samples: Path | None = None,
                 raw_values: Path | None = None, missing: Path | None = None) -> None:
        paths = [p for p in (tensors, samples, tile_frames, raw_samples, raw_values, missing)
                 if p is not None]
        for p in paths:
            check_output_path(p)
        resolved = [os.path.realpath(p) for p in paths]
        if len(set(resolved)) != len(resolved):
            twice = next(p for p, r in zip(paths, resolved, strict=True)
                         if resolved.count(r) > 1)
            raise ValueError(f"{twice}: the same file is named as two outputs")
        self.tensors = NpzSpool(tensors) if tensors is not None else None
        self.samples = NpzSpool(samples) if samples is not None else None
        self.tile_frames = NpzSpool(tile_frames) if tile_frames is not None else None
        self.raw_samples = RawSpool(raw_samples) if raw_samples is not None else None
        self.raw_values = RawSpool(raw_values) if raw_values is not None else None
        self.missing = NpzSpool(missing) if missing is not None else None  # lost-sample masks

    def _spools(self) -> list[NpzSpool | RawSpool]:
        return [s for s in (self.tensors, self.samples, self.tile_frames, self.raw_samples,
                            self.raw_values, self.missing) if s is not None]

    def write_all(self, sps, frames: Iterable, restore: Callable | None = None) -> int:
        """Spool every frame of `frames` (decoded frames of a stream with parameter set
        `sps`), then write the outputs; returns the number of frames. `restore` maps a
        frame's tensors to the tensors output (restoration, clause 8); the other outputs are
        the conformance point's."""
        from vcmref.conformance.suite import frame_samples_bytes, frame_values_bytes
        from vcmref.refsw.tiles import tile_frame, tile_geometry

        try:
            geoms = [(f"{ti.name}/layer{layer}", ti.name, geom)
                     for layer in range(len(sps.layers))
                     for t, ti in enumerate(sps.tensors)
                     if (geom := tile_geometry(sps, t, layer)) is not None]
            for ti in sps.tensors:
                shape = (ti.channels, ti.height, ti.width)
                if self.tensors is not None:
                    self.tensors.declare(ti.name, np.float32, shape)
                if self.samples is not None:
                    self.samples.declare(ti.name, np.int32, shape)
                if self.missing is not None:
                    self.missing.declare(ti.name, np.bool_, shape)
            if self.tile_frames is not None:
                for name, _, geom in geoms:
                    self.tile_frames.declare(name, np.int32, (geom.height, geom.width))
            count = 0
            for frame in frames:
                tensors = frame.tensors
                if self.tensors is not None and restore is not None:
                    tensors = restore(tensors)
                for ti in sps.tensors:
                    if self.tensors is not None:
                        self.tensors.add(ti.name, tensors[ti.name])
                    if self.samples is not None:
                        self.samples.add(ti.name, frame.samples[ti.name])
                    if self.missing is not None:
                        self.missing.add(ti.name, frame.missing[ti.name])
                if self.raw_samples is not None:
                    self.raw_samples.add(frame_samples_bytes(sps, frame))
                if self.raw_values is not None:
                    self.raw_values.add(frame_values_bytes(sps, frame))
                if self.tile_frames is not None:
                    for name, tensor, geom in geoms:
                        self.tile_frames.add(name, tile_frame(frame.samples[tensor], geom,
                                                              sps.tile_padding_value))
                count += 1
            for spool in self._spools():
                spool.commit()
            return count
        finally:
            for spool in self._spools():
                spool.close()
