"""The virtual lab end to end, through the real drivers over loopback TCP.

1. A single-click run: both AWGs play 5.5 µs attempts (nv-short world), the
   time tagger records with its conditional filter (syncs only of attempts
   with a click, detectors gated to the windows), the driver fetches the tags
   and the heralds are extracted. Reported as simulated seconds per wall-clock
   second (goal: at least 1000x real time).
2. An unfiltered recording (every attempt's sync) end to end: the physics,
   the DataLink stand-in streaming each channel over zmq, the driver merging.
3. Time-tag streaming alone: 10⁷ tags per channel on four channels, as the
   DataLink sends them (PAIR frames of little-endian uint64), received,
   decoded and merged by the ID1000 driver's stream reader, in tags/s and MB/s.
"""

from __future__ import annotations

import time

import numpy as np
import zmq

from benchmarks.harness import report
from drivers.idq_id1000 import TimestampStream
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
from labctl.timetags.merge import merge_channels
from wire_formats.idq_id1000 import encode_stream

RUN_SECONDS = 2000.0
STREAM_SECONDS = 30.0
STREAM_TAGS_PER_CHANNEL = 10_000_000
STREAM_FRAME_TAGS = 100_000
STREAM_CHANNELS = 4


def stream_through_zmq() -> float:
    """Wall seconds to receive, decode and merge the tags of four streamed channels."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    rng = np.random.default_rng(1)
    senders, readers, frames = [], [], []
    for channel in range(1, STREAM_CHANNELS + 1):
        sender = context.socket(zmq.PAIR)
        sender.setsockopt(zmq.SNDHWM, 0)
        port = sender.bind_to_random_port("tcp://127.0.0.1")
        senders.append(sender)
        readers.append(TimestampStream(channel, f"tcp://127.0.0.1:{port}"))
        times = np.cumsum(rng.integers(1, 200_000, STREAM_TAGS_PER_CHANNEL), dtype=np.int64)
        frames.append([encode_stream(times[i:i + STREAM_FRAME_TAGS])
                       for i in range(0, times.size, STREAM_FRAME_TAGS)])
    for sender, channel_frames in zip(senders, frames, strict=True):
        for frame in channel_frames:
            sender.send(frame, copy=False)
        sender.send(b"")              # the empty frame that ends a stream
    start = time.perf_counter()
    streams = {reader.channel: reader.read_to_end(30.0, "bench") for reader in readers}
    merge_channels(streams)
    wall = time.perf_counter() - start
    for sender, reader in zip(senders, readers, strict=True):
        reader.close()
        sender.close(linger=0)
    return wall


def main() -> None:
    with station_module.load() as station:
        start = time.perf_counter()
        bring_up(station, AttemptDesign())
        report("virtual_lab_bring_up", time.perf_counter() - start, "s")

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
        wall = time.perf_counter() - start
        report("timetag_recording_unfiltered_simulated_per_wall", STREAM_SECONDS / wall,
               "simulated s per wall s")
        report("timetag_recording_unfiltered_through_zmq", len(channels) / wall, "tags/s")
    wall = stream_through_zmq()
    tags = STREAM_TAGS_PER_CHANNEL * STREAM_CHANNELS
    report("timetag_stream_through_zmq", tags / wall, "tags/s")
    report("timetag_stream_through_zmq_bytes", tags * 8 / wall / 1e6, "MB/s")


if __name__ == "__main__":
    main()
