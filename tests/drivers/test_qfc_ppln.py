"""The PPLN converter driver (BoostiK pump + TC200 oven) against its units' emulators.

Each unit is served as a serial line over loopback TCP (pyserial's
``socket://``), answered from one `ConverterState`, exactly as in the virtual lab.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator

import pytest

from drivers.qfc_ppln import PPLNFrequencyConverter
from labctl.errors import DriverError
from sim_instruments.emulators.qfc_ppln import ConverterServer, ConverterUnits
from sim_instruments.world_state import AMBIENT_C, ConverterState, VirtualClock
from wire_formats import nkt_interbus as ib

TAU_S = 30.0
TOLERANCE_C = PPLNFrequencyConverter.oven_stability_tolerance_c
_names = itertools.count()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def state() -> ConverterState:
    return ConverterState(time_constant_s=TAU_S)


@pytest.fixture
def server(state, clock) -> Iterator[ConverterServer]:
    served = ConverterServer("qfc", ConverterUnits.of(state, clock), threading.RLock(),
                             lambda: None)
    served.start()
    yield served
    served.stop()


@pytest.fixture
def qfc(server) -> Iterator[PPLNFrequencyConverter]:
    instrument = PPLNFrequencyConverter(f"qfc{next(_names)}", **server.init())
    yield instrument
    instrument.close()


def lag(start: float, target: float, elapsed: float) -> float:
    return target + (start - target) * math.exp(-elapsed / TAU_S)


def test_identifies_both_units(qfc):
    idn = qfc.IDN()
    assert "BoostiK (type 70h)" in idn["model"] and "TC200" in idn["model"]
    assert idn["serial"]


@pytest.mark.parametrize("watts", [0.01, 1.2345, 2.0, 3.0])
def test_pump_power_goes_as_dbm_and_comes_back_within_a_setpoint_step(qfc, state, watts):
    qfc.pump_power(watts)
    step = 10 ** (ib.POWER_SETPOINT_STEP_DBM / 20) - 1     # half a 0.1 dB step
    assert state.pump_power_w == pytest.approx(watts, rel=step)
    assert qfc.pump_power.get() == pytest.approx(state.pump_power_w)


def test_measured_pump_power_follows_emission(qfc):
    qfc.pump_power(1.5)
    assert qfc.pump_power_actual.get() == 0.0
    qfc.pump_emission(True)
    assert qfc.pump_emission.get() is True
    assert qfc.pump_power_actual.get() == pytest.approx(1.5, rel=0.02)
    qfc.pump_emission(False)
    assert qfc.pump_power_actual.get() == 0.0


@pytest.mark.parametrize("parameter, value", [
    ("pump_power", 3.01), ("pump_power", 0.0), ("oven_setpoint_c", 19.9),
    ("oven_setpoint_c", 200.1)])
def test_out_of_range_values_are_refused_before_anything_is_sent(qfc, state, parameter, value):
    before = (state.pump_power_w, state.oven_setpoint_c)
    with pytest.raises(ValueError, match=parameter):
        getattr(qfc, parameter)(value)
    assert (state.pump_power_w, state.oven_setpoint_c) == before


def test_oven_setpoint_and_heater(qfc, state):
    qfc.oven_setpoint_c(65.3)
    assert qfc.oven_setpoint_c.get() == pytest.approx(65.3)
    assert state.oven_setpoint_c == pytest.approx(65.3)
    for on in (True, True, False, False, True):   # `ens` toggles: the driver must not
        qfc.oven_heater(on)
        assert qfc.oven_heater.get() is on and state.oven_heater is on


def test_oven_follows_its_setpoint_and_is_stable_once_there(qfc, clock):
    qfc.oven_setpoint_c(65.0)
    qfc.oven_heater(True)
    assert qfc.oven_temperature_c.get() == pytest.approx(AMBIENT_C, abs=0.05)
    assert qfc.oven_stable.get() is False
    clock.advance(TAU_S)
    assert qfc.oven_temperature_c.get() == pytest.approx(lag(AMBIENT_C, 65.0, TAU_S), abs=0.05)
    clock.advance(20 * TAU_S)
    assert qfc.oven_stable.get() is True
    qfc.oven_heater(False)
    assert qfc.oven_stable.get() is False


def test_tc200_refusal_becomes_a_driver_error(qfc, state):
    qfc.oven.command("tmax=80.0")
    with pytest.raises(DriverError, match="CMD_ARG_RANGE_ERR"):
        qfc.oven_setpoint_c(90.0)
    assert state.oven_setpoint_c != pytest.approx(90.0)
    with pytest.raises(DriverError, match="CMD_NOT_DEFINED"):
        qfc.oven.command("explode")


def test_boostik_nack_becomes_a_driver_error(qfc):
    with pytest.raises(DriverError, match="NACK"):
        qfc.pump.read_register(0x99)


def test_safe_state_stops_the_pump_and_leaves_the_oven(qfc, state, clock):
    qfc.pump_power(2.0)
    qfc.pump_emission(True)
    qfc.oven_setpoint_c(70.0)
    qfc.oven_heater(True)
    qfc.safe_state()
    assert state.pump_emission is False
    assert qfc.pump_power_actual.get() == 0.0
    assert state.oven_heater is True and state.oven_setpoint_c == pytest.approx(70.0)


def test_safe_state_uses_a_fresh_connection_when_the_old_one_broke(qfc, state):
    qfc.pump_emission(True)
    qfc.pump.line._port.close()          # the line breaks under the driver
    qfc.safe_state()
    assert state.pump_emission is False


@pytest.mark.parametrize("init, message", [
    ({"oven": {"address": "socket://127.0.0.1:9"}}, "init 'pump' must be a mapping"),
    ({"pump": {"address": 5}, "oven": {}}, "init 'pump' must be a mapping"),
])
def test_bad_init_is_one_clear_error(init, message):
    with pytest.raises(DriverError, match=message):
        PPLNFrequencyConverter(f"bad{next(_names)}", **init)


def test_an_unreachable_unit_is_named(server):
    with pytest.raises(DriverError, match=r"oven.*open socket://127\.0\.0\.1:1"):
        PPLNFrequencyConverter(f"bad{next(_names)}", pump=server.init()["pump"],
                               oven={"address": "socket://127.0.0.1:1"})
