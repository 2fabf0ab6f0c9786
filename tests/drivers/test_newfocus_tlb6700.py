"""New Focus TLB-6700 Velocity driver against its pyvisa-sim twin."""

from __future__ import annotations

import pytest
from pyvisa import constants
from pyvisa.errors import VisaIOError

from drivers.newfocus_tlb6700 import NewFocusTLB6700
from labctl.errors import DriverError

TWIN = "newfocus_tlb6700.yaml"


@pytest.fixture
def laser(open_twin):
    return open_twin(NewFocusTLB6700, TWIN)


@pytest.fixture
def wire(laser, monkeypatch):
    """Record every command the driver puts on the wire (writes and queries)."""
    sent: list[str] = []
    handle = laser.visa_handle
    original_write, original_query = handle.write, handle.query

    def write(message, *args, **kwargs):
        sent.append(message)
        return original_write(message, *args, **kwargs)

    def query(message, *args, **kwargs):
        sent.append(message)
        return original_query(message, *args, **kwargs)

    monkeypatch.setattr(handle, "write", write)
    monkeypatch.setattr(handle, "query", query)
    return sent


def test_identifies_from_the_space_separated_idn_reply(laser):
    assert laser.IDN() == {"vendor": "New Focus", "model": "TLB-6700",
                           "serial": "SN1012", "firmware": "v2.4 03/19/14"}


@pytest.mark.parametrize("wavelength", [634.0, 637.219, 639.0])
def test_wavelength_setpoint_round_trip(laser, wavelength):
    laser.wavelength_nm(wavelength)
    assert laser.wavelength_nm.get() == pytest.approx(wavelength, abs=1e-3)


def test_wavelength_is_sent_in_the_documented_long_form(laser, wire):
    laser.wavelength_nm(636.5)
    assert wire == ["SOURce:WAVElength 636.500"]


def test_actual_wavelength_is_read_only(laser):
    assert laser.wavelength_actual_nm.get() == pytest.approx(637.2193)
    assert not laser.wavelength_actual_nm.settable


def test_power_is_set_in_watts_and_sent_in_milliwatts(laser):
    laser.power(0.0052)
    assert laser.ask("SOURce:POWer:DIODe?") == "5.200"
    assert laser.power.get() == pytest.approx(0.0052)


def test_actual_power_and_current_are_read_only_and_si(laser):
    assert laser.power_actual.get() == pytest.approx(4.871e-3)
    assert laser.diode_current.get() == pytest.approx(61.3e-3)
    assert not laser.power_actual.settable
    assert not laser.diode_current.settable


@pytest.mark.parametrize("percent", [0.0, 37.25, 100.0])
def test_piezo_voltage_in_percent_of_range(laser, percent):
    laser.piezo_voltage(percent)
    assert laser.piezo_voltage.get() == pytest.approx(percent)
    assert laser.piezo_voltage.unit == "%"


@pytest.mark.parametrize("name", ["output", "constant_power", "wavelength_tracking"])
def test_switches_on_and_off(laser, name):
    parameter = laser.parameters[name]
    parameter.set(True)
    assert parameter.get() is True
    parameter.set(False)
    assert parameter.get() is False


@pytest.mark.parametrize("parameter, value", [
    ("wavelength_nm", 633.9), ("wavelength_nm", 639.1), ("wavelength_nm", 1550.0),
    ("power", 0.0121), ("power", -0.001), ("power", 5.2),
    ("piezo_voltage", -0.5), ("piezo_voltage", 100.5),
    ("output", "maybe"), ("constant_power", 2), ("wavelength_tracking", "track"),
])
def test_validators_refuse_before_anything_is_sent(laser, wire, parameter, value):
    with pytest.raises(ValueError):
        laser.parameters[parameter].set(value)
    assert wire == []


def test_instrument_refusal_raises_driver_error_with_command_and_reply(laser):
    laser.wavelength_nm(636.0)
    with pytest.raises(DriverError) as caught:
        laser.write("SOURce:WAVElength 700.000")  # around the validator
    assert caught.value.command == "SOURce:WAVElength 700.000"
    assert caught.value.reply == "ERROR; 1,COMMAND ERROR"
    assert "\n" not in str(caught.value)
    assert laser.wavelength_nm.get() == pytest.approx(636.0)


def test_unknown_command_raises_driver_error(laser):
    with pytest.raises(DriverError) as caught:
        laser.write("SOURce:BOGUS 1")
    assert caught.value.command == "SOURce:BOGUS 1"
    assert "COMMAND ERROR" in caught.value.reply


def test_error_buffer_is_drained_after_a_refusal(laser):
    with pytest.raises(DriverError):
        laser.write("BOGUS")
    assert laser.ask("ERRSTR?") == "0,NO ERROR"
    laser.output(False)  # acknowledged "OK": would raise if out of step


def test_missing_acknowledgement_is_a_driver_error(laser, monkeypatch):
    handle = laser.visa_handle
    original_read = handle.read

    def lose_the_acknowledgement(*args, **kwargs):
        monkeypatch.setattr(handle, "read", original_read)  # only this once
        original_read(*args, **kwargs)  # consume the twin's "OK", keep it in step
        raise VisaIOError(constants.StatusCode.error_timeout)

    monkeypatch.setattr(handle, "read", lose_the_acknowledgement)
    with pytest.raises(DriverError) as caught:
        laser.output(False)
    assert caught.value.command == "OUTPut:STATe 0"
    assert caught.value.reply == "no reply (timeout)"


@pytest.mark.parametrize("address", ["GPIB::1::INSTR", "GPIB::2::INSTR"])
def test_safe_state_turns_emission_off(open_twin, address):
    laser = open_twin(NewFocusTLB6700, TWIN, address=address)
    laser.output(True)
    laser.safe_state()
    assert laser.output.get() is False


def test_node_a_and_node_b_lasers_keep_separate_state(open_twin):
    node_a = open_twin(NewFocusTLB6700, TWIN, address="GPIB::1::INSTR")
    node_b = open_twin(NewFocusTLB6700, TWIN, address="GPIB::2::INSTR")
    node_a.wavelength_nm(635.0)
    node_b.wavelength_nm(638.5)
    assert node_a.wavelength_nm.get() == pytest.approx(635.0)
    assert node_b.wavelength_nm.get() == pytest.approx(638.5)
