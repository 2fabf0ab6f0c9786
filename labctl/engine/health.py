"""Health between blocks: lasers still locked, detectors not latched, read through capabilities.

The engine (`labctl.engine.runner`) asks a `HealthCheck` before and after every
block, as a lab watches what its data depend on. It reads the station's
instruments through their capabilities only, for the roles the station has:

- every instrument whose role's capability is a `Laser` and that emits:
  `Laser.status` must say locked and alarm-free;
- every instrument whose role's capability is `SinglePhotonDetectors`: none of
  its wired channels (the station file's ``wiring:``) may be latched.

`HealthCheck.recover` resets latched channels and waits (wall time, polling
every `RELOCK_POLL_S`) for an unlocked laser to relock; a laser that does not
relock within the bound fails the run with `Unhealthy`, naming the instrument.
A block measured while something was unhealthy is never kept: the engine
redoes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from labctl.clock import Clock, WallClock
from labctl.errors import LabctlError
from labctl.instruments.detector import DetectorView, SinglePhotonDetectors
from labctl.instruments.laser import Laser
from labctl.instruments.ports import NamedPorts
from labctl.instruments.roles import ROLES
from labctl.station import InstrumentSpec, LabStation

log = logging.getLogger(__name__)

#: Wall time between two reads of an unlocked laser's status while waiting for it to relock, s
#: (a lock is regained in wall time in the lab, and when its fault clears in the virtual lab).
RELOCK_POLL_S = 0.5


#: The capabilities whose health is checked.
_WATCHED: tuple[type, ...] = (Laser, SinglePhotonDetectors)


class Unhealthy(LabctlError):
    """An instrument did not recover between blocks (a laser that did not relock ...)."""


@dataclass(frozen=True)
class Problem:
    """One thing found wrong: which instrument, what kind, and what it says."""

    instrument: str
    kind: Literal["unlocked", "latched"]
    detail: str      # the alarm text of a laser; the wired name of a latched channel

    def describe(self) -> str:
        if self.kind == "latched":
            return f"{self.instrument} detector {self.detail} latched"
        return (f"{self.instrument} lost its wavelength lock"
                + (f" ({self.detail})" if self.detail else ""))


class HealthCheck:
    """Reads the lock of every emitting laser and the latch of every wired detector channel.

    ``skip_roles``: roles whose health the experiment watches itself (a bias
    scan that drives its detectors into latching on purpose).
    """

    def __init__(self, station: LabStation, skip_roles: Iterable[str] = (),
                 clock: Clock | None = None) -> None:
        self.station = station
        #: What waiting for a relock is timed on (wall time unless told otherwise).
        self.clock: Clock = clock if clock is not None else WallClock()
        skipped = set(skip_roles)
        self.watched = tuple(spec for spec in station.spec.instruments
                             if spec.role is not None and spec.role in ROLES
                             and spec.role not in skipped
                             and ROLES[spec.role].capability in _WATCHED)

    def problems(self) -> list[Problem]:
        """What is wrong now (empty: every watched instrument is healthy)."""
        found: list[Problem] = []
        for spec in self.watched:
            assert spec.role is not None
            if ROLES[spec.role].capability is Laser:
                status = self.station.laser(spec.role, spec.node).status()
                if status.emission and not status.healthy:
                    found.append(Problem(spec.name, "unlocked", status.alarm or ""))
            else:
                detectors = self._detectors(spec)
                found.extend(Problem(spec.name, "latched", name) for name in detectors.names()
                             if detectors.is_latched(name))
        return found

    def recover(self, problems: list[Problem], relock_timeout_s: float) -> None:
        """Reset the latched channels; wait up to ``relock_timeout_s`` for lasers to relock.

        `Unhealthy` naming the laser when it is still unlocked after the bound.
        """
        unlocked = [p for p in problems if p.kind == "unlocked"]
        for problem in problems:
            if problem.kind == "latched":
                log.warning("%s: resetting it", problem.describe())
                spec = next(s for s in self.watched if s.name == problem.instrument)
                self._detectors(spec).reset_latch(problem.detail)
        if not unlocked:
            return
        for problem in unlocked:
            log.warning("%s: waiting up to %g s for it to relock", problem.describe(),
                        relock_timeout_s)
        deadline = self.clock.now() + relock_timeout_s
        while True:
            still = [p for p in self.problems() if p.kind == "unlocked"]
            if not still:
                log.info("every laser is locked again")
                return
            if self.clock.now() >= deadline:
                raise Unhealthy("; ".join(f"{p.describe()} and did not relock within "
                                          f"{relock_timeout_s:g} s" for p in still))
            self.clock.sleep(RELOCK_POLL_S)

    def _detectors(self, spec: InstrumentSpec) -> DetectorView:
        assert spec.role is not None
        device = self.station.role(spec.role, spec.node,
                                   SinglePhotonDetectors)  # type: ignore[type-abstract]
        return DetectorView(device, NamedPorts.parse(spec.name, spec.wiring))
