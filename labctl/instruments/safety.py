"""The safe-state capability: an instrument that controls something hazardous."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class SafeState(Protocol):
    """Can put what it controls in a safe state (emission off, bias down, outputs off)."""

    def safe_state(self) -> None:
        """Go to the safe state and raise if it could not be reached."""
