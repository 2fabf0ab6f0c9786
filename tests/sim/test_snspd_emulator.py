"""The Quantum Opus SNSPD bias unit emulator, driven by the real driver over TCP."""

from __future__ import annotations

import itertools
import math

import pytest
from pyvisa.errors import VisaIOError

from drivers.quantum_opus_ampsim import QuantumOpusAmpSim
from labctl.errors import DriverError
from sim_instruments.emulators.quantum_opus_ampsim import QuantumOpusAmpSimEmulator
from sim_instruments.world_state import SnspdChannelState, VirtualClock

CHANNELS = range(1, QuantumOpusAmpSim.channel_count + 1)
SWITCHING_A = 22e-6
DAC_STEP_A = 25e-6 / 65535
PLATEAU_HZ = 1.0e6
DARK_HZ = 50.0


class FakeWorld:
    """Stands in for the world physics: a logistic plateau of counts in bias."""

    def __init__(self, channels: list[SnspdChannelState]) -> None:
        self.channels = channels
        self.asked: list[int] = []

    def rate(self, index: int) -> float:
        self.asked.append(index)
        bias = self.channels[index].bias_a
        # channel-dependent plateau, so a wrong channel index shows
        plateau = PLATEAU_HZ * (index + 1)
        return DARK_HZ + plateau / (1.0 + math.exp(-(bias - 10e-6) / 1.5e-6))


@pytest.fixture
def channels() -> list[SnspdChannelState]:
    return [SnspdChannelState() for _ in CHANNELS]


@pytest.fixture
def world(channels) -> FakeWorld:
    return FakeWorld(channels)


@pytest.fixture
def emulator(channels, world) -> QuantumOpusAmpSimEmulator:
    return QuantumOpusAmpSimEmulator(channels, world.rate, VirtualClock(),
                                     switching_current=SWITCHING_A)


@pytest.fixture
def box(serve, connect, emulator) -> QuantumOpusAmpSim:
    served = serve(emulator)
    return connect(QuantumOpusAmpSim, served.resource)


def refused_code(box: QuantumOpusAmpSim, command: str) -> str:
    with pytest.raises(DriverError) as caught:
        box.write(command)
    return caught.value.reply


# --- identity and parameters -----------------------------------------------------------


def test_identifies_as_amp_sim(box):
    idn = box.IDN()
    assert idn["vendor"] == "QUANTUM OPUS"
    assert idn["model"] == "AMP-SIM"


def test_bias_current_per_channel_round_trips_and_lands_in_state(box, channels):
    wanted = {n: 8e-6 + n * 1.7e-6 for n in CHANNELS}
    for n, amps in wanted.items():
        box.submodules[f"ch{n}"].bias_current(amps)
    for n, amps in wanted.items():
        state = channels[n - 1]
        assert state.bias_a == pytest.approx(amps, abs=DAC_STEP_A / 2)
        assert box.submodules[f"ch{n}"].bias_current.get() == pytest.approx(
            state.bias_a, rel=1e-6)


def test_bias_current_is_rounded_to_the_dac_step(box, channels):
    box.ch1.bias_current(12.0001e-6)
    steps = channels[0].bias_a / DAC_STEP_A
    assert steps == pytest.approx(round(steps), abs=1e-6)
    assert channels[0].bias_a != 12.0001e-6


@pytest.mark.parametrize("amps", [0.0, 25e-6])
def test_bias_current_range_ends(box, channels, amps):
    box.ch2.bias_current(amps)
    assert channels[1].bias_a == pytest.approx(amps, abs=1e-15)
    assert box.ch2.bias_current.get() == pytest.approx(amps, abs=1e-12)


@pytest.mark.parametrize("n", CHANNELS)
def test_output_per_channel(box, channels, n):
    for other in CHANNELS:
        box.submodules[f"ch{other}"].output(True)
    box.submodules[f"ch{n}"].output(False)
    assert [state.enabled for state in channels] == [o != n for o in CHANNELS]
    assert box.submodules[f"ch{n}"].output.get() is False
    box.submodules[f"ch{n}"].output(True)
    assert channels[n - 1].enabled is True
    assert box.submodules[f"ch{n}"].output.get() is True


def test_auto_reset_round_trips(box, channels):
    box.ch3.auto_reset(False)
    assert channels[2].auto_reset is False
    assert [s.auto_reset for i, s in enumerate(channels) if i != 2] == [True] * 3
    assert box.ch3.auto_reset.get() is False
    box.ch3.auto_reset(True)
    assert channels[2].auto_reset is True
    assert box.ch3.auto_reset.get() is True


@pytest.mark.parametrize("seconds", [0.0, 0.37, 2.55])
def test_reset_duration_round_trips(box, channels, seconds):
    box.ch4.reset_duration(seconds)
    assert channels[3].reset_duration_s == pytest.approx(seconds)
    assert box.ch4.reset_duration.get() == pytest.approx(seconds)


def test_reset_duration_is_rounded_to_10_ms_steps(box, channels):
    box.write("SOUR1:LATC:RES:DUR 0.1234")
    assert channels[0].reset_duration_s == pytest.approx(0.12)


def test_whole_snapshot_is_answered(box):
    snapshot = box.snapshot(update=True)
    for n in CHANNELS:
        parameters = snapshot["submodules"][f"ch{n}"]["parameters"]
        for name in ("bias_current", "output", "count_rate", "latched", "auto_reset",
                     "reset_duration"):
            assert parameters[name]["value"] is not None, (n, name)


def test_long_form_and_lower_case_are_accepted(box, channels):
    box.write("source2:current:level 5.0e-6")
    box.write("OUTPUT2:STATE ON")
    assert channels[1].bias_a == pytest.approx(5e-6, abs=DAC_STEP_A)
    assert channels[1].enabled is True


# --- refusals ---------------------------------------------------------------------------


def test_driver_validators_refuse_before_sending(box, channels):
    box.ch1.bias_current(5e-6)
    box.ch1.reset_duration(0.2)
    with pytest.raises(ValueError):
        box.ch1.bias_current(30e-6)
    with pytest.raises(ValueError):
        box.ch1.bias_current(-1e-6)
    with pytest.raises(ValueError):
        box.ch1.reset_duration(3.0)
    assert channels[0].bias_a == pytest.approx(5e-6, abs=DAC_STEP_A)
    assert channels[0].reset_duration_s == pytest.approx(0.2)


@pytest.mark.parametrize(("command", "code"), [
    ("SOUR1:CURR 3.0e-05", "-222"),
    ("SOUR1:CURR -1e-06", "-222"),
    ("SOUR1:LATC:RES:DUR 2.6", "-222"),
    ("SOUR1:CURR abc", "-104"),
    ("SOUR1:CURR", "-109"),
    ("OUTP1:STAT 2", "-224"),
    ("SOUR1:LATC:AUTO maybe", "-224"),
    ("SOUR1:LATC:RES 5", "-108"),
    ("SOUR5:CURR 1e-06", "-114"),
    ("SOUR0:CURR 1e-06", "-114"),
    ("SOUR1:VOLT 1", "-113"),
    ("SENS1:COUN:RATE 5", "-113"),
])
def test_unit_refuses_with_standard_codes_and_keeps_its_state(box, channels, command, code):
    box.ch1.bias_current(5e-6)
    box.ch1.output(False)
    before = [SnspdChannelState(**vars(state)) for state in channels]
    reply = refused_code(box, command)
    assert reply.startswith(code), reply
    assert channels == before


def test_refused_query_sends_no_reply(box):
    box.visa_handle.timeout = 300  # ms
    with pytest.raises(VisaIOError):
        box.ask("SENS9:COUN:RATE?")
    assert box.ask("SYST:ERR?").startswith("-114")
    assert box.ask("SYST:ERR?").startswith("0")
    assert box.ch1.latched.get() is False  # still in step after the timeout


# --- count rate -------------------------------------------------------------------------


def test_count_rate_is_the_worlds_rate_and_plateaus_with_bias(box, channels, world):
    box.ch2.output(True)
    rates = []
    for amps in [0.0, 4e-6, 8e-6, 12e-6, 16e-6, 19e-6, 21e-6]:
        box.ch2.bias_current(amps)
        world.asked.clear()
        reported = box.ch2.count_rate.get()
        assert world.asked == [1]
        assert reported == pytest.approx(world.rate(1), abs=0.05)
        rates.append(reported)
    assert all(b > a for a, b in itertools.pairwise(rates))
    assert rates[-1] == pytest.approx(DARK_HZ + 2 * PLATEAU_HZ, rel=0.01)
    assert rates[-2] == pytest.approx(rates[-1], rel=0.01)
    assert rates[0] < 0.01 * rates[-1]


def test_disabled_channel_counts_nothing(box, world):
    box.ch1.bias_current(18e-6)
    box.ch1.output(False)
    assert box.ch1.count_rate.get() == 0.0
    box.ch1.output(True)
    assert box.ch1.count_rate.get() == pytest.approx(world.rate(0), abs=0.05)
    assert box.ch1.count_rate.get() > PLATEAU_HZ / 2


# --- latching ---------------------------------------------------------------------------


def test_over_bias_latches_and_stops_counting(box, channels):
    box.ch1.output(True)
    box.ch1.bias_current(18e-6)
    assert box.ch1.latched.get() is False
    box.ch1.bias_current(SWITCHING_A + 0.5e-6)
    assert channels[0].latched is True
    assert box.ch1.latched.get() is True  # auto-reset cannot help an over-biased wire
    assert box.ch1.count_rate.get() == 0.0
    assert [box.submodules[f"ch{n}"].latched.get() for n in (2, 3, 4)] == [False] * 3


def test_reset_clears_a_latch_after_the_bias_is_lowered(box, channels, world):
    box.ch2.auto_reset(False)
    box.ch2.output(True)
    box.ch2.bias_current(23e-6)
    assert box.ch2.latched.get() is True
    assert box.ch2.reset_latch() is False  # still over-biased: latches again
    box.ch2.bias_current(16e-6)
    assert box.ch2.latched.get() is True  # lowering alone does not un-latch the wire
    assert box.ch2.count_rate.get() == 0.0
    assert box.ch2.reset_latch() is True
    assert channels[1].latched is False
    assert channels[1].bias_a == pytest.approx(16e-6, abs=DAC_STEP_A)  # back to the setpoint
    assert box.ch2.count_rate.get() == pytest.approx(world.rate(1), abs=0.05)
    assert box.ch2.count_rate.get() > 0


def test_reset_advances_no_time(emulator, box):
    box.ch1.reset_duration(2.5)
    box.ch1.reset_latch()
    assert emulator.clock.now() == 0.0


def test_auto_reset_clears_a_latch_at_the_next_query(box, channels):
    box.ch1.output(True)
    box.ch1.bias_current(24e-6)
    box.ch1.bias_current(15e-6)
    assert channels[0].latched is True  # nothing has asked yet
    assert box.ch1.latched.get() is False
    assert channels[0].latched is False
    assert box.ch1.count_rate.get() > 0


def test_over_bias_while_disabled_latches_when_enabled(box, channels):
    box.ch3.bias_current(24e-6)
    assert channels[2].latched is False  # no current flows
    box.ch3.output(True)
    assert channels[2].latched is True
    box.ch3.output(False)  # current taken away: the wire recovers
    assert channels[2].latched is False


def test_injected_latch_is_reported(box, channels):
    box.ch4.auto_reset(False)
    box.ch4.output(True)
    box.ch4.bias_current(15e-6)
    assert box.ch4.count_rate.get() > 0
    channels[3].latched = True  # the world latches the wire (e.g. a light flash)
    assert box.ch4.latched.get() is True
    assert box.ch4.count_rate.get() == 0.0
    assert box.ch4.reset_latch() is True
    assert box.ch4.count_rate.get() > 0


def test_injected_latch_is_cleared_by_auto_reset(box, channels, world):
    box.ch4.output(True)
    box.ch4.bias_current(15e-6)
    channels[3].latched = True
    assert box.ch4.count_rate.get() == pytest.approx(world.rate(3), abs=0.05)
    assert channels[3].latched is False


# --- safe state and *RST ----------------------------------------------------------------


def test_safe_state_zeroes_and_disables_every_channel(box, channels):
    for n in CHANNELS:
        channel = box.submodules[f"ch{n}"]
        channel.auto_reset(False)
        channel.output(True)
        channel.bias_current(12e-6 + n * 1e-6)
    channels[1].latched = True
    box.ch3.bias_current(24e-6)
    assert channels[2].latched is True
    box.safe_state()
    for n, state in zip(CHANNELS, channels, strict=True):
        assert state.bias_a == 0.0, n
        assert state.enabled is False, n
        assert state.latched is False, n
        assert box.submodules[f"ch{n}"].bias_current.cache.get() == 0.0
        assert box.submodules[f"ch{n}"].output.cache.get() is False


def test_rst_restores_power_up_state(box, channels):
    box.ch1.output(True)
    box.ch1.bias_current(10e-6)
    box.ch1.auto_reset(False)
    box.ch1.reset_duration(1.0)
    box.write("*RST")
    assert channels[0] == SnspdChannelState()


def test_constructor_refuses_nonsense(channels, world):
    with pytest.raises(ValueError):
        QuantumOpusAmpSimEmulator([], world.rate, VirtualClock())
    with pytest.raises(ValueError):
        QuantumOpusAmpSimEmulator(channels, world.rate, VirtualClock(), switching_current=0.0)
