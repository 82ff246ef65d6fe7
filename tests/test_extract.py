"""Sub-bitstream extraction: dropping layers or units gives streams that decode as expected."""

from __future__ import annotations

import numpy as np
import pytest
from streams import silu_like

from vcmref.bitstream.extract import extract
from vcmref.bitstream.inspect import format_text, inspect_stream
from vcmref.bitstream.units import (
    UnitType,
    iter_units,
    unit_chunks,
    write_signature,
    write_unit,
)
from vcmref.errors import BitstreamError
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder import EncoderConfig, encode

N_LAYERS = 3
N_FRAMES = 2






@pytest.fixture(scope="module")
def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(77)
    return {"a": silu_like(rng, (N_FRAMES, 6, 5, 4)), "b": silu_like(rng, (N_FRAMES, 3, 3, 7))}


@pytest.fixture(scope="module")
def stream(tensors) -> bytes:
    return encode(tensors, EncoderConfig(layers=N_LAYERS, rows_per_unit=4, bit_depth=9))


@pytest.fixture(scope="module")
def full(stream):
    return Decoder().decode(stream)


def layer_channel_mask(sps, t: int, layers: range) -> np.ndarray:
    mask = np.zeros(sps.tensors[t].channels, bool)
    for k in layers:
        mask[sps.layer_channels(t, k)] = True
    return mask


def test_extract_without_options_is_identity(stream) -> None:
    assert extract(stream) == stream
    assert extract(stream, drop_units=set()) == stream
    assert extract(stream, max_layers=N_LAYERS) == stream
    assert extract(stream, max_layers=99) == stream


@pytest.mark.parametrize("k", range(1, N_LAYERS))
def test_extract_max_layers(stream, full, k: int) -> None:
    sub = extract(stream, max_layers=k)
    assert len(sub) < len(stream)
    kept = list(iter_units(sub))
    assert all(u.layer_id < k or u.unit_type in (UnitType.STREAM_PARAMETER_SET,
                                                 UnitType.FRAME_HEADER,
                                                 UnitType.END_OF_STREAM) for u in kept)
    # every unit of a kept layer is still there, byte for byte and in order
    want = [c for c, u in zip(unit_chunks(stream), iter_units(stream), strict=True)
            if u.layer_id < k or u.unit_type in (1, 2, 6)]
    assert unit_chunks(sub) == want
    res = Decoder().decode(sub)
    assert len(res.frames) == N_FRAMES
    assert [fr.frame_index for fr in res.frames] == [fr.frame_index for fr in full.frames]
    for fr, ref in zip(res.frames, full.frames, strict=True):
        assert fr.layers == list(range(k))
        assert fr.hashes_checked == k
        for t, ti in enumerate(res.sps.tensors):
            mask = layer_channel_mask(res.sps, t, range(k))
            assert np.array_equal(fr.samples[ti.name][mask], ref.samples[ti.name][mask])
            assert np.array_equal(fr.tensors[ti.name][mask], ref.tensors[ti.name][mask])
            assert not fr.samples[ti.name][~mask].any()
            assert not fr.tensors[ti.name][~mask].any()
    # same output as decoding the whole stream with max_layers
    direct = Decoder(max_layers=k).decode(stream)
    for a, b in zip(res.frames, direct.frames, strict=True):
        assert a.layers == b.layers
        for name in a.samples:
            assert np.array_equal(a.samples[name], b.samples[name])
            assert np.array_equal(a.tensors[name], b.tensors[name])


def test_extract_is_idempotent_and_monotonic(stream) -> None:
    sizes = []
    for k in range(1, N_LAYERS + 1):
        sub = extract(stream, max_layers=k)
        assert extract(sub, max_layers=k) == sub
        assert extract(stream, max_layers=k + 1).startswith(sub[:8])
        sizes.append(len(sub))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    # nested extraction equals direct extraction
    assert extract(extract(stream, max_layers=2), max_layers=1) == extract(stream, max_layers=1)


def test_drop_reserved_unit_restores_original(stream) -> None:
    c = unit_chunks(stream)
    reserved = write_unit(42, 1, b"extension data")
    with_reserved = write_signature() + b"".join(c[:3] + [reserved] + c[3:])
    res = Decoder().decode(with_reserved)
    assert res.skipped_units == [3]
    assert extract(with_reserved, drop_units={3}) == stream
    # reserved units of dropped layers go with them; those of kept layers stay
    assert extract(with_reserved, max_layers=1) == extract(stream, max_layers=1)
    assert extract(with_reserved, max_layers=2) != extract(stream, max_layers=2)
    assert Decoder().decode(extract(with_reserved, max_layers=2)).skipped_units == [3]


def test_drop_hash_unit(stream, full) -> None:
    hashes = [u.index for u in iter_units(stream) if u.unit_type == UnitType.DATA_HASH]
    assert len(hashes) == N_LAYERS * N_FRAMES
    res = Decoder().decode(extract(stream, drop_units={hashes[0]}))
    assert [fr.hashes_checked for fr in res.frames] == [N_LAYERS - 1, N_LAYERS]
    for name in full.frames[0].samples:
        assert np.array_equal(res.frames[0].samples[name], full.frames[0].samples[name])
    none = Decoder().decode(extract(stream, drop_units=set(hashes)))
    assert all(fr.hashes_checked == 0 for fr in none.frames)


def test_drop_top_layer_of_one_frame(stream, full) -> None:
    units = list(iter_units(stream))
    frame_of, f = [], -1
    for u in units:
        f += u.unit_type == UnitType.FRAME_HEADER
        frame_of.append(f)
    top = {u.index for u in units
           if frame_of[u.index] == 1 and u.layer_id == N_LAYERS - 1
           and u.unit_type in (UnitType.TILE_MODEL, UnitType.DATA_UNIT, UnitType.DATA_HASH)}
    res = Decoder().decode(extract(stream, drop_units=top))
    assert res.frames[0].layers == list(range(N_LAYERS))
    assert res.frames[1].layers == list(range(N_LAYERS - 1))


@pytest.mark.parametrize("bad", [-1, 10**6, "last+1"])
def test_out_of_range_unit_index(stream, bad) -> None:
    n = len(unit_chunks(stream))
    idx = n if bad == "last+1" else bad
    with pytest.raises(BitstreamError) as ei:
        extract(stream, drop_units={0 + 5, idx})
    assert str(idx) in str(ei.value) and str(n) in str(ei.value)
    assert ei.value.unit == "stream"


@pytest.mark.parametrize("unit_type", [UnitType.STREAM_PARAMETER_SET, UnitType.FRAME_HEADER,
                                       UnitType.END_OF_STREAM])
def test_structural_units_cannot_be_dropped(stream, unit_type: int) -> None:
    idx = next(u.index for u in iter_units(stream) if u.unit_type == unit_type)
    with pytest.raises(BitstreamError) as ei:
        extract(stream, drop_units={idx})
    assert str(ei.value) and ei.value.unit is not None and ei.value.unit.startswith(f"#{idx}")


@pytest.mark.parametrize("cut", [0, 3, 7, 9, -1])
def test_extract_of_broken_container_raises(stream, cut: int) -> None:
    with pytest.raises(BitstreamError):
        extract(stream[:cut], max_layers=1)
    with pytest.raises(BitstreamError):
        extract(b"XXXX" + stream[4:])


def test_inspect_lists_every_unit(stream) -> None:
    c = unit_chunks(stream)
    data = write_signature() + b"".join(c[:2] + [write_unit(11, 0, b"\x01\x02")] + c[2:])
    sig, units = inspect_stream(data)
    assert [e.name for e in sig] == ["stream_signature"]
    assert [u.index for u in units] == list(range(len(c) + 1))
    assert [u.unit_type for u in units] == [u.unit_type for u in iter_units(data)]
    assert units[2].type_name == "reserved_11" and "skipped" in units[2].note
    assert units[0].type_name == "stream_parameter_set"
    names = [e.name for e in units[0].payload]
    assert "num_tensors_minus1" in names and "tensor_name[1]" in names
    for u in units:
        offs = [e.bit_offset for e in u.header + u.payload]
        assert offs == sorted(offs)
        assert all(8 * u.byte_offset <= o < 8 * (u.byte_offset + 6 + u.payload_size)
                   for o in offs)
    text = format_text(sig, units)
    assert "stream_signature" in text and "reserved_11" in text
    assert inspect_stream(extract(data, max_layers=1))[1][0].type_name == "stream_parameter_set"
