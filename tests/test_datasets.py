"""Datasets: COCO, VOC, YOLO, image folders and video (mp4, y4m, raw yuv), bad inputs named."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from vcmref.assets import shared_dir
from vcmref.eval.datasets import (
    VOC_CLASSES,
    DatasetError,
    Y4mVideo,
    coco_dataset,
    frame_to_rgb,
    image_folder,
    load_image,
    open_dataset,
    video_frames,
    voc_dataset,
    write_y4m,
    yolo_dataset,
)
from vcmref.media.yuv import ChromaFormat, YuvSequence

DATA = shared_dir() / "data"
COCO_DIR = DATA / "coco_val80"
COCO_JSON = COCO_DIR / "annotations" / "instances_val2017.json"
KODAK = DATA / "kodak"
FOREMAN = DATA / "video" / "foreman_cif_h264.mp4"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared asset {path} not found (set VCMREF_SHARED to the folder holding "
                    "data/)")
    return path


def _quiet_coco(gt: dict):
    coco_mod = pytest.importorskip("pycocotools.coco")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = coco_mod.COCO()
        coco.dataset = gt
        coco.createIndex()
    return coco


def _coco_eval_ap(gt: dict, dets: list[dict]) -> float:
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    coco = _quiet_coco(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        res = coco.loadRes(dets)
        ev = cocoeval.COCOeval(coco, res, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def _png(path: Path, width: int, height: int, seed: int = 0) -> np.ndarray:
    from PIL import Image

    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


# -- COCO (shared coco_val80) -----------------------------------------------------------------
@pytest.fixture(scope="module")
def coco80():
    _need(COCO_JSON)
    return coco_dataset(COCO_JSON, COCO_DIR / "val2017", check_sizes=True)


def test_coco_val80_counts_and_pycocotools(coco80):
    assert len(coco80) == 80 and coco80.num_annotations == 815
    assert len(coco80.categories) == 80
    assert coco80.ids == sorted(coco80.ids)
    gt = coco80.coco_ground_truth()
    coco = _quiet_coco(gt)
    assert len(coco.getImgIds()) == 80 and len(coco.getAnnIds()) == 815
    assert sum(a["iscrowd"] for a in gt["annotations"]) > 0  # crowd kept as it is
    raw = json.loads(COCO_JSON.read_text())
    first = next(a for a in raw["annotations"] if a["id"] == gt["annotations"][0]["id"])
    assert first == gt["annotations"][0]  # untouched, segmentation included
    rec = next(i for i in raw["images"] if i["id"] == gt["images"][0]["id"])
    assert rec == gt["images"][0]  # licence, urls kept


def test_coco_ground_truth_scores_itself_perfectly(coco80):
    gt = coco80.subset(count=10).coco_ground_truth()
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": 1.0} for a in gt["annotations"] if not a["iscrowd"]]
    assert _coco_eval_ap(gt, dets) == pytest.approx(1.0)


def test_coco_image_pixels(coco80):
    item = coco80.items[0]
    rgb = coco80.load_image(item)
    assert rgb.shape == (item.height, item.width, 3) and rgb.dtype == np.uint8


def test_subset_is_deterministic(coco80):
    a, b = coco80.subset(count=8), coco80.subset(count=8)
    assert a.ids == b.ids == sorted(coco80.ids)[:8]
    picked = [coco80.ids[5], coco80.ids[1], coco80.ids[3]]
    sub = coco80.subset(ids=picked)
    assert sub.ids == picked  # the order given
    gt = sub.coco_ground_truth()
    assert [i["id"] for i in gt["images"]] == picked
    assert {a["image_id"] for a in gt["annotations"]} <= set(picked)
    assert len(gt["annotations"]) == sum(len(coco80[i].annotations) for i in picked)
    by_name = coco80.subset(ids=[coco80[picked[0]].name])
    assert by_name.ids == [picked[0]]
    with pytest.raises(DatasetError, match=r"instances_val2017\.json: ids: 2 unknown .*123456789"):
        coco80.subset(ids=[picked[0], 123456789, "nope"])
    with pytest.raises(ValueError, match="count must be in"):
        coco80.subset(count=81)
    with pytest.raises(ValueError, match="exactly one"):
        coco80.subset(ids=picked, count=2)


def test_ground_truth_is_a_copy(coco80):
    gt = coco80.coco_ground_truth()
    gt["annotations"][0]["bbox"][0] = -1.0
    gt["images"][0]["width"] = 1
    again = coco80.coco_ground_truth()
    assert again["annotations"][0]["bbox"][0] != -1.0 and again["images"][0]["width"] != 1


# -- COCO bad inputs --------------------------------------------------------------------------
def _coco_doc() -> dict:
    return {
        "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6},
                   {"id": 2, "file_name": "b.png", "width": 8, "height": 6}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2],
                         "area": 4.0, "iscrowd": 0},
                        {"image_id": 2, "category_id": 3, "bbox": [0.5, 0, 4, 3]}],
        "categories": [{"id": 3, "name": "thing"}],
    }


def _write_coco(tmp_path: Path, doc: dict, images: bool = True) -> Path:
    if images:
        for name in ("a.png", "b.png"):
            _png(tmp_path / name, 8, 6)
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def test_coco_minimal_fills_only_missing_fields(tmp_path):
    ds = coco_dataset(_write_coco(tmp_path, _coco_doc()), tmp_path)
    gt = ds.coco_ground_truth()
    second = gt["annotations"][1]
    assert second["id"] == 11 and second["area"] == 12.0 and second["iscrowd"] == 0
    assert gt["annotations"][0] == _coco_doc()["annotations"][0]
    _quiet_coco(gt)


@pytest.mark.parametrize("mutate, field, reason", [
    (lambda d: d["images"][1].pop("width"), r"images\[1\]\.width", "missing"),
    (lambda d: d["images"][0].update(id="1"), r"images\[0\]\.id", "expected an integer"),
    (lambda d: d["annotations"][1].update(bbox=[1, 2, 3]), r"annotations\[1\]\.bbox",
     "expected 4 numbers, got 3"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3, "4"]), r"annotations\[0\]\.bbox",
     "expected 4 finite numbers"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, -3, 4]), r"annotations\[0\]\.bbox",
     ">= 0"),
    (lambda d: d["annotations"][0].pop("category_id"), r"annotations\[0\]\.category_id",
     "missing"),
    (lambda d: d["annotations"][1].update(image_id=7), r"annotations\[1\]\.image_id",
     "not in images"),
    (lambda d: d["annotations"][0].update(category_id=4), r"annotations\[0\]\.category_id",
     "not in categories"),
    (lambda d: d["annotations"][0].update(iscrowd=2), r"annotations\[0\]\.iscrowd", "0 or 1"),
    (lambda d: d["categories"][0].pop("name"), r"categories\[0\]\.name", "missing"),
    (lambda d: d.pop("categories"), "categories", "missing"),
    (lambda d: d.update(images={}), "images", "expected a list"),
    (lambda d: d["images"].append(dict(d["images"][0])), r"images\[2\]\.id", "used twice"),
])
def test_coco_bad_fields_are_named(tmp_path, mutate, field, reason):
    doc = _coco_doc()
    mutate(doc)
    path = _write_coco(tmp_path, doc)
    with pytest.raises(DatasetError, match=rf"instances\.json: {field}: .*{reason}") as err:
        coco_dataset(path, tmp_path)
    assert err.value.file == str(path)


def test_coco_bad_json_and_missing_images(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text('{"images": [}')
    with pytest.raises(DatasetError, match=r"instances\.json: not valid JSON.*line 1"):
        coco_dataset(path, tmp_path)
    path = _write_coco(tmp_path, _coco_doc(), images=False)
    _png(tmp_path / "a.png", 8, 6)
    with pytest.raises(DatasetError, match=r"file_name: 1 of 2 image files are missing.*b\.png"):
        coco_dataset(path, tmp_path)
    _png(tmp_path / "b.png", 9, 6)
    with pytest.raises(DatasetError, match=r"images\[id=2\]\.width/height.*8x6.*9x6"):
        coco_dataset(path, tmp_path, check_sizes=True)
    ds = coco_dataset(path, tmp_path)
    with pytest.raises(DatasetError, match=r"b\.png: size: decoded picture is 9x6"):
        ds.load_image(2)


# -- VOC --------------------------------------------------------------------------------------
VOC_XML = """<annotation>
  <folder>VOC2007</folder><filename>{name}.png</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  {objects}
</annotation>"""
VOC_OBJ = ("<object><name>{cls}</name><difficult>{diff}</difficult><bndbox><xmin>{x0}</xmin>"
           "<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")


def _voc(tmp_path: Path) -> tuple[Path, Path]:
    ann, img = tmp_path / "Annotations", tmp_path / "JPEGImages"
    ann.mkdir()
    img.mkdir()
    objs = {"000005": [("dog", 0, 1, 1, 10, 20), ("person", 1, 5, 6, 7, 8)],
            "000001": [("aeroplane", 0, 2, 3, 30, 12), ("person", 0, 20, 15, 35, 29)]}
    for name, obs in objs.items():
        text = "".join(VOC_OBJ.format(cls=c, diff=d, x0=a, y0=b, x1=x, y1=y)
                       for c, d, a, b, x, y in obs)
        (ann / f"{name}.xml").write_text(VOC_XML.format(name=name, w=40, h=30, objects=text))
        _png(img / f"{name}.png", 40, 30)
    return ann, img


def test_voc_boxes_ids_and_difficult(tmp_path):
    ann, img = _voc(tmp_path)
    ds = voc_dataset(ann, img)
    assert [it.name for it in ds] == ["000001", "000005"] and ds.ids == [1, 2]
    assert [c["name"] for c in ds.categories] == list(VOC_CLASSES)
    assert ds.categories[11]["id"] == 12 and ds.categories[11]["name"] == "dog"
    dog, person = ds["000005"].annotations
    assert dog["bbox"] == [0.0, 0.0, 10.0, 20.0] and dog["category_id"] == 12
    assert dog["area"] == 200.0 and dog["ignore"] == 0 and dog["iscrowd"] == 0
    assert person["bbox"] == [4.0, 5.0, 3.0, 3.0] and person["iscrowd"] == 1
    assert person["difficult"] == 1 and person["category_id"] == 15
    assert ds.load_image("000001").shape == (30, 40, 3)
    easy = voc_dataset(ann, img, include_difficult=False)
    assert easy.num_annotations == 3 and ds.num_annotations == 4
    # Difficult objects are ignored by COCOeval: a detection on one is not a false positive,
    # and missing it is not a miss. Without them, the same detection is a false positive.
    gt, easy_gt = ds.coco_ground_truth(), easy.coco_ground_truth()
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "score": 0.95 if a["difficult"] else 0.9} for a in gt["annotations"]]
    assert _coco_eval_ap(gt, dets) == pytest.approx(1.0)
    assert _coco_eval_ap(gt, [d for d in dets if d["score"] < 0.95]) == pytest.approx(1.0)
    assert _coco_eval_ap(easy_gt, [d for d in dets if d["score"] < 0.95]) == pytest.approx(1.0)
    assert _coco_eval_ap(easy_gt, dets) < 0.9


def test_voc_own_classes_via_registry(tmp_path):
    ann, img = _voc(tmp_path)
    ds = open_dataset("voc", ann, img, class_names=["aeroplane", "dog", "person"])
    assert ds.category_names() == {1: "aeroplane", 2: "dog", 3: "person"}
    assert ds["000005"].annotations[0]["category_id"] == 2


@pytest.mark.parametrize("xml, field, reason", [
    ("<annotation><size><width>4</width>", None, "not well-formed XML"),
    ("<annotation><filename>x.png</filename></annotation>", "annotation/size", "missing"),
    ("<annotation><size><width>4</width><height>0</height></size></annotation>",
     "annotation/size/height", "positive integer"),
    (VOC_XML.format(name="x", w=4, h=4, objects=VOC_OBJ.format(
        cls="cat", diff=0, x0=1, y0=1, x1="two", y1=2)),
     r"annotation/object\[1\]/bndbox/xmax", "expected a number"),
    (VOC_XML.format(name="x", w=4, h=4, objects=VOC_OBJ.format(
        cls="unicorn", diff=0, x0=1, y0=1, x1=2, y1=2)),
     r"annotation/object\[1\]/name", "not in the class list"),
    (VOC_XML.format(name="x", w=4, h=4, objects="<object><name>cat</name></object>"),
     r"annotation/object\[1\]/bndbox", "missing"),
    (VOC_XML.format(name="x", w=4, h=4, objects=VOC_OBJ.format(
        cls="cat", diff=0, x0=3, y0=1, x1=2, y1=2)),
     r"annotation/object\[1\]/bndbox", "below xmin"),
    (VOC_XML.format(name="x", w=4, h=4, objects=VOC_OBJ.format(
        cls="cat", diff="yes", x0=1, y0=1, x1=2, y1=2)),
     r"annotation/object\[1\]/difficult", "expected 0 or 1"),
])
def test_voc_bad_xml_is_named(tmp_path, xml, field, reason):
    ann, img = _voc(tmp_path)
    (ann / "x.xml").write_text(xml)
    _png(img / "x.png", 4, 4)
    where = rf"x\.xml: {field}: .*{reason}" if field else rf"x\.xml: .*{reason}"
    with pytest.raises(DatasetError, match=where):
        voc_dataset(ann, img)


def test_voc_missing_image_is_named(tmp_path):
    ann, img = _voc(tmp_path)
    (img / "000005.png").unlink()
    with pytest.raises(DatasetError, match=r"000005\.xml: annotation/filename: no image"):
        voc_dataset(ann, img)


# -- YOLO -------------------------------------------------------------------------------------
def _yolo(tmp_path: Path) -> tuple[Path, Path]:
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    _png(images / "b.png", 40, 20)
    _png(images / "a.png", 10, 10)
    _png(images / "c.png", 16, 16)  # background image: no label file
    (labels / "b.txt").write_text("1 0.5 0.5 0.5 0.5\n\n0 0.25 0.75 0.1 0.2\n")
    (labels / "a.txt").write_text("0 0.5 0.5 1 1\n")
    return images, labels


def test_yolo_to_coco(tmp_path):
    images, labels = _yolo(tmp_path)
    ds = yolo_dataset(images, labels, ["cat", "dog"])
    assert [it.name for it in ds] == ["a", "b", "c"] and ds.ids == [1, 2, 3]
    assert (ds["b"].width, ds["b"].height) == (40, 20)
    (a,) = ds["a"].annotations
    assert a["bbox"] == [0.0, 0.0, 10.0, 10.0] and a["category_id"] == 1
    b1, b2 = ds["b"].annotations
    assert b1["bbox"] == pytest.approx([10.0, 5.0, 20.0, 10.0]) and b1["category_id"] == 2
    assert b2["bbox"] == pytest.approx([8.0, 13.0, 4.0, 4.0]) and b2["area"] == pytest.approx(16)
    assert ds["c"].annotations == ()
    gt = ds.coco_ground_truth()
    assert len({a["id"] for a in gt["annotations"]}) == 3
    _quiet_coco(gt)
    coco_ids = yolo_dataset(images, labels, ["person", "bicycle"], category_ids=[1, 2])
    assert coco_ids.category_names() == {1: "person", 2: "bicycle"}


@pytest.mark.parametrize("line, field, reason", [
    ("0 0.5 0.5 0.5", "line 2", "expected 5 fields"),
    ("cat 0.5 0.5 0.5 0.5", "line 2 class", "expected a class index"),
    ("2 0.5 0.5 0.5 0.5", "line 2 class", r"outside \[0, 1\]"),
    ("1 0.5 x 0.5 0.5", "line 2 cy", "expected a number"),
    ("1 0.5 0.5 1.5 0.5", "line 2 w", r"normalized value in \[0, 1\]"),
])
def test_yolo_bad_lines_are_named(tmp_path, line, field, reason):
    images, labels = _yolo(tmp_path)
    (labels / "a.txt").write_text(f"0 0.5 0.5 1 1\n{line}\n")
    with pytest.raises(DatasetError, match=rf"a\.txt: {field}: .*{reason}"):
        yolo_dataset(images, labels, ["cat", "dog"])


def test_yolo_label_without_image(tmp_path):
    images, labels = _yolo(tmp_path)
    (labels / "zz.txt").write_text("0 0.5 0.5 1 1\n")
    with pytest.raises(DatasetError, match=r"labels: label files without an image.*zz\.txt"):
        yolo_dataset(images, labels, ["cat", "dog"])


# -- image folders and pixels -----------------------------------------------------------------
def test_kodak_folder():
    ds = image_folder(_need(KODAK))
    assert len(ds) == 24 and ds.ids == list(range(1, 25))
    assert ds[1].name == "kodim01" and ds["kodim24"].id == 24
    sizes = {(it.width, it.height) for it in ds}
    assert sizes == {(768, 512), (512, 768)}
    assert sum((it.width, it.height) == (512, 768) for it in ds) == 6
    rgb = ds.load_image(ds[1])
    assert rgb.shape == (512, 768, 3) and rgb.dtype == np.uint8
    with pytest.raises(ValueError, match="no annotations"):
        ds.coco_ground_truth()
    assert ds.subset(count=3).ids == [1, 2, 3]


def test_image_pixels_exact(tmp_path):
    from PIL import Image

    rgb = _png(tmp_path / "rgb.png", 7, 5)
    assert np.array_equal(load_image(tmp_path / "rgb.png"), rgb)
    gray = rgb[..., 0]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert np.array_equal(load_image(tmp_path / "gray.png"), np.repeat(gray[..., None], 3, 2))
    g16 = (np.arange(35, dtype=np.uint16).reshape(5, 7) * 1871)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    assert out.dtype == np.uint16 and np.array_equal(out, np.repeat(g16[..., None], 3, 2))
    Image.fromarray(np.dstack([rgb, gray])).save(tmp_path / "rgba.png")
    assert np.array_equal(load_image(tmp_path / "rgba.png"), rgb)  # alpha dropped
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    with pytest.raises(DatasetError, match=r"junk\.png: not a readable image"):
        load_image(tmp_path / "junk.png")


def test_png48_keeps_16_bits(tmp_path):
    from vcmref.media.ffmpeg_tool import ffmpeg_exe
    from vcmref.media.process import run_tool

    rgb = np.random.default_rng(3).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    run_tool([ffmpeg_exe(), "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb48le",
              "-s", "7x5", "-i", "pipe:0", str(tmp_path / "rgb48.png")],
             what="write png", stdin=rgb.astype("<u2").tobytes())
    out = load_image(tmp_path / "rgb48.png")
    assert out.dtype == np.uint16 and np.array_equal(out, rgb)


# -- video ------------------------------------------------------------------------------------
def _planes(frames: int, w: int, h: int, fmt: str, depth: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cf = ChromaFormat(fmt)
    return [rng.integers(0, 1 << depth, (frames, *cf.plane_shape(p, h, w)), dtype=np.uint16)
            for p in range(cf.num_planes)]


def _y4m_by_hand(planes, w, h, header_tail: str, depth: int) -> bytes:
    dtype = np.uint8 if depth <= 8 else np.dtype("<u2")
    out = [f"YUV4MPEG2 W{w} H{h} {header_tail}\n".encode()]
    for i in range(planes[0].shape[0]):
        out.append(b"FRAME\n" if i % 2 == 0 else b"FRAME Ixyz\n")  # frame params are allowed
        out += [p[i].astype(dtype).tobytes() for p in planes]
    return b"".join(out)


@pytest.mark.parametrize("fmt, depth, tag", [
    ("420", 8, "C420jpeg"), ("420", 10, "C420p10"), ("400", 8, "Cmono"), ("444", 12, "C444p12"),
    ("420", 8, ""),
])
def test_y4m_reads_exact_samples(tmp_path, fmt, depth, tag):
    w, h, n = 11, 7, 5
    planes = _planes(n, w, h, fmt, depth)
    path = tmp_path / "clip.y4m"
    path.write_bytes(_y4m_by_hand(planes, w, h, f"F30000:1001 Ip A1:1 {tag}".strip(), depth))
    video = video_frames(path)
    assert isinstance(video, Y4mVideo) and len(video) == n
    assert video.info.frame_rate.numerator == 30000 and video.info.bit_depth == depth
    assert video.frame_rate == pytest.approx(29.97, abs=1e-3)
    part = video.read(1, 4)
    assert part.num_frames == 3 and part.chroma_format.value == fmt
    for got, want in zip(part.planes, planes, strict=True):
        assert np.array_equal(got, want[1:4])
    chunks = list(video.chunks(2))
    assert [c.num_frames for c in chunks] == [2, 2, 1]
    # our writer round-trips through our reader
    write_y4m(tmp_path / "again.y4m", video.read(), color_range="limited")
    again = video_frames(tmp_path / "again.y4m")
    assert again.info.color_range == "limited" and again.read().same_samples(video.read())


def test_y4m_bad_inputs_are_named(tmp_path):
    planes = _planes(2, 8, 4, "420", 8)
    good = _y4m_by_hand(planes, 8, 4, "F25:1 C420jpeg", 8)
    cases = [
        (good[:-5], r"frame 1: truncated: 43 of 48 bytes"),
        (good.replace(b"F25:1 ", b""), r"clip\.y4m: F: missing"),
        (good.replace(b"C420jpeg", b"C422"), r"clip\.y4m: C: .*'422' is not supported"),
        (good.replace(b"W8", b"Wx"), r"clip\.y4m: W: expected a positive integer"),
        (good.replace(b"FRAME Ixyz", b"FRAMZ Ixyz"), r"frame 1: no FRAME marker"),
        (b"RIFF" + good[4:], r"header: not a Y4M file"),
    ]
    for data, match in cases:
        path = tmp_path / "clip.y4m"
        path.write_bytes(data)
        with pytest.raises(DatasetError, match=match):
            video_frames(path)


def test_raw_yuv_ranges_and_truncation(tmp_path):
    w, h, n = 10, 6, 4
    planes = _planes(n, w, h, "420", 10, seed=4)
    seq = YuvSequence(tuple(planes), ChromaFormat.YUV420, 10, 50.0)
    path = tmp_path / "clip.yuv"
    path.write_bytes(seq.to_bytes())
    video = video_frames(path, width=w, height=h, chroma_format="420", bit_depth=10,
                         frame_rate=50)
    assert len(video) == n and video.frame_rate == 50.0
    assert video.read(2, 4).same_samples(seq.frames(2, 4))
    assert video.read().same_samples(seq)
    path.write_bytes(seq.to_bytes()[:-3])
    with pytest.raises(DatasetError, match=r"clip\.yuv: size: 717 bytes is not a whole number of "
                                            r"10x6 420 10-bit frames of 180 bytes \(3 frames"):
        video_frames(path, width=w, height=h, chroma_format="420", bit_depth=10, frame_rate=50)
    path.write_bytes(b"\xff" * 180)  # 10-bit samples above 1023
    bad = video_frames(path, width=w, height=h, chroma_format="420", bit_depth=10, frame_rate=50)
    with pytest.raises(DatasetError, match=r"clip\.yuv: frames \[0, 1\): .*outside \[0, 1023\]"):
        bad.read(0, 1)
    with pytest.raises(ValueError, match="needs width, height"):
        video_frames(path)
    with pytest.raises(ValueError, match=r"frame range \[1, 1\)"):
        bad.read(1, 1)


def test_foreman_mp4_frame_ranges():
    from vcmref.media.ffmpeg_tool import ffmpeg_exe
    from vcmref.media.process import run_tool

    video = video_frames(_need(FOREMAN))
    info = video.info
    assert (info.width, info.height, info.num_frames) == (352, 288, 300)
    assert info.frame_rate == 25 and (info.chroma_format.value, info.bit_depth) == ("420", 8)
    part = video.read(100, 104)
    assert part.num_frames == 4 and part.frame_rate == 25.0
    tail = video.read(297)
    assert tail.num_frames == 3
    # the same frames as one plain decode of the whole file, in the decoder's format
    raw = run_tool([ffmpeg_exe(), "-loglevel", "error", "-i", str(FOREMAN), "-map", "0:v:0",
                    "-f", "rawvideo", "pipe:1"], what="decode foreman").stdout
    full = YuvSequence.from_bytes(raw, 352, 288, "420", 8)
    assert full.num_frames == 300
    assert part.same_samples(full.frames(100, 104)) and tail.same_samples(full.frames(297, 300))
    rgb = frame_to_rgb(part, 0, matrix="bt601", full_range=False)
    assert rgb.shape == (288, 352, 3) and rgb.dtype == np.uint8
