"""Read the coded QP of every slice back from an H.265 or H.266 bitstream.

The syntax is parsed by ffmpeg's coded-bitstream library (the ``trace_headers`` bitstream
filter of the bundled ffmpeg), so the figures come from the bytes, not from encoder options:
SliceQpY = 26 + init_qp_minus26 (of the slice's PPS) + slice_qp_delta (H.265), or
26 + pps_init_qp_minus26 + sh_qp_delta / ph_qp_delta (H.266); slice types (slice_type,
sh_slice_type; I when ph_inter_slice_allowed_flag is 0) tell intra slices from inter ones.
"""

from __future__ import annotations

import re

from vcmref.anchors.codec import QpReport
from vcmref.media.ffmpeg_tool import ffmpeg_exe
from vcmref.media.process import ToolError, run_tool

_LINE = re.compile(r"^\[trace_headers @ [^\]]+\]\s+\d+\s+(\S+)\s+[01]*\s*=\s*(-?\d+)\s*$")
_DEMUXER = {"hevc": "hevc", "vvc": "vvc"}
_NAMES = {
    "hevc": {"pps_id": "pps_pic_parameter_set_id", "init_qp": "init_qp_minus26",
             "cu_delta": "cu_qp_delta_enabled_flag", "slice_pps": "slice_pic_parameter_set_id",
             "slice_delta": ("slice_qp_delta",)},
    "vvc": {"pps_id": "pps_pic_parameter_set_id", "init_qp": "pps_init_qp_minus26",
            "cu_delta": "pps_cu_qp_delta_enabled_flag", "slice_pps": "ph_pic_parameter_set_id",
            "slice_delta": ("sh_qp_delta", "ph_qp_delta")},
}


def trace_elements(bitstream: bytes, family: str, timeout: float = 120.0) -> list[tuple[str, int]]:
    """(syntax element, value) pairs in bitstream order, as ffmpeg's trace_headers reads them."""
    if family not in _DEMUXER:
        raise ValueError(f"unknown bitstream family {family!r}; expected one of {list(_DEMUXER)}")
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "debug",
            "-f", _DEMUXER[family], "-i", "pipe:0", "-map", "0:v", "-c", "copy",
            "-bsf:v", "trace_headers", "-f", "null", "-"]
    result = run_tool(argv, what=f"{family} header trace", stdin=bitstream, timeout=timeout)
    out = []
    for line in result.stderr.decode(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            out.append((m.group(1), int(m.group(2))))
    return out


def read_qp_report(bitstream: bytes, family: str) -> QpReport:
    """Every slice's SliceQpY and whether any PPS enables CU-level QP deltas."""
    names = _NAMES.get(family)
    if names is None:
        raise ValueError(f"unknown bitstream family {family!r}; expected one of {list(_NAMES)}")
    init_qp: dict[int, int] = {}
    slice_type = 2
    intra: list[bool] = []
    pending_pps: int | None = None
    slice_pps = 0
    cu_delta = False
    bypass = False
    qps = []
    for name, value in trace_elements(bitstream, family):
        if name == names["pps_id"]:
            pending_pps = value
        elif name == names["init_qp"]:
            init_qp[pending_pps or 0] = value
        elif name == names["cu_delta"]:
            cu_delta = cu_delta or bool(value)
        elif name == "transquant_bypass_enabled_flag":
            bypass = bypass or bool(value)
        elif name == names["slice_pps"]:
            slice_pps = value
        elif name == "ph_inter_slice_allowed_flag":
            slice_type = 0 if value else 2  # without it, sh_slice_type is absent: I
        elif name in ("slice_type", "sh_slice_type"):
            slice_type = value
        elif name in names["slice_delta"]:
            if slice_pps not in init_qp:
                raise ToolError(f"{family} bitstream: a slice refers to PPS {slice_pps}, "
                                "which the stream does not carry")
            qps.append(26 + init_qp[slice_pps] + value)
            intra.append(slice_type == 2)
    return QpReport(tuple(qps), cu_delta, "bitstream headers, read by ffmpeg trace_headers",
                    bypass, tuple(intra))
