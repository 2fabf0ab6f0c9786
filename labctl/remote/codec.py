"""Values on the wire: plain JSON, a few tagged objects, numpy arrays as binary frames.

Never pickle: a node decodes only what this codec names, so a message can at
worst be refused, never run code. What travels:

- JSON's own values (None, bool, int, float — NaN and ±inf included — str,
  lists, dicts with string keys); numpy scalars become Python numbers;
- ``{"__tuple__": [...]}``, ``{"__dict__": [[key, value], ...]}`` for dicts
  whose keys are not plain strings (e.g. an AWG's ``{pattern: element}`` jump
  table), ``{"__complex__": [re, im]}``;
- ``{"__ndarray__": i, "dtype": "<f8", "shape": [n, ...]}``: a numeric or
  boolean numpy array whose bytes are extra frame ``i`` of the message
  (waveforms, time tags); object, string and structured dtypes are refused;
- ``{"__value__": "SequenceElement", "fields": {...}}``: an instance of one
  of the codec's explicitly allowed frozen dataclasses (`VALUE_TYPES`),
  rebuilt through its constructor so its own checks run on the node;
- ``{"__module__": "ch1"}`` (replies only): a submodule of the instrument
  that was called, e.g. what ``awg.channel(1)`` returns; the proxy turns it
  into its own proxy of that channel.

Any other object — or tag — is a `ProtocolError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from labctl.instruments.laser import LaserStatus
from labctl.instruments.sequencer import SequencerLimits
from labctl.pulses.program import ChannelSamples, RenderedProgram, SequenceElement
from labctl.remote.errors import ProtocolError

#: The labctl value types experiments hand to instruments and capabilities return
#: (``define_sequence``'s elements, a sequencer's program and limits, a laser's status).
VALUE_TYPES: tuple[type, ...] = (SequenceElement, ChannelSamples, RenderedProgram,
                                 SequencerLimits, LaserStatus)
#: numpy dtype kinds that travel: bool, signed/unsigned integers, floats, complex.
ARRAY_KINDS = frozenset("biufc")
#: Deepest nesting of lists, dicts and tagged objects a message may hold.
MAX_DEPTH = 32

Frame = bytes | memoryview
ModuleRef = Callable[[Any], str | None]
ModuleLookup = Callable[[str], Any]


class Codec:
    """Encodes values to JSON-able data plus frames, and back, for an explicit set of types."""

    def __init__(self, value_types: Iterable[type] = VALUE_TYPES) -> None:
        self._types: dict[str, type] = {}
        for cls in value_types:
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise TypeError(f"{cls!r} is not a dataclass; the codec sends only dataclasses")
            self._types[cls.__name__] = cls

    # --- encoding ---------------------------------------------------------------

    def encode(self, value: Any, frames: list[Frame],
               module_ref: ModuleRef | None = None) -> Any:
        """JSON-able data for ``value``; arrays are appended to ``frames``."""
        return self._encode(value, frames, module_ref, 0)

    def _encode(self, value: Any, frames: list[Frame], module_ref: ModuleRef | None,
                depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int | float):
            return value
        if isinstance(value, np.generic):
            return self._scalar(value)
        if isinstance(value, complex):
            return {"__complex__": [value.real, value.imag]}
        if isinstance(value, np.ndarray):
            return self._array(value, frames)
        if isinstance(value, list):
            return [self._encode(v, frames, module_ref, depth + 1) for v in value]
        if isinstance(value, tuple):
            return {"__tuple__": [self._encode(v, frames, module_ref, depth + 1)
                                  for v in value]}
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: self._encode(v, frames, module_ref, depth + 1)
                        for k, v in value.items()}
            return {"__dict__": [[self._encode(k, frames, module_ref, depth + 1),
                                  self._encode(v, frames, module_ref, depth + 1)]
                                 for k, v in value.items()]}
        if type(value).__name__ in self._types and type(value) is self._types[
                type(value).__name__] and dataclasses.is_dataclass(value):
            return {"__value__": type(value).__name__,
                    "fields": {f.name: self._encode(getattr(value, f.name), frames,
                                                    module_ref, depth + 1)
                               for f in dataclasses.fields(value) if f.init}}
        path = module_ref(value) if module_ref is not None else None
        if path is not None:
            return {"__module__": path}
        raise ProtocolError(f"cannot send a {type(value).__module__}.{type(value).__qualname__}"
                            " (not a value type the remote codec allows)")

    @staticmethod
    def _scalar(value: np.generic) -> Any:
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        if isinstance(value, np.complexfloating):
            return {"__complex__": [float(value.real), float(value.imag)]}
        raise ProtocolError(f"cannot send a numpy {value.dtype} scalar")

    @staticmethod
    def _array(value: np.ndarray, frames: list[Frame]) -> dict[str, Any]:
        if value.dtype.kind not in ARRAY_KINDS:
            raise ProtocolError(f"cannot send a numpy array of dtype {value.dtype} "
                                "(numbers and booleans only)")
        contiguous = np.require(value, requirements="C")
        frames.append(memoryview(contiguous.reshape(-1).view(np.uint8).data))
        return {"__ndarray__": len(frames) - 1, "dtype": contiguous.dtype.str,
                "shape": list(contiguous.shape)}

    # --- decoding ---------------------------------------------------------------

    def decode(self, data: Any, frames: Sequence[Frame],
               module: ModuleLookup | None = None) -> Any:
        """The value ``data`` (and ``frames``) describe; `ProtocolError` if they are bad."""
        return self._decode(data, frames, module, 0)

    def _decode(self, data: Any, frames: Sequence[Frame], module: ModuleLookup | None,
                depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
        if data is None or isinstance(data, bool | int | float | str):
            return data
        if isinstance(data, list):
            return [self._decode(v, frames, module, depth + 1) for v in data]
        if not isinstance(data, dict):
            raise ProtocolError(f"unexpected JSON value {type(data).__name__}")
        tags = [k for k in data if k.startswith("__")]
        if not tags:
            return {k: self._decode(v, frames, module, depth + 1) for k, v in data.items()}
        if len(tags) != 1:
            raise ProtocolError(f"an object carries several tags: {sorted(tags)}")
        tag = tags[0]
        if tag == "__ndarray__":
            return self._decode_array(data, frames)
        if len(data) != (2 if tag == "__value__" else 1):
            raise ProtocolError(f"malformed {tag} object")
        body = data[tag]
        if tag == "__tuple__" and isinstance(body, list):
            return tuple(self._decode(v, frames, module, depth + 1) for v in body)
        if tag == "__dict__" and isinstance(body, list):
            return self._decode_dict(body, frames, module, depth)
        if tag == "__complex__" and _is_pair_of_numbers(body):
            return complex(body[0], body[1])
        if tag == "__value__":
            return self._decode_value(body, data.get("fields"), frames, module, depth)
        if tag == "__module__" and isinstance(body, str):
            if module is None:
                raise ProtocolError("a module reference is only valid in a reply")
            return module(body)
        raise ProtocolError(f"unknown or malformed tag {tag!r}")

    def _decode_dict(self, pairs: list[Any], frames: Sequence[Frame],
                     module: ModuleLookup | None, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ProtocolError("a __dict__ entry must be [key, value]")
            key = self._decode(pair[0], frames, module, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise ProtocolError(f"unhashable dict key {type(key).__name__}") from None
            result[key] = self._decode(pair[1], frames, module, depth + 1)
        return result

    def _decode_value(self, name: Any, fields: Any, frames: Sequence[Frame],
                      module: ModuleLookup | None, depth: int) -> Any:
        cls = self._types.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ProtocolError(f"value type {name!r} is not allowed (allowed: "
                                f"{', '.join(sorted(self._types)) or 'none'})")
        if not isinstance(fields, dict):
            raise ProtocolError(f"{name}: 'fields' must be an object")
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ProtocolError(f"{name} has no field(s) {', '.join(unknown)}")
        values = {k: self._decode(v, frames, module, depth + 1) for k, v in fields.items()}
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:
            raise ProtocolError(f"{name}: {error}") from None

    @staticmethod
    def _decode_array(data: dict[str, Any], frames: Sequence[Frame]) -> np.ndarray:
        index, dtype_text, shape = data.get("__ndarray__"), data.get("dtype"), data.get("shape")
        if set(data) != {"__ndarray__", "dtype", "shape"} or not isinstance(dtype_text, str) \
                or isinstance(index, bool) or not isinstance(index, int) \
                or not isinstance(shape, list) \
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                           for n in shape):
            raise ProtocolError("malformed __ndarray__ descriptor")
        if not 0 <= index < len(frames):
            raise ProtocolError(f"array frame {index} is missing (message has "
                                f"{len(frames)} data frames)")
        try:
            dtype = np.dtype(dtype_text)
        except TypeError:
            raise ProtocolError(f"unknown dtype {dtype_text!r}") from None
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None:
            raise ProtocolError(f"dtype {dtype_text!r} is not allowed (numbers and booleans only)")
        frame = frames[index]
        if math.prod(shape) * dtype.itemsize != len(frame):
            raise ProtocolError(f"array frame {index} holds {len(frame)} bytes, "
                                f"not {shape} x {dtype.itemsize}")
        return np.frombuffer(frame, dtype=dtype).reshape(shape).copy()


def _is_pair_of_numbers(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value)
