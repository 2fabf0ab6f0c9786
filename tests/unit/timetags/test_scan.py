"""The stream-scanning helpers against plain numpy on many shapes of stream."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.timetags import _scan
from labctl.timetags._scan import (
    ChannelIndex,
    check_sorted_at,
    check_sorted_sample,
    positions_in,
    positions_not_equal,
    search_right,
    search_sorted,
    times_on,
)


def stream(rng, n, share, dtype=np.uint8):
    ch = np.where(rng.random(n) < share, 1, rng.integers(2, 6, n)).astype(dtype)
    return ch, np.sort(rng.integers(0, 10 * n + 1, n))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 63, 64, 65, 1001, 70_001])
@pytest.mark.parametrize("share", [0.0, 0.5, 0.999, 1.0])
def test_positions_match_flatnonzero(n, share, monkeypatch):
    monkeypatch.setattr(_scan, "BLOCK", 128)  # many blocks, dense and sparse ones
    rng = np.random.default_rng(n)
    ch, _ = stream(rng, n, share)
    assert positions_not_equal(ch, 1).tolist() == np.flatnonzero(ch != 1).tolist()
    assert positions_in(ch, (2, 3)).tolist() == np.flatnonzero((ch == 2) | (ch == 3)).tolist()
    assert positions_in(ch, (1,)).tolist() == np.flatnonzero(ch == 1).tolist()


def test_positions_of_other_dtypes_and_unaligned_views():
    rng = np.random.default_rng(1)
    ch, _ = stream(rng, 5000, 0.9, dtype=np.int64)
    assert positions_not_equal(ch, 1).tolist() == np.flatnonzero(ch != 1).tolist()
    small = ch.astype(np.uint8)[3:]  # a view not starting on an 8-byte boundary
    assert positions_not_equal(small, 1).tolist() == np.flatnonzero(small != 1).tolist()
    strided = ch.astype(np.uint8)[::2]
    assert positions_not_equal(strided, 1).tolist() == np.flatnonzero(strided != 1).tolist()


@pytest.mark.parametrize("share", [0.1, 0.9])
def test_channel_index_answers_like_a_cumulative_count(share):
    rng = np.random.default_rng(2)
    ch, _ = stream(rng, 3000, share)
    index = ChannelIndex(ch, 1)
    assert (index.others is not None) == (share > 0.5)
    own = np.flatnonzero(ch == 1)
    assert index.count == len(own)
    positions = np.arange(len(ch) + 1)
    before = np.concatenate([[0], np.cumsum(ch == 1)])
    assert index.count_before(positions).tolist() == before.tolist()
    assert index.position(np.arange(len(own))).tolist() == own.tolist()


def test_search_right_with_any_hints_matches_searchsorted():
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 500, 2000))  # many ties
    keys = rng.integers(-10, 510, 3000)
    expected = np.searchsorted(t, keys, side="right").tolist()
    for hints in (None, np.zeros(3000, np.int64), np.full(3000, 2000),
                  rng.integers(-5, 2005, 3000), np.searchsorted(t, keys)):
        assert search_right(t, keys, hints).tolist() == expected


def test_check_sorted_at_looks_at_both_neighbours():
    t = np.array([0, 10, 5, 20, 30])
    check_sorted_at(t, np.array([0, 3, 4]), "t")
    with pytest.raises(ValueError, match="t must be sorted"):
        check_sorted_at(t, np.array([2]), "t")  # 10 before 5
    with pytest.raises(ValueError, match="t must be sorted"):
        check_sorted_at(t, np.array([1]), "t")  # 5 after 10


def test_sampled_check_finds_blocks_in_the_wrong_order():
    t = np.arange(100_000)
    check_sorted_sample(t, "t")
    with pytest.raises(ValueError, match="t must be sorted"):
        check_sorted_sample(np.concatenate([t[50_000:], t[:50_000]]), "t")


@pytest.mark.parametrize("side", ["left", "right"])
def test_blocked_search_matches_searchsorted(side, monkeypatch):
    monkeypatch.setattr(_scan, "KEY_BLOCK", 16)
    rng = np.random.default_rng(4)
    values = np.sort(rng.integers(0, 1000, 5000))
    keys = np.sort(rng.integers(-50, 1050, 700))
    assert search_sorted(values, keys, side).tolist() == \
        np.searchsorted(values, keys, side=side).tolist()


@pytest.mark.parametrize("share", [0.0, 0.95])
def test_times_on_sparse_and_dense(share):
    rng = np.random.default_rng(5)
    ch, t = stream(rng, 10_000, share)
    got = times_on(ch, t, (2, 4))
    assert got[0].tolist() == t[ch == 2].tolist() and got[1].tolist() == t[ch == 4].tolist()
