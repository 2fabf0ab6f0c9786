"""Per-herald readout photon counts and outcomes against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.timetags.heralds import extract_heralds
from labctl.timetags.readout import (
    assign_readout,
    assign_readout_in_stream,
    photons_in_windows,
)
from tests.unit.timetags import reference
from tests.unit.timetags.streams import D0, D1, SYNC

READOUT = 5


@settings(max_examples=200, deadline=None)
@given(syncs=st.lists(st.integers(0, 300), max_size=20),
       photons=st.lists(st.integers(0, 400), max_size=30).map(sorted),
       start=st.integers(-20, 50), length=st.integers(1, 40), threshold=st.integers(1, 4))
def test_readout_matches_the_reference(syncs, photons, start, length, threshold):
    got = assign_readout(np.array(syncs, dtype=np.int64), np.array(photons, dtype=np.int64),
                         start, length, threshold)
    expected = reference.readout_photons(syncs, photons, start, length)
    assert got.photons.tolist() == expected
    assert got.bright.tolist() == [n >= threshold for n in expected]
    assert got.threshold == threshold


def test_window_edges_are_included():
    # sync 100, start 10, length 20: the window is [110, 130]
    got = assign_readout([100], [109, 110, 120, 130, 131], 10, 20)
    assert got.photons.tolist() == [3]
    assert photons_in_windows([110, 111, 131], [109, 110, 120, 130, 131], 20).tolist() == \
        [3, 3, 1]


def test_threshold_decides_bright():
    got = assign_readout([0, 100, 200], [5, 6, 105], 0, 50, threshold=2)
    assert got.photons.tolist() == [2, 1, 0]
    assert got.bright.tolist() == [True, False, False]
    assert got.bright_fraction == pytest.approx(1 / 3)
    assert np.isnan(assign_readout([], [1], 0, 5).bright_fraction)


def test_readout_of_heralds_from_a_stream():
    # two heralded attempts; the first is followed by two readout photons, the second by none
    ch = np.array([SYNC, D0, READOUT, READOUT, SYNC, D1, SYNC, READOUT])
    t = np.array([0, 12, 300, 350, 1000, 1015, 2000, 2300])
    heralds = extract_heralds(ch, t, SYNC, (D0, D1), 20, 5)
    assert heralds.sync_ps.tolist() == [0, 1000]
    got = assign_readout_in_stream(ch, t, heralds.sync_ps, READOUT, 200, 300)
    assert got.photons.tolist() == [2, 0]
    assert got.bright.tolist() == [True, False]


def test_heralds_in_any_order():
    got = assign_readout([200, 0, 100], [5, 105, 106], 0, 10)
    assert got.photons.tolist() == [0, 1, 2]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: assign_readout([0], [1], 0, 0), "length_ps must be positive"),
    (lambda: assign_readout([0], [1], 0, 10, threshold=0), "threshold must be"),
    (lambda: assign_readout([0], [1], 0.5, 10), "start_ps must be an integer"),
    (lambda: assign_readout([0], [3, 1], 0, 10), "photon_ps must be sorted"),
    (lambda: assign_readout([0.5], [1], 0, 10), "sync_ps must be integers"),
    (lambda: photons_in_windows([[0]], [1], 10), "1-D"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
