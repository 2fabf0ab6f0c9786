"""The converter's unit emulators driven by QuTech QMI's hardware-tested code, steps counted.

QMI (PyPI ``qmi``) runs unchanged, over its own ``tcp:127.0.0.1:<port>``
transport to the serial line each emulator is served on
(`sim_instruments.emulators.serial_line.SerialLineServer`, the bytes of the
line unchanged), with a QMI context built as QMI's own unit tests build it
(``QMI_Context(name)``; nothing is written to disk):

- Thorlabs TC200 oven controller: QMI's driver
  ``qmi.instruments.thorlabs.tc200.Thorlabs_TC200``, every public method.
- NKT BoostiK OEM pump amplifier on Interbus: QMI's Interbus implementation
  ``qmi.instruments.nkt_photonics.nkt_photonics_interbus_protocol.
  NKTPhotonicsInterbusProtocol`` (framing, CRC, alternating host address,
  retries; QMI's Koheras AdjustiK driver is built on it), reading and writing
  the BoostiK's registers (SDK register file ``70.txt``). QMI's own
  ``KoherasBoostikLaserAmplifier`` is not used: it speaks the BoostiK *HPA*
  bench unit's ASCII serial protocol (``ACC``, ``CDO`` ...; HPA user manual
  rev06 §4.3.2), another interface than the OEM module's Interbus that labctl
  emulates and drives.

A step passes when QMI returns what the emulator's state says, or when the
unit refuses as the real one does and QMI raises its error for it. At least
95 % of each unit's steps must pass; failures are printed (``pytest -s``).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from sim_instruments.emulators.nkt_boostik import BoostikEmulator
from sim_instruments.emulators.serial_line import SerialLineServer
from sim_instruments.emulators.thorlabs_tc200 import TC200Emulator
from sim_instruments.world_state import ConverterState, VirtualClock
from tests.steps import Step, raises, run_steps
from wire_formats import nkt_interbus as ib

tc200 = pytest.importorskip("qmi.instruments.thorlabs.tc200")
interbus = pytest.importorskip("qmi.instruments.nkt_photonics.nkt_photonics_interbus_protocol")
QMI_Context = pytest.importorskip("qmi.core.context").QMI_Context
create_transport = pytest.importorskip("qmi.core.transport").create_transport
exceptions = pytest.importorskip("qmi.core.exceptions")

PASS_FRACTION = 0.95


@pytest.fixture
def state() -> ConverterState:
    return ConverterState()


def _serve(emulator) -> Iterator[SerialLineServer]:
    server = SerialLineServer("unit", emulator, threading.RLock(), lambda: None)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tc200_line(state) -> Iterator[SerialLineServer]:
    yield from _serve(TC200Emulator(state, VirtualClock()))


@pytest.fixture
def boostik_line(state) -> Iterator[SerialLineServer]:
    yield from _serve(BoostikEmulator(state))


# --- Thorlabs TC200, QMI's Thorlabs_TC200 -------------------------------------------------

def test_qmi_tc200_driver_runs_against_the_emulator(tc200_line, state):
    oven = tc200.Thorlabs_TC200(QMI_Context("labctl_qmi_tc200"), "oven",
                                f"tcp:127.0.0.1:{tc200_line.port}")
    refused = exceptions.QMI_InstrumentException
    steps: list[Step] = [
        ("open", oven.open),
        ("get_idn", lambda: (oven.get_idn().vendor, oven.get_idn().model) == ("THORLABS",
                                                                              "TC200")),
        ("get_status", lambda: oven.get_status().unit is tc200.DisplayUnit.CELSIUS),
        ("is_enabled (off)", lambda: oven.is_enabled() is False),
        ("has_alarm", lambda: oven.has_alarm() is False),
        ("enable", oven.enable),
        ("is_enabled (on)", lambda: oven.is_enabled() is True and state.oven_heater),
        ("enable again leaves it on", lambda: (oven.enable(), state.oven_heater)[1]),
        ("set_temperature", lambda: oven.set_temperature(65.4)),
        ("get_temperature_setpoint", lambda: oven.get_temperature_setpoint() == 65.4
         and state.oven_setpoint_c == pytest.approx(65.4)),
        ("get_temperature_actual", lambda: oven.get_temperature_actual() == pytest.approx(
            state.temperature_c(0.0), abs=0.05)),
        ("set_temperature_limit", lambda: oven.set_temperature_limit(150.0)),
        ("get_temperature_limit", lambda: oven.get_temperature_limit() == 150.0),
        ("setpoint above the limit refused",
         raises(refused, lambda: oven.set_temperature(160.0))),
        ("setpoint unchanged", lambda: oven.get_temperature_setpoint() == 65.4),
        ("set_power_limit", lambda: oven.set_power_limit(5.0)),
        ("get_power_limit", lambda: oven.get_power_limit() == 5.0),
        ("set_pid_gains", lambda: oven.set_pid_gains(120, 10, 5)),
        ("get_pid_gains", lambda: oven.get_pid_gains() == (120, 10, 5)),
        ("set_pid_gains, P only", lambda: oven.set_pid_gains(p_gain=110)),
        ("get_pid_gains again", lambda: oven.get_pid_gains() == (110, 10, 5)),
        ("is_tuned (not yet)", lambda: oven.is_tuned() is False),
        ("tune", oven.tune),
        ("is_tuned", lambda: oven.is_tuned() is True),
        ("tune when tuned refused by QMI",
         raises(exceptions.QMI_UsageException, oven.tune)),
        ("detune", oven.detune),
        ("is_tuned (detuned)", lambda: oven.is_tuned() is False),
        ("disable", oven.disable),
        ("is_enabled (off again)", lambda: oven.is_enabled() is False and not state.oven_heater),
        ("disable again leaves it off", lambda: (oven.disable(), not state.oven_heater)[1]),
        ("tune needs the output on (QMI refuses)",
         raises(exceptions.QMI_UsageException, oven.tune)),
        ("close", oven.close),
    ]
    failures = run_steps("QMI Thorlabs_TC200", steps)
    assert len(steps) - len(failures) >= PASS_FRACTION * len(steps), failures
    assert state.oven_setpoint_c == pytest.approx(65.4) and not state.oven_heater


# --- NKT BoostiK on Interbus, QMI's NKTPhotonicsInterbusProtocol -------------------------

def test_qmi_interbus_protocol_drives_the_boostik_emulator(boostik_line, state):
    transport = create_transport(f"tcp:127.0.0.1:{boostik_line.port}")
    transport.open()
    bus = interbus.NKTPhotonicsInterbusProtocol(transport, timeout=0.5)
    module = ib.BOOSTIK_ADDRESS
    get = lambda register: bus.get_register(module, register)              # noqa: E731
    put = lambda register, data: bus.set_register(module, register, data)  # noqa: E731
    u8 = lambda register: struct.unpack("<B", get(register))[0]            # noqa: E731
    u16 = lambda register: struct.unpack("<H", get(register))[0]           # noqa: E731
    s16 = lambda register: struct.unpack("<h", get(register))[0]           # noqa: E731
    nack = exceptions.QMI_InstrumentException
    steps: list[Step] = [
        ("module type", lambda: u8(interbus.RegisterNumber.MODULE_TYPE.value)
         == ib.BOOSTIK_MODULE_TYPE),
        ("firmware", lambda: u16(0x64) > 0),
        ("serial number", lambda: len(get(0x65)) > 0),
        ("status bits (no emission)", lambda: u16(0x66) & 1 == 0),
        ("error code", lambda: u8(0x67) == 0),
        ("heat-sink temperature (0.1 °C)", lambda: -400 < s16(0x10) < 1000),
        ("supply voltage (mV)", lambda: 10_000 < u16(0x12) < 14_000),
        ("set power setpoint (0.1 dBm)", lambda: put(0x22, struct.pack("<h", 330))),
        ("get power setpoint", lambda: s16(0x22) == 330
         and state.pump_power_w == pytest.approx(ib.setpoint_to_watts(330))),
        ("setpoint out of range NACKed",
         raises(nack, lambda: put(0x22, struct.pack("<h", 400)))),
        ("setpoint unchanged", lambda: s16(0x22) == 330),
        ("emission on (power mode)", lambda: put(0x30, struct.pack("<B", 2))),
        ("state register", lambda: u8(0x30) == 2 and state.pump_emission),
        ("status: emission bit", lambda: u16(0x66) & 1 == 1),
        ("output power (mW)", lambda: u16(0x15) == round(state.actual_pump_power() * 1e3)
         and u16(0x15) > 0),
        ("pump current setpoint (mA)", lambda: put(0x21, struct.pack("<H", 4500))),
        ("pump current setpoint reads", lambda: u16(0x21) == 4500),
        ("pump current readout", lambda: u16(0x19) == 4500),
        ("constant-current mode", lambda: put(0x30, struct.pack("<B", 1))),
        ("state register (current)", lambda: u8(0x30) == 1 and state.pump_emission),
        ("unknown register NACKed", raises(nack, lambda: get(0xEE))),
        ("read-only register write NACKed",
         raises(nack, lambda: put(0x61, struct.pack("<B", 0x33)))),
        ("wrong data size NACKed", raises(nack, lambda: put(0x30, b"\x00\x00"))),
        ("emission off", lambda: put(0x30, struct.pack("<B", 0))),
        ("output power off", lambda: u16(0x15) == 0 and not state.pump_emission),
        ("another module's address goes unanswered (QMI times out)",
         raises(exceptions.QMI_TimeoutException, lambda: bus.get_register(module + 1, 0x61))),
    ]
    try:
        failures = run_steps("QMI NKTPhotonicsInterbusProtocol (BoostiK)", steps)
    finally:
        transport.close()
    assert len(steps) - len(failures) >= PASS_FRACTION * len(steps), failures


def test_a_corrupted_frame_gets_a_crc_error_reply(boostik_line):
    frame = bytearray(ib.encode(ib.Message(ib.BOOSTIK_ADDRESS, 161, ib.MessageType.READ, 0x61)))
    frame[-2] ^= 0x01                                     # break the CRC
    with socket.create_connection(("127.0.0.1", boostik_line.port), timeout=2.0) as sock:
        sock.sendall(bytes(frame))
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            data += chunk
    assert ib.decode(data).type is ib.MessageType.CRC_ERROR
