"""Argument checks for physics parameters: each refusal is a `ValueError` naming the parameter."""

from __future__ import annotations

import math


def finite(name: str, value: float) -> float:
    """``value`` as a float, refusing NaN and infinities."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def probability(name: str, value: float) -> float:
    """A number within [0, 1] (efficiencies, populations, fidelities, visibilities)."""
    number = finite(name, value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value!r}")
    return number


def non_negative(name: str, value: float) -> float:
    """A finite number >= 0 (lengths, rates, times, noise widths)."""
    number = finite(name, value)
    if number < 0.0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


def positive(name: str, value: float) -> float:
    """A finite number > 0 (lifetimes, durations, widths)."""
    number = finite(name, value)
    if number <= 0.0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return number


def within(name: str, value: float, lower: float, upper: float) -> float:
    """A finite number within [lower, upper]."""
    number = finite(name, value)
    if not lower <= number <= upper:
        raise ValueError(f"{name} must be within [{lower}, {upper}], got {value!r}")
    return number
