"""The archive: QCoDeS dataset index, raw time-tag store and provenance."""
