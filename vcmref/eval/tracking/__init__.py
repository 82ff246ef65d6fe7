"""Multi-object tracking (MOT) on video: the MOT Challenge sequence format (`mot`), a
SORT/ByteTrack-style tracker (`tracker`), pseudo ground truth from the tracker's output on
uncompressed video (`pseudo_gt`), CLEAR MOT and identity scores through motmetrics (`scores`)
and a small rendered test sequence (`synthetic`). docs/tracking.md describes the formats, the
tracker's parameters and the metrics.

Import from the modules (``from vcmref.eval.tracking.scores import evaluate``); this package
imports nothing, so that reading a sequence does not load pandas or motmetrics.

Box conventions throughout: in memory, boxes are ``(x1, y1, x2, y2)`` float64 in continuous
0-based pixel coordinates (the image spans ``[0, width] x [0, height]``, as the detector's COCO
boxes do); in MOT files, ``left, top, width, height`` with 1-based ``left``/``top`` (the
top-left pixel is (1, 1)). Frames are numbered from 1.
"""
