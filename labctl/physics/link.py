"""Heralded entanglement between two nodes: single-click and Barrett–Kok.

One model, two faces: `predict` gives the herald probability, rate, heralded
density matrices, fidelity and correlators; `labctl.physics.sampling` draws
Monte-Carlo attempts from the very same per-round click probabilities
(`round_clicks`) and heralded states (`herald_branches`).

Model (shared/reference/physics.md section 2):

- each node's spin is bright (|0>, emits a photon when excited) or dark (|1>);
  a bright node's photon reaches the midpoint station and is detected with
  probability eta (all losses: ZPL fraction, collection, conversion, fibre,
  detector);
- the 50:50 beam splitter sends a single photon to either detector; two
  photons bunch (same detector) with probability (1 + V)/2 for HOM
  visibility V;
- each detector also clicks in a window from a dark count with probability
  p_dc = 1 - exp(-R_dc Δt); detectors are threshold detectors;
- the coherence between |01> and |10> left by a photon click is scaled by
  sqrt(V) (photon overlap), exp(-sigma_phi²/2) (optical phase noise, single
  click only) and 1 - p_double (double excitation), as in Humphreys et al.,
  Nature 558, 268 (2018) and Rozpędek et al., PRA 99, 052330 (2019). In
  Barrett–Kok both photons interfere, so the coherence scales with V and the
  optical phase cancels between rounds (Barrett & Kok, PRA 71, 060310(R)
  (2005)).

Single click: nodes prepare sqrt(1-α)|1> + sqrt(α)|0> and excite once; one
click heralds Psi+ (detector "+") or Psi- ("-"). Ideal limit: F = 1 - α,
p = 2αη - α²η². Barrett–Kok: nodes prepare (|0> + |1>)/sqrt(2), excite, apply
a π pulse, excite again; one click in each round heralds Psi+ (same
detector) or Psi- (different detectors); p = eta_A eta_B / 2 ideally. States
are reported after the protocol's last pulse (`herald_branches`) and, by
`predict`, at the readout.

Barrett–Kok with the decoded π pulse: the rotation between the rounds is a
rotation by ``flip_angle`` about an equatorial axis (the same on both nodes),
applied to the two-spin density matrix between the rounds' conditioning
steps. An imperfect pulse leaves part of each spin unflipped, so the
both-bright and both-dark configurations leak into the heralded state and F
falls smoothly with the pulse error (θ = π gives the ideal protocol above).

Dephasing between preparation and readout (quasi-static Gaussian detuning,
the Ramsey decay of physics.md section 4): each node's spin precesses freely
for a net time τ (π pulses reverse its sign: an echo) from its preparation
pulse to its readout rotation; averaged over the detuning, each coherence
involving that node's spin is scaled by exp(−(τ/T2*)²), the Ramsey
envelope of a quasi-static Gaussian bath. In a 5.5 µs single-click attempt
read out after it ends, τ ≈ 5.4 µs without an echo (4.5 µs of it between
herald and readout, a wait any heralded link such as Hensen et al., Nature
526, 682 (2015) or Humphreys et al., Nature 558, 268 (2018) has to bridge); a
refocusing π pulse brings τ to 0. T2* and τ are inputs; the default
(T2* = inf) has no dephasing.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labctl.physics import checks
from labctl.physics.detector import dark_click_probability
from labctl.physics.optics import FIBRE_LIGHT_SPEED_KM_S
from labctl.physics.states import (
    ComplexMatrix,
    apply_local_z_on_b,
    correlators,
    dephase,
    fidelity_to_bell,
    rotation_x,
)

Protocol = Literal["single-click", "barrett-kok"]
PROTOCOLS: tuple[Protocol, ...] = ("single-click", "barrett-kok")
#: A detector pattern in one round: nothing, only "+", only "-", or both detectors.
Click = Literal["none", "+", "-", "both"]
CLICKS: tuple[Click, ...] = ("none", "+", "-", "both")
#: What made a single-detector click: a photon, or only a dark count.
Source = Literal["photon", "dark"]

# Computational-basis index of each spin configuration (qubit A first, 0 = bright).
_BB, _BD, _DB, _DD = 0, 1, 2, 3
_CONFIGURATIONS = (_BB, _BD, _DB, _DD)
#: Branches less likely than this are dropped (normalising them is meaningless).
_NEGLIGIBLE = 1e-250


@dataclass(frozen=True)
class LinkParameters:
    """Everything the link model needs, in SI units unless the name says otherwise.

    ``alpha`` is the bright-state population of both nodes, or of node A
    when ``alpha_b`` gives node B's (single click; Barrett–Kok uses 1/2).
    ``eta_a``/``eta_b`` are each node's probability that an emitted photon is
    detected, *excluding* the fibre; ``fibre_km`` is the node-to-node fibre
    length with the heralding station at its midpoint, attenuating each arm
    by ``fibre_loss_db_per_km``. ``attempt_time`` is one whole attempt (both
    rounds for Barrett–Kok); the default is the emitter reset time per round.
    With ``wait_for_herald`` the nodes wait for the herald (photon to the
    midpoint and message back: fibre_km / c_fibre) before the next attempt.
    ``flip_angle`` (``flip_angle_b`` for node B, default the same) is the
    Barrett–Kok rotation between the rounds, rad (π: a perfect π pulse).
    ``free_precession_a``/``_b`` are each node's net free-precession time
    from its preparation to its readout rotation, s, and ``t2_star`` the
    spins' Ramsey dephasing time (inf: no dephasing); see the module docstring.
    """

    protocol: Protocol = "single-click"
    alpha: float = 0.05
    alpha_b: float | None = None
    eta_a: float = 3.5e-4
    eta_b: float = 3.5e-4
    visibility: float = 0.9
    phase_noise: float = float(np.radians(15.0))
    dark_count_rate: float = 20.0
    window: float = 25e-9
    double_excitation: float = 0.04
    attempt_time: float | None = None
    fibre_km: float = 0.002
    fibre_loss_db_per_km: float = 0.2
    reset_time: float = 5.5e-6
    wait_for_herald: bool = True
    flip_angle: float = math.pi
    flip_angle_b: float | None = None
    free_precession_a: float = 0.0
    free_precession_b: float | None = None
    t2_star: float = math.inf

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, "
                             f"got {self.protocol!r}")
        checks.probability("alpha", self.alpha)
        if self.alpha_b is not None:
            checks.probability("alpha_b", self.alpha_b)
        checks.probability("eta_a", self.eta_a)
        checks.probability("eta_b", self.eta_b)
        checks.probability("visibility", self.visibility)
        checks.non_negative("phase_noise", self.phase_noise)
        checks.non_negative("dark_count_rate", self.dark_count_rate)
        checks.non_negative("window", self.window)
        checks.probability("double_excitation", self.double_excitation)
        if self.attempt_time is not None:
            checks.positive("attempt_time", self.attempt_time)
        checks.non_negative("fibre_km", self.fibre_km)
        checks.non_negative("fibre_loss_db_per_km", self.fibre_loss_db_per_km)
        checks.non_negative("reset_time", self.reset_time)
        for name in ("flip_angle", "flip_angle_b"):
            if getattr(self, name) is not None:
                checks.finite(name, getattr(self, name))
        checks.non_negative("free_precession_a", self.free_precession_a)
        if self.free_precession_b is not None:
            checks.non_negative("free_precession_b", self.free_precession_b)
        if not self.t2_star > 0:
            raise ValueError(f"t2_star must be positive, got {self.t2_star!r}")

    @property
    def flip_angles(self) -> tuple[float, float]:
        """(θ_A, θ_B): the rotation between the Barrett–Kok rounds on each node, rad."""
        return self.flip_angle, self.flip_angle if self.flip_angle_b is None \
            else self.flip_angle_b

    @property
    def spin_coherences(self) -> tuple[float, float]:
        """Per node, exp(−(τ/T2*)²): what quasi-static dephasing leaves of its coherences."""
        tau_b = self.free_precession_a if self.free_precession_b is None \
            else self.free_precession_b
        return (math.exp(-((self.free_precession_a / self.t2_star) ** 2)),
                math.exp(-((tau_b / self.t2_star) ** 2)))

    @property
    def rounds(self) -> int:
        """Excitation rounds per attempt."""
        return 1 if self.protocol == "single-click" else 2

    @property
    def arm_transmission(self) -> float:
        """Transmission of one node's fibre arm (half the link)."""
        return 10.0 ** (-self.fibre_loss_db_per_km * self.fibre_km / 2.0 / 10.0)

    @property
    def eta_total_a(self) -> float:
        return self.eta_a * self.arm_transmission

    @property
    def eta_total_b(self) -> float:
        return self.eta_b * self.arm_transmission

    @property
    def p_dark(self) -> float:
        """Dark-click probability of one detector in one detection window."""
        return dark_click_probability(self.dark_count_rate, self.window)

    @property
    def bright_populations(self) -> tuple[float, float]:
        """(α_A, α_B) for single click; Barrett–Kok prepares the equal superposition."""
        if self.protocol != "single-click":
            return 0.5, 0.5
        return self.alpha, self.alpha if self.alpha_b is None else self.alpha_b

    @property
    def herald_wait(self) -> float:
        """Photon to the midpoint and herald back: fibre_km / c_fibre, s."""
        return self.fibre_km / FIBRE_LIGHT_SPEED_KM_S if self.wait_for_herald else 0.0

    @property
    def cycle_time(self) -> float:
        """Time per attempt including the wait for the herald, s."""
        attempt = (self.attempt_time if self.attempt_time is not None
                   else self.rounds * self.reset_time)
        return attempt + self.herald_wait


@dataclass(frozen=True)
class RoundClicks:
    """Probability of each detector pattern in one round, split by what caused it.

    ``photon[c]`` is the probability of pattern ``c`` with a photon behind the
    clicking detector, ``dark[c]`` with only dark counts behind it; for
    "none" and "both" the split is by whether any photon was detected.
    """

    photon: dict[Click, float]
    dark: dict[Click, float]

    def total(self, click: Click) -> float:
        return self.photon[click] + self.dark[click]


def round_clicks(bright_a: bool, bright_b: bool, eta_a: float, eta_b: float,
                 visibility: float, p_dark: float) -> RoundClicks:
    """Detector patterns of one round given which nodes emit (threshold detectors)."""
    d = p_dark
    if bright_a and bright_b:
        both_detected = eta_a * eta_b
        one_detected = eta_a * (1 - eta_b) + eta_b * (1 - eta_a)
        none_detected = (1 - eta_a) * (1 - eta_b)
        # one detector fires with a photon: both photons bunched into it, or one lost
        single = (1 - d) * (both_detected * (1 + visibility) / 4 + one_detected / 2)
        photon: dict[Click, float] = {"none": 0.0, "+": single, "-": single,
                                      "both": 1.0 - none_detected - 2 * single}
    elif bright_a or bright_b:
        eta = eta_a if bright_a else eta_b
        none_detected = 1 - eta
        single = (1 - d) * eta / 2
        photon = {"none": 0.0, "+": single, "-": single, "both": eta - 2 * single}
    else:
        none_detected = 1.0
        photon = {"none": 0.0, "+": 0.0, "-": 0.0, "both": 0.0}
    dark: dict[Click, float] = {
        "none": none_detected * (1 - d) ** 2, "+": none_detected * d * (1 - d),
        "-": none_detected * d * (1 - d), "both": none_detected * d * d}
    return RoundClicks(photon=photon, dark=dark)


@dataclass(frozen=True)
class HeraldBranch:
    """One way an attempt can end with clicks.

    ``pattern`` is the click pattern per round; ``sources`` what caused each
    round's click; ``probability`` per attempt; ``state`` the normalised
    two-qubit state the nodes are left in (None for non-heralding patterns);
    ``target`` the Bell state the herald announces.
    """

    pattern: tuple[Click, ...]
    sources: tuple[Source, ...]
    probability: float
    heralds: bool
    target: str | None = None
    state: ComplexMatrix | None = field(default=None, compare=False, repr=False)


def _coherence(params: LinkParameters) -> float:
    """Factor scaling the |01><10| coherence of a photon-heralded state.

    Barrett–Kok: the whole protocol's factor; each round contributes its square root.
    """
    no_double = 1.0 - params.double_excitation
    if params.protocol == "single-click":
        phase = float(np.exp(-0.5 * params.phase_noise**2))
        return float(np.sqrt(params.visibility)) * phase * no_double
    return params.visibility * no_double


def _priors(params: LinkParameters) -> dict[int, float]:
    alpha_a, alpha_b = params.bright_populations
    return {_BB: alpha_a * alpha_b, _BD: alpha_a * (1 - alpha_b),
            _DB: (1 - alpha_a) * alpha_b, _DD: (1 - alpha_a) * (1 - alpha_b)}


def _is_bright(configuration: int) -> tuple[bool, bool]:
    return configuration in (_BB, _BD), configuration in (_BB, _DB)


def _prepared(params: LinkParameters) -> ComplexMatrix:
    """The spins before the first excitation, as far as the click model keeps it:
    the configuration populations and the |01><10| coherence (real, positive)."""
    priors = _priors(params)
    rho = np.diag([priors[c] for c in _CONFIGURATIONS]).astype(np.complex128)
    rho[_BD, _DB] = rho[_DB, _BD] = np.sqrt(priors[_BD] * priors[_DB])
    return rho


def _round_filter(params: LinkParameters, clicks: dict[int, RoundClicks], click: Click,
                  source: Source, coherence: float) -> ComplexMatrix:
    """M with ρ → M ∘ ρ (elementwise) for one round ending in ``click`` from ``source``.

    Diagonal: each configuration's probability of that pattern. The only
    coherence kept is |01><10| after a single photon click, where the photon
    may have come from either node (its amplitude, sign by detector and
    ``coherence`` factor); every other coherence is destroyed by the
    photon-number (which-path) information left in the modes.
    """
    filter_ = np.zeros((4, 4), dtype=np.complex128)
    for configuration in _CONFIGURATIONS:
        model = clicks[configuration]
        table = model.photon if source == "photon" else model.dark
        filter_[configuration, configuration] = table[click]
    if source == "photon" and click in ("+", "-"):
        amplitude = (1 - params.p_dark) * np.sqrt(params.eta_total_a * params.eta_total_b) / 2
        sign = 1.0 if click == "+" else -1.0
        filter_[_BD, _DB] = filter_[_DB, _BD] = sign * coherence * amplitude
    return filter_


def _flip(params: LinkParameters) -> ComplexMatrix:
    """The two-spin rotation between the Barrett–Kok rounds (θ_A ⊗ θ_B about x)."""
    angle_a, angle_b = params.flip_angles
    return np.kron(rotation_x(angle_a), rotation_x(angle_b)).astype(np.complex128)


def herald_branches(params: LinkParameters) -> list[HeraldBranch]:
    """Every click pattern an attempt can end in, with its probability and state.

    The state is conditioned round by round (`_round_filter`), with the
    decoded rotation (`LinkParameters.flip_angles`) between Barrett–Kok
    rounds; a perfect π pulse reproduces the configuration-flip model of the
    module docstring. States are at the end of the last round (before any
    dephasing until the readout, which `predict` adds). The probabilities of
    all branches plus "no click at all" sum to one.
    """
    eta_a, eta_b, d = params.eta_total_a, params.eta_total_b, params.p_dark
    rounds = params.rounds
    coherence = _coherence(params) if rounds == 1 else float(np.sqrt(_coherence(params)))
    clicks = {
        configuration: round_clicks(*_is_bright(configuration), eta_a, eta_b,
                                    params.visibility, d)
        for configuration in _CONFIGURATIONS
    }
    prepared = _prepared(params)
    flip = _flip(params)
    branches: list[HeraldBranch] = []
    patterns = [p for p in itertools.product(CLICKS, repeat=rounds)
                if any(c != "none" for c in p)]
    source_kinds: tuple[Source, ...] = ("photon", "dark")
    for pattern in patterns:
        for sources in itertools.product(source_kinds, repeat=rounds):
            rho = prepared
            for round_index in range(rounds):
                if round_index:
                    rho = flip @ rho @ flip.conj().T   # the π pulse between rounds
                rho = _round_filter(params, clicks, pattern[round_index],
                                    sources[round_index], coherence) * rho
            heralds = all(c in ("+", "-") for c in pattern)
            target = _target(pattern) if heralds else None
            probability = float(np.real(np.trace(rho)))
            if probability < _NEGLIGIBLE:
                continue
            branches.append(HeraldBranch(
                pattern=pattern, sources=sources, probability=probability,
                heralds=heralds, target=target,
                state=rho / probability if heralds else None))
    return branches


def _target(pattern: tuple[Click, ...]) -> str:
    if len(pattern) == 1:
        return "Psi+" if pattern[0] == "+" else "Psi-"
    return "Psi+" if pattern[0] == pattern[1] else "Psi-"


@dataclass(frozen=True)
class LinkPrediction:
    """What the model predicts for one set of link parameters.

    ``states`` maps each announced Bell state to the average heralded state
    for it at the readout (after the nodes' dephasing, `spin_coherences`);
    ``correlators`` and ``state_psi_plus`` are in the Psi+ frame (a
    Psi- herald is corrected by Z on node B, as experiments do), ``fidelity``
    is the herald-averaged fidelity to the announced Bell state.
    """

    params: LinkParameters
    p_herald: float
    rate_hz: float
    fidelity: float
    correlators: dict[str, float]
    herald_probabilities: dict[str, float]
    states: dict[str, ComplexMatrix] = field(compare=False, repr=False)
    state_psi_plus: ComplexMatrix = field(compare=False, repr=False)


def predict(params: LinkParameters) -> LinkPrediction:
    """Herald probability, rate, heralded states, fidelity and correlators."""
    heralding = [b for b in herald_branches(params) if b.heralds]
    coherence_a, coherence_b = params.spin_coherences
    by_target: dict[str, ComplexMatrix] = {}
    probability: dict[str, float] = {}
    for branch in heralding:
        assert branch.target is not None and branch.state is not None
        by_target.setdefault(branch.target, np.zeros((4, 4), dtype=np.complex128))
        by_target[branch.target] += branch.probability * dephase(
            branch.state, coherence_a, coherence_b)
        probability[branch.target] = probability.get(branch.target, 0.0) \
            + branch.probability
    p_herald = sum(probability.values())
    states = {target: rho / probability[target] for target, rho in by_target.items()}
    psi_plus_frame: ComplexMatrix
    if p_herald > 0:
        psi_plus_frame = np.zeros((4, 4), dtype=np.complex128)
        for t, rho in states.items():
            psi_plus_frame += probability[t] * (rho if t == "Psi+" else apply_local_z_on_b(rho))
        psi_plus_frame /= p_herald
        fidelity = sum((probability[t] * fidelity_to_bell(rho, t)  # type: ignore[arg-type]
                        for t, rho in states.items()), 0.0) / p_herald
    else:
        psi_plus_frame = np.eye(4, dtype=np.complex128) / 4
        fidelity = 0.25
    return LinkPrediction(
        params=params,
        p_herald=p_herald,
        rate_hz=p_herald / params.cycle_time,
        fidelity=float(fidelity),
        correlators=correlators(psi_plus_frame),
        herald_probabilities=probability,
        states=states,
        state_psi_plus=psi_plus_frame,
    )
