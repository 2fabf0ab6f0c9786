"""The time-tag wire format: one little-endian uint64 word per tag.

Bits 63..58 hold the channel (1..63; 0 is not a channel), bits 57..0 the
timestamp in ps since the acquisition started (about 80 h). A block of tags
is the concatenation of the words, e.g. the payload of the IEEE-488.2 block
the time controller answers ``RAW:DATA?`` with (see ``drivers/idq_id1000.py``).
Histogram bins travel as little-endian uint64 counts. Vectorised: no loop
per tag.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Bits of a tag word holding the channel number (bits 63..58).
CHANNEL_BITS = 6
#: Bits of a tag word holding the timestamp in ps (bits 57..0).
TIMESTAMP_BITS = 58
#: Largest channel number a tag word can carry (0 is not a channel).
MAX_CHANNEL = (1 << CHANNEL_BITS) - 1
#: Largest timestamp a tag word can carry, ps (about 80 h).
MAX_TIMESTAMP_PS = (1 << TIMESTAMP_BITS) - 1
#: numpy dtype of one tag word on the wire (little-endian uint64).
TAG_DTYPE = np.dtype("<u8")
#: numpy dtype of one histogram bin on the wire (little-endian uint64).
HISTOGRAM_DTYPE = np.dtype("<u8")

_TIMESTAMP_MASK = np.uint64(MAX_TIMESTAMP_PS)
_SHIFT = np.uint64(TIMESTAMP_BITS)


def _integer_array(values: ArrayLike, what: str, low: int, high: int) -> NDArray[np.integer]:
    """``values`` as an integer array, every element within ``low..high``."""
    array = np.asarray(values)
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got dtype {array.dtype}")
    if array.min() < low or array.max() > high:
        raise ValueError(f"{what} must lie within {low}..{high}, "
                         f"got {array.min()}..{array.max()}")
    return array


def encode_timetags(channels: ArrayLike, timestamps_ps: ArrayLike) -> NDArray[np.uint64]:
    """Pack channels (1..63) and timestamps (0..2**58-1 ps) into little-endian uint64 words.

    Raises `ValueError` for values out of range or arrays of different shapes,
    `TypeError` for non-integer input. ``.tobytes()`` of the result is a block payload.
    """
    channel_array = _integer_array(channels, "channels", 1, MAX_CHANNEL)
    time_array = _integer_array(timestamps_ps, "timestamps_ps", 0, MAX_TIMESTAMP_PS)
    if channel_array.shape != time_array.shape:
        raise ValueError(f"channels {channel_array.shape} and timestamps_ps "
                         f"{time_array.shape} differ in shape")
    words = (channel_array.astype(np.uint64) << _SHIFT) | time_array.astype(np.uint64)
    return words.astype(TAG_DTYPE)


def decode_timetags(words: ArrayLike) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Split tag words into ``(channels: uint8, timestamps_ps: int64)``.

    ``words`` are the uint64 values of a block (``np.frombuffer(payload, "<u8")``).
    Raises `ValueError` for a word whose channel is 0 or a negative value,
    `TypeError` for non-integer input.
    """
    array = np.asarray(words)
    if array.size and array.dtype.kind == "i" and array.min() < 0:
        raise ValueError(f"tag words are unsigned, got {array.min()}")
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"tag words must be integers, got dtype {array.dtype}")
    unsigned = array.astype(np.uint64)
    channels = (unsigned >> _SHIFT).astype(np.uint8)
    if channels.size and channels.min() == 0:
        first = int(np.flatnonzero(channels.ravel() == 0)[0])
        raise ValueError(f"tag {first} carries channel 0, which is not a channel")
    timestamps = (unsigned & _TIMESTAMP_MASK).astype(np.int64)
    return channels, timestamps
