"""The dataset interface shared by every format: items, ground truth in COCO form, subsets.

An :class:`Item` is one picture: an integer ``id``, a ``name`` (the file stem, or the COCO
``file_name`` stem), its file, its width and height in pixels and, for annotated sets, its
annotations as COCO annotation dicts (``bbox`` is ``[x, y, w, h]`` in pixels, x/y the top-left
corner, continuous coordinates with the image spanning ``[0, width] x [0, height]``).

A :class:`Dataset` holds its items in ascending id order. ``subset(ids=...)`` keeps the order the
ids are given in; ``subset(count=n)`` keeps the first ``n`` items in ascending id order. Both are
pure functions of the dataset: no randomness, no file-system order.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vcmref.errors import VcmrefError
from vcmref.params import Param, ParamError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
_LIST_AT_MOST = 5


class DatasetError(VcmrefError, ValueError):
    """A dataset file that does not follow its documented format: names the file and field."""

    def __init__(self, file: str | Path, field: str | None, reason: str) -> None:
        self.file = str(file)
        self.field = field
        self.reason = reason
        where = f"{self.file}: {field}" if field else self.file
        super().__init__(f"{where}: {reason}")


def listed(values: Sequence[Any], at_most: int = _LIST_AT_MOST) -> str:
    """The first few values, comma separated, with a count of the rest."""
    shown = ", ".join(str(v) for v in values[:at_most])
    rest = len(values) - at_most
    return shown + (f" and {rest} more" if rest > 0 else "")


@dataclass(frozen=True)
class Item:
    """One picture of a dataset (see the module docstring for the coordinate conventions)."""

    id: int
    name: str
    path: Path
    width: int
    height: int
    annotations: tuple[dict[str, Any], ...] = ()
    #: The image record to put in ground truth (COCO keeps its own: license, coco_url, ...).
    record: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def image_record(self) -> dict[str, Any]:
        """This item's COCO ``images`` entry (a copy)."""
        if self.record is not None:
            return copy.deepcopy(self.record)
        return {"id": self.id, "file_name": self.path.name, "width": self.width,
                "height": self.height}


class Dataset:
    """Pictures with optional COCO-style annotations and categories.

    ``categories`` are COCO category dicts (``id``, ``name``, optionally ``supercategory``);
    an un-annotated set (an image folder) has none, and ``annotated`` is False.
    """

    def __init__(self, items: Iterable[Item], *, kind: str, source: str | Path,
                 categories: Sequence[dict[str, Any]] = (), annotated: bool = True) -> None:
        items = sorted(items, key=lambda it: it.id)
        seen: dict[int, Item] = {}
        for it in items:
            if it.id in seen:
                raise DatasetError(source, "id", f"image id {it.id} is used twice "
                                   f"({seen[it.id].path.name} and {it.path.name})")
            seen[it.id] = it
        self._items: tuple[Item, ...] = tuple(items)
        self._by_id = seen
        self._by_name: dict[str, Item] = {}
        for it in items:
            self._by_name.setdefault(it.name, it)
        self.kind = kind
        self.source = Path(source)
        self.categories: tuple[dict[str, Any], ...] = tuple(copy.deepcopy(list(categories)))
        self.annotated = annotated

    # -- the collection -------------------------------------------------------------------
    @property
    def items(self) -> tuple[Item, ...]:
        return self._items

    @property
    def ids(self) -> list[int]:
        return [it.id for it in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def __getitem__(self, image_id: int | str) -> Item:
        """The item with this id (int) or name (str)."""
        found = self._lookup(image_id)
        if found is None:
            raise KeyError(f"{self.source}: no image with id {image_id!r}")
        return found

    def __repr__(self) -> str:
        return (f"Dataset(kind={self.kind!r}, source={str(self.source)!r}, images={len(self)}, "
                f"annotations={self.num_annotations}, categories={len(self.categories)})")

    def _lookup(self, key: int | str) -> Item | None:
        if isinstance(key, str):
            return self._by_name.get(key)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self._by_id.get(int(key))
        return None

    @property
    def num_annotations(self) -> int:
        return sum(len(it.annotations) for it in self._items)

    # -- subsets --------------------------------------------------------------------------
    def subset(self, ids: Sequence[int | str] | None = None,
               count: int | None = None) -> Dataset:
        """A deterministic subset: the items with these ids (int) or names (str), in the order
        given, or the first `count` items in ascending id order. Give exactly one of the two."""
        if (ids is None) == (count is None):
            raise ValueError("subset: give exactly one of ids= and count=")
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
                raise ValueError(f"subset: count must be an integer, got {count!r}")
            if not 1 <= count <= len(self):
                raise ValueError(f"subset: count must be in [1, {len(self)}] for {self.source} "
                                 f"({len(self)} images), got {count}")
            chosen = list(self._items[:int(count)])
        else:
            if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
                raise ValueError(f"subset: ids must be a list of image ids, got {ids!r}")
            if not ids:
                raise ValueError("subset: ids is empty")
            missing = [i for i in ids if self._lookup(i) is None]
            if missing:
                raise DatasetError(self.source, "ids", f"{len(missing)} unknown image id(s): "
                                   f"{listed([repr(m) for m in missing])}")
            chosen = [self._lookup(i) for i in ids]
            counts = Counter(it.id for it in chosen)
            dup = sorted(i for i, n in counts.items() if n > 1)
            if dup:
                raise ValueError(f"subset: image id(s) given twice: {listed(dup)}")
        sub = copy.copy(self)  # the same class (a video dataset keeps its frame count)
        sub._items = tuple(chosen)
        sub._by_id = {it.id: it for it in chosen}
        sub._by_name = {}
        for it in chosen:
            sub._by_name.setdefault(it.name, it)
        sub.kind, sub.source = self.kind, self.source
        sub.categories, sub.annotated = self.categories, self.annotated
        return sub

    # -- ground truth ---------------------------------------------------------------------
    def coco_ground_truth(self) -> dict[str, Any]:
        """Ground truth as a COCO dict (``images``, ``annotations``, ``categories``), a deep copy.

        Images follow this dataset's order. Annotation fields present in the source are kept
        as they are; ``id`` (numbered on from the largest id present), ``area`` (bbox w * h) and
        ``iscrowd`` (0) are filled in only where an annotation lacks them, since COCOeval reads
        all three.
        """
        if not self.annotated:
            raise ValueError(f"{self.source}: a {self.kind} dataset has no annotations")
        anns = [copy.deepcopy(a) for it in self._items for a in it.annotations]
        next_id = max((a["id"] for a in anns if "id" in a), default=0) + 1
        for a in anns:
            if "id" not in a:
                a["id"] = next_id
                next_id += 1
            a.setdefault("area", float(a["bbox"][2]) * float(a["bbox"][3]))
            a.setdefault("iscrowd", 0)
        return {"images": [it.image_record() for it in self._items], "annotations": anns,
                "categories": copy.deepcopy(list(self.categories))}

    def category_names(self) -> dict[int, str]:
        return {c["id"]: c["name"] for c in self.categories}

    # -- pixels ---------------------------------------------------------------------------
    def load_image(self, item: Item | int | str) -> np.ndarray:
        """The item's pixels, (H, W, 3) RGB: uint8, or uint16 for 16-bit PNGs (see load_image)."""
        it = item if isinstance(item, Item) else self[item]
        rgb = load_image(it.path)
        if rgb.shape[:2] != (it.height, it.width):
            raise DatasetError(it.path, "size", f"decoded picture is {rgb.shape[1]}x"
                               f"{rgb.shape[0]}, the dataset says {it.width}x{it.height}")
        return rgb

    # -- frames: what a task sees of an item (one picture, or every frame of a sequence) ----
    #: Whether an item is a sequence of frames (a task runs on each, with its own image id).
    is_video: bool = False

    def frame_ids(self, item: Item | int | str) -> list[int]:
        """The image ids of the item's frames in the ground truth: the item's own id here."""
        it = item if isinstance(item, Item) else self[item]
        return [it.id]

    def load_frames(self, item: Item | int | str) -> list[np.ndarray]:
        """The item's frames as (H, W, 3) R'G'B' uint8 pictures: its one picture here."""
        return [self.load_image(item)]

    def frame_rate(self, item: Item | int | str) -> float | None:
        """Frames per second of a sequence; None for a picture."""
        return None

    def load_video(self, item: Item | int | str) -> Any:
        """The item's sequence (a YuvSequence): video datasets only (VideoDataset)."""
        raise DatasetError(self.source, None, f"a {self.kind} dataset holds pictures, not "
                           "sequences: code it with an image or feature codec")


# -- image files ------------------------------------------------------------------------------
def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None when the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the image header (Pillow reads the header only, no decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise DatasetError(path, None, "image file not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(path, None, f"not a readable image: {exc}") from None


def _load_png16(path: Path, colour_type: int) -> np.ndarray:
    """A 16-bit PNG through ffmpeg: Pillow would cut 16-bit RGB to 8 bits without a word.

    ffmpeg's PNG decoder gives big-endian gray16/ya16/rgb48/rgba64; we request the same layout
    little-endian, a byte swap and nothing else, so every sample is exact.
    """
    from vcmref.media.ffmpeg_tool import ffmpeg_exe
    from vcmref.media.process import run_tool

    pix_fmt, channels = {0: ("gray16le", 1), 2: ("rgb48le", 3), 4: ("ya16le", 2),
                         6: ("rgba64le", 4)}[colour_type]
    w, h = image_size(path)
    out = run_tool([ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
                    "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", pix_fmt,
                    "pipe:1"], what=f"ffmpeg decode of {path}", timeout=120).stdout
    if len(out) != w * h * channels * 2:
        raise DatasetError(path, None, f"ffmpeg gave {len(out)} bytes for a {w}x{h} "
                           f"{pix_fmt} picture")
    a = np.frombuffer(out, dtype="<u2").reshape(h, w, channels).astype(np.uint16)
    if channels <= 2:
        return np.repeat(a[..., :1], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def load_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) R'G'B' samples, exactly as stored: no colour management, no
    EXIF rotation, no gamma.

    * 8-bit files (JPEG, 8-bit PNG, BMP, ...) give uint8; JPEGs are decoded by Pillow
      (libjpeg-turbo, its default integer DCT and fancy upsampling, JFIF full-range BT.601).
    * 16-bit PNGs give uint16 with all 16 bits (decoded by ffmpeg, see _load_png16).
    * Grayscale is replicated to three channels; palettes are looked up; alpha is dropped
      (not composited). CMYK and other colour spaces are refused.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    png = _png_header(path) if path.is_file() else None
    if png is not None and png[0] == 16:
        if png[1] not in (0, 2, 4, 6):
            raise DatasetError(path, "IHDR", f"bad PNG colour type {png[1]} for 16 bits")
        return _load_png16(path, png[1])
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                a = np.asarray(im).astype(np.uint16)
                return np.repeat(a[..., None], 3, axis=2)
            if mode not in ("RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "1"):
                raise DatasetError(path, "mode", f"image mode {mode} is not RGB, grayscale "
                                   "or palette; convert the file first")
            if mode != "RGB":
                im = im.convert("RGB")
            a = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(path, None, "image file not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(path, None, f"not a readable image: {exc}") from None
    return np.ascontiguousarray(a)


def find_images(directory: Path, extensions: Sequence[str], *, what: str) -> list[Path]:
    """Image files directly in `directory` whose suffix (case-insensitive) is listed, sorted."""
    if not directory.is_dir():
        raise DatasetError(directory, None, f"{what} folder not found")
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in exts)


# -- dataset kinds: what a CTC config's dataset section names -----------------------------------

class DatasetKind(ABC):
    """A kind of dataset a CTC config names (``dataset.kind``), registered in
    `vcmref.registry.DATASETS` with ``@DATASETS.register("kind")``: its own keys of the
    config's dataset section (declared parameters, `required` the ones that must be given),
    the files it needs (`check_inputs`, before a run directory is created) and how it opens.

    `media` says what an item is ("image": a picture; "video": a sequence, read with the
    dataset's ``load_video(item)``), `annotated` whether it has ground truth for
    ``task.ground_truth: annotations``. `load` is the loader `open_dataset(kind, ...)` calls.
    """

    media: ClassVar[str] = "image"
    annotated: ClassVar[bool] = False
    parameters: ClassVar[tuple[Param, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    load: ClassVar[Callable[..., Dataset]]

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)

    @classmethod
    def validate(cls, settings: Mapping[str, Any], prefix: str = "dataset.") -> None:
        """Checks beyond the declared types and ranges (raise ParamError)."""
        return None  # nothing more to check

    def check_inputs(self) -> None:
        """Raise ParamError (key, what was expected) for an input that is not there."""
        return None  # nothing more to check

    @abstractmethod
    def open(self, scratch: Path) -> Dataset:
        """The dataset; `scratch` is a folder it may write files to (e.g. images it makes)."""

    # helpers for check_inputs
    def need_folder(self, key: str, what: str) -> None:
        value = self.settings.get(key)
        if not Path(value or "").is_dir():
            raise ParamError(key, f"expected {what}, got {value!r} (not there)")

    def need_file(self, key: str, what: str) -> None:
        value = self.settings.get(key)
        if not Path(value or "").is_file():
            raise ParamError(key, f"expected {what}, got {value!r} (not there)")
