"""The herald bus: PUB/SUB from the heralding station to the nodes, with gap detection.

The heralding station's node publishes one message per herald (topic
``herald``, then a JSON object)::

    {"seq": 41, "publisher": "<hex>", "attempt": 1207, "pattern": "+",
     "timestamp_ps": 6638120021, "run_id": 3, "sent_ns": 1717171717000000000}

- ``seq`` counts up by one per event from 0 for each ``publisher`` (a new id
  when the publisher restarts); a subscriber that sees ``seq`` jump knows how
  many events it missed (PUB/SUB drops messages when a subscriber falls
  behind its high-water mark or is disconnected) — `BusStats` keeps count;
- ``attempt``: the herald's sync among the syncs the tagger recorded since
  the publisher started (the attempt number when syncs are recorded raw);
- ``pattern``: ``+`` for the detector announcing Ψ+, ``-`` for Ψ−;
- ``timestamp_ps``: the click, on the tagger's time base;
- ``sent_ns``: wall-clock time of publishing (for latency on one host).

`HeraldDetector` finds the heralds of a tagger recording (the same
single-click extraction experiments use, `labctl.timetags.heralds`).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import zmq

from labctl.remote.keys import ClientKeys, ServerKeys, use_as_client, use_as_server
from labctl.timetags.heralds import extract_heralds

log = logging.getLogger(__name__)

TOPIC = b"herald"
PATTERNS = ("+", "-")
#: Messages queued per subscriber before PUB drops (and the subscriber sees a gap).
HIGH_WATER_MARK = 100_000


@dataclass(frozen=True)
class HeraldEvent:
    seq: int
    publisher: str
    attempt: int
    pattern: str
    timestamp_ps: int
    run_id: int | None
    sent_ns: int

    @classmethod
    def from_json(cls, data: Any) -> HeraldEvent:
        if not isinstance(data, dict) or set(data) != {f for f in cls.__dataclass_fields__}:
            raise ValueError("not a herald event")
        event = cls(**data)
        ints = (event.seq, event.attempt, event.timestamp_ps, event.sent_ns)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints) \
                or event.pattern not in PATTERNS or not isinstance(event.publisher, str) \
                or not (event.run_id is None or isinstance(event.run_id, int)):
            raise ValueError("malformed herald event")
        return event


@dataclass
class BusStats:
    """What a subscriber has seen: events, events missed (sequence gaps), gaps."""

    received: int = 0
    missed: int = 0
    gaps: int = 0
    malformed: int = 0
    publisher: str | None = None
    next_seq: int = 0
    last: dict[str, Any] = field(default_factory=dict)

    def add(self, event: HeraldEvent) -> int:
        """Count ``event``; the number of events missed just before it."""
        if event.publisher != self.publisher:
            if self.publisher is not None:
                log.info("herald publisher restarted (%s -> %s)", self.publisher,
                         event.publisher)
            self.publisher, self.next_seq = event.publisher, 0
        missed = max(event.seq - self.next_seq, 0)
        if missed:
            self.missed += missed
            self.gaps += 1
            log.warning("herald bus: %d event(s) missed before seq %d", missed, event.seq)
        self.next_seq = max(self.next_seq, event.seq + 1)
        self.received += 1
        self.last = asdict(event)
        return missed

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "missed": self.missed, "gaps": self.gaps,
                "malformed": self.malformed, "next_seq": self.next_seq}


class HeraldPublisher:
    """The heralding station's end of the bus (a PUB socket)."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], bind: str,
                 keys: ServerKeys | None = None) -> None:
        self.id = secrets.token_hex(8)
        self._seq = 0
        self._socket = context.socket(zmq.PUB)
        self._socket.linger = 0
        self._socket.sndhwm = HIGH_WATER_MARK
        if keys is not None:
            use_as_server(self._socket, keys)
        self._socket.bind(bind)
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def publish(self, attempt: int, pattern: str, timestamp_ps: int,
                run_id: int | None = None) -> HeraldEvent:
        event = HeraldEvent(self._seq, self.id, int(attempt), pattern, int(timestamp_ps),
                            run_id, time.time_ns())
        self._seq += 1
        self._socket.send_multipart([TOPIC, json.dumps(asdict(event)).encode()])
        return event

    def close(self) -> None:
        self._socket.close(linger=0)


class HeraldSubscriber:
    """A node's end of the bus (a SUB socket); `stats` counts events and gaps."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], connect: str,
                 keys: ClientKeys | None = None) -> None:
        self.stats = BusStats()
        self.socket = context.socket(zmq.SUB)
        self.socket.linger = 0
        self.socket.rcvhwm = HIGH_WATER_MARK
        if keys is not None:
            use_as_client(self.socket, keys)
        self.socket.setsockopt(zmq.SUBSCRIBE, TOPIC)
        self.socket.connect(connect)

    def receive(self, timeout: float | None = None) -> HeraldEvent | None:
        """The next event (None if none came within ``timeout`` s, or it was malformed)."""
        if timeout is not None and not self.socket.poll(round(timeout * 1000)):
            return None
        return self.handle(self.socket.recv_multipart())

    def handle(self, frames: Sequence[bytes]) -> HeraldEvent | None:
        """Count one received message (for callers that poll `socket` themselves)."""
        try:
            if len(frames) != 2 or frames[0] != TOPIC:
                raise ValueError("not a herald message")
            event = HeraldEvent.from_json(json.loads(frames[1]))
        except (ValueError, TypeError, UnicodeDecodeError):
            self.stats.malformed += 1
            log.warning("herald bus: malformed message ignored")
            return None
        self.stats.add(event)
        return event

    def close(self) -> None:
        self.socket.close(linger=0)


class HeraldDetector:
    """Single-click heralds of successive tagger recordings, as bus events."""

    def __init__(self, sync: int, plus: int, minus: int, window_ps: int) -> None:
        if window_ps <= 0:
            raise ValueError(f"herald window must be positive, got {window_ps} ps")
        self.sync, self.plus, self.minus, self.window_ps = sync, plus, minus, window_ps
        self._attempts = 0

    def detect(self, channels: np.ndarray, timestamps_ps: np.ndarray,
               offset_ps: int = 0) -> list[tuple[int, str, int]]:
        """``(attempt, pattern, click time in ps)`` of each herald in one recording."""
        found = extract_heralds(channels, timestamps_ps, sync_channel=self.sync,
                                detector_channels=(self.plus, self.minus),
                                window_ps=self.window_ps, offset_ps=offset_ps)
        syncs = np.asarray(timestamps_ps)[np.asarray(channels) == self.sync]
        attempts = np.searchsorted(syncs, found.sync_ps) + self._attempts
        self._attempts += len(syncs)
        clicks = found.sync_ps + found.delay_ps
        return [(int(a), PATTERNS[int(d)], int(t))
                for a, d, t in zip(attempts, found.detector, clicks, strict=True)]
