"""The SGS100A and PPLN-converter emulators, answering the real drivers over loopback TCP."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from pyvisa.errors import VisaIOError

from drivers.qfc_ppln import PPLNFrequencyConverter
from drivers.rs_sgs100a import RohdeSchwarzSGS100A
from labctl.errors import DriverError
from sim_instruments.emulators.qfc_ppln import PPLNConverterEmulator
from sim_instruments.emulators.rs_sgs100a import RohdeSchwarzSGS100AEmulator
from sim_instruments.world_state import (
    AMBIENT_C,
    ConverterState,
    MicrowaveState,
    VirtualClock,
)

# ------------------------------------------------------------------------------------
# R&S SGS100A
# ------------------------------------------------------------------------------------

#: Settings kept in the named fields of MicrowaveState: (parameter, value, field).
NAMED = [
    ("frequency", 2.877e9, "frequency_hz"),
    ("frequency", 1e6, "frequency_hz"),
    ("frequency", 12.75e9, "frequency_hz"),
    ("power", -12.5, "power_dbm"),
    ("power", -120.0, "power_dbm"),
    ("power", 25.0, "power_dbm"),
    ("phase", 123.45, "phase_deg"),
    ("phase", 360.0, "phase_deg"),
    ("status", True, "output"),
    ("status", False, "output"),
    ("IQ_state", True, "iq_modulation"),
    ("IQ_state", False, "iq_modulation"),
]

#: Settings kept in state.other: (parameter, value set, value read back, text in state).
OTHER: list[tuple[str, Any, Any, str]] = [
    ("pulsemod_state", True, True, "1"),
    ("IQ_impairments", True, True, "1"),
    ("pulsemod_source", "ext", "EXT", "EXT"),
    ("ref_osc_source", "EXT", "EXT", "EXT"),
    ("LO_source", "ext", "EXT", "EXT"),
    ("ref_LO_out", "lo", "LO", "LO"),
    ("ref_osc_output_freq", "100MHz", "100MHZ", "100MHZ"),
    ("ref_osc_external_freq", "1000MHz", "1000MHZ", "1000MHZ"),
    ("I_offset", -2.5, -2.5, "-2.5"),
    ("Q_offset", 3.25, 3.25, "3.25"),
    ("IQ_gain_imbalance", 0.4, 0.4, "0.4"),
    ("IQ_angle", -7.5, -7.5, "-7.5"),
    ("trigger_connector_mode", "pet", "PET", "PET"),
    ("pulsemod_delay", 2.5e-6, 2.5e-6, "2.5E-06"),
    ("pulsemod_double_delay", 4e-8, 4e-8, "4E-08"),
    ("pulsemod_double_width", 3e-7, 3e-7, "3E-07"),
    ("pulsemod_mode", "double", "DOUB", "DOUB"),
    ("pulsemod_period", 1.5e-5, 1.5e-5, "1.5E-05"),
    ("pulsemod_polarity", "inverted", "INV", "INV"),
    ("pulsemod_trig_ext_gate_polarity", "INV", "INV", "INV"),
    ("pulsemod_trig_ext_impedance", "G10K", "G10K", "G10K"),
    ("pulsemod_trig_ext_slope", "negative", "NEG", "NEG"),
    ("pulsemod_trig_mode", "egate", "EGAT", "EGAT"),
    ("pulsemod_width", 2e-8, 2e-8, "2E-08"),
    ("operation_mode", "BBBYpass", "BBBY", "BBBY"),
]


@pytest.fixture
def mw_state() -> MicrowaveState:
    return MicrowaveState()


@pytest.fixture
def mw(serve, connect, mw_state):
    served = serve(RohdeSchwarzSGS100AEmulator(mw_state))
    return connect(RohdeSchwarzSGS100A, served.resource)


def test_sgs_identifies_as_sgs100a(mw):
    idn = mw.IDN()
    assert (idn["vendor"], idn["model"]) == ("Rohde&Schwarz", "SGS100A")


@pytest.mark.parametrize("parameter, value, field", NAMED)
def test_sgs_named_settings_reach_the_state(mw, mw_state, parameter, value, field):
    mw.parameters[parameter].set(value)
    assert getattr(mw_state, field) == pytest.approx(value)
    assert mw.parameters[parameter].get() == pytest.approx(value)


@pytest.mark.parametrize("parameter, value, expected, text", OTHER)
def test_sgs_other_settings_round_trip_in_the_units_own_form(mw, mw_state, parameter, value,
                                                             expected, text):
    before = mw_state.other[parameter]
    assert before != text  # the preset differs, so the set is seen
    mw.parameters[parameter].set(value)
    assert mw_state.other[parameter] == text
    got = mw.parameters[parameter].get()
    if isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-9)
    else:
        assert got == expected


def test_sgs_round_trips_cover_every_settable_parameter(mw):
    settable = {name for name, p in mw.parameters.items() if p.settable} - {"timeout"}
    covered = {name for name, _, _ in NAMED} | {name for name, *_ in OTHER}
    assert settable == covered


def test_sgs_snapshot_reads_every_parameter(mw):
    snapshot = mw.snapshot(update=True)["parameters"]
    unread = [name for name, entry in snapshot.items()
              if name != "timeout" and entry.get("value") is None]
    assert unread == []
    assert snapshot["ref_osc_output_freq"]["value"] == "10MHZ"
    assert snapshot["status"]["value"] is False


def test_sgs_answers_what_the_world_changed(mw, mw_state):
    mw_state.frequency_hz = 2.5e9
    mw_state.output = True
    mw_state.other["pulsemod_mode"] = "DOUB"
    assert mw.frequency.get() == pytest.approx(2.5e9)
    assert mw.status.get() is True
    assert mw.pulsemod_mode.get() == "DOUB"


def test_sgs_keeps_settings_the_world_already_had(serve, connect):
    state = MicrowaveState(other={"pulsemod_state": "1"})
    mw = connect(RohdeSchwarzSGS100A, serve(RohdeSchwarzSGS100AEmulator(state)).resource)
    assert mw.pulsemod_state.get() is True
    assert mw.pulsemod_source.get() == "INT"


@pytest.mark.parametrize("parameter, value", [
    ("frequency", 0.5e6), ("frequency", 20.1e9), ("power", 25.5), ("phase", 361.0),
    ("IQ_angle", 8.5), ("pulsemod_width", 1e-8), ("pulsemod_source", "BOTH"),
    ("status", "maybe"),
])
def test_sgs_values_refused_by_the_driver_leave_the_state_alone(mw, mw_state, parameter,
                                                                value):
    before = copy.deepcopy(mw_state)
    with pytest.raises(ValueError):
        mw.parameters[parameter].set(value)
    assert mw_state == before


def test_sgs_frequency_above_the_option_is_refused_by_the_unit(mw, mw_state):
    mw.frequency(3e9)
    with pytest.raises(DriverError) as caught:
        mw.frequency(15e9)  # the QCoDeS validator allows 20 GHz; SGS-B112 ends at 12.75
    assert "-222" in caught.value.reply
    assert mw_state.frequency_hz == pytest.approx(3e9)


def test_sgs_frequency_option_is_configurable(serve, connect):
    state = MicrowaveState()
    mw = connect(RohdeSchwarzSGS100A,
                 serve(RohdeSchwarzSGS100AEmulator(state, max_frequency_hz=20e9)).resource)
    mw.frequency(15e9)
    assert state.frequency_hz == pytest.approx(15e9)


@pytest.mark.parametrize("command, code", [
    ("SOUR:POW 30.00", "-222"),
    ("SOUR:PHAS 400", "-222"),
    ("SOUR:PULM:WIDT 1e-9", "-222"),
    ("SOUR:IQ:IMP:LEAK:I 12", "-222"),
    ("SOUR:PULM:SOUR BOTH", "-224"),
    ("CONN:TRIG:OMOD NONE", "-224"),
    (":OUTP:STAT 2", "-224"),
    ("SOUR:FREQ", "-109"),
    ("SOUR:FREQ 1.5 V", "-131"),
    ("SOUR:FREQ lots", "-104"),
    ("SOUR2:FREQ 2e9", "-114"),
    ("SOUR:BOGUS 1", "-113"),
    ("BOGUS", "-113"),
])
def test_sgs_commands_the_unit_refuses_raise_driver_error(mw, mw_state, command, code):
    before = copy.deepcopy(mw_state)
    with pytest.raises(DriverError) as caught:
        mw.write(command)
    assert caught.value.reply.startswith(code)
    assert mw_state == before
    mw.status(False)  # the queue was drained: the next write does not raise


def test_sgs_accepts_values_with_units_and_optional_source_node(mw, mw_state):
    mw.write("FREQ 2.87GHz")
    mw.write("SOUR:POW -10dBm;PHAS 90")  # the second command continues the SOUR path
    mw.write("PULM:WIDT 2us")
    assert mw_state.frequency_hz == pytest.approx(2.87e9)
    assert mw_state.power_dbm == pytest.approx(-10.0)
    assert mw_state.phase_deg == pytest.approx(90.0)
    assert mw.pulsemod_width.get() == pytest.approx(2e-6)


def test_sgs_refused_query_sends_no_reply(mw):
    mw.timeout(0.3)
    with pytest.raises(VisaIOError):
        mw.ask("SOUR:BOGUS?")
    assert mw.drain_error_queue()[0].startswith("-113")
    mw.timeout(2)
    assert mw.power.get() == pytest.approx(-30.0)  # no stale reply in the way


def test_sgs_reset_restores_the_preset(mw, mw_state):
    mw.frequency(2.88e9)
    mw.status(True)
    mw.pulsemod_mode("DOUB")
    mw.reset()
    assert mw_state.output is False
    assert mw_state.frequency_hz == pytest.approx(1e9)
    assert mw_state.other["pulsemod_mode"] == "SING"


def test_sgs_self_test_is_a_query_and_does_not_desynchronise(mw):
    assert mw.run_self_tests() == 0
    mw.power(-5.0)
    assert mw.power.get() == pytest.approx(-5.0)


def test_sgs_safe_state_turns_rf_off_and_keeps_settings(mw, mw_state):
    mw.frequency(2.88e9)
    mw.power(-10.0)
    mw.IQ_state(True)
    mw.status(True)
    mw.safe_state()
    assert mw_state.output is False
    assert (mw_state.frequency_hz, mw_state.power_dbm) == pytest.approx((2.88e9, -10.0))
    assert mw_state.iq_modulation is True


# ------------------------------------------------------------------------------------
# PPLN frequency converter
# ------------------------------------------------------------------------------------

TAU_S = 30.0
TOLERANCE_C = PPLNFrequencyConverter.oven_stability_tolerance_c


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def qfc_state() -> ConverterState:
    return ConverterState(time_constant_s=TAU_S)


@pytest.fixture
def qfc(serve, connect, qfc_state, clock):
    served = serve(PPLNConverterEmulator(qfc_state, clock))
    return connect(PPLNFrequencyConverter, served.resource)


def lag(start_c: float, target_c: float, elapsed_s: float) -> float:
    return target_c + (start_c - target_c) * math.exp(-elapsed_s / TAU_S)


def test_qfc_identifies_as_the_converter(qfc):
    assert qfc.IDN()["model"] == "QFC-637-1588"


def test_qfc_empty_error_queue_is_signed_like_the_itc4000(qfc):
    assert qfc.ask(":SYST:ERR?") == '+0,"No error"'


@pytest.mark.parametrize("watts", [0.0, 1.2345, 3.0])
def test_qfc_pump_power_setpoint_reaches_the_state(qfc, qfc_state, watts):
    qfc.pump_power(watts)
    assert qfc_state.pump_power_w == pytest.approx(watts)
    assert qfc.pump_power.get() == pytest.approx(watts, abs=1e-6)


def test_qfc_monitored_pump_power_follows_emission(qfc, qfc_state):
    qfc.pump_power(1.5)
    assert qfc.pump_power_actual.get() == 0.0
    qfc.pump_emission(True)
    assert qfc_state.pump_emission is True
    assert qfc.pump_emission.get() is True
    assert qfc.pump_power_actual.get() == pytest.approx(1.5)
    qfc.pump_emission(False)
    assert qfc_state.pump_emission is False
    assert qfc.pump_power_actual.get() == 0.0


@pytest.mark.parametrize("celsius", [25.0, 65.125, 200.0])
def test_qfc_oven_setpoint_reaches_the_state(qfc, qfc_state, celsius):
    qfc.oven_setpoint_c(celsius)
    assert qfc_state.oven_setpoint_c == pytest.approx(celsius)
    assert qfc.oven_setpoint_c.get() == pytest.approx(celsius, abs=1e-4)


def test_qfc_oven_heater_reaches_the_state(qfc, qfc_state):
    qfc.oven_heater(True)
    assert qfc_state.oven_heater is True
    assert qfc.oven_heater.get() is True
    qfc.oven_heater(False)
    assert qfc_state.oven_heater is False
    assert qfc.oven_heater.get() is False


def test_qfc_answers_what_the_world_changed(qfc, qfc_state):
    qfc_state.pump_power_w = 2.25
    qfc_state.pump_emission = True
    assert qfc.pump_power.get() == pytest.approx(2.25)
    assert qfc.pump_power_actual.get() == pytest.approx(2.25)


@pytest.mark.parametrize("parameter, value", [
    ("pump_power", 3.01), ("pump_power", -0.01),
    ("oven_setpoint_c", 24.9), ("oven_setpoint_c", 200.5),
    ("pump_emission", "maybe"), ("oven_heater", 2),
])
def test_qfc_values_refused_by_the_driver_leave_the_state_alone(qfc, qfc_state, parameter,
                                                                value):
    before = copy.deepcopy(qfc_state)
    with pytest.raises(ValueError):
        qfc.parameters[parameter].set(value)
    assert qfc_state == before


@pytest.mark.parametrize("command, code", [
    (":SOUR:POW 3.5", "-222"),
    (":UNIT:TEMP C;:SOUR2:TEMP:SPO 250", "-222"),
    # 200 is inside the driver's range in °C, but 200 K is -73 °C:
    (":UNIT:TEMP K;:SOUR2:TEMP:SPO 200", "-222"),
    (":UNIT:TEMP R", "-224"),
    (":OUTP1:STAT 2", "-224"),
    (":OUTP1:STAT", "-109"),
    (":SOUR:POW lots", "-104"),
    (":SOUR2:POW 1", "-113"),
    (":SOUR1:TEMP:SPO 50", "-113"),
    (":OUTP3:STAT 1", "-114"),
    (":SOUR:BOGUS 1", "-113"),
])
def test_qfc_commands_the_unit_refuses_raise_driver_error(qfc, qfc_state, command, code):
    before = copy.deepcopy(qfc_state)
    with pytest.raises(DriverError) as caught:
        qfc.write(command)
    assert caught.value.reply.startswith(code)
    assert qfc_state == before
    qfc.pump_emission(False)  # the queue was drained


def test_qfc_temperature_unit_is_respected(qfc, qfc_state, clock):
    qfc.write(":UNIT:TEMP F;:SOUR2:TEMP:SPO 212")
    assert qfc_state.oven_setpoint_c == pytest.approx(100.0)
    assert float(qfc.ask(":SOUR2:TEMP:SPO?")) == pytest.approx(212.0, abs=1e-3)
    assert float(qfc.ask(":UNIT:TEMP K;:MEAS:TEMP?")) == pytest.approx(AMBIENT_C + 273.15)
    assert qfc.ask(":UNIT:TEMP?") == "K"
    assert float(qfc.ask(":MEAS:TEMP?")) == pytest.approx(AMBIENT_C + 273.15)  # unit persists
    # the driver names °C in every temperature command, whatever the unit was
    assert qfc.oven_temperature_c.get() == pytest.approx(AMBIENT_C)
    assert qfc.oven_setpoint_c.get() == pytest.approx(100.0)


def test_qfc_oven_approaches_setpoint_with_the_time_constant(qfc, clock):
    qfc.oven_setpoint_c(65.0)
    qfc.oven_heater(True)
    assert qfc.oven_temperature_c.get() == pytest.approx(AMBIENT_C)
    assert qfc.oven_temperature_c.get() == pytest.approx(AMBIENT_C)  # no time passes by itself
    clock.advance(TAU_S)
    expected = lag(AMBIENT_C, 65.0, TAU_S)
    assert expected == pytest.approx(65.0 - 40.0 / math.e)
    assert qfc.oven_temperature_c.get() == pytest.approx(expected, abs=1e-4)
    clock.advance(2 * TAU_S)
    assert qfc.oven_temperature_c.get() == pytest.approx(lag(AMBIENT_C, 65.0, 3 * TAU_S),
                                                         abs=1e-4)


def test_qfc_setpoint_change_continues_the_lag_from_the_reached_temperature(qfc, clock):
    qfc.oven_setpoint_c(65.0)
    qfc.oven_heater(True)
    clock.advance(TAU_S)
    reached = lag(AMBIENT_C, 65.0, TAU_S)
    qfc.oven_setpoint_c(100.0)
    assert qfc.oven_temperature_c.get() == pytest.approx(reached, abs=1e-4)
    clock.advance(TAU_S)
    assert qfc.oven_temperature_c.get() == pytest.approx(lag(reached, 100.0, TAU_S), abs=1e-4)


def test_qfc_oven_stable_flips_once_within_tolerance(qfc, clock):
    qfc.oven_setpoint_c(65.0)
    qfc.oven_heater(True)
    assert qfc.oven_stable.get() is False
    # |T - 65| = 40 exp(-t/tau) <= tolerance from t* on
    t_stable = TAU_S * math.log((65.0 - AMBIENT_C) / TOLERANCE_C)
    clock.advance(t_stable - 2.0)
    assert qfc.oven_stable.get() is False
    clock.advance(4.0)
    assert qfc.oven_stable.get() is True


def test_qfc_oven_relaxes_to_ambient_with_heater_off(qfc, clock):
    qfc.oven_setpoint_c(65.0)
    qfc.oven_heater(True)
    clock.advance(20 * TAU_S)
    assert qfc.oven_stable.get() is True
    qfc.oven_heater(False)
    assert qfc.oven_stable.get() is False
    clock.advance(TAU_S)
    start = lag(AMBIENT_C, 65.0, 20 * TAU_S)
    assert qfc.oven_temperature_c.get() == pytest.approx(lag(start, AMBIENT_C, TAU_S), abs=1e-4)


def test_qfc_reset_switches_both_outputs_off(qfc, qfc_state, clock):
    qfc.pump_power(2.0)
    qfc.pump_emission(True)
    qfc.oven_setpoint_c(80.0)
    qfc.oven_heater(True)
    qfc.write(":UNIT:TEMP K")
    clock.advance(TAU_S)
    qfc.write("*RST")
    assert (qfc_state.pump_emission, qfc_state.oven_heater) == (False, False)
    assert qfc_state.pump_power_w == 0.0
    assert qfc_state.oven_setpoint_c == pytest.approx(80.0)
    assert qfc.ask(":UNIT:TEMP?") == "C"
    # the oven cools from where it got to, not from ambient or the setpoint
    assert qfc.oven_temperature_c.get() == pytest.approx(lag(AMBIENT_C, 80.0, TAU_S), abs=1e-4)


def test_qfc_safe_state_stops_the_pump_and_leaves_the_oven(qfc, qfc_state, clock):
    qfc.pump_power(2.0)
    qfc.pump_emission(True)
    qfc.oven_setpoint_c(70.0)
    qfc.oven_heater(True)
    qfc.safe_state()
    assert qfc_state.pump_emission is False
    assert qfc.pump_power_actual.get() == 0.0
    assert qfc_state.oven_heater is True
    assert qfc_state.oven_setpoint_c == pytest.approx(70.0)
    clock.advance(20 * TAU_S)
    assert qfc.oven_stable.get() is True
