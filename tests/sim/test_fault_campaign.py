"""A fault campaign: every fault kind, at start, mid-run and mid-run transient, on four units.

Issue 14: faults are detected as a lab detects them and end in bounded time. On
the default ``sim`` profile served by another process (the fault matrix's
`labs` fixture), a short herald-rate run goes through the `Engine` while the
laser (``node_a_laser``), the AWG (``node_a_awg``), the SNSPD controller
(``herald_snspd``) or the tagger (``herald_tagger``) suffers each fault kind
that applies to it:

- ``start``: injected before the run starts and never cleared during it;
- ``mid``: injected after block 0 and never cleared during the run;
- ``transient``: injected after block 0 and cleared after a moment.

A transient fault, and a latch at any time, ends ``completed`` (the engine
reconnected and retried, reset the latch and redid the block, or waited for
the laser to relock). A lasting one ends ``failed`` — or, at start, the station
refuses to load — with a one-line reason naming the instrument. Either way it
ends within 60 s of the fault, and every hazardous instrument reads back safe
over fresh connections once the fault is gone (one the fault kept from its
safe state must say so in the reason).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from experiments.herald_rate import HeraldRateConfig
from labctl.data.archive import Archive
from labctl.engine.runner import Engine, RunOutcome
from labctl.errors import LabctlError
from labctl.simulation import joining
from tests.sim.test_fault_matrix import (  # noqa: F401  (labs: the fixture, reused)
    RETRIES,
    TIMEOUT_S,
    Lab,
    Watch,
    Watched,
    _nothing,
    _sequencer,
    hazards_off,
    labs,
)

BLOCKS = 3
#: How long the engine waits for a laser to relock, s.
RELOCK_S = 3.0
#: The bound from the fault to the end of the run, s.
BOUND_S = 60.0

#: Which `hazards_off` entries each unit's own safe state is read back by.
_OWN_HAZARDS = {"node_a_laser": ("node_a laser off",), "node_a_awg": ("node_a awg stopped",),
                "herald_snspd": ("snspd bias down",), "herald_tagger": ()}


@dataclass(frozen=True)
class Unit:
    instrument: str
    watch: Watch
    physics: tuple[str, ...]


UNITS = (
    Unit("node_a_laser", _nothing, ("unlock",)),       # the engine reads its lock
    Unit("node_a_awg", _sequencer, ()),
    Unit("herald_snspd", _nothing, ("latch",)),        # the engine reads its latches
    Unit("herald_tagger", _nothing, ()),               # every block reads it
)

#: kind -> (value, how long a transient one lasts in wall s)
KINDS = {"latency": (3 * TIMEOUT_S, 1.5 * TIMEOUT_S), "silent": (0.0, 1.5 * TIMEOUT_S),
         "drop": (0.0, 0.5), "garbage": (0.0, 0.5), "unlock": (0.0, 1.0), "latch": (1.0, 1.0)}
WHEN = ("start", "mid", "transient")

#: The fast subset (`make test`); the rest is marked slow (`make test-all`).
FAST = {
    "node_a_laser-unlock-start", "node_a_laser-unlock-mid", "node_a_laser-unlock-transient",
    "herald_snspd-latch-start", "herald_snspd-latch-mid",
    "node_a_awg-drop-transient", "herald_tagger-garbage-transient",
    "herald_snspd-garbage-transient", "node_a_laser-drop-mid",
}


def _cases() -> Iterator[Any]:
    for unit in UNITS:
        for kind in ("latency", "drop", "garbage", "silent", *unit.physics):
            for when in WHEN:
                case_id = f"{unit.instrument}-{kind}-{when}"
                marks = [] if case_id in FAST else [pytest.mark.slow]
                yield pytest.param(unit, kind, when, id=case_id, marks=marks)


def _expected(kind: str, when: str) -> str:
    if kind == "latch" or when == "transient":
        return "completed"
    return "failed"


@pytest.mark.parametrize("unit, kind, when", list(_cases()))
def test_a_fault_ends_as_a_lab_needs_in_bounded_time_and_safe(
        labs, monkeypatch, tmp_path, unit: Unit, kind: str, when: str) -> None:  # noqa: F811
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(labs["runtime"]))
    lab: Lab = labs["sim"]
    lab.control.clear_faults()
    value, lasts_s = KINDS[kind]
    injected: list[float] = []
    timers: list[threading.Timer] = []

    def inject() -> None:
        lab.control.set_fault(unit.instrument, kind, value)
        injected.append(time.monotonic())
        if when == "transient":
            timer = threading.Timer(lasts_s, lab.control.clear_faults)
            timers.append(timer)
            timer.start()

    archive = Archive(tmp_path)
    experiment = Watched(HeraldRateConfig(blocks=BLOCKS, block_seconds=2.0), unit.watch)
    engine = Engine(archive, retries=RETRIES, progress=False, relock_timeout_s=RELOCK_S,
                    on_block=lambda index: inject() if index == 0 and when != "start" else None)
    outcome: RunOutcome | None = None
    refused: LabctlError | None = None
    try:
        if when == "start":
            inject()
        with joining():
            try:
                outcome = engine.start(experiment, lab.station, lab.profile)
            except LabctlError as error:   # at start: the station may refuse to load
                refused = error
        ended = time.monotonic()
    finally:
        for timer in timers:
            timer.cancel()
        lab.control.clear_faults()
    assert injected, "the fault was never injected"
    assert ended - injected[0] <= BOUND_S
    expected = _expected(kind, when)
    if refused is not None:
        assert when == "start" and expected == "failed", refused
        assert unit.instrument in str(refused) and "\n" not in str(refused), refused
    else:
        assert outcome is not None
        assert outcome.status == expected, outcome.reason
        if expected == "completed":
            assert outcome.blocks == BLOCKS
        else:
            assert outcome.reason is not None and "\n" not in outcome.reason
            assert unit.instrument in outcome.reason, outcome.reason
            if kind == "unlock":
                assert f"did not relock within {RELOCK_S:g} s" in outcome.reason
            assert outcome.blocks == (0 if when == "start" else 1)
        data = archive.load(outcome.run_id)
        assert not data.corrupt and len(data.blocks) == outcome.blocks
    archive.close()
    safe = hazards_off(lab)
    kept_unsafe = outcome is not None and f"safe state failed for {unit.instrument}" in (
        outcome.reason or "")
    for what, ok in safe.items():
        if kept_unsafe and what in _OWN_HAZARDS[unit.instrument]:
            continue   # the lasting fault kept it from its safe state, and the reason says so
        assert ok, (what, safe)
