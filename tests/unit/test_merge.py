"""Merging per-channel tags: the same stream a stable sort gives, without the sort."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labctl.timetags.merge import MAX_TIMESTAMP, merge_channels, merge_time_ordered


def test_channels_merge_in_time_order():
    channels, times = merge_channels({2: np.array([5, 9], dtype=np.uint64),
                                      1: np.array([1, 5, 20], dtype=np.uint64)})
    np.testing.assert_array_equal(times, [1, 5, 5, 9, 20])
    np.testing.assert_array_equal(channels, [1, 1, 2, 2, 1])


@given(st.dictionaries(st.integers(1, 8),
                       st.lists(st.integers(0, 60), max_size=40).map(sorted), max_size=5),
       st.booleans())
def test_merging_equals_a_stable_sort_of_the_channels_in_order(streams, shuffle_one):
    arrays = {c: np.asarray(t, dtype=np.uint64) for c, t in streams.items()}
    if shuffle_one and arrays:   # a stream out of time order takes the sorting path
        first = min(arrays)
        arrays[first] = arrays[first][::-1].copy()
    order = sorted(arrays)
    times = np.concatenate([arrays[c].astype(np.int64) for c in order] or [np.zeros(0, int)])
    channels = np.repeat(np.asarray(order, dtype=np.uint8), [arrays[c].size for c in order])
    index = np.argsort(times, kind="stable")
    merged_channels, merged_times = merge_channels(arrays)
    np.testing.assert_array_equal(merged_times, times[index])
    np.testing.assert_array_equal(merged_channels, channels[index])
    assert merged_channels.dtype == np.uint8 and merged_times.dtype == np.int64


@given(st.dictionaries(st.integers(0, 6),
                       st.lists(st.floats(0, 5, allow_nan=False), max_size=30).map(sorted),
                       max_size=4))
def test_float_times_merge_like_a_stable_sort(streams):
    arrays = {c: np.asarray(t, dtype=np.float64) for c, t in streams.items()}
    order = sorted(arrays)
    times = np.concatenate([arrays[c] for c in order] or [np.zeros(0)])
    labels = np.repeat(np.asarray(order, dtype=np.uint8), [arrays[c].size for c in order])
    index = np.argsort(times, kind="stable")
    channels, merged = merge_time_ordered(arrays)
    np.testing.assert_array_equal(merged, times[index])
    np.testing.assert_array_equal(channels, labels[index])


def test_a_channel_or_timestamp_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"within 1\.\.255"):
        merge_channels({0: np.array([1], dtype=np.uint64)})
    with pytest.raises(ValueError, match="exceeds"):
        merge_channels({1: np.array([MAX_TIMESTAMP + 1], dtype=np.uint64)})
