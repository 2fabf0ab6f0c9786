"""labctl's stand-in for Newport's USB library (``usbdll.dll``), the way a TLB-6700 is reached.

The New Focus TLB-6700 controller is a USB device driven through Newport's
USB library; a Python driver loads the DLL with ctypes and calls its C
functions. This module stands in for that library at the same level: a
driver given ``library: sim_instruments.newport_usb_api`` gets a
`NewportUsbLibrary` from `open_library` instead of the DLL and makes the
same calls, with the same ctypes arguments (a ``create_string_buffer`` or
``byref`` of one for ``char*``, ``byref(c_ulong)`` for ``unsigned long*``),
return codes and buffer contents. What is mirrored, from Newport's header
for the library (``NewpDll.h``, 2017) and QuTech's QMI driver
(``qmi/instruments/newport/tlb670x.py``, written with Newport's permission):

- ``newp_usb_init_system()`` / ``newp_usb_init_product(nProductID)`` open
  the devices (of that product; 0 = all), ``newp_usb_uninit_system()``
  closes them; the other calls need them open;
- ``newp_usb_get_device_info(Buffer)`` fills ``Buffer`` with
  ``<DeviceID>,<*IDN? reply>;`` per open device;
- ``newp_usb_send_ascii(DeviceID, Command, Length)`` sends the command,
  with a carriage return appended;
- ``newp_usb_get_ascii(DeviceID, Buffer, Length, BytesRead)`` copies the
  device's pending response (reply lines end with CR LF; not truncated at a
  CR) into ``Buffer``, at most ``Length`` bytes, the rest staying for the
  next call;
- return codes: 0 `USB_OK`, -1 `USB_ERROR`, 1 `USB_DUPLICATE_ADDRESS`,
  -2 `USB_ADDRESS_NOT_FOUND` (device ID not open), -3 `USB_INVALID_ADDRESS`
  (outside 0-31).

labctl's own, not verified against the DLL: a response not there within
`REPLY_TIMEOUT_S` (or a lost link) makes ``newp_usb_get_ascii`` return
`USB_ERROR`, as does a failed send; a device that failed stays failed until
the devices are opened again.

Where the "USB bus" is (`open_library`'s ``address``): a VISA SOCKET
resource ``TCPIP0::<host>::<port>::SOCKET`` reaches a TLB-6700 emulator
(`sim_instruments.emulators.newfocus_tlb6700`) served by the virtual lab
over loopback TCP, fed from the shared world, one device per address; any
other address (e.g. a serial number ``SN1012``) puts a TLB-6700 emulator on
a laser state of its own in this process (the driver's protocol twin).
"""

from __future__ import annotations

import ctypes
import logging
import re
import socket
import time
from typing import Any, Protocol

from sim_instruments.emulators.newfocus_tlb6700 import NewFocusTLB6700Emulator
from sim_instruments.world_state import LaserState

log = logging.getLogger(__name__)

USB_OK = 0
USB_ERROR = -1
USB_DUPLICATE_ADDRESS = 1
USB_ADDRESS_NOT_FOUND = -2
USB_INVALID_ADDRESS = -3
#: Device IDs the library takes.
DEVICE_ID_RANGE = range(32)
#: The TLB-6700's USB product ID (as QMI has it).
TLB6700_PRODUCT_ID = 0x100A
#: How long a response is awaited, s.
REPLY_TIMEOUT_S = 2.0
#: Every reply line ends with this.
LINE_END = b"\r\n"

_SOCKET_RESOURCE = re.compile(r"^TCPIP\d*::([^:]+)::(\d+)::SOCKET$", re.IGNORECASE)


class _Device(Protocol):
    def open(self) -> bool: ...
    def close(self) -> None: ...
    def send(self, command: bytes) -> bool: ...
    def receive(self) -> bytes | None: ...
    def unread(self, data: bytes) -> None: ...


class _LocalDevice:
    """A TLB-6700 emulator on its own laser state, in this process."""

    def __init__(self) -> None:
        self.emulator = NewFocusTLB6700Emulator(LaserState(wavelength_nm=637.0))
        self._pending = b""

    def open(self) -> bool:
        self._pending = b""
        return True

    def close(self) -> None:
        self._pending = b""

    def send(self, command: bytes) -> bool:
        reply = self.emulator.respond(command.rstrip(b"\r"))
        if reply is not None:
            self._pending += reply + self.emulator.reply_terminator
        return True

    def receive(self) -> bytes | None:
        data, self._pending = self._pending, b""
        return data or None

    def unread(self, data: bytes) -> None:
        self._pending = data + self._pending


class _SocketDevice:
    """A TLB-6700 emulator served by the virtual lab at ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._socket: socket.socket | None = None
        self._pending = b""

    def open(self) -> bool:
        self.close()
        try:
            self._socket = socket.create_connection((self.host, self.port),
                                                    timeout=REPLY_TIMEOUT_S)
        except OSError as error:
            log.info("Newport USB stand-in: cannot reach %s:%d: %s", self.host, self.port, error)
            return False
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True

    def close(self) -> None:
        sock, self._socket = self._socket, None
        self._pending = b""
        if sock is not None:
            sock.close()

    def send(self, command: bytes) -> bool:
        if self._socket is None:
            return False
        try:
            self._socket.sendall(command)
        except OSError:
            self.close()
            return False
        return True

    def receive(self) -> bytes | None:
        """The pending response up to its last complete line (None: none in time)."""
        if self._socket is None:
            return None
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while LINE_END not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self._socket.settimeout(remaining)
                chunk = self._socket.recv(4096)
            except TimeoutError:
                return None
            except OSError:
                self.close()
                return None
            if not chunk:
                self.close()
                return None
            self._pending += chunk
        end = self._pending.rindex(LINE_END) + len(LINE_END)
        data, self._pending = self._pending[:end], self._pending[end:]
        return data

    def unread(self, data: bytes) -> None:
        self._pending = data + self._pending


def _integer(value: Any) -> int:
    """A C integer argument given as a Python int or a ctypes integer."""
    return int(value.value) if hasattr(value, "value") else int(value)


def _target(argument: Any) -> Any:
    """The ctypes object behind a pointer argument (``byref(x)`` or ``x`` itself)."""
    return getattr(argument, "_obj", argument)


def _fill(argument: Any, data: bytes) -> None:
    """Copy ``data`` into a ``char*`` buffer, NUL-terminated when there is room."""
    buffer = _target(argument)
    size = ctypes.sizeof(buffer)
    data = data[:size]
    ctypes.memmove(buffer, data, len(data))
    if len(data) < size:
        ctypes.memset(ctypes.addressof(buffer) + len(data), 0, 1)


class NewportUsbLibrary:
    """The library's functions, by their C names, over the devices of one "bus"."""

    def __init__(self, device: _Device) -> None:
        self._device = device
        self._open: dict[int, _Device] = {}
        self._descriptions: dict[int, str] = {}
        self._failed: set[int] = set()

    def newp_usb_init_system(self) -> int:
        return self.newp_usb_init_product(0)

    def newp_usb_init_product(self, nProductID: Any) -> int:
        product = _integer(nProductID)
        self.newp_usb_uninit_system()
        if product not in (0, TLB6700_PRODUCT_ID):
            return USB_OK                   # no device of that product: nothing opened
        if not self._device.open():
            return USB_OK                   # nothing on the bus
        if not self._device.send(b"*IDN?\r"):
            return USB_ERROR
        reply = self._device.receive()
        if reply is None:
            self._device.close()
            return USB_ERROR
        self._open[0] = self._device
        self._descriptions[0] = reply.split(LINE_END)[0].decode("ascii", "replace")
        return USB_OK

    def newp_usb_uninit_system(self) -> None:
        for device in self._open.values():
            device.close()
        self._open.clear()
        self._descriptions.clear()
        self._failed.clear()

    def newp_usb_get_device_info(self, Buffer: Any) -> int:
        text = "".join(f"{device_id},{description};"
                       for device_id, description in sorted(self._descriptions.items()))
        _fill(Buffer, text.encode("ascii", "replace"))
        return USB_OK

    def newp_usb_send_ascii(self, DeviceID: Any, Command: Any,
                            Length: Any) -> int:
        device_id = _integer(DeviceID)
        status = self._check(device_id)
        if status != USB_OK:
            return status
        buffer = _target(Command)
        length = min(_integer(Length), ctypes.sizeof(buffer))
        command = ctypes.string_at(ctypes.addressof(buffer), length).split(b"\0")[0]
        if not command.endswith(b"\r"):
            command += b"\r"
        if not self._open[device_id].send(command):
            self._failed.add(device_id)
            return USB_ERROR
        return USB_OK

    def newp_usb_get_ascii(self, DeviceID: Any, Buffer: Any, Length: Any,
                           BytesRead: Any) -> int:
        device_id = _integer(DeviceID)
        read = _target(BytesRead)
        read.value = 0
        status = self._check(device_id)
        if status != USB_OK:
            return status
        data = self._open[device_id].receive()
        if data is None:
            self._failed.add(device_id)
            return USB_ERROR
        length = min(_integer(Length), ctypes.sizeof(_target(Buffer)))
        _fill(Buffer, data[:length])
        if len(data) > length:              # the rest waits for the next read
            self._open[device_id].unread(data[length:])
        read.value = min(len(data), length)
        return USB_OK

    def _check(self, device_id: int) -> int:
        if device_id not in DEVICE_ID_RANGE:
            return USB_INVALID_ADDRESS
        if device_id not in self._open:
            return USB_ADDRESS_NOT_FOUND
        if device_id in self._failed:
            return USB_ERROR
        return USB_OK


def open_library(address: str) -> NewportUsbLibrary:
    """The stand-in library for the bus ``address`` names (see the module docstring)."""
    match = _SOCKET_RESOURCE.match(address.strip())
    if match is not None:
        return NewportUsbLibrary(_SocketDevice(match.group(1), int(match.group(2))))
    return NewportUsbLibrary(_LocalDevice())
