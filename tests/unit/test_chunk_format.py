"""Chunk files: lossless for any arrays, compact for time tags, older chunks still read."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labctl.data.chunk_format import (
    ChunkFormatError,
    delta_encoded,
    read_arrays,
    write_arrays,
)
from labctl.data.chunks import ChunkError, ChunkRecord, ChunkStore

INT64 = np.iinfo(np.int64)
ANY_DTYPE = (hnp.scalar_dtypes() | hnp.byte_string_dtypes() | hnp.unicode_string_dtypes()
             | hnp.integer_dtypes(endianness=">") | hnp.floating_dtypes(endianness=">"))


def round_trip(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    buffer = io.BytesIO()
    write_arrays(buffer, arrays)
    buffer.seek(0)
    return read_arrays(buffer, None, "memory")


def assert_bit_exact(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> None:
    assert list(got) == list(expected)
    for name, array in expected.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        assert got[name].tobytes() == array.tobytes(), name


def tag_stream(rng: np.random.Generator, n: int, mean_gap_ps: float) -> dict[str, np.ndarray]:
    gaps = rng.exponential(mean_gap_ps, n).astype(np.int64)
    return {"channels": rng.integers(1, 5, n, dtype=np.uint8),
            "timestamps": np.cumsum(gaps, dtype=np.int64)}


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int64, st.integers(0, 3000),
                  elements=st.integers(INT64.min, INT64.max)),
       hnp.arrays(np.uint8, st.integers(0, 50)))
def test_any_int64_timestamps_and_channels_round_trip_bit_exactly(timestamps, channels):
    # unsorted, negative, extreme values: the delta encoding wraps and comes back
    assert_bit_exact({"timestamps": timestamps, "channels": channels},
                     round_trip({"timestamps": timestamps, "channels": channels}))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(ANY_DTYPE, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))
def test_arrays_of_any_plain_dtype_and_shape_round_trip(array):
    assert_bit_exact({"values": array}, round_trip({"values": array}))


def test_adversarial_tag_streams_round_trip():
    rng = np.random.default_rng(5)
    streams = {
        "extremes": np.array([INT64.max, INT64.min, 0, -1, INT64.max, 1], dtype=np.int64),
        "all_equal": np.full(100_000, 7, dtype=np.int64),
        "random_bits": rng.integers(INT64.min, INT64.max, 200_000, dtype=np.int64),
        "decreasing": -np.arange(100_000, dtype=np.int64) * 997,
        "uint64_wrap": np.array([np.iinfo(np.uint64).max, 0, 5], dtype=np.uint64),
    }
    for name, timestamps in streams.items():
        arrays = {"timestamps": timestamps, "channels": np.ones(timestamps.size, np.uint8)}
        assert_bit_exact(arrays, round_trip(arrays)), name


def test_only_one_dimensional_64_bit_integers_are_delta_encoded():
    assert delta_encoded(np.zeros(3, np.int64)) and delta_encoded(np.zeros(3, np.uint64))
    assert not delta_encoded(np.zeros(3, np.int32))
    assert not delta_encoded(np.zeros((3, 2), np.int64))
    assert not delta_encoded(np.zeros(3, np.float64))


def test_a_heralding_stations_tags_cost_under_four_bytes_and_npz_nine():
    # syncs every 5.5 µs with 10 ps rms jitter, clicks and dark counts between them
    rng = np.random.default_rng(11)
    attempts = 400_000
    syncs = np.arange(attempts, dtype=np.int64) * 5_500_000 \
        + rng.normal(0, 10, attempts).astype(np.int64)
    clicks = rng.integers(0, attempts * 5_500_000, 2_000)
    order = np.argsort(np.concatenate([syncs, clicks]), kind="stable")
    timestamps = np.concatenate([syncs, clicks])[order]
    channels = np.concatenate([np.ones(attempts, np.uint8),
                               rng.integers(2, 4, clicks.size).astype(np.uint8)])[order]
    buffer = io.BytesIO()
    write_arrays(buffer, {"channels": channels, "timestamps": timestamps})
    per_tag = buffer.tell() / timestamps.size
    assert per_tag < 4.0, per_tag
    npz = io.BytesIO()
    np.savez(npz, channels=channels, timestamps=timestamps)
    assert npz.tell() / timestamps.size > 8.9


def test_a_dense_random_stream_still_round_trips():
    arrays = tag_stream(np.random.default_rng(2), 300_000, 100_000.0)
    assert_bit_exact(arrays, round_trip(arrays))


def test_only_the_named_arrays_are_read():
    arrays = tag_stream(np.random.default_rng(3), 1000, 1e6)
    buffer = io.BytesIO()
    write_arrays(buffer, arrays)
    buffer.seek(0)
    got = read_arrays(buffer, ("timestamps", "missing"), "memory")
    assert list(got) == ["timestamps"]


def test_a_chunk_written_by_older_labctl_as_npz_is_still_read(tmp_path):
    store = ChunkStore(tmp_path)
    arrays = tag_stream(np.random.default_rng(4), 5000, 1e6)
    old = store.run_dir(1) / "block-000000.npz"
    old.parent.mkdir(parents=True)
    np.savez(old, **arrays)
    data = old.read_bytes()
    record = ChunkRecord(path="raw/run-1/block-000000.npz",
                         sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    assert_bit_exact(arrays, store.read(record))


def test_a_chunk_with_a_damaged_member_is_a_chunk_error(tmp_path):
    store = ChunkStore(tmp_path)
    record = store.write(1, 0, tag_stream(np.random.default_rng(6), 5000, 1e6))
    path = tmp_path / record.path
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ChunkError, match="sha256"):
        store.read(record)
    # a record matching the damaged bytes: the format itself refuses, in one line
    forged = ChunkRecord(record.path, hashlib.sha256(raw).hexdigest(), len(raw))
    with pytest.raises(ChunkError) as caught:
        store.read(forged)
    assert "\n" not in str(caught.value)


def test_a_foreign_zip_is_refused_in_one_line():
    buffer = io.BytesIO(b"not a zip at all")
    with pytest.raises(ChunkFormatError, match="not a readable chunk"):
        read_arrays(buffer, None, "memory")
