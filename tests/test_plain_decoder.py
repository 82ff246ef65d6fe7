"""The plain decoder (a second decoding path, written from docs/spec.md) and the reference
decoder agree bit for bit: same samples, same float32 values, same accept/reject decision, on
varied streams, with max_layers, and on damaged streams."""

from __future__ import annotations

import hashlib
import random
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from streams import silu_like

from vcmref.bitstream.extract import extract
from vcmref.bitstream.frame_units import (
    DataHash,
    DataUnit,
    FrameHeader,
    TileModel,
    data_hash,
    data_unit,
    frame_header,
    tile_model,
)
from vcmref.bitstream.parameter_sets import StreamParameterSet, stream_parameter_set
from vcmref.bitstream.syntax import Reader, Writer
from vcmref.bitstream.units import (
    UNIT_HEADER_BYTES,
    UnitType,
    iter_units,
    unit_chunks,
    write_signature,
    write_unit,
)
from vcmref.conformance import plain_decoder
from vcmref.conformance.plain_decoder import PlainFrame, wavefront_schedule
from vcmref.conformance.suite import SUITE_DIR, load_manifest
from vcmref.errors import BitstreamError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder import Encoder, EncoderConfig, encode

# --------------------------------------------------------------------------- outcomes


def ref_outcome(data: bytes, max_layers: int | None = None):
    """The reference decoder's output in a comparable form, or 'reject'."""
    try:
        res = Decoder(max_layers=max_layers, inner_decoder=decode_inner_pictures).decode(data)
    except BitstreamError:
        return "reject"
    out = []
    for fr in res.frames:
        tensors = {}
        for ti in res.sps.tensors:
            s, v = fr.samples[ti.name], fr.tensors[ti.name]
            assert s.dtype == np.int32 and v.dtype == np.float32
            assert s.shape == v.shape == (ti.channels, ti.height, ti.width)
            tensors[ti.name] = (s.ravel().tolist(), v.astype(">f4").tobytes())
        out.append((fr.frame_index, list(fr.layers), tensors))
    return out


def plain_outcome(data: bytes, max_layers: int | None = None):
    try:
        frames = plain_decoder.decode(data, max_layers=max_layers,
                                      inner_decoder=decode_inner_pictures)
    except BitstreamError:
        return "reject"
    out = []
    for fr in frames:
        assert isinstance(fr, PlainFrame)
        tensors = {}
        for name, s in fr.samples.items():
            assert all(type(v) is int for v in s)
            assert len(fr.values[name]) == 4 * len(s)
            tensors[name] = (s, fr.values[name])
        out.append((fr.frame_index, fr.layers, tensors))
    return out


def assert_agree(data: bytes, max_layers: int | None = None, what: str = ""):
    ref = ref_outcome(data, max_layers)
    plain = plain_outcome(data, max_layers)
    if ref == "reject" or plain == "reject":
        assert ref == plain, f"{what}: reference {'rejects' if ref == 'reject' else 'accepts'}" \
                             f", plain decoder {'rejects' if plain == 'reject' else 'accepts'}"
    else:
        assert ref == plain, f"{what}: outputs differ"
    return ref


# --------------------------------------------------------------------------- streams


def _tensors(seed: int, shapes: dict[str, tuple[int, ...]], scale: float = 1.0):
    rng = np.random.default_rng(seed)
    return {name: silu_like(rng, shape, scale) for name, shape in shapes.items()}


def _wide(seed: int, shape: tuple[int, ...], spread: float) -> np.ndarray:
    """Heavy-tailed values: with a fine step they reach the ends of 16-bit samples."""
    rng = np.random.default_rng(seed)
    return (rng.standard_cauchy(size=shape) * spread).astype(np.float32)


def _cases() -> list[tuple[str, dict[str, np.ndarray], EncoderConfig]]:
    two = {"a": (2, 4, 5, 6), "b": (2, 3, 3, 4)}
    three = {"p3": (3, 2, 4, 5), "p4": (3, 5, 2, 3), "p5": (3, 1, 3, 7)}
    one = {"x": (1, 5, 6, 7)}
    wide = {"w": _wide(7, (1, 3, 6, 6), 2000.0), "v": _wide(8, (1, 2, 3, 5), 300.0)}
    zero = {"z": np.zeros((2, 3, 4, 5), np.float32), "k": np.full((2, 2, 3, 3), 3.5, np.float32)}
    cases = [
        ("minmax-b10", _tensors(1, one), EncoderConfig()),
        ("minmax-channel-2layers", _tensors(2, two),
         EncoderConfig(quant="minmax-channel", bit_depth=8, layers=2, rows_per_unit=3,
                       tile_columns=2)),
        ("qp-3layers-refs", _tensors(3, three, 3.0),
         EncoderConfig(quant="qp", qp=40, tensor_qp={"p4": 30, "p5": 52}, bit_depth=6,
                       layers=3, layer_refs=[[], [0], []], wavefront_block_size=2,
                       direct_token_log2=3, max_magnitude_class=4, lane_limit=3)),
        ("step-nohash-lanes0", _tensors(4, two, 2.0),
         EncoderConfig(quant="step", step=0.01, bit_depth=12, hashes=False, lane_limit=0,
                       direct_token_log2=6, max_magnitude_class=9, rows_per_unit=2)),
        ("b1-lane1", _tensors(5, two),
         EncoderConfig(bit_depth=1, lane_limit=1, wavefront_block_size=3,
                       max_magnitude_class=2, direct_token_log2=2)),
        ("b16-step-escapes", wide,
         EncoderConfig(quant="step", step=0.25, bit_depth=16, direct_token_log2=2,
                       max_magnitude_class=3, lane_limit=3, rows_per_unit=4)),
        ("b16-qp-escapes", wide,
         EncoderConfig(quant="qp", qp=60, bit_depth=16, direct_token_log2=4,
                       max_magnitude_class=6, lane_limit=64, wavefront_block_size=4)),
        ("b16-minmax-channel", {"w": _wide(9, (2, 2, 4, 6), 50.0)},
         EncoderConfig(quant="minmax-channel", bit_depth=16, direct_token_log2=5,
                       max_magnitude_class=7, lane_limit=0)),
        ("zero-and-constant-minmax", zero, EncoderConfig(bit_depth=7, layers=2)),
        ("zero-and-constant-qp", zero, EncoderConfig(quant="qp", qp=10, bit_depth=9)),
        ("zero-and-constant-channel", zero,
         EncoderConfig(quant="minmax-channel", bit_depth=3, max_magnitude_class=0)),
        ("channel-order", _tensors(10, {"c": (1, 6, 3, 4), "d": (1, 5, 2, 2)}),
         EncoderConfig(layers=2, channel_order={"c": [5, 2, 0, 4, 1, 3], "d": [4, 3, 2, 1, 0]},
                       tile_columns=1, rows_per_unit=1, lane_limit=3)),
        ("layer-plan-empty-tensor", _tensors(11, {"c": (1, 4, 3, 3), "d": (1, 3, 2, 4)}),
         EncoderConfig(quant="qp", qp=35, layer_channels=[{"c": 2}, {"c": 1, "d": 3}, {"c": 1}],
                       layer_refs=[[], [0], [0, 1]], wavefront_block_size=1, lane_limit=5)),
        ("blk1-lanes0", _tensors(12, {"x": (1, 2, 4, 5)}),
         EncoderConfig(wavefront_block_size=1, lane_limit=0, direct_token_log2=3,
                       max_magnitude_class=4)),
        ("three-tensors-frames", _tensors(13, three),
         EncoderConfig(quant="step", step=0.03, bit_depth=10, layers=2, tile_columns=3,
                       rows_per_unit=5, lane_limit=64, wavefront_block_size=3,
                       direct_token_log2=5, max_magnitude_class=5)),
        ("qp-negative-b4", _tensors(14, {"n": (2, 3, 5, 5)}, 4.0),
         EncoderConfig(quant="qp", qp=45, bit_depth=4, direct_token_log2=2,
                       max_magnitude_class=1, layers=3, lane_limit=2)),
        # temporal prediction (clause 5.9.1, profile 2): signed samples whose differences wrap
        # around, two layers, a random-access point at frame 3; unsigned 3-bit samples
        ("inter-step-2layers", _tensors(15, {"a": (5, 4, 3, 4), "b": (5, 2, 2, 3)}, 3.0),
         EncoderConfig(quant="step", step=0.05, bit_depth=6, layers=2, intra_period=3,
                       rows_per_unit=2, lane_limit=3)),
        ("inter-minmax-channel-b3", _tensors(16, {"m": (4, 3, 3, 3)}),
         EncoderConfig(quant="minmax-channel", bit_depth=3, intra_period=0)),
    ]
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def streams() -> dict[str, bytes]:
    return {name: encode(x, cfg) for name, x, cfg in CASES}


def _num_layers(data: bytes) -> int:
    return len(_sps(data).layers)


def _sps(data: bytes) -> StreamParameterSet:
    first = next(iter(iter_units(data)))
    return stream_parameter_set(Reader(first.payload), StreamParameterSet())


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_decoders_agree(streams, name):
    data = streams[name]
    out = assert_agree(data, what=name)
    assert out != "reject", f"{name}: the encoder's stream must decode"
    assert len(out) >= 1


def test_streams_cover_escapes_and_options(streams):
    """The suite of this file really contains escape tokens, every lane limit, both signs."""
    wide = plain_decoder.decode(streams["b16-step-escapes"])
    samples = [v for fr in wide for s in fr.samples.values() for v in s]
    assert max(samples) > 4000 and min(samples) < -4000
    assert {_sps(d).lane_limit for d in streams.values()} >= {0, 1, 3, 64}
    assert {_sps(d).direct_token_log2 for d in streams.values()} == {2, 3, 4, 5, 6}
    assert {_sps(d).sample_bit_depth for d in streams.values()} >= {1, 3, 4, 16}


def test_reference_numpy_path_agrees(streams, monkeypatch):
    """The reference decoder's numpy path (without the compiled kernel) agrees too."""
    monkeypatch.setenv("VCMREF_NUMPY_ONLY", "1")
    for name in ("qp-3layers-refs", "b16-step-escapes", "b1-lane1"):
        assert_agree(streams[name], what=name)


@pytest.mark.parametrize("name", ["minmax-channel-2layers", "qp-3layers-refs",
                                  "layer-plan-empty-tensor", "qp-negative-b4",
                                  "inter-step-2layers"])
def test_max_layers(streams, name):
    data = streams[name]
    n_layers = _num_layers(data)
    full = plain_outcome(data)
    for k in range(1, n_layers + 2):
        out = assert_agree(data, max_layers=k, what=f"{name} max_layers={k}")
        assert out != "reject"
        # Clause 5.3: decoding with max_layers = k equals decoding the extracted stream.
        assert plain_outcome(extract(data, max_layers=k)) == out
        if k >= n_layers:
            assert out == full


def test_conformance_suite():
    """The whole conformance suite on disk: the plain decoder rejects the must-reject streams,
    and its output has the manifest's MD5s (sample file: big-endian int32; value file:
    big-endian binary32; per frame, per tensor in SPS order); the reference agrees."""
    try:
        entries = load_manifest()
    except FileNotFoundError:
        pytest.skip(f"no conformance suite under {SUITE_DIR}")
    decoded = 0
    for e in entries:
        data = (SUITE_DIR / e.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e.sha256, e.name
        out = assert_agree(data, what=e.name)
        if e.expect == "reject":
            assert out == "reject", e.name
            continue
        assert out != "reject", e.name
        frames = plain_decoder.decode(data, inner_decoder=decode_inner_pictures)
        samples = b"".join(struct.pack(f">{len(s)}i", *s) for f in frames
                           for s in f.samples.values())
        values = b"".join(v for f in frames for v in f.values.values())
        assert len(frames) == e.frames, e.name
        assert hashlib.md5(samples).hexdigest() == e.samples_md5, e.name
        assert hashlib.md5(values).hexdigest() == e.values_md5, e.name
        decoded += 1
    assert decoded > 0


def test_plain_decoder_is_independent():
    """The plain decoder loads neither numpy nor the reference decoder (vcmref.refsw)."""
    code = ("import sys, vcmref.conformance.plain_decoder; "
            "print(sorted(m for m in sys.modules if m == 'numpy' or m.startswith('numpy.') "
            "or m.startswith('vcmref.refsw')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_spec_schedule_example():
    """Clause 5.6's example: one part of height 3, width 4, wavefront_block_size 0."""
    s = wavefront_schedule([3], 4, 0, 0)
    assert s.ws == [1, 2, 3, 3, 2, 1]
    assert s.order[3:6] == [2, 5, 8]  # pass 2: (2, 0), (1, 1), (0, 2)
    assert s.lane_start == [0, 1, 2, 3, 2, 1]
    assert s.lane_retire == [1, 2, 3, 2, 1, 0]
    s = wavefront_schedule([3], 4, 0, 2)
    assert s.ws == [1, 2, 2, 1, 2, 1, 2, 1]
    assert s.lane_start == [0, 1, 2, 1, 2, 1, 2, 1]
    assert s.lane_retire == [1, 2, 2, 1, 2, 1, 1, 0]


# --------------------------------------------------------------------------- damage

DAMAGE_CASES = ("minmax-channel-2layers", "qp-3layers-refs", "step-nohash-lanes0",
                "b16-step-escapes", "layer-plan-empty-tensor", "inter-step-2layers")


def _replace_payload(data: bytes, unit, payload: bytes) -> bytes:
    start = unit.byte_offset + UNIT_HEADER_BYTES
    assert len(payload) == len(unit.payload)
    return data[:start] + payload + data[start + len(unit.payload):]


def _flip_ans(data: bytes, unit, sps: StreamParameterSet, pos: int, mask: int) -> bytes:
    """Flip bits of one byte of a data unit's ans_data and recompute data_crc32."""
    payload = bytearray(unit.payload)
    du = data_unit(Reader(unit.payload), DataUnit(), sps, unit.payload)
    start = len(payload) - 4 - len(du.ans_data)
    payload[start + pos] ^= mask
    payload[-4:] = zlib.crc32(bytes(payload[:-4])).to_bytes(4, "big")
    return _replace_payload(data, unit, bytes(payload))


def _with_ans(data: bytes, unit, sps: StreamParameterSet, ans: bytes) -> bytes:
    """The stream with one data unit's ans_data replaced (ans_bytes and data_crc32 rewritten)."""
    du = data_unit(Reader(unit.payload), DataUnit(), sps, unit.payload)
    w = Writer()
    data_unit(w, DataUnit(du.frame_index, du.tensor_idx, du.unit_idx, ans), sps)
    end = unit.byte_offset + UNIT_HEADER_BYTES + len(unit.payload)
    return data[:unit.byte_offset] + write_unit(UnitType.DATA_UNIT, unit.layer_id,
                                                w.getvalue()) + data[end:]


@pytest.mark.parametrize("name", DAMAGE_CASES)
def test_damaged_ans_data(streams, name):
    data = streams[name]
    sps = _sps(data)
    rng = random.Random(name)
    accepted = 0
    units = [u for u in iter_units(data) if u.unit_type == UnitType.DATA_UNIT]
    for unit in rng.sample(units, min(len(units), 4)):
        ans = data_unit(Reader(unit.payload), DataUnit(), sps, unit.payload).ans_data
        n_ans = len(ans)
        for pos in sorted({0, n_ans - 1, rng.randrange(n_ans)}):
            for mask in sorted({0x01, 1 << rng.randrange(8)}):
                out = assert_agree(_flip_ans(data, unit, sps, pos, mask),
                                   what=f"{name} unit {unit.index} ans byte {pos} ^ {mask}")
                accepted += out != "reject"
        # Clause 5.8: zero bits after the data change nothing (ans_data may end early).
        assert assert_agree(_with_ans(data, unit, sps, ans + bytes(3))) == ref_outcome(data)
        replacements = {"empty": b"", "all ones": b"\xff" * n_ans, "last byte": ans[-1:],
                        "half": ans[: n_ans // 2], "less 1": ans[:-1], "less 2": ans[:-2],
                        "trailing one": ans + b"\x01"}
        for what, new_ans in replacements.items():
            assert_agree(_with_ans(data, unit, sps, new_ans),
                         what=f"{name} unit {unit.index} ans_data {what}")
    if not has_hashes(data):
        assert accepted > 0, "some damaged ans_data should still decode (no hashes)"


def _without_hashes(data: bytes) -> bytes:
    return extract(data, drop_units={u.index for u in iter_units(data)
                                     if u.unit_type == UnitType.DATA_HASH})


def has_hashes(data: bytes) -> bool:
    return any(u.unit_type == UnitType.DATA_HASH for u in iter_units(data))


@pytest.mark.parametrize("name", DAMAGE_CASES)
def test_truncated_streams(streams, name):
    data = streams[name]
    rng = random.Random(name)
    cuts = {len(data) - 1, len(data) - UNIT_HEADER_BYTES, 3, 4, 9, 10}
    boundaries = [u.byte_offset for u in iter_units(data)]
    cuts |= set(rng.sample(boundaries, min(len(boundaries), 6)))
    cuts |= {rng.randrange(len(data)) for _ in range(6)}
    for cut in sorted(cuts):
        assert assert_agree(data[:cut], what=f"{name} cut at {cut}") == "reject"


@pytest.mark.parametrize("name", DAMAGE_CASES)
def test_dropped_units(streams, name):
    data = streams[name]
    for unit in iter_units(data):
        if unit.unit_type in (UnitType.STREAM_PARAMETER_SET, UnitType.FRAME_HEADER,
                              UnitType.END_OF_STREAM):
            continue
        out = assert_agree(extract(data, drop_units={unit.index}),
                           what=f"{name} without unit {unit.index}")
        if unit.unit_type == UnitType.DATA_HASH:
            assert out != "reject"


@pytest.mark.parametrize("name", DAMAGE_CASES)
def test_flipped_payload_bits(streams, name):
    """Bit flips in tile models, frame headers, data hashes and data units (CRC not fixed):
    the syntax, the frequencies, the quantization parameters and the checks all change."""
    data = streams[name]
    rng = random.Random(f"flip {name}")
    units = [u for u in iter_units(data) if u.payload]
    for trial in range(40):
        unit = rng.choice(units)
        payload = bytearray(unit.payload)
        for _ in range(rng.randint(1, 2)):
            i = rng.randrange(8 * len(payload))
            payload[i // 8] ^= 0x80 >> (i % 8)
        assert_agree(_replace_payload(data, unit, bytes(payload)),
                     what=f"{name} trial {trial} unit {unit.index}")


def _rebuild(chunks: list[bytes]) -> bytes:
    return write_signature() + b"".join(chunks)


def _with_layer_id(chunk: bytes, layer_id: int) -> bytes:
    return chunk[:1] + bytes([layer_id]) + chunk[2:]


@pytest.fixture(scope="module")
def order_stream() -> bytes:
    """Small: 2 frames, 3 layers (layer 2 depends on layer 0 only), 2 tensors, hashes."""
    x = _tensors(30, {"a": (2, 3, 2, 3), "b": (2, 2, 2, 2)})
    return encode(x, EncoderConfig(quant="qp", qp=38, bit_depth=5, layers=3,
                                   layer_channels=[{"a": 1, "b": 1}, {"a": 1}, {"a": 1, "b": 1}],
                                   layer_refs=[[], [0], [0]], lane_limit=2))


def test_unit_order_mutations(order_stream):
    """Clause 5.2 / 5.3 rules: units moved, repeated, removed, relabelled or added."""
    data = order_stream
    chunks = unit_chunks(data)
    n_layers = _num_layers(data)
    rng = random.Random(5)
    reserved = write_unit(99, 5, b"reserved payload")
    variants: list[tuple[str, bytes]] = []
    for utype in (7, 127):  # the ends of the reserved range, where a type-2..6 unit would be
        for i in (1, 2, len(chunks) - 1):
            variants.append((f"type {utype} unit before {i}",
                             _rebuild(chunks[:i] + [write_unit(utype, 0, b"\x00")] + chunks[i:])))
    for i in range(len(chunks)):
        variants.append((f"remove {i}", _rebuild(chunks[:i] + chunks[i + 1:])))
        variants.append((f"repeat {i}", _rebuild(chunks[:i + 1] + chunks[i:])))
        if i + 1 < len(chunks):
            variants.append((f"swap {i}", _rebuild(chunks[:i] + [chunks[i + 1], chunks[i]]
                                                   + chunks[i + 2:])))
        if i % 3 == 0:
            variants.append((f"reserved before {i}",
                             _rebuild(chunks[:i] + [reserved] + chunks[i:])))
        for layer_id in [*range(n_layers), rng.choice([n_layers, 31])]:
            variants.append((f"unit {i} layer_id {layer_id}",
                             _rebuild(chunks[:i] + [_with_layer_id(chunks[i], layer_id)]
                                      + chunks[i + 1:])))
    units = list(iter_units(data))
    starts = [u.index for u in units if u.unit_type == UnitType.FRAME_HEADER] + [len(units) - 1]
    for f in range(len(starts) - 1):
        for layer in range(n_layers):  # clause 5.3: a whole layer of one frame removed
            keep = [chunks[u.index] for u in units
                    if not (starts[f] < u.index < starts[f + 1] and u.layer_id == layer)]
            variants.append((f"frame {f} without layer {layer}", _rebuild(keep)))
    variants.append(("reserved after end", _rebuild(chunks + [reserved])))
    variants.append(("reserved at end", _rebuild(chunks[:-1] + [reserved, chunks[-1]])))
    variants.append(("end_of_stream with payload",
                     _rebuild(chunks[:-1] + [write_unit(UnitType.END_OF_STREAM, 0, b"\0")])))
    variants.append(("no frames", _rebuild([chunks[0], chunks[-1]])))
    variants.append(("signature only", write_signature()))
    outcomes = {"accept": 0, "reject": 0}
    for k, (what, stream) in enumerate(variants):
        for max_layers in (None, 1) if k % 4 == 1 else (None,):
            out = assert_agree(stream, max_layers=max_layers,
                               what=f"{what} max_layers={max_layers}")
            outcomes["reject" if out == "reject" else "accept"] += 1
    assert min(outcomes.values()) > 10, outcomes


def _restorations(data: bytes, max_layers: int | None = None):
    """(reference, plain) restoration the stream names, as (restoration_type, model_sha256)
    or None; 'reject' where a decoder rejects the stream."""
    try:
        ref = Decoder(max_layers=max_layers).decode(data).restoration
        ref = None if ref is None else (ref.restoration_type, ref.model_sha256)
    except BitstreamError:
        ref = "reject"
    try:
        plain = plain_decoder.decode_stream(data, max_layers=max_layers)[1]
        plain = None if plain is None else (plain.restoration_type, plain.model_sha256)
    except BitstreamError:
        plain = "reject"
    return ref, plain


def test_restoration_model_rules(order_stream):
    """Clause 5.2 rule 9 and clause 4.9: a restoration_model unit at every position, in every
    layer, twice, with every payload length around 33 and restoration_type values around 1. Both
    decoders agree on the decision, on the output and on the restoration named; the output is
    that of the stream without the unit (clause 5.13)."""
    data = order_stream
    chunks = unit_chunks(data)
    n_layers = _num_layers(data)
    digest = hashlib.sha256(b"plain decoder test model").digest()
    good = write_unit(UnitType.RESTORATION_MODEL, 0, b"\x01" + digest)
    plain_out = assert_agree(data, what="without restoration_model")
    variants: list[tuple[str, bytes, bool]] = []  # (what, stream, conforming)
    for i in range(len(chunks) + 1):
        variants.append((f"at {i}", _rebuild(chunks[:i] + [good] + chunks[i:]), i == 1))
    for layer_id in (*range(1, n_layers), n_layers, 31):
        variants.append((f"layer_id {layer_id}",
                         _rebuild(chunks[:1] + [_with_layer_id(good, layer_id)] + chunks[1:]),
                         False))
    variants.append(("twice", _rebuild(chunks[:1] + [good, good] + chunks[1:]), False))
    variants.append(("twice, a reserved unit between",
                     _rebuild(chunks[:1] + [good, write_unit(7, 0, b""), good] + chunks[1:]),
                     False))
    variants.append(("after a reserved unit",
                     _rebuild(chunks[:1] + [write_unit(100, 2, b"x"), good] + chunks[1:]), True))
    variants.append(("no frames", _rebuild([chunks[0], good, chunks[-1]]), True))
    for size in (0, 1, 2, 31, 32, 34, 40):
        payload = (b"\x01" + digest * 2)[:size]
        variants.append((f"payload of {size} bytes",
                         _rebuild(chunks[:1] + [write_unit(UnitType.RESTORATION_MODEL, 0,
                                                           payload)] + chunks[1:]), False))
    for value in (0, 2, 3, 127, 128, 255):
        variants.append((f"restoration_type {value}",
                         _rebuild(chunks[:1] + [write_unit(UnitType.RESTORATION_MODEL, 0,
                                                           bytes([value]) + digest)]
                                  + chunks[1:]), False))
    for what, stream, conforming in variants:
        for max_layers in (None, 1):
            out = assert_agree(stream, max_layers=max_layers, what=f"{what} {max_layers}")
            ref, plain = _restorations(stream, max_layers)
            assert ref == plain, what
            if not conforming:
                assert out == "reject" and ref == "reject", what
            elif what != "no frames":
                assert ref == (1, digest), what
                assert out == assert_agree(data, max_layers=max_layers), what
    assert plain_out != "reject"
    assert _restorations(data) == (None, None)


# --------------------------------------------------------------------------- temporal prediction


@pytest.fixture(scope="module")
def intra_profile2_stream() -> bytes:
    """3 frames coded on their own, 2 layers, 2 tensors, hashes, with profile_idc 2: a
    temporal_prediction unit whose flags are all 0 changes nothing in it."""
    x = _tensors(31, {"a": (3, 3, 2, 3), "b": (3, 2, 2, 2)}, 3.0)
    data = encode(x, EncoderConfig(quant="step", step=0.1, bit_depth=5, layers=2,
                                   lane_limit=2))
    assert _sps(data).profile_idc == 1
    return _with_profile(data, 2)


def _with_profile(data: bytes, profile_idc: int) -> bytes:
    at = len(write_signature()) + UNIT_HEADER_BYTES  # profile_idc: the SPS payload's first byte
    return data[:at] + bytes([profile_idc]) + data[at + 1:]


def _prediction(frame_index: int, flags: list[int], layer_id: int = 0,
                n_tensors: int = 2) -> bytes:
    """A temporal_prediction unit, written from clause 3's table: frame_index ue(v), one
    predicted_flag bit per tensor, zero bits to the byte boundary."""
    code = frame_index + 1
    bits = "0" * (code.bit_length() - 1) + format(code, "b")
    bits += "".join(str(f) for f in (flags + [0] * n_tensors)[:n_tensors])
    bits += "0" * (-len(bits) % 8)
    return write_unit(UnitType.TEMPORAL_PREDICTION, layer_id,
                      int(bits, 2).to_bytes(len(bits) // 8, "big"))


def _frame_at(units, i: int, sps: StreamParameterSet) -> tuple[int, int | None]:
    """(number from 0, frame_index) of the frame open before unit position i, (-1, None) when
    none is."""
    number, index = -1, None
    for u in units[:i]:
        if u.unit_type == UnitType.FRAME_HEADER:
            number += 1
            index = frame_header(Reader(u.payload), FrameHeader(), sps).frame_index
        elif u.unit_type == UnitType.END_OF_STREAM:
            return -1, None
    return number, index


def _predicted_reference(data: bytes, flags: dict[int, list[int]],
                         max_layers: int | None = None) -> list[dict[str, np.ndarray]]:
    """Clause 5.9.1 applied by hand to the samples of a stream without prediction: frame f's
    samples of tensor t become SampleMin + ((v + ref - SampleMin) mod 2^B) where flags[f][t]."""
    res = Decoder(max_layers=max_layers).decode(data)
    sps = res.sps
    lo, span = sps.sample_min, 1 << sps.sample_bit_depth
    out: list[dict[str, np.ndarray]] = []
    for f, fr in enumerate(res.frames):
        frame = {k: v.astype(np.int64) for k, v in fr.samples.items()}
        for t, ti in enumerate(sps.tensors):
            if flags.get(f, [0] * len(sps.tensors))[t]:
                frame[ti.name] = lo + (frame[ti.name] + out[-1][ti.name] - lo) % span
        out.append(frame)
    return out


def test_temporal_prediction_rules(intra_profile2_stream):
    """Clause 5.2 rules 8 and 10, clauses 4.10 and 5.9.1: a temporal_prediction unit at every
    position, in other layers, twice, with a wrong frame_index, in a profile 1 stream, with
    payloads too short and too long, and with flags 0 (no change) and 1 (the modular sum, and
    the data hash that then fails). Both decoders agree on every variant, with and without
    max_layers."""
    data = intra_profile2_stream
    chunks = unit_chunks(data)
    units = list(iter_units(data))
    sps = _sps(data)
    base = assert_agree(data, what="without temporal_prediction")
    assert base != "reject"
    fh = [u.index for u in units if u.unit_type == UnitType.FRAME_HEADER]
    variants: list[tuple[str, bytes, bool]] = []  # (what, stream, conforming)
    for i in range(len(chunks) + 1):
        number, index = _frame_at(units, i, sps)
        unit = _prediction(index or 0, [0, 0])
        variants.append((f"flags 0 at {i}", _rebuild(chunks[:i] + [unit] + chunks[i:]),
                         number >= 1))
    good = _prediction(1, [0, 0])
    at = fh[1] + 1
    # layer_id 1 (< NumLayers) is an error too, also decoded with max_layers 1: see
    # test_temporal_prediction_layer_id_1_with_max_layers
    layer_1 = _rebuild(chunks[:at] + [_with_layer_id(good, 1)] + chunks[at:])
    assert assert_agree(layer_1, what="layer_id 1") == "reject"
    for layer_id in (2, 31):
        variants.append((f"layer_id {layer_id}",
                         _rebuild(chunks[:at] + [_with_layer_id(good, layer_id)] + chunks[at:]),
                         False))
    variants.append(("twice", _rebuild(chunks[:at] + [good, good] + chunks[at:]), False))
    variants.append(("twice, a reserved unit between",
                     _rebuild(chunks[:at] + [good, write_unit(11, 0, b""), good] + chunks[at:]),
                     False))
    variants.append(("after a reserved unit",
                     _rebuild(chunks[:at] + [write_unit(11, 1, b"x"), good] + chunks[at:]),
                     True))
    variants.append(("frame_index 2 in frame 1",
                     _rebuild(chunks[:at] + [_prediction(2, [0, 0])] + chunks[at:]), False))
    variants.append(("in a profile 1 stream",
                     _with_profile(_rebuild(chunks[:at] + [good] + chunks[at:]), 1), False))
    for what, payload in (("empty", b""), ("one more byte", good[UNIT_HEADER_BYTES:] + b"\0"),
                          ("alignment bit 1", bytes([good[UNIT_HEADER_BYTES] | 1]))):
        variants.append((f"payload {what}",
                         _rebuild(chunks[:at] + [write_unit(UnitType.TEMPORAL_PREDICTION, 0,
                                                            payload)] + chunks[at:]), False))
    ones = {1: [1, 1], 2: [1, 0]}
    predicted = [c for c in chunks]
    for f, flags in sorted(ones.items(), reverse=True):
        predicted[fh[f] + 1:fh[f] + 1] = [_prediction(f, flags)]
    predicted_stream = _rebuild(predicted)
    variants.append(("flags 1, hashes kept", predicted_stream, False))
    for what, stream, conforming in variants:
        for max_layers in (None, 1):
            out = assert_agree(stream, max_layers=max_layers, what=f"{what} {max_layers}")
            if not conforming:
                assert out == "reject", what
            else:
                assert out == assert_agree(data, max_layers=max_layers), what
    # flags 1 with the data hashes dropped: the modular sum of clause 5.9.1, frame 2 predicted
    # from the predicted frame 1
    bare = _without_hashes(predicted_stream)
    for max_layers in (None, 1):
        out = assert_agree(bare, max_layers=max_layers, what=f"flags 1 {max_layers}")
        assert out != "reject"
        want = _predicted_reference(_without_hashes(data), ones, max_layers)
        got = Decoder(max_layers=max_layers).decode(bare).frames
        for f, fr in enumerate(got):
            for name, x in fr.samples.items():
                np.testing.assert_array_equal(x, want[f][name], err_msg=f"frame {f} {name}")
        assert got[1].samples["a"].tolist() != \
            Decoder(max_layers=max_layers).decode(data).frames[1].samples["a"].tolist()


@pytest.mark.parametrize("bit_depth", [1, 3, 8])
@pytest.mark.parametrize("signed", [False, True])
def test_prediction_formula(bit_depth, signed):
    """Clause 5.9.1 as the plain decoder writes it, for every (residual, reference) pair of a
    small sample range: the reference decoder's predict_samples agrees, and the result stays in
    [SampleMin, SampleMax] (below SampleMin the mod is taken upward)."""
    from vcmref.bitstream.parameter_sets import QuantMode
    from vcmref.refsw.decoder import predict_samples

    sps = StreamParameterSet(sample_bit_depth=bit_depth, quant_mode=QuantMode.UNIFORM_STEP
                             if signed else QuantMode.MINMAX_TENSOR)
    lo, hi = plain_decoder.sample_range(sps)
    assert (lo, hi) == (sps.sample_min, sps.sample_max)
    values = list(range(lo, hi + 1))
    residual = [v for v in values for _ in values]
    reference = [r for _ in values for r in values]
    out = list(residual)
    plain_decoder.predict_channels(sps, [0], len(out), out, reference)
    assert out == predict_samples(np.array(residual), np.array(reference), sps).tolist()
    assert min(out) >= lo and max(out) <= hi


def test_temporal_prediction_layer_id_1_with_max_layers(intra_profile2_stream):
    """A temporal_prediction unit with layer_id 1 (< NumLayers) added to a frame that has one
    in layer 0 is an error whatever max_layers is (rule 10 comes before rule 8's skip)."""
    chunks = unit_chunks(intra_profile2_stream)
    fh = [u.index for u in iter_units(intra_profile2_stream)
          if u.unit_type == UnitType.FRAME_HEADER]
    at = fh[1] + 1
    stream = _rebuild(chunks[:at] + [_prediction(1, [0, 0]), _prediction(1, [0, 0], 1)]
                      + chunks[at:])
    assert plain_outcome(stream) == ref_outcome(stream) == "reject"
    assert plain_outcome(stream, max_layers=1) == "reject"
    assert ref_outcome(stream, max_layers=1) == "reject"


def test_payload_size_level_limit():
    """Clause 6: after the stream parameter set, a payload above the level's
    MaxUnitPayloadBytes (2^22 at level 10) is an error. A data unit whose ans_data is padded
    with zero bytes decodes as before (clause 5.8) up to that size, and is rejected beyond it
    although ans_bytes = 2^22 itself is in range. A reserved unit is skipped (clause 5.2
    rule 2) before the check."""
    data = encode(_tensors(20, {"x": (1, 2, 3, 3)}), EncoderConfig())
    sps = _sps(data)
    assert sps.level_idc == 10
    limit = 1 << 22
    unit = next(u for u in iter_units(data) if u.unit_type == UnitType.DATA_UNIT)
    ans = data_unit(Reader(unit.payload), DataUnit(), sps, unit.payload).ans_data
    fits = _with_ans(data, unit, sps, ans.ljust(limit - 64, b"\0"))
    grown = len(fits) - len(data) + len(unit.payload) - limit  # payload size - limit
    fits = _with_ans(data, unit, sps, ans.ljust(limit - 64 - grown, b"\0"))
    assert len(fits) - len(data) + len(unit.payload) == limit
    assert assert_agree(fits, what="payload of exactly MaxUnitPayloadBytes") == \
        ref_outcome(data) != "reject"
    too_big = _with_ans(data, unit, sps, ans.ljust(limit, b"\0"))
    assert assert_agree(too_big, what="payload above MaxUnitPayloadBytes") == "reject"
    chunks = unit_chunks(data)
    big = write_unit(100, 0, bytes(limit + 1))
    assert assert_agree(_rebuild(chunks[:1] + [big] + chunks[1:]), what="big reserved unit") \
        != "reject"


# --------------------------------------------------------------------------- rewritten fields

_SYNTAX = {UnitType.FRAME_HEADER: (frame_header, FrameHeader),
           UnitType.TILE_MODEL: (tile_model, TileModel),
           UnitType.DATA_UNIT: (data_unit, DataUnit),
           UnitType.DATA_HASH: (data_hash, DataHash)}


def _rewrite(data: bytes, edit) -> bytes:
    """The stream with every frame unit parsed, passed to edit(unit, structure, sps), and
    written again with the syntax functions (so sizes and data_crc32 stay right)."""
    sps = _sps(data)
    out = [write_signature()]
    for unit in iter_units(data):
        chunk = data[unit.byte_offset : unit.byte_offset + UNIT_HEADER_BYTES + len(unit.payload)]
        if unit.unit_type in _SYNTAX:
            fn, cls = _SYNTAX[unit.unit_type]
            extra = (unit.payload,) if unit.unit_type == UnitType.DATA_UNIT else ()
            obj = fn(Reader(unit.payload), cls(), sps, *extra)
            if edit(unit, obj, sps) is not False:
                w = Writer()
                fn(w, obj, sps)
                chunk = write_unit(unit.unit_type, unit.layer_id, w.getvalue())
        out.append(chunk)
    return b"".join(out)


def _bits(x: float) -> int:
    return int(np.array(x, dtype=">f4").view(">u4"))


FLT_MAX = 0x7F7FFFFF
# (min, max) binary32 patterns: legal in the syntax, extreme in clause 5.10.
MINMAX_EDGES = [
    (_bits(-3e38), _bits(3e38)),  # max - min overflows: scale is not finite
    (0x7F000000, FLT_MAX),  # min + s * scale may round past FLT_MAX
    (0xFF7FFFFF, 0xFF000000),
    (0xFF7FFFFF, FLT_MAX - 0x01000000),
    (0x00000001, 0x00000007),  # subnormals
    (0x80700000, 0x00700000),
    (0x80000000, 0x00000000),  # -0.0, +0.0
    (0x80000000, 0x80000000),
    (0x3F800000, 0x3F800000),  # empty range
    (0x3F800000, 0x3F800001),  # one ulp
    (_bits(-1e-3), _bits(7.25)),
]
STEP_EDGES = [FLT_MAX, 0x7E800000, 0x00000001, 0x00400001, 0x007FFFFF, 0x3DCCCCCD, 0x4F000000]


def _set_quant(edge_index: int):
    def edit(unit, obj, sps):
        if unit.unit_type != UnitType.FRAME_HEADER:
            return False
        for t, q in enumerate(obj.quant):
            k = edge_index + t + obj.frame_index
            if sps.quant_mode in (0, 1):
                for c in range(len(q.min_bits)):
                    q.min_bits[c], q.max_bits[c] = MINMAX_EDGES[(k + c) % len(MINMAX_EDGES)]
            elif sps.quant_mode == 2:
                q.qp = (edge_index * 11 + 7 * t + obj.frame_index) % 64
            else:
                q.step_bits = STEP_EDGES[k % len(STEP_EDGES)]
        return True
    return edit


@pytest.mark.parametrize("name", ["minmax-b10", "minmax-channel-2layers", "qp-3layers-refs",
                                  "step-nohash-lanes0", "b16-step-escapes"])
def test_edge_quantization_parameters(streams, name):
    """Frame headers rewritten with extreme binary32 parameters: overflows, subnormal results,
    signed zeros, every QP."""
    data = streams[name]
    outcomes = set()
    for edge in range(len(MINMAX_EDGES)):
        out = assert_agree(_rewrite(data, _set_quant(edge)), what=f"{name} edge {edge}")
        outcomes.add(out == "reject")
    if _sps(data).quant_mode != 2:
        assert outcomes == {True, False}


def test_scale_overflow_is_an_error(streams):
    data = streams["minmax-b10"]
    assert assert_agree(_rewrite(data, _set_quant(0))) == "reject"


def test_rewritten_unit_fields(streams, order_stream):
    """Frame index gaps, sample_offset shifts, absent contexts, unit keys moved."""
    def frame_gaps(unit, obj, sps):
        obj.frame_index = 3 * obj.frame_index + 2

    for name in ("qp-3layers-refs", "step-nohash-lanes0"):
        out = assert_agree(_rewrite(streams[name], frame_gaps), what=f"{name} frame gaps")
        assert len(out) >= 2 and [fr[0] for fr in out] == [3 * f + 2 for f in range(len(out))]

    def offset_by(delta):
        def edit(unit, obj, sps):
            if unit.unit_type != UnitType.TILE_MODEL:
                return False
            obj.sample_offset = max(-(1 << sps.sample_bit_depth),
                                    min(1 << sps.sample_bit_depth, obj.sample_offset + delta))
        return edit

    def drop_context(which):
        def edit(unit, obj, sps):
            if unit.unit_type != UnitType.TILE_MODEL:
                return False
            present = [c for c, w in enumerate(obj.weights) if w is not None]
            if len(present) > 1:
                obj.weights[present[which % len(present)]] = None
        return edit

    def move_unit(field_name, delta):
        def edit(unit, obj, sps):
            if unit.unit_type != UnitType.DATA_UNIT or unit.index % 3:
                return False
            value = getattr(obj, field_name) + delta
            if field_name == "tensor_idx":
                value %= len(sps.tensors)
            setattr(obj, field_name, max(0, value))
        return edit

    edits = {"offset +1": offset_by(1), "offset -1": offset_by(-1),
             "offset +3000": offset_by(3000), "offset -3000": offset_by(-3000),
             "drop context 0": drop_context(0), "drop context 1": drop_context(1),
             "drop last context": drop_context(-1), "unit_idx +1": move_unit("unit_idx", 1),
             "unit_idx -1": move_unit("unit_idx", -1), "tensor_idx +1": move_unit("tensor_idx", 1),
             "frame_index +1": move_unit("frame_index", 1)}
    accepted = 0
    for name in ("step-nohash-lanes0", "qp-negative-b4", "b16-step-escapes", "b1-lane1"):
        data = _without_hashes(streams[name])
        for what, edit in edits.items():
            out = assert_agree(_rewrite(data, edit), what=f"{name} {what}")
            accepted += out != "reject"
    for what, edit in edits.items():
        assert_agree(_rewrite(order_stream, edit), max_layers=2, what=f"order stream {what}")
    assert accepted > 0


class _TileEncoder(Encoder):
    """The reference encoder with chosen tile models: every tile's sample_offset forced to
    offset_sign * 2^B (to reach the largest escape tokens, K = B + 1, which the encoder's own
    choice of offset never needs), and/or the same token weights in every context."""

    def __init__(self, cfg: EncoderConfig, offset_sign: int | None = None,
                 weights: list[int] | None = None) -> None:
        super().__init__(cfg)
        self.offset_sign = offset_sign
        self.weights = weights

    def tile_offset(self, sps, samples):
        if self.offset_sign is None:
            return super().tile_offset(sps, samples)
        return self.offset_sign << sps.sample_bit_depth

    def tile_weights(self, counts):
        if self.weights is None:
            return super().tile_weights(counts)
        return [list(self.weights)] * len(counts)


@pytest.mark.parametrize("bit_depth", [1, 5, 16])
@pytest.mark.parametrize("quant", ["minmax", "step"])
def test_extreme_sample_offsets(bit_depth, quant):
    """sample_offset = -2^B and +2^B (the ends of its range): the largest escape tokens."""
    rng = np.random.default_rng(bit_depth)
    x = {"e": rng.uniform(-1.0, 1.0, size=(2, 3, 4)).astype(np.float32)}
    x["e"][0, 0, :2] = (-1.0, 1.0)
    cfg = EncoderConfig(quant=quant, step=2.0 ** (1 - bit_depth), bit_depth=bit_depth,
                        direct_token_log2=2, max_magnitude_class=3, lane_limit=2, layers=2)
    plain = assert_agree(encode(x, cfg))
    for sign in (-1, 1):
        data = _TileEncoder(cfg, offset_sign=sign).encode(x)
        out = assert_agree(data, what=f"offset {sign} * 2^{bit_depth}")
        assert out == plain
        top_token = (1 << 2) + bit_depth + 1 - 2  # NumTokens - 1: K = B + 1
        models = [tile_model(Reader(u.payload), TileModel(), _sps(data)) for u in iter_units(data)
                  if u.unit_type == UnitType.TILE_MODEL]
        if (quant == "minmax") == (sign < 0):
            assert any(len(w) > top_token for m in models for w in m.weights if w)


@pytest.mark.parametrize("lane_limit", [0, 1, 3])
def test_read_limit_boundary(lane_limit):
    """Clause 5.8: Limit = 8 * ans_bytes + 16 * L + 64. Zero samples coded with token 0 at
    f = 2048 give ans_data of zero bytes only (1 zero bit per sample, lane states 2^16), and a
    stream may end ans_data early when only zero bits follow. With ans_data cut to k bytes the
    unit is rejected (a read past Limit) below some k and accepted from it on: both decoders
    switch at the same k, for tiles of several sizes (so P mod 8 varies)."""
    for width in range(17, 25):
        x = {"z": np.zeros((1, 1, 7, width), np.float32)}
        cfg = EncoderConfig(quant="qp", qp=20, bit_depth=8, hashes=False,
                            lane_limit=lane_limit, wavefront_block_size=5)
        data = _TileEncoder(cfg, weights=[32, 32]).encode(x)
        sps = _sps(data)
        unit = next(u for u in iter_units(data) if u.unit_type == UnitType.DATA_UNIT)
        ans = data_unit(Reader(unit.payload), DataUnit(), sps, unit.payload).ans_data
        assert not any(ans)
        full = ref_outcome(data)
        assert full != "reject"

        def ref_accepts(k: int, data=data, sps=sps, unit=unit) -> bool:
            return ref_outcome(_with_ans(data, unit, sps, bytes(k))) != "reject"

        lo, hi = 0, len(ans)  # ref_accepts(lo) is False, ref_accepts(hi) is True
        assert not ref_accepts(lo) and ref_accepts(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ref_accepts(mid) else (mid, hi)
        for k in (lo, hi):
            out = assert_agree(_with_ans(data, unit, sps, bytes(k)), what=f"{k} zero bytes")
            assert out == ("reject" if k == lo else full)


# --------------------------------------------------------------------------- inner codec


def _inner_streams() -> dict[str, bytes]:
    from vcmref.conformance.cases import CASES, case_stream

    return {c.name: case_stream(c) for c in CASES if c.external}


@pytest.fixture(scope="module")
def inner_streams() -> dict[str, bytes]:
    return _inner_streams()


@pytest.mark.parametrize("quant", ["minmax", "qp"])
def test_inner_sample_mapping(quant):
    """Clause 5.14's P -> B mapping, written twice (plain decoder and vcmref.refsw), agrees for
    every picture sample of every (P, B) up to 10 bits, and on the spec's formulas by hand."""
    from vcmref.bitstream.parameter_sets import QuantMode
    from vcmref.refsw.inner_pictures import picture_to_sample_values

    for p_depth in range(1, 11):
        for b in range(1, 11):
            sps = StreamParameterSet(sample_bit_depth=b, picture_bit_depth=p_depth,
                                     quant_mode=QuantMode.MINMAX_TENSOR if quant == "minmax"
                                     else QuantMode.UNIFORM_QP)
            pics = np.arange(1 << p_depth)
            ref = picture_to_sample_values(pics, sps).tolist()
            assert [plain_decoder.stream_sample(int(p), sps) for p in pics] == ref, (p_depth, b)
    sps = StreamParameterSet(sample_bit_depth=8, picture_bit_depth=10)
    assert [plain_decoder.stream_sample(p, sps) for p in (0, 1, 2, 5, 1021, 1022, 1023)] == \
        [0, 0, 1, 1, 255, 255, 255]
    sps = StreamParameterSet(sample_bit_depth=10, picture_bit_depth=8,
                             quant_mode=QuantMode.UNIFORM_QP)
    assert [plain_decoder.stream_sample(p, sps) for p in (0, 1, 255)] == [-512, -508, 508]


def test_inner_streams_agree(inner_streams):
    for name, data in inner_streams.items():
        out = assert_agree(data, what=name)
        assert out != "reject" and len(out) >= 1, name
    two_layers = inner_streams["inner_hevc_lossless_layers"]
    out = assert_agree(two_layers, max_layers=1, what="max_layers=1")
    assert [fr[1] for fr in out] == [[0], [0]]


def test_inner_streams_dropped_and_repeated_units(inner_streams):
    """Each unit dropped, and each inner_codec_data unit repeated: same decision and output."""
    for name, data in inner_streams.items():
        chunks = unit_chunks(data)
        for k in range(len(chunks)):
            assert_agree(write_signature() + b"".join(chunks[:k] + chunks[k + 1:]),
                         what=f"{name} without unit {k}")
        for k, u in enumerate(iter_units(data)):
            if u.unit_type == UnitType.INNER_CODEC_DATA:
                assert_agree(write_signature() + b"".join(chunks[:k + 1] + chunks[k:]),
                             what=f"{name} with unit {k} twice")


def test_inner_decoder_is_injectable(inner_streams):
    from vcmref.errors import ToolError, ToolNotFoundError

    data = inner_streams["inner_vvc_frames"]
    calls = []

    def recording(codec, inner_data, width, height, depth):
        calls.append((int(codec), width, height, depth))
        return decode_inner_pictures(codec, inner_data, width, height, depth)

    frames = plain_decoder.decode(data, inner_decoder=recording)
    assert calls == [(1, 10, 14, 10)]  # one unit: both frames' pictures, 10x14, 10 bits
    assert [f.frame_index for f in frames] == [0, 1]

    def as_lists(codec, inner_data, width, height, depth):
        return decode_inner_pictures(codec, inner_data, width, height, depth).tolist()

    assert plain_outcome(data) == ref_outcome(data)
    frames_lists = plain_decoder.decode(data, inner_decoder=as_lists)
    assert [f.samples for f in frames_lists] == [f.samples for f in frames]

    def one_short(codec, inner_data, width, height, depth):
        return decode_inner_pictures(codec, inner_data, width, height, depth)[:1]

    def failing(*args):
        raise ToolError("no such picture")

    def missing(*args):
        raise ToolNotFoundError("no decoder installed")

    def too_small(codec, inner_data, width, height, depth):
        return decode_inner_pictures(codec, inner_data, width, height, depth)[:, :-1]

    def too_deep(codec, inner_data, width, height, depth):
        return decode_inner_pictures(codec, inner_data, width, height, depth) | (1 << depth)

    for bad in (one_short, failing, too_small, too_deep):
        with pytest.raises(BitstreamError):
            plain_decoder.decode(data, inner_decoder=bad)
    with pytest.raises(ToolNotFoundError):
        plain_decoder.decode(data, inner_decoder=missing)
