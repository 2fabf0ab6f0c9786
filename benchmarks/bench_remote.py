"""Remote parameter gets through ``labctl node serve`` against a raw pyzmq REQ/REP round
trip measured in the same run, and the herald bus's latency.

- remote get: a proxy's ``parameter.get()`` on the orchestrator side, served by a
  ``labctl node serve`` process whose instrument is a QCoDeS ``DummyInstrument``
  (a parameter that answers from memory, so the figure is labctl's remote
  machinery: the proxy's and the node's QCoDeS parameter, the JSON codec,
  DEALER/ROUTER, the node's checks), median and p99 latency and calls/s;
- raw REQ/REP: the same kind of small JSON message bounced by a bare REP socket
  in another process — the floor any zmq round trip between two Python
  processes pays; the ratio of the medians is the goal figure (≤ 2). The two
  are measured in alternating blocks, so a busy machine weighs on both alike;
- herald bus: publish → receive latency of single events over loopback
  PUB/SUB (median, p99) and the rate of a burst.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zmq

from benchmarks.harness import report
from labctl import station as station_module
from labctl.remote.heralds_bus import HeraldPublisher, HeraldSubscriber

CALLS = 6000
WARMUP = 500
#: Remote and raw round trips alternate in blocks of this many calls, so a busy
#: machine weighs on both alike.
BLOCK = 200
STATION = """\
instruments:
  bench_dummy:
    type: qcodes.instrument_drivers.mock_instruments.DummyInstrument
    init: {gates: [ch1]}
profiles:
  bench: {}
"""


class Timer:
    """Latencies (s) and total time of one kind of call, measured block by block."""

    def __init__(self, operation: Callable[[], object]) -> None:
        self.operation = operation
        self.times: list[float] = []
        self.total = 0.0

    def block(self, calls: int) -> None:
        operation, times = self.operation, self.times
        start = time.perf_counter()
        for _ in range(calls):
            begin = time.perf_counter()
            operation()
            times.append(time.perf_counter() - begin)
        self.total += time.perf_counter() - start

    @property
    def rate(self) -> float:
        return len(self.times) / self.total


def p99(times: list[float]) -> float:
    return sorted(times)[int(0.99 * (len(times) - 1))]


def rep_server() -> None:
    """The baseline's other end: bounce every message (run as a child process)."""
    context = zmq.Context()
    socket = context.socket(zmq.REP)
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    print(port, flush=True)
    while True:
        message = socket.recv()
        if message == b"stop":
            socket.send(b"bye")
            break
        socket.send(message)
    socket.close()
    context.term()


def serve_node(folder: Path) -> tuple[subprocess.Popen[str], str]:
    """``labctl node serve`` of a station with a DummyInstrument; its endpoint."""
    station_file = folder / "bench_node.yaml"
    station_file.write_text(STATION)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    node = subprocess.Popen([sys.executable, "-m", "labctl.cli", "node", "serve", "--station",
                             str(station_file), "--profile", "bench", "--bind",
                             "tcp://127.0.0.1:*", "--json"], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert node.stdout is not None
    text = ""
    while not (line := node.stdout.readline()).startswith("}"):
        if not line:
            raise RuntimeError("labctl node serve ended before it was ready")
        text += line
    return node, json.loads(text + "}")["endpoint"]


def round_trips(folder: Path) -> tuple[Timer, Timer]:
    """Remote gets and raw REQ/REP round trips, interleaved."""
    node, endpoint = serve_node(folder)
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_remote",
                               "--rep-server"], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    context = zmq.Context()
    req = context.socket(zmq.REQ)
    req.connect(f"tcp://127.0.0.1:{port}")
    query = json.dumps({"v": 1, "id": 1, "session": "0" * 16, "op": "get",
                        "instrument": "bench_dummy", "path": "ch1"}).encode()

    def raw() -> None:
        req.send(query)
        json.loads(req.recv())

    orchestrator = folder / "bench_orchestrator.yaml"
    orchestrator.write_text(f"instruments:\n  bench_dummy: {{remote: '{endpoint}'}}\n"
                            "profiles:\n  bench: {}\n")
    try:
        with station_module.load(orchestrator, "bench") as station:
            parameter = station.components["bench_dummy"].ch1
            parameter.set(0.25)
            remote, baseline = Timer(parameter.get), Timer(raw)
            remote.block(WARMUP)
            baseline.block(WARMUP)
            remote.times.clear()
            baseline.times.clear()
            remote.total = baseline.total = 0.0
            for _ in range(CALLS // BLOCK):
                remote.block(BLOCK)
                baseline.block(BLOCK)
            return remote, baseline
    finally:
        req.send(b"stop")
        req.recv()
        req.close()
        context.term()
        server.wait(timeout=10)
        node.terminate()
        node.wait(timeout=30)


def herald_bus() -> tuple[list[float], float]:
    context = zmq.Context()
    publisher = HeraldPublisher(context, "tcp://127.0.0.1:*")
    subscriber = HeraldSubscriber(context, publisher.endpoint)
    try:
        while subscriber.receive(timeout=0.05) is None:   # wait for the subscription
            publisher.publish(0, "+", 0)
        while subscriber.receive(timeout=0.05) is not None:
            pass
        state = {"n": 0}

        def one_event() -> None:
            state["n"] += 1
            publisher.publish(state["n"], "+", state["n"] * 5_500_000)
            subscriber.receive()

        timer = Timer(one_event)
        timer.block(CALLS)
        burst = 50_000
        start = time.perf_counter()
        for n in range(burst):
            publisher.publish(n, "-", n)
        for _ in range(burst):
            subscriber.receive()
        rate = burst / (time.perf_counter() - start)
        if subscriber.stats.missed:
            raise RuntimeError(f"the herald bus dropped {subscriber.stats.missed} events")
        return timer.times, rate
    finally:
        subscriber.close()
        publisher.close()
        context.term()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        remote, raw = round_trips(Path(folder))
    bus_times, bus_rate = herald_bus()
    us = 1e6
    report("remote_get_median_latency", statistics.median(remote.times) * us, "us")
    report("remote_get_p99_latency", p99(remote.times) * us, "us")
    report("remote_get_calls_per_second", remote.rate, "calls/s")
    report("raw_reqrep_median_latency", statistics.median(raw.times) * us, "us")
    report("raw_reqrep_p99_latency", p99(raw.times) * us, "us")
    report("raw_reqrep_calls_per_second", raw.rate, "calls/s")
    report("remote_get_vs_raw_reqrep_ratio",
           statistics.median(remote.times) / statistics.median(raw.times), "x (goal <= 2)")
    report("herald_bus_median_latency", statistics.median(bus_times) * us, "us")
    report("herald_bus_p99_latency", p99(bus_times) * us, "us")
    report("herald_bus_burst_rate", bus_rate, "events/s")


if __name__ == "__main__":
    if sys.argv[1:] == ["--rep-server"]:
        rep_server()
    else:
        main()
