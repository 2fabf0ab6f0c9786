"""R&S SGS100A (QCoDeS driver + labctl error queue) against its pyvisa-sim twin."""

from __future__ import annotations

import pytest
from qcodes.instrument_drivers.rohde_schwarz import (
    RohdeSchwarzSGS100A as QcodesRohdeSchwarzSGS100A,
)

from drivers.rs_sgs100a import RohdeSchwarzSGS100A, max_frequency_hz
from labctl.errors import DriverError

# (parameter, value set, value read back) for every settable parameter the
# QCoDeS driver defines; the twin echoes enumerated values as written.
ROUND_TRIPS = [
    ("frequency", 2.877e9, 2.877e9),
    ("frequency", 1e6, 1e6),
    ("frequency", 12.75e9, 12.75e9),   # the twin's option: SGS-B112V
    ("phase", 123.45, 123.45),
    ("power", -12.5, -12.5),
    ("power", -120.0, -120.0),
    ("status", True, True),
    ("status", False, False),
    ("IQ_state", True, True),
    ("pulsemod_state", True, True),
    ("pulsemod_source", "EXT", "EXT"),
    ("ref_osc_source", "EXT", "EXT"),
    ("LO_source", "EXT", "EXT"),
    ("ref_LO_out", "LO", "LO"),
    ("ref_osc_output_freq", "100MHz", "100MHz"),
    ("ref_osc_external_freq", "1000MHz", "1000MHz"),
    ("IQ_impairments", True, True),
    ("I_offset", -2.5, -2.5),
    ("Q_offset", 3.25, 3.25),
    ("IQ_gain_imbalance", 0.4, 0.4),
    ("IQ_angle", -7.5, -7.5),
    ("trigger_connector_mode", "PET", "PET"),
    ("pulsemod_delay", 2.5e-6, 2.5e-6),
    ("pulsemod_double_delay", 4e-8, 4e-8),
    ("pulsemod_double_width", 3e-7, 3e-7),
    ("pulsemod_mode", "DOUB", "DOUB"),
    ("pulsemod_period", 1.5e-5, 1.5e-5),
    ("pulsemod_polarity", "INV", "INV"),
    ("pulsemod_trig_ext_gate_polarity", "INV", "INV"),
    ("pulsemod_trig_ext_impedance", "G10K", "G10K"),
    ("pulsemod_trig_ext_slope", "NEG", "NEG"),
    ("pulsemod_trig_mode", "EGAT", "EGAT"),
    ("pulsemod_width", 2e-8, 2e-8),
    ("operation_mode", "BBBYpass", "BBBYpass"),
    ("power_limit", 10.0, 10.0),
]


@pytest.fixture
def mw(open_twin):
    return open_twin(RohdeSchwarzSGS100A, "rs_sgs100a.yaml")


@pytest.fixture
def sent(mw, command_log):
    """Every command string the driver writes or queries, in order."""
    return command_log(mw)


def test_is_the_qcodes_driver_and_identifies_as_sgs100a(mw):
    assert isinstance(mw, QcodesRohdeSchwarzSGS100A)
    idn = mw.IDN()
    assert (idn["vendor"], idn["model"]) == ("Rohde&Schwarz", "SGS100A")


@pytest.mark.parametrize("parameter, value, expected", ROUND_TRIPS)
def test_parameter_round_trip(mw, parameter, value, expected):
    mw.parameters[parameter].set(value)
    got = mw.parameters[parameter].get()
    if isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)
    else:
        assert got == expected


def test_round_trips_cover_every_settable_parameter(mw):
    settable = {name for name, p in mw.parameters.items() if p.settable}
    assert settable - {"timeout"} == {name for name, _, _ in ROUND_TRIPS}


def test_snapshot_reads_every_parameter_from_the_twin(mw):
    snapshot = mw.snapshot(update=True)["parameters"]
    unread = [name for name, entry in snapshot.items()
              if name != "timeout" and entry.get("value") is None]
    assert unread == []


@pytest.mark.parametrize("parameter, value", [
    ("frequency", 0.5e6), ("frequency", 20.1e9), ("power", 25.5),
    ("phase", 361.0), ("IQ_angle", 8.5), ("pulsemod_width", 1e-8),
    ("pulsemod_source", "BOTH"), ("status", "maybe"),
])
def test_validators_refuse_before_anything_is_sent(mw, sent, parameter, value):
    with pytest.raises(ValueError):
        mw.parameters[parameter].set(value)
    assert sent == []


def test_instrument_error_raises_driver_error_with_command_and_reply(mw):
    with pytest.raises(DriverError) as caught:
        mw.write("SOUR:BOGUS 1")
    assert caught.value.command == "SOUR:BOGUS 1"
    assert "-113" in caught.value.reply
    assert "\n" not in str(caught.value)


def test_value_written_around_the_validator_is_refused_by_the_instrument(mw):
    mw.power(-20.0)
    with pytest.raises(DriverError):
        mw.write("SOUR:POW 30.00")
    assert mw.power.get() == pytest.approx(-20.0)


def test_error_queue_is_empty_after_a_refusal(mw):
    with pytest.raises(DriverError):
        mw.write("BOGUS")
    mw.status(False)  # would raise if a stale error were still queued


def test_reset_goes_through_the_error_check(mw):
    mw.reset()
    mw.frequency(2.87e9)
    assert mw.frequency.get() == pytest.approx(2.87e9)


def test_self_test_result_is_returned_and_does_not_desynchronise(mw):
    assert mw.run_self_tests() == 0
    mw.power(-5.0)
    assert mw.power.get() == pytest.approx(-5.0)


def test_qcodes_on_off_helpers_still_work(mw):
    mw.on()
    assert mw.status.get() is True
    mw.off()
    assert mw.status.get() is False


def test_safe_state_turns_rf_off_and_keeps_settings(mw):
    mw.frequency(2.88e9)
    mw.power(-10.0)
    mw.status(True)
    mw.safe_state()
    assert mw.status.get() is False
    assert mw.frequency.get() == pytest.approx(2.88e9)
    assert mw.power.get() == pytest.approx(-10.0)


def test_options_are_read_at_connect_and_narrow_the_frequency(mw, sent):
    assert mw.options() == "SGS-B112V,SGS-B26"
    assert mw.frequency.validators[0].valid_values == (1e6, 12.75e9)
    with pytest.raises(ValueError, match="12750000000"):
        mw.frequency(13e9)
    assert not any(command.startswith("SOUR:FREQ 13") for command in sent)


@pytest.mark.parametrize(("options", "top"), [
    ("SGS-B106", 6e9), ("SGS-B106V,SGS-K22", 6e9), ("SGS-B112V,SGS-B26", 12.75e9)])
def test_frequency_option_sets_the_top_frequency(options, top):
    assert max_frequency_hz(options) == top


def test_a_reply_without_frequency_option_is_refused_by_name():
    with pytest.raises(ValueError, match="names no frequency option"):
        max_frequency_hz("SGS-B26")


def test_station_safety_limits_still_narrow_the_option_range(mw):
    from labctl.safety import narrow_to_limits
    assert narrow_to_limits(mw.frequency, 2e9, 3e9) == (2e9, 3e9)
    with pytest.raises(ValueError):
        mw.frequency(3.5e9)
