"""The SGS100A emulator, answering the real driver over loopback TCP.

The PPLN converter's units have their own tests: tests/sim/test_converter_*.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pyvisa.errors import VisaIOError

from drivers.rs_sgs100a import RohdeSchwarzSGS100A
from labctl.errors import DriverError
from sim_instruments.emulators.rs_sgs100a import RohdeSchwarzSGS100AEmulator
from sim_instruments.world_state import MicrowaveState

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
    ("power_limit", 12.5, 12.5, "12.5"),
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
    with pytest.raises(ValueError):
        mw.frequency(15e9)  # *OPT? said SGS-B112: the driver's validator ends at 12.75 GHz
    with pytest.raises(DriverError) as caught:
        mw.write("SOUR:FREQ 15e9")  # written around the validator: the unit refuses
    assert "-222" in caught.value.reply
    assert mw_state.frequency_hz == pytest.approx(3e9)


def test_sgs_frequency_option_is_configurable(serve, connect):
    state = MicrowaveState()
    mw = connect(RohdeSchwarzSGS100A,
                 serve(RohdeSchwarzSGS100AEmulator(state, max_frequency_hz=6e9)).resource)
    assert mw.options() == "SGS-B106"
    mw.frequency(5.5e9)
    assert state.frequency_hz == pytest.approx(5.5e9)
    with pytest.raises(ValueError):
        mw.frequency(7e9)
    assert state.frequency_hz == pytest.approx(5.5e9)


def test_sgs_power_above_the_limit_is_refused_and_a_lower_limit_lowers_the_level(mw, mw_state):
    mw.power_limit(0.0)
    with pytest.raises(DriverError) as caught:
        mw.power(5.0)
    assert "-221" in caught.value.reply
    mw.power(-3.0)
    mw.power_limit(-10.0)
    assert mw.power() == pytest.approx(-10.0) and mw_state.power_dbm == pytest.approx(-10.0)


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
