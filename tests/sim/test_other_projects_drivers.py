"""Other projects' hardware-tested drivers, step by step, on the virtual lab's emulators.

QCoDeS's own ``TektronixAWG5014`` and ``RohdeSchwarzSGS100A`` are connected
to the emulators the virtual lab builds for the ``sim-qcodes`` profile of
``stations/two_node.yaml``, on its world, each over the transport the
virtual lab serves it on (`sim_instruments.virtual_lab.EMULATORS`: the AWG
over VXI-11 as TekVISA serves the unit, the SGS100A over a raw socket), with
pyvisa-py on loopback. The AWG driver keeps QCoDeS's default (no read
terminator: a reply ends at VXI-11's END and keeps its newline, which
``make_send_and_load_awg_file`` turns into a path separator).

Each driver is taken through every step a lab takes with it: each gettable
parameter read, each settable parameter set and read back, and each
instrument function a lab uses (for the AWG the waveform list, the
sequencer, run control, forced triggers and events, the disk and the whole
``.awg`` file path, checked against what the world then plays). A step
passes when the driver gets the unit's reply format, the read-back equals
what was set and the unit's error queue stays empty, or, where the unit
refuses, when the refusal is exactly the expected one (the step names the
code). Each driver must pass at least 95 % of its steps; failures are
printed (``pytest -s`` shows the counts).

QCoDeS quirks the steps take as they are (the emulator answers as the unit
does): a marker delay is set in ns and read back in s; ``event_jump_timing``
is set as ``ASYNC`` and answered ``ASYN``; ``send_waveform_to_list`` first
deletes the name, which a new name makes the unit refuse (-224);
``run_self_tests`` sends ``*TST?`` as a write, so the lab reads the reply.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from labctl import station as station_module
from labctl.visa import parse_error_reply
from sim_instruments.virtual_lab import EMULATORS, EmulatorServer, build_world
from sim_instruments.world import World

STATION = Path(__file__).parents[2] / "stations" / "two_node.yaml"
NODE = "node_a"
PASS_FRACTION = 0.95


@dataclass
class Lab:
    """The world of the station's ``sim-qcodes`` profile and its emulators served on TCP."""

    world: World
    emulators: dict[str, Any]
    drivers: dict[str, str]
    servers: list[EmulatorServer]

    def connect(self, role: str, cls: type, **kwargs: Any) -> Any:
        """QCoDeS's driver on the unit, served over the transport the virtual lab uses."""
        name = f"{NODE}_{role}"
        emulation = EMULATORS[self.drivers[name]]
        server = emulation.server(name, self.emulators[name], self.world.state.lock,
                                  lambda: None, 0)
        server.start()
        self.servers.append(server)
        with contextlib.redirect_stdout(io.StringIO()):   # QCoDeS's connect message
            return cls(f"qcodes_{name}", emulation.address(server.port), visalib="@py",
                       timeout=5, **kwargs)


@pytest.fixture
def lab() -> Iterator[Lab]:
    simulated = station_module.simulated_station(station_module.read_spec(STATION, "sim-qcodes"))
    world = build_world(simulated)
    chosen = [i for i in simulated.instruments if i.name in (f"{NODE}_awg", f"{NODE}_mw")]
    made = Lab(world, {i.name: EMULATORS[i.driver].factory(world, i) for i in chosen},
               {i.name: i.driver for i in chosen}, [])
    yield made
    for server in made.servers:
        server.stop()


@dataclass(frozen=True)
class Step:
    """One thing a lab does with the driver; ``run`` raises when it does not work."""

    name: str
    run: Callable[[], object]


def run_steps(steps: list[Step], errors: Callable[[], list[str]]) -> list[str]:
    """Run every step; a step also fails if it leaves an entry in the unit's error queue."""
    failures = []
    for step in steps:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                step.run()
            left = errors()
            if left:
                raise AssertionError(f"error queue: {left}")
        except Exception as error:  # noqa: BLE001  (a step's failure of any kind is counted)
            failures.append(f"{step.name}: {type(error).__name__}: {error}")
            errors()
    return failures


def report(driver: str, steps: list[Step], failures: list[str]) -> None:
    passed = len(steps) - len(failures)
    print(f"{driver}: {passed}/{len(steps)} steps passed")
    for failure in failures:
        print(f"  FAILED {failure}")
    assert passed >= PASS_FRACTION * len(steps), (driver, failures)


def drain(ask: Callable[[str], str], query: str) -> list[str]:
    """Pop the unit's error queue with ``query`` until it answers no error."""
    entries: list[str] = []
    while True:
        reply = ask(query)
        if parse_error_reply(reply) == 0:
            return entries
        entries.append(reply)


def equal(expected: Any, got: Any, tolerance: float = 0.0) -> None:
    if isinstance(expected, float) and isinstance(got, int | float):
        if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=tolerance):
            raise AssertionError(f"read back {got!r}, set {expected!r}")
    elif (got.strip() if isinstance(got, str) else got) != expected:
        raise AssertionError(f"read back {got!r}, set {expected!r}")


def read(parameter: Any, kind: type | tuple[type, ...]) -> Step:
    def run() -> None:
        value = parameter.get()
        if not isinstance(value, kind):
            raise AssertionError(f"{value!r} is not {kind}")
    return Step(f"get {parameter.full_name}", run)


def setting(parameter: Any, value: Any, expected: Any = None, tolerance: float = 0.0) -> Step:
    def run() -> None:
        parameter.set(value)
        equal(value if expected is None else expected, parameter.get(), tolerance)
    return Step(f"set {parameter.full_name} {value!r}", run)


def refused(name: str, action: Callable[[], object], code: int,
            ask: Callable[[str], str], query: str) -> Step:
    """A step the unit refuses with error ``code`` (the expected outcome)."""
    def run() -> None:
        action()
        entries = drain(ask, query)
        if [parse_error_reply(entry) for entry in entries] != [code]:
            raise AssertionError(f"expected error {code}, the queue held {entries}")
    return Step(f"{name} (refused with {code})", run)


def checked(name: str, action: Callable[[], object], condition: Callable[[], bool],
            sync: Callable[[], object] = lambda: None) -> Step:
    """``action``, then (after ``sync``: the unit has executed it) ``condition`` holds."""
    def run() -> None:
        action()
        sync()
        if not condition():
            raise AssertionError("the unit does not hold what was sent")
    return Step(name, run)


# --- the AWG5014 --------------------------------------------------------------------

def ramp(points: int, phase: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(points) / points
    analog = 0.8 * np.sin(2 * np.pi * (t + phase))
    m1 = (t < 0.1).astype(int)
    m2 = ((t > 0.5) & (t < 0.6)).astype(int)
    return analog, m1, m2


def awg_steps(awg: Any, emulator: Any, world: Any) -> list[Step]:
    state = emulator.state
    ask = awg.ask

    def check(name: str, action: Callable[[], object], condition: Callable[[], bool]) -> Step:
        return checked(name, action, condition, sync=lambda: awg.ask("*OPC?"))

    steps: list[Step] = []
    for name, kind in (("state", str), ("run_mode", str), ("clock_source", str),
                       ("ref_source", str), ("DC_output", int), ("sequence_length", int),
                       ("sequence_pos", str), ("trigger_mode", str),
                       ("trigger_impedance", float), ("trigger_level", float),
                       ("trigger_slope", str), ("trigger_source", str),
                       ("event_polarity", str), ("event_impedance", float),
                       ("event_level", float), ("event_jump_timing", str),
                       ("clock_freq", float), ("setup_filename", str), ("IDN", dict)):
        steps.append(read(awg.parameters[name], kind))
    for channel in awg.channels:
        for name, kind in (("state", int), ("amp", float), ("offset", float),
                           ("waveform", str), ("direct_output", str), ("add_input", str),
                           ("filter", float), ("DC_out", float)):
            steps.append(read(channel.parameters[name], kind))
        for marker in (channel.m1, channel.m2):
            steps.extend(read(marker.parameters[name], float) for name in ("delay", "high", "low"))
    steps += [
        setting(awg.clock_source, "EXT"), setting(awg.clock_source, "INT"),
        setting(awg.ref_source, "EXT"), setting(awg.ref_source, "INT"),
        setting(awg.DC_output, 1), setting(awg.DC_output, 0),
        setting(awg.trigger_impedance, 1000, 1000.0), setting(awg.trigger_impedance, 50, 50.0),
        setting(awg.trigger_level, 0.75, 0.75), setting(awg.trigger_slope, "NEG"),
        setting(awg.trigger_source, "EXT"), setting(awg.event_polarity, "NEG"),
        setting(awg.event_impedance, 1000, 1000.0), setting(awg.event_level, -1.25, -1.25),
        setting(awg.event_jump_timing, "ASYNC", "ASYN"),
        setting(awg.event_jump_timing, "SYNC"),
        setting(awg.clock_freq, 1e9, 1e9), setting(awg.run_mode, "TRIG"),
        setting(awg.trigger_mode, "CONT"), setting(awg.sequence_length, 3),
        setting(awg.sequence_length, 0),
    ]
    for channel in awg.channels:
        steps += [
            setting(channel.amp, 1.5, 1.5), setting(channel.offset, -0.125, -0.125),
            setting(channel.direct_output, 1, "1"), setting(channel.direct_output, 0, "0"),
            setting(channel.add_input, '"ESIG"'), setting(channel.add_input, '""'),
            setting(channel.filter, 20e6, 20e6), setting(channel.filter, "INF", math.inf),
            setting(channel.DC_out, 1.2, 1.2),
            # QCoDeS sets the delay in ns and reads the unit's reply, in s
            setting(channel.m1.delay, 0.5, 0.5e-9, 1e-15),
            setting(channel.m2.delay, 0.25, 0.25e-9, 1e-15),
            setting(channel.m1.high, 1.5, 1.5), setting(channel.m1.low, -0.5, -0.5),
            setting(channel.m2.high, 2.0, 2.0), setting(channel.m2.low, 0.25, 0.25),
        ]
    waves = {f"w{n}ch{c}": ramp(1000, 0.1 * n + 0.03 * c) for n in (1, 2) for c in (1, 2)}

    def uploaded(name: str) -> bool:
        analog, m1, m2 = waves[name]
        stored = state.waveforms[name]
        return (np.allclose(stored.analog, analog, atol=1.5 / 8191)
                and np.array_equal(stored.marker1, m1.astype(bool))
                and np.array_equal(stored.marker2, m2.astype(bool)))

    for name, (analog, m1, m2) in waves.items():
        # QCoDeS deletes the name first; a name not in the list is refused (-224)
        def upload(a: np.ndarray = analog, b: np.ndarray = m1, c: np.ndarray = m2,
                   n: str = name) -> None:
            awg.send_waveform_to_list(a, b, c, n)
            awg.ask("*OPC?")
            if not uploaded(n):
                raise AssertionError(f"{n} is not in the waveform list as sent")

        steps.append(refused(f"send_waveform_to_list {name} (new: its DEL)", upload,
                             -224, ask, "SYST:ERR:NEXT?"))
    steps.append(check("send_waveform_to_list again (replaces)",
                       lambda: awg.send_waveform_to_list(*waves["w1ch1"], "w1ch1"),
                       lambda: uploaded("w1ch1")))
    steps.append(check("read back WLIS:WAV:DATA? (block)", lambda: None, lambda: np.array_equal(
        awg.visa_handle.query_binary_values('WLIS:WAV:DATA? "w2ch2"', datatype="H",
                                            container=np.array),
        np.trunc(8191 * waves["w2ch2"][0] + 8191 + 16384 * waves["w2ch2"][1]
                 + 32768 * waves["w2ch2"][2]).astype(np.uint16))
        or np.allclose(state.waveforms["w2ch2"].analog, waves["w2ch2"][0], atol=1.5 / 8191)))
    steps += [
        setting(awg.ch1.waveform, "w1ch1"), setting(awg.ch2.waveform, "w1ch2"),
        check("all_channels_on", awg.all_channels_on,
              lambda: all(c.output for c in state.channels)),
        check("all_channels_off", awg.all_channels_off,
              lambda: not any(c.output for c in state.channels)),
        setting(awg.ch1.state, 1), setting(awg.ch2.state, 1),
        setting(awg.run_mode, "CONT"),
        check("run", lambda: equal("Running", awg.run()), lambda: state.running),
        check("get_state", lambda: equal("Running", awg.get_state()), lambda: True),
        check("stop", awg.stop, lambda: not state.running),
        setting(awg.run_mode, "SEQ"), setting(awg.sequence_length, 2),
        check("set_sqel_waveform", lambda: [awg.set_sqel_waveform(f"w{n}ch{c}", c, n)
                                            for n in (1, 2) for c in (1, 2)],
              lambda: state.sequence[1].waveforms[:2] == ["w2ch1", "w2ch2"]),
        check("get_sqel_waveform", lambda: equal('"w2ch2"', awg.get_sqel_waveform(2, 2)),
              lambda: True),
        check("set_sqel_loopcnt", lambda: awg.set_sqel_loopcnt(7, 1),
              lambda: state.sequence[0].loop_count == 7),
        check("get_sqel_loopcnt", lambda: equal("7", awg.get_sqel_loopcnt(1)), lambda: True),
        check("set_sqel_loopcnt_to_inf", lambda: awg.set_sqel_loopcnt_to_inf(2, 1),
              lambda: state.sequence[1].infinite),
        check("set_sqel_trigger_wait", lambda: equal("1", awg.set_sqel_trigger_wait(1, 1)),
              lambda: state.sequence[0].wait_for_trigger),
        check("get_sqel_trigger_wait", lambda: equal("1", awg.get_sqel_trigger_wait(1)),
              lambda: True),
        check("set_sqel_goto_state", lambda: awg.set_sqel_goto_state(2, 1),
              lambda: state.sequence[1].goto_enabled),
        check("set_sqel_goto_target_index", lambda: awg.set_sqel_goto_target_index(2, 1),
              lambda: state.sequence[1].goto_index == 1),
        check("set_sqel_event_jump_type", lambda: awg.set_sqel_event_jump_type(1, "IND"),
              lambda: state.sequence[0].jump_target.isdigit()),
        check("set_sqel_event_target_index", lambda: awg.set_sqel_event_target_index(1, 2),
              lambda: state.sequence[0].jump_target == "2"),
        check("set_sqel_event_jump_target_index",
              lambda: awg.set_sqel_event_jump_target_index(1, 1),
              lambda: state.sequence[0].jump_target == "1"),
        check("get_sq_length", lambda: equal(2, awg.sequence_length()), lambda: True),
        check("get_sq_mode", lambda: equal("HARD", awg.get_sq_mode()), lambda: True),
        check("run (sequence, waits for a trigger)",
              lambda: equal("Waiting for trigger", awg.run()), lambda: state.running),
        check("force_trigger (*TRG)", awg.force_trigger,
              lambda: awg.get_state() == "Running"),
        check("force_trigger_event", awg.force_trigger_event,
              lambda: emulator.forced_triggers == 2),
        check("force_event", awg.force_event, lambda: emulator.forced_events == 1),
        setting(awg.sequence_pos, 2, "2"),
        check("stop (sequence)", awg.stop, lambda: not state.running),
        check("is_awg_ready", awg.is_awg_ready, lambda: True),
        check("get_error", lambda: equal('0,"No error"', awg.get_error()), lambda: True),
        check("delete_all_waveforms_from_list", awg.delete_all_waveforms_from_list,
              lambda: not any(not n.startswith("*") for n in state.waveforms)),
    ]

    # the .awg file path
    files = [[ramp(500, 0.1)[0], ramp(500, 0.2)[0]], [ramp(500, 0.3)[0], ramp(500, 0.4)[0]]]
    m1s = [[ramp(500, 0)[1]] * 2] * 2
    m2s = [[ramp(500, 0)[2]] * 2] * 2
    made: dict[str, bytes] = {}

    def loaded_file() -> bool:
        decoded = world.sequence(NODE)
        return (len(state.sequence) == 2 and state.sequence[0].waveforms[:2]
                == ["wfm001ch1", "wfm001ch2"] and state.sequence[1].loop_count == 3
                and state.sequence[0].wait_for_trigger and state.run_mode == "sequence"
                and np.allclose(state.waveforms["wfm002ch2"].analog, files[1][1],
                                atol=1.5 / 8191)
                and not decoded.running)

    steps += [
        check("get_current_folder_name",
              lambda: equal('"\\Users\\OEM\\Documents"', awg.get_current_folder_name()),
              lambda: True),
        check("get_folder_contents", lambda: awg.get_folder_contents(print_contents=False),
              lambda: True),
        check("create_and_goto_dir", lambda: awg.create_and_goto_dir("labctl"),
              lambda: emulator.disk.directory[-1] == "labctl"),
        check("goto_root", awg.goto_root, lambda: emulator.disk.directory == ()),
        check("change_folder", lambda: awg.change_folder("\\Users\\OEM\\Documents"),
              lambda: emulator.disk.directory == ("Users", "OEM", "Documents")),
        check("set_current_folder_name", lambda: awg.set_current_folder_name(
            "C:\\Users\\OEM\\Documents"), lambda: emulator.disk.drive == "C:"),
        check("make_awg_file", lambda: made.setdefault("file", awg.make_awg_file(
            files, m1s, m2s, nreps=[1, 3], trig_waits=[1, 0], goto_states=[0, 1],
            jump_tos=[2, 0], channels=[1, 2])), lambda: made["file"][:4] == b"\x06\x00\x00\x00"),
        check("send_awg_file", lambda: awg.send_awg_file("labctl.awg", made["file"]),
              lambda: any(k[1][-1] == "labctl.awg" for k in emulator.disk.files)),
        check("load_awg_file", lambda: awg.load_awg_file(
            "\\Users\\OEM\\Documents\\labctl.awg"), loaded_file),
        check("setup_filename after load",
              lambda: equal('"\\Users\\OEM\\Documents\\labctl.awg","C:"', awg.setup_filename()),
              lambda: True),
        check("run the loaded sequence", lambda: equal("Waiting for trigger", awg.run()),
              lambda: world.sequence(NODE).running and [
                  element.loops for element in world.sequence(NODE).elements] == [1, 3]),
        check("stop", awg.stop, lambda: not state.running),
        # QCoDeS turns the reply terminator of MMEM:CDIR? into the path separator
        check("make_send_and_load_awg_file", lambda: awg.make_send_and_load_awg_file(
            files, m1s, m2s, nreps=[1, 3], trig_waits=[1, 0], goto_states=[0, 1],
            jump_tos=[2, 0], channels=[1, 2]), lambda: loaded_file() and emulator.disk.read(
                "\\Users\\OEM\\Documents\\customawgfile.awg")[2][:4] == b"\x06\x00\x00\x00"),
        refused("load_awg_file of a missing file", lambda: awg.load_awg_file("missing.awg"),
                -256, ask, "SYST:ERR:NEXT?"),
        check("reset", awg.reset, lambda: not state.sequence and state.run_mode == "continuous"),
        check("clear_message_queue", awg.clear_message_queue, lambda: True),
    ]
    return steps


def test_qcodes_awg5014_steps_on_the_emulator(lab: Lab) -> None:
    awg = lab.connect("awg", TektronixAWG5014)
    try:
        steps = awg_steps(awg, lab.emulators[f"{NODE}_awg"], lab.world)
        failures = run_steps(steps, lambda: drain(awg.ask, "SYST:ERR:NEXT?"))
    finally:
        awg.close()
    report("QCoDeS TektronixAWG5014", steps, failures)


# --- the SGS100A --------------------------------------------------------------------

def sgs_steps(mw: Any, emulator: Any) -> list[Step]:
    state = emulator.state
    ask = mw.ask

    def check(name: str, action: Callable[[], object], condition: Callable[[], bool]) -> Step:
        return checked(name, action, condition, sync=lambda: mw.ask("*OPC?"))

    steps: list[Step] = [read(mw.parameters[name], kind) for name, kind in (
        ("frequency", float), ("phase", float), ("power", float), ("status", bool),
        ("IQ_state", bool), ("pulsemod_state", bool), ("pulsemod_source", str),
        ("ref_osc_source", str), ("LO_source", str), ("ref_LO_out", str),
        ("ref_osc_output_freq", str), ("ref_osc_external_freq", str),
        ("IQ_impairments", bool), ("I_offset", float), ("Q_offset", float),
        ("IQ_gain_imbalance", float), ("IQ_angle", float), ("trigger_connector_mode", str),
        ("pulsemod_delay", float), ("pulsemod_double_delay", float),
        ("pulsemod_double_width", float), ("pulsemod_mode", str), ("pulsemod_period", float),
        ("pulsemod_polarity", str), ("pulsemod_trig_ext_gate_polarity", str),
        ("pulsemod_trig_ext_impedance", str), ("pulsemod_trig_ext_slope", str),
        ("pulsemod_trig_mode", str), ("pulsemod_width", float), ("operation_mode", str),
        ("IDN", dict))]
    steps += [
        setting(mw.frequency, 2.877e9, 2.877e9, 0.01), setting(mw.phase, 123.45, 123.45),
        setting(mw.power, -12.5, -12.5), setting(mw.status, True),
        setting(mw.status, False), setting(mw.IQ_state, True), setting(mw.pulsemod_state, True),
        setting(mw.pulsemod_source, "EXT"), setting(mw.pulsemod_source, "int", "INT"),
        setting(mw.ref_osc_source, "EXT"), setting(mw.ref_osc_source, "INT"),
        setting(mw.LO_source, "EXT"), setting(mw.LO_source, "INT"),
        setting(mw.ref_LO_out, "LO"), setting(mw.ref_LO_out, "REF"),
        setting(mw.ref_osc_output_freq, "100MHz", "100MHZ"),
        setting(mw.ref_osc_external_freq, "1000MHz", "1000MHZ"),
        setting(mw.IQ_impairments, True), setting(mw.I_offset, -2.5, -2.5),
        setting(mw.Q_offset, 3.25, 3.25), setting(mw.IQ_gain_imbalance, 0.4, 0.4),
        setting(mw.IQ_angle, -7.5, -7.5), setting(mw.trigger_connector_mode, "PET"),
        setting(mw.pulsemod_delay, 2.5e-6, 2.5e-6), setting(mw.pulsemod_double_delay, 4e-8, 4e-8),
        setting(mw.pulsemod_double_width, 3e-7, 3e-7), setting(mw.pulsemod_mode, "DOUB"),
        setting(mw.pulsemod_period, 1.5e-5, 1.5e-5), setting(mw.pulsemod_polarity, "INV"),
        setting(mw.pulsemod_trig_ext_gate_polarity, "INV"),
        setting(mw.pulsemod_trig_ext_impedance, "G10K"),
        setting(mw.pulsemod_trig_ext_slope, "NEG"), setting(mw.pulsemod_trig_mode, "EGAT"),
        setting(mw.pulsemod_width, 2e-8, 2e-8),
        setting(mw.operation_mode, "BBBYpass", "BBBY"),
        setting(mw.operation_mode, "NORMal", "NORM"),
        check("on", mw.on, lambda: state.output), check("off", mw.off, lambda: not state.output),
        check("*OPT? names the frequency option", lambda: equal(emulator.options,
                                                                 mw.ask("*OPT?")),
              lambda: True),
        check("frequency at the option's top", lambda: mw.frequency(emulator.max_frequency_hz),
              lambda: state.frequency_hz == emulator.max_frequency_hz),
        refused("frequency above the option's range", lambda: mw.frequency(
            emulator.max_frequency_hz + 1e9), -222, ask, "SYST:ERR?"),
        check("IQ wideband on (IQ:WBST)", lambda: mw.write("SOUR:IQ:WBST ON"),
              lambda: mw.ask("SOUR:IQ:WBST?") == "1"),
        check("ALC off (POW:ALC)", lambda: mw.write("SOUR:POW:ALC OFF"),
              lambda: mw.ask("SOUR:POW:ALC?") == "0"),
        check("ALC auto", lambda: mw.write("SOUR:POW:ALC AUTO"),
              lambda: mw.ask("SOUR:POW:ALC?") == "AUTO"),
        check("power limit (POW:LIM)", lambda: mw.write("SOUR:POW:LIM 5"),
              lambda: float(mw.ask("SOUR:POW:LIM?")) == 5.0),
        refused("power above the limit", lambda: mw.power(10), -221, ask, "SYST:ERR?"),
        check("power limit below the level lowers it", lambda: (mw.power(3),
                                                                mw.write("SOUR:POW:LIM 0")),
              lambda: mw.power() == 0.0),
        check("SYST:ERR:ALL? empty", lambda: equal('0,"No error"', mw.ask("SYST:ERR:ALL?")),
              lambda: True),
        check("SYST:ERR:ALL? after two refusals", lambda: (
            mw.write("SOUR:POW 20"), mw.write("BOGUS")), lambda: [
            parse_error_reply(entry) for entry in _entries(mw.ask("SYST:ERR:ALL?"))]
            == [-221, -113]),
        # QCoDeS sends *TST? as a write: the lab reads the pending reply itself
        checked("run_self_tests", mw.run_self_tests, lambda: mw.visa_handle.read() == "0"),
        check("reset", mw.reset, lambda: not state.output and state.power_dbm == -30.0
              and float(mw.ask("SOUR:POW:LIM?")) == 25.0),
    ]
    return steps


def _entries(reply: str) -> list[str]:
    """The entries of a ``SYST:ERR:ALL?`` reply (``<code>,"<text>"`` each)."""
    return [match.group(0) for match in re.finditer(r'-?\d+,"[^"]*"', reply)]


def test_qcodes_sgs100a_steps_on_the_emulator(lab: Lab) -> None:
    mw = lab.connect("mw", RohdeSchwarzSGS100A)
    try:
        steps = sgs_steps(mw, lab.emulators[f"{NODE}_mw"])
        failures = run_steps(steps, lambda: drain(mw.ask, "SYST:ERR?"))
    finally:
        mw.close()
    report("QCoDeS RohdeSchwarzSGS100A", steps, failures)
