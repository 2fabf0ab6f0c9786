"""Fault kinds on each laser transport: recovery, or a DriverError with the reason.

After every fault is cleared, ``safe_state()`` leaves emission off, read back
over a fresh connection when the old one broke.
"""

from __future__ import annotations

import itertools

import pytest
from pyvisa.errors import VisaIOError

from drivers.newfocus_tlb6700 import NewFocusTLB6700
from drivers.santec_tsl570 import SantecTSL570
from labctl.errors import DriverError
from sim_instruments.emulators.newfocus_tlb6700 import NewFocusTLB6700Emulator
from sim_instruments.emulators.santec_tsl570 import SantecTSL570Emulator
from sim_instruments.world_state import Fault, LaserState

_names = itertools.count()


@pytest.fixture
def tlb_rig(serve):
    state = LaserState(wavelength_nm=637.0)
    served = serve(NewFocusTLB6700Emulator(state))
    opened: list[NewFocusTLB6700] = []

    def connect() -> NewFocusTLB6700:
        laser = NewFocusTLB6700(f"tlb_fault{next(_names)}", served.resource,
                                library="sim_instruments.newport_usb_api")
        opened.append(laser)
        return laser

    yield state, served, connect
    for laser in opened:
        laser.close()


@pytest.mark.parametrize("kind, value, reason", [
    ("drop", 0.0, "USB library returned -1"),
    ("silent", 0.0, "USB library returned -1"),
    ("garbage", 0.0, "unreadable reply"),
])
def test_tlb_transport_faults_are_driver_errors_then_recover(tlb_rig, kind, value, reason):
    state, served, connect = tlb_rig
    laser = connect()
    laser.output(True)
    served.fault = Fault(kind, value)
    with pytest.raises(DriverError, match=reason):
        laser.wavelength_nm.get()
    served.fault = None
    laser.safe_state()                      # the driver reopens the device by itself
    assert state.emission is False
    assert connect().output.get() is False


def test_tlb_latency_only_slows_it_down(tlb_rig):
    _, served, connect = tlb_rig
    laser = connect()
    served.fault = Fault("latency", 0.2)
    laser.wavelength_nm(636.0)
    assert laser.wavelength_nm.get() == pytest.approx(636.0)
    served.fault = None


def test_tlb_unlock_shows_in_the_capability_status(tlb_rig):
    state, _, connect = tlb_rig
    laser = connect()
    adapter = laser.capability_adapter(laser)
    laser.output(True)
    assert adapter.status().healthy
    state.locked = False
    assert not adapter.status().locked
    state.locked = True
    assert adapter.status().locked
    laser.safe_state()
    assert not adapter.status().emission


@pytest.fixture
def tsl_rig(serve, connect):
    state = LaserState(wavelength_nm=1550.0, power_w=0.001)
    emulator = SantecTSL570Emulator(state)
    served = serve(emulator)
    return state, emulator, served, lambda: connect(SantecTSL570, served.resource, timeout=0.5)


@pytest.mark.parametrize("kind", ["drop", "silent", "garbage"])
def test_tsl_transport_faults_raise_then_a_fresh_connection_makes_it_safe(tsl_rig, kind):
    state, _, served, connect = tsl_rig
    laser = connect()
    laser.output(True)
    served.fault = Fault(kind, 0.0)
    with pytest.raises((VisaIOError, ConnectionError, DriverError, ValueError, OSError)):
        laser.wavelength_nm.get()
    served.fault = None
    fresh = connect()
    fresh.safe_state()
    assert state.emission is False
    assert fresh.output.get() is False


def test_tsl_latency_only_slows_it_down(tsl_rig):
    _, _, served, connect = tsl_rig
    laser = connect()
    served.fault = Fault("latency", 0.1)
    laser.wavelength_nm(1551.0)
    assert laser.wavelength_nm.get() == pytest.approx(1551.0)
    served.fault = None


def test_tsl_unlock_and_interlock_show_in_the_capability_status(tsl_rig):
    state, emulator, _, connect = tsl_rig
    laser = connect()
    adapter = laser.capability_adapter(laser)
    laser.output(True)
    assert adapter.status().healthy
    state.locked = False
    status = adapter.status()
    assert not status.locked and "No05 wavelength error" in (status.alarm or "")
    state.locked = True
    emulator.open_interlock()
    status = adapter.status()
    assert status.locked and not status.emission
    assert "No07 interlock detection" in (status.alarm or "")
    assert laser.interlock_open.get() is True
    with pytest.raises(DriverError, match="-200"):
        laser.output(True)
    emulator.open_interlock(False)
    assert adapter.status().healthy
    laser.safe_state()
