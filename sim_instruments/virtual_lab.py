"""The virtual lab: every instrument of a station served on loopback TCP, one shared world.

`VirtualLab` builds the `WorldState` from the station's instruments (their
``node`` and ``role`` say which part of the link each one is), picks the
emulator for each driver type, serves each on a free ``127.0.0.1`` port
(`InstrumentServer`) and adds a control port for the clock and fault
injection (`ControlEmulator`, spoken by `labctl.simulation.ControlClient`).

It registers as the ``virtual_lab`` simulator (entry point group
``labctl.simulators``): `SIMULATOR.attach` serves a station in-process — or,
only when the station asks to join (``--join``, ``join: true``), connects to
the ``labctl sim serve`` already serving it — `SIMULATOR.check` refuses a
station it could not simulate without serving anything, and
`SIMULATOR.serve` runs one in the foreground.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from labctl.clock import Clock
from labctl.errors import LabctlError, StationError
from labctl.pulses.wiring import AwgWiring, parse_wiring
from labctl.simulation import (
    MAX_CLOCK_REQUEST_S,
    SimulatedInstrument,
    SimulatedLink,
    SimulatedStation,
    SimulatorSession,
    announce,
    join_served,
)
from sim_instruments.emulators.idq_datalink import ID1000Servers
from sim_instruments.emulators.idq_id1000 import IDQID1000Emulator
from sim_instruments.emulators.newfocus_tlb6700 import NewFocusTLB6700Emulator
from sim_instruments.emulators.qfc_ppln import ConverterUnits, converter_server
from sim_instruments.emulators.rs_sgs100a import RohdeSchwarzSGS100AEmulator
from sim_instruments.emulators.santec_tsl570 import SantecTSL570Emulator
from sim_instruments.emulators.scpi import (
    ILLEGAL_PARAMETER_VALUE,
    Call,
    ScpiEmulator,
    ScpiError,
    parse_choice,
    parse_number,
    unquote,
)
from sim_instruments.emulators.single_quantum_eos import SingleQuantumEosEmulator
from sim_instruments.emulators.single_quantum_eos_server import eos_address, eos_server
from sim_instruments.emulators.swabian_timetagger import SwabianService
from sim_instruments.emulators.tektronix_awg5014c import TektronixAWG5014CEmulator
from sim_instruments.tcp_server import InstrumentServer, visa_resource
from sim_instruments.vxi11_server import Vxi11Server, vxi11_resource
from sim_instruments.world import World, WorldConfig
from sim_instruments.world_state import (
    FAULT_KINDS,
    Fault,
    FaultKind,
    HeraldingState,
    LaserState,
    NodeState,
    TaggerState,
    WorldState,
)

log = logging.getLogger(__name__)

#: Roles that belong to a node (everything else is the heralding station's).
NODE_ROLES = ("excitation_laser", "awg", "mw_source", "frequency_converter")
#: Longest injected ``latency``, s (wall time per reply). Longer is an instrument that
#: stops answering: inject ``silent`` for that.
MAX_FAULT_LATENCY_S = 600.0

EmulatorFactory = Callable[[World, SimulatedInstrument], Any]


class EmulatorServer(Protocol):
    """What serves one emulator on a loopback port over its unit's transport."""

    @property
    def port(self) -> int: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


#: Builds the server of one emulator: (name, emulator, world lock, fault of the
#: instrument, port or 0 for any free one) -> server.
ServerFactory = Callable[[str, Any, threading.RLock, Callable[[], Fault | None], int],
                         EmulatorServer]


def _tcp_server(name: str, emulator: Any, lock: threading.RLock,
                fault: Callable[[], Fault | None], port: int) -> EmulatorServer:
    return InstrumentServer(name, emulator, lock, fault=fault, port=port)


@dataclass(frozen=True)
class Emulation:
    """How the virtual lab stands in for one driver type.

    ``factory`` builds the emulator served on a loopback port; ``address`` turns
    the port into what the driver connects to; ``init`` are the driver's
    ``init`` arguments that reach it there (or, given the server, what they
    are: a server of several endpoints names each); ``server`` serves the emulator over
    the unit's transport (by default a raw TCP SOCKET, `InstrumentServer`).
    """

    factory: EmulatorFactory
    address: Callable[[int], str] = visa_resource
    init: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] = field(
        default_factory=lambda: {"visalib": "@py"})
    server: ServerFactory = _tcp_server


def _laser(world: World, instrument: SimulatedInstrument) -> LaserState:
    if instrument.role == "phase_reference_laser":
        return world.state.heralding.reference_laser
    return world.state.nodes[_node(instrument)].laser


def _node(instrument: SimulatedInstrument) -> str:
    if instrument.node is None:
        raise LabctlError(f"instrument '{instrument.name}' ({instrument.role}) needs a node")
    return instrument.node


def _awg(world: World, instrument: SimulatedInstrument) -> ScpiEmulator:
    return TektronixAWG5014CEmulator(world.state.nodes[_node(instrument)].awg)


def _microwave(world: World, instrument: SimulatedInstrument) -> ScpiEmulator:
    return RohdeSchwarzSGS100AEmulator(world.state.nodes[_node(instrument)].microwave)


#: Driver class (by import path, never imported) -> how to emulate it. QCoDeS's own
#: drivers of the same models speak to the same emulators.
EMULATORS: dict[str, Emulation] = {
    # a USB device, driven through Newport's USB library: its stand-in reaches this server
    "drivers.newfocus_tlb6700.NewFocusTLB6700":
        Emulation(lambda w, i: NewFocusTLB6700Emulator(_laser(w, i), w.state.clock),
                  init={"library": "sim_instruments.newport_usb_api"}),
    "drivers.santec_tsl570.SantecTSL570":
        Emulation(lambda w, i: SantecTSL570Emulator(_laser(w, i))),
    # the AWG5014C over VXI-11, as TekVISA serves it in the lab (END frames each message)
    "drivers.tektronix_awg5014c.TektronixAWG5014C":
        Emulation(_awg, address=vxi11_resource, server=Vxi11Server),
    "qcodes.instrument_drivers.tektronix.AWG5014.TektronixAWG5014":
        Emulation(_awg, address=vxi11_resource, server=Vxi11Server),
    "drivers.rs_sgs100a.RohdeSchwarzSGS100A": Emulation(_microwave),
    "qcodes.instrument_drivers.rohde_schwarz.SGS100A.RohdeSchwarzSGS100A":
        Emulation(_microwave),
    # two serial units (pump amplifier, oven controller), each on its own line
    "drivers.qfc_ppln.PPLNFrequencyConverter":
        Emulation(lambda w, i: ConverterUnits.of(w.state.nodes[_node(i)].converter,
                                                 w.state.clock),
                  address=lambda port: f"socket://127.0.0.1:{port}",
                  init=lambda server: server.init(), server=converter_server),
    # JSON over two TCP ports (control, counts one above it): no VISA
    "drivers.single_quantum_eos.QuantumEos":
        Emulation(lambda w, i: SingleQuantumEosEmulator(w.state.heralding.snspd,
                                                        w.snspd_count_rate, w.state.clock,
                                                        # its own stream: the counter runs in
                                                        # wall time, the world's must not
                                                        w.rng.spawn(1)[0]),
                  address=eos_address, init={}, server=eos_server),
    # over zmq (SCPI on port P), its DataLink Target service on P + 1
    "drivers.idq_id1000.IDQID1000":
        Emulation(lambda w, i: IDQID1000Emulator(w.state.heralding.tagger, w),
                  address=lambda port: f"tcp://127.0.0.1:{port}",
                  init={"data_link": "+1", "stream_port_base": 0}, server=ID1000Servers),
    # driven through the vendor's Python API: the stand-in library reaches this service
    "drivers.swabian_timetagger.SwabianTimeTagger":
        Emulation(lambda w, i: SwabianService(w.state.heralding.tagger, w),
                  address=lambda port: f"127.0.0.1:{port}",
                  init={"library": "sim_instruments.swabian_timetagger_api"}),
}


def build_world(station: SimulatedStation) -> World:
    """The world of a station: one `NodeState` per node that has node instruments."""
    nodes = sorted({i.node for i in station.instruments if i.role in NODE_ROLES and i.node})
    n_inputs = next((int(i.init.get("n_inputs", 4)) for i in station.instruments
                     if i.role == "time_tagger"), 4)
    state = WorldState(nodes={name: NodeState(name) for name in nodes},
                       heralding=HeraldingState(tagger=TaggerState(n_inputs=n_inputs)))
    try:
        config = WorldConfig.from_mapping(dict(station.world))
    except (TypeError, ValueError) as error:
        raise StationError(str(station.path), f"profile '{station.profile}': {error}",
                           key="world") from None
    wirings: dict[str, AwgWiring] = {}
    tagger_inputs: dict[str, int] = {}
    detector_channels: dict[str, int] | None = None
    for instrument in station.instruments:
        try:
            if instrument.role == "awg" and instrument.node:
                wirings[instrument.node] = parse_wiring(instrument.wiring)
            elif instrument.role == "time_tagger":
                tagger_inputs = {str(k): int(v) for k, v in instrument.wiring.items()}
            elif instrument.role == "snspd" and instrument.wiring:
                detector_channels = {str(k): int(v) for k, v in instrument.wiring.items()}
        except (TypeError, ValueError) as error:
            raise StationError(str(station.path), str(error), instrument=instrument.name,
                               key="wiring") from None
    return World(state, config, wirings, tagger_inputs, detector_channels)


def _none(_: object) -> None:
    """A command's handler answers nothing, whatever the call it makes returns."""


class ControlEmulator(ScpiEmulator):
    """The virtual lab's own control port: the clock and fault injection."""

    def __init__(self, lab: VirtualLab) -> None:
        super().__init__()
        self.identity = f"LABCTL,VIRTUAL-LAB,{lab.station.key},1"
        self.lab = lab
        clock = lab.world.state.clock
        self.register("CLOCk:TIME?", lambda c: repr(clock.now()))
        self.register("CLOCk:ADVance", lambda c: _none(clock.advance(
            parse_number(c.text(), 0, MAX_CLOCK_REQUEST_S))))
        self.register("FAULt:SET", self._set_fault)
        self.register("FAULt:CLEar", self._clear)
        self.register("FAULt:LIST?", lambda c: ";".join(
            f"{name},{fault.kind},{fault.value}" for name, fault in lab.faults().items()))

    def _set_fault(self, call: Call) -> None:
        arguments = call.arguments()
        if len(arguments) not in (2, 3):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, "FAULT:SET \"name\",kind[,value]")
        kind = parse_choice(arguments[1], {k: k for k in FAULT_KINDS})
        value = parse_number(arguments[2]) if len(arguments) == 3 else 0.0
        try:
            self.lab.set_fault(unquote(arguments[0]), kind, value)
        except LabctlError as error:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, str(error)) from None

    def _clear(self, call: Call) -> None:
        name = unquote(call.argument) if isinstance(call.argument, str) and call.argument else None
        self.lab.clear_faults(name)


class VirtualLab:
    """Every instrument of a station on its own loopback port, sharing one world."""

    def __init__(self, station: SimulatedStation, ports: Mapping[str, int] | None = None) -> None:
        self.station = station
        self.world = build_world(station)
        self._ports = dict(ports or {})
        self.servers: dict[str, EmulatorServer] = {}
        self._emulations: dict[str, Emulation] = {}
        self.control: InstrumentServer | None = None
        self._instruments = {i.name: i for i in station.instruments}

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> VirtualLab:
        try:
            for instrument in self.station.instruments:
                emulation = EMULATORS.get(instrument.driver)
                if emulation is None:
                    raise StationError(str(self.station.path), "the virtual lab has no "
                                       f"emulator for {instrument.driver}",
                                       instrument=instrument.name, key="type")
                self._emulations[instrument.name] = emulation
                emulator = emulation.factory(self.world, instrument)
                server = emulation.server(instrument.name, emulator, self.world.state.lock,
                                          self._fault_of(instrument.name),
                                          self._ports.get(instrument.name, 0))
                server.start()
                self.servers[instrument.name] = server
            self.control = InstrumentServer("control", ControlEmulator(self),
                                            self.world.state.lock, fault=lambda: None,
                                            port=self._ports.get("control", 0))
            self.control.start()
        except BaseException:
            self.stop()
            raise
        log.info("virtual lab for %s serving %d instruments", self.station.path,
                 len(self.servers))
        return self

    def stop(self) -> None:
        for server in [*self.servers.values(), *([self.control] if self.control else [])]:
            server.stop()
        self.servers.clear()
        self.control = None

    @property
    def addresses(self) -> dict[str, str]:
        return {name: self._emulations[name].address(server.port)
                for name, server in self.servers.items()}

    @property
    def init_overrides(self) -> dict[str, dict[str, Any]]:
        overrides = {}
        for name, server in self.servers.items():
            init = self._emulations[name].init
            overrides[name] = dict(init(server) if callable(init) else init)
        return overrides

    @property
    def clock(self) -> Clock:
        return self.world.state.clock

    # --- faults -----------------------------------------------------------------

    def _fault_of(self, name: str) -> Callable[[], Fault | None]:
        return lambda: self.world.state.faults.get(name)

    def faults(self) -> dict[str, Fault]:
        return dict(self.world.state.faults)

    def set_fault(self, name: str, kind: str, value: float = 0.0) -> None:
        """Inject a fault into one instrument (see `sim_instruments.world_state.Fault`)."""
        instrument, fault_kind = check_fault(self.station, name, kind, value)
        with self.world.state.lock:
            if fault_kind == "unlock":
                _laser(self.world, instrument).locked = False
            elif fault_kind == "latch":
                channel = int(value) if value else 1
                channels = self.world.state.heralding.snspd
                if not 1 <= channel <= len(channels):
                    raise LabctlError(f"SNSPD channel {channel} does not exist")
                channels[channel - 1].latched = True
            self.world.state.faults[name] = Fault(fault_kind, value)

    def clear_faults(self, name: str | None = None) -> None:
        """Remove injected faults (transport faults stop; a lost lock is regained)."""
        with self.world.state.lock:
            names = [name] if name else list(self.world.state.faults)
            for each in names:
                fault = self.world.state.faults.pop(each, None)
                if fault is not None and fault.kind == "unlock":
                    _laser(self.world, self._instruments[each]).locked = True


@dataclass
class LocalSession:
    """A virtual lab this process started for itself."""

    lab: VirtualLab

    @property
    def addresses(self) -> Mapping[str, str]:
        return self.lab.addresses

    @property
    def init_overrides(self) -> Mapping[str, Mapping[str, Any]]:
        return self.lab.init_overrides

    @property
    def clock(self) -> Clock:
        return self.lab.clock

    def close(self) -> None:
        self.lab.stop()


def check_fault(station: SimulatedStation, name: str, kind: str,
                value: float) -> tuple[SimulatedInstrument, FaultKind]:
    """The instrument a fault goes to and its kind, if the fault suits it; `LabctlError`
    saying why not.

    ``latency`` takes seconds within [0, `MAX_FAULT_LATENCY_S`]; ``latch`` an SNSPD
    channel number (0: the first); ``unlock`` only a laser, ``latch`` only an SNSPD
    controller; the other kinds ignore their (finite) value.
    """
    instrument = next((i for i in station.instruments if i.name == name), None)
    if instrument is None:
        raise LabctlError(f"no instrument '{name}' in the virtual lab "
                          f"(known: {', '.join(sorted(i.name for i in station.instruments))})")
    if kind not in FAULT_KINDS:
        raise LabctlError(f"unknown fault '{kind}' (known: {', '.join(FAULT_KINDS)})")
    if not math.isfinite(value):
        raise LabctlError(f"fault {name}:{kind}: value must be a finite number, got {value!r}")
    if kind == "latency" and not 0.0 <= value <= MAX_FAULT_LATENCY_S:
        raise LabctlError(f"fault {name}:latency: seconds must be within "
                          f"[0, {MAX_FAULT_LATENCY_S:g}], got {value!r} (an instrument that "
                          "never answers: 'silent')")
    if kind == "latch" and not (value >= 0 and value == int(value)):
        raise LabctlError(f"fault {name}:latch: value is an SNSPD channel number, got {value!r}")
    if kind == "unlock" and "laser" not in (instrument.role or ""):
        raise LabctlError(f"'{name}' is not a laser; only lasers can unlock")
    if kind == "latch" and instrument.role != "snspd":
        raise LabctlError(f"'{name}' is not an SNSPD controller; only SNSPDs latch")
    return instrument, kind


def parse_fault(text: str) -> tuple[str, str, float]:
    """``NAME:KIND[:VALUE]`` (e.g. ``node_a_laser:unlock``, ``herald_tagger:latency:0.5``)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise LabctlError(f"fault {text!r} is not NAME:KIND[:VALUE] "
                          f"(kinds: {', '.join(FAULT_KINDS)})")
    try:
        value = float(parts[2]) if len(parts) == 3 else 0.0
    except ValueError:
        raise LabctlError(f"fault {text!r}: value {parts[2]!r} is not a number") from None
    return parts[0], parts[1], value


class VirtualLabSimulator:
    """The ``virtual_lab`` entry point: serve in-process, or join a running server."""

    def attach(self, station: SimulatedStation) -> SimulatorSession:
        """A lab of this process's own, or — only when ``station.join`` — the served one."""
        if station.join:
            return join_served(station)
        return LocalSession(VirtualLab(station).start())

    def check(self, station: SimulatedStation) -> None:
        """Refuse (`StationError`) a station whose world or wiring cannot be simulated."""
        build_world(station)

    def link(self, session: SimulatorSession) -> SimulatedLink | None:
        """The link this process's own lab realises now (`World.link`, the very physics
        its emulators sample from), or None: nothing attempts entanglement, or the
        session joined a lab whose world lives in another process."""
        if not isinstance(session, LocalSession):
            return None
        world = session.lab.world
        with world.state.lock:
            setting = world.link()
        if setting is None:
            return None
        readout = world.config.readout
        return SimulatedLink(setting.params, readout, readout, setting.readout_directions,
                             setting.random_settings)

    def serve(self, station: SimulatedStation, faults: Iterable[str],
              ready: Callable[[Mapping[str, str], int], None],
              stop: threading.Event) -> None:
        """Serve in the foreground until ``stop`` is set; announce for other processes.

        Every fault is checked before anything is served.
        """
        injected = [parse_fault(text) for text in faults]
        for fault in injected:
            check_fault(station, *fault)
        lab = VirtualLab(station).start()
        try:
            for fault in injected:
                lab.set_fault(*fault)
            assert lab.control is not None
            path = announce(station, lab.addresses, lab.control.port, lab.init_overrides)
            ready(lab.addresses, lab.control.port)
            try:
                stop.wait()
            finally:
                path.unlink(missing_ok=True)
        finally:
            lab.stop()


SIMULATOR = VirtualLabSimulator()
