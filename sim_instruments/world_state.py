"""The settings of every simulated instrument: what emulators write and the physics reads.

One `WorldState` holds the whole virtual lab: per node (``node_a``,
``node_b``, ...) its excitation laser, AWG, microwave source, frequency
converter; at the heralding station the SNSPDs, the time tagger and the
phase-reference laser; the virtual clock and the injected faults. Emulators
mutate these plain objects under `WorldState.lock`; `sim_instruments.world`
turns them into physics. Units are those of the instrument's front panel
where the name says so (``_nm``, ``_dbm``, ``_c``, ``_ps``), SI otherwise.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: Work scheduled this close after the clock's time is due (float sums of block
#: lengths land within a fraction of a picosecond of a record's end), s.
DUE_SLACK_S = 0.5e-12
#: Ambient temperature a switched-off oven relaxes to, °C.
AMBIENT_C = 25.0


class VirtualClock:
    """The virtual lab's time, s. Advances only when told to (never by itself).

    Work a unit does at a moment of virtual time (the tags of a record that ends
    then) is scheduled with `at` and done inside the `advance` that reaches that
    moment. Waiting on the station clock is what costs time, as in the lab: once
    the clock says a record is over, its data is there, and no driver request
    waits on the virtual lab's computing (a real unit's ``*OPC?`` semantics).
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()
        self._due: list[tuple[float, int, Callable[[], object]]] = []
        self._scheduled = itertools.count()

    def now(self) -> float:
        with self._lock:
            return self._now

    def at(self, moment: float, work: Callable[[], object]) -> None:
        """Do ``work`` once the clock reaches ``moment`` (at once if it has)."""
        with self._lock:
            heapq.heappush(self._due, (moment, next(self._scheduled), work))
        self._do_due()

    def advance(self, seconds: float) -> float:
        """Let ``seconds`` of virtual time pass, doing the work due by then; the new time."""
        if not seconds >= 0:
            raise ValueError(f"cannot advance the clock by {seconds!r} s")
        with self._lock:
            self._now += seconds
            now = self._now
        self._do_due()
        return now

    def sleep(self, seconds: float) -> None:
        """`labctl.clock.Clock` protocol: waiting is advancing."""
        self.advance(seconds)

    def _do_due(self) -> None:
        """Work due by now, in the order of its moments (outside the clock's own lock:
        the work reads the clock). A failure is the unit's to report when asked: the
        work is redone then, and fails there with the unit's own error."""
        while True:
            with self._lock:
                if not self._due or self._due[0][0] > self._now + DUE_SLACK_S:
                    return
                _, _, work = heapq.heappop(self._due)
            try:
                work()
            except Exception:
                log.debug("virtual lab: work due at %.6f s failed", self._now, exc_info=True)


FaultKind = Literal["latency", "drop", "garbage", "silent", "unlock", "latch"]
FAULT_KINDS: tuple[FaultKind, ...] = ("latency", "drop", "garbage", "silent", "unlock", "latch")


@dataclass
class Fault:
    """One injected fault: ``latency`` (value: seconds per reply), ``drop`` (close the
    connection), ``garbage`` (reply with noise), ``silent`` (stop answering),
    ``unlock`` (a laser loses its lock), ``latch`` (value: SNSPD channel that latches)."""

    kind: FaultKind
    value: float = 0.0


@dataclass
class LaserState:
    """A tunable CW laser (TLB-6700 or TSL-570)."""

    wavelength_nm: float = 637.0
    power_w: float = 0.0
    emission: bool = False
    constant_power: bool = True
    piezo_percent: float = 50.0
    tracking: bool = False
    locked: bool = True

    def actual_power(self) -> float:
        return self.power_w if self.emission else 0.0


@dataclass
class AwgChannelState:
    amplitude_vpp: float = 1.0
    offset_v: float = 0.0
    output: bool = False
    waveform: str = ""
    marker_high_v: list[float] = field(default_factory=lambda: [1.0, 1.0])
    marker_low_v: list[float] = field(default_factory=lambda: [0.0, 0.0])


@dataclass
class AwgWaveform:
    """An uploaded waveform, decoded from the AWG5014C integer format."""

    analog: NDArray[np.float64]      # normalised to [-1, 1]
    marker1: NDArray[np.bool_]
    marker2: NDArray[np.bool_]


@dataclass
class SequenceElementState:
    waveforms: list[str] = field(default_factory=lambda: ["", "", "", ""])
    loop_count: int = 1
    infinite: bool = False
    wait_for_trigger: bool = False
    jump_target: str = "NEXT"      # "NEXT", "OFF" or an index as text
    goto_enabled: bool = False
    goto_index: int = 1


@dataclass
class AwgState:
    """A four-channel AWG with markers (AWG5014C)."""

    sample_rate: float = 1.2e9
    run_mode: Literal["continuous", "triggered", "sequence"] = "continuous"
    running: bool = False
    channels: list[AwgChannelState] = field(
        default_factory=lambda: [AwgChannelState() for _ in range(4)])
    waveforms: dict[str, AwgWaveform] = field(default_factory=dict)
    sequence: list[SequenceElementState] = field(default_factory=list)
    #: "EJUMP": an event jumps to the playing element's own target; "DJUMP": to the
    #: dynamic-jump table's target for the pattern on the rear EVENT IN pins.
    jump_mode: Literal["EJUMP", "DJUMP"] = "EJUMP"
    jump_table: dict[int, int] = field(default_factory=dict)   # pattern -> element, 1-based


@dataclass
class MicrowaveState:
    """A vector microwave source (SGS100A); ``other`` keeps the remaining settings."""

    frequency_hz: float = 1e9
    power_dbm: float = -30.0
    output: bool = False
    iq_modulation: bool = False
    phase_deg: float = 0.0
    other: dict[str, str] = field(default_factory=dict)


@dataclass
class ConverterState:
    """A PPLN frequency converter: pump laser and temperature-controlled oven.

    The oven follows its setpoint with a first-order lag (``time_constant_s``)
    while the heater is on and relaxes to ambient when it is off.
    """

    pump_power_w: float = 0.0
    pump_emission: bool = False
    oven_setpoint_c: float = 65.0
    oven_heater: bool = False
    time_constant_s: float = 20.0
    _temperature_c: float = AMBIENT_C
    _updated_at: float = 0.0

    def temperature_c(self, now: float) -> float:
        target = self.oven_setpoint_c if self.oven_heater else AMBIENT_C
        elapsed = max(now - self._updated_at, 0.0)
        return target + (self._temperature_c - target) * float(
            np.exp(-elapsed / self.time_constant_s))

    def settle(self, now: float) -> None:
        """Record the temperature reached by ``now`` before a setting changes."""
        self._temperature_c = self.temperature_c(now)
        self._updated_at = now

    def actual_pump_power(self) -> float:
        return self.pump_power_w if self.pump_emission else 0.0


@dataclass
class SnspdChannelState:
    bias_a: float = 0.0
    enabled: bool = False
    latched: bool = False
    auto_reset: bool = True
    reset_duration_s: float = 0.1


@dataclass
class TaggerInputState:
    """One time-tagger input as the world sees it, whoever makes the tagger."""

    #: its tags reach the recorded stream
    recorded: bool = False
    delay_ps: int = 0
    #: the tagger's own dead time on this input (the detectors have theirs)
    dead_time_ps: int = 0


@dataclass
class TaggerState:
    """What a time tagger does with its inputs, in vendor-neutral terms.

    Each tagger emulator keeps its own settings in its own words (an ID1000's
    delay blocks and window filters, a Swabian tagger's conditional filter) and
    writes their effect here; `sim_instruments.acquisition` records from this.
    """

    n_inputs: int = 4
    inputs: list[TaggerInputState] = field(default_factory=list)
    #: conditional filter in hardware: (sync input, trigger inputs); the sync is
    #: recorded only for attempts with a click (None: every sync is recorded)
    sync_filter: tuple[int, tuple[int, ...]] | None = None
    #: hardware gates: input -> (gate input, window ps); the input is recorded only
    #: within the window after each gate tag
    gates: dict[int, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.inputs:
            self.inputs = [TaggerInputState() for _ in range(self.n_inputs)]

    def input(self, number: int) -> TaggerInputState | None:
        """Input ``number`` (1-based), None if the tagger has no such input."""
        return self.inputs[number - 1] if 1 <= number <= len(self.inputs) else None


@dataclass
class NodeState:
    """One quantum-network node's instruments."""

    name: str
    laser: LaserState = field(default_factory=LaserState)
    awg: AwgState = field(default_factory=AwgState)
    microwave: MicrowaveState = field(default_factory=MicrowaveState)
    converter: ConverterState = field(default_factory=ConverterState)


@dataclass
class HeraldingState:
    """The midpoint station: detectors, time tagger, phase-reference laser."""

    snspd: list[SnspdChannelState] = field(
        default_factory=lambda: [SnspdChannelState() for _ in range(4)])
    tagger: TaggerState = field(default_factory=TaggerState)
    reference_laser: LaserState = field(
        default_factory=lambda: LaserState(wavelength_nm=1588.0))


@dataclass
class WorldState:
    """Everything the emulators share; mutate only while holding `lock`."""

    nodes: dict[str, NodeState]
    heralding: HeraldingState = field(default_factory=HeraldingState)
    clock: VirtualClock = field(default_factory=VirtualClock)
    faults: dict[str, Fault] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
