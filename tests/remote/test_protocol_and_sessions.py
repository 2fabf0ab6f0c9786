"""Request checking, the node's session bookkeeping, the allow-list and herald gap counting.

Pure logic: no sockets, an injected clock for the heartbeat rules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from labctl.remote.allowlist import allowed_methods
from labctl.remote.errors import CallRefused, SessionExpired
from labctl.remote.heralds_bus import BusStats, HeraldDetector, HeraldEvent
from labctl.remote.protocol import BadRequest, Limits, parse_request, request
from labctl.remote.session import Sessions

SESSION = "ab" * 8


def test_a_well_formed_request_is_parsed_with_its_frames():
    parts = request(7, SESSION, "set", [b"\0" * 8], instrument="laser", path="power",
                    value={"__ndarray__": 0, "dtype": "<f8", "shape": [1]})
    parsed = parse_request(parts, Limits())
    assert (parsed.id, parsed.session, parsed.op) == (7, SESSION, "set")
    assert parsed.fields["path"] == "power" and len(parsed.frames) == 1


def header(**fields):
    return [json.dumps({"v": 1, "id": 1, "session": SESSION, **fields}).encode()]


@pytest.mark.parametrize("parts, message", [
    ([], "empty"),
    ([b"\xff\xfe not utf-8"], "not UTF-8 JSON"),
    ([b"[1, 2]"], "not a JSON object"),
    ([b'{"v": 1, "session": "abababababababab", "op": "hello"}'], "integer 'id'"),
    (header(op="get", v=2, instrument="x", path="y"), "protocol version"),
    (header(op="pickle"), "unknown operation"),
    (header(op="get", instrument="x"), "missing field 'path'"),
    (header(op="get", instrument=3, path="y"), "wrong type"),
    (header(op="arm", run_id=True), "wrong type"),
    (header(op="get", instrument="x", path="y", shell="rm"), "unexpected field"),
    ([json.dumps({"v": 1, "id": 1, "session": "NOT HEX", "op": "hello"}).encode()],
     "session"),
])
def test_malformed_requests_are_refused_with_a_reason(parts, message):
    with pytest.raises(BadRequest, match=message):
        parse_request(parts, Limits())


def test_oversized_requests_are_refused_before_their_json_is_read():
    limits = Limits(max_message_bytes=1000, max_header_bytes=100, max_frames=2)
    with pytest.raises(BadRequest, match="exceeds the node's limit of 1000") as caught:
        parse_request([b"{}", b"\0" * 2000], limits)
    assert caught.value.kind == "too_large"
    with pytest.raises(BadRequest, match="header of 200 bytes"):
        parse_request([b" " * 200], limits)
    with pytest.raises(BadRequest, match="3 data frames"):
        parse_request([b"{}", b"", b"", b""], limits)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_silent_writer_is_given_up_and_refused_afterwards_a_silent_reader_forgotten():
    clock = FakeClock()
    sessions = Sessions(heartbeat_timeout=2.0, clock=clock)
    sessions.check("writer01", write=True)
    sessions.check("reader01", write=False)
    clock.t = 1.5
    sessions.seen("writer01")                   # a heartbeat keeps it alive
    clock.t = 3.0
    assert sessions.expire() == []              # reader silent 3 s: forgotten, not reported
    clock.t = 3.6
    lost = sessions.expire()
    assert [session.id for session, _ in lost] == ["writer01"]
    with pytest.raises(SessionExpired, match="safe state"):
        sessions.seen("writer01")
    sessions.seen("reader01")                   # a reader may come back


def test_one_armed_run_at_a_time_and_others_may_only_read_meanwhile():
    clock = FakeClock()
    sessions = Sessions(heartbeat_timeout=2.0, clock=clock)
    sessions.arm("orch0001", 5)
    sessions.go("orch0001", 5)
    with pytest.raises(CallRefused, match="busy: armed for run 5"):
        sessions.arm("orch0002", 6)
    sessions.check("orch0002", write=False)
    with pytest.raises(CallRefused, match="only reads"):
        sessions.check("orch0002", write=True)
    sessions.check("orch0002", write=True, safety=True)     # making things safe: always
    with pytest.raises(CallRefused, match="not armed"):
        sessions.go("orch0002", 5)
    assert sessions.disarm("orch0001", 5).run_id == 5
    sessions.check("orch0002", write=True)


def test_losing_the_armed_orchestrator_ends_its_run():
    clock = FakeClock()
    sessions = Sessions(heartbeat_timeout=1.0, clock=clock)
    sessions.arm("orch0001", 9)
    clock.t = 5.0
    [(session, armed)] = sessions.expire()
    assert session.id == "orch0001" and armed.run_id == 9 and sessions.armed is None


def test_a_goodbye_ends_the_run_without_a_safe_state():
    sessions = Sessions(heartbeat_timeout=1.0, clock=FakeClock())
    sessions.arm("orch0001", 3)
    assert sessions.bye("orch0001").run_id == 3
    assert sessions.armed is None and sessions.expire() == []


def test_the_allow_list_names_only_declared_methods_plus_safe_state():
    class Declared:
        remote_methods = ("run", "_private", "missing")

        def run(self) -> None: ...
        def write(self, command: str) -> None: ...
        def _private(self) -> None: ...
        def safe_state(self) -> None: ...

    class Undeclared:
        def run(self) -> None: ...

    assert allowed_methods(Declared()) == ("run", "safe_state")
    assert allowed_methods(Undeclared()) == ()


def event(seq, publisher="p1"):
    return HeraldEvent(seq=seq, publisher=publisher, attempt=seq, pattern="+",
                       timestamp_ps=1000 * seq, run_id=None, sent_ns=0)


def test_herald_sequence_gaps_are_counted_and_a_restarted_publisher_starts_afresh():
    stats = BusStats()
    for seq in (0, 1, 2, 5, 6, 9):
        stats.add(event(seq))
    assert (stats.received, stats.missed, stats.gaps) == (6, 4, 2)
    stats.add(event(0, publisher="p2"))          # new publisher: its sequence starts at 0
    stats.add(event(1, publisher="p2"))
    assert (stats.received, stats.missed, stats.gaps) == (8, 4, 2)


def test_heralds_become_events_numbered_by_attempt_across_recordings():
    detector = HeraldDetector(sync=3, plus=1, minus=2, window_ps=25_000)
    period = 5_500_000
    syncs = [k * period for k in range(4)]
    clicks = [(1, syncs[1] + 10_000), (2, syncs[2] + 20_000), (1, syncs[3] + 90_000)]
    tags = sorted([(t, 3) for t in syncs] + [(t, c) for c, t in clicks])
    channels = np.array([c for _, c in tags], dtype=np.uint8)
    timestamps = np.array([t for t, _ in tags], dtype=np.int64)
    assert detector.detect(channels, timestamps) == [(1, "+", syncs[1] + 10_000),
                                                     (2, "-", syncs[2] + 20_000)]
    # the next recording continues the attempt count (its timestamps restart at 0)
    assert detector.detect(channels, timestamps)[0][0] == 4 + 1
