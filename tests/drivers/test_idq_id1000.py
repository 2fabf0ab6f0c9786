"""IDQ ID1000 driver against its emulator over real zmq, and the ID1000 wire formats.

The unit's emulator and its DataLink Target stand-in are served on loopback
zmq sockets (`ID1000Servers`, as the virtual lab serves them); the driver
connects with its own transport. Refusals are `DriverError`s naming the
command; bad input is refused before anything is sent.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.idq_id1000 import IDQID1000, _int_reply, _keyword_reply
from labctl.errors import DriverError, LabctlError
from sim_instruments.emulators.idq_datalink import ID1000Servers
from sim_instruments.emulators.idq_id1000 import IDQID1000Emulator
from sim_instruments.world import World, WorldConfig
from sim_instruments.world_state import HeraldingState, TaggerState, WorldState
from wire_formats.idq_id1000 import (
    decode_stream,
    encode_stream,
    format_histogram,
    parse_histogram,
)


def _world(n_inputs: int) -> World:
    state = WorldState(nodes={}, heralding=HeraldingState(tagger=TaggerState(n_inputs=n_inputs)))
    return World(state, WorldConfig.from_mapping({}), {}, {}, None)


@pytest.fixture
def served():
    world = _world(4)
    emulator = IDQID1000Emulator(world.state.heralding.tagger, world)
    servers = ID1000Servers("tc", emulator, threading.RLock(), lambda: None)
    servers.start()
    yield servers, world
    servers.stop()


@pytest.fixture
def tc(served):
    servers, _ = served
    instrument = IDQID1000(f"id1000_{servers.port}", f"tcp://127.0.0.1:{servers.port}",
                           data_link="+1", stream_port_base=0, timeout=2.0)
    yield instrument
    instrument.close()


def test_identifies_and_reads_its_whole_snapshot(tc):
    assert tc.IDN()["model"] == "ID1000"
    snapshot = tc.snapshot(update=True)
    assert snapshot["submodules"]["input1"]["parameters"]["threshold"]["value"] == -0.4
    assert tc.time_bin_ps() == 1


def test_every_parameter_has_unit_label_and_validator(tc):
    missing = []
    for module in [tc, *tc.inputs, *tc.window_filters, *tc.histograms]:
        for name, parameter in module.parameters.items():
            if name == "IDN" or not parameter.settable:
                continue
            if parameter.vals is None:
                missing.append(f"{parameter.full_name}: no validator")
            if not parameter.label:
                missing.append(f"{parameter.full_name}: no label")
    assert not missing, missing


def test_settings_round_trip_through_the_unit_with_suffixed_replies(tc):
    tc.input2.threshold(-0.25)
    tc.input2.delay_ps(12_345)
    tc.input2.counter_mode("CYCLE")
    tc.tsco1.window_end_delay_ps(500)
    assert tc.input2.threshold() == -0.25
    assert tc.ask("DELA2:VALU?") == "12345TB"
    assert tc.input2.delay_ps() == 12_345
    assert tc.input2.counter_mode() == "CYCLE"
    assert tc.tsco1.window_end_delay_ps() == 500


def test_a_refusal_is_a_driver_error_naming_the_command(tc):
    with pytest.raises(DriverError, match="HIST1:BCOU 99999") as caught:
        tc.write("HIST1:BCOU 99999")
    assert "SCPI_ERR_DATA_OUT_OF_RANGE" in caught.value.reply
    with pytest.raises(DriverError, match="SCPI_ERR_UNDEFINED_HEADER"):
        tc.ask("FOO:BAR?")
    assert tc.input1.enabled() is False   # the next call works


def test_bad_values_are_refused_before_anything_is_sent(tc):
    with pytest.raises(ValueError):
        tc.input1.threshold(5.0)
    with pytest.raises(ValueError, match="must come after"):
        tc.tsco1.configure_window("DELA1", "DELA2", begin_delay_ps=10, end_delay_ps=5)


@pytest.mark.parametrize("address", ["127.0.0.1:5555", "tcp://host", "TCPIP0::h::5555::SOCKET"])
def test_an_address_that_is_not_tcp_host_port_is_refused(address):
    with pytest.raises(DriverError, match="tcp://host:port"):
        IDQID1000("bad_address", address)


@pytest.mark.parametrize("n_inputs", [0, 9, True, "4"])
def test_the_number_of_inputs_is_checked(n_inputs):
    with pytest.raises(ValueError, match="n_inputs"):
        IDQID1000("never", "tcp://127.0.0.1:1", n_inputs=n_inputs)


def test_a_record_streams_every_channel_through_the_datalink(tc, served):
    _, world = served
    adapter = IDQID1000.capability_adapter(tc)
    adapter.record_raw_inputs()
    world.state.heralding.tagger.inputs[0].recorded = True
    adapter.start_recording(10_000_000_000)     # 10 ms
    assert adapter.recording()
    world.state.clock.advance(0.011)
    assert not adapter.recording()
    channels, timestamps = adapter.fetch_tags()
    assert channels.dtype == np.uint8 and timestamps.dtype == np.int64
    assert np.all(np.diff(timestamps) >= 0)
    assert set(np.unique(channels)) <= {1, 2, 3, 4}
    assert timestamps.size == 0 or timestamps.max() < 10_000_000_000
    assert tc.input1.timetags_enabled() is False     # transfer off after the fetch
    assert tc.fetch_timetags()[0].size == 0           # nothing recorded since


def test_a_histogram_is_read_from_the_text_list(tc, served):
    _, world = served
    adapter = IDQID1000.capability_adapter(tc)
    adapter.record_raw_inputs()
    adapter.start_histogram(1, 2, bin_width_ps=100, bins=16, duration_ps=1_000_000_000)
    world.state.clock.advance(0.002)
    counts = adapter.histogram()
    assert counts.shape == (16,) and counts.dtype == np.int64


def test_parsers_accept_suffixed_and_short_form_replies():
    assert _int_reply("100TB") == 100
    assert _int_reply("12345678901234567") == 12345678901234567
    assert _keyword_reply(("RISING", "FALLING"))("RISI") == "RISING"
    with pytest.raises(ValueError):
        _int_reply("SCPI_ERR")


@given(st.lists(st.integers(0, (1 << 63) - 1), max_size=200), st.booleans())
def test_stream_frames_round_trip(times, with_ref):
    array = np.asarray(times, dtype=np.uint64)
    refs = np.arange(array.size, dtype=np.uint64) if with_ref else None
    decoded, decoded_refs = decode_stream(encode_stream(array, refs), with_ref)
    np.testing.assert_array_equal(decoded, array)
    if with_ref:
        np.testing.assert_array_equal(decoded_refs, refs)


def test_a_torn_frame_and_negative_timestamps_are_refused():
    with pytest.raises(ValueError, match="whole number"):
        decode_stream(b"\x00" * 12)
    with pytest.raises(ValueError, match="negative"):
        encode_stream(np.array([-1]))


@given(st.lists(st.integers(0, 10**12), max_size=50))
def test_histogram_text_round_trips(counts):
    np.testing.assert_array_equal(parse_histogram(format_histogram(counts)), counts)


@pytest.mark.parametrize("text", ["", "[1, -2]", "[1.5]", "__import__('os')", "{1: 2}"])
def test_a_histogram_reply_that_is_no_list_of_counts_is_refused(text):
    with pytest.raises(ValueError):
        parse_histogram(text)


def test_labctl_error_is_the_base_of_driver_errors():
    assert issubclass(DriverError, LabctlError)
