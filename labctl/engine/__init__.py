"""Running experiments: blocks, progress, pause/abort, checkpoints, safe state."""
