"""New Focus TLB-6700 Velocity driver through the stand-in of Newport's USB library.

The stand-in (`sim_instruments.newport_usb_api`) given a serial number as its
address runs a TLB-6700 emulator in this process: the driver's protocol
twin, with the library's own calls, buffers and return codes in between.
"""

from __future__ import annotations

import ctypes
import itertools

import pytest

from drivers.newfocus_tlb6700 import NewFocusTLB6700
from labctl.errors import DriverError

STAND_IN = "sim_instruments.newport_usb_api"
_names = itertools.count()


@pytest.fixture
def open_laser():
    opened: list[NewFocusTLB6700] = []

    def _open(address: str = "SN1012", **kwargs) -> NewFocusTLB6700:
        laser = NewFocusTLB6700(f"tlb_twin{next(_names)}", address, library=STAND_IN, **kwargs)
        opened.append(laser)
        return laser

    yield _open
    for laser in opened:
        laser.close()


@pytest.fixture
def laser(open_laser):
    return open_laser()


@pytest.fixture
def wire(laser):
    """Every command the driver hands to ``newp_usb_send_ascii``."""
    sent: list[str] = []
    library = laser.library
    send = library.newp_usb_send_ascii

    def recording(device_id, command, length):
        sent.append(ctypes.string_at(ctypes.addressof(command), int(length.value)).decode())
        return send(device_id, command, length)

    library.newp_usb_send_ascii = recording
    return sent


def test_identifies_from_the_space_separated_idn_reply(laser):
    assert laser.IDN() == {"vendor": "New Focus", "model": "TLB-6700", "serial": "SN1012",
                           "firmware": "v2.4 03/19/14"}


@pytest.mark.parametrize("wavelength", [634.0, 636.789, 639.0])
def test_wavelength_setpoint_round_trip(laser, wavelength):
    laser.wavelength_nm(wavelength)
    assert laser.wavelength_nm.get() == pytest.approx(wavelength)


def test_commands_are_the_documented_long_forms(laser, wire):
    laser.wavelength_nm(636.5)
    laser.wavelength_tracking(True)
    assert wire == ["SOURce:WAVElength 636.500", "OUTPut:TRACk 1"]


def test_power_is_set_in_watts_and_sent_in_milliwatts(laser, wire):
    laser.power(0.0052)
    assert wire == ["SOURce:POWer:DIODe 5.200"]
    assert laser.power.get() == pytest.approx(0.0052)


def test_actual_values_are_read_only_and_si(laser):
    laser.power(0.005)
    laser.output(True)
    assert laser.power_actual.get() == pytest.approx(0.005)
    assert laser.diode_current.get() > 0.04
    for name in ("wavelength_actual_nm", "power_actual", "diode_current"):
        assert not laser.parameters[name].settable


@pytest.mark.parametrize("parameter, value", [
    ("wavelength_nm", 633.9), ("wavelength_nm", 639.1), ("power", 0.0121),
    ("piezo_voltage", 100.5), ("output", "maybe"),
])
def test_validators_refuse_before_anything_is_sent(laser, wire, parameter, value):
    with pytest.raises(ValueError):
        laser.parameters[parameter].set(value)
    assert wire == []


def test_refusal_raises_driver_error_with_command_reply_and_drained_errors(laser):
    laser.wavelength_nm(636.0)
    with pytest.raises(DriverError) as caught:
        laser.write("SOURce:WAVElength 700.000")  # around the validator
    assert caught.value.command == "SOURce:WAVElength 700.000"
    assert caught.value.reply == "ERROR; 201,VALUE OUT OF RANGE"
    assert laser.ask("ERRSTR?") == "0,NO ERROR"
    assert laser.wavelength_nm.get() == pytest.approx(636.0)


def test_a_query_without_reply_is_a_driver_error_and_the_driver_reopens(laser):
    with pytest.raises(DriverError, match="USB library returned -1"):
        laser.ask("SENSe:BOGus?")
    assert laser.pending_errors() == ["116,SYNTAX ERROR"]   # reopened, in step
    assert laser.wavelength_nm.get() == pytest.approx(637.0)


def test_a_controller_with_another_serial_is_not_taken(open_laser):
    with pytest.raises(DriverError, match="no TLB-6700 SN9999 on USB"):
        open_laser("SN9999")


def test_a_library_that_cannot_load_is_one_clear_error(open_laser):
    with pytest.raises(DriverError, match="cannot load Newport's USB library"):
        NewFocusTLB6700("tlb_missing", "SN1012", library="no_such_module.usbdll")


def test_status_reports_drift_as_unlocked(laser):
    adapter = laser.capability_adapter(laser)
    laser.wavelength_nm(637.2)
    assert adapter.status().locked and adapter.status().alarm is None


@pytest.mark.parametrize("address", ["SN1012", ""])
def test_safe_state_turns_emission_off(open_laser, address):
    laser = open_laser(address)
    laser.output(True)
    laser.safe_state()
    assert laser.output.get() is False


def test_node_a_and_node_b_lasers_keep_separate_state(open_laser):
    node_a, node_b = open_laser(), open_laser()
    node_a.wavelength_nm(635.0)
    node_b.wavelength_nm(638.5)
    assert node_a.wavelength_nm.get() == pytest.approx(635.0)
    assert node_b.wavelength_nm.get() == pytest.approx(638.5)
