"""The engine: one run of an experiment, from the archive entry to the safe state.

`Engine.start` creates the archive entry (station snapshot, config, code
version, profile), then loops: ask the stopping rule, acquire a block, write
it durably (`labctl.data.archive.RunWriter.append` returns only once it is on
disk), update the progress bar. `Engine.resume` continues a run that died
from its last durable block, on a station that still matches.

Cross-cutting behaviour, on every exit path:

- Ctrl-C once: the block in progress is finished and written, then the run
  stops as ``interrupted``; twice: it aborts at once (``interrupted``);
- an instrument that times out or drops its connection: after a pause
  (`RETRY_PAUSE_S`) the engine reconnects the station's instruments, prepares
  the experiment again and retries the block, up to ``retries`` times, then
  stops as ``failed`` — the blocks already written stay;
- a reply that cannot be read (not text, not the unit's protocol) counts as such
  a transport fault too: the reconnect flushes what was left on the line;
- between blocks, the health of the station (`labctl.engine.health`): before
  each block a latched detector is reset and an unlocked laser given
  ``relock_timeout_s`` to relock (else ``failed``, naming the laser); a block
  after which a detector is latched or a laser unlocked is not kept but
  measured again (up to ``retries`` times);
- any other error: ``failed`` with the error as the reason;
- always: every hazardous instrument goes to its safe state (tried again, as
  a block is, while it fails), and the run's status and reason are recorded;
  a run whose safe state failed is ``failed``, never ``completed``;
- remote instruments (`labctl.remote`): every node is armed for the run before
  it starts (one that fails to arm fails the run) and disarmed after; a node
  lost mid-run stops the run on every node.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyvisa.errors import VisaIOError
from tqdm import tqdm

from labctl import station as station_module
from labctl.clock import Clock, WallClock
from labctl.data.archive import Archive, RunData, RunMetadata, RunStatus, RunWriter
from labctl.engine.experiment import (
    Block,
    Experiment,
    RunContext,
    config_from_dict,
    config_to_dict,
)
from labctl.engine.health import HealthCheck
from labctl.engine.interrupts import GracefulInterrupt
from labctl.engine.registry import find_experiment
from labctl.engine.snapshot import station_snapshot
from labctl.engine.stopping import History
from labctl.errors import (
    LabctlError,
    ParameterError,
    SafeStateError,
    StationError,
    TransportError,
)
from labctl.provenance import code_version
from labctl.station import LabStation

log = logging.getLogger(__name__)

#: Failures of the connection to an instrument, which a reconnect may cure.
#: What the engine retries after reconnecting: an instrument that could not be reached
#: (VISA I/O, sockets, and `TransportError` from drivers over zmq, serial or a vendor
#: library), and a reply that is not text (`UnicodeDecodeError`), never a refusal (a
#: validator's `ValueError`, a unit's error-queue entry).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (VisaIOError, ConnectionError, TimeoutError,
                                                     TransportError, UnicodeDecodeError)

#: What loading a station may fail with: a unit that could not be reached (retried)
#: or, for anything else, a station that cannot be used (not retried).
_LOAD_FAILURES: tuple[type[BaseException], ...] = (StationError, *TRANSPORT_ERRORS)

#: Wall time before each retry after a transport error, s (a glitch of a unit or of its
#: network passes in wall time, also in simulation). A block is retried after it and a
#: reconnect; so is the safe state of an instrument that could not be made safe (its
#: connection broken by the fault that ended the run, or still glitching).
RETRY_PAUSE_S = 1.0

#: How long a laser that lost its lock is given to relock before the run fails, s.
RELOCK_TIMEOUT_S = 30.0


class InstrumentFailure(LabctlError):
    """An instrument kept failing after the engine's retries."""


@dataclass(frozen=True)
class RunOutcome:
    """How a run (or a resumption of it) ended."""

    run_id: int
    experiment: str
    status: RunStatus
    blocks: int
    reason: str | None
    result: Any | None
    analysis_error: str | None = None
    plot: str | None = None


class Engine:
    """Runs experiments on stations into an archive."""

    def __init__(self, archive: Archive, retries: int = 3, progress: bool = True,
                 on_block: Callable[[int], None] | None = None,
                 relock_timeout_s: float = RELOCK_TIMEOUT_S,
                 recovery_clock: Clock | None = None) -> None:
        self.archive = archive
        #: What transport recovery and relocking wait on: wall time, even on the virtual
        #: lab, since a dropped link or a lost lock passes in real time, not in the
        #: experiment's (possibly virtual) station clock.
        self.recovery_clock: Clock = recovery_clock if recovery_clock is not None \
            else WallClock()
        self.retries = retries
        self.relock_timeout_s = relock_timeout_s
        self.progress = progress
        self.on_block = on_block

    # --- entry points ---------------------------------------------------------

    def start(self, experiment: Experiment, station_path: str | Path,
              profile: str) -> RunOutcome:
        """Run ``experiment`` (its config already checked) on a station profile."""
        # a config the station cannot run (e.g. an unknown node): before any run exists
        experiment.check_station(station_module.read_spec(station_path, profile))
        with self._load(station_path, profile) as station:
            metadata = RunMetadata(
                experiment=experiment.name, config=config_to_dict(experiment.config),
                station_path=str(station_path), profile=profile,
                station_snapshot=self._snapshot(station), code_version=code_version(),
                planned_blocks=experiment.planned_blocks())
            writer = self.archive.create_run(metadata, experiment.value_names)
            log.info("run %d of %s started", writer.run_id, experiment.name)
            return self._execute(experiment, station, writer, History())

    def resume(self, run_id: int) -> RunOutcome:
        """Continue run ``run_id`` from its last durable block."""
        info = self.archive.info(run_id)
        if info.status == "completed":
            raise ParameterError(f"run {run_id} is already completed")
        experiment_type = find_experiment(info.experiment)
        experiment = experiment_type(config_from_dict(experiment_type.config_type, info.config))
        archived = self.archive.station_snapshot(run_id)
        with self._load(info.station_path, info.profile) as station:
            _check_same_station(run_id, archived, self._snapshot(station, update=False))
            data = self.archive.load(run_id)
            history = History.from_values({k: list(v) for k, v in data.values.items()},
                                          len(data.blocks))
            writer = self.archive.resume_run(run_id)
            log.info("run %d resumed at block %d", run_id, writer.next_block)
            return self._execute(experiment, station, writer, history)

    def _load(self, station_path: str | Path, profile: str) -> LabStation:
        """The station loaded; loading is retried (as a block is) while a unit cannot be
        reached, then its `StationError` (naming the instrument) is raised."""
        for attempt in range(self.retries + 1):
            try:
                return station_module.load(station_path, profile)
            except _LOAD_FAILURES as error:
                unreachable = not isinstance(error, StationError) or isinstance(
                    error.__cause__, TRANSPORT_ERRORS)
                if not unreachable or attempt == self.retries:
                    raise
                log.warning("loading the station: %s; retry %d of %d", _one_line(error),
                            attempt + 1, self.retries)
                self.recovery_clock.sleep(RETRY_PAUSE_S)
        raise AssertionError("unreachable")

    def _snapshot(self, station: LabStation, update: bool = True) -> dict[str, Any]:
        return station_snapshot(station, self.recovery_clock, update,
                                transport_errors=TRANSPORT_ERRORS)

    # --- the loop ---------------------------------------------------------------

    def _execute(self, experiment: Experiment, station: LabStation, writer: RunWriter,
                 history: History) -> RunOutcome:
        context = RunContext(station=station, run_id=writer.run_id,
                             rng=np.random.default_rng(writer.run_id))
        rule = experiment.stopping_rule()
        health = HealthCheck(station, experiment.unchecked_roles, self.recovery_clock)
        status: RunStatus = "failed"
        reason: str | None = None
        bar = tqdm(total=experiment.planned_blocks(), initial=history.blocks, unit="block",
                   desc=f"run {writer.run_id} {experiment.name}", leave=False,
                   disable=None if self.progress else True)
        totals: dict[str, float] = {}
        try:
            with GracefulInterrupt() as interrupt:
                try:
                    station.begin_run(writer.run_id)   # remote nodes: arm all, then go
                    self._with_retries(lambda: experiment.prepare(context), station,
                                       "preparing the instruments", lambda: None)
                    while True:
                        done = rule.done(history)
                        if done is not None:
                            status, reason = "completed", done
                            break
                        if interrupt.requested:
                            status = "interrupted"
                            reason = f"stopped by Ctrl-C after block {writer.next_block - 1}"
                            break
                        index = writer.next_block
                        context.rng = np.random.default_rng([writer.run_id, index])
                        block = self._with_retries(
                            functools.partial(self._healthy_block, experiment, context, index,
                                              health), station,
                            f"block {index}", functools.partial(experiment.prepare, context))
                        writer.append(block.values, block.arrays)
                        history.add(block.values)
                        for name, value in block.progress.items():
                            totals[name] = totals.get(name, 0.0) + float(value)
                        bar.set_postfix({k: f"{v:g}" for k, v in totals.items()}, refresh=False)
                        bar.update(1)
                        if self.on_block is not None:
                            self.on_block(index)
                except KeyboardInterrupt:
                    status = "interrupted"
                    reason = f"aborted by a second Ctrl-C during block {writer.next_block}"
                except Exception as error:  # the run fails, but is recorded and made safe
                    status, reason = "failed", _one_line(error)
                    if isinstance(error, LabctlError):   # a fault, said in one line
                        log.error("run %d failed: %s", writer.run_id, reason)
                        log.debug("run %d failed", writer.run_id, exc_info=True)
                    else:                                # a bug: its traceback
                        log.exception("run %d failed", writer.run_id)
        finally:
            bar.close()
            safe, reason = _make_safe(station, reason, self.retries, self.recovery_clock)
            if not safe:   # a run is never reported a success with an instrument unsafe
                status = "failed"
            station.end_run()
            writer.finish(status, reason)
        return self._outcome(experiment, writer.run_id, status, history.blocks, reason)

    def _with_retries(self, action: Callable[[], Any], station: LabStation, what: str,
                      recover: Callable[[], None]) -> Any:
        for attempt in range(self.retries + 1):
            try:
                if attempt:   # a retry: reconnect and prepare again first (that may fail too)
                    self.recovery_clock.sleep(RETRY_PAUSE_S)
                    station.reconnect()
                    recover()
                return action()
            except TRANSPORT_ERRORS as error:
                if attempt == self.retries:
                    raise InstrumentFailure(f"{what}: {_one_line(error)} "
                                            f"(gave up after {self.retries} retries)") from error
                log.warning("%s: %s; reconnecting (retry %d of %d)", what, _one_line(error),
                            attempt + 1, self.retries)
        raise AssertionError("unreachable")

    def _healthy_block(self, experiment: Experiment, context: RunContext, index: int,
                       health: HealthCheck) -> Block:
        """Block ``index`` measured on a healthy station (see `labctl.engine.health`)."""
        problems = health.problems()
        for attempt in range(self.retries + 1):
            health.recover(problems, self.relock_timeout_s)
            block: Block = experiment.acquire(context, index)
            problems = health.problems()
            if not problems:
                return block
            found = "; ".join(p.describe() for p in problems)
            log.warning("block %d was measured while %s: measuring it again (%d of %d)",
                        index, found, attempt + 1, self.retries)
        raise InstrumentFailure(f"block {index}: {found} after every one of "
                                f"{self.retries + 1} tries")

    def _outcome(self, experiment: Experiment, run_id: int, status: RunStatus, blocks: int,
                 reason: str | None) -> RunOutcome:
        result, analysis_error, plot = None, None, None
        if blocks:
            try:
                data = self.archive.load(run_id)
                result = experiment.analyze(data)
                plot = save_plot(type(experiment), self.archive, data, result)
            except NotImplementedError:
                result = None
            except (LabctlError, ValueError, ZeroDivisionError, OSError) as error:
                analysis_error = _one_line(error)   # OSError: the plot on a full disk
        return RunOutcome(run_id, experiment.name, status, blocks, reason, result,
                          analysis_error, plot)


def save_plot(experiment: type[Experiment], archive: Archive, data: RunData,
              result: Any) -> str | None:
    """The run's PNG of data and fit, next to its raw chunks; None if it draws nothing."""
    path = archive.root / "raw" / f"run-{data.info.run_id}" / f"{experiment.name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path) if experiment.plot(data, result, path) else None


def analyze_run(archive: Archive, run_id: int) -> tuple[RunData, Any]:
    """Re-run the analysis of an archived run (``labctl fit``, ``labctl show``)."""
    info = archive.info(run_id)
    experiment = find_experiment(info.experiment)
    data = archive.load(run_id)
    return data, experiment.analyze(data)


def _instruments_of(snapshot: dict[str, Any]) -> dict[str, str]:
    instruments = snapshot.get("instruments", {})
    return {name: str(entry.get("__class__", "")) for name, entry in instruments.items()}


def _check_same_station(run_id: int, archived: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume on a station whose instruments (names, driver classes) changed."""
    before, now = _instruments_of(archived), _instruments_of(current)
    if before == now:
        return
    missing = sorted(set(before) - set(now))
    added = sorted(set(now) - set(before))
    changed = sorted(n for n in set(before) & set(now) if before[n] != now[n])
    parts = [f"missing {', '.join(missing)}" if missing else "",
             f"new {', '.join(added)}" if added else "",
             f"different driver for {', '.join(changed)}" if changed else ""]
    raise ParameterError(f"the station no longer matches run {run_id}: "
                         + "; ".join(p for p in parts if p))



def _make_safe(station: LabStation, reason: str | None, retries: int,
               clock: Clock) -> tuple[bool, str | None]:
    """Every hazardous instrument to its safe state; (reached, the run's reason).

    Those that fail are tried again, alone, after a pause and a fresh connection
    to each of them, up to ``retries`` times.
    """
    failed: Collection[str] | None = None   # None: all of them
    for attempt in range(retries + 1):
        try:
            station.safe_state_all(failed)
        except SafeStateError as error:
            log.error("%s", error)
            if attempt == retries:
                return False, f"{reason}; {error}" if reason else str(error)
            failed = tuple(error.failures)
            clock.sleep(RETRY_PAUSE_S)
            try:
                station.reconnect(failed)
            except Exception as again:  # the next try must still come
                log.warning("reconnecting for the safe state failed: %s", _one_line(again),
                            exc_info=True)
        else:
            return True, reason
    raise AssertionError("unreachable")


#: How the context QCoDeS appends to an error's ``args`` begins ("getting node_a_mw_power").
_QCODES_CONTEXT = ("getting ", "setting ", "asking ", "writing ")


def _one_line(error: BaseException) -> str:
    """An error in one line, with the instrument QCoDeS's context names (from ``args``).

    A `LabctlError` says it all itself; any other error gives its own message
    (its first argument, or for an OS or decoding error its attribute-built
    text), then the context QCoDeS appended, which names the instrument.
    """
    if isinstance(error, LabctlError):
        text = str(error)
    else:
        args, own = error.args, len(error.args)
        while own and isinstance(args[own - 1], str) and args[own - 1].startswith(_QCODES_CONTEXT):
            own -= 1
        if isinstance(error, UnicodeDecodeError | UnicodeEncodeError) or (
                isinstance(error, OSError) and error.strerror):
            message = str(error)     # built from attributes, not from args
        else:
            message = str(args[0]) if own else ""
        kind = "" if isinstance(error, VisaIOError) else f"{type(error).__name__}: "
        text = f"{kind}{message}" if message else type(error).__name__
        if own < len(args):
            text += f" ({'; '.join(str(a) for a in args[own:])})"
    return " ".join(text.split())
