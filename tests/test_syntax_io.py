"""Bit-level I/O and the syntax directions: descriptors round trip and reject what they must."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcmref.bitstream.bitio import BitReader, BitWriter
from vcmref.bitstream.syntax import Reader, Tracer, Writer, base_name
from vcmref.errors import BitstreamError

# spec 1.4: at most 31 leading zero bits, so ue(v) values up to 2**32 - 2 in both directions
UE_MAX = (1 << 32) - 2
SE_MAX = (1 << 31) - 1  # se(v) 2**31 - 1 maps to ue 2**32 - 3, -(2**31 - 1) to 2**32 - 2
UE_EDGE = (1 << 31) - 1  # the first value that needs 31 leading zeros


def _bits(data: bytes) -> str:
    return "".join(f"{b:08b}" for b in data)


def _written(fn) -> bytes:
    w = Writer(unit="test")
    fn(w)
    w.alignment()
    return w.getvalue()


# --------------------------------------------------------------------------- BitWriter/Reader


@pytest.mark.parametrize("n", range(1, 33))
def test_bitio_edges_every_width(n: int) -> None:
    bw = BitWriter()
    values = [0, (1 << n) - 1, 1, (1 << n) >> 1]
    for v in values:
        bw.write(v, n)
    pad = (-bw.bit_position) % 8
    bw.write(0, pad)
    data = bw.getvalue()
    assert len(data) * 8 == 4 * n + pad
    br = BitReader(data)
    assert [br.read(n) for _ in values] == values
    assert br.bits_left == pad


def test_bitio_msb_first_layout() -> None:
    bw = BitWriter()
    bw.write(0b101, 3)
    bw.write(0b00001, 5)
    bw.write(0xABCD, 16)
    assert bw.getvalue() == bytes([0b10100001, 0xAB, 0xCD])
    br = BitReader(bytes([0b10100001, 0xAB, 0xCD]))
    assert br.read(3) == 0b101
    assert not br.byte_aligned
    assert br.read(5) == 1
    assert br.byte_aligned
    assert br.read_bytes(2) == b"\xab\xcd"
    assert br.read(0) == 0


@given(st.lists(st.integers(1, 32).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, (1 << n) - 1))), max_size=40))
@settings(max_examples=100, deadline=None)
def test_bitio_random_fields_round_trip(fields: list[tuple[int, int]]) -> None:
    bw = BitWriter()
    for n, v in fields:
        bw.write(v, n)
    total = bw.bit_position
    bw.write(0, (-total) % 8)
    br = BitReader(bw.getvalue())
    assert [br.read(n) for n, _ in fields] == [v for _, v in fields]
    assert br.bit_position == total


def test_bitwriter_rejects_value_too_wide_and_unaligned_output() -> None:
    bw = BitWriter()
    with pytest.raises(ValueError):
        bw.write(256, 8)
    with pytest.raises(ValueError):
        bw.write(-1, 8)
    bw.write(1, 3)
    with pytest.raises(ValueError):
        bw.getvalue()
    with pytest.raises(ValueError):
        bw.write_bytes(b"x")


def test_bitreader_past_end_gives_bit_offset() -> None:
    br = BitReader(b"\xff\x00")
    br.read(5)
    with pytest.raises(BitstreamError) as ei:
        br.read(12)
    assert ei.value.bit_offset == 5
    assert "12" in str(ei.value)
    assert br.bit_position == 5  # the failed read consumed nothing


def test_bitreader_window_limits() -> None:
    br = BitReader(b"\x12\x34\x56", bit_offset=8, bit_end=16)
    assert br.bits_left == 8
    assert br.read(8) == 0x34
    with pytest.raises(BitstreamError) as ei:
        br.read(1)
    assert ei.value.bit_offset == 16


def test_bitreader_read_bytes_checks() -> None:
    br = BitReader(b"\x01\x02\x03")
    br.read(1)
    with pytest.raises(BitstreamError) as ei:
        br.read_bytes(1)
    assert ei.value.bit_offset == 1
    br2 = BitReader(b"\x01\x02\x03")
    with pytest.raises(BitstreamError) as ei:
        br2.read_bytes(4)
    assert ei.value.bit_offset == 0


# --------------------------------------------------------------------------- u(n), f(n), flag


@pytest.mark.parametrize("n", range(1, 33))
def test_u_every_width_round_trip(n: int) -> None:
    hi = (1 << n) - 1
    data = _written(lambda w: (w.u(n, "a", 0), w.u(n, "b", hi), w.u(n, "c", hi >> 1)))
    r = Reader(data, unit="test")
    assert r.u(n, "a") == 0
    assert r.u(n, "b") == hi
    assert r.u(n, "c") == hi >> 1


@pytest.mark.parametrize("n", [1, 7, 8, 16, 31, 32])
def test_u_value_too_wide_names_element(n: int) -> None:
    w = Writer(unit="sps")
    with pytest.raises(BitstreamError) as ei:
        w.u(n, "level_idc", 1 << n)
    assert ei.value.element == "level_idc"
    assert ei.value.unit == "sps"
    assert "level_idc" in str(ei.value)
    with pytest.raises(BitstreamError) as ei:
        w.u(n, "level_idc", -1)
    assert ei.value.element == "level_idc"


def test_u_range_checked_when_writing_and_reading() -> None:
    w = Writer(unit="u")
    w.u(4, "x", 3)
    with pytest.raises(BitstreamError) as ei:
        w.u(8, "profile_idc", 5, 1, 4)
    e = ei.value
    assert e.element == "profile_idc" and "5" in str(e) and "[1, 4]" in str(e)
    assert e.bit_offset == 4
    with pytest.raises(BitstreamError):
        w.u(8, "profile_idc", 0, 1, 4)
    r = Reader(b"\x05", unit="u")
    with pytest.raises(BitstreamError) as ei:
        r.u(8, "profile_idc", None, 1, 4)
    assert ei.value.element == "profile_idc" and ei.value.bit_offset == 0


def test_reader_past_end_names_element_and_offset() -> None:
    r = Reader(b"\xab", unit="hdr")
    r.u(3, "a")
    with pytest.raises(BitstreamError) as ei:
        r.u(6, "payload_size")
    e = ei.value
    assert e.element == "payload_size" and e.unit == "hdr" and e.bit_offset == 3
    assert "bit 3" in str(e)


def test_reader_offsets_are_absolute_within_window() -> None:
    r = Reader(b"\x00\xff\x00", unit="w", bit_offset=8, bit_end=16)
    assert r.u(8, "x") == 0xFF
    with pytest.raises(BitstreamError) as ei:
        r.u(1, "y")
    assert ei.value.bit_offset == 16


def test_fixed_pattern_checked() -> None:
    data = _written(lambda w: w.f(32, "stream_signature", 0x56434D31))
    assert data == b"VCM1"
    assert Reader(data).f(32, "stream_signature", 0x56434D31) == 0x56434D31
    with pytest.raises(BitstreamError) as ei:
        Reader(b"VCM2", unit="stream").f(32, "stream_signature", 0x56434D31)
    assert ei.value.element == "stream_signature" and ei.value.bit_offset == 0


def test_flag_and_alignment() -> None:
    data = _written(lambda w: (w.flag("a", True), w.flag("b", 0), w.flag("c", 7)))
    assert data == bytes([0b10100000])
    r = Reader(data)
    assert (r.flag("a"), r.flag("b"), r.flag("c")) == (True, False, True)
    r.alignment()
    assert r.bit_position == 8
    r2 = Reader(bytes([0b10100001]), unit="u")
    r2.u(3, "x")
    with pytest.raises(BitstreamError) as ei:
        r2.alignment()
    assert ei.value.element == "alignment_zero_bit" and ei.value.bit_offset == 7


# --------------------------------------------------------------------------- ue(v), se(v)


def test_ue_known_codes() -> None:
    # 0 -> 1, 1 -> 010, 2 -> 011, 3 -> 00100, then zero alignment bits
    data = _written(lambda w: [w.ue("v", v) for v in (0, 1, 2, 3)])
    assert _bits(data) == "1" + "010" + "011" + "00100" + "0000"


def test_se_known_codes() -> None:
    # se maps 0, 1, -1, 2, -2 to ue 0, 1, 2, 3, 4
    data = _written(lambda w: [w.se("v", v) for v in (0, 1, -1, 2, -2)])
    assert _bits(data).startswith("1" + "010" + "011" + "00100" + "00101")
    r = Reader(data)
    assert [r.se("v") for _ in range(5)] == [0, 1, -1, 2, -2]


@given(st.lists(st.one_of(st.integers(0, UE_MAX),
                          st.sampled_from([0, 1, 2, UE_EDGE - 1, UE_EDGE, UE_MAX - 1, UE_MAX])),
                min_size=1, max_size=20))
@settings(max_examples=150, deadline=None)
def test_ue_round_trip(values: list[int]) -> None:
    w = Writer()
    for v in values:
        start = w.bit_position
        w.ue("v", v)
        assert w.bit_position - start == 2 * (v + 1).bit_length() - 1
    w.alignment()
    r = Reader(w.getvalue())
    assert [r.ue("v") for _ in values] == values


@given(st.lists(st.one_of(st.integers(-SE_MAX, SE_MAX),
                          st.sampled_from([0, -1, 1, 1 << 30, -(1 << 30), SE_MAX, -SE_MAX])),
                min_size=1, max_size=20))
@settings(max_examples=150, deadline=None)
def test_se_round_trip(values: list[int]) -> None:
    w = Writer()
    for v in values:
        w.se("v", v)
    w.alignment()
    r = Reader(w.getvalue())
    assert [r.se("v") for _ in values] == values


def _ue_code(value: int) -> bytes:
    """ue(v) bits of a value built by hand (n zeros, then the n + 1 bits of value + 1)."""
    n = (value + 1).bit_length() - 1
    bits = "0" * n + format(value + 1, "b")
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


@pytest.mark.parametrize("value", [UE_EDGE, 1 << 31, UE_MAX - 1, UE_MAX])
def test_ue_reader_accepts_31_leading_zeros(value: int) -> None:
    assert Reader(_ue_code(value)).ue("v") == value


@pytest.mark.parametrize("value", [UE_EDGE - 1, UE_EDGE, UE_MAX])
def test_ue_writer_covers_the_spec_range(value: int) -> None:
    w = Writer()
    w.ue("v", value)
    w.alignment()
    assert w.getvalue() == _ue_code(value)


@pytest.mark.parametrize("value", [SE_MAX, -SE_MAX, 1 << 30, -(1 << 30)])
def test_se_writer_covers_the_spec_range(value: int) -> None:
    w = Writer()
    w.se("v", value)
    w.alignment()
    assert Reader(w.getvalue()).se("v") == value


@pytest.mark.parametrize("value", [-1, UE_MAX + 1, 1 << 40])
def test_ue_unrepresentable_rejected_on_write(value: int) -> None:
    with pytest.raises(BitstreamError) as ei:
        Writer(unit="u").ue("num_tensors_minus1", value)
    assert ei.value.element == "num_tensors_minus1"
    assert str(value) in str(ei.value)


@pytest.mark.parametrize("value", [SE_MAX + 1, -SE_MAX - 1, 1 << 40, -(1 << 40)])
def test_se_unrepresentable_rejected_on_write(value: int) -> None:
    with pytest.raises(BitstreamError) as ei:
        Writer(unit="u").se("qp_delta", value)
    assert ei.value.element == "qp_delta"


def test_ue_se_range_checks_both_directions() -> None:
    with pytest.raises(BitstreamError) as ei:
        Writer().ue("n", 9, 0, 8)
    assert ei.value.element == "n"
    with pytest.raises(BitstreamError) as ei:
        Writer().se("d", -5, -4, 4)
    assert ei.value.element == "d"
    data = _written(lambda w: (w.ue("n", 9), w.se("d", -5)))
    r = Reader(data)
    with pytest.raises(BitstreamError) as ei:
        r.ue("n", None, 0, 8)
    assert ei.value.element == "n" and ei.value.bit_offset == 0
    r = Reader(data)
    r.ue("n")
    with pytest.raises(BitstreamError) as ei:
        r.se("d", None, -4, 4)
    assert ei.value.element == "d"


def test_ue_32_leading_zeros_rejected() -> None:
    # spec 1.4: a 32nd leading zero bit is an error (2**32 - 1 and above do not parse)
    with pytest.raises(BitstreamError) as ei:
        Reader(_ue_code(UE_MAX + 1), unit="u").ue("frame_index")
    assert ei.value.element == "frame_index" and ei.value.bit_offset == 0


def test_ue_more_than_32_leading_zeros_rejected() -> None:
    # 33 zero bits, then a one and plenty of suffix bits: a reader must stop at the prefix
    data = b"\x00" * 4 + b"\x00\x7f" + b"\xff" * 6
    r = Reader(data, unit="sps", bit_offset=0)
    with pytest.raises(BitstreamError) as ei:
        r.ue("num_layers_minus1")
    e = ei.value
    assert e.element == "num_layers_minus1" and e.unit == "sps" and e.bit_offset == 0
    assert "leading zeros" in str(e)
    # the same with an offset: the error points at the start of the code
    r = Reader(b"\xff" + data, unit="sps")
    r.u(8, "x")
    with pytest.raises(BitstreamError) as ei:
        r.se("qp_delta")
    assert ei.value.bit_offset == 8


def test_ue_all_zero_stream_fails_cleanly() -> None:
    with pytest.raises(BitstreamError) as ei:
        Reader(b"\x00" * 64).ue("v")
    assert ei.value.element == "v"


def test_ue_truncated_code_reports_end() -> None:
    r = Reader(bytes([0b00010000]), unit="u", bit_end=5)  # prefix 000 1 then 3 suffix bits
    with pytest.raises(BitstreamError) as ei:
        r.ue("frame_index")
    assert ei.value.element == "frame_index"
    assert ei.value.bit_offset is not None and ei.value.bit_offset <= 5


# --------------------------------------------------------------------------- st(v)


@pytest.mark.parametrize("text", ["", "a", "dark3", "é", "漢字テンソル", "🎉 feature/split-π",
                                  "x" * 255, "é" * 127])
def test_string_round_trip(text: str) -> None:
    data = _written(lambda w: (w.string("model_id", text), w.u(8, "after", 0xA5)))
    r = Reader(data)
    assert r.string("model_id") == text
    assert r.u(8, "after") == 0xA5


@given(st.text(max_size=40))
@settings(max_examples=100, deadline=None)
def test_string_round_trip_property(text: str) -> None:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        with pytest.raises(BitstreamError):
            Writer().string("s", text)
        return
    data = _written(lambda w: w.string("s", text))
    assert Reader(data).string("s") == text


def test_string_length_limit() -> None:
    with pytest.raises(BitstreamError) as ei:
        Writer(unit="sps").string("model_id", "é" * 128)  # 256 bytes
    assert ei.value.element is not None and ei.value.element.startswith("model_id")
    # a reader refuses a declared length above the maximum before reading the bytes
    data = _written(lambda w: (w.ue("len", 300), [w.u(8, "b", 0x41) for _ in range(300)]))
    with pytest.raises(BitstreamError) as ei:
        Reader(data, unit="sps").string("model_id")
    assert ei.value.element.startswith("model_id")
    assert Reader(data).string("model_id", max_len=300) == "A" * 300


@pytest.mark.parametrize("raw", [b"\xff", b"\xc3\x28", b"\xe2\x82", b"ab\x80", b"\xed\xa0\x80",
                                 b"\xf8\x88\x80\x80\x80"])
def test_string_invalid_utf8_rejected(raw: bytes) -> None:
    data = _written(lambda w: (w.ue("len", len(raw)), [w.u(8, "b", c) for c in raw]))
    with pytest.raises(BitstreamError) as ei:
        Reader(data, unit="sps").string("tensor_name[0]")
    e = ei.value
    assert e.element == "tensor_name[0]" and e.unit == "sps" and e.bit_offset == 0
    assert "UTF-8" in str(e)


def test_string_truncated() -> None:
    data = _written(lambda w: (w.ue("len", 5), w.u(8, "b", 0x41)))
    with pytest.raises(BitstreamError) as ei:
        Reader(data).string("model_id")
    assert ei.value.element == "model_id"


# --------------------------------------------------------------------------- payload bytes, tracer


def test_payload_bytes() -> None:
    w = Writer()
    w.u(8, "x", 1)
    w.payload_bytes("ans_data", b"\x01\x02\x03", 3)
    data = w.getvalue()
    r = Reader(data, unit="du")
    r.u(8, "x")
    assert r.payload_bytes("ans_data", None, 3) == b"\x01\x02\x03"
    r = Reader(data, unit="du")
    r.u(8, "x")
    with pytest.raises(BitstreamError) as ei:
        r.payload_bytes("ans_data", None, 4)
    assert ei.value.element == "ans_data" and ei.value.unit == "du"
    r = Reader(data, unit="du")
    r.u(3, "x")
    with pytest.raises(BitstreamError) as ei:
        r.payload_bytes("ans_data", None, 1)
    assert ei.value.element == "ans_data" and ei.value.bit_offset == 3


def test_tracer_records_elements_with_offsets() -> None:
    data = _written(lambda w: (w.u(4, "a", 9), w.ue("b[0]", 3), w.se("c", -2),
                               w.string("d", "hé")))
    t = Tracer(data, unit="u")
    t.u(4, "a")
    t.ue("b[0]")
    t.se("c")
    t.string("d")
    got = [(e.name, e.descriptor, e.bit_offset, e.bit_length, e.value) for e in t.elements]
    assert got == [("a", "u(4)", 0, 4, 9), ("b[0]", "ue(v)", 4, 5, 3),
                   ("c", "se(v)", 9, 5, -2), ("d", "st(v)", 14, 5 + 24, "hé")]
    assert base_name("channel_order[2][13]") == "channel_order"


def test_error_located_and_formatting() -> None:
    e = BitstreamError("bad thing", element="x", bit_offset=3)
    moved = e.located(unit="#4:data_unit", bit_base=800)
    assert moved.unit == "#4:data_unit" and moved.bit_offset == 803 and moved.element == "x"
    assert str(moved) == "unit #4:data_unit, element x, bit 803: bad thing"
    assert str(BitstreamError("plain")) == "plain"
    # a unit already set is kept
    assert BitstreamError("r", unit="a").located(unit="b").unit == "a"


# --------------------------------------------------------------------------- the lax Writer


def _lax_then_read(fn, read):
    """(violations of a lax write of `fn`, the BitstreamError of reading it back with `read`)."""
    w = Writer(unit="u", lax=True)
    fn(w)
    w.alignment()
    with pytest.raises(BitstreamError) as ei:
        read(Reader(w.getvalue(), unit="u"))
    return w.violations, ei.value


def test_lax_writer_writes_out_of_range_values_the_reader_refuses() -> None:
    for write, read in (
        (lambda w: w.u(8, "profile_idc", 5, 1, 4), lambda r: r.u(8, "profile_idc", None, 1, 4)),
        (lambda w: w.ue("n", 9, 0, 8), lambda r: r.ue("n", None, 0, 8)),
        (lambda w: w.se("d", -5, -4, 4), lambda r: r.se("d", None, -4, 4)),
        (lambda w: w.u_list(2, "c", [0, 3], 2, 0, 2), lambda r: r.u_list(2, "c", None, 2, 0, 2)),
        (lambda w: w.string("model_id", "x" * 256), lambda r: r.string("model_id")),
    ):
        with pytest.raises(BitstreamError) as strict:  # the strict Writer refuses the value
            write(Writer(unit="u"))
        violations, read_error = _lax_then_read(write, read)
        assert [str(v) for v in violations] == [str(strict.value)] == [str(read_error)]
        assert "outside its legal range" in str(read_error)


def test_lax_writer_still_needs_a_value_the_descriptor_can_code() -> None:
    w = Writer(lax=True)
    with pytest.raises(BitstreamError, match="does not fit in u"):
        w.u(3, "x", 8, 0, 4)
    with pytest.raises(BitstreamError, match="does not fit in u"):
        w.u_list(2, "c", [4], 1)
    with pytest.raises(BitstreamError, match="cannot be coded as ue"):
        w.ue("n", -1, 0, 8)
    with pytest.raises(BitstreamError, match="cannot be coded as ue"):
        w.ue("n", UE_MAX + 1, 0, 8)
    assert w.bit_position == 0  # nothing written


def test_lax_writer_writes_invalid_utf8() -> None:
    text = b"\xc0\xaf".decode("utf-8", "surrogateescape")
    with pytest.raises(BitstreamError, match="cannot be written as UTF-8"):
        Writer().string("model_id", text)
    violations, e = _lax_then_read(lambda w: w.string("model_id", text),
                                   lambda r: r.string("model_id"))
    assert [str(v) for v in violations] == [str(e)]
    assert e.element == "model_id" and e.bit_offset == 0 and "not valid UTF-8" in str(e)
    w = Writer(lax=True)
    w.u(5, "before", 0)
    w.string("model_id", text)  # ue(v) 2 (3 bits), then the two bytes
    assert w.getvalue() == b"\x03\xc0\xaf"


def test_require_raises_except_in_a_lax_writer() -> None:
    for direction in (Writer(unit="u"), Reader(b"\x00", unit="u")):
        direction.u(3, "x", 0)
        with pytest.raises(BitstreamError) as ei:
            direction.require(False, "channel 1 listed twice", "channel_order[0][2]")
        e = ei.value
        assert (e.unit, e.element, e.bit_offset, e.reason) == ("u", "channel_order[0][2]", 3,
                                                               "channel 1 listed twice")
        direction.require(True, "unused", "x")
    w = Writer(unit="u", lax=True)
    w.u(3, "x", 0)
    w.require(False, "channel 1 listed twice", "channel_order[0][2]")
    assert [(v.element, v.bit_offset) for v in w.violations] == [("channel_order[0][2]", 3)]


def test_lax_syntax_function_gives_the_readers_error() -> None:
    """A stream parameter set with a cross-element error, written by the same syntax function:
    the lax Writer's first violation is the error the Reader raises, at the same bit."""
    from vcmref.bitstream.parameter_sets import (
        LayerInfo,
        StreamParameterSet,
        TensorInfo,
        TileLayout,
        stream_parameter_set,
    )

    sps = StreamParameterSet(tensors=[TensorInfo("a", 2, 4, 4), TensorInfo("a", 1, 4, 4)],
                             layers=[LayerInfo([2, 1])],
                             tile_layouts=[TileLayout(None, 0, [2]), TileLayout(None, 0, [1])])
    with pytest.raises(BitstreamError) as strict:
        stream_parameter_set(Writer(unit="sps"), sps)
    w = Writer(unit="sps", lax=True)
    stream_parameter_set(w, sps)
    with pytest.raises(BitstreamError) as ei:
        stream_parameter_set(Reader(w.getvalue(), unit="sps"), StreamParameterSet())
    assert str(w.violations[0]) == str(ei.value) == str(strict.value)
    assert ei.value.element == "tensor_name[1]" and "used twice" in ei.value.reason
