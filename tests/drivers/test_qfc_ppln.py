"""PPLN quantum frequency converter driver against its pyvisa-sim twin."""

from __future__ import annotations

import pytest

from drivers.qfc_ppln import PPLNFrequencyConverter
from labctl.errors import DriverError

TOLERANCE_C = PPLNFrequencyConverter.oven_stability_tolerance_c


@pytest.fixture
def qfc(open_twin):
    return open_twin(PPLNFrequencyConverter, "qfc_ppln.yaml")


@pytest.fixture
def sent(qfc, command_log):
    """Every command string the driver writes or queries, in order."""
    return command_log(qfc)


def test_identifies_as_qfc(qfc):
    assert qfc.IDN()["model"] == "QFC-637-1588"


@pytest.mark.parametrize("watts", [0.0, 1.2345, 3.0])
def test_pump_power_round_trip_in_watts(qfc, watts):
    qfc.pump_power(watts)
    assert qfc.pump_power.get() == pytest.approx(watts, abs=1e-4)


def test_measured_pump_power_is_read_only_and_in_watts(qfc):
    assert qfc.pump_power_actual.get() == pytest.approx(1.2345)
    assert not qfc.pump_power_actual.settable


def test_pump_emission_on_off(qfc):
    qfc.pump_emission(True)
    assert qfc.pump_emission.get() is True
    qfc.pump_emission(False)
    assert qfc.pump_emission.get() is False


@pytest.mark.parametrize("celsius", [25.0, 65.125, 200.0])
def test_oven_setpoint_round_trip(qfc, celsius):
    qfc.oven_setpoint_c(celsius)
    assert qfc.oven_setpoint_c.get() == pytest.approx(celsius, abs=1e-3)


def test_oven_temperature_is_read_only(qfc):
    assert qfc.oven_temperature_c.get() == pytest.approx(64.982)
    assert not qfc.oven_temperature_c.settable


def test_oven_heater_on_off(qfc):
    qfc.oven_heater(True)
    assert qfc.oven_heater.get() is True
    qfc.oven_heater(False)
    assert qfc.oven_heater.get() is False


def test_every_temperature_command_names_celsius(qfc, sent):
    qfc.oven_setpoint_c(70.0)
    qfc.oven_setpoint_c.get()
    qfc.oven_temperature_c.get()
    temperature_commands = [c for c in sent if "TEMP" in c]
    assert len(temperature_commands) == 3
    assert all(c.startswith(":UNIT:TEMP C;") for c in temperature_commands)


def test_oven_is_stable_within_tolerance_of_setpoint(qfc):
    measured = qfc.oven_temperature_c.get()
    qfc.oven_heater(True)
    qfc.oven_setpoint_c(measured + 0.5 * TOLERANCE_C)
    assert qfc.oven_stable.get() is True
    qfc.oven_setpoint_c(measured - 0.5 * TOLERANCE_C)
    assert qfc.oven_stable.get() is True


@pytest.mark.parametrize("offset_tolerances", [2.0, -2.0, 100.0])
def test_oven_is_not_stable_outside_tolerance(qfc, offset_tolerances):
    measured = qfc.oven_temperature_c.get()
    qfc.oven_heater(True)
    qfc.oven_setpoint_c(measured + offset_tolerances * TOLERANCE_C)
    assert qfc.oven_stable.get() is False


def test_oven_is_not_stable_with_heater_off_even_at_setpoint(qfc):
    qfc.oven_setpoint_c(qfc.oven_temperature_c.get())
    qfc.oven_heater(False)
    assert qfc.oven_stable.get() is False
    assert not qfc.oven_stable.settable


@pytest.mark.parametrize("parameter, value", [
    ("pump_power", 3.01), ("pump_power", -0.01),
    ("oven_setpoint_c", 24.9), ("oven_setpoint_c", 200.5),
    ("pump_emission", "maybe"), ("oven_heater", 2),
])
def test_validators_refuse_before_anything_is_sent(qfc, sent, parameter, value):
    with pytest.raises(ValueError):
        qfc.parameters[parameter].set(value)
    assert sent == []


def test_instrument_error_raises_driver_error_with_command_and_reply(qfc):
    with pytest.raises(DriverError) as caught:
        qfc.write(":SOUR2:BOGUS 1")
    assert caught.value.command == ":SOUR2:BOGUS 1"
    assert "-113" in caught.value.reply
    assert "\n" not in str(caught.value)


def test_value_written_around_the_validator_is_refused_by_the_instrument(qfc):
    qfc.pump_power(0.5)
    with pytest.raises(DriverError) as caught:
        qfc.write(":SOUR:POW 5.0000")
    assert caught.value.command == ":SOUR:POW 5.0000"
    assert qfc.pump_power.get() == pytest.approx(0.5)


def test_error_queue_is_empty_after_a_refusal(qfc):
    with pytest.raises(DriverError):
        qfc.write(":BOGUS")
    qfc.pump_emission(False)  # would raise if a stale error were still queued


def test_safe_state_stops_the_pump_and_leaves_the_oven(qfc):
    qfc.oven_setpoint_c(72.5)
    qfc.oven_heater(True)
    qfc.pump_power(2.0)
    qfc.pump_emission(True)
    qfc.safe_state()
    assert qfc.pump_emission.get() is False
    assert qfc.oven_heater.get() is True
    assert qfc.oven_setpoint_c.get() == pytest.approx(72.5)
