"""Target-rate CTC (codecs.NAME.target_bpp): the search resolves each codec's points per item
before the run, in its own cached directory; the still-image kind (JPEG by Pillow, JPEG 2000)
whose quality raises the rate."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import yaml
from PIL import Image

from vcmref.anchors.codec import CodecConfigError
from vcmref.anchors.registry import get_image_codec
from vcmref.ctc.codecs import make_codec
from vcmref.ctc.config import ConfigError, apply_override, parse_config
from vcmref.ctc.pipeline import run_ctc
from vcmref.ctc.runner import run
from vcmref.ctc.search import SearchWarning, rate_grid, resolve_target_rates
from vcmref.media.process import ToolError

CONFIG = """
name: targets
dataset: {kind: skimage, names: [astronaut, coffee]}
metrics: [psnr_y, ms_ssim]
anchor: jpeg
codecs:
  jpeg:
    kind: still-image
    rate_parameter: quality
    target_bpp: [0.3, 1.0]
    params: {image_codec: jpeg-pillow}
"""

def _cfg(extra: list[str] | None = None):
    doc = yaml.safe_load(CONFIG)
    for assignment in extra or []:
        apply_override(doc, assignment, "targets.yaml")
    return parse_config(doc, "targets.yaml")


def _image() -> np.ndarray:
    from skimage import data

    return data.astronaut()[:200, :248]


def test_pillow_jpeg_codes_what_pillow_writes() -> None:
    img = _image()
    codec = get_image_codec("jpeg-pillow", quality=40)
    data, seconds, _ = codec.encode(img)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=40, subsampling=2, optimize=True)
    assert data == buf.getvalue() and seconds >= 0
    decoded, _, _ = codec.decode(data, img)
    assert decoded.shape == img.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    with Image.open(io.BytesIO(data)) as im:  # 4:2:0: chroma sampled 2x2
        assert im.layer[1][1:3] == (1, 1) and im.layer[0][1:3] == (2, 2)


def test_pillow_jpeg_bad_input() -> None:
    with pytest.raises(CodecConfigError, match="quality must be an integer in \\[1, 100\\]"):
        get_image_codec("jpeg-pillow", quality=0)
    with pytest.raises(CodecConfigError, match="chroma must be one of"):
        get_image_codec("jpeg-pillow", chroma="411")
    with pytest.raises(ToolError, match="not a readable JPEG"):
        get_image_codec("jpeg-pillow").decode(b"\xff\xd8garbage", _image())
    png = io.BytesIO()
    Image.fromarray(_image()).save(png, format="PNG")
    with pytest.raises(ToolError, match="a PNG file, expected JPEG"):
        get_image_codec("jpeg-pillow").decode(png.getvalue(), _image())


def test_quality_grid_runs_from_high_to_low_rate() -> None:
    grid = rate_grid(_cfg(), "jpeg")
    assert grid[0] == 100 and grid[-1] == 1 and len(grid) == 100
    jpeg = make_codec(_cfg().codecs["jpeg"])
    img = _image()
    sizes = [len(jpeg.encode(img, q)) for q in grid[::33]]
    assert sizes == sorted(sizes, reverse=True)  # falling rate along the grid


def test_target_bpp_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="target_bpp: expected a non-empty list of distinct"):
        _cfg(["codecs.jpeg.target_bpp=[0.3, 0.3]"])
    with pytest.raises(ConfigError, match="target_bpp: expected a non-empty list of distinct"):
        _cfg(["codecs.jpeg.target_bpp=[0, 1]"])
    with pytest.raises(ConfigError, match="target_bpp: expected a codec whose rate parameter "
                                          "can be searched"):
        _cfg(["codecs.j2k={kind: still-image, rate_parameter: ratio, target_bpp: [0.5], "
              "params: {image_codec: jpeg2000}}"])
    with pytest.raises(ConfigError, match="points: expected as many points as target_bpp"):
        _cfg(["codecs.jpeg.points=[10]"])


def test_unresolved_targets_are_refused_by_the_runner(tmp_path) -> None:
    with pytest.raises(ConfigError, match="give target_bpp but no points"):
        run(_cfg(), tmp_path / "run")


def test_targets_resolve_per_item_and_cache(tmp_path) -> None:
    cfg = _cfg()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SearchWarning)
        resolved, _ = resolve_target_rates(cfg, tmp_path)
    spec = resolved.codecs["jpeg"]
    assert set(spec.points_per_item) == {"astronaut", "coffee"}
    jpeg = make_codec(spec)
    from skimage import data

    for name, points in spec.points_per_item.items():
        img = getattr(data, name)()
        for target, q in zip([0.3, 1.0], points, strict=True):
            bpp = 8 * len(jpeg.encode(img, q)) / (img.shape[0] * img.shape[1])
            # the closest in log-rate of the two qualities around the target
            neighbours = [8 * len(jpeg.encode(img, q + d)) / (img.shape[0] * img.shape[1])
                          for d in (-1, 1) if 1 <= q + d <= 100]
            assert all(abs(math.log(bpp / target)) <= abs(math.log(b / target)) + 1e-12
                       for b in neighbours)
    assert (tmp_path / "search" / "jpeg" / "search_cache.json").is_file()
    # a rerun with other metrics reuses the search: the same points
    again, _ = resolve_target_rates(_cfg(["metrics=[psnr_y]"]), tmp_path)
    assert again.codecs["jpeg"].points_per_item == spec.points_per_item


def test_ctc_with_targets_reports_rates_near_them(tmp_path) -> None:
    run_dir = tmp_path / "run"
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG)
    summary = run_ctc(str(config), run_dir, ["metrics=[psnr_y]"], 1, None, "all", True,
                      say=lambda _: None)
    assert summary.failed == [] and summary.total == 4
    import csv

    rows = [r for r in csv.DictReader((run_dir / "report" / "per_item.csv").open())
            if r["codec"] == "jpeg"]
    assert len(rows) == 4
    for r in rows:  # Pillow's quality steps are fine: within 25% of the target
        target = [0.3, 1.0][int(r["point_index"])]
        assert abs(math.log(float(r["bpp"]) / target)) < math.log(1.25)
