"""Must-reject streams: the reference decoder rejects every case with the error it names."""

from __future__ import annotations

import pytest

from vcmref.bitstream.syntax import base_name
from vcmref.conformance.reject import RejectCase, reject_cases
from vcmref.errors import BitstreamError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import Decoder

CASES = reject_cases()

# Rules the issue asks for, each with the case that covers it.
REQUIRED = [
    "empty", "bad_signature", "truncated_unit_header", "truncated_payload",
    "unit_after_end_of_stream", "missing_end_of_stream", "no_stream_parameter_set",
    "sps_not_first", "second_sps", "forbidden_zero_bit", "unit_type_0",
    "layer_id_over_num_layers", "profile_idc_3", "level_idc_11", "quant_mode_5",
    "num_tensors_over_level", "height_over_level", "width_over_level",
    "tensor_samples_over_level", "tile_wider_than_level", "layer_channels_sum", "empty_layer",
    "ref_layer_idx_not_increasing", "duplicate_tensor_name", "channel_order_repeated",
    "tile_padding_value_over_max", "max_magnitude_class_over_top", "frame_index_repeated",
    "tile_model_frame_index", "token_weights_all_zero", "tile_model_for_uncarried_tensor",
    "data_crc_mismatch", "ans_data_nonzero_tail", "missing_data_unit", "duplicate_data_unit",
    "unit_idx_beyond_tile", "broken_layer_dependency", "hash_mismatch",
    "payload_left_frame_header", "min_above_max", "tensor_min_nan", "quant_step_zero",
    "quant_step_negative", "quant_step_infinite", "dequantized_overflow",
    # inner codec (entropy_coder_idc 1): clauses 4.3, 4.6a, 5.2 rule 8, 5.14
    "entropy_coder_idc_2", "inner_codec_data_in_rans_stream", "tile_model_in_inner_stream",
    "data_unit_in_inner_stream", "inner_codec_idc_0", "inner_codec_idc_3",
    "picture_higher_than_level", "inner_bytes_0", "inner_data_crc_mismatch",
    "pictures_left_at_end", "frame_without_picture", "inner_codec_data_while_pictures_left",
    "inner_data_garbage", "inner_data_of_another_frame", "num_pictures_over_decoded",
    # restoration_model (type 9): clauses 3, 4.9, 5.2 rule 9
    "second_restoration_model", "restoration_model_after_frame_header",
    "restoration_model_in_second_frame", "restoration_model_before_sps",
    "restoration_model_layer_id_1", "restoration_type_0", "restoration_type_2",
    "restoration_model_payload_too_short", "payload_left_restoration_model",
    # temporal_prediction (type 10): clauses 3, 4.10, 5.2 rules 8 and 10, 5.9.1
    "temporal_prediction_in_profile_1", "temporal_prediction_in_first_frame",
    "temporal_prediction_before_frame_header", "temporal_prediction_layer_id_1",
    "second_temporal_prediction", "temporal_prediction_frame_index",
    "payload_left_temporal_prediction", "temporal_prediction_payload_too_short",
    "temporal_prediction_alignment_bit_1", "temporal_prediction_in_inner_stream",
    "predicted_flag_cleared", "temporal_prediction_on_intra_frame",
]


def test_profile_idc_2_is_valid() -> None:
    """profile_idc 2 (main-inter) is a profile since temporal prediction: the old must-reject
    stream profile_idc_2 is gone, profile_idc_3 takes its place, and the profile_idc_3 stream
    with profile_idc 2 decodes (and is the profile 1 stream's output)."""
    names = {c.name for c in CASES}
    assert "profile_idc_2" not in names
    (case,) = [c for c in CASES if c.name == "profile_idc_3"]
    at = 4 + 6  # profile_idc: the first byte of the stream parameter set's payload
    assert case.data[at] == 3
    as_2, as_1 = (case.data[:at] + bytes([p]) + case.data[at + 1:] for p in (2, 1))
    a, b = Decoder().decode(as_2), Decoder().decode(as_1)
    assert a.sps.profile_idc == 2 and b.sps.profile_idc == 1
    assert [f.samples.keys() for f in a.frames] == [f.samples.keys() for f in b.frames]
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert all((fa.samples[k] == fb.samples[k]).all() for k in fa.samples)


def _check(case: RejectCase) -> None:
    with pytest.raises(BitstreamError) as info:
        Decoder(inner_decoder=decode_inner_pictures).decode(case.data)
    err = info.value
    got = None if err.element is None else base_name(err.element)
    assert got == case.element, f"{case.name}: error names {err.element!r}: {err}"
    assert case.reason in str(err), f"{case.name}: {err}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rejected_with_named_error(case: RejectCase) -> None:
    _check(case)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rejected_numpy_path(case: RejectCase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCMREF_NUMPY_ONLY", "1")
    _check(case)


def test_names_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def test_required_rules_covered() -> None:
    names = {c.name for c in CASES}
    assert not [n for n in REQUIRED if n not in names]


def test_cases_well_formed() -> None:
    for c in CASES:
        assert c.name and c.description and c.reason
        assert isinstance(c.data, bytes)
        assert len(c.data) < 20_000, c.name
        assert c.element is None or c.element == base_name(c.element)


def test_deterministic() -> None:
    again = reject_cases()
    assert [(c.name, c.element, c.reason, c.data) for c in again] == \
        [(c.name, c.element, c.reason, c.data) for c in CASES]


