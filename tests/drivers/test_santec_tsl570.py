"""Santec TSL-570 driver against its pyvisa-sim twin."""

from __future__ import annotations

import pytest

from drivers.santec_tsl570 import SantecTSL570
from labctl.errors import DriverError


@pytest.fixture
def laser(open_twin):
    return open_twin(SantecTSL570, "santec_tsl570.yaml")


def test_identifies_as_tsl570(laser):
    assert laser.IDN()["model"] == "TSL-570"


@pytest.mark.parametrize("wavelength", [1480.0, 1550.1234, 1640.0])
def test_wavelength_round_trip(laser, wavelength):
    laser.wavelength_nm(wavelength)
    assert laser.wavelength_nm.get() == pytest.approx(wavelength, abs=1e-4)


def test_power_is_set_in_watts_and_sent_in_milliwatts(laser):
    laser.power(0.0052)
    assert laser.power.get() == pytest.approx(0.0052)


def test_actual_power_is_read_only_and_in_watts(laser):
    assert 0 < laser.power_actual.get() < 0.02
    assert not laser.power_actual.settable


def test_output_on_off(laser):
    laser.output(True)
    assert laser.output.get() is True
    laser.output(False)
    assert laser.output.get() is False


@pytest.mark.parametrize("parameter, value", [
    ("wavelength_nm", 1479.9), ("wavelength_nm", 1700.0),
    ("power", 0.021), ("power", -0.001), ("output", "maybe"),
])
def test_validators_refuse_before_anything_is_sent(laser, parameter, value):
    before = laser.power.get(), laser.wavelength_nm.get()
    with pytest.raises(ValueError):
        laser.parameters[parameter].set(value)
    assert (laser.power.get(), laser.wavelength_nm.get()) == before


def test_instrument_error_raises_driver_error_with_command_and_reply(laser):
    with pytest.raises(DriverError) as caught:
        laser.write(":WAV:BOGUS 1")
    assert caught.value.command == ":WAV:BOGUS 1"
    assert "-113" in caught.value.reply
    assert "\n" not in str(caught.value)


def test_error_queue_is_empty_after_a_refusal(laser):
    with pytest.raises(DriverError):
        laser.write(":BOGUS")
    laser.output(False)  # would raise if a stale error were still queued


def test_safe_state_turns_emission_off(laser):
    laser.output(True)
    laser.safe_state()
    assert laser.output.get() is False
