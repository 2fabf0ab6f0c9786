"""New Focus (Newport) TLB-6700 Velocity tunable diode laser: the 637 nm NV excitation laser.

Modeled on the TLB-6700 controller with a TLB-6704 head (634-639 nm), the
resonant excitation laser of an NV-centre node. The driver sets the
wavelength, the diode power (constant-power mode) and the piezo, reads back
the actual wavelength, power and diode current, and switches emission.

The Velocity speaks SCPI-like ASCII commands but has no ``SYSTem:ERRor?``
queue: every *set* command is answered with one line, ``OK`` when it was
accepted, and errors are read one at a time from an error buffer with
``ERRSTR?`` (``*STB?`` reads 128 while that buffer holds errors, as
third-party code has it). So this driver's write path reads that
acknowledgement after every write, and when it is not ``OK`` drains
``ERRSTR?`` and raises `DriverError(command, "<reply>; <errors>")`.

Seen in use (see below for what that means):

- ``*IDN?`` -> ``New_Focus 6700 v2.4 03/19/14 SN1012`` (a real unit's reply)
- ``OK`` as the reply to every accepted set command; ``ERRSTR?`` pops one error
- ``SOURce:WAVElength <nm>`` / ``SOURce:WAVElength?``; ``SENSe:WAVElength?`` (actual)
- ``SOURce:POWer:DIODe <mW>`` / ``...?``; ``SENSe:POWer:DIODe?`` (actual, mW)
- ``SENSe:CURRent:DIODe?`` (actual, mA)
- ``SOURce:CPOWer 1|0`` / ``...?`` (constant-power mode)
- ``OUTPut:STATe 1|0`` / ``...?`` (emission); ``OUTPut:TRACk 1|0`` / ``...?``
- ``SOURce:VOLTage:PIEZo <%>`` / ``...?`` (0-100 % of the piezo's range)

"Seen" means: the spelling, argument and reply unit agree across several
independent third-party TLB-6700 drivers, among them QuTech's QMI driver
(``qmi/instruments/newport/tlb670x.py``, written with Newport's permission),
which also documents the ``OK`` acknowledgements, CR LF separated reply
lines and the piezo voltage as a percentage of its range. Newport's manual
itself was not available, so nothing here is quoted from it.

The transport, from Newport's header of its USB library (``NewpDll.h``,
2017) and QMI: the controller is a USB device (product ID 0x100A) reached
through Newport's USB library ``usbdll.dll``: ``newp_usb_init_product``
opens the devices, ``newp_usb_get_device_info`` lists them as
``<DeviceID>,<*IDN? reply>;``, ``newp_usb_send_ascii`` sends one command
(the library appends the CR), ``newp_usb_get_ascii`` reads the pending
response (CR LF separated lines), ``newp_usb_uninit_system`` closes them;
every call returns 0 for success (-1 general error, -2 device ID not open,
-3 device ID outside 0-31). After a failed call QMI closes and reopens the
devices to clear the error state; so does this driver, before its next
command.

The library is loaded by name (``library:``, default ``usbdll.dll``): a
shared-library file name is loaded with ctypes (Windows, where Newport ships
it); any other name is a Python module whose ``open_library(address)``
returns an object with the same functions — the virtual lab's stand-in,
`sim_instruments.newport_usb_api`. ``address`` is the controller's serial
number as its ``*IDN?`` ends (``SN1012``; empty: the first TLB-6700 found);
a stand-in library is handed the address to find its bus.

labctl's own, not verified against the unit:

- the format of an ``ERRSTR?`` entry: parsed as ``<code>,<text>`` with code 0
  meaning "no error" (`labctl.visa.parse_error_reply`); an entry that does not
  parse is reported verbatim;
- what the unit answers to a refused set command: anything but ``OK`` counts
  as a refusal; no reply (the library's read failing) counts too;
- that the error buffer holding an entry nobody caused (``*STB?`` 128 at a
  status check: an interlock or over-temperature fault) is an alarm;
- the number formats sent (``{:.3f}`` nm and mW, ``{:.2f}`` %);
- the limits: 634-639 nm is the TLB-6704 tuning range as given for this
  node; 0-12 mW as the diode power setpoint range is an assumption (the
  head's specification was not found). Station files narrow it further.

``SOURce:POWer:DIODe`` acts while constant-power mode is on; with it off the
controller holds the diode current instead.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import re
from typing import Any, ClassVar

from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter, create_on_off_val_mapping

from drivers._laser import ParameterLaser
from labctl.errors import DriverError, TransportError
from labctl.instruments.laser import LaserStatus
from labctl.visa import drain_errors

log = logging.getLogger(__name__)

_MW_PER_W = 1e3
_MA_PER_A = 1e3
_ON_OFF = create_on_off_val_mapping(on_val="1", off_val="0")
#: What the library's calls return, by code (Newport's header).
USB_RETURN_CODES: dict[int, str] = {
    0: "success", -1: "general error", 1: "duplicate device ID",
    -2: "device ID not open", -3: "device ID outside 0-31",
}
#: File-name endings of a shared library (loaded with ctypes, not imported).
_SHARED_LIBRARY = (".dll", ".so", ".dylib")
#: Response buffer of one ``newp_usb_get_ascii`` call (the controller's USB packets), bytes.
_READ_BYTES = 64
#: Reads of one response at most (a response longer than that is broken).
_MAX_READS = 16
#: Device-information buffer, bytes.
_INFO_BYTES = 1024
_SERIAL = re.compile(r"SN\d+")


def load_library(name: str, address: str) -> Any:
    """Newport's USB library: a shared library by file name, or a stand-in module's."""
    if name.lower().endswith(_SHARED_LIBRARY):
        loader = getattr(ctypes, "WinDLL", ctypes.CDLL)  # the DLL's calls are __stdcall
        return loader(name)
    module = importlib.import_module(name)
    return module.open_library(address)


def _describe(code: int) -> str:
    return f"USB library returned {code} ({USB_RETURN_CODES.get(code, 'unknown code')})"


class TLB6700Laser(ParameterLaser):
    """The TLB-6700 as a `labctl.instruments.Laser`.

    The controller reports no lock flag; with wavelength tracking on it holds
    the measured wavelength at the setpoint, so the laser counts as locked while
    the two agree within `lock_tolerance_nm`. Errors waiting in its buffer
    (``*STB?`` 128) that no command caused — an interlock, an over-temperature
    shutdown — are its alarm.
    """

    #: How far the measured wavelength may stray from the setpoint while locked, nm.
    lock_tolerance_nm = 0.01

    def wavelength_nm(self) -> float:
        return float(self.instrument.wavelength_actual_nm())

    def status(self) -> LaserStatus:
        drift = abs(float(self.instrument.wavelength_actual_nm())
                    - float(self.instrument.wavelength_nm()))
        alarms = self.instrument.pending_errors()
        return LaserStatus(emission=bool(self.instrument.output()),
                           locked=drift <= self.lock_tolerance_nm,
                           alarm="; ".join(alarms) or None)


class NewFocusTLB6700(Instrument):
    """TLB-6700 Velocity laser: wavelength, diode power, piezo, emission on/off."""

    #: Provides `labctl.instruments.Laser` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = TLB6700Laser
    #: The model field of the unit's identity this driver drives (a Velocity TLB-6700 controller);
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"6700"

    error_query = "ERRSTR?"
    #: The controller's USB product ID.
    product_id: ClassVar[int] = 0x100A
    #: ``*STB?`` bit set while the error buffer holds entries.
    errors_pending_bit: ClassVar[int] = 128
    #: The line the controller answers an accepted set command with.
    acknowledgement: ClassVar[str] = "OK"
    #: Laser head these limits are for.
    head_model: ClassVar[str] = "TLB-6704"
    #: Tuning range of the head, nm.
    wavelength_range_nm: ClassVar[tuple[float, float]] = (634.0, 639.0)
    #: Diode power setpoint range of the head, W (assumed, see module docstring).
    power_range_w: ClassVar[tuple[float, float]] = (0.0, 0.012)
    #: Piezo voltage range, percent of the piezo's full range.
    piezo_range_percent: ClassVar[tuple[float, float]] = (0.0, 100.0)

    def __init__(self, name: str, address: str = "", library: str = "usbdll.dll",
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.address = address.strip()
        self.library_name = library
        try:
            self.library = load_library(library, self.address)
        except (ImportError, OSError, AttributeError) as error:
            self.close()
            raise DriverError(name, f"load {library}",
                              f"cannot load Newport's USB library: {error}") from None
        self._device_id: int | None = None
        try:
            self._open_device()
        except DriverError:
            self.close()
            raise
        self.wavelength_nm: Parameter = self.add_parameter(
            "wavelength_nm",
            label="Wavelength setpoint",
            unit="nm",
            get_cmd="SOURce:WAVElength?",
            set_cmd="SOURce:WAVElength {:.3f}",
            get_parser=float,
            vals=vals.Numbers(*self.wavelength_range_nm),
        )
        self.wavelength_actual_nm: Parameter = self.add_parameter(
            "wavelength_actual_nm",
            label="Measured wavelength",
            unit="nm",
            get_cmd="SENSe:WAVElength?",
            get_parser=float,
            set_cmd=False,
        )
        self.power: Parameter = self.add_parameter(
            "power",
            label="Diode power setpoint",
            unit="W",
            get_cmd="SOURce:POWer:DIODe?",
            set_cmd="SOURce:POWer:DIODe {:.3f}",
            get_parser=lambda reply: float(reply) / _MW_PER_W,
            set_parser=lambda watts: watts * _MW_PER_W,
            vals=vals.Numbers(*self.power_range_w),
        )
        self.power_actual: Parameter = self.add_parameter(
            "power_actual",
            label="Measured diode power",
            unit="W",
            get_cmd="SENSe:POWer:DIODe?",
            get_parser=lambda reply: float(reply) / _MW_PER_W,
            set_cmd=False,
        )
        self.diode_current: Parameter = self.add_parameter(
            "diode_current",
            label="Measured diode current",
            unit="A",
            get_cmd="SENSe:CURRent:DIODe?",
            get_parser=lambda reply: float(reply) / _MA_PER_A,
            set_cmd=False,
        )
        self.constant_power: Parameter = self.add_parameter(
            "constant_power",
            label="Constant-power mode",
            get_cmd="SOURce:CPOWer?",
            set_cmd="SOURce:CPOWer {}",
            val_mapping=_ON_OFF,
        )
        self.piezo_voltage: Parameter = self.add_parameter(
            "piezo_voltage",
            label="Piezo voltage",
            unit="%",
            get_cmd="SOURce:VOLTage:PIEZo?",
            set_cmd="SOURce:VOLTage:PIEZo {:.2f}",
            get_parser=float,
            vals=vals.Numbers(*self.piezo_range_percent),
            docstring="Piezo voltage as a percentage of the piezo's range.",
        )
        self.wavelength_tracking: Parameter = self.add_parameter(
            "wavelength_tracking",
            label="Wavelength tracking",
            get_cmd="OUTPut:TRACk?",
            set_cmd="OUTPut:TRACk {}",
            val_mapping=_ON_OFF,
        )
        self.output: Parameter = self.add_parameter(
            "output",
            label="Laser emission",
            get_cmd="OUTPut:STATe?",
            set_cmd="OUTPut:STATe {}",
            val_mapping=_ON_OFF,
        )

        self.connect_message()

    # -- the USB library ----------------------------------------------------------------

    def _open_device(self) -> None:
        """Open the controllers (of this product) and pick ours by serial number."""
        self._device_id = None
        code = int(self.library.newp_usb_init_product(self.product_id))
        if code != 0:
            raise TransportError(self.name, "newp_usb_init_product", _describe(code))
        info = ctypes.create_string_buffer(_INFO_BYTES)
        code = int(self.library.newp_usb_get_device_info(info))
        if code != 0:
            raise TransportError(self.name, "newp_usb_get_device_info", _describe(code))
        devices = [entry.split(",", 1) for entry in info.value.decode("ascii", "replace")
                   .split(";") if "," in entry]
        wanted = _SERIAL.search(self.address)
        for device_id, description in devices:
            found = _SERIAL.search(description)
            if wanted is None or (found is not None and found[0] == wanted[0]):
                self._device_id = int(device_id)
                log.debug("%s: device %s is %s", self.name, device_id, description)
                return
        known = ", ".join(description for _, description in devices) or "none"
        raise DriverError(self.name, "newp_usb_get_device_info",
                          f"no TLB-6700 {self.address or ''} on USB (found: {known})")

    def _exchange(self, command: str) -> str:
        """Send ``command`` and return the first line of its response."""
        if self._device_id is None:
            self.library.newp_usb_uninit_system()
            self._open_device()
        assert self._device_id is not None
        payload = ctypes.create_string_buffer(command.encode("ascii"))
        code = int(self.library.newp_usb_send_ascii(self._device_id, payload,
                                                    ctypes.c_ulong(len(payload.value))))
        if code == 0:
            received = b""
            for _ in range(_MAX_READS):
                buffer = ctypes.create_string_buffer(_READ_BYTES)
                count = ctypes.c_ulong(0)
                code = int(self.library.newp_usb_get_ascii(
                    self._device_id, buffer, ctypes.c_ulong(_READ_BYTES), ctypes.byref(count)))
                if code != 0:
                    break
                received += buffer.raw[:count.value]
                if received.endswith(b"\r\n"):
                    break
        if code != 0:
            self._device_id = None          # reopen before the next command, as QMI does
            raise TransportError(self.name, command, _describe(code))
        try:
            text = received.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        lines = [line for line in text.split("\r\n") if line]
        if not lines or not all(line.isprintable() for line in lines):
            # garbled on the line, not a refusal: a transport fault the engine retries
            raise TransportError(self.name, command, f"unreadable reply {received!r}")
        return lines[0]

    def write_raw(self, cmd: str) -> None:
        """Send a set command; unless the controller answers ``OK`` raise `DriverError`."""
        reply = self._exchange(cmd)
        if reply != self.acknowledgement:
            entries = self.drain_error_queue()
            log.warning("%s refused %r: %s", self.name, cmd, "; ".join([reply, *entries]))
            raise DriverError(self.name, cmd, "; ".join([reply, *entries]))

    def ask_raw(self, cmd: str) -> str:
        return self._exchange(cmd)

    def drain_error_queue(self) -> list[str]:
        """Pop ``ERRSTR?`` entries until the controller reports none; return them."""
        return drain_errors(lambda: self._exchange(self.error_query))

    def pending_errors(self) -> list[str]:
        """The error-buffer entries waiting while ``*STB?`` says so (emptied by reading)."""
        status = self._exchange("*STB?")
        try:
            pending = int(status) & self.errors_pending_bit
        except ValueError:
            raise DriverError(self.name, "*STB?", f"unreadable status byte {status!r}") from None
        return self.drain_error_queue() if pending else []

    def close(self) -> None:
        """Close the controllers (``newp_usb_uninit_system``) and the instrument."""
        library = getattr(self, "library", None)
        if library is not None:
            library.newp_usb_uninit_system()
            self._device_id = None
        super().close()

    def get_idn(self) -> dict[str, str | None]:
        """Parse the space-separated ``New_Focus 6700 v2.4 03/19/14 SN1012`` reply."""
        reply = self.ask("*IDN?").strip()
        parts = reply.split()
        if len(parts) < 3 or not parts[-1].upper().startswith("SN"):
            log.warning("%s: unexpected *IDN? reply %r", self.name, reply)
            return {"vendor": None, "model": reply or None, "serial": None, "firmware": None}
        return {
            "vendor": parts[0].replace("_", " "),
            "model": f"TLB-{parts[1]}",
            "serial": parts[-1],
            "firmware": " ".join(parts[2:-1]) or None,
        }

    def safe_state(self) -> None:
        """Stop emission (laser diode off) and check that it reads back off."""
        log.info("%s: safe state, emission off", self.name)
        self.output.set(False)
        if self.output.get():
            raise DriverError(self.name, "OUTPut:STATe 0", "emission still on after switching off")
