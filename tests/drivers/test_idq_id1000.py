"""IDQ ID1000 time controller driver against its pyvisa-sim twin, and the time-tag format.

About the canned binary blocks of the twin (HIST<n>:DATA?, RAW:DATA?): pyvisa-sim
answers with the UTF-8 encoding of a YAML string. Code points below U+0080
encode as the identical single byte, so a block survives byte for byte when
every byte is < 0x80; the YAML writes them as double-quoted "\\xNN" escapes.
This allows realistic tags (channels 1..4, whose top byte 0x04..0x13 is a
control character, not printable) as long as no byte is >= 0x80. LF and CR
are avoided too, so no read can stop early on a termination character.
The test below re-encodes the expected tags and compares them with the YAML
text, so the canned block and the format definition cannot drift apart.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from drivers.idq_id1000 import IDQID1000, _int_reply, _keyword_reply
from labctl.errors import DriverError, LabctlError
from wire_formats.idq_id1000 import (
    MAX_CHANNEL,
    MAX_TIMESTAMP_PS,
    decode_timetags,
    encode_timetags,
)

#: The tags canned in the twin's RAW:DATA? reply, in order.
CANNED_CHANNELS = [1, 2, 1, 1, 3, 4, 1, 4]
CANNED_TIMESTAMPS_PS = [1_000_000, 1_052_416, 2_031_616, 3_014_656, 3_080_192,
                        3_500_032, 4_000_000, 2**57 + 0x01234567]
#: The bins canned in the twin's HIST<n>:DATA? reply.
CANNED_HISTOGRAM = [0, 3, 17, 120, 4660, 9, 1, 0]


@pytest.fixture
def tc(open_twin):
    return open_twin(IDQID1000, "idq_id1000.yaml")


@pytest.fixture
def sent(tc, monkeypatch):
    """Every message written to the twin from now on (queries included)."""
    messages: list[str] = []
    original = tc.visa_handle.write

    def spy(message, *args, **kwargs):
        messages.append(message)
        return original(message, *args, **kwargs)

    monkeypatch.setattr(tc.visa_handle, "write", spy)
    return messages


def _parameter(tc, path):
    return functools.reduce(getattr, path.split("."), tc)


def _twin_reply(query):
    text = resources.files("sim_instruments.visa").joinpath("idq_id1000.yaml").read_text()
    device = yaml.load(text, Loader=yaml.BaseLoader)["devices"]["ID1000"]
    dialogues = list(device["dialogues"])
    for channel_group in device["channels"].values():
        dialogues += channel_group.get("dialogues", [])
    return next(d["r"] for d in dialogues if d["q"] == query).encode("utf-8")


# --- structure -----------------------------------------------------------------------

def test_identifies_as_id1000(tc):
    assert tc.IDN()["model"] == "ID1000"


def test_channels_are_channel_lists_sized_by_class_data(tc):
    assert len(tc.inputs) == tc.n_inputs == IDQID1000.default_inputs == 4
    assert [ch.index for ch in tc.inputs] == [1, 2, 3, 4]
    assert tc.inputs[2] is tc.input3
    assert len(tc.window_filters) == IDQID1000.n_window_filters
    assert len(tc.histograms) == IDQID1000.n_histograms


def test_a_station_may_configure_more_inputs(open_twin):
    wide = open_twin(IDQID1000, "idq_id1000.yaml", n_inputs=6)
    assert [ch.index for ch in wide.inputs] == [1, 2, 3, 4, 5, 6]
    assert "DELA6" in wide.link_targets()


@pytest.mark.parametrize("n_inputs", [0, 9, 2.5, True])
def test_impossible_input_counts_are_refused(n_inputs):
    with pytest.raises(ValueError, match="n_inputs"):
        IDQID1000("never", "GPIB::1::INSTR", n_inputs=n_inputs,
                  pyvisa_sim_file="sim_instruments.visa:idq_id1000.yaml")


def test_every_parameter_has_unit_label_and_validator(tc):
    modules = [tc, *tc.inputs, *tc.window_filters, *tc.histograms]
    for module in modules:
        for name, parameter in module.parameters.items():
            if name in ("IDN", "timeout"):  # QCoDeS' own
                continue
            assert parameter.label and parameter.label != name, parameter.full_name
            assert hasattr(parameter, "unit"), parameter.full_name
            assert parameter.vals is not None, parameter.full_name
    assert tc.input1.delay_ps.unit == "ps"
    assert tc.input1.threshold.unit == "V"
    assert tc.hist1.bin_width_ps.unit == "ps"


# --- inputs --------------------------------------------------------------------------

@pytest.mark.parametrize("name, first, second", [
    ("enabled", True, False),
    ("threshold", -0.4, 1.25),
    ("threshold", -2.0, 2.0),
    ("coupling", "DC", "AC"),
    ("edge", "RISING", "FALLING"),
    ("delay_ps", 0, 1_000_000_000),
    ("delay_ps", 52_300, 7),
    ("delay_link", "INPU1", "NONE"),
    ("counter_mode", "ACCUM", "CYCLE"),
    ("counter_integration_ms", 1, 1_000_000),
    ("timetags_enabled", False, True),
    ("timetag_link", "DELA1", "TSCO7"),
])
def test_input_parameters_round_trip_per_channel(tc, name, first, second):
    tc.input1.parameters[name].set(first)
    tc.input3.parameters[name].set(second)
    assert tc.input1.parameters[name].get() == pytest.approx(first)
    assert tc.input3.parameters[name].get() == pytest.approx(second)


def test_threshold_is_sent_in_volts_with_three_decimals(tc, sent):
    tc.input2.threshold(-0.3456)
    assert "INPU2:THRE -0.346V" in sent
    assert tc.input2.threshold() == pytest.approx(-0.346)


def test_counter_is_read_only(tc):
    assert tc.input4.counter() == 25000
    assert not tc.input4.counter.settable


def test_count_rate_divides_counts_by_the_integration_time(tc):
    tc.input2.counter_mode("CYCLE")
    tc.input2.counter_integration_ms(500)
    assert tc.input2.count_rate() == pytest.approx(25000 / 0.5)
    tc.input2.counter_integration_ms(2000)
    assert tc.input2.count_rate() == pytest.approx(25000 / 2.0)


def test_count_rate_refuses_accumulating_counters(tc):
    tc.input1.counter_mode("ACCUM")
    with pytest.raises(LabctlError, match="CYCLE"):
        tc.input1.count_rate()


# --- window filters -------------------------------------------------------------------

@pytest.mark.parametrize("name, first, second", [
    ("window_enabled", True, False),
    ("first_link", "DELA1", "INPU2"),
    ("window_begin_link", "DELA2", "TSCO3"),
    ("window_begin_delay_ps", 100_000, 0),
    ("window_begin_edge", "RISING", "FALLING"),
    ("window_end_link", "DELA3", "NONE"),
    ("window_end_delay_ps", 600_000, 1_000_000_000),
    ("window_end_edge", "FALLING", "RISING"),
    ("inside_operation", "ONLYFIR", "MUTE"),
    ("outside_operation", "MUTE", "ONLYFIR"),
])
def test_window_filter_parameters_round_trip(tc, name, first, second):
    tc.tsco1.parameters[name].set(first)
    tc.tsco8.parameters[name].set(second)
    assert tc.tsco1.parameters[name].get() == first
    assert tc.tsco8.parameters[name].get() == second


def test_window_filter_counter_is_read_only(tc):
    assert tc.tsco5.counter() == 4321
    assert not tc.tsco5.counter.settable


def test_configure_window_keeps_the_first_input_inside_the_window(tc):
    tc.tsco7.window_enabled(False)
    tc.tsco7.configure_window("DELA1", "DELA2", begin_delay_ps=100_000,
                              end_delay_ps=600_000)
    assert tc.tsco7.first_link() == "DELA1"
    assert (tc.tsco7.window_begin_link(), tc.tsco7.window_end_link()) == ("DELA2", "DELA2")
    assert tc.tsco7.window_begin_delay_ps() == 100_000
    assert tc.tsco7.window_end_delay_ps() == 600_000
    assert (tc.tsco7.window_begin_edge(), tc.tsco7.window_end_edge()) == ("RISING", "RISING")
    assert tc.tsco7.inside_operation() == "ONLYFIR"
    assert tc.tsco7.outside_operation() == "MUTE"
    assert tc.tsco7.window_enabled() is True


def test_configure_window_can_veto_instead(tc):
    tc.tsco2.configure_window("DELA1", "DELA3", 0, 2_000, edge="FALLING", keep_inside=False)
    assert tc.tsco2.inside_operation() == "MUTE"
    assert tc.tsco2.outside_operation() == "ONLYFIR"
    assert tc.tsco2.window_end_edge() == "FALLING"


@pytest.mark.parametrize("kwargs", [
    {"begin_delay_ps": 600_000, "end_delay_ps": 100_000},
    {"begin_delay_ps": 100_000, "end_delay_ps": 100_000},
    {"begin_delay_ps": 0, "end_delay_ps": 10, "edge": "BOTH"},
    {"begin_delay_ps": -10, "end_delay_ps": 10},
    {"begin_delay_ps": 0, "end_delay_ps": 10, "first": "GEN1"},
])
def test_configure_window_refuses_before_sending_anything(tc, sent, kwargs):
    arguments = {"first": "DELA1", "trigger": "DELA2", **kwargs}
    with pytest.raises(ValueError):
        tc.tsco4.configure_window(**arguments)
    assert sent == []


# --- histograms -----------------------------------------------------------------------

@pytest.mark.parametrize("name, first, second", [
    ("ref_link", "TSCO5", "DELA1"),
    ("stop_link", "TSCO7", "INPU4"),
    ("min_ps", 0, 250_000),
    ("bin_width_ps", 1, 1_000_000_000),
    ("bin_count", 16384, 1),
])
def test_histogram_parameters_round_trip(tc, name, first, second):
    tc.hist1.parameters[name].set(first)
    tc.hist4.parameters[name].set(second)
    assert tc.hist1.parameters[name].get() == first
    assert tc.hist4.parameters[name].get() == second


def test_histogram_data_is_decoded_from_a_binary_block(tc):
    counts = tc.hist2.data()
    assert counts.dtype == np.uint64
    np.testing.assert_array_equal(counts, CANNED_HISTOGRAM)


def test_histogram_block_in_the_twin_is_the_little_endian_encoding():
    payload = np.array(CANNED_HISTOGRAM, dtype="<u8").tobytes()
    assert _twin_reply("HIST{ch_id}:DATA?") == b"#264" + payload


def test_histogram_flush_is_accepted(tc, sent):
    tc.hist3.flush()
    assert "HIST3:FLUS" in sent


def test_histogram_bin_edges_follow_its_settings(tc):
    tc.hist2.min_ps(1_000)
    tc.hist2.bin_width_ps(50)
    tc.hist2.bin_count(4)
    np.testing.assert_array_equal(tc.hist2.bin_edges_ps(), [1_000, 1_050, 1_100, 1_150])


# --- acquisition and time tags ----------------------------------------------------------

@pytest.mark.parametrize("duration", [1, 3_000_000_000_000, MAX_TIMESTAMP_PS])
def test_record_duration_round_trips_exactly(tc, duration):
    tc.record_duration_ps(duration)
    assert tc.record_duration_ps() == duration


def test_start_stop_and_abort(tc, sent):
    tc.start_acquisition()
    assert tc.is_acquiring() is True
    tc.stop_acquisition()
    assert tc.is_acquiring() is False
    tc.start_acquisition()
    tc.abort()
    assert tc.is_acquiring() is False
    assert [m for m in sent if m.startswith("REC:") and "?" not in m] == [
        "REC:PLAY", "REC:STOP", "REC:PLAY", "REC:STOP"]


def test_fetch_timetags_decodes_the_canned_block(tc):
    channels, timestamps = tc.fetch_timetags()
    assert channels.dtype == np.uint8
    assert timestamps.dtype == np.int64
    np.testing.assert_array_equal(channels, CANNED_CHANNELS)
    np.testing.assert_array_equal(timestamps, CANNED_TIMESTAMPS_PS)


def test_timetag_block_in_the_twin_is_encode_timetags_of_the_canned_tags():
    payload = encode_timetags(CANNED_CHANNELS, CANNED_TIMESTAMPS_PS).tobytes()
    assert _twin_reply("RAW:DATA?") == b"#264" + payload
    assert all(byte < 0x80 and byte not in (0x0A, 0x0D) for byte in payload)


def test_fetch_timetags_refuses_a_channel_the_unit_does_not_have(tc, monkeypatch):
    words = encode_timetags([1, 5], [10, 20])
    monkeypatch.setattr(tc, "query_block", lambda command, datatype: words)
    with pytest.raises(LabctlError, match="channel 5"):
        tc.fetch_timetags()


# --- validators and instrument errors ----------------------------------------------------

@pytest.mark.parametrize("path, value", [
    ("input1.threshold", 2.01), ("input1.threshold", -2.5),
    ("input1.delay_ps", -1), ("input1.delay_ps", 1_000_000_001), ("input1.delay_ps", 1.5),
    ("input1.coupling", "GND"), ("input1.edge", "BOTH"), ("input1.enabled", "maybe"),
    ("input1.counter_mode", "FAST"), ("input1.counter_integration_ms", 0),
    ("input1.delay_link", "DELA1"), ("input1.timetag_link", "INPU9"),
    ("input1.timetags_enabled", 2),
    ("tsco1.window_begin_delay_ps", -5), ("tsco1.window_end_delay_ps", 10**10),
    ("tsco1.first_link", "GEN1"), ("tsco1.inside_operation", "AND"),
    ("tsco1.window_begin_edge", "UP"), ("tsco1.window_enabled", "yes"),
    ("hist1.bin_count", 0), ("hist1.bin_count", 16385), ("hist1.bin_width_ps", 0),
    ("hist1.ref_link", "TSCO9"), ("hist1.min_ps", -1),
    ("record_duration_ps", 0), ("record_duration_ps", MAX_TIMESTAMP_PS + 1),
])
def test_validators_refuse_before_anything_is_sent(tc, sent, path, value):
    with pytest.raises((TypeError, ValueError)):  # QCoDeS' Ints raises TypeError for 1.5
        _parameter(tc, path).set(value)
    assert sent == []


def test_instrument_error_raises_driver_error_with_command_and_reply(tc):
    with pytest.raises(DriverError) as caught:
        tc.write("INPU1:BOGUS 1")
    assert caught.value.command == "INPU1:BOGUS 1"
    assert "-113" in caught.value.reply
    assert "\n" not in str(caught.value)


def test_twin_refuses_out_of_range_values_sent_raw(tc):
    tc.hist1.bin_count(100)
    with pytest.raises(DriverError) as caught:
        tc.write("HIST1:BCOU 20000")
    assert caught.value.command == "HIST1:BCOU 20000"
    assert tc.hist1.bin_count() == 100


def test_error_queue_is_empty_after_a_refusal(tc):
    with pytest.raises(DriverError):
        tc.write("BOGUS")
    tc.input1.enabled(False)  # would raise if a stale error were still queued


def test_reply_parsers_accept_short_forms_and_unit_suffixes():
    assert _keyword_reply(("RISING", "FALLING"))("risi") == "RISING"
    assert _keyword_reply(("ACCUM", "CYCLE"))("CYCL\n") == "CYCLE"
    assert _keyword_reply(("ACCUM", "CYCLE"))("ACCUMULATE") == "ACCUM"
    assert _int_reply("288230376151711743") == MAX_TIMESTAMP_PS
    assert _int_reply(" 1000TB") == 1000
    with pytest.raises(ValueError):
        _keyword_reply(("RISING", "FALLING"))("BOTH")
    with pytest.raises(ValueError):
        _int_reply("ERROR")


# --- the time-tag format (pure) -----------------------------------------------------------

def test_tag_bit_layout_and_byte_order():
    words = encode_timetags([1, MAX_CHANNEL, 2], [0, MAX_TIMESTAMP_PS, 1])
    assert words.dtype == np.dtype("<u8")
    assert [int(w) for w in words] == [1 << 58, 2**64 - 1, (2 << 58) | 1]
    assert words[2:].tobytes() == b"\x01\x00\x00\x00\x00\x00\x00\x08"


def test_random_tags_round_trip_including_the_extremes():
    rng = np.random.default_rng(20181019)
    channels = rng.integers(1, MAX_CHANNEL, size=10_000, endpoint=True)
    timestamps = rng.integers(0, MAX_TIMESTAMP_PS, size=10_000, endpoint=True)
    channels[:3] = [1, MAX_CHANNEL, MAX_CHANNEL]
    timestamps[:3] = [0, MAX_TIMESTAMP_PS, 0]
    decoded_channels, decoded_timestamps = decode_timetags(
        np.frombuffer(encode_timetags(channels, timestamps).tobytes(), dtype="<u8"))
    np.testing.assert_array_equal(decoded_channels, channels)
    np.testing.assert_array_equal(decoded_timestamps, timestamps)
    assert decoded_channels.dtype == np.uint8
    assert decoded_timestamps.dtype == np.int64


@given(st.lists(st.tuples(st.integers(1, MAX_CHANNEL), st.integers(0, MAX_TIMESTAMP_PS)),
                max_size=50))
def test_any_valid_tags_round_trip(tags):
    channels = [c for c, _ in tags]
    timestamps = [t for _, t in tags]
    decoded_channels, decoded_timestamps = decode_timetags(encode_timetags(channels, timestamps))
    assert decoded_channels.tolist() == channels
    assert decoded_timestamps.tolist() == timestamps


def test_empty_tag_arrays_round_trip():
    words = encode_timetags([], [])
    assert words.shape == (0,)
    channels, timestamps = decode_timetags(words)
    assert channels.shape == timestamps.shape == (0,)


@pytest.mark.parametrize("channels, timestamps", [
    ([0], [5]), ([MAX_CHANNEL + 1], [5]), ([-1], [5]),
    ([1], [-1]), ([1], [MAX_TIMESTAMP_PS + 1]),
    ([1, 2], [5]),
])
def test_encode_refuses_out_of_range_values(channels, timestamps):
    with pytest.raises(ValueError):
        encode_timetags(channels, timestamps)


def test_encode_refuses_non_integer_input():
    with pytest.raises(TypeError):
        encode_timetags([1.0], [5])
    with pytest.raises(TypeError):
        encode_timetags([1], [5.5])


@pytest.mark.parametrize("words", [
    np.array([5], dtype=np.uint64),                  # channel 0
    np.array([(1 << 58) | 5, 7], dtype=np.uint64),   # second tag on channel 0
    np.array([-1], dtype=np.int64),
])
def test_decode_refuses_malformed_words(words):
    with pytest.raises(ValueError):
        decode_timetags(words)
