"""Emulator of the PPLN frequency converter: its two units, each on its own serial line.

The converter (``drivers/qfc_ppln.py``) is a BoostiK pump amplifier
(`sim_instruments.emulators.nkt_boostik`) and a TC200 oven controller
(`sim_instruments.emulators.thorlabs_tc200`); both read and write the same
world `ConverterState`, whose pump power and oven temperature set the
conversion efficiency and noise (`sim_instruments.world`). `ConverterServer`
serves each unit on its own loopback port as a serial line over TCP
(`sim_instruments.emulators.serial_line`), and says which address each
unit's driver opens (`ConverterServer.init`), the way a station file's
``init: {pump: {address: ..}, oven: {address: ..}}`` does in the lab. An
injected fault of the converter applies to both lines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim_instruments.emulators.nkt_boostik import BoostikEmulator
from sim_instruments.emulators.serial_line import SerialLineServer
from sim_instruments.emulators.thorlabs_tc200 import TC200Emulator
from sim_instruments.world_state import ConverterState, Fault, VirtualClock


@dataclass
class ConverterUnits:
    """The converter's unit emulators, sharing one `ConverterState`."""

    pump: BoostikEmulator
    oven: TC200Emulator

    @classmethod
    def of(cls, state: ConverterState, clock: VirtualClock) -> ConverterUnits:
        return cls(BoostikEmulator(state), TC200Emulator(state, clock))


class ConverterServer:
    """Both units' serial lines; ``port`` is the pump's (the converter's "address")."""

    def __init__(self, name: str, units: ConverterUnits, lock: threading.RLock,
                 fault: Callable[[], Fault | None], port: int = 0) -> None:
        self.pump = SerialLineServer(f"{name}.pump", units.pump, lock, fault, port)
        try:
            self.oven = SerialLineServer(f"{name}.oven", units.oven, lock, fault)
        except BaseException:
            self.pump.server_close()
            raise

    @property
    def port(self) -> int:
        return self.pump.port

    def init(self) -> dict[str, Any]:
        """The driver's ``init``: each unit's address."""
        return {"pump": {"address": self.pump.url}, "oven": {"address": self.oven.url}}

    def start(self) -> None:
        self.pump.start()
        self.oven.start()

    def stop(self) -> None:
        self.pump.stop()
        self.oven.stop()


def converter_server(name: str, units: Any, lock: threading.RLock,
                     fault: Callable[[], Fault | None], port: int) -> ConverterServer:
    """The virtual lab's ``server=`` hook for the converter."""
    return ConverterServer(name, units, lock, fault, port)
