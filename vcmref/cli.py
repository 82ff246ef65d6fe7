"""The vcmref command line: encode, decode, inspect, extract, demo.

Heavy imports (numpy, the codec) happen inside the commands so that `vcmref --help` is fast.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from vcmref.fileio import check_output_path, write_atomic
from vcmref.tensor_files import load_tensors

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="vcmref: reference feature codec for coding for machines (spec: docs/spec.md).",
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _run(fn: Callable[[], Any]) -> Any:
    from vcmref.errors import VcmrefError

    try:
        return fn()
    except typer.Exit:
        raise
    except (VcmrefError, CliError) as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
    except MemoryError:
        _fail("out of memory")
    except Exception as e:  # a bug in vcmref: still one line, and a distinct exit status
        typer.echo(f"internal error: {type(e).__name__}: {e} (please report it)", err=True)
        raise typer.Exit(2) from None


def _read_stream(path: Path) -> bytes:
    if not path.exists():
        raise CliError(f"{path}: no such file")
    return path.read_bytes()


@app.command()
def encode(
    tensors: Annotated[Path, typer.Argument(help=".npy or .npz of float tensors (C,H,W) or "
                                            "(F,C,H,W)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="stream file to write")],
    quant: Annotated[str, typer.Option(help="minmax, minmax-channel, qp or step")] = "minmax",
    bit_depth: Annotated[int, typer.Option(help="sample bit depth, 1 to 16")] = 10,
    qp: Annotated[int | None, typer.Option(help="QP for --quant qp (0 to 63)")] = None,
    step: Annotated[float | None, typer.Option(help="step for --quant step")] = None,
    layers: Annotated[int, typer.Option(help="split each tensor's channels into N layers")] = 1,
    tile_columns: Annotated[int | None, typer.Option(help="cells per tile row")] = None,
    rows_per_unit: Annotated[int, typer.Option(help="tile rows per data unit; 0: one unit "
                                               "per tile")] = 0,
    max_class: Annotated[int, typer.Option(help="magnitude classes of context neighbours, "
                                           "minus one (0 to 7 with the default escapes)")] = 7,
    block: Annotated[int, typer.Option(help="wavefront block size; 0: whole cells")] = 0,
    lanes: Annotated[int, typer.Option(help="most rANS lanes per step (fewer: smaller "
                                       "stream, slower numpy decoding); 0: no limit")] = 64,
    model_id: Annotated[str, typer.Option(help="model the features come from")] = "",
    split_point: Annotated[str, typer.Option(help="split point of the model")] = "",
    no_hash: Annotated[bool, typer.Option("--no-hash", help="omit decoded-data hash units")]
    = False,
    intra_period: Annotated[int, typer.Option(help="temporal prediction for (F, C, H, W) "
                                              "tensors: 1 all intra, N a random-access point "
                                              "every N frames, 0 the first frame only")] = 1,
    temporal_deadzone: Annotated[float, typer.Option(help="predicted frames keep the "
                                                     "reference sample within 0.5 + this "
                                                     "many steps")] = 0.0,
) -> None:
    """Encode float tensors into a vcmref stream."""

    def go() -> None:
        from vcmref.refsw.encoder import Encoder, EncoderConfig

        for name, value, mode in (("--qp", qp, "qp"), ("--step", step, "step")):
            if value is not None and quant != mode:
                raise CliError(f"{name} {value}: only used with --quant {mode}, not {quant}")
        check_output_path(output)
        data = load_tensors(tensors)
        cfg = EncoderConfig(bit_depth=bit_depth, quant=quant, qp=qp, step=step, layers=layers,
                            tile_columns=tile_columns, rows_per_unit=rows_per_unit,
                            max_magnitude_class=max_class, wavefront_block_size=block,
                            lane_limit=lanes,
                            model_id=model_id, split_point=split_point, hashes=not no_hash,
                            intra_period=intra_period, temporal_deadzone=temporal_deadzone)
        enc = Encoder(cfg)
        t0 = time.perf_counter()
        stream = enc.encode(data)
        dt = time.perf_counter() - t0
        write_atomic(output, stream)
        rep = enc.report
        msg = (f"{output}: {len(stream)} bytes, {rep.samples} samples, "
               f"{8 * len(stream) / max(rep.samples, 1):.4f} bits/sample, encoded in {dt:.3f} s")
        if rep.clipped_samples:
            msg += f"; {rep.clipped_samples} samples clipped to the {bit_depth}-bit range"
        typer.echo(msg)

    _run(go)


def _parse_codec_options(options: list[str]) -> dict[str, object]:
    """KEY=VALUE strings to a dict; values parse as int, float, true/false, else text."""
    out: dict[str, object] = {}
    for item in options:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise CliError(f"codec option {item!r}: expected KEY=VALUE")
        value: object = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    pass
        out[key] = value
    return out


@app.command("anchor-encode")
def anchor_encode(
    tensors: Annotated[Path, typer.Argument(help=".npy or .npz of float tensors (C,H,W) or "
                                            "(F,C,H,W)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="stream file to write")],
    codec: Annotated[str, typer.Option(help="inner video codec (see `vcmref codecs`)")]
    = "vvenc",
    qp: Annotated[int, typer.Option(help="QP of the inner codec")] = 32,
    bit_depth: Annotated[int, typer.Option(help="min/max quantization bit depth")] = 10,
    quant: Annotated[str, typer.Option(help="minmax or minmax-channel")] = "minmax",
    picture_bit_depth: Annotated[int | None, typer.Option(
        help="bit depth of the inner pictures (default: 10, or 8 for 8-bit codecs)")] = None,
    frames_per_unit: Annotated[int, typer.Option(help="frames per inner byte stream")] = 1,
    layers: Annotated[int, typer.Option(help="split each tensor's channels into N layers")] = 1,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="codec option KEY=VALUE, e.g. preset=slow (repeatable)")] = None,
) -> None:
    """Encode float tensors with the feature anchor (quantize, tile, VVC/HEVC) into a stream."""

    def go() -> None:
        from vcmref.anchors.feature_anchor import FeatureAnchorConfig, encode_feature_anchor

        check_output_path(output)
        data = load_tensors(tensors)
        cfg = FeatureAnchorConfig(codec=codec, codec_options=_parse_codec_options(option or []),
                                  qp=qp, bit_depth=bit_depth, quant=quant,
                                  picture_bit_depth=picture_bit_depth,
                                  frames_per_unit=frames_per_unit, layers=layers)
        result = encode_feature_anchor(data, cfg)
        write_atomic(output, result.stream)
        n = sum(int(x.size) for x in data.values())
        sizes = ", ".join(f"{w}x{h}" for w, h in result.picture_sizes)
        qps = sorted({q for r in result.qp_reports for q in r.slice_qps})
        typer.echo(f"{output}: {len(result.stream)} bytes ({result.inner_bytes} in {codec} "
                   f"byte streams), {8 * len(result.stream) / n:.4f} bits/sample; pictures "
                   f"{sizes}; slice QPs read back {qps}; encode {result.encode_s:.3f} s, "
                   f"decode {result.decode_s:.3f} s, wrapper {result.wrapper_s:.3f} s")

    _run(go)


@app.command()
def codecs() -> None:
    """List the anchor codecs and whether their tools are found on this machine."""

    def go() -> None:
        from vcmref.anchors.registry import codec_class, codec_names
        from vcmref.errors import VcmrefError

        for name in codec_names():
            cls = codec_class(name)
            try:
                cls().check_available()
                state = "available"
            except VcmrefError as e:
                state = f"not available: {e}"
            formats = "/".join(f.value for f in cls.chroma_formats)
            depths = "/".join(str(d) for d in cls.bit_depths)
            typer.echo(f"{name:<10} {cls.family:<5} {formats:<12} {depths + '-bit':<12} {state}")

    _run(go)


@app.command()
def bdrate(
    anchor: Annotated[Path, typer.Argument(help="CSV of the anchor's (rate, quality) points")],
    test: Annotated[Path, typer.Argument(help="CSV of the test codec's points")],
    method: Annotated[list[str] | None, typer.Option(
        "--method", help="pchip-jctvc, cubic-m33 or akima (repeatable; default: all)")] = None,
    rate_column: Annotated[str | None, typer.Option(help="rate column name")] = None,
    quality_column: Annotated[str | None, typer.Option(help="quality column name")] = None,
    refit: Annotated[bool, typer.Option(help="monotone refit of both curves first (VCM CTC "
                                        "task-accuracy curves)")] = False,
) -> None:
    """BD-rate and BD-quality of a test curve against an anchor, for each method."""

    def go() -> None:
        from vcmref.eval.bdrate_cli import run_bdrate

        typer.echo(run_bdrate(anchor, test, method, rate_column=rate_column,
                              quality_column=quality_column, refit=refit))

    _run(go)


def _open_dataset(annotations: Path | None, images: Path, count: int | None):
    from vcmref.eval.datasets import coco_dataset, image_folder

    ds = coco_dataset(annotations, images) if annotations is not None else image_folder(images)
    return ds.subset(count=count) if count is not None else ds


@app.command()
def features(
    images: Annotated[Path, typer.Argument(help="image folder")],
    output: Annotated[Path, typer.Option("-o", "--output", help="folder for the .npz files")],
    annotations: Annotated[Path | None, typer.Option(help="COCO instances JSON of the images "
                                                     "(default: every image of the folder)")]
    = None,
    split: Annotated[str, typer.Option(help="split point: backbone or neck")] = "backbone",
    model: Annotated[Path | None, typer.Option(help="YOLOX-Nano ONNX file (default: the shared "
                                               "reference model)")] = None,
    sha256: Annotated[str | None, typer.Option(help="expected sha256 of the model file")]
    = None,
    count: Annotated[int | None, typer.Option(help="only the first N images")] = None,
) -> None:
    """Write the reference detector's split-point features of each image to .npz files."""

    def go() -> None:
        from vcmref.tasks.inference import export_features
        from vcmref.tasks.yolox import YoloxDetector

        detector = YoloxDetector(model, sha256=sha256)
        ds = _open_dataset(annotations, images, count)
        t0 = time.perf_counter()
        paths = export_features(detector, ds, split, output)
        dt = time.perf_counter() - t0
        typer.echo(f"{output}: {len(paths)} feature files at split {split!r} "
                   f"({', '.join(detector.split_labels(split))}) in {dt:.1f} s")

    _run(go)


@app.command()
def detect(
    images: Annotated[Path, typer.Argument(help="image folder")],
    annotations: Annotated[Path, typer.Option(help="COCO instances JSON (ground truth)")],
    split: Annotated[str | None, typer.Option(help="run split (front then back) at this "
                                              "point instead of the whole network")] = None,
    model: Annotated[Path | None, typer.Option(help="YOLOX-Nano ONNX file")] = None,
    count: Annotated[int | None, typer.Option(help="only the first N images")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="also write the detections (JSON)")] = None,
) -> None:
    """Run the reference detector on uncompressed images and print COCO mAP."""

    def go() -> None:
        import json

        from vcmref.eval.task_metrics import coco_map
        from vcmref.tasks.inference import detections
        from vcmref.tasks.yolox import YoloxDetector

        if output is not None:
            check_output_path(output)
        detector = YoloxDetector(model)
        ds = _open_dataset(annotations, images, count)
        t0 = time.perf_counter()
        dets = detections(detector, ds, split)
        dt = time.perf_counter() - t0
        if output is not None:
            write_atomic(output, json.dumps(dets).encode())
        result = coco_map(ds.coco_ground_truth(), dets)
        typer.echo(f"{len(ds)} images, {len(dets)} detections in {dt:.1f} s "
                   f"({'split at ' + split if split else 'whole network'}): "
                   f"mAP@[.5:.95] {result.map:.4f}, mAP@.5 {result.map50:.4f}")

    _run(go)


@app.command()
def decode(
    stream: Annotated[Path, typer.Argument(help="vcmref stream")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help=".npz of float32 "
                                                "tensors (F,C,H,W)")] = None,
    raw_samples: Annotated[Path | None, typer.Option(help="the decoded-sample file of the "
                                                     "conformance suite (big-endian int32)")]
    = None,
    raw_values: Annotated[Path | None, typer.Option(help="the decoded-value file of the "
                                                    "conformance suite (big-endian binary32)")]
    = None,
    samples: Annotated[Path | None, typer.Option(help="also write the decoded integer samples "
                                                 "(.npz, int32)")] = None,
    frames: Annotated[Path | None, typer.Option(help="also write the decoded samples as the "
                                                "tile layout's 2-D frames (.npz)")] = None,
    layers: Annotated[int | None, typer.Option(help="decode only layers 0..N-1")] = None,
    no_verify_hash: Annotated[bool, typer.Option("--no-verify-hash")] = False,
    no_restoration: Annotated[bool, typer.Option(
        "--no-restoration", help="write the decoded tensors (the conformance point) even when "
        "the stream names a restoration model")] = False,
    loss_tolerant: Annotated[bool, typer.Option(
        "--loss-tolerant", help="decode what arrived: lost or damaged data units and inner "
        "codec data leave their samples 0 (spec clause 5.15)")] = False,
    missing: Annotated[Path | None, typer.Option(help="with --loss-tolerant: also write the "
                                                 "masks of lost samples (.npz, bool)")] = None,
) -> None:
    """Decode a stream (normative decoder); checks decoded-data hashes when present. When the
    stream names a restoration model (spec clause 8), -o gets the restored tensors."""

    def go() -> None:
        from vcmref.decode_output import DecodeOutputs
        from vcmref.media.inner_decoders import decode_inner_pictures
        from vcmref.refsw.decoder import Decoder

        if output is None and raw_samples is None and raw_values is None:
            raise CliError("nothing to write: give -o, --raw-samples or --raw-values")
        if layers is not None and layers < 1:
            raise CliError(f"--layers {layers}: expected at least 1 (layer 0 is always "
                           "decoded)")
        if missing is not None and not loss_tolerant:
            raise CliError("--missing needs --loss-tolerant (a strict decode loses nothing)")
        try:
            outputs = DecodeOutputs(tensors=output, samples=samples, tile_frames=frames,
                                    raw_samples=raw_samples, raw_values=raw_values,
                                    missing=missing)
        except ValueError as e:
            raise CliError(str(e)) from None
        data = _read_stream(stream)
        t0 = time.perf_counter()
        decoded = Decoder(max_layers=layers, verify_hashes=not no_verify_hash,
                          inner_decoder=decode_inner_pictures,
                          loss_tolerant=loss_tolerant).frames(data)
        checked = lost = 0
        layer_sets: set[tuple[int, ...]] = set()

        def tally(frames_in):
            nonlocal checked, lost
            for f in frames_in:
                checked += f.hashes_checked
                lost += sum(int(m.sum()) for m in (f.missing or {}).values())
                layer_sets.add(tuple(f.layers))
                yield f

        restored_by: list = []  # the model, found at the first frame

        def restore(tensors):
            from vcmref.refsw.restoration import find_model

            if decoded.restoration is None or no_restoration:
                return tensors
            if not restored_by:
                restored_by.append(find_model(decoded.restoration.model_sha256))
            return restored_by[0].restore(tensors)

        count = outputs.write_all(decoded.sps, tally(decoded), restore)
        dt = time.perf_counter() - t0
        sets = sorted(layer_sets)
        typer.echo(f"{output or raw_samples or raw_values}: {count} frames, layers "
                   f"{', '.join(map(str, sets[0])) if len(sets) == 1 else sets}"
                   f", {checked} hashes verified, decoded and written in {dt:.3f} s"
                   + (f"; skipped {len(decoded.skipped_units)} reserved units"
                      if decoded.skipped_units else "")
                   + (f"; tensors restored with {restored_by[0].name}" if restored_by else "")
                   + (f"; {lost} samples lost" if loss_tolerant else ""))

    _run(go)


@app.command("simulate-loss")
def simulate_loss(
    stream: Annotated[Path, typer.Argument(help="vcmref stream")],
    output: Annotated[Path, typer.Option("-o", "--output", help="damaged stream to write")],
    model: Annotated[str, typer.Option(help="channel model: iid or ge (Gilbert-Elliott)")]
    = "iid",
    p: Annotated[float, typer.Option("--p", help="loss probability of a unit")] = 0.1,
    burst: Annotated[float | None, typer.Option(help="mean burst length (ge only)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the channel's random numbers")] = 0,
    expose: Annotated[str, typer.Option(help="comma-separated protected unit types to expose "
                                        "to loss too, e.g. frame_header")] = "",
    trace: Annotated[Path | None, typer.Option(help="where to write the loss trace (default: "
                                               "OUTPUT.trace.json)")] = None,
    replay: Annotated[Path | None, typer.Option(help="replay this loss trace instead of "
                                                "drawing losses")] = None,
) -> None:
    """Drop units of a stream as a packet channel would (data units and inner codec data by
    default), seeded and replayable; writes the damaged stream and its loss trace."""

    def go() -> None:
        from vcmref.bitstream.loss import (
            DEFAULT_PROTECTED,
            LossTrace,
            apply_trace,
            protected_types,
            simulate,
        )
        from vcmref.bitstream.units import unit_type_name

        data = _read_stream(stream)
        if replay is not None:
            if not replay.exists():
                raise CliError(f"{replay}: no such file")
            lost = LossTrace.read(replay)
            damaged = apply_trace(data, lost)
        else:
            exposed = protected_types([v.strip() for v in expose.split(",") if v.strip()])
            protect = [unit_type_name(t) for t in DEFAULT_PROTECTED - exposed]
            settings: dict[str, object] = {"model": model, "p": p}
            if burst is not None:
                settings["burst"] = burst
            damaged, lost = simulate(data, settings, seed, protect=protect)
        trace_path = trace or output.with_name(output.name + ".trace.json")
        write_atomic(output, damaged)
        if replay is None or trace is not None:
            lost.write(trace_path)
        typer.echo(f"{output}: {len(lost.lost)} of {lost.unit_count} units lost "
                   f"({len(damaged)} bytes of {len(data)})"
                   + (f"; trace {trace_path}" if replay is None or trace is not None else ""))

    _run(go)


@app.command()
def inspect(
    stream: Annotated[Path, typer.Argument(help="vcmref stream")],
    json_out: Annotated[bool, typer.Option("--json", help="JSON instead of text")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to a file")]
    = None,
) -> None:
    """List every syntax element of every unit with its bit offset."""

    def go() -> None:
        import json

        from vcmref.bitstream.inspect import format_text, inspect_stream

        if output is not None:
            check_output_path(output)
        sig, units = inspect_stream(_read_stream(stream))
        if json_out:
            text = json.dumps({"signature": [e.__dict__ for e in sig],
                               "units": [u.to_json() for u in units]}, indent=1)
        else:
            text = format_text(sig, units)
        if output is None:
            typer.echo(text)
        else:
            write_atomic(output, (text + "\n").encode())

    _run(go)


@app.command()
def extract(
    stream: Annotated[Path, typer.Argument(help="vcmref stream")],
    output: Annotated[Path, typer.Option("-o", "--output", help="stream file to write")],
    layers: Annotated[int | None, typer.Option(help="keep layers 0..N-1")] = None,
    drop: Annotated[str, typer.Option(help="comma-separated unit indices to drop (as "
                                      "`inspect` numbers them)")] = "",
    from_frame: Annotated[int | None, typer.Option(help="start at the first frame whose "
                                                   "frame_index is at least N (a "
                                                   "random-access point)")] = None,
) -> None:
    """Sub-bitstream extraction: keep the first layers, drop listed units, or cut at a frame."""

    def go() -> None:
        from vcmref.bitstream.extract import extract as do_extract

        try:
            dropped = {int(v) for v in drop.split(",") if v.strip()}
        except ValueError:
            raise CliError(f"--drop {drop!r}: expected comma-separated unit indices") from None
        if layers is not None and layers < 1:
            raise CliError(f"--layers {layers}: expected at least 1 (layer 0 is always kept)")
        if from_frame is not None and from_frame < 0:
            raise CliError(f"--from-frame {from_frame}: expected a frame_index >= 0")
        data = _read_stream(stream)
        out = do_extract(data, max_layers=layers, drop_units=dropped, from_frame=from_frame)
        write_atomic(output, out)
        typer.echo(f"{output}: {len(out)} bytes (from {len(data)})")

    _run(go)


@app.command()
def conform(
    decoder: Annotated[str | None, typer.Option(help="decoder command to check, e.g. 'mydec "
                                                "{bitstream} {output}' ({values} optional); "
                                                "default: the reference decoder")] = None,
    suite: Annotated[Path | None, typer.Option(help="suite folder (default: the suite the "
                                               "package ships)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds allowed per stream")] = 60.0,
    only: Annotated[str, typer.Option(help="comma-separated stream names to check (default: "
                                      "all)")] = "",
    coverage: Annotated[bool, typer.Option("--coverage", help="report the syntax elements "
                                           "and value classes the suite exercises")] = False,
    generate: Annotated[bool, typer.Option("--generate", help="regenerate the suite from "
                                           "the reference encoder")] = False,
) -> None:
    """Check a decoder against the conformance suite (exit status 1 on any failure)."""

    def go() -> None:
        from vcmref.assets import in_checkout
        from vcmref.conformance import suite as suite_mod

        folder = suite or suite_mod.SUITE_DIR
        if generate and suite is None and not in_checkout():
            raise CliError("--generate: give --suite FOLDER; the suite of an installed package "
                           "is not rewritten (from a checkout it is the repository's)")
        if generate:
            entries = suite_mod.generate(folder)
            typer.echo(f"{folder}: wrote {len(entries)} streams and "
                       f"{suite_mod.MANIFEST}")
            return
        if coverage:
            from vcmref.conformance.coverage import coverage_report

            streams = [(folder / e.file).read_bytes() for e in suite_mod.load_manifest(folder)
                       if e.expect == "decode"]
            typer.echo(coverage_report(streams).format_table())
            return
        from vcmref.conformance.runner import format_table, run_suite

        names = {n.strip() for n in only.split(",") if n.strip()} or None
        try:
            outcomes = run_suite(folder, decoder, timeout, names)
        except (FileNotFoundError, ValueError) as e:
            raise CliError(str(e)) from None
        if names is not None and len(outcomes) != len(names):
            known = {o.name for o in outcomes}
            raise CliError(f"--only: no stream named {sorted(names - known)[0]!r}")
        typer.echo(format_table(outcomes))
        if not all(o.passed for o in outcomes):
            raise typer.Exit(1)

    _run(go)


def _check_workers(workers: int) -> None:
    if workers < 1:
        _fail(f"--workers {workers}: expected at least 1 worker process")


@app.command()
def ctc(
    config: Annotated[str, typer.Argument(help="config file, or the name of a shipped one "
                                          "(vcmref/ctc/configs/, e.g. fcm_coco_detection)")],
    run_dir: Annotated[Path | None, typer.Option(help="run directory (default: "
                                                 "runs/CONFIG_NAME); a rerun resumes it")]
    = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override KEY.PATH=VALUE "
                                                   "(YAML value; repeatable)")] = None,
    workers: Annotated[int, typer.Option(help="local worker processes")] = 1,
    scheduler: Annotated[str | None, typer.Option(help="dask.distributed scheduler address, "
                                                  "or 'local' for a LocalCluster")] = None,
    phase: Annotated[str, typer.Option(help="all, encode (bitstreams only) or evaluate "
                                       "(decode and evaluate existing bitstreams)")] = "all",
    no_report: Annotated[bool, typer.Option("--no-report", help="do not write the report")]
    = False,
) -> None:
    """Run a CTC config: every item x codec x rate point, resumable, then the report.

    Exits 1 when a job failed (the others still ran; the summary lists the failures)."""
    _check_workers(workers)

    def go():
        from vcmref.ctc.pipeline import run_ctc

        return run_ctc(config, run_dir, set_ or [], workers, scheduler, phase, not no_report,
                       typer.echo)

    summary = _run(go)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def search(
    config: Annotated[str, typer.Argument(help="config file or the name of a shipped one")],
    codec: Annotated[str, typer.Option(help="the config's codec whose rate points to find")],
    bpp: Annotated[list[float] | None, typer.Option(help="target bits per pixel "
                                                    "(repeatable), QP per item")] = None,
    drop: Annotated[list[float] | None, typer.Option(help="target mAP drop against "
                                                     "uncompressed (repeatable), one QP")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="run directory for the search's cache "
                                                 "(default: runs/CONFIG_NAME-search)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the config "
                                                "with the points found")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override KEY.PATH=VALUE")]
    = None,
) -> None:
    """Find the rate points (QP or step) that hit target bitrates or mAP drops."""

    def go() -> None:
        from vcmref.ctc.config import load_config
        from vcmref.ctc.search import run_search

        if bool(bpp) == bool(drop):
            raise CliError("give target --bpp values or target --drop values (one kind)")
        if output is not None:
            check_output_path(output)
        directory = run_dir or Path("runs") / f"{load_config(config, set_ or []).name}-search"
        typer.echo(run_search(config, codec, bpp=bpp or None, drops=drop or None,
                              run_dir=directory, out=output, overrides=set_ or []))

    _run(go)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a CTC run directory")],
) -> None:
    """(Re)write a run's report: CSV tables, the XLSX workbook and the HTML page."""

    def go() -> None:
        from vcmref.ctc.jobs import RunLayout
        from vcmref.ctc.report import write_report

        layout = RunLayout(run_dir)
        if not layout.is_run():
            raise CliError(f"{run_dir}: not a CTC run directory (no "
                           f"{layout.resolved_config.name})")
        paths = write_report(run_dir)
        for kind, path in paths.items():
            typer.echo(f"{kind}: {path}")

    _run(go)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="folder for the demo's files")] = Path(
        "vcmref-demo"),
    model: Annotated[Path | None, typer.Option(help="YOLOX-Nano ONNX file for the machine "
                                               "part (default: the shared reference model, "
                                               "if present)")] = None,
    workers: Annotated[int, typer.Option(help="worker processes for the CTC runs")] = 2,
    codec_only: Annotated[bool, typer.Option("--codec-only", help="only the codec round "
                                             "trip, no CTC run")] = False,
) -> None:
    """The codec round trip on an embedded tensor, then a small CTC run with its report."""
    _check_workers(workers)

    def go() -> None:
        from vcmref.demo import run_ctc_demo, run_demo

        run_demo(workdir, typer.echo)
        if codec_only:
            return
        for path in run_ctc_demo(workdir, model, workers, typer.echo):
            typer.echo(f"HTML report: {path.resolve()}")

    _run(go)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())


analyze_app = typer.Typer(no_args_is_help=True,
                          help="Split-point analysis of a task network (docs/split-analysis.md).")
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("splits")
def analyze_splits_command(
    model: Annotated[Path | None, typer.Argument(help="ONNX task model (default: the YOLOX-Nano "
                                                 "reference detector)")] = None,
    images: Annotated[Path | None, typer.Option(help="COCO image folder (default: the shared "
                                                "coco_val80)")] = None,
    annotations: Annotated[Path | None, typer.Option(help="COCO instances JSON")] = None,
    count: Annotated[int | None, typer.Option(help="the first N images only")] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder (resumes from its "
                                      "cache)")] = Path("split-analysis"),
    split: Annotated[list[str] | None, typer.Option(help="a cut to measure (repeatable): a "
                                                    "named split, a candidate name or "
                                                    "tensors joined by '+'; default: the "
                                                    "stage cuts and the named splits")] = None,
    qp: Annotated[list[int] | None, typer.Option(help="feature anchor QPs (repeatable)")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="list the candidate cuts and "
                                            "stop")] = False,
) -> None:
    """Code the features at each cut and the image itself; rate at equal accuracy per depth."""

    def go() -> None:
        from vcmref.analysis.run import DEFAULT_QPS, analyze_splits, list_cuts
        from vcmref.assets import shared_dir
        from vcmref.eval.datasets import coco_dataset

        if list_only:
            for line in list_cuts(model):
                typer.echo(line)
            return
        coco = shared_dir() / "data" / "coco_val80"
        ds = coco_dataset(annotations or coco / "annotations" / "instances_val2017.json",
                          images or coco / "val2017")
        if count is not None:
            if count < 1:
                raise CliError(f"--count {count}: expected at least 1")
            ds = ds.subset(count=min(count, len(ds)))
        paths = analyze_splits(model, ds, out, splits=split or None, qps=qp or DEFAULT_QPS,
                               progress=lambda line: typer.echo(line, err=True))
        for path in paths:
            typer.echo(str(path))

    _run(go)


@analyze_app.command("plan")
def analyze_plan_command(
    analysis: Annotated[Path, typer.Argument(help="an analysis folder (or its analysis.json)")],
    config: Annotated[Path | None, typer.Option(help="planner YAML (default: the shipped "
                                                "example)")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="folder for plan.csv and "
                                             "plan.png (default: the analysis folder)")] = None,
) -> None:
    """Pick the split and rate point with the least latency (or energy) per bandwidth."""

    def go() -> None:
        from vcmref.analysis.planner import describe
        from vcmref.analysis.run import example_planner_config, plan_splits

        plans, paths = plan_splits(config or example_planner_config(), analysis, out)
        for line in describe(plans):
            typer.echo(line)
        for path in paths:
            typer.echo(str(path))

    _run(go)
