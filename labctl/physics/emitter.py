"""The node's emitter: an NV-like spin-photon interface and its spin readout.

Default numbers are the NV-centre values of Humphreys et al., Nature 558, 268
(2018) and its SI (ZPL fraction 3 %, lifetime 12 ns, reset ≈ 5.5 µs,
p_double 0.04, readout F0 = 0.950, F1 = 0.995).
"""

from __future__ import annotations

from dataclasses import dataclass

from labctl.physics import checks

#: Emission wavelength of the NV centre's zero-phonon line, m.
NV_ZPL_WAVELENGTH = 637e-9


@dataclass(frozen=True)
class Readout:
    """Single-shot spin readout: F0 = P(read 0 | bright |0>), F1 = P(read 1 | dark |1>)."""

    f0: float = 0.950
    f1: float = 0.995

    def __post_init__(self) -> None:
        checks.probability("readout f0", self.f0)
        checks.probability("readout f1", self.f1)

    @property
    def assignment_matrix(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """M[read][true]: column = true state (0 bright, 1 dark), row = reported outcome."""
        return ((self.f0, 1.0 - self.f1), (1.0 - self.f0, self.f1))


@dataclass(frozen=True)
class Emitter:
    """Spin-photon interface of one node.

    ``alpha`` is the bright-state population prepared before excitation in the
    single-click protocol; ``collection_efficiency`` is from the emitter into
    the node's output fibre (ZPL photons only).
    """

    alpha: float = 0.05
    zpl_fraction: float = 0.03
    collection_efficiency: float = 0.1
    double_excitation: float = 0.04
    lifetime: float = 12e-9
    reset_time: float = 5.5e-6
    wavelength: float = NV_ZPL_WAVELENGTH
    readout: Readout = Readout()

    def __post_init__(self) -> None:
        checks.probability("alpha", self.alpha)
        checks.probability("zpl_fraction", self.zpl_fraction)
        checks.probability("collection_efficiency", self.collection_efficiency)
        checks.probability("double_excitation", self.double_excitation)
        checks.positive("lifetime", self.lifetime)
        checks.non_negative("reset_time", self.reset_time)
        checks.positive("wavelength", self.wavelength)

    @property
    def photon_efficiency(self) -> float:
        """Probability that an excitation puts a ZPL photon into the output fibre."""
        return self.zpl_fraction * self.collection_efficiency
