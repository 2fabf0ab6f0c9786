"""The two laser emulators answering their real drivers: the TSL-570 over CR-framed TCP,
the TLB-6700 through the stand-in of Newport's USB library (which reaches it over TCP)."""

from __future__ import annotations

import itertools
import socket

import pytest
from pyvisa.errors import VisaIOError

from drivers.newfocus_tlb6700 import NewFocusTLB6700
from drivers.santec_tsl570 import SantecTSL570
from labctl.errors import DriverError
from sim_instruments.emulators.newfocus_tlb6700 import NewFocusTLB6700Emulator
from sim_instruments.emulators.santec_tsl570 import SantecTSL570Emulator
from sim_instruments.world_state import LaserState, VirtualClock


def _exchange(port: int, message: bytes) -> bytes:
    """Send one raw message and read one reply line as it comes off the wire."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(message)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(1024)
            if not chunk:
                break
            reply += chunk
        return reply


# -- New Focus TLB-6700 ---------------------------------------------------------------


@pytest.fixture
def tlb_state():
    return LaserState(wavelength_nm=637.0, power_w=0.0, emission=False)


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def tlb_served(serve, tlb_state, clock):
    return serve(NewFocusTLB6700Emulator(tlb_state, clock))


_names = itertools.count()


@pytest.fixture
def usb():
    """``usb(resource)``: the TLB driver through the USB-library stand-in to ``resource``."""
    opened: list[NewFocusTLB6700] = []

    def _open(resource: str) -> NewFocusTLB6700:
        laser = NewFocusTLB6700(f"tlb_usb{next(_names)}", resource,
                                library="sim_instruments.newport_usb_api")
        opened.append(laser)
        return laser

    yield _open
    for laser in opened:
        laser.close()


@pytest.fixture
def tlb(usb, tlb_served):
    return usb(tlb_served.resource)


def test_tlb_identifies_from_its_space_separated_idn(tlb):
    assert tlb.IDN() == {"vendor": "New Focus", "model": "TLB-6700",
                         "serial": "SN1012", "firmware": "v2.4 03/19/14"}


@pytest.mark.parametrize("parameter, value, field, expected", [
    ("wavelength_nm", 634.0, "wavelength_nm", 634.0),
    ("wavelength_nm", 638.123, "wavelength_nm", 638.123),
    ("power", 0.0052, "power_w", 0.0052),
    ("power", 0.012, "power_w", 0.012),
    ("piezo_voltage", 37.25, "piezo_percent", 37.25),
    ("constant_power", False, "constant_power", False),
    ("wavelength_tracking", True, "tracking", True),
    ("output", True, "emission", True),
])
def test_tlb_parameter_reaches_the_state_and_reads_back(tlb, tlb_state, parameter, value,
                                                        field, expected):
    tlb.parameters[parameter].set(value)
    assert getattr(tlb_state, field) == pytest.approx(expected)
    assert tlb.parameters[parameter].get() == pytest.approx(value)


def test_tlb_reads_settings_made_elsewhere_in_the_world(tlb, tlb_state):
    tlb_state.wavelength_nm = 636.25
    tlb_state.piezo_percent = 12.5
    tlb_state.tracking = True
    assert tlb.wavelength_nm.get() == pytest.approx(636.25)
    assert tlb.piezo_voltage.get() == pytest.approx(12.5)
    assert tlb.wavelength_tracking.get() is True


def test_tlb_actual_wavelength_is_the_setpoint_while_locked(tlb, tlb_state, clock):
    tlb.wavelength_nm(637.219)
    clock.advance(1234.5)
    assert tlb.wavelength_actual_nm.get() == pytest.approx(637.219, abs=1e-4)


def test_tlb_unlocked_wavelength_is_off_by_tens_of_pm_and_wanders(tlb, tlb_state, clock):
    tlb.wavelength_nm(637.219)
    tlb_state.locked = False
    first = tlb.wavelength_actual_nm.get() - 637.219
    clock.advance(22.5)
    later = tlb.wavelength_actual_nm.get() - 637.219
    assert 0.02 < first < 0.1
    assert 0.02 < later < 0.1
    assert abs(later - first) > 0.005
    tlb_state.locked = True
    assert tlb.wavelength_actual_nm.get() == pytest.approx(637.219, abs=1e-4)


def test_tlb_unlocked_without_a_clock_keeps_a_fixed_offset(serve, usb):
    state = LaserState(wavelength_nm=635.5, locked=False)
    laser = usb(serve(NewFocusTLB6700Emulator(state)).resource)
    offset = laser.wavelength_actual_nm.get() - 635.5
    assert 0.02 < offset < 0.1
    assert laser.wavelength_actual_nm.get() - 635.5 == pytest.approx(offset, abs=1e-4)


def test_tlb_actual_power_and_current_follow_emission(tlb, tlb_state):
    tlb.power(0.005)
    assert tlb.power_actual.get() == 0.0
    assert tlb.diode_current.get() == 0.0
    tlb.output(True)
    assert tlb.power_actual.get() == pytest.approx(0.005)
    assert tlb_state.actual_power() == pytest.approx(0.005)
    low_current = tlb.diode_current.get()
    tlb.power(0.010)
    high_current = tlb.diode_current.get()
    assert tlb.power_actual.get() == pytest.approx(0.010)
    assert 0.03 < low_current < high_current < 0.15  # A, above threshold, below damage
    tlb.output(False)
    assert tlb.power_actual.get() == 0.0
    assert tlb.diode_current.get() == 0.0


@pytest.mark.parametrize("parameter, value", [
    ("wavelength_nm", 633.9), ("wavelength_nm", 639.1), ("power", 0.0121),
    ("power", -0.001), ("piezo_voltage", 100.5), ("output", "maybe"),
])
def test_tlb_validators_refuse_before_anything_is_sent(tlb, tlb_state, parameter, value):
    before = LaserState(**vars(tlb_state))
    with pytest.raises(ValueError):
        tlb.parameters[parameter].set(value)
    assert tlb_state == before


@pytest.mark.parametrize("command", [
    "SOURce:WAVElength 640.000", "SOURce:WAVElength 600", "SOURce:POWer:DIODe 12.500",
    "SOURce:VOLTage:PIEZo 101.00", "SOURce:VOLTage:PIEZo -1", "OUTPut:STATe 2",
])
def test_tlb_refuses_values_out_of_range_with_error_201(tlb, tlb_state, command):
    before = LaserState(**vars(tlb_state))
    with pytest.raises(DriverError) as caught:
        tlb.write(command)
    assert caught.value.reply == "ERROR; 201,VALUE OUT OF RANGE"
    assert tlb_state == before
    assert tlb.ask("ERRSTR?") == "0,NO ERROR"  # the driver drained the buffer


@pytest.mark.parametrize("command, code", [
    ("SOURce:BOGus 1", 116),
    ("SOURce:WAVElength abc", 116),
    ("SOURce:WAVElength", 126),
    ("OUTPut:STATe 1,0", 126),
])
def test_tlb_refuses_bad_commands_with_its_own_codes(tlb, command, code):
    with pytest.raises(DriverError) as caught:
        tlb.write(command)
    assert caught.value.reply.startswith(f"ERROR; {code},")


def test_tlb_refused_query_gets_no_reply_and_buffers_an_error(usb, tlb_served):
    laser = usb(tlb_served.resource)
    with pytest.raises(DriverError, match="USB library returned -1"):
        laser.ask("SENSe:BOGus?")
    assert laser.ask("*STB?") == "128"
    assert laser.ask("ERRSTR?") == "116,SYNTAX ERROR"
    assert laser.ask("ERRSTR?") == "0,NO ERROR"
    assert laser.ask("*STB?") == "0"


def test_tlb_has_no_scpi_error_queue(tlb_state):
    emulator = NewFocusTLB6700Emulator(tlb_state)
    assert emulator.respond(b"SYST:ERR?") is None
    assert emulator.respond(b"ERRSTR?") == b"116,SYNTAX ERROR"


def test_tlb_acknowledges_set_commands_with_ok_and_ends_lines_with_cr_lf(tlb_served,
                                                                        tlb_state):
    port = tlb_served.server.port
    assert _exchange(port, b"SOURce:VOLTage:PIEZo 42.00\r\n") == b"OK\r\n"
    assert tlb_state.piezo_percent == pytest.approx(42.0)
    assert _exchange(port, b"*IDN?\r\n") == b"New_Focus 6700 v2.4 03/19/14 SN1012\r\n"
    assert _exchange(port, b"SOURce:VOLTage:PIEZo 420\r\n") == b"ERROR\r\n"


def test_tlb_reset_stops_emission_and_tracking(tlb_state):
    tlb_state.emission = tlb_state.tracking = True
    emulator = NewFocusTLB6700Emulator(tlb_state)
    assert emulator.respond(b"*RST") == b"OK"
    assert not tlb_state.emission
    assert not tlb_state.tracking


def test_tlb_safe_state_stops_emission(tlb, tlb_state):
    tlb.power(0.008)
    tlb.output(True)
    assert tlb_state.actual_power() > 0
    tlb.safe_state()
    assert tlb_state.emission is False
    assert tlb_state.actual_power() == 0.0
    assert tlb.power_actual.get() == 0.0


# -- Santec TSL-570 -------------------------------------------------------------------


@pytest.fixture
def tsl_state():
    return LaserState(wavelength_nm=1588.0, power_w=0.001, emission=False)


@pytest.fixture
def tsl_emulator(tsl_state):
    return SantecTSL570Emulator(tsl_state)


@pytest.fixture
def tsl_served(serve, tsl_emulator):
    return serve(tsl_emulator)


@pytest.fixture
def tsl(connect, tsl_served):
    return connect(SantecTSL570, tsl_served.resource)


def test_tsl_identifies_as_tsl570(tsl):
    idn = tsl.IDN()
    assert (idn["vendor"], idn["model"]) == ("SANTEC", "TSL-570")


@pytest.mark.parametrize("parameter, value, field, expected", [
    ("wavelength_nm", 1480.0, "wavelength_nm", 1480.0),
    ("wavelength_nm", 1550.1234, "wavelength_nm", 1550.1234),
    ("wavelength_nm", 1640.0, "wavelength_nm", 1640.0),
    ("power", 5e-5, "power_w", 5e-5),
    ("power", 0.0052, "power_w", 0.0052),
    ("power", 0.02, "power_w", 0.02),
    ("output", True, "emission", True),
])
def test_tsl_parameter_reaches_the_state_and_reads_back(tsl, tsl_state, parameter, value,
                                                        field, expected):
    tsl.parameters[parameter].set(value)
    assert getattr(tsl_state, field) == pytest.approx(expected)
    assert tsl.parameters[parameter].get() == pytest.approx(value)


def test_tsl_power_in_dbm_and_mw_describe_the_same_state(tsl, tsl_state, tsl_emulator):
    tsl.write(":POW:UNIT 0;:POW 3.0")
    assert tsl_emulator.power_unit_mw is False
    assert tsl_state.power_w == pytest.approx(1.99526e-3, rel=1e-4)
    assert float(tsl.ask(":POW?")) == pytest.approx(3.0, abs=1e-3)
    assert tsl.power.get() == pytest.approx(1.99526e-3, rel=1e-4)  # driver names mW
    assert tsl.ask(":POW:UNIT?") == "1"
    assert float(tsl.ask(":POW?")) == pytest.approx(1.99526, rel=1e-4)
    tsl.write(":POW:UNIT 1;:POW 10.0")
    assert tsl_state.power_w == pytest.approx(0.010)
    tsl.write(":POW:UNIT 0")
    assert float(tsl.ask(":POW?")) == pytest.approx(10.0, abs=1e-3)


def test_tsl_driver_does_not_depend_on_the_front_panel_unit(tsl, tsl_state, tsl_emulator):
    tsl_emulator.power_unit_mw = False
    tsl.power(0.004)
    assert tsl_state.power_w == pytest.approx(0.004)
    tsl_emulator.power_unit_mw = False
    assert tsl.power.get() == pytest.approx(0.004)


def test_tsl_actual_power_follows_emission_in_both_units(tsl, tsl_state):
    tsl.power(0.005)
    assert tsl.power_actual.get() == 0.0
    tsl.output(True)
    assert tsl.power_actual.get() == pytest.approx(0.005)
    tsl.write(":POW:UNIT 0")
    assert float(tsl.ask(":POW:ACT?")) == pytest.approx(6.990, abs=1e-3)
    tsl.output(False)
    assert float(tsl.ask(":POW:ACT?")) <= -40.0
    assert tsl.power_actual.get() == 0.0


@pytest.mark.parametrize("parameter, value", [
    ("wavelength_nm", 1479.9), ("wavelength_nm", 1700.0),
    ("power", 0.021), ("power", 1e-6), ("output", "maybe"),
])
def test_tsl_validators_refuse_before_anything_is_sent(tsl, tsl_state, parameter, value):
    before = LaserState(**vars(tsl_state))
    with pytest.raises(ValueError):
        tsl.parameters[parameter].set(value)
    assert tsl_state == before


@pytest.mark.parametrize("command, code", [
    (":WAV 1700.0000", -222),
    (":WAV 1479", -222),
    (":POW:UNIT 1;:POW 25.00000", -222),
    (":POW:UNIT 1;:POW 0.00500", -222),
    (":POW:UNIT 0;:POW 14.0", -222),      # 14 would be fine in mW, not in dBm
    (":POW:UNIT 0;:POW -21", -222),
    (":POW:UNIT 0;:POW 1e6", -222),
    (":POW:UNIT 2", -224),
    (":POW:STAT 2", -224),
    (":WAV", -109),
    (":WAV:BOGUS 1", -113),
])
def test_tsl_refuses_with_standard_scpi_codes(tsl, tsl_state, command, code):
    before = LaserState(**vars(tsl_state))
    with pytest.raises(DriverError) as caught:
        tsl.write(command)
    assert caught.value.reply.startswith(f"{code},")
    assert tsl_state == before
    assert tsl.ask(":SYST:ERR?") == '0,"No error"'


def test_tsl_refused_query_gets_no_reply_and_queues_an_error(connect, tsl_served):
    laser = connect(SantecTSL570, tsl_served.resource, timeout=0.3)
    with pytest.raises(VisaIOError):
        laser.ask(":POW:BOGUS?")
    assert laser.ask(":SYST:ERR?").startswith("-113,")
    assert laser.ask(":SYST:ERR?") == '0,"No error"'


def test_tsl_reset_clears_the_queue_and_keeps_settings(tsl_state, tsl_emulator):
    tsl_state.emission = True
    tsl_emulator.respond(b":BOGUS")
    tsl_emulator.respond(b"*RST")
    assert tsl_emulator.respond(b":SYST:ERR?") == b'0,"No error"'
    assert tsl_state.emission is True
    assert tsl_state.wavelength_nm == 1588.0


def test_tsl_safe_state_stops_emission(tsl, tsl_state):
    tsl.output(True)
    tsl.safe_state()
    assert tsl_state.emission is False
    assert tsl_state.actual_power() == 0.0
    assert tsl.output.get() is False
