"""The wire codec: what travels between orchestrator and node, and what is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labctl.pulses.program import SequenceElement
from labctl.remote.codec import Codec
from labctl.remote.errors import ProtocolError


def round_trip(value, codec=None):
    codec = codec or Codec()
    frames = []
    text = json.dumps(codec.encode(value, frames))     # what goes on the wire
    return codec.decode(json.loads(text), [bytes(f) for f in frames])


def test_json_values_tuples_dicts_with_int_keys_and_complex_numbers_round_trip():
    value = {"a": [1, 2.5, None, True, "x"], "t": (1, (2, 3)), "jumps": {0: 2, 15: 3},
             "z": 1 - 2j, "nan": float("inf")}
    assert round_trip(value) == value
    assert round_trip(np.float32(0.5)) == 0.5 and type(round_trip(np.int64(3))) is int


@pytest.mark.parametrize("array", [
    np.linspace(-1, 1, 7), np.arange(12, dtype=np.uint64).reshape(3, 4),
    np.array([True, False, True]), np.arange(6, dtype=np.int8)[::2],
    np.array(2.5), np.zeros((0, 3)), np.array([1 + 1j], dtype=np.complex64),
])
def test_numpy_arrays_travel_as_binary_frames_with_dtype_and_shape(array):
    codec, frames = Codec(), []
    encoded = codec.encode({"samples": array}, frames)
    assert encoded["samples"]["dtype"] == array.dtype.str
    assert len(frames) == 1 and len(frames[0]) == array.nbytes
    back = codec.decode(encoded, [bytes(f) for f in frames])["samples"]
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0   # a writable copy, not a view of the message


def test_allowed_value_types_are_rebuilt_through_their_constructor():
    elements = [SequenceElement(("attempt_ch1", "attempt_ch2"), event_jump=2),
                SequenceElement(("readout_ch1",), loop_count=3, goto=1)]
    assert round_trip(elements) == elements
    codec = Codec()
    bad = codec.encode(elements[0], [])
    bad["fields"]["loop_count"] = 0           # the dataclass's own check runs on decode
    with pytest.raises(ProtocolError, match="loop_count"):
        codec.decode(bad, [])


@pytest.mark.parametrize("value, message", [
    (object(), "cannot send a builtins.object"),
    (np.array(["a", "b"]), "dtype <U1"),
    (np.array([object()]), "dtype object"),
    (b"raw", "cannot send a builtins.bytes"),
    ({1, 2}, "cannot send a builtins.set"),
])
def test_values_outside_the_codec_are_refused(value, message):
    with pytest.raises(ProtocolError, match=message):
        Codec().encode(value, [])


def test_a_value_type_that_is_not_allowed_is_not_sent_nor_received():
    codec = Codec(value_types=())
    with pytest.raises(ProtocolError, match="cannot send"):
        codec.encode(SequenceElement(("w",)), [])
    encoded = Codec().encode(SequenceElement(("w",)), [])
    with pytest.raises(ProtocolError, match="not allowed"):
        codec.decode(encoded, [])


@pytest.mark.parametrize("data, frames, message", [
    ({"__pickle__": "gASV"}, [], "unknown or malformed tag"),
    ({"__tuple__": [1], "__dict__": []}, [], "several tags"),
    ({"__ndarray__": 0, "dtype": "<f8", "shape": [2]}, [b"\0" * 8], "holds 8 bytes"),
    ({"__ndarray__": 1, "dtype": "<f8", "shape": [1]}, [b"\0" * 8], "frame 1 is missing"),
    ({"__ndarray__": 0, "dtype": "|O", "shape": [1]}, [b"\0" * 8], "not allowed"),
    ({"__ndarray__": 0, "dtype": "nonsense", "shape": [1]}, [b"\0" * 8], "unknown dtype"),
    ({"__ndarray__": 0, "dtype": "<f8", "shape": [-1]}, [b"\0" * 8], "malformed"),
    ({"__value__": "os.system", "fields": {}}, [], "not allowed"),
    ({"__value__": "SequenceElement", "fields": {"waveforms": ["w"], "shell": 1}}, [],
     "no field"),
    ({"__dict__": [[[1, 2], 3]]}, [], "unhashable"),
    ({"__module__": "ch1"}, [], "only valid in a reply"),
])
def test_malformed_or_foreign_encodings_are_refused(data, frames, message):
    with pytest.raises(ProtocolError, match=message):
        Codec().decode(data, frames)


def test_nesting_is_bounded():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ProtocolError, match="nested deeper"):
        Codec().decode(deep, [])
