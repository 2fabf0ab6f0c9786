"""Counting the steps of another project's driver against an emulator.

A step is ``(name, call)``: it fails when ``call`` raises or returns ``False``.
`run_steps` runs them all, prints ``<driver>: passed/total steps passed`` and
the failures (pytest shows them with ``-s`` or on failure), and returns the
failures; `raises` makes a step of a refusal the unit must give.
"""

from __future__ import annotations

from collections.abc import Callable

Step = tuple[str, Callable[[], object]]


def run_steps(driver: str, steps: list[Step]) -> list[str]:
    """Run every step (``False`` or an exception fails it); print and return the failures."""
    failures = []
    for name, step in steps:
        try:
            result = step()
        except Exception as error:  # noqa: BLE001 (any failure is a counted step)
            failures.append(f"{name}: {type(error).__name__}: {error}")
            continue
        if result is False:
            failures.append(f"{name}: wrong result")
    print(f"{driver}: {len(steps) - len(failures)}/{len(steps)} steps passed")
    for failure in failures:
        print(f"  FAILED {failure}")
    return failures


def raises(error: type[BaseException], call: Callable[[], object],
           text: str = "") -> Callable[[], bool]:
    """A step that passes when ``call`` raises ``error`` (its message containing ``text``)."""
    def step() -> bool:
        try:
            call()
        except error as raised:
            return text in str(raised)
        return False
    return step
