"""Quantum Opus SNSPD bias unit driver against its pyvisa-sim twin."""

from __future__ import annotations

import logging

import pytest
from qcodes.instrument import InstrumentChannel

from drivers.quantum_opus_ampsim import QuantumOpusAmpSim
from labctl.errors import DriverError
from labctl.safety import narrow_to_limits

CHANNELS = range(1, QuantumOpusAmpSim.channel_count + 1)


@pytest.fixture
def box(open_twin):
    return open_twin(QuantumOpusAmpSim, "quantum_opus_ampsim.yaml")


@pytest.fixture
def sent(box, command_log):
    """Every command string the driver writes or queries, in order."""
    return command_log(box)


def test_identifies_as_amp_sim(box):
    assert box.IDN()["model"] == "AMP-SIM"


def test_channels_are_submodules_ch1_to_chN(box):
    assert len(box.channels) == QuantumOpusAmpSim.channel_count == 4
    for n in CHANNELS:
        channel = box.submodules[f"ch{n}"]
        assert isinstance(channel, InstrumentChannel)
        assert channel is box.channels[n - 1]
        assert channel.channel == n


def test_bias_current_is_kept_per_channel(box):
    wanted = {n: 10e-6 + n * 1.5e-6 for n in CHANNELS}
    for n, amps in wanted.items():
        box.submodules[f"ch{n}"].bias_current(amps)
    for n, amps in wanted.items():
        assert box.submodules[f"ch{n}"].bias_current.get() == pytest.approx(amps, rel=1e-5)


@pytest.mark.parametrize("amps", [0.0, 12e-6, 25e-6])
def test_bias_current_range_ends_round_trip(box, amps):
    box.ch2.bias_current(amps)
    assert box.ch2.bias_current.get() == pytest.approx(amps, abs=1e-11)


def test_bias_current_is_sent_in_amperes(box, sent):
    box.ch3.bias_current(12e-6)
    assert sent == ["SOUR3:CURR 1.20000e-05"]


def test_bias_current_metadata(box):
    assert box.ch1.bias_current.unit == "A"
    assert box.ch1.bias_current.label


@pytest.mark.parametrize("n", CHANNELS)
def test_output_on_off_per_channel(box, n):
    for other in CHANNELS:
        box.submodules[f"ch{other}"].output(True)
    channel = box.submodules[f"ch{n}"]
    channel.output(False)
    assert channel.output.get() is False
    assert all(box.submodules[f"ch{o}"].output.get() is True for o in CHANNELS if o != n)
    channel.output(True)
    assert channel.output.get() is True


@pytest.mark.parametrize("n", CHANNELS)
def test_auto_reset_per_channel(box, n):
    for other in CHANNELS:
        box.submodules[f"ch{other}"].auto_reset(True)
    channel = box.submodules[f"ch{n}"]
    channel.auto_reset(False)
    assert channel.auto_reset.get() is False
    assert all(box.submodules[f"ch{o}"].auto_reset.get() is True for o in CHANNELS if o != n)


def test_reset_duration_per_channel(box):
    wanted = {n: 0.1 * n + 0.05 for n in CHANNELS}
    for n, seconds in wanted.items():
        box.submodules[f"ch{n}"].reset_duration(seconds)
    for n, seconds in wanted.items():
        channel = box.submodules[f"ch{n}"]
        assert channel.reset_duration.get() == pytest.approx(seconds, abs=1e-9)
        assert channel.reset_duration.unit == "s"


def test_count_rate_is_read_only_in_hz_per_channel(box):
    for n in CHANNELS:
        box.write(f"SIM{n}:COUN:RATE {1000.0 * n + 0.5:.1f}")
    for n in CHANNELS:
        channel = box.submodules[f"ch{n}"]
        assert channel.count_rate.get() == pytest.approx(1000.0 * n + 0.5)
        assert channel.count_rate.unit == "Hz"
        assert not channel.count_rate.settable


def test_latched_status_is_read_only_per_channel(box):
    for n in CHANNELS:
        box.write(f"SIM{n}:LATC {1 if n == 3 else 0}")
    assert [box.submodules[f"ch{n}"].latched.get() for n in CHANNELS] == [
        False, False, True, False]
    assert not box.ch3.latched.settable
    box.write("SIM3:LATC 0")
    assert box.ch3.latched.get() is False


def test_reset_latch_sends_reset_waits_and_reports_cleared(box, sent):
    box.write("SIM2:LATC 0")
    sent.clear()
    assert box.ch2.reset_latch() is True
    assert sent[0] == "SOUR2:LATC:RES"
    assert sent.index("*OPC?") < sent.index("STAT2:LATC?")


def test_reset_latch_reports_a_latch_that_persists(box, caplog):
    box.write("SIM4:LATC 1")  # the twin cannot recover a nanowire: the latch stays
    with caplog.at_level(logging.WARNING, logger="drivers.quantum_opus_ampsim"):
        assert box.ch4.reset_latch() is False
    assert "still latched" in caplog.text
    box.write("SIM4:LATC 0")


def test_reset_latch_keeps_the_bias_setpoint(box):
    box.ch1.bias_current(17e-6)
    box.ch1.reset_latch()
    assert box.ch1.bias_current.get() == pytest.approx(17e-6, rel=1e-5)


@pytest.mark.parametrize("parameter, value", [
    ("bias_current", -1e-9), ("bias_current", 25.1e-6), ("bias_current", 1e-3),
    ("bias_current", "12e-6"), ("output", "maybe"), ("output", 2),
    ("auto_reset", "sometimes"), ("reset_duration", -0.01), ("reset_duration", 2.56),
])
def test_validators_refuse_before_anything_is_sent(box, sent, parameter, value):
    with pytest.raises((ValueError, TypeError)):
        box.ch1.parameters[parameter].set(value)
    assert sent == []


@pytest.mark.parametrize("parameter", ["count_rate", "latched"])
def test_read_only_parameters_cannot_be_set(box, sent, parameter):
    with pytest.raises(AttributeError):  # QCoDeS gives a get-only parameter no set()
        box.ch1.parameters[parameter].set(1)
    assert sent == []


def test_every_parameter_has_label_validator_and_unit_or_mapping(box):
    for channel in box.channels:
        for name, parameter in channel.parameters.items():
            assert parameter.label and parameter.label != name, name
            assert parameter.vals is not None, name
            assert parameter.unit or parameter.val_mapping, name


def test_instrument_error_raises_driver_error_with_command_and_reply(box):
    with pytest.raises(DriverError) as caught:
        box.write("SOUR1:BOGUS 1")
    assert caught.value.command == "SOUR1:BOGUS 1"
    assert "-113" in caught.value.reply
    assert "\n" not in str(caught.value)


def test_twin_refuses_a_bias_beyond_the_module_range(box):
    box.ch1.bias_current(5e-6)
    with pytest.raises(DriverError) as caught:
        box.write("SOUR1:CURR 3.00000e-05")  # bypasses the driver's validator
    assert "-113" in caught.value.reply
    assert box.ch1.bias_current.get() == pytest.approx(5e-6, rel=1e-5)


def test_error_queue_is_empty_after_a_refusal(box):
    with pytest.raises(DriverError):
        box.write("BOGUS")
    box.ch1.output(False)  # would raise if a stale error were still queued


def _bias_all(box, amps_base: float = 10e-6) -> None:
    for n in CHANNELS:
        channel = box.submodules[f"ch{n}"]
        channel.bias_current(amps_base + n * 1e-6)
        channel.output(True)


def _assert_all_safe(box) -> None:
    for n in CHANNELS:
        channel = box.submodules[f"ch{n}"]
        assert channel.bias_current.get() == 0.0, n
        assert channel.output.get() is False, n
        assert channel.bias_current.cache.get(get_if_invalid=False) == 0.0, n


def test_safe_state_zeroes_and_disables_every_channel(box):
    _bias_all(box)
    box.safe_state()
    _assert_all_safe(box)


def test_safe_state_lowers_bias_before_disabling(box, sent):
    _bias_all(box)
    sent.clear()
    box.ch2.safe_state()
    writes = [cmd for cmd in sent if not cmd.endswith("?")]
    assert writes == ["SOUR2:CURR 0.00000e+00", "OUTP2:STAT 0"]


def test_safe_state_is_not_blocked_by_a_station_lower_limit(box):
    _bias_all(box)
    for channel in box.channels:
        narrow_to_limits(channel.bias_current, 5e-6, 20e-6)
    with pytest.raises(ValueError):
        box.ch1.bias_current(0.0)  # the limit does apply to ordinary sets
    box.safe_state()
    _assert_all_safe(box)


def test_safe_state_tries_every_channel_and_raises_the_first_failure(box, monkeypatch):
    _bias_all(box)
    write_raw = box.write_raw

    def failing_on_ch1(cmd: str) -> None:
        if cmd.startswith("SOUR1:"):
            raise DriverError(box.name, cmd, '-300,"Device-specific error"')
        write_raw(cmd)

    monkeypatch.setattr(box, "write_raw", failing_on_ch1)
    with pytest.raises(DriverError) as caught:
        box.safe_state()
    assert caught.value.command.startswith("SOUR1:")
    monkeypatch.undo()
    for n in CHANNELS[1:]:
        channel = box.submodules[f"ch{n}"]
        assert channel.bias_current.get() == 0.0, n
        assert channel.output.get() is False, n
    assert box.ch1.bias_current.get() == pytest.approx(11e-6, rel=1e-5)
