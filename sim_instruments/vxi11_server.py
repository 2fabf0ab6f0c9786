"""Serving one emulator over VXI-11 on loopback, the way a LAN instrument's VXI-11 server answers.

VXI-11 (VXIbus Consortium, "TCP/IP Instrument Protocol Specification VXI-11",
rev. 1.0, 1995; its RPCL in appendix C) is ONC RPC v2 (RFC 5531: XDR bodies,
record marking over TCP) with two programs: DEVICE_CORE (0x0607AF v1:
create_link, device_write, device_read, device_readstb, device_trigger,
device_clear, device_remote/local, device_lock/unlock, destroy_link) on the
port a client connects to, and DEVICE_ASYNC (0x0607B0 v1: device_abort) on
the abort port that create_link returns. The program and procedure numbers,
error codes and flag bits are pyvisa-py's (`pyvisa_py.protocols.vxi11`, which
match the specification's RPCL); its XDR packer and unpacker are reused here.
No portmapper is served: a client names the port, as pyvisa-py does for
``TCPIP::127.0.0.1,<port>::inst0::INSTR`` (`vxi11_resource`).

What the interface adds over a raw socket is END: a message is complete when
a device_write has the END flag set, so a binary block needs no terminator
(QCoDeS's ``TektronixAWG5014`` relies on this). Line feeds outside blocks
also end program messages (IEEE 488.2 §7.5: NL, END or NL+END terminate),
found with `sim_instruments.tcp_server.next_message`. Each reply is queued
with the unit's terminator and device_read returns it with END on its last
chunk (REQCNT on earlier ones, CHR where the client's termination character
ends a chunk). device_readstb answers the emulator's status byte, with MAV
(IEEE 488.2 §11.2, bit 4) set while a reply is waiting; device_trigger sends
``*TRG``; device_clear empties the link's input buffer and output queue
(a device clear: the instrument's settings stay).
device_read with nothing to read waits the client's io_timeout and answers
the I/O-timeout error (15), unless device_abort on the abort channel ends it
first (error 23). Each link has its own buffers; a lock (device_lock, or
create_link with lockDevice) makes other links wait for it up to their
lock_timeout when they ask to (the waitlock flag), else error 11.

Before each call on the core channel the server consults the instrument's
injected fault (`sim_instruments.world_state.Fault`), as `tcp_server` does:

- ``latency``: wait ``value`` seconds (wall time) before executing a message;
  a device_write whose io_timeout is shorter waits that long and answers the
  I/O-timeout error (15), the message not taken;
- ``drop``: reset the TCP connection (the client sees a connection reset);
- ``garbage``: answer queries with bytes that parse as nothing;
- ``silent``: the instrument stops answering: writes are taken and ignored,
  reads, status-byte reads, triggers and clears time out (error 15).

Every emulator call runs under the world's lock.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import socketserver
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyvisa_py.protocols import rpc, vxi11, xdrlib  # type: ignore[import-untyped]

from labctl.errors import LabctlError
from sim_instruments.tcp_server import answer, next_message
from sim_instruments.world_state import Fault

log = logging.getLogger(__name__)

#: The device name of an instrument's own VXI-11 server (``TCPIP::<host>::INSTR`` means it).
DEVICE_NAME = "inst0"
#: Largest device_write data accepted, bytes (create_link's maxRecvSize; a client splits
#: longer writes). An assumption: TekVISA's value on the AWG5014C is not published. A
#: server may be made to offer less, down to 1024 bytes (labctl's lower bound).
MAX_RECV_SIZE = 1 << 20
#: Message available: a reply waits in the output queue (IEEE 488.2 §11.2, bit 4).
STB_MAV = 1 << 4
#: The request-service / master-summary bit of the status byte (IEEE 488.2 §11.2, bit 6).
STB_RQS = 1 << 6
#: Largest RPC record taken from a client (a device_write of MAX_RECV_SIZE and its headers).
_MAX_RECORD = MAX_RECV_SIZE + 4096

Errors = vxi11.ErrorCodes


def vxi11_resource(port: int) -> str:
    """The VISA resource of a loopback VXI-11 instrument, its port named (no portmapper)."""
    return f"TCPIP0::127.0.0.1,{port}::{DEVICE_NAME}::INSTR"


# --- ONC RPC over TCP (RFC 5531) ----------------------------------------------------

#: accept_stat and reject_stat values (RFC 5531 §9).
_PROG_UNAVAIL, _PROG_MISMATCH, _PROC_UNAVAIL, _GARBAGE_ARGS = 1, 2, 3, 4
_MSG_DENIED, _RPC_MISMATCH = 1, 0


class _ConnectionReset(Exception):
    """The connection is to be reset (a ``drop`` fault)."""


def _recv_exact(sock: socket.socket, count: int) -> bytes | None:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data.extend(chunk)
    return bytes(data)


def read_record(sock: socket.socket) -> bytes | None:
    """One RPC record (its fragments joined, RFC 5531 §11); None at end of stream."""
    record = bytearray()
    while True:
        header = _recv_exact(sock, 4)
        if header is None:
            return None
        (mark,) = struct.unpack(">I", header)
        length = mark & 0x7FFFFFFF
        if len(record) + length > _MAX_RECORD:
            raise OSError(f"RPC record longer than {_MAX_RECORD} bytes")
        fragment = _recv_exact(sock, length)
        if fragment is None:
            return None
        record.extend(fragment)
        if mark & 0x80000000:
            return bytes(record)


def send_record(sock: socket.socket, payload: bytes) -> None:
    """Send ``payload`` as one last fragment."""
    sock.sendall(struct.pack(">I", 0x80000000 | len(payload)) + payload)


Procedure = Callable[[Any, Any], None]


class _RpcConnection(socketserver.BaseRequestHandler):
    """Answers the calls of one TCP connection to one RPC program."""

    server: _RpcServer

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self.request)

    def finish(self) -> None:
        self.server.connections.discard(self.request)
        self.server.closed(self)

    def handle(self) -> None:
        sock: socket.socket = self.request
        while not self.server.stopping.is_set():
            try:
                record = read_record(sock)
                if record is None:
                    return
                reply = self._answer(record)
            except _ConnectionReset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                return
            except OSError:
                return
            if reply is None:
                continue
            try:
                send_record(sock, reply)
            except OSError:
                return

    def _answer(self, record: bytes) -> bytes | None:
        unpacker = rpc.Unpacker(record)
        packer = vxi11.Vxi11Packer()
        try:
            xid, prog, vers, proc, _cred, _verf = unpacker.unpack_callheader()
        except rpc.RPCBadVersion:
            packer.pack_uint(struct.unpack(">I", record[:4])[0])
            packer.pack_enum(rpc.MessagegType.reply)
            packer.pack_uint(_MSG_DENIED)
            packer.pack_enum(_RPC_MISMATCH)
            packer.pack_uint(rpc.RPCVERSION)
            packer.pack_uint(rpc.RPCVERSION)
            return bytes(packer.get_buffer())
        except (rpc.RPCError, EOFError, xdrlib.Error, struct.error):
            log.debug("%s: not an RPC call, ignored", self.server.name)
            return None
        verifier = (rpc.AuthorizationFlavor.null, rpc.make_auth_null())
        if prog != self.server.program:
            self._accepted(packer, xid, verifier, _PROG_UNAVAIL)
            return bytes(packer.get_buffer())
        if vers != self.server.version:
            self._accepted(packer, xid, verifier, _PROG_MISMATCH)
            packer.pack_uint(self.server.version)
            packer.pack_uint(self.server.version)
            return bytes(packer.get_buffer())
        procedure = self.server.procedures(self).get(proc)
        if procedure is None:
            self._accepted(packer, xid, verifier, _PROC_UNAVAIL)
            return bytes(packer.get_buffer())
        self.server.calls[proc] += 1
        body = vxi11.Vxi11Packer()
        try:
            procedure(unpacker, body)
        except (EOFError, xdrlib.Error, struct.error, UnicodeDecodeError):
            self._accepted(packer, xid, verifier, _GARBAGE_ARGS)
            return bytes(packer.get_buffer())
        packer.pack_replyheader(xid, verifier)
        return bytes(packer.get_buffer()) + bytes(body.get_buffer())

    @staticmethod
    def _accepted(packer: Any, xid: int, verifier: tuple[int, bytes], status: int) -> None:
        packer.pack_uint(xid)
        packer.pack_enum(rpc.MessagegType.reply)
        packer.pack_uint(rpc.ReplyStatus.accepted)
        packer.pack_auth(verifier)
        packer.pack_enum(status)


class _RpcServer(socketserver.ThreadingTCPServer):
    """One RPC program on a loopback port; `procedures` maps numbers to handlers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str, program: int, version: int, host: str, port: int,
                 procedures: Callable[[_RpcConnection], dict[int, Procedure]],
                 closed: Callable[[_RpcConnection], None]) -> None:
        super().__init__((host, port), _RpcConnection)
        self.name = name
        self.program = program
        self.version = version
        self.procedures = procedures
        self.closed = closed
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        #: how many calls of each procedure were answered (what a client's driver did)
        self.calls: Counter[int] = Counter()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=f"vxi11-{self.name}",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        for sock in list(self.connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.server_close()


# --- the device ------------------------------------------------------------------------


@dataclass
class _Link:
    """One link (create_link .. destroy_link): its buffers and its abort request."""

    lid: int
    client_id: int
    connection: _RpcConnection
    input: bytearray = field(default_factory=bytearray)
    #: complete replies (with terminator), the first partly read
    output: deque[bytes] = field(default_factory=deque)
    aborted: threading.Event = field(default_factory=threading.Event)


class Vxi11Server:
    """One instrument over VXI-11 on ``127.0.0.1:<port>`` (port 0: any free port).

    The interface of `sim_instruments.tcp_server.InstrumentServer`: ``port``,
    ``resource``, ``start``, ``stop``; the emulator answers ``respond(message)``
    and has ``reply_terminator`` (and ``status_byte()`` where the unit has the
    IEEE 488.2 status model).
    """

    def __init__(self, name: str, emulator: Any, lock: threading.RLock,
                 fault: Callable[[], Fault | None], port: int = 0,
                 host: str = "127.0.0.1", max_recv_size: int = MAX_RECV_SIZE) -> None:
        if not 1024 <= max_recv_size <= MAX_RECV_SIZE:
            raise LabctlError(f"max_recv_size must be 1024 .. {MAX_RECV_SIZE} bytes, "
                             f"got {max_recv_size}")
        self.name = name
        self.emulator = emulator
        self.lock = lock
        self.fault = fault
        self.max_recv_size = max_recv_size
        self._links: dict[int, _Link] = {}
        self._lids = itertools.count(1)
        #: the link holding the device lock, and the condition lock waiters wait on
        self._owner: int | None = None
        self._state = threading.Condition()
        self.core = _RpcServer(name, vxi11.DEVICE_CORE_PROG, vxi11.DEVICE_CORE_VERS, host,
                               port, self._core_procedures, self._connection_closed)
        self.abort_channel = _RpcServer(f"{name}-abort", vxi11.DEVICE_ASYNC_PROG,
                                        vxi11.DEVICE_ASYNC_VERS, host, 0,
                                        lambda _: {vxi11.DEVICE_ABORT: self._device_abort},
                                        lambda _: None)

    @property
    def port(self) -> int:
        return self.core.port

    @property
    def resource(self) -> str:
        """The VISA resource name a driver connects with."""
        return vxi11_resource(self.port)

    @property
    def calls(self) -> Counter[int]:
        """Calls answered on the core channel, by procedure number."""
        return self.core.calls

    def start(self) -> None:
        self.abort_channel.start()
        self.core.start()

    def stop(self) -> None:
        self.core.stop()
        self.abort_channel.stop()
        with self._state:
            for link in self._links.values():
                link.aborted.set()
            self._links.clear()
            self._owner = None
            self._state.notify_all()

    # --- the core channel ------------------------------------------------------------

    def _core_procedures(self, connection: _RpcConnection) -> dict[int, Procedure]:
        fault = self.fault()
        if fault is not None and fault.kind == "drop":
            raise _ConnectionReset
        silent = fault is not None and fault.kind == "silent"

        def bind(handler: Callable[..., None]) -> Procedure:
            return lambda unpacker, packer: handler(unpacker, packer, connection, fault, silent)

        return {0: lambda unpacker, packer: None,
                vxi11.CREATE_LINK: bind(self._create_link),
                vxi11.DEVICE_WRITE: bind(self._device_write),
                vxi11.DEVICE_READ: bind(self._device_read),
                vxi11.DEVICE_READSTB: bind(self._device_readstb),
                vxi11.DEVICE_TRIGGER: bind(self._device_trigger),
                vxi11.DEVICE_CLEAR: bind(self._device_clear),
                vxi11.DEVICE_REMOTE: bind(self._device_generic),
                vxi11.DEVICE_LOCAL: bind(self._device_generic),
                vxi11.DEVICE_LOCK: bind(self._device_lock),
                vxi11.DEVICE_UNLOCK: bind(self._device_unlock),
                vxi11.DEVICE_ENABLE_SRQ: bind(self._not_supported),
                vxi11.DEVICE_DOCMD: bind(self._not_supported),
                vxi11.DESTROY_LINK: bind(self._destroy_link),
                vxi11.CREATE_INTR_CHAN: bind(self._not_supported),
                vxi11.DESTROY_INTR_CHAN: bind(self._no_interrupt_channel)}

    def _connection_closed(self, connection: _RpcConnection) -> None:
        """A broken or closed connection ends its links (and their locks)."""
        with self._state:
            for lid in [lid for lid, link in self._links.items()
                        if link.connection is connection]:
                self._end_link(lid)

    def _end_link(self, lid: int) -> None:
        link = self._links.pop(lid)
        link.aborted.set()
        if self._owner == lid:
            self._owner = None
            self._state.notify_all()

    def _link(self, lid: int) -> _Link | None:
        with self._state:
            return self._links.get(lid)

    def _wait_for_lock(self, lid: int, flags: int, lock_timeout_ms: int) -> bool:
        """True once no other link holds the lock (waiting if ``flags`` has waitlock)."""
        wait = lock_timeout_ms / 1000 if flags & vxi11.OP_FLAG_WAIT_BLOCK else 0.0
        with self._state:
            return self._state.wait_for(lambda: self._owner in (None, lid), timeout=wait)

    def _create_link(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                     fault: Fault | None, silent: bool) -> None:
        client_id = unpacker.unpack_int()
        lock_device = unpacker.unpack_bool()
        lock_timeout = unpacker.unpack_uint()
        device = unpacker.unpack_string().decode("ascii")
        error, lid = Errors.no_error, 0
        if device.lower() != DEVICE_NAME:
            error = Errors.device_not_accessible
        else:
            with self._state:
                lid = next(self._lids)
                self._links[lid] = _Link(lid, client_id, connection)
            if lock_device and not self._take_lock(lid, vxi11.OP_FLAG_WAIT_BLOCK,
                                                   lock_timeout):
                with self._state:
                    self._end_link(lid)
                error, lid = Errors.device_locked_by_another_link, 0
        log.debug("%s: create_link %r -> link %d, error %d", self.name, device, lid, error)
        packer.pack_int(error)
        packer.pack_int(lid)
        packer.pack_uint(self.abort_channel.port)
        packer.pack_uint(self.max_recv_size)

    def _take_lock(self, lid: int, flags: int, lock_timeout_ms: int) -> bool:
        wait = lock_timeout_ms / 1000 if flags & vxi11.OP_FLAG_WAIT_BLOCK else 0.0
        with self._state:
            if not self._state.wait_for(lambda: self._owner in (None, lid), timeout=wait):
                return False
            if lid not in self._links:
                return False
            self._owner = lid
            return True

    def _device_write(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                      fault: Fault | None, silent: bool) -> None:
        lid = unpacker.unpack_int()
        io_timeout = unpacker.unpack_uint()
        lock_timeout = unpacker.unpack_uint()
        flags = unpacker.unpack_int()
        data = unpacker.unpack_opaque()
        link = self._link(lid)
        error = self._check(link, lid, flags, lock_timeout)
        if error == Errors.no_error and len(data) > self.max_recv_size:
            error = Errors.parameter_error
        if error == Errors.no_error and fault is not None and fault.kind == "latency" \
                and fault.value * 1000 > io_timeout:
            time.sleep(io_timeout / 1000)       # the unit does not take the message in time
            error = Errors.io_timeout
        if error != Errors.no_error or link is None:
            packer.pack_int(error)
            packer.pack_uint(0)
            return
        if not silent:
            link.input.extend(data)
            messages = []
            while (message := next_message(link.input)) is not None:
                messages.append(message)
            if flags & vxi11.OP_FLAG_END:
                remainder = bytes(link.input).rstrip(b"\r\n")
                link.input.clear()
                if remainder:
                    messages.append(remainder)
            for message in messages:
                self._execute(link, message, fault)
        packer.pack_int(Errors.no_error)
        packer.pack_uint(len(data))

    def _check(self, link: _Link | None, lid: int, flags: int, lock_timeout: int) -> int:
        if link is None:
            return Errors.invalid_link_identifier
        if not self._wait_for_lock(lid, flags, lock_timeout):
            return Errors.device_locked_by_another_link
        return Errors.no_error

    def _execute(self, link: _Link, message: bytes, fault: Fault | None) -> None:
        if not message:
            return
        reply = answer(self.name, self.emulator, self.lock, message, fault)
        if reply is not None:
            link.output.append(reply + self.emulator.reply_terminator)

    def _time_out(self, link: _Link, io_timeout_ms: int) -> int:
        """Wait for what never comes: I/O timeout, or abort if device_abort came first."""
        if link.aborted.wait(io_timeout_ms / 1000):
            link.aborted.clear()
            return Errors.abort
        return Errors.io_timeout

    def _device_read(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                     fault: Fault | None, silent: bool) -> None:
        lid = unpacker.unpack_int()
        request_size = unpacker.unpack_uint()
        io_timeout = unpacker.unpack_uint()
        lock_timeout = unpacker.unpack_uint()
        flags = unpacker.unpack_int()
        term_char = unpacker.unpack_int() & 0xFF
        link = self._link(lid)
        error = self._check(link, lid, flags, lock_timeout)
        reason, data = 0, b""
        if error == Errors.no_error and link is not None:
            link.aborted.clear()  # an abort ends an operation in progress, not a later one
            if silent or not link.output:
                error = self._time_out(link, io_timeout)
            else:
                reason, data = self._take_output(link, request_size, flags, term_char)
        packer.pack_int(error)
        packer.pack_int(reason)
        packer.pack_opaque(data)

    @staticmethod
    def _take_output(link: _Link, request_size: int, flags: int,
                     term_char: int) -> tuple[int, bytes]:
        """The next chunk of the first waiting reply and why it ends (device_read's reason)."""
        reply = link.output[0]
        size = min(request_size, len(reply))
        reason = 0
        if flags & vxi11.OP_FLAG_TERMCHAR_SET:
            at = reply.find(bytes([term_char]), 0, size)
            if at >= 0:
                size = at + 1
                reason |= vxi11.RX_CHR
        chunk = reply[:size]
        if size == len(reply):
            link.output.popleft()
            reason |= vxi11.RX_END
        else:
            link.output[0] = reply[size:]
            if size == request_size:
                reason |= vxi11.RX_REQCNT
        return reason, chunk

    def _generic(self, unpacker: Any) -> tuple[int, int, int, int]:
        lid = unpacker.unpack_int()
        flags = unpacker.unpack_int()
        lock_timeout = unpacker.unpack_uint()
        io_timeout = unpacker.unpack_uint()
        return lid, flags, lock_timeout, io_timeout

    def _device_readstb(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                        fault: Fault | None, silent: bool) -> None:
        lid, flags, lock_timeout, io_timeout = self._generic(unpacker)
        link = self._link(lid)
        error = self._check(link, lid, flags, lock_timeout)
        byte = 0
        status_byte = getattr(self.emulator, "status_byte", None)
        if error == Errors.no_error and link is not None:
            if silent:
                error = self._time_out(link, io_timeout)
            elif status_byte is None:
                error = Errors.operation_not_supported
            else:
                with self.lock:
                    byte = int(status_byte()) | (STB_MAV if link.output else 0)
                    enable = int(getattr(self.emulator, "service_request_enable", 0))
                if byte & enable & ~STB_RQS:
                    byte |= STB_RQS
        packer.pack_int(error)
        packer.pack_uint(byte)

    def _device_trigger(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                        fault: Fault | None, silent: bool) -> None:
        packer.pack_int(self._on_link(unpacker, silent,
                                      lambda link: self._execute(link, b"*TRG", fault)))

    def _device_clear(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                      fault: Fault | None, silent: bool) -> None:
        def clear(link: _Link) -> None:
            link.input.clear()
            link.output.clear()
        packer.pack_int(self._on_link(unpacker, silent, clear))

    def _on_link(self, unpacker: Any, silent: bool, action: Callable[[_Link], None]) -> int:
        """A generic-parameters procedure: ``action`` on its link (a silent unit times
        out instead); the VXI-11 error code."""
        lid, flags, lock_timeout, io_timeout = self._generic(unpacker)
        link = self._link(lid)
        error = self._check(link, lid, flags, lock_timeout)
        if error == Errors.no_error and link is not None:
            if silent:
                return self._time_out(link, io_timeout)
            action(link)
        return error

    def _device_generic(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                        fault: Fault | None, silent: bool) -> None:
        """device_remote / device_local: accepted (the emulator has no front panel)."""
        lid, flags, lock_timeout, _ = self._generic(unpacker)
        packer.pack_int(self._check(self._link(lid), lid, flags, lock_timeout))

    def _device_lock(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                     fault: Fault | None, silent: bool) -> None:
        lid = unpacker.unpack_int()
        flags = unpacker.unpack_int()
        lock_timeout = unpacker.unpack_uint()
        if self._link(lid) is None:
            packer.pack_int(Errors.invalid_link_identifier)
        elif not self._take_lock(lid, flags, lock_timeout):
            packer.pack_int(Errors.device_locked_by_another_link)
        else:
            packer.pack_int(Errors.no_error)

    def _device_unlock(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                       fault: Fault | None, silent: bool) -> None:
        lid = unpacker.unpack_int()
        with self._state:
            if lid not in self._links:
                packer.pack_int(Errors.invalid_link_identifier)
            elif self._owner != lid:
                packer.pack_int(Errors.no_lock_held_by_this_link)
            else:
                self._owner = None
                self._state.notify_all()
                packer.pack_int(Errors.no_error)

    def _destroy_link(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                      fault: Fault | None, silent: bool) -> None:
        lid = unpacker.unpack_int()
        with self._state:
            if lid not in self._links:
                packer.pack_int(Errors.invalid_link_identifier)
                return
            self._end_link(lid)
        packer.pack_int(Errors.no_error)

    def _not_supported(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                       fault: Fault | None, silent: bool) -> None:
        """Service requests and docmd: no interrupt channel here (the arguments are unread)."""
        packer.pack_int(Errors.operation_not_supported)

    def _no_interrupt_channel(self, unpacker: Any, packer: Any, connection: _RpcConnection,
                              fault: Fault | None, silent: bool) -> None:
        packer.pack_int(Errors.channel_not_established)

    # --- the abort channel -----------------------------------------------------------

    def _device_abort(self, unpacker: Any, packer: Any) -> None:
        lid = unpacker.unpack_int()
        link = self._link(lid)
        if link is None:
            packer.pack_int(Errors.invalid_link_identifier)
            return
        link.aborted.set()
        packer.pack_int(Errors.no_error)
