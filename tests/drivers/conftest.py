"""Fixtures that open drivers on their pyvisa-sim twins (sim_instruments/visa/)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from qcodes.instrument import VisaInstrument

T = TypeVar("T", bound=VisaInstrument)

_serial = itertools.count()


@pytest.fixture
def open_twin() -> Iterator[Callable[..., Any]]:
    """Open ``cls`` on its pyvisa-sim twin ``<yaml>``; closed after the test.

    pyvisa caches one simulated library per process, so a twin keeps the
    state earlier tests left in it: tests set what they read back.
    """
    opened: list[VisaInstrument] = []

    def _open(cls: type[T], yaml_name: str, address: str = "GPIB::1::INSTR",
              **kwargs: Any) -> T:
        instrument = cls(f"{cls.__name__.lower()}_{next(_serial)}", address,
                         pyvisa_sim_file=f"sim_instruments.visa:{yaml_name}", **kwargs)
        opened.append(instrument)
        return instrument

    yield _open
    for instrument in opened:
        instrument.close()


@pytest.fixture
def command_log(monkeypatch: pytest.MonkeyPatch) -> Callable[[VisaInstrument], list[str]]:
    """Attach a log of every command string an instrument writes or queries, in order."""

    def _attach(instrument: VisaInstrument) -> list[str]:
        commands: list[str] = []
        write_raw, ask_raw = instrument.write_raw, instrument.ask_raw

        def record_write(cmd: str) -> None:
            commands.append(cmd)
            write_raw(cmd)

        def record_ask(cmd: str) -> str:
            commands.append(cmd)
            return ask_raw(cmd)

        monkeypatch.setattr(instrument, "write_raw", record_write)
        monkeypatch.setattr(instrument, "ask_raw", record_ask)
        return commands

    return _attach
