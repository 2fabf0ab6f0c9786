"""What can go wrong between an orchestrator and a node, as `RemoteError` subclasses.

A node answers a failed request with an error ``kind``; the client raises the
class `ERROR_KINDS` names for it. Some classes also derive from the builtin
error a local call would raise, so code written for local instruments handles
remote ones unchanged: a value a validator refuses is a `ValueError`, a
dropped instrument connection on the node is a `ConnectionError` and a call
that does not come back in time is a `TimeoutError` (both of which the
engine retries after reconnecting).
"""

from __future__ import annotations

from labctl.errors import RemoteError


class ProtocolError(RemoteError):
    """A message is malformed or too large (raised on the node, sent back as a reply)."""

    kind = "malformed"


class CallRefused(RemoteError):
    """The node refuses the call: not on its allow-list, or another orchestrator's run."""

    kind = "refused"


class RemoteInvalidValue(RemoteError, ValueError):
    """The node's instrument refused a value (its validator, or the driver's checks)."""

    kind = "invalid"


class RemoteTransportError(RemoteError, ConnectionError):
    """The node lost the connection to its instrument (VISA I/O error, timeout, reset)."""

    kind = "transport"


class RemoteInstrumentError(RemoteError):
    """The node's instrument reported an error (e.g. its SCPI error queue)."""

    kind = "instrument"


class SessionExpired(RemoteError):
    """The node stopped trusting this orchestrator (its heartbeat was lost); nothing runs."""

    kind = "expired"


class RemoteTimeout(RemoteError, TimeoutError):
    """A call got no reply within its timeout although the node is alive."""


class NodeLost(RemoteError):
    """A node stopped answering heartbeats, restarted, or another node of the run did."""


class AuthenticationRefused(RemoteError):
    """The node refused this orchestrator's CURVE key."""


#: Error kind in a reply -> the exception the client raises.
ERROR_KINDS: dict[str, type[RemoteError]] = {
    cls.kind: cls for cls in (ProtocolError, CallRefused, RemoteInvalidValue,
                              RemoteTransportError, RemoteInstrumentError, SessionExpired)
}
ERROR_KINDS["too_large"] = ProtocolError
ERROR_KINDS["internal"] = RemoteError
