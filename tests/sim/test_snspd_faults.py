"""Injected faults on the Eos's TCP transport end in a DriverError with the reason, then recovery.

Each fault kind of `sim_instruments.world_state.Fault` is set on the served
emulator; the driver's next call fails with a one-line reason (or, for a
small latency, just succeeds late), the fault is cleared, the driver recovers
on its own (reconnecting where the connection was lost) and safe state works.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from drivers.single_quantum_eos import QuantumEos
from labctl.errors import DriverError
from sim_instruments.emulators.single_quantum_eos import SingleQuantumEosEmulator
from sim_instruments.emulators.single_quantum_eos_server import EosServer, eos_address
from sim_instruments.world_state import Fault, SnspdChannelState, VirtualClock


class Lab:
    def __init__(self) -> None:
        self.channels = [SnspdChannelState() for _ in range(4)]
        self.emulator = SingleQuantumEosEmulator(self.channels, lambda i: 500.0, VirtualClock(),
                                                 np.random.default_rng(7))
        self.emulator.period_ms = 20
        self.fault: Fault | None = None
        self.server = EosServer("eos", self.emulator, threading.RLock(), lambda: self.fault)
        self.server.start()


@pytest.fixture
def lab() -> Iterator[Lab]:
    served = Lab()
    yield served
    served.server.stop()


@pytest.fixture
def eos(lab) -> Iterator[QuantumEos]:
    box = QuantumEos(f"eos{id(lab)}", eos_address(lab.server.port), timeout=0.3)
    box.ch1.bias_current(15e-6)
    box.ch1.output(True)
    yield box
    box.close()


def recovers_and_is_made_safe(eos: QuantumEos, lab: Lab) -> None:
    lab.fault = None
    assert eos.ch1.bias_current() == pytest.approx(15e-6)
    # one 20 ms period of Poisson clicks at 500 Hz: within 5 sqrt(rate / period)
    assert eos.ch1.count_rate() == pytest.approx(500.0, abs=5 * math.sqrt(500.0 / 0.02))
    eos.safe_state()
    assert all(s.bias_a == 0.0 and not s.enabled for s in lab.channels)


@pytest.mark.parametrize("kind, reason", [
    ("drop", "connection lost"),
    ("silent", "no reply within"),
    ("garbage", "unreadable reply"),
    ("latency", "no reply within"),
])
def test_a_control_fault_is_a_driver_error_with_its_reason(eos, lab, kind, reason):
    lab.fault = Fault(kind, 1.0)
    with pytest.raises(DriverError, match=reason) as caught:
        eos.ch1.bias_current()
    assert "\n" not in str(caught.value)
    recovers_and_is_made_safe(eos, lab)


@pytest.mark.parametrize("kind, reason", [
    ("drop", "connection lost"),
    ("silent", "no reply within"),
    ("garbage", "unreadable line"),
])
def test_a_counts_stream_fault_is_a_driver_error_with_its_reason(eos, lab, kind, reason):
    eos.measurement_period.get()   # cached: the count rate needs only the stream
    lab.fault = Fault(kind, 0.0)
    with pytest.raises(DriverError, match=reason):
        eos.connection.next_counts()
    recovers_and_is_made_safe(eos, lab)


def test_a_small_latency_only_slows_the_unit(eos, lab):
    lab.fault = Fault("latency", 0.05)
    assert eos.ch1.bias_current() == pytest.approx(15e-6)
    recovers_and_is_made_safe(eos, lab)


def test_a_latched_wire_counts_nothing_until_reset(eos, lab):
    lab.channels[0].latched = True        # what the virtual lab's "latch" fault does
    lab.fault = Fault("latch", 1)         # not a transport fault: the link keeps working
    assert eos.ch1.latched() is True and eos.ch1.count_rate() == 0.0
    assert eos.ch1.reset_latch() is True
    assert eos.ch1.latched() is False
    recovers_and_is_made_safe(eos, lab)
