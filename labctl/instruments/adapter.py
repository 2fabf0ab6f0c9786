"""The base of adapters: a capability provided by wrapping one instrument (or its proxy)."""

from __future__ import annotations

from typing import Generic, TypeVar

InstrumentT = TypeVar("InstrumentT")


class Adapter(Generic[InstrumentT]):
    """Provides a capability (`labctl.instruments`) by calling ``instrument``'s own API.

    Subclasses live with their driver (``drivers/<model>.py``); the station
    builds them as ``Adapter(instrument)`` (`labctl.instruments.roles`).
    """

    def __init__(self, instrument: InstrumentT) -> None:
        self.instrument = instrument

    def __repr__(self) -> str:
        name = getattr(self.instrument, "name", type(self.instrument).__name__)
        return f"{type(self).__name__}({name})"
