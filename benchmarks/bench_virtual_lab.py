"""The virtual lab end to end, through the real drivers over loopback TCP.

1. A single-click run: both AWGs play 5.5 µs attempts (nv-short world), the
   time tagger records with its conditional filter (syncs only of attempts
   with a click, detectors gated to the windows), the driver fetches the tags
   and the heralds are extracted. Reported as simulated seconds per wall-clock
   second (goal: at least 1000x real time).
2. Time-tag streaming: an unfiltered recording (every attempt's sync) read
   twice through pyvisa; the second read moves the same block without the
   physics, so it measures the transfer alone, in tags/s and MB/s.
"""

from __future__ import annotations

import time

from benchmarks.harness import report
from experiments.bringup import (
    AttemptDesign,
    acquire,
    bring_up,
    gate_detectors,
    heralds,
    keep_only_heralded_syncs,
    record_raw_streams,
)
from labctl import station as station_module

RUN_SECONDS = 2000.0
STREAM_SECONDS = 30.0


def main() -> None:
    with station_module.load() as station:
        start = time.perf_counter()
        bring_up(station, AttemptDesign())
        report("virtual_lab_bring_up", time.perf_counter() - start, "s")
        tagger = station.instrument("time_tagger", "heralding")

        keep_only_heralded_syncs(station)
        gate_detectors(station)
        start = time.perf_counter()
        channels, timestamps = acquire(station, RUN_SECONDS)
        found = heralds(station, channels, timestamps)
        wall = time.perf_counter() - start
        report("virtual_lab_single_click_simulated_per_wall", RUN_SECONDS / wall,
               "simulated s per wall s")
        report("virtual_lab_single_click_heralds_per_simulated_second",
               found.count / RUN_SECONDS, "Hz")

        record_raw_streams(station)           # back to raw streams: every sync recorded
        start = time.perf_counter()
        channels, _ = acquire(station, STREAM_SECONDS)
        first = time.perf_counter() - start
        start = time.perf_counter()
        tagger.fetch_timetags()
        transfer = time.perf_counter() - start
        tags = len(channels)
        report("timetag_recording_unfiltered_simulated_per_wall", STREAM_SECONDS / first,
               "simulated s per wall s")
        report("timetag_stream_through_pyvisa", tags / transfer, "tags/s")
        report("timetag_stream_through_pyvisa_bytes", tags * 8 / transfer / 1e6, "MB/s")


if __name__ == "__main__":
    main()
