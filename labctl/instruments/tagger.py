"""The time-tagger capability and the view that names its inputs by the station's wiring.

Channel numbers are the tagger's own input numbers (1-based as the vendor
counts them); every tag a `TimeTagger` returns carries the number of the
input it came from, whatever internal routing (delay blocks, window filters,
virtual channels) the adapter used. Times are integer picoseconds.
Experiments use `TaggerView`, which takes names (``sync``, ``herald_plus``)
from the station file's ``wiring:`` and waits through the station clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from labctl.clock import Clock
from labctl.errors import LabctlError
from labctl.instruments.ports import NamedPorts

#: Tags of a recording: (input number of each tag, its time in ps since the start).
Tags = tuple[NDArray[np.uint8], NDArray[np.int64]]

#: How long past its nominal end a recording may still run before it counts as stuck, s.
RECORDING_GRACE_S = 1.0


@runtime_checkable
class TimeTagger(Protocol):
    """A multichannel time tagger (see the module docstring for channels and units)."""

    def input_channels(self) -> tuple[int, ...]:
        """The input numbers this unit has."""

    def record_raw_inputs(self) -> None:
        """Every input on and tagged, no delays, no conditional filter, no gates."""

    def set_input_delay_ps(self, channel: int, delay_ps: int) -> None: ...
    def input_delay_ps(self, channel: int) -> int: ...
    def set_trigger_level_v(self, channel: int, level_v: float) -> None: ...
    def trigger_level_v(self, channel: int) -> float: ...
    def set_dead_time_ps(self, channel: int, dead_time_ps: int) -> None: ...
    def dead_time_ps(self, channel: int) -> int: ...

    def filter_syncs(self, sync: int, clicks: Sequence[int], delay_ps: int) -> None:
        """Conditional filter: tag ``sync`` (delayed by ``delay_ps``) only after a click.

        A sync is recorded, at its time plus ``delay_ps``, only if a click on
        one of ``clicks`` arrived within ``delay_ps`` before that (a unit that
        can take one trigger input uses the first).
        """

    def gate_inputs(self, channels: Sequence[int], gate: int, window_ps: int) -> None:
        """Record ``channels`` only within ``window_ps`` after each (undelayed) ``gate`` tag."""

    def start_recording(self, duration_ps: int) -> None:
        """Start recording tags for ``duration_ps`` (timestamps restart at 0)."""

    def recording(self) -> bool:
        """Is a recording still running?"""

    def fetch_tags(self) -> Tags:
        """The tags recorded since the recording started (or since the last fetch)."""

    def start_counting(self, channels: Sequence[int], duration_ps: int) -> None:
        """Count events on ``channels`` for ``duration_ps``."""

    def count_rates_hz(self) -> dict[int, float]:
        """Events per second on each counted input over the last counting period."""

    def start_histogram(self, start: int, stop: int, bin_width_ps: int, bins: int,
                        duration_ps: int) -> None:
        """Histogram the delays from each ``start`` tag to the ``stop`` tags after it."""

    def histogram(self) -> NDArray[np.int64]:
        """The counts per bin of the last histogram (``bins`` of ``bin_width_ps`` from 0)."""

    def stop_acquisition(self) -> None:
        """Stop any running recording, count or histogram."""


class TaggerView:
    """A `TimeTagger` with inputs named by the station's wiring and waits on its clock."""

    def __init__(self, tagger: TimeTagger, ports: NamedPorts, clock: Clock) -> None:
        self.device = tagger
        self.ports = ports
        self.clock = clock

    def channel(self, name: str) -> int:
        """The input number wired as ``name`` (the channel its tags carry)."""
        return self.ports.number(name)

    def has(self, name: str) -> bool:
        return name in self.ports

    def record_raw_inputs(self) -> None:
        self.device.record_raw_inputs()

    def delay_ps(self, name: str) -> int:
        return self.device.input_delay_ps(self.channel(name))

    def set_delay_ps(self, name: str, delay_ps: int) -> None:
        self.device.set_input_delay_ps(self.channel(name), delay_ps)

    def offset_ps(self, name: str, reference: str) -> int:
        """How much later the tagger stamps ``name`` than ``reference`` (delay difference)."""
        return self.delay_ps(name) - self.delay_ps(reference)

    def set_trigger_level_v(self, name: str, level_v: float) -> None:
        self.device.set_trigger_level_v(self.channel(name), level_v)

    def set_dead_time_ps(self, name: str, dead_time_ps: int) -> None:
        self.device.set_dead_time_ps(self.channel(name), dead_time_ps)

    def filter_syncs(self, sync: str, clicks: Sequence[str], delay_ps: int) -> None:
        self.device.filter_syncs(self.channel(sync), self.ports.numbers(clicks), delay_ps)

    def gate_inputs(self, names: Sequence[str], gate: str, window_ps: int) -> None:
        self.device.gate_inputs(self.ports.numbers(names), self.channel(gate), window_ps)

    def record(self, seconds: float) -> Tags:
        """Record for ``seconds`` of station time and return the tags."""
        duration_ps = round(seconds * 1e12)
        self.device.start_recording(duration_ps)
        self.clock.sleep(duration_ps * 1e-12)
        self._wait_until_done(seconds)
        return self.device.fetch_tags()

    def count_rates_hz(self, names: Sequence[str], seconds: float) -> dict[str, float]:
        """Events per second on each named input, counted for ``seconds``."""
        channels = self.ports.numbers(names)
        self.device.start_counting(channels, round(seconds * 1e12))
        self.clock.sleep(seconds)
        rates = self.device.count_rates_hz()
        return {name: float(rates[channel]) for name, channel in zip(names, channels,
                                                                      strict=True)}

    def histogram(self, start: str, stop: str, bin_width_ps: int, bins: int,
                  seconds: float) -> NDArray[np.int64]:
        """Start-stop histogram of ``stop`` after ``start`` accumulated for ``seconds``."""
        duration_ps = round(seconds * 1e12)
        self.device.start_histogram(self.channel(start), self.channel(stop), bin_width_ps,
                                    bins, duration_ps)
        self.clock.sleep(duration_ps * 1e-12)
        self._wait_until_done(seconds)
        return self.device.histogram()

    def _wait_until_done(self, seconds: float) -> None:
        waited = 0.0
        grace = max(RECORDING_GRACE_S, 0.1 * seconds)
        while self.device.recording():
            if waited >= grace:
                self.device.stop_acquisition()
                raise LabctlError(f"{self.ports.instrument}: a {seconds:g} s recording was "
                                  f"still running {grace:g} s after its end")
            self.clock.sleep(1e-3)
            waited += 1e-3
