"""Loading station files: QCoDeS station YAML plus named profiles, checked on load.

A labctl station file is a QCoDeS station file (``instruments:`` with
``type``, ``address``, ``init``, ``parameters``) with three additions:

- each instrument may name the ``node`` it belongs to and its ``role`` there,
  so experiments find instruments by role, never by driver class;
- ``profiles:`` overlay per-instrument settings (``address``, ``init``,
  ``safety_limits``, ``parameters``) for each way of running the station:
  ``sim`` for the simulated station, and one profile per lab;
- ``safety_limits: {parameter: [min, max]}`` *narrow* a parameter's validator
  (see `labctl.safety`) so a lab's limit can never widen an instrument's range;
- ``adapter: package.module.Class`` names the class through which a driver
  labctl did not write (e.g. QCoDeS's own) provides its role's capability
  (`labctl.instruments.roles`); ``wiring:`` names the instrument's inputs and
  outputs (checked for the role on load);
- ``remote: tcp://host:port`` (or ``{address: .., keys: DIR}``) says the
  instrument is served by ``labctl node serve`` on another PC: it is loaded
  as a proxy with the same parameters (see `labctl.remote`), and a profile
  may give each lab its own address;
- a simulated profile's ``join: true`` makes every command use the virtual lab
  ``labctl sim serve`` already serves for it (as ``--join`` does for one
  command); without it a command starts its own.

A key given twice in one mapping (e.g. two instruments of one name) is refused,
naming the key and both lines; a simulated profile's ``world:`` is checked by
its simulator on load.

Every mistake is reported as a `StationError` naming the file, the instrument
and the key, before any instrument is contacted where that is possible.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import io
import logging
import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from qcodes.instrument import Instrument, InstrumentBase
from qcodes.parameters import ParameterBase
from qcodes.station import Station

from labctl.clock import Clock, WallClock
from labctl.errors import (
    LabctlError,
    RemoteError,
    SafeStateError,
    SafetyLimitError,
    StationError,
)
from labctl.instruments.converter import FrequencyConverter
from labctl.instruments.detector import DetectorView, SinglePhotonDetectors
from labctl.instruments.laser import Laser
from labctl.instruments.microwave import MicrowaveSource
from labctl.instruments.ports import NamedPorts
from labctl.instruments.roles import (
    ROLES,
    adapter_class,
    build_capability,
    missing_members,
    protocol_members,
)
from labctl.instruments.safety import SafeState
from labctl.instruments.sequencer import PulseSequencer, SequencerView
from labctl.instruments.tagger import TaggerView, TimeTagger
from labctl.pulses.wiring import parse_wiring
from labctl.remote.address import BadRemote, RemoteSpec, parse_remote
from labctl.safety import narrow_to_limits
from labctl.simulation import (
    SimulatedInstrument,
    SimulatedStation,
    SimulatorSession,
    check_simulated,
    find_simulator,
    join_requested,
)

if TYPE_CHECKING:
    from labctl.remote.nodes import RemoteNodes

log = logging.getLogger(__name__)

CapabilityT = TypeVar("CapabilityT")

#: The station every command uses unless told otherwise.
DEFAULT_STATION = Path("stations/two_node.yaml")
#: The profile every command uses unless told otherwise: never hardware by default.
DEFAULT_PROFILE = "sim"

_TOP_LEVEL_KEYS = {"description", "instruments", "profiles"}
#: Keys QCoDeS itself understands in an instrument entry.
_QCODES_KEYS = {"type", "address", "port", "init", "parameters", "add_parameters",
                "enable_forced_reconnect"}
_LABCTL_KEYS = {"node", "role", "safety_limits", "description", "wiring", "remote", "adapter"}
_INSTRUMENT_KEYS = _QCODES_KEYS | _LABCTL_KEYS
_PROFILE_KEYS = {"description", "instruments", "simulator", "world", "join"}
_PROFILE_INSTRUMENT_KEYS = {"type", "adapter", "address", "port", "init", "parameters",
                            "safety_limits", "wiring", "remote"}
#: Keys that configure a local connection; a remote instrument's node has them instead.
_LOCAL_ONLY_KEYS = ("address", "port", "init", "parameters", "add_parameters",
                    "enable_forced_reconnect", "safety_limits")


@dataclass(frozen=True)
class SafetyLimit:
    """An allowed [lower, upper] range for one parameter; either bound may be open."""

    parameter: str
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument of a station, after the profile has been applied and checked."""

    name: str
    driver: type[Instrument]
    qcodes_config: dict[str, Any]
    node: str | None = None
    role: str | None = None
    safety_limits: tuple[SafetyLimit, ...] = ()
    wiring: dict[str, Any] = field(default_factory=dict)
    #: Where the instrument is served when it is on another PC (None: connected here).
    remote: RemoteSpec | None = None
    #: The class through which the driver provides its role's capability, if the
    #: station names one (else the driver's own, `labctl.instruments.roles`).
    adapter: type | None = None

    @property
    def capability_class(self) -> type:
        """The class whose instances provide this instrument's capability."""
        return adapter_class(self.driver, self.adapter)


@dataclass(frozen=True)
class StationSpec:
    """A checked station file for one profile; nothing has been contacted yet."""

    path: Path
    profile: str
    profiles: tuple[str, ...]
    description: str
    instruments: tuple[InstrumentSpec, ...] = field(default_factory=tuple)
    simulator: str | None = None
    world: dict[str, Any] = field(default_factory=dict)
    #: join the virtual lab another process serves for this profile (``join: true``)
    join: bool = False

    def qcodes_yaml(self) -> str:
        """The profile's instruments as a plain QCoDeS station YAML document."""
        return yaml.safe_dump(
            {"instruments": {spec.name: spec.qcodes_config for spec in self.instruments
                             if spec.remote is None}},
            sort_keys=False)


class LabStation(Station):
    """A QCoDeS `Station` that knows its profile, its instruments' roles and its clock."""

    def __init__(self, spec: StationSpec, clock: Clock | None = None,
                 simulation: SimulatorSession | None = None,
                 remote: RemoteNodes | None = None) -> None:
        super().__init__(default=False)
        self.spec = spec
        self.simulation = simulation
        #: The nodes serving this station's remote instruments (None: all local).
        self.remote = remote
        self.clock: Clock = clock if clock is not None else WallClock()
        self._roles = {(s.node, s.role): s.name for s in spec.instruments if s.role}
        self._capabilities: dict[str, object] = {}
        #: Each VISA session's (timeout, read and write termination), kept for `reconnect`.
        self._visa_settings: dict[str, tuple[Any, Any, Any]] = {}

    @property
    def profile(self) -> str:
        return self.spec.profile

    def instrument(self, role: str, node: str | None = None) -> Instrument:
        """The instrument playing ``role`` (at ``node``, where roles repeat per node)."""
        name = self._roles.get((node, role))
        if name is None:
            known = ", ".join(f"{n}/{r}" if n else r for n, r in sorted(
                self._roles, key=lambda key: (key[0] or "", key[1])))
            where = f"node '{node}' " if node else ""
            raise LabctlError(f"{self.spec.path}: no instrument plays role '{role}' "
                              f"at {where}(known roles: {known})")
        component = self.components[name]
        assert isinstance(component, Instrument)
        return component

    def wiring(self, role: str, node: str | None = None) -> dict[str, Any]:
        """How the instrument playing ``role`` is cabled (its ``wiring:`` in the station)."""
        return dict(self._spec_of(role, node).wiring)

    def capability_of(self, name: str) -> object:
        """The capability object of instrument ``name`` (its adapter, built once)."""
        if name not in self._capabilities:
            spec = next((s for s in self.spec.instruments if s.name == name), None)
            if spec is None:
                raise LabctlError(f"{self.spec.path}: no instrument '{name}'")
            component = self.components[name]
            served = getattr(component, "served_capability", None)   # a remote node's
            self._capabilities[name] = (served if served is not None and spec.adapter is None
                                        else build_capability(component, spec.adapter))
        return self._capabilities[name]

    def role(self, role: str, node: str | None, kind: type[CapabilityT]) -> CapabilityT:
        """The capability of the instrument playing ``role``, checked to be a ``kind``."""
        spec = self._spec_of(role, node)
        capability = self.capability_of(spec.name)
        if not isinstance(capability, kind):
            missing = ", ".join(missing_members(type(capability), kind))
            raise LabctlError(f"{self.spec.path}: instrument '{spec.name}' (role '{role}') "
                              f"is not a {kind.__name__}: it lacks {missing}")
        return capability

    def tagger(self, node: str | None) -> TaggerView:
        """The time tagger at ``node``, its inputs named by its wiring."""
        spec = self._spec_of("time_tagger", node)
        return TaggerView(self.role("time_tagger", node, TimeTagger),  # type: ignore[type-abstract]
                          NamedPorts.parse(spec.name, spec.wiring), self.clock)

    def sequencer(self, node: str | None) -> SequencerView:
        """The AWG at ``node``, rendering programs through its wiring."""
        spec = self._spec_of("awg", node)
        return SequencerView(self.role("awg", node, PulseSequencer),  # type: ignore[type-abstract]
                             parse_wiring(spec.wiring))

    def detectors(self, node: str | None) -> DetectorView:
        """The single-photon detectors at ``node``, named by their wiring."""
        spec = self._spec_of("snspd", node)
        return DetectorView(self.role("snspd", node, SinglePhotonDetectors),  # type: ignore[type-abstract]
                            NamedPorts.parse(spec.name, spec.wiring))

    def laser(self, role: str, node: str | None) -> Laser:
        return self.role(role, node, Laser)  # type: ignore[type-abstract]

    def microwave(self, node: str | None) -> MicrowaveSource:
        return self.role("mw_source", node, MicrowaveSource)  # type: ignore[type-abstract]

    def converter(self, node: str | None) -> FrequencyConverter:
        return self.role("frequency_converter", node, FrequencyConverter)  # type: ignore[type-abstract]

    def has_role(self, role: str, node: str | None = None) -> bool:
        return (node, role) in self._roles

    def _spec_of(self, role: str, node: str | None) -> InstrumentSpec:
        name = self.instrument(role, node).name
        return next(s for s in self.spec.instruments if s.name == name)

    def loaded_instruments(self) -> list[Instrument]:
        """The station's instruments, in file order."""
        return [component for spec in self.spec.instruments
                if isinstance(component := self.components.get(spec.name), Instrument)]

    def safe_state_all(self, only: Collection[str] | None = None) -> None:
        """Put every hazardous instrument (or those named in ``only``) in its safe state;
        try all before reporting, then `SafeStateError` naming each that failed."""
        failures: dict[str, str] = {}
        for instrument in self.loaded_instruments():
            if only is not None and instrument.name not in only:
                continue
            try:
                target = self.capability_of(instrument.name)
            except Exception as error:  # an adapter that cannot be built: the driver's own
                log.exception("no capability for %s", instrument.name)
                failures[instrument.name] = str(error)
                target = instrument
            if not isinstance(target, SafeState) and isinstance(instrument, SafeState):
                target = instrument
            if isinstance(target, SafeState):
                try:
                    target.safe_state()
                except Exception as error:  # every instrument must get its turn
                    failures[instrument.name] = " ".join(str(error).split())
                    log.error("safe state failed for %s: %s", instrument.name,
                              failures[instrument.name])
                    log.debug("safe state of %s", instrument.name, exc_info=True)
        if failures:
            raise SafeStateError(failures)

    def reconnect(self, only: Collection[str] | None = None) -> None:
        """Open a fresh session to every instrument, or to those named in ``only``
        (after a dropped connection).

        A driver with its own ``reconnect()`` (one over zmq or a vendor library)
        reconnects itself; a VISA driver gets a fresh VISA session; remote nodes
        reconnect their proxies.
        """
        from pyvisa import errors as pyvisa_errors
        from qcodes.instrument import VisaInstrument

        specs = [s for s in self.spec.instruments if only is None or s.name in only]
        for spec in specs:
            instrument = self.components.get(spec.name)
            if spec.remote is not None:
                continue
            own = getattr(instrument, "reconnect", None)
            if callable(own):   # a driver over another transport reconnects itself
                log.info("reconnecting %s", spec.name)
                own()
                continue
            if not isinstance(instrument, VisaInstrument):
                continue
            init = spec.qcodes_config.get("init") or {}
            visalib = init.get("visalib")
            sim_file = init.get("pyvisa_sim_file")
            if sim_file is not None:
                continue  # pyvisa-sim sessions cannot drop
            log.info("reconnecting %s", spec.name)
            old = instrument.visa_handle
            try:
                settings = (old.timeout, old.read_termination, old.write_termination)
            except pyvisa_errors.InvalidSession:   # closed by a reconnect that failed
                settings = self._visa_settings[spec.name]
            self._visa_settings[spec.name] = settings
            with contextlib.suppress(pyvisa_errors.Error, OSError):
                old.close()   # a broken session may fail to close; a fresh one follows
            instrument.set_address(spec.qcodes_config["address"], visalib)
            new = instrument.visa_handle
            new.timeout, new.read_termination, new.write_termination = settings
        if self.remote is not None and any(s.remote is not None for s in specs):
            self.remote.reconnect()

    def begin_run(self, run_id: int) -> None:
        """A run starts: arm every remote node for it, then go (nothing to do if all local)."""
        if self.remote is not None:
            self.remote.begin_run(run_id)

    def end_run(self) -> None:
        """The run is over (its instruments already made safe): disarm the remote nodes."""
        if self.remote is not None:
            self.remote.end_run()

    def close(self) -> None:
        """Close every instrument of the station (and the simulation it started)."""
        for instrument in reversed(self.loaded_instruments()):
            with contextlib.suppress(KeyError):
                self.remove_component(instrument.name)
            instrument.close()
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        if self.simulation is not None:
            self.simulation.close()
            self.simulation = None

    def __enter__(self) -> LabStation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def load(path: str | Path = DEFAULT_STATION, profile: str = DEFAULT_PROFILE,
         clock: Clock | None = None) -> LabStation:
    """Load a station file for ``profile``, connect its instruments, apply safety limits.

    Raises `StationError` naming the file, the instrument and the key for any
    mistake; instruments already connected are closed again on failure.
    """
    station = open_station(read_spec(path, profile), clock)
    try:
        for instrument_spec in station.spec.instruments:
            connect_instrument(station, instrument_spec)
    except BaseException:
        station.close()
        raise
    return station


def open_station(spec: StationSpec, clock: Clock | None = None) -> LabStation:
    """The station of ``spec`` with no instrument connected yet.

    Its simulator serves it (when the profile names one) and its remote nodes
    are connected; `connect_instrument` then connects each instrument.
    """
    simulation = None
    remote = _connect_nodes(spec)   # None when every instrument is connected here
    try:
        if remote is not None and clock is None and spec.simulator is None:
            clock = _node_clock(spec, remote)
        if spec.simulator is not None and any(s.remote is None for s in spec.instruments):
            simulation = find_simulator(spec.simulator).attach(simulated_station(spec))
            try:
                spec = _served_by(spec, simulation)
            except BaseException:
                simulation.close()
                raise
            clock = simulation.clock if clock is None else clock
    except BaseException:
        if remote is not None:
            remote.close()
        raise
    station = LabStation(spec, clock, simulation, remote)
    try:
        station.load_config(spec.qcodes_yaml())
    except BaseException:
        station.close()
        raise
    return station


def read_spec(path: str | Path, profile: str = DEFAULT_PROFILE) -> StationSpec:
    """Read and check a station file for ``profile`` without contacting anything."""
    path = Path(path)
    where = str(path)
    document = _read_yaml(path)
    _check_keys(where, None, None, document, _TOP_LEVEL_KEYS)
    instruments = _mapping(where, None, "instruments", document.get("instruments") or {})
    if not instruments:
        raise StationError(where, "defines no instruments", key="instruments")
    profiles = _mapping(where, None, "profiles", document.get("profiles", {}))
    if profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise StationError(where, f"unknown profile '{profile}' (profiles in this file: "
                                  f"{known})", key="profiles")
    overlay = _mapping(where, None, f"profiles.{profile}", profiles[profile] or {})
    _check_keys(where, None, f"profiles.{profile}", overlay, _PROFILE_KEYS)
    overlay_instruments = _mapping(where, None, f"profiles.{profile}.instruments",
                                   overlay.get("instruments", {}) or {})
    simulator = overlay.get("simulator")
    if simulator is not None and not isinstance(simulator, str):
        raise StationError(where, f"simulator must be a name, not {simulator!r}",
                           key=f"profiles.{profile}.simulator")
    world = _mapping(where, None, f"profiles.{profile}.world", overlay.get("world") or {})
    join = overlay.get("join", False)
    if not isinstance(join, bool):
        raise StationError(where, f"join must be true or false, not {join!r}",
                           key=f"profiles.{profile}.join")
    if join and simulator is None:
        raise StationError(where, "join: true needs a profile that names a simulator (there "
                                  "is no virtual lab to join)", key=f"profiles.{profile}.join")
    for name in overlay_instruments:
        if name not in instruments:
            raise StationError(where, f"profile '{profile}' configures an instrument the "
                                      "file does not define" + _suggest(name, instruments),
                               instrument=str(name), key=f"profiles.{profile}.instruments")
    specs = tuple(
        _instrument_spec(where, str(name), entry, overlay_instruments.get(name),
                         simulated=simulator is not None)
        for name, entry in instruments.items())
    _check_unique_roles(where, specs)
    for spec in specs:
        _check_role(where, spec)
    station = StationSpec(path=path, profile=profile, profiles=tuple(profiles),
                          description=str(document.get("description", "")),
                          instruments=specs, simulator=simulator, world=dict(world), join=join)
    if simulator is not None:   # e.g. a world it cannot simulate: refused before anything
        check_simulated(simulator, simulated_station(station))
    return station


def simulated_station(spec: StationSpec) -> SimulatedStation:
    """What the simulator needs: instruments by driver type, node and role; the world;
    whether to join a served lab (``join: true``, or `labctl.simulation.joining`)."""
    return SimulatedStation(
        path=spec.path, profile=spec.profile, world=spec.world,
        join=spec.join or join_requested(),
        instruments=tuple(SimulatedInstrument(
            name=s.name, driver=f"{s.driver.__module__}.{s.driver.__qualname__}",
            node=s.node, role=s.role, init=dict(s.qcodes_config.get("init") or {}),
            wiring=dict(s.wiring))
            for s in spec.instruments if s.remote is None))


#: ``init`` arguments a profile may give that only make sense off the simulator.
UNSIMULATED_INIT = ("pyvisa_sim_file", "visalib")


def _served_by(spec: StationSpec, simulation: SimulatorSession) -> StationSpec:
    """The spec with every instrument pointed at the simulator (its address and init)."""
    served = []
    for instrument in spec.instruments:
        if instrument.remote is not None:   # served by its node, not by this simulator
            served.append(instrument)
            continue
        address = simulation.addresses.get(instrument.name)
        if address is None:
            raise StationError(str(spec.path), f"simulator '{spec.simulator}' does not serve "
                                               "this instrument", instrument=instrument.name,
                               key="type")
        overrides = dict(simulation.init_overrides.get(instrument.name, {}))
        init = {k: v for k, v in (instrument.qcodes_config.get("init") or {}).items()
                if k not in UNSIMULATED_INIT and k not in overrides}
        config = {**instrument.qcodes_config, "address": address,
                  "init": {**init, **overrides}}
        served.append(dataclasses.replace(instrument, qcodes_config=config))
    return dataclasses.replace(spec, instruments=tuple(served))


def _read_yaml(path: Path) -> dict[str, Any]:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StationError(where, "station file not found") from None
    except OSError as error:
        raise StationError(where, f"cannot read station file: {error.strerror}") from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)   # a SafeLoader
    except _DuplicateKey as error:
        raise StationError(where, str(error)) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise StationError(where, f"not valid YAML{line}: {problem}") from None
    if not isinstance(document, dict):
        raise StationError(where, "a station file must be a mapping with an "
                                  "'instruments' section")
    return document


class _DuplicateKey(yaml.YAMLError):
    """A mapping names one key twice (YAML says keys are unique; PyYAML keeps the last)."""

    def __init__(self, key: str, first_line: int, second_line: int) -> None:
        super().__init__(key, first_line, second_line)
        self.key = key
        self.first_line = first_line
        self.second_line = second_line

    def __str__(self) -> str:
        return (f"duplicate key '{self.key}' at lines {self.first_line} and "
                f"{self.second_line} (each key must be unique in its mapping)")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing a mapping that repeats a key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:   # its own keys: those of a ``<<`` merge may be overridden
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:   # an unhashable key: SafeLoader's own error follows
                continue
            if first is not None:
                raise _DuplicateKey(str(key), first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _instrument_spec(where: str, name: str, entry: Any, overlay: Any,
                     simulated: bool = False) -> InstrumentSpec:
    entry = _mapping(where, name, None, entry)
    _check_keys(where, name, None, entry, _INSTRUMENT_KEYS)
    merged = dict(entry)
    if overlay is not None:
        overlay = _mapping(where, name, "profile settings", overlay)
        _check_keys(where, name, None, overlay, _PROFILE_INSTRUMENT_KEYS)
        for key, value in overlay.items():
            if key in ("init", "parameters", "safety_limits") and isinstance(
                    merged.get(key), dict) and isinstance(value, dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    if merged.get("remote") is not None:
        return _remote_spec(where, name, merged)
    driver = _driver_class(where, name, merged.get("type"))
    if "init" in merged and merged["init"] is not None:
        _mapping(where, name, "init", merged["init"])
    if _needs_address(driver) and not merged.get("address") and not simulated:
        raise StationError(where, "no address for this profile (give 'address' in the "
                                  "instrument or in the profile's settings for it)",
                           instrument=name, key="address")
    if "address" in merged and not isinstance(merged["address"], str):
        raise StationError(where, f"address must be a VISA resource string, not "
                                  f"{merged['address']!r}", instrument=name, key="address")
    for key in ("node", "role"):
        if key in merged and not isinstance(merged[key], str):
            raise StationError(where, f"must be a name, not {merged[key]!r}",
                               instrument=name, key=key)
    limits = _safety_limits(where, name, merged.get("safety_limits", {}))
    wiring = _mapping(where, name, "wiring", merged.get("wiring") or {})
    adapter = (_class_by_path(where, name, "adapter", merged["adapter"])
               if merged.get("adapter") is not None else None)
    qcodes_config = {key: value for key, value in merged.items() if key in _QCODES_KEYS}
    return InstrumentSpec(name=name, driver=driver, qcodes_config=qcodes_config,
                          node=merged.get("node"), role=merged.get("role"),
                          safety_limits=limits, wiring=dict(wiring), adapter=adapter)


def _remote_spec(where: str, name: str, merged: dict[str, Any]) -> InstrumentSpec:
    """An instrument served by a node: its address (and keys), node, role, wiring."""
    for key in _LOCAL_ONLY_KEYS:
        if merged.get(key) is not None:
            raise StationError(where, "a remote instrument is configured in its node's "
                                      f"station file, not here (remove '{key}')",
                               instrument=name, key=key)
    try:
        remote = parse_remote(merged["remote"], Path(where).parent)
    except BadRemote as error:
        key = f"remote.{error.subkey}" if error.subkey else "remote"
        raise StationError(where, str(error), instrument=name, key=key) from None
    from labctl.remote.proxy import RemoteInstrument

    driver = (_driver_class(where, name, merged["type"]) if merged.get("type") is not None
              else RemoteInstrument)
    adapter = (_class_by_path(where, name, "adapter", merged["adapter"])
               if merged.get("adapter") is not None else None)
    for key in ("node", "role"):
        if key in merged and not isinstance(merged[key], str):
            raise StationError(where, f"must be a name, not {merged[key]!r}",
                               instrument=name, key=key)
    wiring = _mapping(where, name, "wiring", merged.get("wiring") or {})
    return InstrumentSpec(name=name, driver=driver, qcodes_config={"address": remote.address},
                          node=merged.get("node"), role=merged.get("role"),
                          wiring=dict(wiring), remote=remote, adapter=adapter)


def _connect_nodes(spec: StationSpec) -> RemoteNodes | None:
    """Say hello to every node serving this station (None if it has no remote instruments)."""
    remotes = [s for s in spec.instruments if s.remote is not None]
    if not remotes:
        return None
    from labctl.remote.nodes import RemoteNodes

    nodes = RemoteNodes()
    try:
        for instrument in remotes:
            assert instrument.remote is not None
            try:
                nodes.client(instrument.remote)
            except (LabctlError, OSError) as error:   # unreachable, refused, bad key file
                raise StationError(str(spec.path), str(error), instrument=instrument.name,
                                   key="remote") from None
    except BaseException:
        nodes.close()
        raise
    return nodes


def _node_clock(spec: StationSpec, nodes: RemoteNodes) -> Clock | None:
    """The nodes' virtual clock when they run on a simulator, else None (wall clock)."""
    try:
        return nodes.clock()
    except RemoteError as error:
        raise StationError(str(spec.path), str(error), key="remote") from None


def _driver_class(where: str, name: str, type_path: Any) -> type[Instrument]:
    if type_path is None:
        raise StationError(where, "missing the driver class ('type: package.module.Class')",
                           instrument=name, key="type")
    driver = _class_by_path(where, name, "type", type_path)
    if not issubclass(driver, Instrument):
        raise StationError(where, f"'{type_path}' is not a QCoDeS instrument class",
                           instrument=name, key="type")
    return driver


def _class_by_path(where: str, name: str, key: str, type_path: Any) -> type:
    """Import ``package.module.Class`` for ``key`` (``type`` or ``adapter``)."""
    what = "instrument type" if key == "type" else key
    if not isinstance(type_path, str) or "." not in type_path:
        raise StationError(where, f"'{type_path}' is not an import path of the form "
                                  "package.module.Class", instrument=name, key=key)
    module_name, _, class_name = type_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise StationError(where, f"unknown {what} '{type_path}': cannot import "
                                  f"'{module_name}' ({error})",
                           instrument=name, key=key) from None
    found = getattr(module, class_name, None)
    if found is None:
        public = [n for n in vars(module) if not n.startswith("_")]
        raise StationError(where, f"unknown {what} '{type_path}': module "
                                  f"'{module_name}' has no '{class_name}'"
                                  + _suggest(class_name, public),
                           instrument=name, key=key)
    if not isinstance(found, type):
        kind = "a QCoDeS instrument class" if key == "type" else "a class"
        raise StationError(where, f"'{type_path}' is not {kind}", instrument=name, key=key)
    return found


def _check_role(where: str, spec: InstrumentSpec) -> None:
    """The instrument provides its role's capability, and its wiring suits the role."""
    role = ROLES.get(spec.role or "")
    if role is None:
        return   # a role labctl does not define: experiments check what they ask of it
    try:
        role.wiring(spec.name, spec.wiring)
    except (TypeError, ValueError) as error:
        raise StationError(where, f"wiring for role '{spec.role}': {error}",
                           instrument=spec.name, key="wiring") from None
    if spec.remote is not None and spec.adapter is None and \
            spec.driver.__name__ == "RemoteInstrument":
        return   # no driver named: checked when the node describes what it serves
    provider = spec.capability_class
    missing = missing_members(provider, role.capability)
    if missing:
        via = "its adapter " if spec.adapter is not None else ""
        hint = "" if spec.adapter is not None else " (name an adapter with 'adapter:')"
        raise StationError(where, f"role '{spec.role}' needs {role.description} "
                                  f"({role.capability.__name__}); {via}{provider.__name__} "
                                  f"lacks {', '.join(missing)}{hint}",
                           instrument=spec.name, key="adapter" if spec.adapter else "role")



def _needs_address(driver: type[Instrument]) -> bool:
    from qcodes.instrument import VisaInstrument

    return issubclass(driver, VisaInstrument)


def _safety_limits(where: str, name: str, raw: Any) -> tuple[SafetyLimit, ...]:
    raw = _mapping(where, name, "safety_limits", raw if raw is not None else {})
    limits = []
    for parameter, value in raw.items():
        key = f"safety_limits.{parameter}"
        lower, upper = _limit_bounds(where, name, key, value)
        if lower is not None and upper is not None and lower > upper:
            raise StationError(where, f"minimum {lower} is above maximum {upper}",
                               instrument=name, key=key)
        limits.append(SafetyLimit(str(parameter), lower, upper))
    return tuple(limits)


def _limit_bounds(where: str, name: str, key: str,
                  value: Any) -> tuple[float | None, float | None]:
    """Accept ``[min, max]`` or ``{min: .., max: ..}``; each bound a real number."""
    if isinstance(value, list) and len(value) == 2:
        bounds = value
    elif isinstance(value, dict) and value and set(value) <= {"min", "max"}:
        bounds = [value.get("min"), value.get("max")]
    else:
        raise StationError(where, f"a safety limit is [min, max] or {{min: .., max: ..}}, "
                                  f"not {value!r}", instrument=name, key=key)
    checked: list[float | None] = []
    for bound in bounds:
        if bound is None:
            checked.append(None)
        elif isinstance(bound, bool) or not isinstance(bound, int | float):
            raise StationError(where, f"limit {bound!r} is not a number",
                               instrument=name, key=key)
        elif math.isnan(bound):
            raise StationError(where, "limit is NaN", instrument=name, key=key)
        else:
            checked.append(float(bound))
    return checked[0], checked[1]


def _check_unique_roles(where: str, specs: tuple[InstrumentSpec, ...]) -> None:
    seen: dict[tuple[str | None, str], str] = {}
    for spec in specs:
        if spec.role is None:
            continue
        key = (spec.node, spec.role)
        if key in seen:
            at = f" at node '{spec.node}'" if spec.node else ""
            raise StationError(where, f"role '{spec.role}'{at} is already played by "
                                      f"'{seen[key]}'", instrument=spec.name, key="role")
        seen[key] = spec.name


def connect_instrument(station: LabStation, spec: InstrumentSpec) -> None:
    """Create one instrument of an `open_station` through QCoDeS; apply its safety limits."""
    where = str(station.spec.path)
    if spec.remote is not None:
        _connect_remote(station, spec)
        return
    # Some QCoDeS drivers print a connect message; keep stdout clean for --json.
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            instrument = station.load_instrument(spec.name, update_snapshot=False)
    except LabctlError:
        raise
    except Exception as error:  # any driver/VISA failure: one line
        reason = _one_line(error)
        raise StationError(where, f"cannot connect to {spec.qcodes_config.get('address')!r} "
                                  f"with {spec.driver.__name__}: {reason}",
                           instrument=spec.name, key="address") from error
    if captured.getvalue().strip():
        log.info("%s: %s", spec.name, captured.getvalue().strip())
    for limit in spec.safety_limits:
        parameter = _find_parameter(where, spec.name, instrument, limit.parameter)
        try:
            narrow_to_limits(parameter, limit.lower, limit.upper)
        except SafetyLimitError as error:
            raise StationError(where, str(error), instrument=spec.name,
                               key=f"safety_limits.{limit.parameter}") from None


def _connect_remote(station: LabStation, spec: InstrumentSpec) -> None:
    """Add the proxy of an instrument a node serves (checking its driver if one is named)."""
    where = str(station.spec.path)
    assert station.remote is not None and spec.remote is not None
    try:
        proxy = station.remote.proxy(spec.name, spec.remote)
    except RemoteError as error:
        raise StationError(where, str(error), instrument=spec.name, key="remote") from None
    except KeyError as error:   # QCoDeS: an instrument of that name is open in this process
        raise StationError(where, _one_line(error), instrument=spec.name,
                           key="remote") from None
    station.add_component(proxy)
    declared = f"{spec.driver.__module__}.{spec.driver.__qualname__}"
    from labctl.remote.proxy import RemoteInstrument

    if spec.driver is not RemoteInstrument and proxy.remote_class != declared:
        raise StationError(where, f"the node serves a {proxy.remote_class}, not the "
                                  f"{declared} this file names", instrument=spec.name,
                           key="type")
    role = ROLES.get(spec.role or "")
    if role is not None and spec.adapter is None:
        served = proxy.served_capability
        missing = [name for name in protocol_members(role.capability)
                   if not callable(getattr(served, name, None))]
        if missing:
            raise StationError(where, f"role '{spec.role}' needs {role.description} "
                                      f"({role.capability.__name__}); the node serves "
                                      f"{proxy.remote_class} without {', '.join(missing)}",
                               instrument=spec.name, key="role")


def _find_parameter(where: str, name: str, instrument: InstrumentBase,
                    dotted: str) -> ParameterBase:
    """Resolve ``ch1.bias_current``-style names through submodules to a parameter."""
    node: InstrumentBase = instrument
    *path, leaf = dotted.split(".")
    for part in path:
        child = node.submodules.get(part)
        if not isinstance(child, InstrumentBase):
            raise StationError(where, f"the instrument has no channel or submodule '{part}'"
                                      + _suggest(part, node.submodules),
                               instrument=name, key=f"safety_limits.{dotted}")
        node = child
    if leaf not in node.parameters:
        raise StationError(where, f"the instrument has no parameter '{leaf}'"
                                  + _suggest(leaf, node.parameters),
                           instrument=name, key=f"safety_limits.{dotted}")
    return node.parameters[leaf]


def _mapping(where: str, instrument: str | None, key: str | None,
             value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        what = f"'{key}'" if key else "an instrument entry"
        raise StationError(where, f"{what} must be a mapping, not {type(value).__name__}",
                           instrument=instrument, key=key)
    return value


def _check_keys(where: str, instrument: str | None, section: str | None,
                mapping: Mapping[str, Any], allowed: set[str]) -> None:
    for key in mapping:
        if key not in allowed:
            full_key = f"{section}.{key}" if section else str(key)
            raise StationError(where, "unknown key" + _suggest(str(key), allowed),
                               instrument=instrument, key=full_key)


def _suggest(word: str, choices: Iterator[str] | Mapping[str, Any] | set[str] | list[str]
             ) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _one_line(error: BaseException) -> str:
    """The first, own message of an error (QCoDeS appends context to ``args``)."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error.args[0]) if error.args else type(error).__name__
    return " ".join(text.split()) or type(error).__name__
