"""Block-by-block herald extraction gives exactly the one-shot result, whatever the blocks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labctl.timetags.heralds import (
    BarrettKokHeralds,
    BarrettKokStream,
    Heralds,
    HeraldStream,
    extract_barrett_kok_heralds,
    extract_heralds,
    stream_barrett_kok_heralds,
    stream_heralds,
)
from tests.unit.timetags.streams import D0, D1, OTHER, SYNC, attempt_stream, random_stream


def blocks_at(ch, t, cuts):
    edges = [0, *sorted(cuts), len(t)]
    return [(ch[a:b], t[a:b]) for a, b in itertools.pairwise(edges)]


def assert_same(streamed, whole):
    for field in ("sync_ps", "attempts", "clicks_in_windows"):
        np.testing.assert_array_equal(getattr(streamed, field), getattr(whole, field))
    if isinstance(whole, Heralds):
        np.testing.assert_array_equal(streamed.detector, whole.detector)
        np.testing.assert_array_equal(streamed.delay_ps, whole.delay_ps)
    else:
        np.testing.assert_array_equal(streamed.detectors, whole.detectors)
        np.testing.assert_array_equal(streamed.delays_ps, whole.delays_ps)


def test_random_blocks_of_random_streams_match_one_shot():
    rng = np.random.default_rng(21)
    for _ in range(200):
        ch, t = random_stream(rng, int(rng.integers(0, 80)), float(rng.uniform(0.2, 0.8)))
        window, offset = int(rng.integers(1, 30)), int(rng.integers(-15, 25))
        cuts = rng.integers(0, len(t) + 1, int(rng.integers(0, 8)))  # repeats: empty blocks
        whole = extract_heralds(ch, t, SYNC, (D0, D1), window, offset)
        parts = list(stream_heralds(blocks_at(ch, t, cuts), SYNC, (D0, D1), window, offset))
        assert len(parts) == len(cuts) + 2
        assert_same(Heralds.concatenate(parts), whole)


def test_random_blocks_match_one_shot_for_barrett_kok():
    rng = np.random.default_rng(22)
    for _ in range(200):
        ch, t = random_stream(rng, int(rng.integers(0, 80)), float(rng.uniform(0.2, 0.8)))
        window = int(rng.integers(1, 15))
        first = int(rng.integers(-10, 10))
        offsets = (first, first + window + int(rng.integers(1, 20)))
        cuts = rng.integers(0, len(t) + 1, int(rng.integers(0, 8)))
        whole = extract_barrett_kok_heralds(ch, t, SYNC, (D0, D1), window, offsets)
        parts = stream_barrett_kok_heralds(blocks_at(ch, t, cuts), SYNC, (D0, D1), window,
                                           offsets)
        assert_same(BarrettKokHeralds.concatenate(parts), whole)


def test_every_tag_in_its_own_block():
    rng = np.random.default_rng(23)
    ch, t = attempt_stream(rng, 200, period=100, offsets=[10, 50], window=20,
                           click_rate=0.5, dark=10)
    cuts = range(1, len(t))
    assert_same(Heralds.concatenate(stream_heralds(blocks_at(ch, t, cuts), SYNC, (D0, D1),
                                                   20, 10)),
                extract_heralds(ch, t, SYNC, (D0, D1), 20, 10))
    assert_same(BarrettKokHeralds.concatenate(stream_barrett_kok_heralds(
        blocks_at(ch, t, cuts), SYNC, (D0, D1), 20, (10, 50))),
        extract_barrett_kok_heralds(ch, t, SYNC, (D0, D1), 20, (10, 50)))


def test_a_sync_ending_a_block_heralds_with_its_click_in_the_next():
    stream = HeraldStream(SYNC, (D0, D1), window_ps=10, offset_ps=5)
    first = stream.feed(np.array([SYNC, SYNC]), np.array([0, 100]))
    assert (first.count, first.attempts) == (0, 1)  # the sync at 0 is final, 100 is open
    second = stream.feed(np.array([D1, SYNC]), np.array([107, 200]))
    assert second.sync_ps.tolist() == [100] and second.delay_ps.tolist() == [7]
    assert second.attempts == 1
    last = stream.finish()
    assert (last.count, last.attempts) == (0, 1)


def test_barrett_kok_rounds_split_over_three_blocks():
    stream = BarrettKokStream(SYNC, (D0, D1), window_ps=10, offsets_ps=(10, 50))
    parts = [stream.feed(np.array([SYNC]), np.array([0])),
             stream.feed(np.array([D0]), np.array([15])),
             stream.feed(np.array([D1]), np.array([55])),
             stream.finish()]
    joined = BarrettKokHeralds.concatenate(parts)
    assert joined.sync_ps.tolist() == [0]
    assert joined.detectors.tolist() == [[0, 1]] and joined.delays_ps.tolist() == [[15, 55]]
    assert joined.attempts == 1


@pytest.mark.parametrize("block", [1, 7, 64, 1000, 4096])
def test_long_stream_in_fixed_blocks_matches_one_shot(block):
    rng = np.random.default_rng(24)
    ch, t = attempt_stream(rng, 3000, period=1000, offsets=[100, 600], window=50,
                           click_rate=0.2, dark=50)
    blocks = [(ch[i:i + block], t[i:i + block]) for i in range(0, len(t), block)]
    assert_same(Heralds.concatenate(stream_heralds(blocks, SYNC, (D0, D1), 50, 100)),
                extract_heralds(ch, t, SYNC, (D0, D1), 50, 100))
    assert_same(BarrettKokHeralds.concatenate(stream_barrett_kok_heralds(
        blocks, SYNC, (D0, D1), 50, (100, 600))),
        extract_barrett_kok_heralds(ch, t, SYNC, (D0, D1), 50, (100, 600)))


def test_windows_longer_than_blocks_and_negative_offsets():
    rng = np.random.default_rng(25)
    ch, t = attempt_stream(rng, 500, period=100, offsets=[-30], window=250,
                           click_rate=0.3, dark=30)
    blocks = [(ch[i:i + 5], t[i:i + 5]) for i in range(0, len(t), 5)]
    assert_same(Heralds.concatenate(stream_heralds(blocks, SYNC, (D0, D1), 250, -30)),
                extract_heralds(ch, t, SYNC, (D0, D1), 250, -30))


def test_blocks_out_of_order_are_refused():
    stream = HeraldStream(SYNC, (D0, D1), window_ps=10)
    stream.feed(np.array([SYNC, SYNC]), np.array([0, 100]))
    with pytest.raises(ValueError, match="sorted across blocks"):
        stream.feed(np.array([SYNC]), np.array([50]))


def test_a_finished_stream_takes_no_more_blocks():
    stream = HeraldStream(SYNC, (D0, D1), window_ps=10)
    stream.feed(np.array([SYNC]), np.array([0]))
    stream.finish()
    with pytest.raises(ValueError, match="finished"):
        stream.feed(np.array([SYNC]), np.array([10]))
    with pytest.raises(ValueError, match="finished"):
        stream.finish()


def test_stream_parameters_are_checked_up_front():
    with pytest.raises(ValueError, match="window_ps must be positive"):
        HeraldStream(SYNC, (D0, D1), window_ps=0)
    with pytest.raises(ValueError, match="rounds overlap"):
        BarrettKokStream(SYNC, (D0, D1), window_ps=10, offsets_ps=(0, 5))


def test_a_click_ending_a_block_waits_for_a_sync_at_the_same_time_in_the_next():
    ch, t = np.array([SYNC, D0, SYNC]), np.array([0, 50, 50])
    whole = extract_heralds(ch, t, SYNC, (D0, D1), 10)
    assert whole.sync_ps.tolist() == [50] and whole.delay_ps.tolist() == [0]
    assert_same(Heralds.concatenate(stream_heralds(blocks_at(ch, t, [2]), SYNC, (D0, D1), 10)),
                whole)


def test_an_attempt_stays_open_while_a_click_could_still_land_on_its_window_edge():
    # window [0, 10]; the first block ends at 10, the click at 10 comes in the next block
    ch, t = np.array([SYNC, OTHER, D0]), np.array([0, 10, 10])
    stream = HeraldStream(SYNC, (D0, D1), window_ps=10)
    assert stream.feed(ch[:2], t[:2]).attempts == 0
    assert stream.feed(ch[2:], t[2:]).attempts == 0  # another click at 10 may still come
    last = stream.finish()
    assert (last.sync_ps.tolist(), last.attempts) == ([0], 1)
