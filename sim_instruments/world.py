"""The virtual lab's physics: instrument settings in, link parameters and count rates out.

`World` reads the `WorldState` the emulators write and computes, with
`labctl.physics`, what the hardware would do now:

- per node, from its decoded AWG program (`sequence_decoder`): the
  microwave rotation before the excitation pulse sets the bright-state
  population α (`spin`), the excitation marker gates the excitation laser,
  whose power (a Rabi-like saturation) and detuning from the emitter's line
  set the excitation probability;
- each node's photons are converted (oven temperature and pump power of its
  converter), travel the fibre, and reach the SNSPDs, whose bias sets
  efficiency and dark counts; the converters' pump adds noise photons;
- the detection window (node A's window marker, which the heralding station
  uses) keeps the part of each photon's exponential decay that falls inside
  it; a mismatch between the nodes' photon arrival times lowers the
  two-photon visibility as exp(-|Δt|/τ);
- the single-click phase is stabilised only while the phase-reference laser
  is on and locked;
- an attempt element with two excitation pulses and two detection windows
  is a Barrett–Kok attempt (Barrett & Kok, PRA 71, 060310(R) (2005)), its
  windows the two rounds; the microwave pulses between the excitations are
  decoded into the rotation angle the link model applies between the rounds
  (π for a perfect π pulse; a weaker or missing pulse leaves the spins
  partly unflipped and the fidelity falls smoothly with the error);
- each node's spin dephases (quasi-static Gaussian detuning, T2* of the
  world's memory) for its net free-precession time from its preparation
  pulse to the readout's basis rotation after a herald, π pulses between
  reversing the sign (an echo); the link model scales its coherences by
  exp(−(τ/T2*)²) (`labctl.physics.link`); the attempt element's pulses
  after its last excitation (an echo) act on the heralded state before the
  readout element's, so they turn the measured direction too.

The result is a `LinkSetting`: `labctl.physics.link.LinkParameters` plus the
timing the sampler needs and the attempt schedule.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from labctl.physics import checks
from labctl.physics.detector import Detector
from labctl.physics.emitter import Emitter, Readout
from labctl.physics.link import LinkParameters
from labctl.physics.memory import Memory
from labctl.physics.optics import Fibre, FrequencyConverter
from labctl.physics.presets import preset
from labctl.physics.sampling import Timing, window_fraction
from labctl.pulses.wiring import AwgWiring
from sim_instruments.sequence_decoder import DecodedElement, DecodedSequence, decode
from sim_instruments.spin import IDENTITY, bright_population, drive_unitary, measured_direction
from sim_instruments.world_state import LaserState, NodeState, WorldState

#: A microwave pulse leaving less than this of the initial population in place
#: counts as a spin flip (an echo) when timing the free precession.
_FLIP_POPULATION = 0.25

#: Planck constant times speed of light, J m.
_HC = 6.62607015e-34 * 2.99792458e8
#: rms optical phase of an unstabilised interferometer, rad (effectively random).
UNSTABILISED_PHASE_NOISE = 3.0


@dataclass(frozen=True)
class WorldConfig:
    """Physical constants of the simulated link (the station's ``world:`` section)."""

    #: link physics defaults: V 0.9, σ_φ 15°, p_double 0.04, 5.5 µs reset (Humphreys et al.,
    #: Nature 558, 268 (2018) and SI; `labctl.physics.presets`)
    preset: str = "nv-short"
    #: override the preset's two-photon visibility / residual phase noise (degrees rms)
    visibility: float | None = None
    phase_noise_deg: float | None = None
    #: ZPL fraction 3 % (Humphreys 2018 SI); collection 15 %: labctl's assumption
    emitter: Emitter = field(
        default_factory=lambda: Emitter(zpl_fraction=0.03, collection_efficiency=0.15))
    #: the NV⁻ zero-phonon line, 637.2 nm (Doherty et al., Phys. Rep. 528, 1 (2013))
    emitter_wavelength_nm: float = 637.22
    #: lifetime-limited ~13 MHz broadened by spectral diffusion: labctl's assumption
    emitter_linewidth_hz: float = 100e6
    #: the optical π pulse, 1 mW for 2 ns: labctl's assumption
    excitation_pi_power_w: float = 1e-3
    excitation_pi_duration_s: float = 2e-9
    #: SNSPDs: > 90 % efficiency, ~1 Hz dark, 50 ps jitter (physics.md section 5)
    detector: Detector = field(default_factory=Detector)
    #: 637 → 1588 nm PPLN conversion, 17 % at full pump (Dréau et al., PR Applied 9, 064031
    #: (2018)); the 65 °C phase-matching point and the pump noise: labctl's assumptions
    converter: FrequencyConverter = field(
        default_factory=lambda: FrequencyConverter(phase_matching_temperature_c=65.0))
    converted_wavelength_nm: float = 1588.0
    #: the 2 m link of Humphreys 2018; 0.2 dB/km at 1588 nm (the review's telecom figure)
    fibre_km: float = 0.002
    fibre_loss_db_per_km: float = 0.2
    #: emitter-to-detector optical delay and per-path extra delays: labctl's assumptions
    optical_delay_s: float = 20e-9
    path_delay_s: dict[str, float] = field(default_factory=dict)
    #: NV ground-state zero-field splitting D = 2.87 GHz (Doherty 2013), 2.878 GHz here for
    #: a small bias field; 10 MHz Rabi at 10 dBm: labctl's assumption
    spin_frequency_hz: float = 2.878e9
    rabi_hz_at_reference: float = 10e6
    rabi_reference_dbm: float = 10.0
    #: single-shot readout F0 0.950, F1 0.995 (Humphreys 2018) as Poisson photon means
    readout_photons_bright: float = -math.log(1 - 0.95)
    readout_photons_dark: float = -math.log(0.995)
    #: phase-reference light reaching the detectors: labctl's assumption
    reference_photon_fraction: float = 1e-13
    #: T2* 5 µs, echo T 1 ms, n 3 (Abobeih et al., Nat. Commun. 9, 2552 (2018)); 5e-4
    #: dephasing per attempt: labctl's assumption, N_1/e ≈ 1000 (the order physics.md gives
    #: for a ¹³C memory: > 1000 attempts, Reiserer et al., PRX 6, 021040 (2016); Kalb 2018)
    memory: Memory = field(default_factory=lambda: Memory(
        t2_star=5e-6, coherence_time=1e-3, decoupling_exponent=3.0,
        dephasing_per_attempt=5e-4))
    #: any fixed number: a reproducible world
    seed: int = 20180613

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> WorldConfig:
        """From the station file's ``world:`` section; `ValueError` names the bad key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(mapping) - known
        if unknown:
            raise ValueError(f"unknown world key(s): {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(known))})")
        defaults = cls()
        values = dict(mapping)
        for name in _NESTED:
            if name in values:
                nested = values[name]
                if not isinstance(nested, dict):
                    raise ValueError(f"{name} must be a mapping of its parameters, "
                                     f"not {nested!r}")
                _check_numbers(getattr(defaults, name), nested, f"{name}.")
                try:
                    values[name] = dataclasses.replace(getattr(defaults, name), **nested)
                except TypeError:   # a key the parameter set does not have
                    fields = sorted(f.name for f in dataclasses.fields(getattr(defaults, name)))
                    raise ValueError(f"{name}: unknown key(s) "
                                     f"{', '.join(sorted(set(nested) - set(fields)))} "
                                     f"(known: {', '.join(fields)})") from None
        _check_numbers(defaults, {k: v for k, v in values.items() if k not in _NESTED}, "")
        config = cls(**values)
        config._check()
        return config

    def _check(self) -> None:
        """Ranges of the link's own constants (the parameter sets check theirs)."""
        if not isinstance(self.preset, str):
            raise ValueError(f"preset must be a name, not {self.preset!r}")
        preset(self.preset)  # refuses unknown presets
        if self.visibility is not None:
            _check_number("visibility", self.visibility)
            checks.probability("visibility", self.visibility)
        if self.phase_noise_deg is not None:
            _check_number("phase_noise_deg", self.phase_noise_deg)
            checks.non_negative("phase_noise_deg", self.phase_noise_deg)
        for name in ("fibre_km", "fibre_loss_db_per_km", "optical_delay_s",
                     "readout_photons_bright", "readout_photons_dark"):
            checks.non_negative(name, getattr(self, name))
        for name in ("emitter_wavelength_nm", "emitter_linewidth_hz", "excitation_pi_power_w",
                     "excitation_pi_duration_s", "converted_wavelength_nm",
                     "spin_frequency_hz", "rabi_hz_at_reference"):
            checks.positive(name, getattr(self, name))
        checks.finite("rabi_reference_dbm", self.rabi_reference_dbm)
        checks.probability("reference_photon_fraction", self.reference_photon_fraction)
        if not isinstance(self.path_delay_s, dict):
            raise ValueError(f"path_delay_s must map paths to seconds, not {self.path_delay_s!r}")
        for path, delay in self.path_delay_s.items():
            _check_number(f"path_delay_s.{path}", delay)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or \
                not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be an integer within [0, 2**64), got {self.seed!r}")

    @property
    def readout(self) -> Readout:
        """Spin-readout fidelities implied by the photon numbers (≥ 1 photon = bright)."""
        return Readout(1 - math.exp(-self.readout_photons_bright),
                       math.exp(-self.readout_photons_dark))


#: The ``world:`` keys that are whole parameter sets (a mapping of their fields).
_NESTED = ("emitter", "detector", "converter", "memory")


def _check_number(key: str, value: Any) -> None:
    """A real, finite number (not a bool, not a string of digits)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, not {value!r}")
    checks.finite(key, value)


def _check_numbers(defaults: Any, values: dict[str, Any], prefix: str) -> None:
    """Each value given for a field whose default is a float must be a finite number."""
    for key, value in values.items():
        if isinstance(getattr(defaults, key, None), float) and value is not None:
            _check_number(f"{prefix}{key}", value)


@dataclass(frozen=True)
class NodeOptics:
    """What one node contributes to an attempt."""

    alpha: float
    eta: float                 # emitter to detector, fibre excluded, window included
    arrival: float             # photon arrival, s from the element start
    excited: bool


@dataclass(frozen=True)
class LinkSetting:
    """The link as the instruments are set now: model parameters, timing, schedule."""

    params: LinkParameters
    timing: Timing
    attempt_element: DecodedElement
    window_open: float
    nodes: tuple[str, str]
    readout_element: DecodedElement | None
    #: per node: the measured direction (3,), or with random settings one per
    #: setting bit (2, 3)
    readout_directions: tuple[np.ndarray, np.ndarray] | None
    #: are the readout bases chosen per herald by each node's random bit?
    random_settings: bool = False


class World:
    """Physics of the whole virtual lab over a shared `WorldState`."""

    def __init__(self, state: WorldState, config: WorldConfig,
                 wirings: dict[str, AwgWiring] | None = None,
                 tagger_inputs: dict[str, int] | None = None,
                 detector_channels: dict[str, int] | None = None) -> None:
        self.state = state
        self.config = config
        self.wirings = wirings or {}
        #: tagger input of each signal, by the names of the tagger's wiring
        self.tagger_inputs = tagger_inputs or {}
        #: SNSPD channel (1-based) of each heralding detector, from the SNSPD's wiring
        self.detector_channels = detector_channels or {"herald_plus": 1, "herald_minus": 2}
        self.rng = np.random.default_rng(config.seed)
        self._node_rngs: dict[str, np.random.Generator] = {}

    # --- per-node pieces ---------------------------------------------------

    def node_rng(self, node: str) -> np.random.Generator:
        """The random stream of one node's own shots (its spin readout without a herald):
        reproducible from the seed, and independent of every other node's, so that the
        same scan on two nodes measures two memories, not one twice."""
        rng = self._node_rngs.get(node)
        if rng is None:
            index = list(self.state.nodes).index(node) + 1
            rng = self._node_rngs[node] = np.random.default_rng([self.config.seed, index])
        return rng

    def sequence(self, node: str) -> DecodedSequence:
        return decode(self.state.nodes[node].awg, self.wirings.get(node, AwgWiring()))

    def rabi_hz(self, node: NodeState) -> float:
        """Rabi frequency at full-scale I/Q, 0 when the microwave output is off."""
        mw = node.microwave
        if not mw.output:
            return 0.0
        return self.config.rabi_hz_at_reference * 10 ** (
            (mw.power_dbm - self.config.rabi_reference_dbm) / 20)

    def spin_detuning_hz(self, node: NodeState) -> float:
        return self.config.spin_frequency_hz - node.microwave.frequency_hz

    def rotation_before(self, node: NodeState, element: DecodedElement, time: float) -> Any:
        """The product of the element's microwave pulses that end before ``time``."""
        unitary = IDENTITY
        rabi = self.rabi_hz(node)
        if rabi == 0.0:
            return unitary
        for drive in element.drives:
            if drive.stop <= time + 1e-12:
                unitary = drive_unitary(drive, rabi, self.spin_detuning_hz(node)) @ unitary
        return unitary

    def bright_population(self, node: NodeState, element: DecodedElement, time: float) -> float:
        """α: P(bright) at ``time`` after optical pumping to bright and the element's pulses.

        With the microwave output on but I/Q modulation off the source drives
        continuously and scrambles the spin: α = 1/2.
        """
        if node.microwave.output and not node.microwave.iq_modulation:
            return 0.5
        return bright_population(self.rotation_before(node, element, time))

    def laser_detuning_hz(self, laser: LaserState) -> float:
        wavelength = self.actual_wavelength_nm(laser) * 1e-9
        target = self.config.emitter_wavelength_nm * 1e-9
        return 2.99792458e8 * abs(1 / wavelength - 1 / target)

    def actual_wavelength_nm(self, laser: LaserState) -> float:
        return laser.wavelength_nm if laser.locked else laser.wavelength_nm + 0.05

    def excitation_probability(self, laser: LaserState, pulse_duration: float) -> float:
        """An optical Rabi pulse: sin²(area/2), area = π at the π power and duration,
        reduced by the laser's detuning from the emitter line (Lorentzian)."""
        power = laser.actual_power()
        if power <= 0 or pulse_duration <= 0:
            return 0.0
        area = math.pi * math.sqrt(power / self.config.excitation_pi_power_w) * (
            pulse_duration / self.config.excitation_pi_duration_s)
        detuning = self.laser_detuning_hz(laser) / (self.config.emitter_linewidth_hz / 2)
        return math.sin(area / 2) ** 2 / (1 + detuning**2)

    def conversion(self, node: NodeState) -> float:
        converter = node.converter
        return self.config.converter.efficiency(converter.temperature_c(self.state.clock.now()),
                                                converter.actual_pump_power())

    def herald_detectors(self) -> list[Detector]:
        """The two heralding SNSPDs (+, −) at their present bias (zero efficiency when off)."""
        return [self.detector_at(index) for index in range(2)]

    def herald_channel(self, index: int) -> int | None:
        """The SNSPD channel (0-based) of heralding detector ``index`` (0: +, 1: −)."""
        name = ("herald_plus", "herald_minus")[index]
        channel = self.detector_channels.get(name)
        return channel - 1 if channel is not None else None

    def detector_at(self, index: int) -> Detector:
        """Heralding detector ``index`` (0: +, 1: −); zero bias when not wired, off or latched."""
        channel = self.herald_channel(index)
        return self.snspd_channel(channel) if channel is not None else dataclasses.replace(
            self.config.detector, bias=0.0)

    def snspd_channel(self, channel: int) -> Detector:
        """SNSPD channel ``channel`` (0-based) as a detector at its present bias."""
        state = self.state.heralding.snspd[channel]
        bias = state.bias_a if state.enabled and not state.latched else 0.0
        return dataclasses.replace(self.config.detector, bias=bias)

    def noise_rate_per_detector(self) -> float:
        """Pump-induced noise photons reaching each heralding detector, before efficiency."""
        fibre = Fibre(self.config.fibre_km / 2, self.config.fibre_loss_db_per_km)
        total = sum(self.config.converter.noise_rate(node.converter.actual_pump_power())
                    for node in self.state.nodes.values())
        return total * fibre.transmission / 2

    def reference_flux_per_detector(self) -> float:
        """Phase-reference laser photons per second reaching each detector (filtered)."""
        laser = self.state.heralding.reference_laser
        power = laser.actual_power()
        if power <= 0:
            return 0.0
        wavelength = self.actual_wavelength_nm(laser) * 1e-9
        if abs(wavelength * 1e9 - self.config.converted_wavelength_nm) > 0.5:
            return 0.0  # outside the detection filter
        return power / (_HC / wavelength) * self.config.reference_photon_fraction / 2

    # --- the link ------------------------------------------------------------

    def attempt_element(self, sequence: DecodedSequence) -> DecodedElement | None:
        """The element that attempts entanglement: excitation pulses, repeated until a herald.

        An element with excitation pulses but a finite loop count (e.g.
        attempts applied while a memory stores a state) is part of a readout
        shot instead (`sim_instruments.spin_shots`).
        """
        return next((e for e in sequence.elements if e.excitations and e.loops == 0), None)

    def node_optics(self, name: str, element: DecodedElement | None,
                    window: tuple[float, float] | None) -> NodeOptics:
        node = self.state.nodes[name]
        if element is None or not element.excitations:
            return NodeOptics(0.0, 0.0, 0.0, False)
        pulse = element.excitations[0]
        alpha = self.bright_population(node, element, pulse.start)
        excitation = self.excitation_probability(node.laser, pulse.duration)
        arrival = pulse.start + self.config.optical_delay_s + self.config.path_delay_s.get(
            name, 0.0)
        detectors = self.herald_detectors()
        efficiency = float(np.mean([d.efficiency for d in detectors]))
        eta = (excitation * self.config.emitter.photon_efficiency * self.conversion(node)
               * efficiency)
        if window is not None:
            eta *= window_fraction(self.config.emitter.lifetime, arrival - window[0],
                                   window[1] - window[0])
        else:
            eta = 0.0
        return NodeOptics(alpha, min(eta, 1.0), arrival, excitation > 0)

    def link(self) -> LinkSetting | None:
        """The link as set up now, or None when no node runs an attempt sequence."""
        names = sorted(self.state.nodes)[:2]
        if len(names) < 2:
            return None
        sequences = [self.sequence(n) for n in names]
        elements = [self.attempt_element(s) for s in sequences]
        master = elements[0] if elements[0] is not None else elements[1]
        if master is None:
            return None
        window_pulse = master.windows[0] if master.windows else None
        window = (window_pulse.start, window_pulse.stop) if window_pulse else None
        optics = [self.node_optics(n, e, window) for n, e in zip(names, elements, strict=True)]
        base = preset(self.config.preset)
        lifetime = self.config.emitter.lifetime
        mismatch = abs(optics[0].arrival - optics[1].arrival) if all(
            o.excited for o in optics) else 0.0
        detectors = self.herald_detectors()
        dark = float(np.mean([d.dark_count_rate for d in detectors]))
        efficiency = float(np.mean([d.efficiency for d in detectors]))
        # the phase-reference light is time-multiplexed: off during detection windows
        dark += efficiency * self.noise_rate_per_detector()
        reference = self.state.heralding.reference_laser
        stabilised = reference.emission and reference.locked
        window_length = (window[1] - window[0]) if window else 0.0
        flips = self._flip_angles(names, elements)
        protocol: Literal["single-click", "barrett-kok"] = (
            "barrett-kok" if flips is not None else "single-click")
        readout = self._readout_after_herald(names, sequences, master)
        precession = [self._free_precession(name, element, master.duration, chosen)
                      for name, element, chosen in zip(names, elements, readout[3],
                                                       strict=True)]
        params = dataclasses.replace(
            base,
            protocol=protocol,
            alpha=optics[0].alpha, alpha_b=optics[1].alpha,
            eta_a=optics[0].eta, eta_b=optics[1].eta,
            visibility=self.visibility * math.exp(-mismatch / lifetime),
            phase_noise=self.phase_noise if stabilised else UNSTABILISED_PHASE_NOISE,
            dark_count_rate=dark,
            window=window_length,
            double_excitation=self.config.emitter.double_excitation,
            attempt_time=master.duration,
            fibre_km=self.config.fibre_km,
            fibre_loss_db_per_km=self.config.fibre_loss_db_per_km,
            wait_for_herald=False,
            flip_angle=flips[0] if flips else math.pi,
            flip_angle_b=flips[1] if flips else None,
            free_precession_a=precession[0], free_precession_b=precession[1],
            t2_star=self.config.memory.t2_star,
        )
        timing = Timing(lifetime=lifetime, jitter=self.config.detector.jitter,
                        emission_start=(optics[0].arrival - window[0]) if window else 0.0)
        return LinkSetting(params=params, timing=timing, attempt_element=master,
                           window_open=window[0] if window else 0.0, nodes=(names[0], names[1]),
                           readout_element=readout[0], readout_directions=readout[1],
                           random_settings=readout[2])

    def _flip_angles(self, names: list[str], elements: list[DecodedElement | None]
                     ) -> tuple[float, float] | None:
        """Barrett–Kok: each node's rotation angle between its two excitations, rad;
        None unless both nodes excite twice with two detection windows."""
        angles = []
        for name, element in zip(names, elements, strict=True):
            if element is None or len(element.excitations) < 2 or len(element.windows) < 2:
                return None
            node = self.state.nodes[name]
            first, second = element.excitations[:2]
            before = self.rotation_before(node, element, first.stop)
            between = self.rotation_before(node, element, second.start) @ before.conj().T
            angles.append(2.0 * math.acos(min(1.0, abs(between[0, 0]))))
        return angles[0], angles[1]

    def _after_last_excitation(self, node: NodeState, attempt: DecodedElement | None) -> Any:
        """The attempt element's microwave pulses after its last excitation (e.g. an echo):
        they act on the heralded state before the readout element's."""
        unitary = IDENTITY
        rabi = self.rabi_hz(node)
        if attempt is None or not attempt.excitations or rabi == 0.0:
            return unitary
        last = attempt.excitations[-1].stop
        for drive in attempt.drives:
            if drive.start >= last - 1e-12:
                unitary = drive_unitary(drive, rabi, self.spin_detuning_hz(node)) @ unitary
        return unitary

    def _free_precession(self, name: str, attempt: DecodedElement | None, period: float,
                         readout: DecodedElement | None) -> float:
        """Net free-precession time of a node's spin from its preparation to its readout.

        From the end of the last microwave pulse before the first excitation
        to the start of the readout element's basis rotation (or its readout
        pulse when it reads out in Z), the readout element playing ``period``
        after the attempt element starts; every pulse in between that flips
        the spin (`_FLIP_POPULATION`) reverses the sign of the time that
        follows it (a spin echo). 0 without a readout after the herald.
        """
        if attempt is None or readout is None or not readout.readouts or \
                not attempt.excitations:
            return 0.0
        node = self.state.nodes[name]
        rabi = self.rabi_hz(node)
        excited = attempt.excitations[0].start
        prepared = [d for d in attempt.drives if d.stop <= excited + 1e-12]
        start = max((d.stop for d in prepared), default=0.0)
        flips: list[float] = []
        later = [(d, 0.0) for d in attempt.drives if d.stop > excited + 1e-12]
        later += [(d, period) for d in readout.drives
                  if d.start < readout.readouts[0].start - 1e-12]
        end = period + readout.readouts[0].start
        for drive, offset in later:
            unitary = drive_unitary(drive, rabi, self.spin_detuning_hz(node)) \
                if rabi else IDENTITY
            if abs(unitary[0, 0]) ** 2 < _FLIP_POPULATION:
                flips.append(offset + (drive.start + drive.stop) / 2)
            elif offset:   # the readout's basis rotation ends the free precession
                end = offset + drive.start
                break
        marks = [start, *[f for f in flips if start < f < end], end]
        signed = sum((-1) ** k * (b - a) for k, (a, b) in enumerate(itertools.pairwise(marks)))
        return abs(signed)

    def _readout_after_herald(self, names: list[str], sequences: list[DecodedSequence],
                              master: DecodedElement
                              ) -> tuple[DecodedElement | None, Any, bool,
                                         list[DecodedElement | None]]:
        """The element a herald leads to, if it reads the spins out, the bases, and
        whether they are chosen at random.

        In event-jump mode the attempt element's own jump target is played. In
        dynamic-jump mode each node's AWG plays the element its jump table
        assigns to the pattern on its EVENT IN pins, which the node's
        random-number generator sets to a fresh random bit (0 or 1) at every
        herald — the per-trial setting choice of a Bell test (Hensen et al.,
        Nature 526, 682 (2015)). The readout timing is taken from the first
        node's element for bit 0; elements for the two bits should last equally long.
        The last item is each node's readout element (for bit 0), None when absent.
        """
        nothing: tuple[DecodedElement | None, Any, bool, list[DecodedElement | None]] = (
            None, None, False, [None] * len(names))
        random_settings = any(s.dynamic_jumps is not None for s in sequences)
        directions = []
        element = None
        per_node: list[DecodedElement | None] = []
        for name, sequence in zip(names, sequences, strict=True):
            if random_settings:
                table = sequence.dynamic_jumps or {}
                targets = [table.get(bit, 0) for bit in (0, 1)]
            else:
                targets = [int(master.jump_on_event)] if master.jump_on_event.isdigit() else [0]
            per_bit: list[np.ndarray] = []
            for target in targets:
                index = target - 1
                if not 0 <= index < len(sequence.elements) or \
                        not sequence.elements[index].readouts:
                    return nothing
                chosen = sequence.elements[index]
                element = element or chosen
                if len(per_bit) == 0:
                    per_node.append(chosen)
                node = self.state.nodes[name]
                unitary = self.rotation_before(node, chosen, chosen.readouts[0].start) \
                    @ self._after_last_excitation(node, self.attempt_element(sequence))
                per_bit.append(measured_direction(unitary))
            directions.append(np.array(per_bit) if random_settings else per_bit[0])
        return element, (directions[0], directions[1]), random_settings, per_node

    # --- count rates -------------------------------------------------------------

    @property
    def visibility(self) -> float:
        """Two-photon visibility of perfectly overlapping photons (config, else preset)."""
        if self.config.visibility is not None:
            return self.config.visibility
        return preset(self.config.preset).visibility

    @property
    def phase_noise(self) -> float:
        """Residual optical phase noise with the reference on, rad rms (config, else preset)."""
        if self.config.phase_noise_deg is not None:
            return math.radians(self.config.phase_noise_deg)
        return preset(self.config.preset).phase_noise

    def attempt_rate(self) -> float:
        setting = self.link()
        return 0.0 if setting is None else 1.0 / setting.params.cycle_time

    def snspd_count_rate(self, index: int) -> float:
        """Counts/s of SNSPD channel ``index`` (0-based): dark counts, noise, reference
        light and, for the heralding detectors, the photons of running attempts."""
        detector = self.snspd_channel(index)
        if detector.bias == 0.0:
            return 0.0
        rate = detector.dark_count_rate
        if index in (self.herald_channel(0), self.herald_channel(1)):
            rate += detector.efficiency * (self.noise_rate_per_detector()
                                           + self.reference_flux_per_detector())
            setting = self.link()
            if setting is not None:
                p = setting.params
                rate += (p.eta_total_a * p.bright_populations[0]
                         + p.eta_total_b * p.bright_populations[1]) / 2 / p.cycle_time
        return rate
