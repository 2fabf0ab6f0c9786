"""Single Quantum's own WebSQControl, replayed against the Eos emulator, step by step.

WebSQControl (MIT, Single Quantum B.V.; kept in NQCP-Phot-Git-Drivers
``photonicdrivers/SNSPDs/FilesFromManufacturer/WebSQControl.py``, and the
base of QCoDeS-contrib's ``SingleQuantum`` driver) is not on PyPI, so its
wire behaviour is replayed by an independent client written here: it sends
JSON objects without terminator, splits what it receives at ``\\x17`` and
then at ``}{`` (as ``SQTalk.sub_jsons`` does), keeps each label's
properties when the value is an object and updates only the value when a
broadcast carries a plain value, and reads the counts port line by line,
first field a timestamp. The steps follow its ``__main__`` example and
``SNSPD_SQ_Driver``'s use: connect, number of detectors, measurement period,
enable, bias currents, trigger levels, counts, read-backs, bias voltage.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from sim_instruments.emulators.single_quantum_eos import SingleQuantumEosEmulator
from sim_instruments.emulators.single_quantum_eos_server import EosServer
from sim_instruments.world_state import SnspdChannelState, VirtualClock


class WebSQReplay:
    """Talks to the control and counts ports the way WebSQControl does."""

    def __init__(self, port: int, counts_port: int) -> None:
        self.talk = socket.create_connection(("127.0.0.1", port), 5.0)
        self.counts = socket.create_connection(("127.0.0.1", counts_port), 5.0)
        self.label_props: dict[str, Any] = {}
        self.errors: list[Any] = []
        self._pending = ""

    def close(self) -> None:
        self.talk.close()
        self.counts.close()

    def send(self, **message: Any) -> None:
        self.talk.send(json.dumps(message).encode())

    @staticmethod
    def sub_jsons(text: str) -> list[str]:
        parts = text.split("}{")
        if len(parts) == 1:
            return parts
        return [parts[0] + "}", *("{" + p + "}" for p in parts[1:-1]), "{" + parts[-1]]

    def pump(self, until: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                return False
            self.talk.settimeout(0.1)
            try:
                self._pending += self.talk.recv(1 << 20).decode()
            except TimeoutError:
                continue
            *frames, self._pending = self._pending.split("\x17")
            for frame in frames:
                for text in self.sub_jsons(frame):
                    data = json.loads(text)
                    if "label" not in data:
                        continue
                    if isinstance(data["value"], dict):
                        self.label_props[data["label"]] = data["value"]
                    elif data["label"] in self.label_props:
                        self.label_props[data["label"]]["value"] = data["value"]
                    if "Error" in data["label"]:
                        self.errors.append(data["value"])
        return True

    def get_label(self, label: str) -> Any:
        if label not in self.label_props:
            self.send(request="labelProps", value="None")
        assert self.pump(lambda: label in self.label_props)
        return self.label_props[label]["value"]

    def settled(self, label: str, expected: Any) -> bool:
        return self.pump(lambda: self.label_props.get(label, {}).get("value") == expected)

    def acquire_cnts(self, n: int) -> list[list[float]]:
        lines: list[list[float]] = []
        buffer = ""
        self.counts.settimeout(5.0)
        while len(lines) < n + 1:
            buffer += self.counts.recv(1 << 16).decode()
            *complete, buffer = buffer.split("\n")
            lines.extend([float(v) for v in line.split(",")] for line in complete)
        return lines[-n:]


@pytest.fixture
def served() -> Iterator[tuple[list[SnspdChannelState], EosServer]]:
    channels = [SnspdChannelState() for _ in range(4)]
    emulator = SingleQuantumEosEmulator(channels, lambda i: 1000.0 * (i + 1), VirtualClock(),
                                        np.random.default_rng(11))
    server = EosServer("eos", emulator, threading.RLock(), lambda: None)
    server.start()
    yield channels, server
    server.stop()


def test_websqcontrol_sequence_runs_on_the_emulator(served):
    channels, server = served
    client = WebSQReplay(server.port, server.counts_port)
    results: dict[str, bool] = {}

    def step(name: str, check: Callable[[], bool]) -> None:
        try:
            results[name] = bool(check())
        except Exception:  # noqa: BLE001 - a failed step is counted, not fatal
            results[name] = False

    try:
        client.send(request="labelProps", value="None")  # SQTalk.run's first message
        step("number_of_detectors", lambda: client.get_label("NumberOfDetectors") == 4)
        step("initial_period", lambda: client.get_label("InptMeasurementPeriod") == 100)
        client.send(command="SetMeasurementPeriod", label="InptMeasurementPeriod", value=20)
        step("set_period", lambda: client.settled("InptMeasurementPeriod", 20))
        client.send(command="DetectorEnable", label="DetectorEnable", value=True)
        step("enable", lambda: client.settled("DetectorEnable", True)
             and all(c.enabled for c in channels))
        currents = [12.0, 8.0, 3.0, 8.0]
        client.send(command="SetAllBiasCurrents", label="BiasCurrent", value=currents)
        step("set_bias", lambda: client.settled("BiasCurrent", currents))
        step("bias_reached_wires", lambda: [round(c.bias_a * 1e6, 3) for c in channels]
             == currents)
        levels = [23.0, 24.0, 25.0, 26.0]
        client.send(command="SetAllTriggerLevels", label="TriggerLevel", value=levels)
        step("set_trigger", lambda: client.settled("TriggerLevel", levels))
        counts = client.acquire_cnts(3)
        step("counts_rows", lambda: len(counts) == 3 and all(len(r) == 5 for r in counts))
        means = [20.0, 40.0, 60.0, 80.0]   # clicks per period: Poisson, within 5 sqrt(mean)
        step("counts_values", lambda: all(
            value == int(value) and abs(value - mean) <= 5 * mean ** 0.5
            for r in counts for value, mean in zip(r[1:], means, strict=True)))
        client.label_props.clear()
        step("read_back_period", lambda: client.get_label("InptMeasurementPeriod") == 20)
        step("read_back_bias", lambda: client.get_label("BiasCurrent") == currents)
        step("read_back_trigger", lambda: client.get_label("TriggerLevel") == levels)
        client.send(request="BiasVoltage")
        step("bias_voltage", lambda: client.pump(
            lambda: isinstance(client.label_props.get("BiasVoltage", {}).get("value"), list)
            and client.label_props["BiasVoltage"]["value"][0] > 0))
        client.send(command="SetAllBiasCurrents", label="BiasCurrent", value=[1.0])
        step("bad_length_reports_error", lambda: client.pump(lambda: bool(client.errors)))
        step("bad_length_changed_nothing", lambda: client.get_label("BiasCurrent") == currents)
        client.send(command="DetectorEnable", label="DetectorEnable", value=False)
        step("disable", lambda: client.settled("DetectorEnable", False)
             and not any(c.enabled for c in channels))
    finally:
        client.close()
    passed = sum(results.values())
    print(f"WebSQControl replay: {passed}/{len(results)} steps passed")
    assert len(results) >= 15
    assert passed / len(results) >= 0.95, {k: v for k, v in results.items() if not v}
