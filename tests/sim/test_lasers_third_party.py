"""Other projects' drivers against labctl's laser emulators, steps counted (>= 95 % must pass).

- Santec TSL-570: QuTech's QMI driver (``qmi.instruments.santec.tsl_570``, PyPI
  ``qmi``), unchanged, over its own TCP transport to the emulator (CR framing).
- New Focus TLB-6700: QMI's ``qmi.instruments.newport.tlb670x`` loads
  ``usbdll.dll`` with ``ctypes.WinDLL`` and refuses to run off Windows, so its
  command sequence is replayed here by an independent client making the same
  library calls with the same ctypes arguments (64-byte buffers, ``byref``) and
  the same reply handling (CR LF separated lines, ``OK`` acknowledgements),
  against the stand-in of Newport's library reaching the served emulator.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pytest

from sim_instruments import newport_usb_api
from sim_instruments.emulators.newfocus_tlb6700 import NewFocusTLB6700Emulator
from sim_instruments.emulators.santec_tsl570 import SantecTSL570Emulator
from sim_instruments.world_state import LaserState
from tests.steps import run_steps

tsl_570 = pytest.importorskip("qmi.instruments.santec.tsl_570")
QMI_Context = pytest.importorskip("qmi.core.context").QMI_Context

PASS_FRACTION = 0.95


def test_qmi_santec_tsl570_driver_runs_against_the_emulator(serve):
    state = LaserState(wavelength_nm=1550.0, power_w=0.001)
    served = serve(SantecTSL570Emulator(state))
    laser = tsl_570.Santec_Tsl570(QMI_Context("labctl_tsl570"), "tsl",
                                  f"tcp:127.0.0.1:{served.server.port}")
    steps: list[tuple[str, Callable[[], object]]] = [
        ("open", laser.open),
        ("get_idn", lambda: laser.get_idn().model == "TSL-570"),
        ("reset", laser.reset),
        ("clear", laser.clear),
        ("operation_complete", lambda: laser.operation_complete() is True),
        ("get_errors", lambda: laser.get_errors() == []),
        ("min wavelength", lambda: laser.get_minimum_wavelength() == 1480.0),
        ("max wavelength", lambda: laser.get_maximum_wavelength() == 1640.0),
        ("set_wavelength", lambda: laser.set_wavelength(1551.1234)),
        ("get_wavelength", lambda: laser.get_wavelength() == pytest.approx(1551.1234)),
        ("state follows", lambda: state.wavelength_nm == pytest.approx(1551.1234)),
        ("min frequency", lambda: laser.get_minimum_frequency() == pytest.approx(182.8, abs=0.1)),
        ("max frequency", lambda: laser.get_maximum_frequency() == pytest.approx(202.6, abs=0.1)),
        ("set_frequency", lambda: laser.set_frequency(193.41449)),
        ("get_frequency", lambda: laser.get_frequency() == pytest.approx(193.41449, abs=1e-4)),
        ("frequency moves wavelength", lambda: state.wavelength_nm == pytest.approx(1550.0,
                                                                                    abs=0.01)),
        ("unit THz", laser.set_wavelength_unit_to_thz),
        ("unit is THz", lambda: laser.get_wavelength_unit() == "THz"),
        ("unit nm", laser.set_wavelength_unit_to_nm),
        ("unit is nm", lambda: laser.get_wavelength_unit() == "nm"),
        ("fine tuning", lambda: laser.set_wavelength_fine(12.34)),
        ("fine tuning reads", lambda: laser.get_wavelength_fine() == pytest.approx(12.34)),
        ("fine tuning off", laser.disable_finetuning_operation),
        ("coherence on", lambda: laser.set_coherence_control_status(True)),
        ("coherence reads", lambda: laser.get_coherence_control_status() == "ON"),
        ("power unit mW", laser.set_power_level_unit_to_mw),
        ("power unit is mW", lambda: laser.get_power_level_unit() == "mW"),
        ("set power mW", lambda: laser.set_power_level(5.0)),
        ("get power mW", lambda: laser.get_power_level() == pytest.approx(5.0)),
        ("state power", lambda: state.power_w == pytest.approx(0.005)),
        ("output on", lambda: laser.set_optical_output_status(True)),
        ("output reads on", lambda: laser.get_optical_output_status() == "ON"),
        ("actual power", lambda: laser.get_actual_power() == pytest.approx(5.0)),
        ("power unit dBm", laser.set_power_level_unit_to_dbm),
        ("set power dBm", lambda: laser.set_power_level(3.0)),
        ("get power dBm", lambda: laser.get_power_level() == pytest.approx(3.0)),
        ("output off", lambda: laser.set_optical_output_status("OFF")),
        ("emission off", lambda: state.emission is False),
        ("get_errors at end", lambda: laser.get_errors() == []),
        ("close", laser.close),
    ]
    failures = run_steps("QMI Santec_Tsl570", steps)
    assert len(failures) <= (1 - PASS_FRACTION) * len(steps), failures
    assert not failures  # all of them, today


class QmiTlbReplay:
    """QMI TLB670X `_send`, `_receive`, `_init_device`, replayed (see the module docstring)."""

    BUFFER = 64
    PRODUCT_ID = 0x100A

    def __init__(self, library: newport_usb_api.NewportUsbLibrary, serial: str) -> None:
        self.library, self.serial, self.device_id = library, serial, -1

    def open(self) -> None:
        self.library.newp_usb_init_product(self.PRODUCT_ID)
        buffer = ctypes.create_string_buffer(self.BUFFER)
        assert self.library.newp_usb_get_device_info(ctypes.byref(buffer)) == 0
        for entry in buffer.value.decode().split(";"):
            if "," in entry:
                device_id, description = entry.split(",")
                if self.serial in description:
                    self.device_id = int(device_id)
        assert self.device_id in range(32)

    def close(self) -> None:
        self.library.newp_usb_uninit_system()

    def receive(self) -> list[str]:
        length = ctypes.c_ulong(self.BUFFER)
        buffer = ctypes.create_string_buffer(length.value)
        read = ctypes.c_ulong(64)
        assert self.library.newp_usb_get_ascii(self.device_id, ctypes.byref(buffer), length,
                                               ctypes.byref(read)) == 0
        return [line for line in buffer.value.decode().split("\r\n") if line]

    def send(self, command_string: str) -> str:
        command = ctypes.create_string_buffer(self.BUFFER)
        command.value = command_string.encode()
        length = ctypes.c_ulong(len(command.value))
        assert self.library.newp_usb_send_ascii(self.device_id, ctypes.byref(command),
                                                length) == 0
        response = self.receive()
        if "?" in command_string and response and response[0] == "OK":
            response = self.receive()
        return response[0]


def test_qmi_tlb670x_command_sequence_runs_against_the_stand_in(serve):
    state = LaserState(wavelength_nm=637.0)
    served = serve(NewFocusTLB6700Emulator(state))
    client = QmiTlbReplay(newport_usb_api.open_library(served.resource), "SN1012")
    steps: list[tuple[str, Callable[[], object]]] = [
        ("open (init_product, get_device_info)", client.open),
        ("check_error_status", lambda: client.send("ERRSTR?") == "0,NO ERROR"),
        ("set_wavelength", lambda: client.send("SOURce:WAVElength 636.25") == "OK"),
        ("get_wavelength", lambda: float(client.send("SOURce:WAVElength?")) == 636.25),
        ("state wavelength", lambda: state.wavelength_nm == 636.25),
        ("set_powermode 1", lambda: client.send("OUTPut:STATe 1") == "OK"),
        ("get_powermode", lambda: int(client.send("OUTPut:STATe?")) == 1),
        ("set_trackingmode 1", lambda: client.send("OUTPut:TRACk 1") == "OK"),
        ("get_trackingmode", lambda: int(client.send("OUTPut:TRACk?")) == 1),
        ("set_piezo_voltage", lambda: client.send("SOURce:VOLTage:PIEZo 42.5") == "OK"),
        ("get_piezo_voltage", lambda: float(client.send("SOURce:VOLTage:PIEZo?")) == 42.5),
        ("get_diode_current", lambda: float(client.send("SENSe:CURRent:DIODe?")) >= 0),
        ("set_powermode 0", lambda: client.send("OUTPut:STATe 0") == "OK"),
        ("emission off", lambda: state.emission is False),
        ("refused value", lambda: client.send("SOURce:WAVElength 700") == "ERROR"),
        ("error reported", lambda: client.send("ERRSTR?") == "201,VALUE OUT OF RANGE"),
        ("reset", lambda: client.send("*RST") == "OK"),
        ("close", client.close),
    ]
    failures = run_steps("QMI TLB670X replayed", steps)
    assert len(failures) <= (1 - PASS_FRACTION) * len(steps), failures
    assert not failures
