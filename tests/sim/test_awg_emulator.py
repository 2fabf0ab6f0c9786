"""The AWG5014C emulator answering the real driver over loopback TCP."""

from __future__ import annotations

import dataclasses
import struct
from types import SimpleNamespace

import numpy as np
import pytest
from pyvisa.errors import VisaIOError

from drivers.tektronix_awg5014c import SequenceElement, TektronixAWG5014C
from labctl.errors import DriverError
from sim_instruments.emulators.tektronix_awg5014c import (
    TektronixAWG5014CEmulator,
    encode_words,
)
from sim_instruments.world_state import AwgState
from wire_formats.tektronix_awg5014 import decode_awg_file, encode_waveform


@pytest.fixture
def lab(serve, connect):
    state = AwgState()
    emulator = TektronixAWG5014CEmulator(state)
    served = serve(emulator)
    awg = connect(TektronixAWG5014C, served.resource, timeout=20)
    return SimpleNamespace(state=state, emulator=emulator, served=served, awg=awg)


def random_waveform(rng: np.random.Generator, n: int):
    analog = rng.uniform(-1.0, 1.0, n)
    return analog, rng.random(n) < 0.5, rng.random(n) < 0.5


def refused(awg: TektronixAWG5014C, command: str) -> str:
    """Send a raw command; return the error-queue entries the driver raised with."""
    with pytest.raises(DriverError) as caught:
        awg.write(command)
    return caught.value.reply


def refused_query(awg: TektronixAWG5014C, query: str) -> list[str]:
    """A refused query sends no reply: the read times out; return the queued errors."""
    handle = awg.visa_handle
    timeout = handle.timeout
    handle.timeout = 300
    try:
        with pytest.raises(VisaIOError):
            handle.query(query)
    finally:
        handle.timeout = timeout
    return awg.drain_error_queue()


def upload(awg: TektronixAWG5014C, name: str, n: int = 300, seed: int = 0):
    analog, m1, m2 = random_waveform(np.random.default_rng(seed), n)
    awg.upload_waveform(name, analog, m1, m2)
    return analog, m1, m2


# --- identity and snapshot ---------------------------------------------------


def test_identity_and_full_snapshot_against_defaults(lab):
    assert lab.awg.IDN()["model"] == "AWG5014C"
    snapshot = lab.awg.snapshot(update=True)
    parameters = snapshot["parameters"]
    assert parameters["sample_rate"]["value"] == pytest.approx(1.2e9)
    assert parameters["run_mode"]["value"] == "continuous"
    assert parameters["run_state"]["value"] == "stopped"
    assert parameters["sequence_length"]["value"] == 0
    for number in range(1, 5):
        channel = snapshot["submodules"][f"ch{number}"]["parameters"]
        assert channel["amplitude"]["value"] == pytest.approx(1.0)
        assert channel["offset"]["value"] == pytest.approx(0.0)
        assert channel["output"]["value"] is False
        assert channel["waveform"]["value"] == ""
        assert channel["marker1_high"]["value"] == pytest.approx(1.0)
        assert channel["marker2_low"]["value"] == pytest.approx(0.0)
    assert lab.awg.drain_error_queue() == []


# --- parameters --------------------------------------------------------------


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_channel_levels_reach_the_state(lab, number):
    channel = lab.awg.channel(number)
    channel.amplitude(2.345)
    channel.offset(-1.25)
    channel.marker1_high(2.5)
    channel.marker1_low(-0.75)
    channel.marker2_high(-0.5)
    channel.marker2_low(2.25)
    state = lab.state.channels[number - 1]
    assert state.amplitude_vpp == pytest.approx(2.345)
    assert state.offset_v == pytest.approx(-1.25)
    assert state.marker_high_v == pytest.approx([2.5, -0.5])
    assert state.marker_low_v == pytest.approx([-0.75, 2.25])
    assert channel.amplitude() == pytest.approx(2.345)
    assert channel.offset() == pytest.approx(-1.25)
    assert channel.marker1_high() == pytest.approx(2.5)
    assert channel.marker1_low() == pytest.approx(-0.75)
    assert channel.marker2_high() == pytest.approx(-0.5)
    assert channel.marker2_low() == pytest.approx(2.25)
    others = [c for i, c in enumerate(lab.state.channels) if i != number - 1]
    assert all(c.amplitude_vpp == 1.0 and c.marker_high_v == [1.0, 1.0] for c in others)


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_output_on_off(lab, number):
    channel = lab.awg.channel(number)
    channel.output(True)
    assert lab.state.channels[number - 1].output is True
    assert channel.output() is True
    assert [c.output for c in lab.state.channels].count(True) == 1
    channel.output(False)
    assert lab.state.channels[number - 1].output is False
    assert channel.output() is False


def test_level_limits_are_inclusive(lab):
    channel = lab.awg.ch1
    for value in (0.02, 4.5):
        channel.amplitude(value)
        assert lab.state.channels[0].amplitude_vpp == pytest.approx(value)
    for value in (-2.25, 2.25):
        channel.offset(value)
        assert channel.offset() == pytest.approx(value)


@pytest.mark.parametrize("rate", [10e6, 250e6, 1.2e9])
def test_sample_rate(lab, rate):
    lab.awg.sample_rate(rate)
    assert lab.state.sample_rate == pytest.approx(rate)
    assert lab.awg.sample_rate() == pytest.approx(rate)


def test_sample_rate_is_one_clock_for_every_channel(lab):
    lab.awg.write("SOUR3:FREQ:CW 5.0E8")
    assert lab.state.sample_rate == pytest.approx(5e8)
    assert float(lab.awg.ask("SOUR2:FREQ?")) == pytest.approx(5e8)


@pytest.mark.parametrize("mode", ["continuous", "triggered", "sequence"])
def test_run_mode(lab, mode):
    lab.awg.run_mode(mode)
    assert lab.state.run_mode == mode
    assert lab.awg.run_mode() == mode


def test_enhanced_is_the_sequence_mode_and_gated_is_not_emulated(lab):
    lab.awg.write("AWGC:RMOD ENHanced")
    assert lab.state.run_mode == "sequence"
    assert "-224" in refused(lab.awg, "AWGC:RMOD GAT")
    assert lab.state.run_mode == "sequence"


def test_channel_waveform_assignment(lab):
    upload(lab.awg, "probe")
    lab.awg.ch2.waveform("probe")
    assert lab.state.channels[1].waveform == "probe"
    assert lab.awg.ch2.waveform() == "probe"
    lab.awg.ch3.waveform("*Sine100")
    assert lab.state.channels[2].waveform == "*Sine100"
    assert lab.state.channels[0].waveform == ""


# --- refused values ----------------------------------------------------------


@pytest.mark.parametrize("parameter, value", [
    ("amplitude", 4.51), ("amplitude", 0.0), ("offset", 2.3), ("offset", -3.0),
    ("marker1_high", 2.8), ("marker2_low", -1.1), ("output", "maybe"),
])
def test_driver_validators_refuse_before_the_state_changes(lab, parameter, value):
    before = dataclasses.replace(lab.state.channels[0])
    with pytest.raises(ValueError):
        lab.awg.ch1.parameters[parameter].set(value)
    assert lab.state.channels[0] == before


def test_driver_refuses_bad_sample_rate_mode_and_waveform_name(lab):
    with pytest.raises(ValueError):
        lab.awg.sample_rate(2e9)
    with pytest.raises(ValueError):
        lab.awg.run_mode("gated")
    with pytest.raises(ValueError):
        lab.awg.ch1.waveform("bad name")
    assert (lab.state.sample_rate, lab.state.run_mode) == (1.2e9, "continuous")
    assert lab.state.channels[0].waveform == ""


@pytest.mark.parametrize("command, code", [
    ("SOUR1:VOLT:LEV:IMM:AMPL 4.6000", "-222"),
    ("SOUR2:VOLT:LEV:IMM:AMPL 0.0100", "-222"),
    ("SOUR1:VOLT:LEV:IMM:OFFS 2.5000", "-222"),
    ("SOUR4:MARK1:VOLT:LEV:IMM:HIGH 3.000", "-222"),
    ("SOUR1:MARK2:VOLT:LEV:IMM:LOW -1.500", "-222"),
    ("SOUR1:FREQ:CW 1.3e9", "-222"),
    ("SOUR1:FREQ:CW 1e6", "-222"),
    ("SOUR1:VOLT:LEV:IMM:AMPL lots", "-104"),
    ("SOUR1:VOLT:LEV:IMM:AMPL", "-109"),
    ("OUTP1:STAT 2", "-224"),
    ("SOUR5:VOLT:LEV:IMM:AMPL 1.0", "-114"),
    ("SOUR1:MARK3:VOLT:LEV:IMM:HIGH 1.0", "-114"),
    ("OUTP0:STAT 1", "-114"),
    ("AWGC:RMOD FAST", "-224"),
    ("SEQ:LENG 8001", "-222"),
])
def test_values_the_unit_refuses(lab, command, code):
    before = dataclasses.replace(lab.state, channels=[dataclasses.replace(c)
                                                      for c in lab.state.channels])
    reply = refused(lab.awg, command)
    assert reply.startswith(code)
    assert lab.state.channels == before.channels
    assert (lab.state.sample_rate, lab.state.run_mode, len(lab.state.sequence)) == \
        (before.sample_rate, before.run_mode, 0)


@pytest.mark.parametrize("command", ["AWGC:BOGUS", "SOUR1:VOLT:LEV:IMM:FOO 1", "TRIG:IMMX",
                                     'WLIS:WAV:FOO "a"'])
def test_unknown_commands(lab, command):
    assert refused(lab.awg, command).startswith("-113")


def test_error_queue_is_empty_after_a_refusal(lab):
    refused(lab.awg, "BOGUS")
    assert lab.awg.ask("SYST:ERR:NEXT?").startswith("0,")


# --- the waveform list: binary transfers -------------------------------------


def test_random_waveform_with_both_markers_round_trips_bit_exactly(lab):
    analog, m1, m2 = upload(lab.awg, "probe", n=4096, seed=7)
    sent = encode_waveform(analog, m1, m2)
    stored = lab.state.waveforms["probe"]
    np.testing.assert_allclose(stored.analog, analog, rtol=0, atol=0.5 / 8191 + 1e-12)
    np.testing.assert_array_equal(stored.marker1, m1)
    np.testing.assert_array_equal(stored.marker2, m2)
    assert m1.any() and m2.any() and not m1.all()
    back = lab.awg.read_waveform("probe")
    np.testing.assert_array_equal(encode_waveform(*back), sent)
    assert lab.awg.waveform_length("probe") == 4096


def test_bytes_that_look_like_terminators_and_separators_survive(lab):
    # Codes whose little-endian bytes are '\n', ';', '"', '#', ',' and '\r'.
    tricky = [0x0A0A, 0x3B3B, 0x0A3B, 0x3B0A, 0x2322, 0x2C0D, 0x0D0A, 0x3923, 0x0A00]
    codes = np.array(tricky * 40, dtype=np.uint16)
    assert np.all(codes <= 16382)
    analog = (codes.astype(float) - 8191) / 8191
    m1 = np.arange(codes.size) % 3 == 0
    m2 = np.arange(codes.size) % 2 == 0
    words = encode_waveform(analog, m1, m2)
    payload = words.astype("<u2").tobytes()
    for byte in (b"\n", b";", b'"', b"#", b"\r", b","):
        assert byte in payload
    lab.awg.upload_waveform("tricky", analog, m1, m2)
    np.testing.assert_array_equal(encode_waveform(*lab.awg.read_waveform("tricky")), words)
    np.testing.assert_array_equal(lab.state.waveforms["tricky"].marker2, m2)
    # the connection is still in step afterwards
    assert lab.awg.waveform_length("tricky") == codes.size
    assert lab.awg.drain_error_queue() == []


def test_every_code_and_marker_combination_round_trips(lab):
    codes = np.arange(0, 16383, dtype=np.uint16)
    words = np.concatenate([codes | bits for bits in (0, 0x4000, 0x8000, 0xC000)])
    lab.awg.write('WLIS:WAV:NEW "all",65532,INT')
    lab.awg.write_block('WLIS:WAV:DATA "all",', words, datatype="H")
    back = lab.awg.query_block('WLIS:WAV:DATA? "all"', datatype="H")
    np.testing.assert_array_equal(back, words)


def test_raw_code_16383_is_kept_bit_exactly(lab):
    words = np.full(250, 0xFFFF, dtype=np.uint16)
    lab.awg.write('WLIS:WAV:NEW "top",250,INT')
    lab.awg.write_block('WLIS:WAV:DATA "top",0,250,', words, datatype="H")
    assert lab.state.waveforms["top"].analog[0] == pytest.approx(8192 / 8191)
    np.testing.assert_array_equal(
        lab.awg.query_block('WLIS:WAV:DATA? "top"', datatype="H"), words)


def test_two_million_point_waveform_proves_block_framing(lab):
    n = 2_000_000
    analog, m1, m2 = upload(lab.awg, "long", n=n, seed=11)
    assert lab.state.waveforms["long"].analog.size == n
    back = lab.awg.read_waveform("long")
    np.testing.assert_array_equal(encode_waveform(*back), encode_waveform(analog, m1, m2))
    assert lab.awg.waveform_length("long") == n
    assert lab.awg.drain_error_queue() == []


def test_new_allocates_a_zero_waveform(lab):
    lab.awg.write('WLIS:WAV:NEW "blank",500,INTeger')
    blank = lab.state.waveforms["blank"]
    assert blank.analog.size == 500
    assert not blank.analog.any() and not blank.marker1.any() and not blank.marker2.any()
    words = lab.awg.query_block('WLIS:WAV:DATA? "blank"', datatype="H")
    assert set(words.tolist()) == {8191}
    assert lab.awg.waveform_length("blank") == 500
    assert lab.awg.ask('WLIS:WAV:TYPE? "blank"') == "INT"
    assert lab.awg.ask('WLIS:WAV:PRED? "blank"') == "0"


def test_partial_write_and_read(lab):
    analog, m1, m2 = upload(lab.awg, "w", n=1000, seed=3)
    words = encode_waveform(analog, m1, m2)
    patch = np.full(50, 0xFFFE, dtype=np.uint16)  # +1 with both markers
    lab.awg.write_block('WLIS:WAV:DATA "w",100,50,', patch, datatype="H")
    expected = words.copy()
    expected[100:150] = patch
    stored = lab.state.waveforms["w"]
    assert stored.analog[100:150] == pytest.approx(1.0)
    assert stored.marker1[100:150].all() and stored.marker2[100:150].all()
    np.testing.assert_array_equal(stored.marker1[:100], m1[:100])
    np.testing.assert_array_equal(
        lab.awg.query_block('WLIS:WAV:DATA? "w"', datatype="H"), expected)
    np.testing.assert_array_equal(
        lab.awg.query_block('WLIS:WAV:DATA? "w",90,70', datatype="H"), expected[90:160])
    np.testing.assert_array_equal(
        lab.awg.query_block('WLIS:WAV:DATA? "w",990', datatype="H"), expected[990:])
    # <start> without <size>: as many points as the block holds
    lab.awg.write_block('WLIS:WAV:DATA "w",998,', patch[:2], datatype="H")
    assert lab.state.waveforms["w"].analog[998:] == pytest.approx(1.0)


@pytest.mark.parametrize("command, block_words, code", [
    ('WLIS:WAV:DATA "w",0,10,', 9, "-222"),      # size announced differs from block
    ('WLIS:WAV:DATA "w",995,10,', 10, "-222"),   # beyond the end
    ('WLIS:WAV:DATA "w",1000,', 1, "-222"),      # start beyond the end
    ('WLIS:WAV:DATA "w",', 1001, "-222"),        # block longer than the waveform
    ('WLIS:WAV:DATA "nope",', 10, "-224"),       # unknown waveform
    ('WLIS:WAV:DATA "*Sine100",', 10, "-224"),   # predefined waveforms are read-only
])
def test_bad_block_writes_are_refused_and_change_nothing(lab, command, block_words, code):
    upload(lab.awg, "w", n=1000, seed=5)
    before = lab.state.waveforms["w"]
    reply = refused_block(lab.awg, command, np.full(block_words, 0xFFFE, dtype=np.uint16))
    assert reply.startswith(code)
    assert lab.state.waveforms["w"] is before


def refused_block(awg: TektronixAWG5014C, command: str, words: np.ndarray) -> str:
    with pytest.raises(DriverError) as caught:
        awg.write_block(command, words, datatype="H")
    return caught.value.reply


def test_odd_block_length_is_refused(lab):
    upload(lab.awg, "w", n=300)
    before = lab.state.waveforms["w"]
    with pytest.raises(DriverError) as caught:
        lab.awg.write_block('WLIS:WAV:DATA "w",0,', np.zeros(3, dtype=np.uint8), datatype="B")
    assert caught.value.reply.startswith("-222")
    assert lab.state.waveforms["w"] is before


def test_data_without_a_block_is_a_data_type_error(lab):
    upload(lab.awg, "w", n=300)
    assert refused(lab.awg, 'WLIS:WAV:DATA "w",0,1,8191').startswith("-104")


@pytest.mark.parametrize("command, code", [
    ('WLIS:WAV:NEW "w",300,INT', "-224"),        # exists already
    ('WLIS:WAV:NEW "x",0,INT', "-222"),
    ('WLIS:WAV:NEW "x",16200001,INT', "-222"),
    ('WLIS:WAV:NEW "*x",300,INT', "-224"),       # reserved for predefined waveforms
    ('WLIS:WAV:NEW "x y",300,INT', "-224"),
    ('WLIS:WAV:NEW "x",300,REAL', "-224"),       # not emulated
    ('WLIS:WAV:NEW "x",300,FLOAT', "-224"),
    ('WLIS:WAV:NEW "x",300', "-109"),
])
def test_bad_new_waveforms(lab, command, code):
    upload(lab.awg, "w", n=300)
    names = set(lab.state.waveforms)
    before = lab.state.waveforms["w"]
    assert refused(lab.awg, command).startswith(code)
    assert set(lab.state.waveforms) == names
    assert lab.state.waveforms["w"] is before


def test_upload_over_an_existing_name_is_refused(lab):
    upload(lab.awg, "w", n=300, seed=1)
    stored = lab.state.waveforms["w"]
    with pytest.raises(DriverError, match="-224"):
        upload(lab.awg, "w", n=400, seed=2)
    assert lab.state.waveforms["w"].analog.size == 300
    np.testing.assert_array_equal(lab.state.waveforms["w"].analog, stored.analog)


@pytest.mark.parametrize("query", ['WLIS:WAV:LENG? "nope"', 'WLIS:WAV:DATA? "nope"',
                                   'WLIS:WAV:TYPE? "nope"', 'WLIS:WAV:DATA? "*Sine100"'])
def test_queries_on_unknown_waveforms_send_no_reply(lab, query):
    errors = refused_query(lab.awg, query)
    assert len(errors) == 1 and errors[0].startswith("-224")


def test_query_beyond_the_end_sends_no_reply(lab):
    upload(lab.awg, "w", n=300)
    errors = refused_query(lab.awg, 'WLIS:WAV:DATA? "w",250,100')
    assert errors[0].startswith("-222")


def test_waveform_list_with_predefined_waveforms(lab):
    upload(lab.awg, "mine", n=300)
    size = int(lab.awg.ask("WLIS:SIZE?"))
    names = [lab.awg.ask(f"WLIS:NAME? {i}").strip('"') for i in range(size)]
    assert "mine" in names and "*Sine100" in names
    assert set(names) == set(lab.state.waveforms)
    assert lab.awg.waveform_length("*Sine100") == 100
    assert lab.awg.ask('WLIS:WAV:PRED? "*Sine100"') == "1"
    assert lab.awg.ask('WLIS:WAV:TYPE? "*Sine100"') == "REAL"
    sine = lab.state.waveforms["*Sine100"].analog
    assert sine.max() == pytest.approx(1.0) and sine[25] == pytest.approx(1.0)
    assert refused_query(lab.awg, f"WLIS:NAME? {size}")[0].startswith("-222")


def test_delete_waveform_not_in_use(lab):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "b", n=300)
    lab.awg.delete_waveform("a")
    assert "a" not in lab.state.waveforms and "b" in lab.state.waveforms
    assert refused(lab.awg, 'WLIS:WAV:DEL "a"').startswith("-224")
    assert refused(lab.awg, 'WLIS:WAV:DEL "*Sine100"').startswith("-224")
    assert "*Sine100" in lab.state.waveforms


def test_deleting_a_waveform_in_use_stops_the_awg_and_switches_its_channel_off(lab):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "b", n=300)
    lab.awg.ch1.waveform("a")
    lab.awg.ch2.waveform("b")
    lab.awg.ch1.output(True)
    lab.awg.ch2.output(True)
    lab.awg.run()
    assert lab.awg.run_state() == "running"
    lab.awg.delete_waveform("a")
    assert lab.state.running is False
    assert lab.awg.run_state() == "stopped"
    assert lab.state.channels[0].output is False and lab.state.channels[0].waveform == ""
    assert lab.state.channels[1].output is True and lab.state.channels[1].waveform == "b"
    assert "a" not in lab.state.waveforms


def test_deleting_a_waveform_of_the_sequence_stops_and_switches_that_channel_off(lab):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "b", n=300)
    lab.awg.define_sequence([SequenceElement(("a", "b")), SequenceElement((None, None, "b"))])
    lab.awg.run_mode("sequence")
    for channel in lab.awg.channels:
        channel.output(True)
    lab.awg.run()
    lab.awg.delete_waveform("b")
    assert lab.state.running is False
    assert [c.output for c in lab.state.channels] == [True, False, False, True]
    assert [e.waveforms for e in lab.state.sequence] == [["a", "", "", ""], ["", "", "", ""]]


def test_delete_all_keeps_predefined_waveforms_and_stops(lab):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "b", n=300)
    lab.awg.ch4.waveform("b")
    lab.awg.ch4.output(True)
    lab.awg.run()
    lab.awg.delete_all_waveforms()
    assert all(name.startswith("*") for name in lab.state.waveforms)
    assert "*Sine100" in lab.state.waveforms
    assert lab.state.running is False and lab.state.channels[3].output is False


def test_unknown_channel_waveform_is_refused(lab):
    assert refused(lab.awg, 'SOUR1:WAV "ghost"').startswith("-224")
    assert lab.state.channels[0].waveform == ""
    with pytest.raises(DriverError, match="-224"):
        lab.awg.ch1.waveform("ghost")
    assert lab.state.channels[0].waveform == ""


# --- the sequencer -----------------------------------------------------------


def test_define_and_read_sequence(lab):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "b", n=300)
    upload(lab.awg, "c", n=500)
    elements = [
        SequenceElement(("a", "b"), loop_count=3, wait_for_trigger=True),
        SequenceElement(("c", None, None, "c"), infinite=True, event_jump=1),
        SequenceElement((None, "a"), event_jump="next", goto=1, loop_count=65536),
    ]
    lab.awg.define_sequence(elements)
    assert lab.awg.sequence_length() == 3
    assert lab.awg.read_sequence() == elements
    first, second, third = lab.state.sequence
    assert first.waveforms == ["a", "b", "", ""]
    assert (first.loop_count, first.wait_for_trigger, first.jump_target) == (3, True, "OFF")
    assert (second.infinite, second.jump_target, second.goto_enabled) == (True, "1", False)
    assert (third.jump_target, third.goto_enabled, third.goto_index) == ("NEXT", True, 1)
    assert third.loop_count == 65536


def test_redefining_a_sequence_replaces_it(lab):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "c", n=500)
    lab.awg.define_sequence([SequenceElement(("a", "a"), event_jump=2)] * 2)
    lab.awg.define_sequence([SequenceElement(("c",))])
    assert len(lab.state.sequence) == 1
    assert lab.state.sequence[0].waveforms == ["c", "", "", ""]
    assert lab.awg.read_sequence() == [SequenceElement(("c",))]


def test_sequence_length_resizes_and_clears(lab):
    upload(lab.awg, "a", n=300)
    lab.awg.define_sequence([SequenceElement(("a",), loop_count=k) for k in (1, 2, 3)])
    lab.awg.sequence_length(5)
    assert [e.loop_count for e in lab.state.sequence] == [1, 2, 3, 1, 1]
    assert lab.state.sequence[4].waveforms == ["", "", "", ""]
    lab.awg.sequence_length(2)
    assert [e.loop_count for e in lab.state.sequence] == [1, 2]
    lab.awg.sequence_length(0)
    assert lab.state.sequence == []
    assert lab.awg.sequence_length() == 0
    with pytest.raises(ValueError):
        lab.awg.sequence_length(8001)


def test_jump_index_survives_changes_of_the_jump_type(lab):
    lab.awg.sequence_length(4)
    lab.awg.write("SEQ:ELEM2:JTAR:TYPE IND")
    lab.awg.write("SEQ:ELEM2:JTAR:IND 3")
    assert lab.state.sequence[1].jump_target == "3"
    lab.awg.write("SEQ:ELEM2:JTAR:TYPE OFF")
    assert lab.state.sequence[1].jump_target == "OFF"
    assert lab.awg.ask("SEQ:ELEM2:JTAR:TYPE?") == "OFF"
    assert lab.awg.ask("SEQ:ELEM2:JTAR:IND?") == "3"
    lab.awg.write("SEQ:ELEM2:JTAR:TYPE NEXT")
    lab.awg.write("SEQ:ELEM2:JTAR:TYPE IND")
    assert lab.state.sequence[1].jump_target == "3"
    lab.awg.write("SEQ:ELEM2:JTAR:TYPE OFF")
    lab.awg.write("SEQ:ELEM2:JTAR:IND 4")
    assert lab.state.sequence[1].jump_target == "OFF"
    lab.awg.write("SEQ:ELEM2:JTAR:TYPE INDex")
    assert lab.state.sequence[1].jump_target == "4"
    assert lab.awg.ask("SEQ:ELEM2:JTAR:IND?") == "4"


@pytest.mark.parametrize("command, code", [
    ('SEQ:ELEM3:WAV1 "a"', "-222"),            # beyond the sequence
    ('SEQ:ELEM0:LOOP:COUN 2', "-222"),
    ('SEQ:ELEM1:WAV1 "ghost"', "-224"),
    ('SEQ:ELEM1:WAV2 "c"', "-221"),            # 500 points next to a 300-point waveform
    ('SEQ:ELEM1:WAV5 "a"', "-114"),
    ("SEQ:ELEM1:LOOP:COUN 65537", "-222"),
    ("SEQ:ELEM1:LOOP:COUN 0", "-222"),
    ("SEQ:ELEM1:LOOP:INF 3", "-224"),
    ("SEQ:ELEM1:TWA maybe", "-224"),
    ("SEQ:ELEM1:JTAR:TYPE SOMEWHERE", "-224"),
    ("SEQ:ELEM1:JTAR:IND 3", "-222"),
    ("SEQ:ELEM1:GOTO:IND 3", "-222"),
    ("SEQ:ELEM1:GOTO:IND 0", "-222"),
])
def test_bad_sequence_commands_change_nothing(lab, command, code):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "c", n=500)
    # one compound message (with absolute paths) sets the table up
    lab.awg.write(':SEQ:LENG 2;:SEQ:ELEM1:WAV1 "a";:SEQ:ELEM2:WAV1 "a"')
    assert [e.waveforms[0] for e in lab.state.sequence] == ["a", "a"]
    before = [dataclasses.replace(e, waveforms=list(e.waveforms)) for e in lab.state.sequence]
    assert refused(lab.awg, command).startswith(code)
    assert lab.state.sequence == before


def test_driver_refuses_bad_elements_before_sending(lab):
    upload(lab.awg, "a", n=300)
    with pytest.raises(ValueError):
        lab.awg.define_sequence([SequenceElement(("a",), goto=3)])
    with pytest.raises(ValueError):
        lab.awg.define_sequence([SequenceElement(("a",), loop_count=70000)])
    assert lab.state.sequence == []


def test_element_query_beyond_the_sequence_sends_no_reply(lab):
    lab.awg.sequence_length(1)
    assert refused_query(lab.awg, "SEQ:ELEM2:WAV1?")[0].startswith("-222")


# --- run control -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["continuous", "triggered", "sequence"])
def test_run_with_nothing_assigned_is_a_settings_conflict(lab, mode):
    lab.awg.run_mode(mode)
    with pytest.raises(DriverError, match="-221"):
        lab.awg.run()
    assert lab.state.running is False
    assert lab.awg.run_state() == "stopped"


def test_run_and_stop_continuous(lab):
    upload(lab.awg, "a", n=300)
    lab.awg.ch1.waveform("a")
    lab.awg.run()
    assert lab.state.running is True
    assert lab.awg.run_state() == "running"
    lab.awg.stop()
    assert lab.state.running is False
    assert lab.awg.run_state() == "stopped"


def test_triggered_mode_waits_for_a_trigger(lab):
    upload(lab.awg, "a", n=300)
    lab.awg.ch1.waveform("a")
    lab.awg.run_mode("triggered")
    lab.awg.run()
    assert lab.awg.run_state() == "waiting_for_trigger"


def test_channel_waveforms_of_different_lengths_do_not_run(lab):
    upload(lab.awg, "a", n=300)
    upload(lab.awg, "c", n=500)
    lab.awg.ch1.waveform("a")
    lab.awg.ch2.waveform("c")
    assert refused(lab.awg, "AWGC:RUN").startswith("-221")
    assert lab.state.running is False


@pytest.mark.parametrize("wait, expected", [(True, "waiting_for_trigger"), (False, "running")])
def test_sequence_run_state_follows_the_first_elements_trigger_wait(lab, wait, expected):
    upload(lab.awg, "a", n=300)
    lab.awg.define_sequence([SequenceElement(("a",), wait_for_trigger=wait),
                             SequenceElement(("a",), wait_for_trigger=not wait)])
    lab.awg.run_mode("sequence")
    lab.awg.run()
    assert lab.state.running is True
    assert lab.awg.run_state() == expected


def test_sequence_with_an_empty_element_does_not_run(lab):
    upload(lab.awg, "a", n=300)
    lab.awg.define_sequence([SequenceElement(("a",))])
    lab.awg.sequence_length(2)
    lab.awg.run_mode("sequence")
    with pytest.raises(DriverError, match="-221"):
        lab.awg.run()
    assert lab.state.running is False


def test_clearing_the_playing_sequence_stops(lab):
    upload(lab.awg, "a", n=300)
    lab.awg.define_sequence([SequenceElement(("a",))])
    lab.awg.run_mode("sequence")
    lab.awg.run()
    lab.awg.sequence_length(0)
    assert lab.state.running is False


def test_safe_state_switches_everything_off_and_stops(lab):
    upload(lab.awg, "a", n=300)
    for channel in lab.awg.channels:
        channel.waveform("a")
        channel.output(True)
    lab.awg.run()
    assert lab.state.running is True
    lab.awg.safe_state()
    assert lab.state.running is False
    assert not any(c.output for c in lab.state.channels)
    assert lab.awg.run_state() == "stopped"


def test_reset_restores_settings_and_keeps_the_waveform_list(lab):
    upload(lab.awg, "a", n=300)
    lab.awg.ch2.amplitude(3.0)
    lab.awg.ch2.marker1_high(2.0)
    lab.awg.ch2.output(True)
    lab.awg.ch2.waveform("a")
    lab.awg.sample_rate(1e8)
    lab.awg.define_sequence([SequenceElement(("a",))])
    lab.awg.run_mode("sequence")
    lab.awg.run()
    lab.awg.write("*RST")
    assert lab.state.running is False
    assert (lab.state.sample_rate, lab.state.run_mode, lab.state.sequence) == \
        (1.2e9, "continuous", [])
    channel = lab.state.channels[1]
    assert (channel.amplitude_vpp, channel.output, channel.waveform) == (1.0, False, "")
    assert channel.marker_high_v == [1.0, 1.0]
    assert "a" in lab.state.waveforms



def test_labctls_driver_sets_clock_reference_inputs_and_marker_delay_on_the_emulator(lab):
    awg = lab.awg
    awg.reference_source("external")
    awg.reference_frequency(10e6)
    awg.clock_source("internal")
    awg.trigger_level(0.8)
    awg.trigger_impedance(1000.0)
    awg.event_level(-1.0)
    awg.event_polarity("negative")
    awg.ch3.marker2_delay(0.75e-9)
    assert (awg.reference_source(), awg.reference_frequency(), awg.trigger_level(),
            awg.trigger_impedance(), awg.event_level(), awg.event_polarity()) == (
        "external", 10e6, 0.8, 1000.0, -1.0, "negative")
    assert awg.ch3.marker2_delay() == pytest.approx(0.75e-9)


# --- the .awg setup file and the disk (an independent writer of the record format) ---

def record(name: str, data: bytes) -> bytes:
    """One ``.awg`` record: name size, data size (uint32 LE), name with NUL, data."""
    raw = name.encode("ascii") + b"\x00"
    return struct.pack("<II", len(raw), len(data)) + raw + data


def setup_file(waveforms: dict[str, np.ndarray], elements: list[dict[str, object]],
               head: dict[str, bytes] | None = None, magic: int = 5000) -> bytes:
    out = record("MAGIC", struct.pack("<h", magic)) + record("VERSION", struct.pack("<h", 1))
    for name, data in (head or {}).items():
        out += record(name, data)
    for index, (name, words) in enumerate(waveforms.items(), start=21):
        out += (record(f"WAVEFORM_NAME_{index}", name.encode() + b"\x00")
                + record(f"WAVEFORM_TYPE_{index}", struct.pack("<h", 1))
                + record(f"WAVEFORM_LENGTH_{index}", struct.pack("<i", words.size))
                + record(f"WAVEFORM_DATA_{index}", words.astype("<u2").tobytes()))
    for number, element in enumerate(elements, start=1):
        out += (record(f"SEQUENCE_WAIT_{number}", struct.pack("<h", element["wait"]))
                + record(f"SEQUENCE_LOOP_{number}", struct.pack("<i", element["loop"]))
                + record(f"SEQUENCE_JUMP_{number}", struct.pack("<h", element["jump"]))
                + record(f"SEQUENCE_GOTO_{number}", struct.pack("<h", element["goto"])))
        for channel, name in element["waveforms"].items():  # type: ignore[attr-defined]
            out += record(f"SEQUENCE_WAVEFORM_NAME_CH_{channel}_{number}",
                          name.encode() + b"\x00")
    return out


def store(awg: TektronixAWG5014C, path: str, data: bytes) -> None:
    awg.write_block(f'MMEM:DATA "{path}",', np.frombuffer(data, np.uint8), datatype="B")


@pytest.fixture
def two_element_file() -> tuple[bytes, dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    words = {name: encode_waveform(*random_waveform(rng, 300)) for name in ("a1", "a2", "b1")}
    elements = [{"wait": 1, "loop": 0, "jump": -1, "goto": 0,
                 "waveforms": {1: "a1", 2: "a2"}},
                {"wait": 0, "loop": 5, "jump": 1, "goto": 1, "waveforms": {1: "b1"}}]
    head = {"RUN_MODE": struct.pack("<h", 4), "SAMPLING_RATE": struct.pack("<d", 1e9),
            "REFERENCE_SOURCE": struct.pack("<h", 2), "EVENT_INPUT_THRESHOLD":
            struct.pack("<d", 1.5), "OUTPUT_WAVEFORM_NAME_3": b"b1\x00",
            "ANALOG_AMPLITUDE_2": struct.pack("<d", 0.75), "MARKER1_SKEW_1":
            struct.pack("<d", 0.5e-9), "CHANNEL_STATE_1": struct.pack("<h", 1)}
    return setup_file(words, elements, head), words


def test_a_setup_file_sent_and_restored_is_the_units_waveforms_and_sequence(
        lab, two_element_file):
    data, words = two_element_file
    lab.awg.upload_waveform("old", np.zeros(300))
    store(lab.awg, "run1.awg", data)
    lab.awg.write('AWGC:SRES "run1.awg"')
    state = lab.state
    assert "old" not in state.waveforms
    for name, sent in words.items():
        assert np.array_equal(encode_words(state.waveforms[name]), sent), name
    first, second = state.sequence
    assert (first.waveforms, first.infinite, first.wait_for_trigger, first.jump_target) == (
        ["a1", "a2", "", ""], True, True, "NEXT")
    assert (second.loop_count, second.jump_target, second.goto_enabled,
            second.goto_index) == (5, "1", True, 1)
    assert (state.run_mode, state.sample_rate) == ("sequence", 1e9)
    assert state.channels[2].waveform == "b1" and state.channels[0].output
    assert state.channels[1].amplitude_vpp == 0.75
    assert lab.awg.reference_source() == "external" and lab.awg.event_level() == 1.5
    assert lab.awg.ch1.marker1_delay() == pytest.approx(0.5e-9)
    assert lab.awg.ask("AWGC:SNAM?") == '"\\Users\\OEM\\Documents\\run1.awg","C:"'
    assert lab.awg.read_sequence()[1].loop_count == 5


@pytest.mark.parametrize(("corrupt", "code"), [
    (lambda data: data[:-3], "-200"),                      # truncated record
    (lambda data: setup_file({}, [], magic=4000), "-200"),  # not an AWG5000 file
    (lambda data: setup_file({}, [{"wait": 0, "loop": 1, "jump": 0, "goto": 0,
                                   "waveforms": {1: "nowhere"}}]), "-224"),
])
def test_a_setup_file_the_unit_cannot_load_changes_nothing(lab, two_element_file, corrupt,
                                                         code):
    lab.awg.upload_waveform("kept", np.zeros(300))
    lab.awg.sequence_length(1)
    store(lab.awg, "bad.awg", corrupt(two_element_file[0]))
    assert refused(lab.awg, 'AWGC:SRES "bad.awg"').startswith(code)
    assert "kept" in lab.state.waveforms and len(lab.state.sequence) == 1
    assert lab.awg.ask("AWGC:SNAM?") == '""'


def test_restoring_a_missing_file_is_file_name_not_found(lab):
    assert refused(lab.awg, 'AWGC:SRES "C:\\nothing\\here.awg"').startswith("-256")


def test_the_disk_directories_and_catalog(lab):
    awg = lab.awg
    awg.write('MMEM:MDIR "runs"')
    awg.write('MMEM:CDIR "runs"')
    assert awg.ask("MMEM:CDIR?") == '"\\Users\\OEM\\Documents\\runs"'
    store(awg, "x.awg", b"12345")
    assert awg.ask("MMEM:CAT?").endswith(',"x.awg,,5"')
    awg.write('MMEM:CDIR ".."')
    assert '"runs,DIR,0"' in awg.ask("MMEM:CAT?")
    assert refused(awg, 'MMEM:DEL "runs"').startswith("-200")      # not empty
    assert refused(awg, 'MMEM:MDIR "runs"').startswith("-257")     # exists
    assert refused(awg, 'MMEM:CDIR "nowhere"').startswith("-256")
    awg.write('MMEM:DEL "runs\\x.awg"')
    awg.write('MMEM:DEL "runs"')
    awg.write('MMEM:CDIR "c:\\.."')
    assert awg.ask("MMEM:CDIR?") == '"\\"'


def test_forced_jump_trigger_and_sequencer_type(lab):
    awg = lab.awg
    awg.upload_waveform("w", np.zeros(300))
    awg.define_sequence([SequenceElement(waveforms=("w", None, None, None),
                                         wait_for_trigger=True),
                         SequenceElement(waveforms=("w", None, None, None))])
    awg.run_mode("sequence")
    awg.run()
    assert awg.run_state() == "waiting_for_trigger"
    awg.write("*TRG")
    assert awg.run_state() == "running"
    awg.write("SEQ:JUMP 2")
    assert awg.ask("AWGC:SEQ:POS?") == "2"
    assert refused(awg, "SEQ:JUMP 3").startswith("-222")
    assert awg.ask("AWGC:SEQuence:TYPE?") == "HARD"      # a truncated keyword is accepted
    awg.write("EVEN:JTIM ASYNC")
    assert awg.ask("EVEN:JTIM?") == "ASYN"
    assert refused(awg, "EVEN:JTIM AS").startswith("-224")  # shorter than the short form


def test_software_sequencer_is_reported_for_short_waveforms(lab):
    lab.awg.write('WLIS:WAV:NEW "short",100,INT')
    lab.awg.sequence_length(1)
    lab.awg.write('SEQ:ELEM1:WAV1 "short"')
    assert lab.awg.ask("AWGC:SEQ:TYPE?") == "SOFT"


def test_real_waveforms_of_a_setup_file_decode_and_bad_lengths_are_named():
    points = np.zeros(3, dtype=[("value", "<f4"), ("markers", "u1")])
    points["value"], points["markers"] = [0.5, -0.25, 1.0], [1, 2, 3]
    body = (record("MAGIC", struct.pack("<h", 5000)) + record("WAVEFORM_NAME_21", b"r\x00")
            + record("WAVEFORM_TYPE_21", struct.pack("<h", 2))
            + record("WAVEFORM_DATA_21", points.tobytes()))
    decoded = decode_awg_file(body).waveforms["r"]
    assert decoded.analog.tolist() == [0.5, -0.25, 1.0] and not decoded.integer
    assert decoded.marker1.tolist() == [True, False, True]
    assert decoded.marker2.tolist() == [False, True, True]
    with pytest.raises(ValueError, match="WAVEFORM_LENGTH says 4"):
        decode_awg_file(body + record("WAVEFORM_LENGTH_21", struct.pack("<i", 4)))
