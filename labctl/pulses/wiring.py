"""How an AWG is cabled: which marker gates which laser or window, which outputs drive I/Q.

Read from an AWG's ``wiring:`` in the station file, e.g.::

    wiring:
      excitation: {channel: 1, marker: 1}        # excitation-laser AOM gate
      detection_window: {channel: 1, marker: 2}  # heralding window / tagger sync
      readout: {channel: 2, marker: 1}           # spin-readout laser gate
      mw_i: 1                                    # I of the microwave IQ modulator
      mw_q: 2                                    # Q
      amplitude_vpp: 4.5                         # analog full scale of every channel

Experiments render pulse programs through it; the virtual lab decodes
uploaded waveforms through the same description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MarkerOutput:
    """One marker output: AWG channel (1-4) and marker (1 or 2)."""

    channel: int
    marker: int

    def __post_init__(self) -> None:
        if self.channel not in (1, 2, 3, 4) or self.marker not in (1, 2):
            raise ValueError(f"marker output needs channel 1-4 and marker 1-2, "
                             f"got channel {self.channel!r}, marker {self.marker!r}")


@dataclass(frozen=True)
class AwgWiring:
    """What each AWG output drives at one node."""

    excitation: MarkerOutput = MarkerOutput(1, 1)
    detection_window: MarkerOutput = MarkerOutput(1, 2)
    readout: MarkerOutput = MarkerOutput(2, 1)
    mw_i: int = 1
    mw_q: int = 2
    #: Analog full scale (peak to peak) of every channel: the I/Q drive level the
    #: calibrated Rabi frequency refers to.
    amplitude_vpp: float = 4.5

    def __post_init__(self) -> None:
        if not (isinstance(self.amplitude_vpp, int | float) and self.amplitude_vpp > 0):
            raise ValueError(f"amplitude_vpp must be a positive number of volts, "
                             f"got {self.amplitude_vpp!r}")
        for name in ("mw_i", "mw_q"):
            if getattr(self, name) not in (1, 2, 3, 4):
                raise ValueError(f"{name} must be an AWG channel 1-4, got {getattr(self, name)!r}")
        markers = [self.excitation, self.detection_window, self.readout]
        if len(set(markers)) != len(markers):
            raise ValueError("excitation, detection_window and readout need distinct markers")
        if self.mw_i == self.mw_q:
            raise ValueError("mw_i and mw_q must be different channels")

    def marker(self, name: str) -> MarkerOutput:
        """The output of ``excitation``, ``detection_window`` or ``readout``."""
        if name not in ("excitation", "detection_window", "readout"):
            raise ValueError(f"unknown marker output {name!r} "
                             "(excitation, detection_window, readout)")
        output: MarkerOutput = getattr(self, name)
        return output


def parse_wiring(mapping: Mapping[str, Any]) -> AwgWiring:
    """An AWG's ``wiring:`` mapping; `ValueError` naming the bad entry."""
    known = {f.name for f in dataclasses.fields(AwgWiring)}
    values: dict[str, Any] = {}
    for key, value in mapping.items():
        if key not in known:
            raise ValueError(f"unknown AWG wiring {key!r} (known: {', '.join(sorted(known))})")
        try:
            if key in ("mw_i", "mw_q"):
                values[key] = int(value)
            elif key == "amplitude_vpp":
                values[key] = float(value)
            else:
                values[key] = MarkerOutput(int(value["channel"]), int(value["marker"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"AWG wiring {key}: expected a channel or "
                             f"{{channel: N, marker: M}}, got {value!r} ({error})") from None
    return dataclasses.replace(AwgWiring(), **values)
