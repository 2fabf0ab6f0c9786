"""The archive: QCoDeS dataset index, raw time-tag store and provenance.

- `labctl.data.location`: where the archive lives (``--data-dir`` >
  ``$LABCTL_DATA_DIR`` > ``$XDG_DATA_HOME/labctl`` > ``~/.local/share/labctl``).
- `labctl.data.archive`: `Archive` (create, resume, list, load, reconcile,
  export runs) and `RunWriter` (durable block appends), over a QCoDeS SQLite
  database that indexes every block and holds each run's provenance.
- `labctl.data.runs`: what a run is (`RunMetadata`, `RunInfo`, `RunData`).
- `labctl.data.chunks`: the raw store, one fsync-ed, renamed, sha256-checked
  file per block (delta-encoded, Blosc2-compressed arrays in a ZIP:
  `labctl.data.chunk_format`); older ``.npz`` chunks stay readable.
- `labctl.data.liveness`: whether the process writing a run is still alive.
- `labctl.data.locking`: bounded waits for a neighbour's write lock, and who holds it.
- `labctl.data.storage`: the one-line refusals of a read-only, full or locked archive.
- `labctl.data.export`: a run as an xarray dataset / netCDF4 file.

Nothing is imported here, so importing a submodule stays cheap.
"""
