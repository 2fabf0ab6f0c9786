"""The ID1000's wire formats: time-tag stream frames and the histogram text list.

Time tags (IDQ's DataLink Target service, ``start-stream``): each zmq frame
on a channel's stream socket is a run of **little-endian uint64** timestamps
in time bins (``DEVI:RES:BWID?``, 1 ps in the ID1000's high-resolution
mode) since the start of the acquisition (with ``RAW<n>:REF:LINK NONE``);
with ``--with-ref-index`` each tag is a pair (timestamp, reference index) of
two uint64. The same bytes make a ``start-save --format bin`` file. A frame
carries one channel only, so the channel is not in the word. An empty frame
ends the stream (the end IDQ's example stream client recognises).

Merging the channels' streams into one is vendor-neutral
(`labctl.timetags.merge.merge_channels`).

Histograms: ``HIST<n>:DATA?`` answers a text list of bin counts that Python
literal-evaluates to a list of ints (``[0, 12, 3]``).

Vectorised: no loop per tag.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: numpy dtype of one timestamp on the wire (little-endian uint64).
TIMESTAMP_DTYPE = np.dtype("<u8")
#: numpy dtype of one tag with its reference index (``--with-ref-index``).
REF_INDEXED_DTYPE = np.dtype([("timestamp", "<u8"), ("ref_index", "<u8")])


def encode_stream(timestamps: ArrayLike, ref_index: ArrayLike | None = None) -> bytes:
    """The bytes of a stream frame: uint64 timestamps, or (timestamp, ref index) pairs.

    Raises `ValueError` for negative values or arrays of different lengths,
    `TypeError` for non-integer input.
    """
    times = _unsigned(timestamps, "timestamps")
    if ref_index is None:
        return times.astype(TIMESTAMP_DTYPE).tobytes()
    refs = _unsigned(ref_index, "ref_index")
    if refs.shape != times.shape:
        raise ValueError(f"timestamps {times.shape} and ref_index {refs.shape} differ in shape")
    pairs = np.empty(times.size, dtype=REF_INDEXED_DTYPE)
    pairs["timestamp"], pairs["ref_index"] = times, refs
    return pairs.tobytes()


def decode_stream(payload: bytes, with_ref_index: bool = False
                  ) -> tuple[NDArray[np.uint64], NDArray[np.uint64] | None]:
    """``(timestamps, ref_index or None)`` of a frame; `ValueError` for a torn frame."""
    dtype = REF_INDEXED_DTYPE if with_ref_index else TIMESTAMP_DTYPE
    if len(payload) % dtype.itemsize:
        raise ValueError(f"a stream frame of {len(payload)} bytes is not a whole number "
                         f"of {dtype.itemsize}-byte tags")
    words: NDArray[Any] = np.frombuffer(payload, dtype=dtype)
    if with_ref_index:
        return (np.asarray(words["timestamp"], dtype=np.uint64),
                np.asarray(words["ref_index"], dtype=np.uint64))
    return np.asarray(words, dtype=np.uint64), None


def format_histogram(counts: ArrayLike) -> str:
    """The ``HIST<n>:DATA?`` reply for ``counts``: ``[c0, c1, ...]``."""
    values = _unsigned(counts, "histogram counts")
    return "[" + ", ".join(map(str, values.tolist())) + "]"


def parse_histogram(text: str) -> NDArray[np.int64]:
    """The bin counts of a ``HIST<n>:DATA?`` reply; `ValueError` if it is not a list of ints."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"histogram reply is not a list: {text[:40]!r}") from None
    if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"histogram reply is not a list of counts: {text[:40]!r}")
    return np.asarray(value, dtype=np.int64)


def _unsigned(values: ArrayLike, what: str) -> NDArray[np.integer]:
    array = np.asarray(values)
    if array.size == 0:
        return array.astype(np.uint64).ravel()
    if array.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got dtype {array.dtype}")
    if array.dtype.kind == "i" and array.min() < 0:
        raise ValueError(f"{what} must not be negative, got {array.min()}")
    return array.ravel()
