"""Export of a run to xarray and netCDF4 (h5netcdf): values per block, raw arrays ragged.

The dataset has a ``block`` coordinate with the run's scalar values, each
block's chunk path and sha256, and a ``corrupt`` flag. Raw arrays, whose
length differs from block to block, are stored the way CF stores a
contiguous ragged array: all blocks' entries concatenated along
``<name>_sample``, with ``<name>_count(block)`` (attribute
``sample_dimension``) saying how many belong to each block. The run's
provenance is in the attributes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from labctl.data.chunks import ChunkError
from labctl.errors import LabctlError

if TYPE_CHECKING:
    import xarray as xr

    from labctl.data.runs import RunData

log = logging.getLogger(__name__)


def run_to_xarray(data: RunData, include_arrays: bool = True) -> xr.Dataset:
    """The run as an ``xarray.Dataset`` (raw arrays only if ``include_arrays``)."""
    import xarray as xr

    info = data.info
    corrupt = set(data.corrupt)
    variables: dict[str, Any] = {
        name: ("block", values, {"long_name": name}) for name, values in data.values.items()}
    records = data.chunk_records
    variables["chunk"] = ("block", np.array([r.path if r else "" for r in records], dtype=str),
                          {"long_name": "chunk path relative to the archive root"})
    variables["sha256"] = ("block", np.array([r.sha256 if r else "" for r in records],
                                             dtype=str), {"long_name": "sha256 of the chunk"})
    variables["corrupt"] = ("block", np.array([b in corrupt for b in data.blocks.tolist()],
                                              dtype=np.int8),
                            {"long_name": "1 if the block's chunk is missing or damaged"})
    if include_arrays:
        _add_ragged_arrays(data, variables)
    attrs = {
        "labctl_run_id": info.run_id,
        "experiment": info.experiment,
        "status": info.status,
        "started": info.started,
        "ended": info.ended or "",
        "reason": info.reason or "",
        "station_path": info.station_path,
        "profile": info.profile,
        "code_version": info.code_version,
        "planned_blocks": -1 if info.planned_blocks is None else info.planned_blocks,
        "config": json.dumps(info.config, sort_keys=True),
        "qcodes_run_ids": np.array(info.segments, dtype=np.int64),
        "corrupt_blocks": np.array(sorted(corrupt), dtype=np.int64),
    }
    return xr.Dataset(variables, coords={"block": ("block", data.blocks)}, attrs=attrs)


def write_netcdf(dataset: xr.Dataset, target: Path) -> Path:
    """Write ``dataset`` to ``target`` atomically (temporary file, then rename)."""
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_netcdf(temp, engine="h5netcdf")
        os.replace(temp, target)
    except (OSError, ValueError, TypeError) as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        reason = getattr(error, "strerror", None) or " ".join(str(error).split())
        raise LabctlError(f"cannot write {target}: {reason}") from None
    return target


def _add_ragged_arrays(data: RunData, variables: dict[str, Any]) -> None:
    corrupt = set(data.corrupt)
    pieces: dict[str, list[NDArray[Any]]] = {}
    counts: dict[str, NDArray[np.int64]] = {}
    for position, block in enumerate(data.blocks.tolist()):
        if block in corrupt:
            continue
        try:
            arrays = data.block_arrays(block)
        except ChunkError as error:
            log.warning("run %d block %d: %s", data.info.run_id, block, error)
            continue
        for name, array in arrays.items():
            array = np.atleast_1d(array)
            pieces.setdefault(name, []).append(array)
            counts.setdefault(name, np.zeros(data.blocks.size, dtype=np.int64))
            counts[name][position] = array.shape[0]
    for name, parts in pieces.items():
        try:
            joined = np.concatenate(parts)
        except ValueError:
            log.warning("run %d: array %r changes its trailing shape between blocks; "
                        "not exported", data.info.run_id, name)
            continue
        key = name if name not in variables else f"{name}_array"
        sample = f"{key}_sample"
        dims = (sample, *(f"{key}_dim{axis}" for axis in range(1, joined.ndim)))
        variables[key] = (dims, joined, {"long_name": f"{name} of every block, concatenated",
                                         "ragged_count": f"{key}_count"})
        variables[f"{key}_count"] = ("block", counts[name], {
            "long_name": f"number of {name} entries of each block",
            "sample_dimension": sample})
