"""Tile layout and data-unit geometry (normative): which samples a data unit carries, in
which order they are decoded (the wavefront), and which rANS lane decodes each one."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache, wraps
from typing import Any, TypeVar

import numpy as np

from vcmref.bitstream.parameter_sets import StreamParameterSet

_F = TypeVar("_F", bound=Callable[..., Any])

CACHE_BUDGET_BYTES = 128 << 20


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(_nbytes(getattr(value, f.name)) for f in fields(value))
    return 0


def array_cache(budget: int = CACHE_BUDGET_BYTES) -> Callable[[_F], _F]:
    """Memoize a function of hashable arguments, least recently used first out, keeping the
    numpy arrays of the results within `budget` bytes: a stream cannot make the cache grow
    with the number of its units (a result larger than the budget is not kept)."""

    def wrap(fn: _F) -> _F:
        store: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        held = [0]

        @wraps(fn)
        def cached(*args):
            hit = store.get(args)
            if hit is not None:
                store.move_to_end(args)
                return hit[0]
            value = fn(*args)
            size = _nbytes(value)
            if size <= budget:
                store[args] = (value, size)
                held[0] += size
                while held[0] > budget:
                    _, (_, old) = store.popitem(last=False)
                    held[0] -= old
            return value

        def cache_clear() -> None:
            store.clear()
            held[0] = 0

        cached.cache_clear = cache_clear  # type: ignore[attr-defined]
        cached.cache_bytes = lambda: held[0]  # type: ignore[attr-defined]
        return cached  # type: ignore[return-value]

    return wrap


@dataclass(frozen=True)
class TileGeometry:
    """The 2-D tile of one (tensor, layer): a grid of channel cells, cell k at (k//cols, k%cols)."""

    channels: tuple[int, ...]  # tensor channel index of cell k
    cols: int
    rows: int
    cell_height: int
    cell_width: int
    rows_per_unit: int

    @property
    def height(self) -> int:
        return self.rows * self.cell_height

    @property
    def width(self) -> int:
        return self.cols * self.cell_width

    @property
    def num_units(self) -> int:
        return -(-self.height // self.rows_per_unit)

    @lru_cache(maxsize=1024)  # noqa: B019 - geometries are few and immutable
    def unit_rects(self, unit_idx: int) -> list[tuple[int, int, int]]:
        """(cell k, first row, end row) of every cell part that unit `unit_idx` carries."""
        y0 = unit_idx * self.rows_per_unit
        y1 = min(y0 + self.rows_per_unit, self.height)
        rects = []
        for k in range(len(self.channels)):
            top = (k // self.cols) * self.cell_height
            a, b = max(y0, top), min(y1, top + self.cell_height)
            if a < b:
                rects.append((k, a - top, b - top))
        return rects


def tile_geometry(sps: StreamParameterSet, t: int, layer: int) -> TileGeometry | None:
    """Geometry of tensor t's tile in `layer`, or None when the layer carries none of t."""
    channels = sps.layer_channels(t, layer)
    if not channels:
        return None
    ti, tl = sps.tensors[t], sps.tile_layouts[t]
    cols = tl.tile_columns[layer]
    rows = -(-len(channels) // cols)
    height = rows * ti.height
    rpu = tl.rows_per_unit if tl.rows_per_unit else height
    return TileGeometry(tuple(channels), cols, rows, ti.height, ti.width, min(rpu, height))


@dataclass(frozen=True)
class UnitSchedule:
    """Decoding order of one data unit's samples and the lane bookkeeping of its passes.

    Samples are indexed in unit order: the unit's cell parts one after another, each row-major.
    Index `n` (= number of samples) is a sentinel that stands for an unavailable neighbour.
    """

    n: int
    order: np.ndarray  # unit-order sample index of the i-th decoded sample
    above: np.ndarray  # decoding-order index of its above neighbour, or n
    left: np.ndarray  # decoding-order index of its left neighbour, or n
    step_bounds: np.ndarray  # step s decodes order[step_bounds[s]:step_bounds[s + 1]]
    lane_starts: np.ndarray  # lanes [lane_starts[s], width(s)) read their state before step s
    lane_retires: np.ndarray  # lanes [lane_retires[s], width(s)) push their state after step s

    @property
    def num_steps(self) -> int:
        return len(self.step_bounds) - 1

    @property
    def max_lanes(self) -> int:
        return int(np.diff(self.step_bounds).max()) if self.n else 0


@array_cache()
def unit_schedule(heights: tuple[int, ...], width: int, block: int,
                  lane_limit: int = 0) -> UnitSchedule:
    """Wavefront schedule of cell parts of the given heights, all `width` samples wide.

    Each part is cut into blocks of `block` x `block` samples (from its top-left corner; the
    last ones smaller). Pass p holds the samples with x' + y' == p, where (x', y') are the
    coordinates within the block, of every block of every part; within a pass, samples are
    ordered by part, then block (row-major), then row. A neighbour outside the sample's block
    is unavailable. With a lane limit L > 0, pass p is decoded in steps of at most L samples
    (sample i of the pass in step i div L by lane i mod L); with L = 0 each pass is one step and
    sample i is decoded by lane i.
    """
    h = np.asarray(heights, dtype=np.int64)
    n = int(h.sum()) * width
    part = np.repeat(np.arange(len(h)), h * width)
    base = np.repeat(np.concatenate(([0], np.cumsum(h)[:-1])) * width, h * width)
    local = np.arange(n, dtype=np.int64) - base
    y, x = local // width, local % width
    by, bx = y % block, x % block
    block_index = (y // block) * (-(-width // block)) + x // block
    pass_of = bx + by
    n_blocks = int(block_index.max()) + 1 if n else 1
    key = ((pass_of * len(h) + part) * n_blocks + block_index) * (int(h.max()) if n else 1) + y
    order = np.argsort(key, kind="stable")
    pass_bounds = np.concatenate(([0], np.cumsum(np.bincount(pass_of, minlength=1))))
    if lane_limit > 0:
        starts = np.concatenate([np.arange(a, b, lane_limit)
                                 for a, b in zip(pass_bounds[:-1], pass_bounds[1:], strict=True)])
        bounds = np.append(starts, n)
    else:
        bounds = pass_bounds
    counts = np.diff(bounds)
    rank = np.empty(n + 1, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    rank[n] = n
    idx = np.arange(n, dtype=np.int64)
    left = rank[np.where(bx > 0, idx - 1, n)]
    above = rank[np.where(by > 0, idx - width, n)]
    prefix_max = np.concatenate(([0], np.maximum.accumulate(counts)[:-1]))
    suffix_max = np.concatenate((np.maximum.accumulate(counts[::-1])[::-1][1:], [0]))
    return UnitSchedule(
        n=n,
        order=order.astype(np.int64),
        above=above[order].astype(np.int64),
        left=left[order].astype(np.int64),
        step_bounds=bounds.astype(np.int64),
        lane_starts=np.minimum(prefix_max, counts).astype(np.int64),
        lane_retires=np.minimum(suffix_max, counts).astype(np.int64),
    )


def schedule_for(geom: TileGeometry, unit_idx: int, block: int,
                 lane_limit: int) -> tuple[list[tuple[int, int, int]], UnitSchedule]:
    """The unit's cell parts and its decoding schedule (block 0: one block per part)."""
    rects = geom.unit_rects(unit_idx)
    heights = tuple(b - a for _, a, b in rects)
    if block == 0:
        block = max(max(heights), geom.cell_width)
    return rects, unit_schedule(heights, geom.cell_width, block, lane_limit)


@array_cache()
def unit_tensor_index(geom: TileGeometry, unit_idx: int, block: int,
                      lane_limit: int) -> tuple[UnitSchedule, np.ndarray]:
    """The unit's schedule, and the flat (C, H, W) tensor index of each sample in decoding
    order."""
    rects, sched = schedule_for(geom, unit_idx, block, lane_limit)
    w = geom.cell_width
    plane = geom.cell_height * w
    unit_order = np.concatenate([
        geom.channels[k] * plane + np.arange(a * w, b * w, dtype=np.int64)
        for k, a, b in rects])
    return sched, unit_order[sched.order]


def tile_frame(tensor: np.ndarray, geom: TileGeometry, padding: int) -> np.ndarray:
    """The tile as a 2-D frame of samples: cells in a grid, unused cells filled with padding."""
    frame = np.full((geom.height, geom.width), padding, dtype=tensor.dtype)
    for k, c in enumerate(geom.channels):
        r, q = divmod(k, geom.cols)
        frame[r * geom.cell_height : (r + 1) * geom.cell_height,
              q * geom.cell_width : (q + 1) * geom.cell_width] = tensor[c]
    return frame
