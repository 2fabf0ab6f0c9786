"""Numbers for people: ``0.812 ± 0.014``, ``(8.999981 ± 0.000038)×10⁻⁶``, units from key names.

The uncertainty keeps two significant digits and the value is rounded to the
same decimal place. Magnitudes between 10⁻³ and 10⁵ are written plainly,
others with a power of ten shared by value and uncertainty. Everything here
returns plain text; the HTML modules escape it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: A missing or non-finite number.
MISSING = "—"

#: Unit suffixes of value names (labctl names carry units where not SI: ``delay_ps``).
UNIT_SUFFIXES: Mapping[str, str] = {
    "hz": "Hz", "khz": "kHz", "mhz": "MHz", "ghz": "GHz",
    "s": "s", "ms": "ms", "us": "µs", "ns": "ns", "ps": "ps",
    "nm": "nm", "km": "km", "a": "A", "w": "W", "v": "V", "c": "°C",
    "db": "dB", "dbm": "dBm",
}

#: Units written with an SI prefix (``ns``, ``GHz``, ``µA``) instead of a power of ten.
PREFIXABLE_UNITS = frozenset({"s", "Hz", "A", "W", "V"})
_PREFIXES: Mapping[int, str] = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "",
                                3: "k", 6: "M", 9: "G", 12: "T"}
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
#: Decimal exponents written without a power of ten: 10⁻³ <= |x| < 10⁵.
_PLAIN_EXPONENTS = range(-3, 5)


def unit_of(key: str) -> str:
    """The unit a value name announces by its suffix (``herald_rate_hz`` → ``Hz``), or ''."""
    stem, separator, suffix = key.rpartition("_")
    if not separator or not stem:
        return ""
    return UNIT_SUFFIXES.get(suffix.lower(), "")


def as_number(value: Any) -> float | int | None:
    """``value`` as a Python int or float if it is a real number (not a bool), else None."""
    if hasattr(value, "item") and not isinstance(value, int | float):
        value = value.item()          # numpy scalars
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def format_number(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; integers in full; '—' if missing."""
    number = as_number(value)
    if number is None:
        return MISSING if value is None else str(value)
    if isinstance(number, int):
        return str(number)
    if not math.isfinite(number):
        return MISSING if math.isnan(number) else ("∞" if number > 0 else "−∞")
    if number == 0:
        return "0"
    exponent = _exponent(number)
    if exponent in _PLAIN_EXPONENTS:
        return f"{number:.{digits}g}"
    mantissa = f"{number / 10.0 ** exponent:.{digits}g}"
    if mantissa.startswith(("10", "-10")):  # rounding carried into the next decade
        exponent += 1
        mantissa = f"{number / 10.0 ** exponent:.{digits}g}"
    return f"{mantissa}{_times_ten(exponent)}"


def format_uncertain(value: Any, error: Any) -> str:
    """``value ± error``, the error to two significant digits and the value to match.

    Without a usable error (None, NaN, zero, negative) the value alone, as
    `format_number` writes it.
    """
    number, uncertainty = as_number(value), as_number(error)
    if number is None or not math.isfinite(number):
        return format_number(value)
    if uncertainty is None or not math.isfinite(uncertainty) or uncertainty <= 0:
        return format_number(number)
    last = _last_digit(float(uncertainty))
    magnitude = _exponent(max(abs(float(number)), float(uncertainty)))
    if magnitude in _PLAIN_EXPONENTS:
        return f"{_fixed(number, last)} ± {_fixed(uncertainty, last)}"
    scale = 10.0 ** magnitude
    shifted = last - magnitude
    return (f"({_fixed(number / scale, shifted)} ± {_fixed(uncertainty / scale, shifted)})"
            f"{_times_ten(magnitude)}")


def format_quantity(value: Any, error: Any, unit: str) -> str:
    """``value ± error unit``, with an SI prefix for the units in `PREFIXABLE_UNITS`.

    ``1.0014e-8 s ± 8.5e-12 s`` reads ``10.0144 ± 0.0085 ns``.
    """
    number, uncertainty = as_number(value), as_number(error)
    if number is None or not math.isfinite(number):
        return format_number(value)
    if unit not in PREFIXABLE_UNITS:
        return f"{format_uncertain(number, uncertainty)} {unit}".rstrip()
    usable = uncertainty if uncertainty is not None and math.isfinite(uncertainty) \
        and uncertainty > 0 else 0.0
    magnitude = max(abs(float(number)), float(usable))
    if magnitude == 0:
        return f"0 {unit}"
    power = min(max(3 * math.floor(_exponent(magnitude) / 3), min(_PREFIXES)), max(_PREFIXES))
    scale = 10.0 ** power
    scaled_error = None if uncertainty is None else uncertainty / scale
    return f"{format_uncertain(number / scale, scaled_error)} {_PREFIXES[power]}{unit}"


def format_interval(value: Any, low: Any, high: Any) -> str:
    """``value [low, high]``, all three to the precision the interval's width supports."""
    numbers = [as_number(v) for v in (value, low, high)]
    if any(n is None or not math.isfinite(n) for n in numbers):
        return f"{format_number(value)} [{format_number(low)}, {format_number(high)}]"
    centre, lower, upper = (float(n) for n in numbers)  # type: ignore[arg-type]
    half_widths = [w for w in (centre - lower, upper - centre) if w > 0]
    if not half_widths:
        return f"{format_number(centre)} [{format_number(lower)}, {format_number(upper)}]"
    last = _last_digit(min(half_widths))
    magnitude = _exponent(max(abs(centre), abs(lower), abs(upper)))
    if magnitude in _PLAIN_EXPONENTS:
        return f"{_fixed(centre, last)} [{_fixed(lower, last)}, {_fixed(upper, last)}]"
    scale, shifted = 10.0 ** magnitude, last - magnitude
    return (f"{_fixed(centre / scale, shifted)} [{_fixed(lower / scale, shifted)}, "
            f"{_fixed(upper / scale, shifted)}]{_times_ten(magnitude)}")


def format_signed(value: Any) -> str:
    """A number with an explicit sign (``+0.012``), for margins; '—' if missing."""
    number = as_number(value)
    if number is None or not math.isfinite(number):
        return format_number(value)
    text = format_number(number)
    return text if text.startswith("-") else f"+{text}"


def format_scalar(value: Any) -> str:
    """Any leaf value: numbers as `format_number`, booleans as yes/no, None as '—'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if as_number(value) is not None:
        return format_number(value)
    if value is None:
        return MISSING
    return str(value)


def _exponent(number: float) -> int:
    return math.floor(math.log10(abs(number)))


def _last_digit(uncertainty: float) -> int:
    """Decimal exponent of the last digit kept: two significant digits of ``uncertainty``."""
    last = _exponent(uncertainty) - 1
    if round(uncertainty, -last) >= 10.0 ** (last + 2):  # 0.0996 rounds up to 0.10
        last += 1
    return last


def _fixed(number: float, last: int) -> str:
    """``number`` rounded to the decimal place 10**last."""
    if last >= 0:
        return str(round(number / 10.0 ** last) * 10 ** last)
    return f"{number:.{-last}f}"


def _times_ten(exponent: int) -> str:
    return f"×10{str(exponent).translate(_SUPERSCRIPT)}"
