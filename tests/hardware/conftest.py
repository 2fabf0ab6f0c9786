"""Read-only checks against a real lab: skipped unless a lab station is named.

Point them at a lab with ``LABCTL_HARDWARE_STATION=<station file>`` and
``LABCTL_HARDWARE_PROFILE=<its lab profile>`` (``make test-hardware`` passes
them on). Every check only reads: no setting reaches an instrument. Each
instrument of the profile is connected on its own, so one that is missing
fails its own checks only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from labctl.station import (
    InstrumentSpec,
    LabStation,
    connect_instrument,
    open_station,
    read_spec,
)

STATION = os.environ.get("LABCTL_HARDWARE_STATION")
PROFILE = os.environ.get("LABCTL_HARDWARE_PROFILE", "lab")


def lab_instruments() -> list[InstrumentSpec]:
    """The instruments of the named lab profile (none when no lab is named)."""
    if not STATION:
        return []
    return list(read_spec(STATION, PROFILE).instruments)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test taking ``unit`` runs once per instrument of the lab profile."""
    if "unit" in metafunc.fixturenames:
        specs = lab_instruments()
        metafunc.parametrize("unit", [s.name for s in specs] or
                             [pytest.param(None, marks=pytest.mark.skip(
                                 reason="no lab named: set LABCTL_HARDWARE_STATION"))],
                             indirect=True, scope="module")


class Unit:
    """One connected instrument of the lab station, with its spec and capability."""

    def __init__(self, station: LabStation, spec: InstrumentSpec) -> None:
        self.station = station
        self.spec = spec
        self.instrument: Any = station.components[spec.name]

    @property
    def capability(self) -> Any:
        return self.station.capability_of(self.spec.name)


@pytest.fixture(scope="module")
def unit(request: pytest.FixtureRequest) -> Iterator[Unit]:
    assert STATION is not None
    spec = read_spec(STATION, PROFILE)
    station = open_station(spec)
    try:
        instrument = next(s for s in station.spec.instruments if s.name == request.param)
        connect_instrument(station, instrument)
        yield Unit(station, instrument)
    finally:
        station.close()
