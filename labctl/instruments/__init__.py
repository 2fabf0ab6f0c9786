"""Capabilities: what an experiment needs from each role, whoever made the instrument.

A capability is a runtime-checkable `typing.Protocol` of methods with units
in their names (`TimeTagger`, `PulseSequencer`, `Laser`, `MicrowaveSource`,
`SinglePhotonDetectors`, `FrequencyConverter`, `SafeState`). A driver
provides one through an *adapter*: a small class that wraps the QCoDeS
instrument (or its remote proxy) and speaks the vendor's API
(`labctl.instruments.adapters`). The station checks at load, before anything
is contacted, that each instrument's adapter provides its role's capability
(`labctl.instruments.roles`), and hands experiments *views* that apply the
station file's ``wiring:`` so inputs and outputs are named, never numbered
(`TaggerView`, `SequencerView`, `DetectorView`).
"""

from labctl.instruments.converter import FrequencyConverter
from labctl.instruments.detector import DetectorView, SinglePhotonDetectors
from labctl.instruments.laser import Laser, LaserStatus
from labctl.instruments.microwave import MicrowaveSource
from labctl.instruments.safety import SafeState
from labctl.instruments.sequencer import PulseSequencer, SequencerLimits, SequencerView
from labctl.instruments.tagger import TaggerView, TimeTagger

__all__ = [
    "DetectorView",
    "FrequencyConverter",
    "Laser",
    "LaserStatus",
    "MicrowaveSource",
    "PulseSequencer",
    "SafeState",
    "SequencerLimits",
    "SequencerView",
    "SinglePhotonDetectors",
    "TaggerView",
    "TimeTagger",
]
