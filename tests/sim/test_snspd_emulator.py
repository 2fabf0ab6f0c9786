"""The Single Quantum Eos emulator, driven by the real driver over its two TCP ports."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from drivers.single_quantum_eos import QuantumEos, parse_address
from labctl.errors import DriverError, LabctlError
from sim_instruments.emulators.single_quantum_eos import SingleQuantumEosEmulator
from sim_instruments.emulators.single_quantum_eos_server import EosServer, eos_address
from sim_instruments.world_state import Fault, SnspdChannelState, VirtualClock

SWITCHING_A = 22e-6
PLATEAU_HZ = 1.0e5
DARK_HZ = 50.0


class FakeWorld:
    """Stands in for the world physics: a logistic plateau of counts in bias."""

    def __init__(self, channels: list[SnspdChannelState]) -> None:
        self.channels = channels

    def rate(self, index: int) -> float:
        bias = self.channels[index].bias_a
        plateau = PLATEAU_HZ * (index + 1)  # channel-dependent, so a wrong index shows
        return DARK_HZ + plateau / (1.0 + math.exp(-(bias - 10e-6) / 1.5e-6))


class Served:
    def __init__(self) -> None:
        self.channels = [SnspdChannelState() for _ in range(4)]
        self.world = FakeWorld(self.channels)
        self.emulator = SingleQuantumEosEmulator(self.channels, self.world.rate, VirtualClock(),
                                                 np.random.default_rng(20261202),
                                                 switching_current=SWITCHING_A)
        self.emulator.period_ms = 20
        self.fault: Fault | None = None
        self.server = EosServer("eos", self.emulator, threading.RLock(), lambda: self.fault)
        self.server.start()

    @property
    def address(self) -> str:
        return eos_address(self.server.port)


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.server.stop()


@pytest.fixture
def eos(served) -> Iterator[QuantumEos]:
    box = QuantumEos(f"eos{id(served)}", served.address, timeout=1.0)
    yield box
    box.close()


def test_connect_reads_the_detector_count_and_identity(eos, served):
    assert len(eos.channels) == 4
    assert eos.get_idn()["model"] == "Eos"
    assert eos.limits()["BiasCurrent"]["max"] == pytest.approx(90.9)
    assert served.server.counts_port == served.server.port + 1


def test_bias_of_one_channel_reaches_only_that_wire(eos, served):
    eos.ch2.bias_current(12.5e-6)
    assert served.channels[1].bias_a == pytest.approx(12.5e-6)
    assert served.channels[0].bias_a == 0.0
    assert eos.ch2.bias_current() == pytest.approx(12.5e-6)


def test_bias_enable_is_one_switch_for_all_detectors(eos, served):
    eos.ch1.output(True)
    assert all(s.enabled for s in served.channels)
    assert eos.ch3.output() is True
    eos.ch4.output(False)
    assert not any(s.enabled for s in served.channels)


def test_count_rate_comes_from_the_counts_stream(eos, served):
    eos.ch3.bias_current(15e-6)
    eos.ch3.output(True)
    expected = served.world.rate(2)
    # one period's Poisson count: within 5 standard errors sqrt(rate / period)
    period = served.emulator.period_ms / 1e3
    assert eos.ch3.count_rate() == pytest.approx(expected, abs=5 * math.sqrt(expected / period))
    eos.measurement_period(0.05)
    assert served.emulator.period_ms == 50
    assert eos.ch3.count_rate() == pytest.approx(expected, abs=5 * math.sqrt(expected / 0.05))


def test_over_bias_latches_counts_stop_and_a_reset_clears_it(eos, served):
    eos.ch1.output(True)
    eos.ch1.bias_current(25e-6)
    assert eos.ch1.latched() is True and eos.ch1.count_rate() == 0.0
    assert eos.ch1.reset_latch() is False  # back to 25 uA: latches again
    eos.ch1.bias_current(15e-6)
    assert eos.ch1.latched() is True      # lowering the bias does not unlatch a wire
    assert eos.ch1.reset_latch() is True
    assert eos.ch1.latched() is False and eos.ch1.count_rate() > 0
    assert eos.ch1.bias_current() == pytest.approx(15e-6)


def test_software_auto_reset_clears_a_latch_the_world_caused(eos, served):
    eos.ch2.bias_current(15e-6)
    eos.ch2.output(True)
    served.channels[1].latched = True
    assert eos.ch2.latched() is True
    eos.ch2.auto_reset(True)
    assert eos.ch2.latched() is False and not served.channels[1].latched


def test_safe_state_zeroes_every_bias_and_disables(eos, served):
    for channel in eos.channels:
        channel.bias_current(10e-6)
    eos.ch1.output(True)
    eos.safe_state()
    assert all(s.bias_a == 0.0 and not s.enabled for s in served.channels)
    assert eos.ch1.bias_current.cache.get() == 0.0


def test_bad_values_are_refused_before_anything_is_sent(eos, served):
    with pytest.raises(ValueError, match="bias_current"):
        eos.ch1.bias_current(100e-6)
    with pytest.raises(ValueError):
        eos.measurement_period(0.001)
    assert served.channels[0].bias_a == 0.0


def test_a_refused_command_is_a_driver_error_with_the_systems_reason(eos, served):
    with pytest.raises(DriverError, match="out of"):
        eos.connection.command("SetAllBiasCurrents", "BiasCurrent", [200.0] * 4)
    with pytest.raises(DriverError, match="unknown command"):
        eos.connection.command("Explode", "Boom", 1)
    assert eos.ch1.bias_current() == 0.0  # the connection is still usable


@pytest.mark.parametrize("address, parsed", [
    ("10.0.3.11", ("10.0.3.11", 12000, 12345)),
    ("10.0.3.11:13000", ("10.0.3.11", 13000, 12345)),
    ("h:1:2", ("h", 1, 2)),
])
def test_addresses(address, parsed):
    assert parse_address(address) == parsed


@pytest.mark.parametrize("address", ["", "h:x", "h:1:2:3"])
def test_bad_addresses_are_refused(address):
    with pytest.raises(LabctlError, match="Eos address"):
        parse_address(address)
