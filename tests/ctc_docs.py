"""Small CTC configs for tests: synthetic images in a folder and a two-codec image config
(x265 ultrafast as the anchor, the vcmref codec on pixels), quick to run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_images(folder: Path, count: int = 1, height: int = 32, width: int = 48) -> Path:
    """`count` RGB PNGs of distinct gradients (img0.png, ...) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[:height, :width]
    for k in range(count):
        rgb = np.stack([(x * (3 + k)) % 256, (y * 5 + 40 * k) % 256, (x + y) % 256], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"img{k}.png")
    return folder


def image_codecs_doc(images: Path, qps: list[int], steps: list[float],
                     name: str = "tiny") -> dict:
    """A config (as a YAML document) coding the images with x265 (anchor) and vcmref-image."""
    return {
        "name": name,
        "dataset": {"kind": "folder", "images": str(images)},
        "metrics": ["psnr_rgb"],
        "anchor": "hevc",
        "codecs": {
            "hevc": {
                "kind": "image-anchor",
                "rate_parameter": "qp",
                "points": list(qps),
                "params": {"codec": "x265", "bit_depth": 8,
                           "codec_options": {"preset": "ultrafast"}},
            },
            "vcmref": {
                "kind": "vcmref-image",
                "rate_parameter": "step",
                "points": list(steps),
                "params": {"quant": "step", "bit_depth": 9},
            },
        },
    }
