"""QCoDeS's own AWG5014 and SGS100A drivers through labctl's adapters, on the emulators.

The drivers QCoDeS ships (``qcodes.instrument_drivers``) are independent
clients of the emulators: they load and snapshot against them, and the
adapters (``drivers/qcodes_awg5014.py``, ``drivers/rs_sgs100a.py``) give the
pulse-sequencer and microwave-source capabilities through them.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from qcodes.instrument import VisaInstrument
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from drivers.qcodes_awg5014 import QcodesAWG5014Sequencer, UnplayableProgram, qcodes_samples
from drivers.rs_sgs100a import SGS100AMicrowave
from drivers.tektronix_awg5014c import TektronixAWG5014C, sequencer_limits
from labctl.errors import DriverError, LabctlError
from labctl.instruments import MicrowaveSource, PulseSequencer, SafeState
from labctl.instruments.roles import missing_members
from labctl.pulses.program import (
    ChannelSamples,
    Marker,
    Program,
    RenderedProgram,
    Rotation,
    Segment,
    SequenceElement,
    render_program,
)
from labctl.pulses.wiring import parse_wiring
from labctl.station import read_spec
from sim_instruments.emulators.rs_sgs100a import RohdeSchwarzSGS100AEmulator
from sim_instruments.emulators.scpi import ScpiEmulator
from sim_instruments.emulators.tektronix_awg5014c import (
    TektronixAWG5014CEmulator,
    encode_words,
)
from sim_instruments.tcp_server import InstrumentServer
from sim_instruments.world_state import AwgState, MicrowaveState
from wire_formats.tektronix_awg5014 import encode_waveform

WIRING = parse_wiring({"excitation": {"channel": 1, "marker": 1},
                       "detection_window": {"channel": 1, "marker": 2},
                       "readout": {"channel": 2, "marker": 1}, "mw_i": 1, "mw_q": 2})
_serial = itertools.count()


@dataclass
class Bench:
    """An emulator served on loopback TCP, what it received, and a QCoDeS driver on it."""

    emulator: ScpiEmulator
    server: InstrumentServer
    received: list[bytes] = field(default_factory=list)
    instrument: Any = None

    def fresh(self, cls: type[VisaInstrument], **kwargs: Any) -> Any:
        """Another connection to the same unit (reads what the unit holds, not a cache)."""
        return cls(f"fresh{next(_serial)}", self.server.resource, visalib="@py", **kwargs)


@pytest.fixture
def bench() -> Iterator[Callable[..., Bench]]:
    """``bench(emulator, DriverClass, **kwargs)``; servers and drivers closed afterwards."""
    made: list[tuple[Bench, list[Any]]] = []

    def _bench(emulator: ScpiEmulator, cls: type[VisaInstrument], **kwargs: Any) -> Bench:
        server = InstrumentServer(f"bench{next(_serial)}", emulator, threading.RLock(),
                                  fault=lambda: None)
        served = Bench(emulator, server)
        respond = emulator.respond

        def recording(message: bytes) -> bytes | None:
            served.received.append(message)
            return respond(message)

        emulator.respond = recording  # type: ignore[method-assign]
        server.start()
        served.instrument = cls(f"qcodes{next(_serial)}", server.resource, visalib="@py",
                                **kwargs)
        made.append((served, [served.instrument]))
        return served

    yield _bench
    for served, instruments in made:
        for instrument in instruments:
            instrument.close()
        served.server.stop()


@pytest.fixture
def awg(bench) -> Bench:
    return bench(TektronixAWG5014CEmulator(AwgState()), TektronixAWG5014, terminator="\n",
                 timeout=5)


@pytest.fixture
def mw(bench) -> Bench:
    return bench(RohdeSchwarzSGS100AEmulator(MicrowaveState()), RohdeSchwarzSGS100A, timeout=5)


def program() -> Program:
    """Markers, rotations at odd amplitudes and phases, loops, jumps, a goto, dynamic jumps."""
    return Program(
        segments=(
            Segment("attempt", 5.5e-6,
                    markers=(Marker("excitation", 1e-6, 2e-9),
                             Marker("detection_window", 1.02e-6, 25e-9)),
                    rotations=(Rotation(100e-9, 37e-9, 0.8317, 0.3),)),
            Segment("setting0", 3e-6, markers=(Marker("readout", 1e-6, 1e-6),),
                    rotations=(Rotation(20e-9, 25e-9, -0.61, math.pi / 3),)),
            Segment("setting1", 3e-6, markers=(Marker("readout", 1e-6, 1e-6),))),
        sequence=(("attempt", None, 2, None), ("setting0", 1, None, 1),
                  ("setting1", 3, "next", 1)),
        dynamic_jumps=((0, 2), (1, 3)))


def rendered(sample_rate: float = 1.2e9) -> RenderedProgram:
    return render_program(program(), sample_rate, WIRING)


# --- the adapters provide their capabilities --------------------------------------------


def test_the_adapters_provide_their_roles_capabilities():
    assert missing_members(QcodesAWG5014Sequencer, PulseSequencer) == ()
    assert missing_members(SGS100AMicrowave, MicrowaveSource) == ()
    spec = read_spec("stations/two_node.yaml", "sim-qcodes")
    providers = {s.name: s.capability_class for s in spec.instruments}
    assert providers["node_a_awg"] is providers["node_b_awg"] is QcodesAWG5014Sequencer
    assert providers["node_a_mw"] is providers["node_b_mw"] is SGS100AMicrowave


def test_the_adapters_around_connected_drivers_are_their_capabilities(awg, mw):
    sequencer = QcodesAWG5014Sequencer(awg.instrument)
    microwave = SGS100AMicrowave(mw.instrument)
    assert isinstance(sequencer, PulseSequencer) and isinstance(sequencer, SafeState)
    assert isinstance(microwave, MicrowaveSource) and isinstance(microwave, SafeState)


def test_the_limits_are_labctls_awg5014c_class_data(awg):
    assert QcodesAWG5014Sequencer(awg.instrument).limits() == sequencer_limits(TektronixAWG5014C)


# --- QCoDeS's drivers load and snapshot on the emulators -------------------------------


def test_qcodes_awg5014_loads_and_reads_its_whole_snapshot(awg):
    snapshot = awg.instrument.snapshot(update=True)
    parameters = snapshot["parameters"]
    assert parameters["IDN"]["value"]["model"] == "AWG5014C"
    assert parameters["trigger_impedance"]["value"] == 50.0     # QCoDeS sets it at load
    assert parameters["clock_freq"]["value"] == pytest.approx(1.2e9)
    assert parameters["state"]["value"] == "Idle"
    channel = snapshot["submodules"]["ch3"]
    assert channel["parameters"]["filter"]["value"] == math.inf
    assert channel["parameters"]["amp"]["value"] == pytest.approx(1.0)
    assert channel["submodules"]["m2"]["parameters"]["high"]["value"] == pytest.approx(1.0)
    assert list(awg.emulator.errors) == []       # every command it sent is the unit's


def test_qcodes_awg5014_settings_reach_the_emulator(awg):
    qcodes = awg.instrument
    qcodes.clock_freq(1e9)
    qcodes.ch2.amp(2.345678)
    qcodes.ch2.state(1)
    qcodes.ch4.filter(20e6)
    qcodes.ch4.m1.delay(0.5)                      # ns
    qcodes.event_jump_timing("SYNC")              # the short form of SYNChronous
    assert qcodes.ask("*OPC?") == "1"             # the writes are executed (a socket: no ack)
    state = awg.emulator.state                    # type: ignore[attr-defined]
    assert state.sample_rate == 1e9
    assert state.channels[1].amplitude_vpp == pytest.approx(2.345678)
    assert state.channels[1].output is True
    assert qcodes.ch4.filter() == 20e6 and qcodes.ch4.m1.delay() == pytest.approx(0.5e-9)
    assert qcodes.event_jump_timing() == "SYNC"
    assert list(awg.emulator.errors) == []


def test_qcodes_sgs100a_loads_and_reads_its_whole_snapshot(mw):
    parameters = mw.instrument.snapshot(update=True)["parameters"]
    assert parameters["IDN"]["value"]["model"] == "SGS100A"
    assert parameters["status"]["value"] is False
    assert parameters["operation_mode"]["value"] == "NORM"
    assert list(mw.emulator.errors) == []


# --- the AWG adapter ------------------------------------------------------------------


def test_samples_reach_the_dac_codes_labctl_rounds_to(awg):
    rng = np.random.default_rng(7)
    n = 400
    samples = ChannelSamples(rng.uniform(-1, 1, n), rng.random(n) < 0.5, rng.random(n) < 0.5)
    samples.analog[:4] = (-1.0, 1.0, 0.0, 0.5 / 8191)
    element = SequenceElement(waveforms=("w",))
    QcodesAWG5014Sequencer(awg.instrument).load_sequence(
        RenderedProgram(waveforms={"w": samples}, elements=(element,)))
    stored = awg.emulator.state.waveforms["w"]           # type: ignore[attr-defined]
    expected = encode_waveform(samples.analog, samples.marker1, samples.marker2)
    assert np.array_equal(encode_words(stored), expected)
    analog, marker1, _ = qcodes_samples(samples)
    assert analog.min() >= -1 and analog.max() <= 1 and set(np.unique(marker1)) <= {0, 1}


def test_a_program_loads_as_labctls_own_driver_loads_it(awg, bench):
    own = bench(TektronixAWG5014CEmulator(AwgState()), TektronixAWG5014C, timeout=5)
    for device in (QcodesAWG5014Sequencer(awg.instrument),
                   own.instrument.capability_adapter(own.instrument)):
        device.set_amplitude_vpp(1, 4.5)
        device.set_amplitude_vpp(2, 3.0)
        device.load_sequence(rendered())
    qcodes, labctl = awg.emulator.state, own.emulator.state   # type: ignore[attr-defined]
    assert qcodes.waveforms.keys() == labctl.waveforms.keys()
    for name, waveform in labctl.waveforms.items():
        assert np.array_equal(encode_words(qcodes.waveforms[name]), encode_words(waveform)), name
    assert qcodes.sequence == labctl.sequence
    assert (qcodes.jump_mode, qcodes.jump_table) == ("DJUMP", {0: 2, 1: 3})
    assert (labctl.jump_mode, labctl.jump_table) == ("DJUMP", {0: 2, 1: 3})
    assert qcodes.channels == labctl.channels
    assert qcodes.run_mode == labctl.run_mode == "sequence"
    assert not qcodes.running
    assert list(awg.emulator.errors) == []


def test_a_program_without_dynamic_jumps_selects_event_jumps(awg):
    device = QcodesAWG5014Sequencer(awg.instrument)
    device.load_sequence(rendered())
    plain = render_program(Program(program().segments, program().sequence), 1.2e9, WIRING)
    device.load_sequence(plain)
    assert awg.emulator.state.jump_mode == "EJUMP"          # type: ignore[attr-defined]


def _bad(what: str) -> RenderedProgram:
    good = rendered()
    waveforms = dict(good.waveforms)
    elements = list(good.elements)
    jumps = dict(good.dynamic_jumps)
    if what == "short waveform":
        short = ChannelSamples(np.zeros(100), np.zeros(100, bool), np.zeros(100, bool))
        waveforms = {name: short for name in waveforms}
    elif what == "bad name":
        waveforms["bad name!"] = next(iter(waveforms.values()))
    elif what == "analog beyond full scale":
        name, samples = next(iter(waveforms.items()))
        waveforms[name] = ChannelSamples(samples.analog * 0 + 1.5, samples.marker1,
                                         samples.marker2)
    elif what == "loop count":
        elements[1] = SequenceElement(elements[1].waveforms, loop_count=65537)
    elif what == "jump beyond the sequence":
        elements[0] = SequenceElement(elements[0].waveforms, event_jump=4)
    elif what == "unknown waveform":
        elements[0] = SequenceElement(("nowhere",))
    elif what == "jump pattern":
        jumps[16] = 2
    elif what == "jump target":
        jumps[3] = 9
    return RenderedProgram(waveforms, tuple(elements), jumps)


@pytest.mark.parametrize("what", ["short waveform", "bad name", "analog beyond full scale",
                                  "loop count", "jump beyond the sequence", "unknown waveform",
                                  "jump pattern", "jump target"])
def test_a_program_the_awg_cannot_play_is_refused_before_anything_is_sent(awg, what):
    device = QcodesAWG5014Sequencer(awg.instrument)
    awg.received.clear()
    with pytest.raises(UnplayableProgram) as caught:
        device.load_sequence(_bad(what))
    assert isinstance(caught.value, LabctlError) and "\n" not in str(caught.value)
    assert awg.received == []


def test_a_refusal_of_the_unit_raises_driver_error_naming_the_step(awg):
    device = QcodesAWG5014Sequencer(awg.instrument)
    with pytest.raises(DriverError) as caught:
        device.run()                     # nothing loaded: the unit refuses to run (-221)
    assert caught.value.command == "AWGControl:RUN" and caught.value.reply.startswith("-221")
    waveforms = dict(rendered().waveforms)
    longer = ChannelSamples(np.zeros(300), np.zeros(300, bool), np.zeros(300, bool))
    waveforms["longer"] = longer
    first = rendered().elements[0]
    mixed = SequenceElement((first.waveforms[0], "longer"))    # lengths differ: -221
    with pytest.raises(DriverError) as caught:
        device.load_sequence(RenderedProgram(waveforms, (mixed,)))
    assert caught.value.command.startswith("sequence table")
    assert caught.value.reply.startswith("-221") and "\n" not in str(caught.value)


def test_amplitude_is_refused_by_the_qcodes_validator_before_anything_is_sent(awg):
    device = QcodesAWG5014Sequencer(awg.instrument)
    awg.received.clear()
    with pytest.raises(ValueError, match=r"4\.5"):
        device.set_amplitude_vpp(1, 5.0)
    with pytest.raises(UnplayableProgram):
        device.set_amplitude_vpp(5, 1.0)
    assert awg.received == []


def test_safe_state_switches_every_output_off_and_stops_read_back_fresh(awg):
    device = QcodesAWG5014Sequencer(awg.instrument)
    device.load_sequence(rendered())
    for channel in awg.instrument.channels:
        channel.state(1)
    device.run()
    assert awg.emulator.state.running                     # type: ignore[attr-defined]
    device.safe_state()
    fresh = awg.fresh(TektronixAWG5014, terminator="\n", timeout=5)
    try:
        assert [channel.state() for channel in fresh.channels] == [0, 0, 0, 0]
        assert fresh.get_state() == "Idle"
    finally:
        fresh.close()


def test_safe_state_attempts_every_step_and_reports_the_one_that_failed(awg, monkeypatch):
    device = QcodesAWG5014Sequencer(awg.instrument)
    for channel in awg.instrument.channels:
        channel.state(1)
    stuck = awg.instrument.channels[1].state

    def refuse(value: int) -> None:
        raise DriverError(awg.instrument.name, "OUTPUT2:STATE 0", '-200,"Execution error"')

    monkeypatch.setattr(stuck, "set", refuse)
    with pytest.raises(LabctlError) as caught:
        device.safe_state()
    message = str(caught.value)
    assert "ch2 off" in message and "ch2 reads off" in message and "\n" not in message
    assert "ch1" not in message and "ch3" not in message and "stop" not in message
    outputs = [c.output for c in awg.emulator.state.channels]  # type: ignore[attr-defined]
    assert outputs == [False, True, False, False]


# --- the microwave adapter -----------------------------------------------------------


def test_microwave_settings_reach_the_emulator_through_qcodes_driver(mw):
    microwave = SGS100AMicrowave(mw.instrument)
    microwave.set_frequency_hz(2.878e9)
    microwave.set_power_dbm(10.0)
    microwave.set_iq_modulation(True)
    microwave.set_output(True)
    state = mw.emulator.state                              # type: ignore[attr-defined]
    assert (state.frequency_hz, state.power_dbm) == (2.878e9, 10.0)
    assert state.iq_modulation and state.output
    assert microwave.frequency_hz() == 2.878e9 and microwave.power_dbm() == 10.0
    assert microwave.output() is True


def test_a_bad_microwave_value_is_one_line_and_nothing_is_sent(mw):
    microwave = SGS100AMicrowave(mw.instrument)
    mw.received.clear()
    with pytest.raises(ValueError) as caught:
        microwave.set_frequency_hz(30e9)               # QCoDeS: 1 MHz .. 20 GHz
    assert "\n" not in str(caught.value) and "frequency" in str(caught.value)
    assert mw.received == []


def test_a_refusal_of_the_unit_raises_driver_error(mw):
    microwave = SGS100AMicrowave(mw.instrument)
    microwave.set_frequency_hz(2.878e9)
    with pytest.raises(DriverError) as caught:
        microwave.set_frequency_hz(15e9)              # QCoDeS allows it; the B112 option ends
    assert caught.value.reply.startswith("-222") and "\n" not in str(caught.value)  # at 12.75
    assert mw.emulator.state.frequency_hz == 2.878e9  # type: ignore[attr-defined]


def test_microwave_safe_state_is_rf_off_read_back_fresh(mw):
    microwave = SGS100AMicrowave(mw.instrument)
    microwave.set_output(True)
    microwave.safe_state()
    fresh = mw.fresh(RohdeSchwarzSGS100A, timeout=5)
    try:
        assert fresh.status() is False
    finally:
        fresh.close()
