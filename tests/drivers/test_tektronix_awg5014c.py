"""Tektronix AWG5014C driver: its waveform format (pure) and its protocol (pyvisa-sim twin)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from drivers.tektronix_awg5014c import (
    TektronixAWG5014C,
    check_waveform_length,
    check_waveform_name,
)
from labctl.errors import DriverError
from labctl.pulses.program import SequenceElement
from wire_formats.tektronix_awg5014 import CODE_ZERO, decode_waveform, encode_waveform

LSB = 1 / 8191

# --- the waveform format (no instrument) -------------------------------------


@st.composite
def waveforms(draw):
    n = draw(st.integers(1, 400))
    analog = draw(hnp.arrays(np.float64, n, elements=st.floats(-1.0, 1.0)))
    m1 = draw(hnp.arrays(np.bool_, n))
    m2 = draw(hnp.arrays(np.bool_, n))
    return analog, m1, m2


@given(waveforms())
def test_decode_inverts_encode_within_half_an_lsb(waveform):
    analog, m1, m2 = waveform
    words = encode_waveform(analog, m1, m2)
    assert words.dtype == np.uint16
    decoded, d1, d2 = decode_waveform(words)
    np.testing.assert_allclose(decoded, analog, rtol=0, atol=LSB / 2 + 1e-12)
    np.testing.assert_array_equal(d1, m1)
    np.testing.assert_array_equal(d2, m2)


@given(hnp.arrays(np.uint16, st.integers(1, 400), elements=st.integers(0, 0xFFFF)))
def test_encode_inverts_decode_on_every_code_the_dac_uses(words):
    words = words[(words & 0x3FFF) <= 2 * CODE_ZERO]  # 16383 is never produced
    if words.size == 0:
        return
    np.testing.assert_array_equal(encode_waveform(*decode_waveform(words)), words)


def test_code_points_and_marker_bits():
    low = np.zeros(3, dtype=bool)
    np.testing.assert_array_equal(encode_waveform([-1.0, 0.0, 1.0], low, low),
                                  [0, 8191, 16382])
    assert encode_waveform([0.0], [True], [False])[0] == 8191 | 0x4000
    assert encode_waveform([0.0], [False], [True])[0] == 8191 | 0x8000
    # +1 with both markers is 0xFFFE, sent little-endian: FE FF.
    assert encode_waveform([1.0], [1], [1]).astype("<u2").tobytes() == b"\xfe\xff"


def test_markers_accept_zero_one_integers():
    words = encode_waveform(np.zeros(4), np.array([0, 1, 0, 1]), np.array([1, 1, 0, 0]))
    _, m1, m2 = decode_waveform(words)
    assert m1.tolist() == [False, True, False, True]
    assert m2.tolist() == [True, True, False, False]


@pytest.mark.parametrize("analog, marker1, marker2, problem", [
    ([0.0, np.nan, 0.0], [0, 0, 0], [0, 0, 0], "NaN"),
    ([0.0, np.inf, 0.0], [0, 0, 0], [0, 0, 0], "infinite"),
    ([0.0, 1.0001, 0.0], [0, 0, 0], [0, 0, 0], r"\[-1, 1\]"),
    ([-1.5, 0.0, 0.0], [0, 0, 0], [0, 0, 0], r"\[-1, 1\]"),
    ([0.0, 0.0, 0.0], [0, 0], [0, 0, 0], "marker1 has 2 points but analog has 3"),
    ([0.0, 0.0, 0.0], [0, 0, 0], [0, 0, 0, 0], "marker2 has 4 points but analog has 3"),
    ([0.0, 0.0, 0.0], [0, 2, 0], [0, 0, 0], "marker1 must hold booleans"),
    ([[0.0, 0.0]], [0, 0], [0, 0], "one-dimensional"),
    ([], [], [], "empty"),
    ([0j, 1j], [0, 0], [0, 0], "real numbers"),
])
def test_bad_waveforms_are_refused_naming_the_problem(analog, marker1, marker2, problem):
    with pytest.raises(ValueError, match=problem):
        encode_waveform(np.array(analog), np.array(marker1), np.array(marker2))


@pytest.mark.parametrize("words, problem", [
    (np.array([0.5]), "integers"),
    (np.array([70000]), "65535"),
    (np.array([-1]), "65535"),
    (np.zeros((2, 2), dtype=np.uint16), "one-dimensional"),
])
def test_decode_refuses_what_is_not_uint16_words(words, problem):
    with pytest.raises(ValueError, match=problem):
        decode_waveform(words)


@pytest.mark.parametrize("n_points, granularity, problem", [
    (249, 1, "too short: 249 points"),
    (16_200_001, 1, "too long"),
    (257, 4, "multiple of the granularity 4"),
])
def test_waveform_length_rules(n_points, granularity, problem):
    with pytest.raises(ValueError, match=problem):
        check_waveform_length(n_points, 250, 16_200_000, granularity)


@pytest.mark.parametrize("n_points", [250, 251, 16_200_000])
def test_waveform_lengths_the_sequencer_accepts(n_points):
    check_waveform_length(n_points, 250, 16_200_000, 1)


@pytest.mark.parametrize("name, predefined, ok", [
    ("excite_1", False, True), ("gate-2.a", False, True), ("*Sine100", True, True),
    ("*Sine100", False, False), ("", False, False), ('a"b', True, False),
    ("a;b", True, False), ("a b", False, False), ("é", False, False),
])
def test_waveform_names(name, predefined, ok):
    if ok:
        check_waveform_name(name, allow_predefined=predefined)
    else:
        with pytest.raises(ValueError, match="invalid waveform name"):
            check_waveform_name(name, allow_predefined=predefined)


# --- sequence elements (no instrument) ---------------------------------------


def test_sequence_element_drops_trailing_unassigned_channels():
    assert SequenceElement(("a", None, None)) == SequenceElement(("a",))
    assert SequenceElement(["a", None, "b"]).waveforms == ("a", None, "b")


def test_sequence_element_takes_numpy_integers_as_python_ints():
    element = SequenceElement(("a",), loop_count=np.int64(3), event_jump=np.int32(2),
                              goto=np.uint16(1))
    assert (element.loop_count, element.event_jump, element.goto) == (3, 2, 1)
    assert all(type(v) is int for v in (element.loop_count, element.event_jump, element.goto))


def test_sequence_element_is_frozen():
    element = SequenceElement(("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        element.loop_count = 3  # type: ignore[misc]


@pytest.mark.parametrize("kwargs, problem", [
    ({"waveforms": ()}, "at least one waveform"),
    ({"waveforms": (None, None)}, "at least one waveform"),
    ({"waveforms": ("a",), "loop_count": 0}, "loop_count"),
    ({"waveforms": ("a",), "loop_count": True}, "loop_count"),
    ({"waveforms": ("a",), "loop_count": 2.0}, "loop_count"),
    ({"waveforms": ("a",), "event_jump": 0}, "event_jump"),
    ({"waveforms": ("a",), "event_jump": "previous"}, "event_jump"),
    ({"waveforms": ("a",), "goto": 0}, "goto"),
    ({"waveforms": ("a",), "goto": "next"}, "goto"),
])
def test_sequence_element_refuses_nonsense(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        SequenceElement(**kwargs)


def test_define_sequence_refuses_names_this_awg_cannot_hold(open_twin, command_log):
    awg = open_twin(TektronixAWG5014C, "tektronix_awg5014c.yaml")
    sent = command_log(awg)
    with pytest.raises(ValueError, match="invalid waveform name"):
        awg.define_sequence([SequenceElement(waveforms=("bad name",))])
    assert sent == []


# --- the driver against its twin ---------------------------------------------


@pytest.fixture
def awg(open_twin):
    return open_twin(TektronixAWG5014C, "tektronix_awg5014c.yaml")


@pytest.fixture
def sent(awg, monkeypatch):
    """Every message written to the twin from now on (queries included)."""
    messages: list[str] = []
    handle = awg.visa_handle
    write, write_binary = handle.write, handle.write_binary_values

    def record(message, *args, **kwargs):
        messages.append(message)
        return write(message, *args, **kwargs)

    def record_binary(message, values, *args, **kwargs):
        messages.append(f"{message}<{len(values)} values>")
        return write_binary(message, values, *args, **kwargs)

    monkeypatch.setattr(handle, "write", record)
    monkeypatch.setattr(handle, "write_binary_values", record_binary)
    return messages


def test_identifies_as_awg5014c(awg):
    assert awg.IDN()["model"] == "AWG5014C"


def test_has_four_channels_as_instrument_channels(awg):
    assert awg.n_channels == 4
    assert [channel.short_name for channel in awg.channels] == ["ch1", "ch2", "ch3", "ch4"]
    assert awg.channel(3) is awg.ch3
    with pytest.raises(ValueError):
        awg.channel(5)


def test_every_parameter_has_unit_label_and_validator(awg):
    parameters = list(awg.parameters.values())
    for channel in awg.channels:
        parameters += list(channel.parameters.values())
    for parameter in parameters:
        if parameter.name in ("IDN", "timeout"):  # QCoDeS's own
            continue
        assert parameter.label and parameter.label != parameter.name, parameter.name
        if parameter.settable:
            assert parameter.vals is not None, parameter.name
    units = {p.name: p.unit for p in parameters}
    assert units["amplitude"] == units["offset"] == units["marker1_high"] == "V"
    assert units["sample_rate"] == "Hz"


@pytest.mark.parametrize("channel", [1, 2, 3, 4])
@pytest.mark.parametrize("parameter, value", [
    ("amplitude", 0.02), ("amplitude", 1.234), ("amplitude", 4.5),
    ("offset", -2.25), ("offset", 0.125), ("offset", 2.25),
    ("marker1_high", 2.7), ("marker1_low", -1.0),
    ("marker2_high", -0.9), ("marker2_low", 2.6),
])
def test_channel_levels_round_trip(awg, channel, parameter, value):
    awg.channel(channel).parameters[parameter].set(value)
    assert awg.channel(channel).parameters[parameter].get() == pytest.approx(value, abs=1e-4)


def test_channels_are_independent(awg):
    for number in range(1, 5):
        awg.channel(number).amplitude(0.5 * number)
    assert [awg.channel(n).amplitude.get() for n in range(1, 5)] == pytest.approx(
        [0.5, 1.0, 1.5, 2.0])


@pytest.mark.parametrize("channel", [1, 2, 3, 4])
def test_output_on_off(awg, channel):
    awg.channel(channel).output(True)
    assert awg.channel(channel).output.get() is True
    awg.channel(channel).output(False)
    assert awg.channel(channel).output.get() is False


@pytest.mark.parametrize("name", ["excite", "*Sine100"])
def test_channel_waveform_round_trip(awg, name):
    awg.ch2.waveform(name)
    assert awg.ch2.waveform.get() == name


@pytest.mark.parametrize("rate", [10e6, 1.0e9, 1.2e9, 123.4567e6])
def test_sample_rate_round_trip(awg, rate):
    awg.sample_rate(rate)
    assert awg.sample_rate.get() == pytest.approx(rate, rel=1e-7)


@pytest.mark.parametrize("mode", ["continuous", "triggered", "sequence"])
def test_run_mode_round_trip(awg, mode):
    awg.run_mode(mode)
    assert awg.run_mode.get() == mode


@pytest.mark.parametrize("length", [0, 7, 8000])
def test_sequence_length_round_trip(awg, length):
    awg.sequence_length(length)
    assert awg.sequence_length.get() == length


def test_run_state_is_read_only(awg):
    assert not awg.run_state.settable


@pytest.mark.parametrize("target, parameter, value", [
    ("ch1", "amplitude", 0.019), ("ch1", "amplitude", 4.51), ("ch4", "amplitude", -1.0),
    ("ch2", "offset", -2.26), ("ch2", "offset", 2.26),
    ("ch3", "marker1_high", 2.71), ("ch3", "marker1_low", -1.01),
    ("ch3", "marker2_high", -0.91), ("ch3", "marker2_low", 2.61),
    ("ch1", "output", "maybe"), ("ch1", "waveform", 'a"b'), ("ch1", "waveform", ""),
    ("awg", "sample_rate", 9.99e6), ("awg", "sample_rate", 1.21e9),
    ("awg", "run_mode", "burst"), ("awg", "sequence_length", 8001),
    ("awg", "sequence_length", -1),
])
def test_validators_refuse_before_anything_is_sent(awg, sent, target, parameter, value):
    owner = awg if target == "awg" else awg.submodules[target]
    with pytest.raises(ValueError):
        owner.parameters[parameter].set(value)
    assert sent == []


def test_instrument_error_raises_driver_error_with_command_and_reply(awg):
    with pytest.raises(DriverError) as caught:
        awg.write("AWGC:BOGUS")
    assert caught.value.command == "AWGC:BOGUS"
    assert "-113" in caught.value.reply
    assert "\n" not in str(caught.value)


def test_value_the_instrument_refuses_raises_driver_error(awg):
    # Bypasses the validator on purpose: the twin's own limit refuses it.
    with pytest.raises(DriverError) as caught:
        awg.write("SOUR1:VOLT:LEV:IMM:AMPL 9.0000")
    assert caught.value.command == "SOUR1:VOLT:LEV:IMM:AMPL 9.0000"


def test_error_queue_is_empty_after_a_refusal(awg):
    with pytest.raises(DriverError):
        awg.write("BOGUS")
    awg.ch1.output(False)  # would raise if a stale error were still queued


# waveform upload


def _printable_waveform(n_points: int, seed: int, marker1: bool = True):
    """A waveform whose little-endian words are printable ASCII without ';'.

    pyvisa-sim decodes every incoming message as UTF-8 and splits it on ';',
    so a binary block only survives the twin when each byte is printable
    ASCII other than ';'. Both bytes of every word are drawn from that set:
    the high byte (< 0x80) leaves marker 2 low, its bit 6 is marker 1, so the
    waveform still exercises both marker-1 states and a spread of DAC codes
    (with ``marker1=False`` the high byte stays below 0x40: marker 1 low).
    """
    allowed = np.array([b for b in range(0x20, 0x7F) if b != ord(";")], dtype=np.uint16)
    high = allowed if marker1 else allowed[allowed < 0x40]
    rng = np.random.default_rng(seed)
    words = rng.choice(allowed, n_points) | (rng.choice(high, n_points) << 8)
    analog = ((words & 0x3FFF).astype(float) - 8191) / 8191
    return words.astype(np.uint16), analog, (words & 0x4000) != 0, np.zeros(n_points, bool)


def test_waveform_upload_through_the_twin(awg):
    words, analog, m1, m2 = _printable_waveform(250, seed=5014)
    assert m1.any() and not m1.all()
    np.testing.assert_array_equal(encode_waveform(analog, m1, m2), words)

    awg.delete_all_waveforms()
    awg.upload_waveform("probe", analog, m1, m2)

    assert awg.waveform_length("probe") == 250
    block = awg.visa_handle.query('WLIS:WAV:DATA? "probe"')
    assert block == "#3500" + words.astype("<u2").tobytes().decode("ascii")
    read_analog, read_m1, read_m2 = awg.read_waveform("probe")
    np.testing.assert_allclose(read_analog, analog, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(read_m1, m1)
    np.testing.assert_array_equal(read_m2, m2)


def test_upload_sends_new_then_data_block_then_syncs(awg, sent):
    _, analog, m1, m2 = _printable_waveform(300, seed=7)
    awg.upload_waveform("gate", analog, m1, m2)
    commands = [m for m in sent if m != "SYST:ERR:NEXT?"]
    assert commands == ['WLIS:WAV:NEW "gate",300,INT',
                        'WLIS:WAV:DATA "gate",0,300,<300 values>',
                        "*OPC?"]
    assert awg.waveform_length("gate") == 300


def test_markers_default_to_low(awg):
    words, analog, _, _ = _printable_waveform(260, seed=11, marker1=False)
    awg.upload_waveform("excite", analog)
    np.testing.assert_array_equal(awg.query_block('WLIS:WAV:DATA? "excite"', "H"), words)
    _, m1, m2 = awg.read_waveform("excite")
    assert not m1.any() and not m2.any()


@pytest.mark.parametrize("name, analog, marker1, problem", [
    ("probe", np.zeros(249), None, "too short: 249 points"),
    ("probe", np.r_[np.zeros(299), np.nan], None, "NaN"),
    ("probe", np.r_[np.zeros(299), 1.5], None, r"\[-1, 1\]"),
    ("probe", np.zeros(300), np.zeros(299, bool), "marker1 has 299 points"),
    ("bad name", np.zeros(300), None, "invalid waveform name"),
    ("*Sine100", np.zeros(300), None, "invalid waveform name"),
])
def test_bad_uploads_are_refused_before_anything_is_sent(awg, sent, name, analog, marker1,
                                                         problem):
    with pytest.raises(ValueError, match=problem):
        awg.upload_waveform(name, analog, marker1)
    assert sent == []


def test_delete_waveforms(awg, sent):
    awg.delete_waveform("probe")
    awg.delete_all_waveforms()
    assert 'WLIS:WAV:DEL "probe"' in sent
    assert "WLIS:WAV:DEL ALL" in sent


# sequencer


SEQUENCE = [
    SequenceElement(("wait", "wait_aom", "off", "off"), wait_for_trigger=True),
    SequenceElement(("excite", "aom_on", "gate", "off"), loop_count=1000, event_jump=4),
    SequenceElement(("readout", "aom_on", "gate", "tag"), infinite=True, event_jump="next"),
    SequenceElement(("*Sine100", "off", "off", "off"), loop_count=65536, goto=1),
]


def test_sequence_definition_round_trips_through_the_twin(awg):
    awg.define_sequence(SEQUENCE)
    assert awg.sequence_length.get() == 4
    assert awg.read_sequence() == SEQUENCE
    # The wire format as the manual has it (short forms, quoted names):
    assert awg.ask("SEQ:ELEM2:JTAR:TYPE?") == "IND"
    assert awg.ask("SEQ:ELEM2:JTAR:IND?") == "4"
    assert awg.ask("SEQ:ELEM4:GOTO:STAT?") == "1"
    assert awg.ask("SEQ:ELEM1:WAV2?") == '"wait_aom"'


def test_sequence_is_cleared_then_sized_and_unassigned_channels_left_alone(awg, sent):
    awg.define_sequence([SequenceElement(("a", None, "c"), event_jump=2),
                         SequenceElement(("b",))])
    writes = [m for m in sent if not m.endswith("?")]
    assert writes[:2] == ["SEQ:LENG 0", "SEQ:LENG 2"]
    assert 'SEQ:ELEM1:WAV1 "a"' in writes and 'SEQ:ELEM1:WAV3 "c"' in writes
    assert not any(m.startswith("SEQ:ELEM1:WAV2") for m in writes)
    assert writes.index("SEQ:ELEM1:JTAR:TYPE IND") < writes.index("SEQ:ELEM1:JTAR:IND 2")
    assert writes.index("SEQ:ELEM2:GOTO:STAT 0") > writes.index("SEQ:LENG 2")


@pytest.mark.parametrize("elements, problem", [
    ([], "1 .. 8000 elements"),
    ([SequenceElement(("a",))] * 8001, "1 .. 8000 elements"),
    ([SequenceElement(("a", "b", "c", "d", "e"))], "names 5 channels"),
    ([SequenceElement(("a",), loop_count=65537)], "exceeds 65536"),
    ([SequenceElement(("a",), goto=3), SequenceElement(("b",))], "goto target 3"),
    ([SequenceElement(("a",), event_jump=2)], "event_jump target 2"),
    ([("a",)], "not a SequenceElement"),
])
def test_bad_sequences_are_refused_before_anything_is_sent(awg, sent, elements, problem):
    with pytest.raises((ValueError, TypeError), match=problem):
        awg.define_sequence(elements)
    assert sent == []


# run control and safe state


def test_run_and_stop_change_the_run_state(awg):
    awg.stop()
    assert awg.run_state.get() == "stopped"
    awg.run()
    assert awg.run_state.get() == "running"
    awg.stop()
    assert awg.run_state.get() == "stopped"


def test_safe_state_turns_every_output_off_and_stops(awg):
    for channel in awg.channels:
        channel.output(True)
    awg.run()
    assert awg.run_state.get() == "running"
    awg.safe_state()
    assert [channel.output.get() for channel in awg.channels] == [False] * 4
    assert awg.run_state.get() == "stopped"


def test_safe_state_tries_every_step_and_reports_the_first_failure(awg, monkeypatch):
    for channel in awg.channels:
        channel.output(True)
    awg.run()
    handle = awg.visa_handle
    write = handle.write

    def refuse_ch2_off(message, *args, **kwargs):
        # The instrument refuses this one command (queues an error for it).
        return write("BOGUS" if message == "OUTP2:STAT 0" else message, *args, **kwargs)

    monkeypatch.setattr(handle, "write", refuse_ch2_off)
    with pytest.raises(DriverError) as caught:
        awg.safe_state()
    monkeypatch.undo()
    assert caught.value.command == "OUTP2:STAT 0"
    assert [channel.output.get() for channel in awg.channels] == [False, True, False, False]
    assert awg.run_state.get() == "stopped"
    awg.ch2.output(False)


@pytest.mark.parametrize(("parameter", "value"), [
    ("clock_source", "external"), ("reference_source", "external"),
    ("reference_type", "variable"), ("reference_frequency", 100e6),
    ("trigger_level", 1.25), ("trigger_impedance", 1000.0), ("trigger_polarity", "negative"),
    ("trigger_slope", "negative"), ("trigger_source", "external"), ("event_level", -0.5),
    ("event_impedance", 1000.0), ("event_polarity", "negative"),
])
def test_clock_reference_and_input_settings_round_trip(awg, parameter, value):
    awg.parameters[parameter].set(value)
    assert awg.parameters[parameter].get() == value


def test_marker_delay_round_trips_in_seconds(awg):
    awg.ch2.marker1_delay(0.4e-9)
    assert awg.ch2.marker1_delay() == pytest.approx(0.4e-9)


@pytest.mark.parametrize(("parameter", "value"), [
    ("trigger_level", 5.5), ("event_impedance", 75.0), ("reference_frequency", 13e6),
    ("trigger_slope", "rising")])
def test_input_settings_outside_the_manual_ranges_are_refused_before_sending(
        awg, sent, parameter, value):
    with pytest.raises(ValueError):
        awg.parameters[parameter].set(value)
    assert sent == []


def test_marker_delay_beyond_one_nanosecond_is_refused(awg, sent):
    with pytest.raises(ValueError):
        awg.ch1.marker2_delay(1.5e-9)
    assert sent == []
