"""The message format between orchestrator (DEALER) and node (ROUTER), checked on arrival.

A message is one JSON header frame (UTF-8, stdlib ``json``) followed by the
binary frames of any numpy arrays it carries (see `labctl.remote.codec`).

Request header::

    {"v": 1, "id": 17, "session": "<hex>", "op": "get",
     "instrument": "node_a_laser", "path": "power"}

``id`` pairs a reply with its request (a late reply to a request that timed
out is dropped); ``session`` names the orchestrator (one per station per
process), which is what heartbeats keep alive and what a node arms for a run.
Operations and their fields are in `OPERATIONS`; nothing else is accepted.

Reply header: ``{"v": 1, "id": 17, "ok": true, "result": <encoded value>}`` or
``{"v": 1, "id": 17, "ok": false, "error": {"kind": "refused", "message": "..."}}``
(``id`` is null when the request was too broken to read it).

`parse_request` refuses — with a `BadRequest` the node turns into an error
reply — anything too large (`Limits`), not JSON, of the wrong version or
shape, or with fields of the wrong type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import zmq

from labctl.remote.codec import Frame
from labctl.remote.errors import ProtocolError

PROTOCOL_VERSION = 1
_SESSION = re.compile(r"^[0-9a-f]{8,64}$")
_NUMBER = (int, float)

#: op -> {field: (accepted JSON types, required)}; None accepts any encoded value.
OPERATIONS: dict[str, dict[str, tuple[frozenset[type] | None, bool]]] = {
    "hello": {"client": (frozenset({str}), False)},
    "heartbeat": {},
    "bye": {},
    "status": {},
    "describe": {"instrument": (frozenset({str}), True)},
    "get": {"instrument": (frozenset({str}), True), "path": (frozenset({str}), True)},
    "set": {"instrument": (frozenset({str}), True), "path": (frozenset({str}), True),
            "value": (None, True)},
    "call": {"instrument": (frozenset({str}), True), "path": (frozenset({str}), True),
             "args": (frozenset({list}), False), "kwargs": (frozenset({dict}), False)},
    "snapshot": {"instrument": (frozenset({str}), True), "update": (frozenset({bool}), False)},
    "arm": {"run_id": (frozenset({int}), True)},
    "go": {"run_id": (frozenset({int}), True)},
    "disarm": {"run_id": (frozenset({int}), True)},
    "reconnect": {},
    "clock": {"action": (frozenset({str}), True), "seconds": (frozenset({int, float}), False)},
}
_ENVELOPE = frozenset({"v", "id", "session", "op"})
#: Compact JSON (one encoder: ``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_REQUIRED = {op: frozenset(name for name, (_, required) in schema.items() if required)
             for op, schema in OPERATIONS.items()}


@dataclass(frozen=True)
class Limits:
    """What a node accepts: whole message, JSON header, number of frames."""

    max_message_bytes: int = 256 * 1024 * 1024
    max_header_bytes: int = 1024 * 1024
    max_frames: int = 64

    @property
    def hard_limit(self) -> int:
        """Set as ZMQ_MAXMSGSIZE: a frame this big drops the connection instead of a reply."""
        return 2 * self.max_message_bytes + self.max_header_bytes


class BadRequest(ProtocolError):
    """A request the node cannot serve as sent; ``kind`` is ``malformed`` or ``too_large``."""

    def __init__(self, message: str, request_id: int | None = None,
                 kind: str = "malformed") -> None:
        super().__init__(message)
        self.request_id = request_id
        self.kind = kind


class Request(NamedTuple):
    """A checked request: its header fields (beyond v, id, session, op) and data frames."""

    id: int
    session: str
    op: str
    fields: dict[str, Any]
    frames: list[Frame]


def pack(header: dict[str, Any], frames: Sequence[Frame] = ()) -> list[Frame]:
    """The frames of a message: its JSON header first."""
    return [_ENCODER.encode(header).encode(), *frames]


def request(request_id: int, session: str, op: str, frames: Sequence[Frame] = (),
            **fields: Any) -> list[Frame]:
    return pack({"v": PROTOCOL_VERSION, "id": request_id, "session": session, "op": op,
                 **fields}, frames)


def ok_reply(request_id: int | None, result: Any = None,
             frames: Sequence[Frame] = ()) -> list[Frame]:
    return pack({"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result},
                frames)


def error_reply(request_id: int | None, kind: str, message: str) -> list[Frame]:
    return pack({"v": PROTOCOL_VERSION, "id": request_id, "ok": False,
                 "error": {"kind": kind, "message": message}})


def receive(socket: zmq.Socket[bytes], leading: int, flags: int = 0) -> list[Frame]:
    """One message: its first ``leading`` frames (envelope, header) copied as bytes, the
    data frames after them as memoryviews of zmq's own buffers (no copy of large arrays)."""
    parts: list[Frame] = [socket.recv(flags)]
    while socket.getsockopt(zmq.RCVMORE):
        parts.append(socket.recv() if len(parts) < leading else socket.recv(copy=False).buffer)
    return parts


def parse_request(parts: Sequence[Frame], limits: Limits) -> Request:
    """Check a request's size, JSON and fields; `BadRequest` says what is wrong."""
    if not parts:
        raise BadRequest("empty message")
    size = sum(map(len, parts))
    if size > limits.max_message_bytes:
        raise BadRequest(f"message of {size} bytes exceeds the node's limit of "
                         f"{limits.max_message_bytes} bytes", kind="too_large")
    if len(parts[0]) > limits.max_header_bytes:
        raise BadRequest(f"header of {len(parts[0])} bytes exceeds the node's limit of "
                         f"{limits.max_header_bytes} bytes", kind="too_large")
    if len(parts) - 1 > limits.max_frames:
        raise BadRequest(f"{len(parts) - 1} data frames exceed the node's limit of "
                         f"{limits.max_frames}", kind="too_large")
    header = _json_object(parts[0])
    request_id = header.get("id")
    if type(request_id) is not int:
        raise BadRequest("header needs an integer 'id'")
    if header.get("v") != PROTOCOL_VERSION:
        raise BadRequest(f"protocol version {header.get('v')!r} is not "
                         f"{PROTOCOL_VERSION}", request_id)
    session, op = header.get("session"), header.get("op")
    if type(session) is not str or not _SESSION.match(session):
        raise BadRequest("header needs a 'session' of 8 to 64 lowercase hex digits",
                         request_id)
    schema = OPERATIONS.get(op) if isinstance(op, str) else None
    if schema is None or not isinstance(op, str):
        raise BadRequest(f"unknown operation {op!r}", request_id)
    fields = {k: v for k, v in header.items() if k not in _ENVELOPE}
    for name, value in fields.items():
        rule = schema.get(name)
        if rule is None:
            raise BadRequest(f"{op}: unexpected field {name!r}", request_id)
        if rule[0] is not None and type(value) not in rule[0]:
            raise BadRequest(f"{op}: field {name!r} has the wrong type "
                             f"({type(value).__name__})", request_id)
    missing = _REQUIRED[op].difference(fields)
    if missing:
        raise BadRequest(f"{op}: missing field {sorted(missing)[0]!r}", request_id)
    return Request(request_id, session, op, fields, list(parts[1:]))


def parse_reply(parts: Sequence[Frame]) -> tuple[dict[str, Any], list[Frame]]:
    """A reply's header and data frames; `ProtocolError` if it is not a reply."""
    if not parts:
        raise ProtocolError("empty reply")
    try:
        header = _json_object(parts[0])
    except BadRequest as error:
        raise ProtocolError(f"unreadable reply: {error}") from None
    if header.get("v") != PROTOCOL_VERSION or not isinstance(header.get("ok"), bool):
        raise ProtocolError("not a labctl node reply")
    return header, list(parts[1:])


def _json_object(frame: Frame) -> dict[str, Any]:
    try:
        header = json.loads(frame if isinstance(frame, bytes) else bytes(frame))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("header is not UTF-8 JSON") from None
    if type(header) is not dict:
        raise BadRequest("header is not a JSON object")
    return header
