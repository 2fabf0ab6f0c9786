"""The bytes of a chunk file: a block's arrays, compressed losslessly and self-described.

A chunk (format ``labctl-chunk`` version 1, suffix ``.zip``) is a ZIP archive
whose members are stored, not deflated:

- ``manifest.json``: the format and its version, and per array its member,
  dtype, shape and encoding;
- ``<name>.b2nd``: the array's values (after its encoding), flattened in C
  order, as a Blosc2 N-dimensional frame (python-blosc2
  ``NDArray.to_cframe``): zstd at level 1 behind the byte-shuffle filter,
  the values in native byte order, the dtype as given (byte order included)
  and the shape in the manifest.

Encodings: ``delta`` for one-dimensional 64-bit integer arrays (time tags'
timestamps): the member holds ``x[0], x[1] - x[0], ...`` in wrapping 64-bit
arithmetic, so any values round-trip bit-exactly and a cumulative sum gives
them back; ``none`` for the rest. Increasing picosecond timestamps become
small, repetitive numbers, so a heralding station's stream costs about a
byte a tag where the uncompressed ``.npz`` chunks of format 0 cost nine.

Standard tools read a chunk without labctl: ``unzip`` lists and extracts the
members, ``blosc2.open("timestamps.b2nd")[:]`` (or
``blosc2.ndarray_from_cframe``) gives a member's values and ``numpy.cumsum``
undoes a delta encoding. Format 0 (``.npz``, read by `numpy.load`) stays
readable: `read_arrays` tells the two apart by the manifest.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from typing import Any, BinaryIO

import blosc2
import numpy as np
from numpy.typing import NDArray

from labctl.errors import LabctlError

#: The name of the format in every manifest, and the version this module writes.
FORMAT_NAME = "labctl-chunk"
FORMAT_VERSION = 1
#: The suffix of chunk files of this format (format 0 chunks end in ``.npz``).
SUFFIX = ".zip"
MANIFEST = "manifest.json"
MEMBER_SUFFIX = ".b2nd"

_CPARAMS = {"codec": blosc2.Codec.ZSTD, "clevel": 1, "filters": [blosc2.Filter.SHUFFLE],
            "filters_meta": [0], "nthreads": 1}


class ChunkFormatError(LabctlError):
    """A chunk file's bytes are not a chunk this module can read."""


def delta_encoded(array: NDArray[Any]) -> bool:
    """Does this array get the ``delta`` encoding (a 1-D 64-bit integer array)?"""
    return array.ndim == 1 and array.dtype.kind in "iu" and array.dtype.itemsize == 8


def write_arrays(file: BinaryIO, arrays: Mapping[str, NDArray[Any]]) -> None:
    """Write ``arrays`` (names already checked as identifiers) as one chunk into ``file``."""
    manifest: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                                "codec": "blosc2 zstd level 1, byte shuffle", "arrays": {}}
    members: list[tuple[str, bytes]] = []
    for name, given in arrays.items():
        array = given.astype(given.dtype.newbyteorder("="), copy=False)  # blosc2: native
        encoding = "delta" if delta_encoded(array) else "none"
        stored = _delta(array) if encoding == "delta" else array
        member = name + MEMBER_SUFFIX
        flat = np.ascontiguousarray(stored).reshape(-1)   # the manifest keeps the shape
        members.append((member, blosc2.asarray(flat, cparams=_CPARAMS).to_cframe()))
        manifest["arrays"][name] = {"member": member, "dtype": given.dtype.str,
                                    "shape": list(array.shape), "encoding": encoding}
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1))
        for member, frame in members:
            archive.writestr(member, frame)


def read_arrays(file: BinaryIO, names: tuple[str, ...] | None, where: str
                ) -> dict[str, NDArray[Any]]:
    """The arrays of a chunk of either format (all, or those of ``names`` it holds)."""
    try:
        with zipfile.ZipFile(file) as archive:
            if MANIFEST not in archive.namelist():
                file.seek(0)
                return _read_npz(file, names)
            manifest = _manifest(archive.read(MANIFEST), where)
            entries = manifest["arrays"]
            wanted = list(entries) if names is None else [n for n in names if n in entries]
            return {name: _decode(archive, name, entries[name], where) for name in wanted}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as error:
        raise ChunkFormatError(f"chunk {where} is not a readable chunk: "
                               f"{' '.join(str(error).split())}") from None


def _delta(array: NDArray[Any]) -> NDArray[Any]:
    out = np.empty_like(array)
    if array.size:
        out[0] = array[0]
        np.subtract(array[1:], array[:-1], out=out[1:])   # wraps modulo 2**64
    return out


def _manifest(raw: bytes, where: str) -> dict[str, Any]:
    manifest = json.loads(raw)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ChunkFormatError(f"chunk {where}: the manifest is not a {FORMAT_NAME} manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise ChunkFormatError(f"chunk {where} is format version {manifest.get('version')}; "
                               f"this labctl reads version {FORMAT_VERSION}")
    if not isinstance(manifest.get("arrays"), dict):
        raise ChunkFormatError(f"chunk {where}: the manifest lists no arrays")
    return manifest


def _decode(archive: zipfile.ZipFile, name: str, entry: dict[str, Any],
            where: str) -> NDArray[Any]:
    frame = archive.read(entry["member"])
    try:
        stored = np.asarray(blosc2.ndarray_from_cframe(frame)[()])
    except (RuntimeError, ValueError) as error:
        raise ChunkFormatError(f"chunk {where}: array {name!r} cannot be decoded: "
                               f"{error}") from None
    dtype, shape = np.dtype(entry["dtype"]), tuple(entry["shape"])
    if stored.dtype != dtype.newbyteorder("=") or stored.size != int(np.prod(shape)):
        raise ChunkFormatError(f"chunk {where}: array {name!r} is {stored.dtype} "
                               f"{stored.shape}, its manifest says {dtype} {shape}")
    stored = stored.reshape(shape)
    if entry["encoding"] == "delta":
        stored = np.cumsum(stored, dtype=stored.dtype)    # wraps as the encoding did
    elif entry["encoding"] != "none":
        raise ChunkFormatError(f"chunk {where}: array {name!r} has an unknown encoding "
                               f"{entry['encoding']!r}")
    return stored.astype(dtype, copy=False)               # the byte order written


def _read_npz(file: BinaryIO, names: tuple[str, ...] | None) -> dict[str, NDArray[Any]]:
    """A format 0 chunk: an uncompressed ``numpy.savez`` archive."""
    with np.load(file, allow_pickle=False) as archive:
        wanted = archive.files if names is None else [n for n in names if n in archive.files]
        return {name: archive[name] for name in wanted}
