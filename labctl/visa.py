"""Shared plumbing for labctl's SCPI drivers: error-queue checks and binary blocks.

Every labctl driver is a QCoDeS `VisaInstrument`. `ScpiErrorQueueMixin` adds
what the drivers of a quantum-network station all need and QCoDeS leaves to
each driver: after every write the instrument's error queue (``SYST:ERR?``)
is read and a non-zero entry raises `DriverError(command, reply)` (a reply that
is no error-queue entry at all, garbled on the line, raises `TransportError`:
the engine reconnects and retries it as it does a timeout), and
IEEE-488.2 definite-length binary blocks are sent and received through
pyvisa's own block codec. The mixin also wraps drivers QCoDeS already ships
(see ``drivers/rs_sgs100a.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from qcodes.instrument import VisaInstrument

from labctl.errors import DriverError, TransportError

log = logging.getLogger(__name__)

_ERROR_REPLY = re.compile(r"^\s*([+-]?\d+)\s*(?:,\s*(.*))?$", re.DOTALL)

#: Read size for binary blocks (pyvisa's default, 20 kB, makes large tag blocks slow).
BLOCK_CHUNK_BYTES = 1 << 20
#: At most this many entries are drained from an error queue after a refusal.
MAX_DRAINED_ERRORS = 32
#: How `drain_errors` names an entry that was no error-queue reply at all.
UNPARSEABLE = "unparseable error-queue reply"


def parse_error_reply(reply: str) -> int:
    """Return the numeric code of a SCPI error-queue entry (``0`` means no error).

    Raises `ValueError` when the reply is not of the form ``<code>[,"<text>"]``.
    """
    match = _ERROR_REPLY.match(reply)
    if match is None:
        raise ValueError(f"not a SCPI error-queue reply: {reply!r}")
    return int(match.group(1))


def drain_errors(next_entry: Callable[[], str]) -> list[str]:
    """Pop error-queue entries with ``next_entry`` until one reports no error.

    The entries (``<code>,"<text>"``) that reported an error, in order; an
    unparseable reply ends the drain and is returned as an entry. At most
    `MAX_DRAINED_ERRORS` are read.
    """
    entries: list[str] = []
    for _ in range(MAX_DRAINED_ERRORS):
        reply = next_entry().strip()
        try:
            code = parse_error_reply(reply)
        except ValueError:
            entries.append(f"{UNPARSEABLE} {reply!r}")
            break
        if code == 0:
            break
        entries.append(reply)
    return entries


class ScpiErrorQueueMixin:
    """Check the SCPI error queue after every write; send/receive binary blocks.

    Mix in before `VisaInstrument` (``class X(ScpiErrorQueueMixin, VisaInstrument)``).
    """

    #: The query that pops one entry of the instrument's error queue.
    error_query: ClassVar[str] = "SYST:ERR?"

    def write_raw(self, cmd: str) -> None:
        super().write_raw(cmd)  # type: ignore[misc]
        self.check_error_queue(cmd)

    def check_error_queue(self, command: str) -> None:
        """Raise `DriverError` if the instrument queued an error for ``command``.

        Only writes are checked: a command ending in ``?`` must go through
        ``ask``, or its reply would be read as the error-queue entry. A reply
        that is no entry (garbled, or not text) raises `TransportError`.
        """
        try:
            entries = self.drain_error_queue()
        except UnicodeDecodeError as error:
            raise TransportError(self.name, command,  # type: ignore[attr-defined]
                                 f"{UNPARSEABLE}: {error}") from None
        garbled = [entry for entry in entries if entry.startswith(UNPARSEABLE)]
        if garbled:
            raise TransportError(self.name, command, garbled[0])  # type: ignore[attr-defined]
        if entries:
            self._refuse(command, entries)

    def drain_error_queue(self) -> list[str]:
        """Pop error-queue entries until the instrument reports none; return them.

        An unparseable reply ends the drain and is returned as an entry.
        """
        handle = self.visa_handle  # type: ignore[attr-defined]
        return drain_errors(lambda: str(handle.query(self.error_query)))

    def _refuse(self, command: str, entries: list[str]) -> None:
        name = self.name  # type: ignore[attr-defined]
        log.warning("%s refused %r: %s", name, command, "; ".join(entries))
        raise DriverError(name, command, "; ".join(entries))

    def write_block(self, command: str, values: NDArray[np.generic], datatype: str,
                    big_endian: bool = False) -> None:
        """Send ``command`` followed by ``values`` as an IEEE-488.2 definite-length block."""
        handle = self.visa_handle  # type: ignore[attr-defined]
        handle.write_binary_values(command, values, datatype=datatype,
                                   is_big_endian=big_endian)
        self.check_error_queue(f"{command}<block of {len(values)} values>")

    def query_block(self, command: str, datatype: str,
                    big_endian: bool = False) -> NDArray[np.generic]:
        """Send ``command`` and read the IEEE-488.2 block it answers with as an array."""
        handle = self.visa_handle  # type: ignore[attr-defined]
        values: NDArray[np.generic] = handle.query_binary_values(
            command, datatype=datatype, is_big_endian=big_endian, container=np.array,
            chunk_size=BLOCK_CHUNK_BYTES)
        return values


class ScpiInstrument(ScpiErrorQueueMixin, VisaInstrument):
    """Base class of labctl's own SCPI drivers (line-feed terminated)."""

    default_terminator = "\n"
