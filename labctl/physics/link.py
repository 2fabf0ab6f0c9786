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
are reported after the protocol's last pulse.
"""

from __future__ import annotations

import itertools
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
    fidelity_to_bell,
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
_FLIPPED = {_BB: _DD, _BD: _DB, _DB: _BD, _DD: _BB}
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
    """Factor scaling the |01><10| coherence of a photon-heralded state."""
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


def herald_branches(params: LinkParameters) -> list[HeraldBranch]:
    """Every click pattern an attempt can end in, with its probability and state.

    The probabilities of all branches plus "no click at all" sum to one.
    """
    eta_a, eta_b, d = params.eta_total_a, params.eta_total_b, params.p_dark
    priors = _priors(params)
    coherence = _coherence(params)
    clicks = {
        configuration: round_clicks(*_is_bright(configuration), eta_a, eta_b,
                                    params.visibility, d)
        for configuration in _CONFIGURATIONS
    }
    branches: list[HeraldBranch] = []
    rounds = params.rounds
    patterns = [p for p in itertools.product(CLICKS, repeat=rounds)
                if any(c != "none" for c in p)]
    for pattern in patterns:
        source_kinds: tuple[Source, ...] = ("photon", "dark")
        for sources in itertools.product(source_kinds, repeat=rounds):
            rho = np.zeros((4, 4), dtype=np.complex128)
            for configuration, prior in priors.items():
                weight = prior
                current = configuration
                for round_index in range(rounds):
                    round_model = clicks[current]
                    table = (round_model.photon if sources[round_index] == "photon"
                             else round_model.dark)
                    weight *= table[pattern[round_index]]
                    if round_index < rounds - 1:
                        current = _FLIPPED[current]  # the π pulse between rounds
                rho[current, current] += weight
            heralds = all(c in ("+", "-") for c in pattern)
            target = _target(pattern) if heralds else None
            if heralds and all(s == "photon" for s in sources):
                rho += _coherent_term(params, pattern, coherence)
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


def _coherent_term(params: LinkParameters, pattern: tuple[Click, ...],
                   coherence: float) -> ComplexMatrix:
    """The |01><10| + h.c. part of a photon-heralded state (unnormalised)."""
    eta_a, eta_b, d = params.eta_total_a, params.eta_total_b, params.p_dark
    priors = _priors(params)
    mixed = np.sqrt(priors[_BD] * priors[_DB])  # amplitudes of |01> and |10>
    if params.protocol == "single-click":
        amplitude = mixed * (1 - d) * np.sqrt(eta_a * eta_b) / 2
    else:
        amplitude = mixed * ((1 - d) ** 2) * (eta_a / 2) * (eta_b / 2)
    sign = 1.0 if _target(pattern) == "Psi+" else -1.0
    term = np.zeros((4, 4), dtype=np.complex128)
    term[_BD, _DB] = term[_DB, _BD] = sign * coherence * amplitude
    return term


@dataclass(frozen=True)
class LinkPrediction:
    """What the model predicts for one set of link parameters.

    ``states`` maps each announced Bell state to the average heralded state
    for it; ``correlators`` and ``state_psi_plus`` are in the Psi+ frame (a
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
    by_target: dict[str, ComplexMatrix] = {}
    probability: dict[str, float] = {}
    for branch in heralding:
        assert branch.target is not None and branch.state is not None
        by_target.setdefault(branch.target, np.zeros((4, 4), dtype=np.complex128))
        by_target[branch.target] += branch.probability * branch.state
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
