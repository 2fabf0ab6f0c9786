"""The virtual lab's computing never trips a driver's timeout (issue 14).

A block's tags are computed when the station clock reaches the record's end
(`VirtualClock.at`), inside the clock request that lets the time pass — as a
real unit has its data once the record is over and answers ``*OPC?`` only then.
So however long the world takes to compute a block (a loaded machine, a long
Barrett–Kok block), no request of the tagger's driver waits on it. Here the
world's `record` is made slower than the driver's reply timeout: the record
still comes back whole, computed exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from experiments.bringup import AttemptDesign, bring_up
from labctl import station as station_module
from sim_instruments import swabian_timetagger_api as standin
from sim_instruments.emulators import idq_id1000, swabian_timetagger
from sim_instruments.world_state import VirtualClock

#: The drivers' reply timeout in these tests, s, and how long one computed record takes.
REPLY_TIMEOUT_S = 0.3
COMPUTE_S = 3 * REPLY_TIMEOUT_S


def slow(record: Callable[..., Any], calls: list[str]) -> Callable[..., Any]:
    def computed_slowly(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.current_thread().name)
        time.sleep(COMPUTE_S)   # stands for the world's computing, longer than a reply may take
        return record(*args, **kwargs)
    return computed_slowly


@pytest.fixture
def runtime(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("LABCTL_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize("profile, emulator", [("sim", idq_id1000),
                                               ("sim-swabian", swabian_timetagger)])
def test_a_record_slower_to_compute_than_a_reply_timeout_comes_back_whole(
        runtime, monkeypatch, profile: str, emulator: Any) -> None:
    monkeypatch.setattr(standin, "_REPLY_TIMEOUT_S", REPLY_TIMEOUT_S)
    with station_module.load("stations/two_node.yaml", profile) as station:
        bring_up(station, AttemptDesign(alpha=0.1))
        tagger = station.tagger("heralding")
        if profile == "sim":
            station.instrument("time_tagger", "heralding").timeout(REPLY_TIMEOUT_S)
        calls: list[str] = []
        monkeypatch.setattr(emulator, "record", slow(emulator.record, calls))
        started = station.clock.now()
        channels, _ = tagger.record(2.0)
        assert calls == [threading.current_thread().name]   # once, in the clock's advance
        assert station.clock.now() - started == pytest.approx(2.0, abs=0.01)
    herald = tagger.channel("herald_plus"), tagger.channel("herald_minus")
    assert set(herald) <= set(channels.tolist())


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    yield VirtualClock()


def test_work_is_done_in_the_advance_that_reaches_its_moment_in_order(clock) -> None:
    done: list[tuple[str, float]] = []
    clock.at(2.0, lambda: done.append(("b", clock.now())))
    clock.at(1.0, lambda: done.append(("a", clock.now())))
    clock.advance(0.5)
    assert done == []
    clock.advance(1.0)
    assert done == [("a", 1.5)]
    clock.advance(1.0)
    assert done == [("a", 1.5), ("b", 2.5)]
    clock.at(1.0, lambda: done.append(("past", clock.now())))   # already reached: at once
    assert done[-1] == ("past", 2.5)


def test_a_record_ending_a_float_sum_short_of_its_end_is_due(clock) -> None:
    done: list[float] = []
    clock.at(0.3, lambda: done.append(clock.now()))
    for _ in range(3):
        clock.advance(0.1)     # 0.1 + 0.1 + 0.1 = 0.30000000000000004 or just below
    assert len(done) == 1


def test_failing_work_is_logged_and_later_work_still_done(clock, caplog) -> None:
    done: list[str] = []

    def broken() -> None:
        raise RuntimeError("no such channel")

    clock.at(1.0, broken)
    clock.at(1.0, lambda: done.append("next"))
    with caplog.at_level(logging.DEBUG, logger="sim_instruments.world_state"):
        clock.advance(1.0)
    assert done == ["next"]
    assert "no such channel" in caplog.text
