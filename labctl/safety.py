"""Station safety limits: narrowing a driver's validators, never widening them.

QCoDeS's own station key ``limits`` *replaces* a parameter's validator; a lab
limit such as "at most 5 mW of laser power" must instead *narrow* it, so an
instrument's own range always still applies. `narrow_to_limits` adds a second
validator and refuses limits that leave no allowed value.
"""

from __future__ import annotations

import math

from qcodes import validators as vals
from qcodes.parameters import ParameterBase

from labctl.errors import SafetyLimitError


def numeric_range(parameter: ParameterBase) -> tuple[float, float]:
    """The [min, max] every validator of a numeric parameter allows together."""
    lower, upper = -math.inf, math.inf
    numeric = False
    for validator in parameter.validators:
        if isinstance(validator, vals.Numbers | vals.Ints):
            numeric = True
            lower = max(lower, float(validator.valid_values[0]))
            upper = min(upper, float(validator.valid_values[1]))
    if not numeric:
        raise SafetyLimitError(f"parameter '{parameter.full_name}' is not numeric; "
                               "a safety limit needs a number range")
    return lower, upper


def narrow_to_limits(parameter: ParameterBase, lower: float | None,
                     upper: float | None) -> tuple[float, float]:
    """Add a validator so ``parameter`` only accepts values within [lower, upper].

    Returns the resulting allowed range. Raises `SafetyLimitError` if the
    parameter is not numeric or the limits leave nothing of its own range.
    """
    own_lower, own_upper = numeric_range(parameter)
    new_lower = own_lower if lower is None else max(own_lower, lower)
    new_upper = own_upper if upper is None else min(own_upper, upper)
    if new_lower > new_upper:
        raise SafetyLimitError(
            f"limits [{lower}, {upper}] leave no value of '{parameter.full_name}' "
            f"allowed (instrument range [{own_lower}, {own_upper}])")
    parameter.add_validator(vals.Numbers(new_lower, new_upper))
    return new_lower, new_upper
