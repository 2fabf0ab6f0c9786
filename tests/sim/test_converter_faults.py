"""Faults on each of the converter's serial lines: a clear DriverError or recovery, pump safe.

Each unit is served on its own line with its own switchable fault
(`sim_instruments.world_state.Fault`: drop, silent, garbage, latency).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drivers.qfc_ppln import PPLNFrequencyConverter
from labctl.errors import DriverError
from sim_instruments.emulators.nkt_boostik import BoostikEmulator
from sim_instruments.emulators.serial_line import SerialLineServer
from sim_instruments.emulators.thorlabs_tc200 import TC200Emulator
from sim_instruments.world_state import ConverterState, Fault, VirtualClock

TIMEOUT_S = 0.3
_names = itertools.count()


@dataclass
class Line:
    server: SerialLineServer
    fault: Fault | None = None


@dataclass
class Rig:
    state: ConverterState
    pump: Line
    oven: Line
    qfc: PPLNFrequencyConverter


@pytest.fixture
def rig() -> Iterator[Rig]:
    state, lock = ConverterState(), threading.RLock()
    lines: dict[str, Line] = {}
    for name, emulator in (("pump", BoostikEmulator(state)),
                           ("oven", TC200Emulator(state, VirtualClock()))):
        line = Line(server=None)  # type: ignore[arg-type]
        line.server = SerialLineServer(name, emulator, lock, lambda line=line: line.fault)
        line.server.start()
        lines[name] = line
    qfc = PPLNFrequencyConverter(
        f"qfc{next(_names)}",
        pump={"address": lines["pump"].server.url, "timeout": TIMEOUT_S},
        oven={"address": lines["oven"].server.url, "timeout": TIMEOUT_S})
    qfc.pump_power(2.0)
    qfc.pump_emission(True)
    yield Rig(state, lines["pump"], lines["oven"], qfc)
    qfc.close()
    for line in lines.values():
        line.server.stop()


REASONS = {"drop": "connection lost", "silent": "no reply within", "garbage": "no reply within"}


@pytest.mark.parametrize("kind", ["drop", "silent", "garbage"])
def test_a_pump_fault_is_a_driver_error_with_its_reason_then_safe_state_recovers(rig, kind):
    rig.pump.fault = Fault(kind)
    with pytest.raises(DriverError, match=REASONS[kind]) as caught:
        rig.qfc.pump_power.get()
    assert "pump" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(DriverError):
        rig.qfc.safe_state()                 # cannot be verified while the line is down
    rig.pump.fault = None
    rig.qfc.safe_state()                     # a fresh connection if the old one broke
    assert rig.state.pump_emission is False


@pytest.mark.parametrize("kind", ["drop", "silent", "garbage"])
def test_an_oven_fault_is_a_driver_error_and_the_pump_still_goes_safe(rig, kind):
    rig.oven.fault = Fault(kind)
    with pytest.raises(DriverError, match=REASONS[kind]) as caught:
        rig.qfc.oven_temperature_c.get()
    assert "oven" in str(caught.value)
    rig.qfc.safe_state()
    assert rig.state.pump_emission is False
    rig.oven.fault = None
    rig.qfc.reconnect()
    assert rig.qfc.oven_temperature_c.get() > 0


@pytest.mark.parametrize("unit", ["pump", "oven"])
def test_latency_below_the_timeout_is_ridden_out(rig, unit):
    getattr(rig, unit).fault = Fault("latency", TIMEOUT_S / 3)
    assert rig.qfc.pump_power_actual.get() == pytest.approx(2.0, rel=0.02)
    assert rig.qfc.oven_setpoint_c.get() > 0
    rig.qfc.safe_state()
    assert rig.state.pump_emission is False
