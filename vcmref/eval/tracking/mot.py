"""MOT Challenge sequences: ``seqinfo.ini``, the frames, ``gt/gt.txt`` and ``det/det.txt``, and
tracker results in the same text format (read and written).

A sequence folder holds ``seqinfo.ini`` (section ``[Sequence]`` with ``name``, ``imDir``,
``frameRate``, ``seqLength``, ``imWidth``, ``imHeight``, ``imExt``; keys case-insensitive), the
frames ``<imDir>/000001<imExt>`` ... and optionally ``gt/gt.txt`` and ``det/det.txt``.
Text files have one comma-separated line per box:

* ground truth, MOT16/17/20 (9 fields): ``frame, id, left, top, width, height, flag, class,
  visibility``; ``flag`` 0 means "do not count this entry" (ignored), 1 "count it".
* ground truth, MOT15 (10 fields): ``frame, id, left, top, width, height, conf, x, y, z``;
  ``conf`` 0 means ignored; class and visibility are not given (-1).
* detections and tracker results (7 to 10 fields): ``frame, id, left, top, width, height,
  score[, x, y, z]``; detections have id -1.

``left``/``top`` are 1-based (the top-left pixel is (1, 1), as motmetrics reads them); in memory
every box is ``(x1, y1, x2, y2)`` float64 in continuous 0-based pixel coordinates, the
detector's convention: ``x1 = left - 1``, ``x2 = x1 + width``. Frames are numbered from 1.
Errors are `MotFormatError`, one line naming the file and, where there is one, the line.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vcmref.eval.datasets.base import DatasetError, listed
from vcmref.fileio import write_atomic

SEQINFO_KEYS = ("name", "imDir", "frameRate", "seqLength", "imWidth", "imHeight", "imExt")
KINDS = ("gt", "det", "results")
_FIELD_NAMES = ("frame", "id", "left", "top", "width", "height", "score", "x", "y", "z")
_GT9_NAMES = ("frame", "id", "left", "top", "width", "height", "flag", "class", "visibility")
_GT10_NAMES = ("frame", "id", "left", "top", "width", "height", "conf", "x", "y", "z")
_SHOWN_VALUE = 40  # characters of a bad value quoted in an error


class MotFormatError(DatasetError):
    """A MOT file or sequence folder that is not as documented: one line naming the file and,
    where there is one, the line number."""

    def __init__(self, file: str | Path, line: int | str | None, reason: str) -> None:
        where = f"line {line}" if isinstance(line, int) else line
        super().__init__(file, where, reason)
        self.line = line


@dataclass(frozen=True)
class SequenceInfo:
    """What ``seqinfo.ini`` declares; `folder` is the sequence folder it was read from."""

    folder: Path
    name: str
    image_dir: str
    frame_rate: float
    num_frames: int
    width: int
    height: int
    image_ext: str  # with its dot: ".jpg"

    def image_path(self, frame: int) -> Path:
        """The image of a frame (1-based): ``<folder>/<imDir>/000001<imExt>``."""
        if not 1 <= frame <= self.num_frames:
            raise ValueError(f"frame {frame} is outside 1..{self.num_frames}")
        return self.folder / self.image_dir / f"{frame:06d}{self.image_ext}"


@dataclass(frozen=True, eq=False)
class FrameEntries:
    """The boxes of one frame: `boxes` (N, 4) float64 xyxy in 0-based pixels, `ids` (N,)
    int64 track ids, `classes` (N,) int64 (-1: not given), `scores` (N,) float64 (a
    detection's or track's score; a ground-truth line's flag/conf), `visibility` (N,) float64
    (-1: not given) and `counted` (N,) bool (False: ignored ground truth, flag 0)."""

    boxes: np.ndarray
    ids: np.ndarray
    classes: np.ndarray | None = None
    scores: np.ndarray | None = None
    visibility: np.ndarray | None = None
    counted: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)

        def column(value: np.ndarray | None, dtype: type, default: float | bool) -> np.ndarray:
            if value is None:
                return np.full(n, default, dtype=dtype)
            return np.asarray(value, dtype=dtype).reshape(-1)

        columns = {
            "boxes": boxes,
            "ids": ids,
            "classes": column(self.classes, np.int64, -1),
            "scores": column(self.scores, np.float64, 1.0),
            "visibility": column(self.visibility, np.float64, -1.0),
            "counted": column(self.counted, np.bool_, True),
        }
        for name, values in columns.items():
            if len(values) != n:
                raise ValueError(f"FrameEntries: {name} has {len(values)} entries, boxes {n}")
            object.__setattr__(self, name, values)

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> FrameEntries:
        return cls(np.zeros((0, 4)), np.zeros(0, np.int64))

    def select(self, keep: np.ndarray) -> FrameEntries:
        """The entries where the boolean mask (or index array) `keep` says so."""
        return FrameEntries(self.boxes[keep], self.ids[keep], self.classes[keep],
                            self.scores[keep], self.visibility[keep], self.counted[keep])

    def ltwh(self) -> np.ndarray:
        """Boxes as (left, top, width, height) in 0-based pixels (not the file's 1-based)."""
        return np.column_stack([self.boxes[:, :2], self.boxes[:, 2:] - self.boxes[:, :2]])


@dataclass(frozen=True, eq=False)
class MotTracks:
    """Boxes of a whole sequence, frame by frame: ``frames[k]`` is frame ``k + 1``.

    `source` says where they came from (a file, or what made them); `pseudo_gt` is True for
    ground truth made from a tracker's output rather than by annotators, so that scores
    computed against it can be reported as such."""

    frames: tuple[FrameEntries, ...]
    source: str = ""
    pseudo_gt: bool = False
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def frame(self, number: int) -> FrameEntries:
        """The entries of frame `number` (1-based); empty past the end."""
        if number < 1:
            raise ValueError(f"frame {number}: frames are numbered from 1")
        return self.frames[number - 1] if number <= len(self.frames) else FrameEntries.empty()

    def num_entries(self) -> int:
        return sum(len(f) for f in self.frames)

    def track_ids(self) -> np.ndarray:
        """The distinct ids, ascending."""
        ids = [f.ids for f in self.frames if len(f)]
        return np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64)


@dataclass(frozen=True, eq=False)
class MotSequence:
    """A sequence folder: its `info`, its ground truth and public detections (None where the
    folder has no ``gt/gt.txt`` or ``det/det.txt``)."""

    info: SequenceInfo
    gt: MotTracks | None
    detections: MotTracks | None


def _shown(value: str) -> str:
    text = value if len(value) <= _SHOWN_VALUE else value[:_SHOWN_VALUE] + "..."
    return repr(text)


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MotFormatError(path, None, f"not found ({what})") from None
    except IsADirectoryError:
        raise MotFormatError(path, None, f"is a folder, expected {what}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MotFormatError(path, None, f"not UTF-8 text (byte {e.start})") from None


def read_seqinfo(folder: str | os.PathLike) -> SequenceInfo:
    """The ``seqinfo.ini`` of a MOT sequence folder, every key of `SEQINFO_KEYS` required."""
    folder = Path(folder)
    path = folder / "seqinfo.ini"
    if not folder.is_dir():
        raise MotFormatError(folder, None, "not a folder (expected a MOT sequence folder)")
    if not path.is_file():
        raise MotFormatError(path, None, "not found: a MOT sequence folder needs a seqinfo.ini")
    text = _read_text(path, "the sequence description")
    section: str | None = None
    has_sequence = False
    values: dict[str, tuple[str, int]] = {}  # lower-case key -> (value, line)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise MotFormatError(path, number, f"bad section header {_shown(line)}")
            section = line[1:-1].strip()
            has_sequence = has_sequence or section == "Sequence"
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise MotFormatError(path, number, f"expected key=value, got {_shown(line)}")
        if section == "Sequence":
            values[key.strip().lower()] = (value.strip(), number)
    if not has_sequence:
        raise MotFormatError(path, None, "no [Sequence] section")
    for key in SEQINFO_KEYS:
        if key.lower() not in values:
            raise MotFormatError(path, "[Sequence]", f"missing key {key!r}")

    def number(key: str, kind: type) -> float:
        value, line = values[key.lower()]
        try:
            parsed = kind(value)
        except ValueError:
            parsed = None
        if parsed is None or not math.isfinite(parsed) or parsed <= 0:
            expected = "a positive integer" if kind is int else "a positive number"
            raise MotFormatError(path, line, f"{key} must be {expected}, got {_shown(value)}")
        return parsed

    image_ext = values["imext"][0]
    if not image_ext:
        raise MotFormatError(path, values["imext"][1], "imExt is empty")
    image_dir = values["imdir"][0]
    if not image_dir:
        raise MotFormatError(path, values["imdir"][1], "imDir is empty")
    return SequenceInfo(
        folder=folder,
        name=values["name"][0],
        image_dir=image_dir,
        frame_rate=float(number("frameRate", float)),
        num_frames=int(number("seqLength", int)),
        width=int(number("imWidth", int)),
        height=int(number("imHeight", int)),
        image_ext=image_ext if image_ext.startswith(".") else "." + image_ext,
    )


def _field_names(kind: str, count: int) -> tuple[str, ...] | None:
    """The meaning of each field of a `kind` line with `count` fields; None: not allowed."""
    if kind == "gt":
        return {9: _GT9_NAMES, 10: _GT10_NAMES}.get(count)
    return _FIELD_NAMES[:count] if 7 <= count <= 10 else None


def _expected_counts(kind: str) -> str:
    if kind == "gt":
        return "9 (MOT16/17: frame,id,left,top,width,height,flag,class,visibility) or 10 (MOT15)"
    return "7 to 10 (frame,id,left,top,width,height,score[,x,y,z])"


def read_mot_file(path: str | os.PathLike, kind: str = "gt",
                  num_frames: int | None = None) -> MotTracks:
    """Read a MOT text file of `kind` "gt", "det" or "results" (see the module docstring).

    Frames must lie in 1..`num_frames` when it is given (the sequence's ``seqLength``), else
    the result has as many frames as the largest frame number. Ground truth and results may
    not repeat an id within a frame; ids there must be integers >= 0."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    path = Path(path)
    text = _read_text(path, {"gt": "ground truth", "det": "detections",
                             "results": "tracker results"}[kind])
    rows: list[tuple[float, ...]] = []
    seen: dict[tuple[int, int], int] = {}
    names: tuple[str, ...] | None = None
    first_count_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        fields = [f.strip() for f in raw.split(",")]
        if names is None:
            names = _field_names(kind, len(fields))
            first_count_line = number
            if names is None:
                raise MotFormatError(path, number, f"{len(fields)} fields, expected "
                                     f"{_expected_counts(kind)}")
        elif len(fields) != len(names):
            raise MotFormatError(path, number, f"{len(fields)} fields, but line "
                                 f"{first_count_line} has {len(names)}")
        values = []
        for name, text_value in zip(names, fields, strict=True):
            try:
                value = float(text_value)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise MotFormatError(path, number,
                                     f"{name} is not a finite number: {_shown(text_value)}")
            values.append(value)
        row = dict(zip(names, values, strict=True))
        for name in ("frame", "id") + (("class",) if "class" in row else ()):
            if row[name] != int(row[name]):
                raise MotFormatError(path, number, f"{name} {row[name]:g} is not an integer")
        frame, track_id = int(row["frame"]), int(row["id"])
        if frame < 1 or (num_frames is not None and frame > num_frames):
            bound = f"1..{num_frames} (seqLength)" if num_frames is not None else ">= 1"
            raise MotFormatError(path, number, f"frame {frame} outside {bound}")
        for name in ("width", "height"):
            if row[name] < 0:
                raise MotFormatError(path, number, f"negative {name} {row[name]:g}")
        if kind != "det":
            if track_id < 0:
                raise MotFormatError(path, number, f"id {track_id} is negative")
            if (frame, track_id) in seen:
                raise MotFormatError(path, number, f"id {track_id} appears twice in frame "
                                     f"{frame} (also line {seen[frame, track_id]})")
            seen[frame, track_id] = number
        rows.append(_entry_row(kind, row))
    table = np.array(rows, dtype=np.float64).reshape(-1, 10)
    count = num_frames if num_frames is not None else int(table[:, 0].max(initial=0))
    return MotTracks(_split_frames(table, count), source=str(path))


def _entry_row(kind: str, row: dict[str, float]) -> tuple[float, ...]:
    """(frame, id, x1, y1, x2, y2, class, score, visibility, counted) of one parsed line."""
    x1, y1 = row["left"] - 1.0, row["top"] - 1.0
    box = (x1, y1, x1 + row["width"], y1 + row["height"])
    if kind == "gt" and "flag" in row:
        flag = row["flag"]
        return (row["frame"], row["id"], *box, row["class"], flag, row["visibility"],
                float(flag != 0))
    if kind == "gt":  # MOT15: conf plays the flag's part; class and visibility not given
        return (row["frame"], row["id"], *box, -1.0, row["conf"], -1.0, float(row["conf"] != 0))
    return (row["frame"], row["id"], *box, -1.0, row["score"], -1.0, 1.0)


def _split_frames(table: np.ndarray, num_frames: int) -> tuple[FrameEntries, ...]:
    """Per-frame entries from (frame, id, x1, y1, x2, y2, class, score, vis, counted) rows,
    in file order within a frame."""
    order = np.argsort(table[:, 0], kind="stable")
    table = table[order]
    starts = np.searchsorted(table[:, 0], np.arange(1, num_frames + 2))
    frames = []
    for k in range(num_frames):
        part = table[starts[k]:starts[k + 1]]
        frames.append(FrameEntries(part[:, 2:6], part[:, 1].astype(np.int64),
                                   part[:, 6].astype(np.int64), part[:, 7], part[:, 8],
                                   part[:, 9] != 0))
    return tuple(frames)


def _image_check(info: SequenceInfo) -> None:
    image_dir = info.folder / info.image_dir
    if not image_dir.is_dir():
        raise MotFormatError(image_dir, None, f"not found (imDir of {info.name})")
    present = {entry.name for entry in os.scandir(image_dir)}
    missing = [f"{k:06d}{info.image_ext}" for k in range(1, info.num_frames + 1)
               if f"{k:06d}{info.image_ext}" not in present]
    if missing:
        raise MotFormatError(image_dir, None, f"{len(missing)} of {info.num_frames} frames "
                             f"missing (seqLength {info.num_frames}): {listed(missing)}")


def read_sequence(folder: str | os.PathLike, *, need_gt: bool = True,
                  check_images: bool = True) -> MotSequence:
    """A MOT sequence folder: ``seqinfo.ini``, ``gt/gt.txt`` (an error when missing and
    `need_gt`), ``det/det.txt`` when present; `check_images`: every frame's image exists."""
    info = read_seqinfo(folder)
    if check_images:
        _image_check(info)
    gt_path = info.folder / "gt" / "gt.txt"
    gt = None
    if gt_path.is_file() or need_gt:
        gt = read_mot_file(gt_path, "gt", info.num_frames)
    det_path = info.folder / "det" / "det.txt"
    detections = read_mot_file(det_path, "det", info.num_frames) if det_path.is_file() else None
    return MotSequence(info, gt, detections)


def _number(value: float) -> str:
    """Shortest text that reads back as the same float; integers without a fraction."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def format_mot_lines(tracks: MotTracks, kind: str = "results") -> str:
    """The MOT text of `tracks`: "results" lines ``frame,id,left,top,width,height,score,-1,-1,
    -1`` (MOT Challenge submissions), or "gt" lines ``frame,id,left,top,width,height,flag,
    class,visibility`` (flag 1 for counted entries, 0 for ignored ones)."""
    if kind not in ("results", "gt"):
        raise ValueError(f"kind must be 'results' or 'gt', got {kind!r}")
    lines = []
    for number, entries in enumerate(tracks.frames, start=1):
        ltwh = entries.ltwh()
        for k in range(len(entries)):
            box = ",".join(_number(v) for v in (ltwh[k, 0] + 1.0, ltwh[k, 1] + 1.0,
                                                ltwh[k, 2], ltwh[k, 3]))
            head = f"{number},{int(entries.ids[k])},{box}"
            if kind == "results":
                lines.append(f"{head},{_number(entries.scores[k])},-1,-1,-1")
            else:
                lines.append(f"{head},{int(entries.counted[k])},{int(entries.classes[k])},"
                             f"{_number(entries.visibility[k])}")
    return "".join(line + "\n" for line in lines)


def write_mot_file(path: str | os.PathLike, tracks: MotTracks, kind: str = "results") -> None:
    """Write `tracks` as a MOT text file (see `format_mot_lines`), whole or not at all."""
    write_atomic(path, format_mot_lines(tracks, kind).encode("ascii"))


def write_seqinfo(folder: str | os.PathLike, info_values: dict[str, str | int | float]) -> None:
    """Write ``<folder>/seqinfo.ini`` with the given `SEQINFO_KEYS` values, in that order."""
    missing = [k for k in SEQINFO_KEYS if k not in info_values]
    if missing:
        raise ValueError(f"seqinfo values missing: {', '.join(missing)}")
    for key in SEQINFO_KEYS:
        if re.search(r"[\r\n]", str(info_values[key])):
            raise ValueError(f"seqinfo value of {key} has a line break")
    text = "[Sequence]\n" + "".join(f"{k}={info_values[k]}\n" for k in SEQINFO_KEYS)
    write_atomic(Path(folder) / "seqinfo.ini", text.encode("utf-8"))

