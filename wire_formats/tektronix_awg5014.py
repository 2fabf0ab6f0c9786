"""The Tektronix AWG5014C ``INTeger`` waveform format: 14-bit samples with two markers.

Each sample is one little-endian ``uint16``: bits 0-13 the DAC code
``round(8191 * a + 8191)`` of the analog value ``a`` in [-1, 1] (fraction of
the half amplitude around the offset), bit 14 marker 1, bit 15 marker 2.
The driver encodes with it, the virtual lab's AWG emulator decodes with it.
Vectorised: no loop per sample.

Also the ``.awg`` setup file (`decode_awg_file`): the record format the
unit's ``MMEMory:DATA`` / ``AWGControl:SREStore`` path carries.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Iterator

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


# --- the .awg setup file ---------------------------------------------------------
#
# An AWG5000-series setup file (``.awg``, written by ``AWGControl:SSAVe``, read by
# ``AWGControl:SREStore``) is a flat list of records, each
#   uint32 name size | uint32 data size | name (ASCII, NUL included) | data,
# all little-endian (AWG5000 online help, "AWG file format" / "Record Name List";
# the layout as QCoDeS's hardware-tested AWG5014 driver writes it). Record names
# carry an index: ``WAVEFORM_NAME_21``, ``SEQUENCE_LOOP_3``,
# ``SEQUENCE_WAVEFORM_NAME_CH_2_3`` (channel 2 of element 3).

#: ``MAGIC`` record of an AWG5000 setup file.
AWG_FILE_MAGIC = 5000
#: ``WAVEFORM_TYPE_N`` values: 14-bit ``INTeger`` words, or float32 + marker byte.
AWG_FILE_INTEGER, AWG_FILE_REAL = 1, 2

_RECORD_HEADER = np.dtype([("name_size", "<u4"), ("data_size", "<u4")])
#: Data types of the scalar records, by name without index (struct format letters).
_SCALAR_RECORDS: dict[str, str] = {
    "MAGIC": "<h", "VERSION": "<h", "SAMPLING_RATE": "<d", "REPETITION_RATE": "<d",
    "HOLD_REPETITION_RATE": "<h", "CLOCK_SOURCE": "<h", "REFERENCE_SOURCE": "<h",
    "EXTERNAL_REFERENCE_TYPE": "<h", "REFERENCE_CLOCK_FREQUENCY_SELECTION": "<h",
    "REFERENCE_MULTIPLIER_RATE": "<h", "DIVIDER_RATE": "<h", "TRIGGER_SOURCE": "<h",
    "INTERNAL_TRIGGER_RATE": "<d", "TRIGGER_INPUT_IMPEDANCE": "<h",
    "TRIGGER_INPUT_SLOPE": "<h", "TRIGGER_INPUT_POLARITY": "<h",
    "TRIGGER_INPUT_THRESHOLD": "<d", "EVENT_INPUT_IMPEDANCE": "<h",
    "EVENT_INPUT_POLARITY": "<h", "EVENT_INPUT_THRESHOLD": "<d", "JUMP_TIMING": "<h",
    "INTERLEAVE": "<h", "ZEROING": "<h", "COUPLING": "<h", "RUN_MODE": "<h",
    "WAIT_VALUE": "<h", "RUN_STATE": "<h", "INTERLEAVE_ADJ_PHASE": "<d",
    "INTERLEAVE_ADJ_AMPLITUDE": "<d", "EVENT_JUMP_MODE": "<h", "TABLE_JUMP_STROBE": "<h",
    # per channel (suffix _N)
    "CHANNEL_STATE": "<h", "ANALOG_DIRECT_OUTPUT": "<h", "ANALOG_FILTER": "<h",
    "ANALOG_METHOD": "<h", "ANALOG_AMPLITUDE": "<d", "ANALOG_OFFSET": "<d",
    "ANALOG_HIGH": "<d", "ANALOG_LOW": "<d", "MARKER1_SKEW": "<d", "MARKER1_METHOD": "<h",
    "MARKER1_AMPLITUDE": "<d", "MARKER1_OFFSET": "<d", "MARKER1_HIGH": "<d",
    "MARKER1_LOW": "<d", "MARKER2_SKEW": "<d", "MARKER2_METHOD": "<h",
    "MARKER2_AMPLITUDE": "<d", "MARKER2_OFFSET": "<d", "MARKER2_HIGH": "<d",
    "MARKER2_LOW": "<d", "DIGITAL_METHOD": "<h", "DIGITAL_AMPLITUDE": "<d",
    "DIGITAL_OFFSET": "<d", "DIGITAL_HIGH": "<d", "DIGITAL_LOW": "<d", "EXTERNAL_ADD": "<h",
    "PHASE_DELAY_INPUT_METHOD": "<h", "PHASE": "<d", "DELAY_IN_TIME": "<d",
    "DELAY_IN_POINTS": "<d", "CHANNEL_SKEW": "<d", "DC_OUTPUT_LEVEL": "<d",
    # per waveform and per sequence element
    "WAVEFORM_TYPE": "<h", "WAVEFORM_LENGTH": "<i", "SEQUENCE_WAIT": "<h",
    "SEQUENCE_LOOP": "<i", "SEQUENCE_JUMP": "<h", "SEQUENCE_GOTO": "<h",
}
_STRING_RECORDS = ("OUTPUT_WAVEFORM_NAME", "WAVEFORM_NAME", "SEQUENCE_WAVEFORM_NAME_CH")
_INDEXED = re.compile(r"(?P<base>[A-Z0-9_]+?)_(?P<index>\d+)")
_ELEMENT_WAVEFORM = re.compile(r"SEQUENCE_WAVEFORM_NAME_CH_(?P<channel>\d+)_(?P<element>\d+)")

RecordValue = int | float | str | bytes


@dataclasses.dataclass(frozen=True)
class AwgFileWaveform:
    """One waveform of a setup file: samples, markers, and whether it came as words."""

    analog: NDArray[np.float64]
    marker1: NDArray[np.bool_]
    marker2: NDArray[np.bool_]
    integer: bool


@dataclasses.dataclass(frozen=True)
class AwgFileElement:
    """One sequence element of a setup file (1-based element numbers, channels 1-4).

    ``loop`` 0 is infinite; ``jump`` 0 off, -1 next, else an element; ``goto``
    0 off, else an element (the AWG5000 record conventions).
    """

    waveforms: dict[int, str]
    wait: bool
    loop: int
    jump: int
    goto: int


@dataclasses.dataclass(frozen=True)
class AwgFile:
    """A decoded ``.awg`` file: settings (unindexed and per channel), waveforms, sequence."""

    settings: dict[str, RecordValue]
    channels: dict[int, dict[str, RecordValue]]
    waveforms: dict[str, AwgFileWaveform]
    sequence: list[AwgFileElement]
    #: Records this decoder does not interpret (their raw data), e.g. ``TABLE_JUMP_DEFINITION``.
    unknown: dict[str, bytes]


def iter_awg_records(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, raw data) of each record of an ``.awg`` file; `ValueError` if truncated."""
    offset, size = 0, len(data)
    while offset < size:
        if offset + _RECORD_HEADER.itemsize > size:
            raise ValueError(f"truncated record header at byte {offset}")
        header = np.frombuffer(data, _RECORD_HEADER, count=1, offset=offset)[0]
        name_size, data_size = int(header["name_size"]), int(header["data_size"])
        start = offset + _RECORD_HEADER.itemsize
        end = start + name_size + data_size
        if name_size == 0 or end > size:
            raise ValueError(f"record at byte {offset} runs past the end of the file")
        raw_name = data[start:start + name_size]
        if not raw_name.endswith(b"\x00"):
            raise ValueError(f"record name at byte {offset} is not NUL-terminated")
        try:
            name = raw_name[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"record name at byte {offset} is not ASCII") from None
        yield name, data[start + name_size:end]
        offset = end


def _scalar(name: str, fmt: str, raw: bytes) -> int | float:
    expected = struct.calcsize(fmt)
    if len(raw) != expected:
        raise ValueError(f"record {name} holds {len(raw)} bytes, expected {expected}")
    value: int | float = struct.unpack(fmt, raw)[0]
    return value


def _text(name: str, raw: bytes) -> str:
    try:
        return raw.split(b"\x00", 1)[0].decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"record {name} is not ASCII text") from None


def decode_awg_file(data: bytes) -> AwgFile:
    """Decode an AWG5000-series ``.awg`` setup file; `ValueError` naming what is malformed.

    Waveform data of ``INTeger`` waveforms (``WAVEFORM_TYPE`` 1) are decoded
    with `decode_waveform`; ``REAL`` ones (type 2) are float32 samples each
    followed by a marker byte (bit 0 marker 1, bit 1 marker 2).
    """
    settings: dict[str, RecordValue] = {}
    channels: dict[int, dict[str, RecordValue]] = {}
    unknown: dict[str, bytes] = {}
    waveform_parts: dict[int, dict[str, RecordValue]] = {}
    element_parts: dict[int, dict[str, RecordValue]] = {}
    element_waveforms: dict[int, dict[int, str]] = {}
    for name, raw in iter_awg_records(data):
        wave = _ELEMENT_WAVEFORM.fullmatch(name)
        if wave is not None:
            element_waveforms.setdefault(int(wave["element"]), {})[int(wave["channel"])] = \
                _text(name, raw)
            continue
        indexed = _INDEXED.fullmatch(name)
        base, index = (indexed["base"], int(indexed["index"])) if indexed else (name, 0)
        if base not in _SCALAR_RECORDS and base not in _STRING_RECORDS \
                and base != "WAVEFORM_DATA" and base != "WAVEFORM_TIMESTAMP":
            base, index = name, 0
        value: RecordValue
        if base in _SCALAR_RECORDS:
            value = _scalar(name, _SCALAR_RECORDS[base], raw)
        elif base in _STRING_RECORDS:
            value = _text(name, raw)
        elif base in ("WAVEFORM_DATA", "WAVEFORM_TIMESTAMP"):
            value = raw
        else:
            unknown[name] = raw
            continue
        if base.startswith("WAVEFORM_"):
            waveform_parts.setdefault(index, {})[base] = value
        elif base.startswith("SEQUENCE_"):
            element_parts.setdefault(index, {})[base] = value
        elif index:
            channels.setdefault(index, {})[base] = value
        else:
            settings[base] = value
    if settings.get("MAGIC") != AWG_FILE_MAGIC:
        raise ValueError(f"not an AWG5000 setup file: MAGIC is {settings.get('MAGIC')!r}, "
                         f"expected {AWG_FILE_MAGIC}")
    waveforms = {}
    for index, parts in sorted(waveform_parts.items()):
        waveform_name = parts.get("WAVEFORM_NAME")
        if not isinstance(waveform_name, str) or not waveform_name:
            raise ValueError(f"waveform {index} has no WAVEFORM_NAME_{index}")
        waveforms[waveform_name] = _file_waveform(waveform_name, parts)
    sequence = []
    numbers = sorted(set(element_parts) | set(element_waveforms))
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"sequence elements must be numbered 1..{len(numbers)}, got {numbers}")
    for number in numbers:
        parts = element_parts.get(number, {})
        sequence.append(AwgFileElement(
            waveforms=element_waveforms.get(number, {}),
            wait=bool(parts.get("SEQUENCE_WAIT", 0)), loop=int(parts.get("SEQUENCE_LOOP", 1)),
            jump=int(parts.get("SEQUENCE_JUMP", 0)), goto=int(parts.get("SEQUENCE_GOTO", 0))))
    return AwgFile(settings, channels, waveforms, sequence, unknown)


def _file_waveform(name: str, parts: dict[str, RecordValue]) -> AwgFileWaveform:
    kind = parts.get("WAVEFORM_TYPE", AWG_FILE_INTEGER)
    raw = parts.get("WAVEFORM_DATA")
    if not isinstance(raw, bytes):
        raise ValueError(f"waveform {name!r} has no WAVEFORM_DATA record")
    if kind == AWG_FILE_INTEGER:
        if len(raw) % 2:
            raise ValueError(f"waveform {name!r}: {len(raw)} bytes are not whole INTeger words")
        analog, marker1, marker2 = decode_waveform(np.frombuffer(raw, "<u2"))
    elif kind == AWG_FILE_REAL:
        if len(raw) % 5:
            raise ValueError(f"waveform {name!r}: {len(raw)} bytes are not whole REAL points")
        points = np.frombuffer(raw, np.dtype([("value", "<f4"), ("markers", "u1")]))
        analog = points["value"].astype(np.float64)
        marker1 = (points["markers"] & 1) != 0
        marker2 = (points["markers"] & 2) != 0
    else:
        raise ValueError(f"waveform {name!r}: unknown WAVEFORM_TYPE {kind!r}")
    length = parts.get("WAVEFORM_LENGTH")
    if length is not None and length != analog.size:
        raise ValueError(f"waveform {name!r}: WAVEFORM_LENGTH says {length!r} points, "
                         f"the data holds {analog.size}")
    if analog.size == 0:
        raise ValueError(f"waveform {name!r} is empty")
    return AwgFileWaveform(analog, marker1, marker2, kind == AWG_FILE_INTEGER)
