"""The Tektronix AWG5014C ``INTeger`` waveform format: 14-bit samples with two markers.

Each sample is one little-endian ``uint16``: bits 0-13 the DAC code
``round(8191 * a + 8191)`` of the analog value ``a`` in [-1, 1] (fraction of
the half amplitude around the offset), bit 14 marker 1, bit 15 marker 2.
The driver encodes with it, the virtual lab's AWG emulator decodes with it.
Vectorised: no loop per sample.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Resolution of the AWG5014C DAC, bits.
DAC_BITS = 14
#: DAC code of the analog value 0 (mid-scale).
CODE_ZERO = 0x1FFF
#: Codes per unit analog value: -1 -> 0, +1 -> 2 * CODE_ZERO = 16382.
CODE_HALF_RANGE = 0x1FFF
#: Bits 0-13 of a sample hold the DAC code.
SAMPLE_MASK = (1 << DAC_BITS) - 1
#: Bit 14 of a sample is marker 1.
MARKER1_BIT = 1 << 14
#: Bit 15 of a sample is marker 2.
MARKER2_BIT = 1 << 15

def _as_analog(analog: ArrayLike) -> NDArray[np.float64]:
    """Validate analog samples: 1-D, real, finite, within [-1, 1]."""
    samples = np.asarray(analog)
    if samples.ndim != 1:
        raise ValueError(f"analog must be one-dimensional, got shape {samples.shape}")
    if samples.size == 0:
        raise ValueError("analog is empty")
    if samples.dtype.kind not in "iuf":
        raise ValueError(f"analog must hold real numbers, got dtype {samples.dtype}")
    samples = samples.astype(np.float64)
    bad = ~np.isfinite(samples)
    if bad.any():
        raise ValueError(f"analog contains NaN or infinite values "
                         f"(first at index {int(np.argmax(bad))})")
    outside = np.abs(samples) > 1.0
    if outside.any():
        raise ValueError(f"analog values must lie in [-1, 1]; found {samples.min():g} .. "
                         f"{samples.max():g} (first outside at index {int(np.argmax(outside))})")
    return samples


def _as_marker(marker: ArrayLike, label: str, n_points: int) -> NDArray[np.bool_]:
    """Validate one marker: 1-D, as long as the analog samples, only 0/1."""
    values = np.asarray(marker)
    if values.ndim != 1:
        raise ValueError(f"{label} must be one-dimensional, got shape {values.shape}")
    if values.size != n_points:
        raise ValueError(f"{label} has {values.size} points but analog has {n_points}")
    if values.dtype.kind == "b":
        return values
    if values.dtype.kind not in "iuf" or not np.isin(values, (0, 1)).all():
        raise ValueError(f"{label} must hold booleans (or 0/1)")
    return values.astype(bool)


def encode_waveform(analog: ArrayLike, marker1: ArrayLike,
                    marker2: ArrayLike) -> NDArray[np.uint16]:
    """Pack analog samples in [-1, 1] and two markers into AWG5014C ``INTeger`` words.

    Each word: bits 0-13 = ``round(8191 * analog + 8191)``, bit 14 = marker 1,
    bit 15 = marker 2. Send the words little-endian. Raises `ValueError` naming
    the problem for NaN/inf, values outside [-1, 1], non-boolean markers or
    markers whose length differs from the analog samples.
    """
    samples = _as_analog(analog)
    m1 = _as_marker(marker1, "marker1", samples.size)
    m2 = _as_marker(marker2, "marker2", samples.size)
    codes = np.rint(samples * CODE_HALF_RANGE + CODE_ZERO).astype(np.uint16)
    codes |= m1.astype(np.uint16) << np.uint16(14)
    codes |= m2.astype(np.uint16) << np.uint16(15)
    return codes


def decode_waveform(words: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_],
                                                NDArray[np.bool_]]:
    """Unpack ``INTeger`` words into (analog, marker1, marker2); inverse of `encode_waveform`.

    The analog value of a code is ``(code - 8191) / 8191``; the code 16383,
    which `encode_waveform` never produces, decodes to 8192/8191.
    """
    values = np.asarray(words)
    if values.ndim != 1:
        raise ValueError(f"words must be one-dimensional, got shape {values.shape}")
    if values.dtype.kind not in "iu":
        raise ValueError(f"words must be integers, got dtype {values.dtype}")
    if values.size and (values.min() < 0 or values.max() > 0xFFFF):
        raise ValueError("words must lie in 0 .. 65535 (uint16)")
    codes = values.astype(np.uint16)
    analog = ((codes & SAMPLE_MASK).astype(np.float64) - CODE_ZERO) / CODE_HALF_RANGE
    return analog, (codes & MARKER1_BIT) != 0, (codes & MARKER2_BIT) != 0
