"""The ID1000 over zmq in the virtual lab: IDQ's example sequences and every transport fault.

An independent pyzmq client (a REQ socket to the unit, one to the DataLink
Target stand-in, PAIR sockets for the streams, as IDQ's examples in
"TDC_ID1000/Examples/Python" use them) replays the examples' command
sequences — histogram acquisition, counters, streamed timestamps — and counts
the steps that answer as the examples expect (at least 95 % must). Then
each transport fault on the zmq socket ends in a `DriverError` with its
reason, and the next call works.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable

import numpy as np
import pytest
import zmq

from labctl import station as station_module
from labctl.errors import DriverError


@pytest.fixture(scope="module")
def station():
    with station_module.load() as loaded:
        yield loaded


@pytest.fixture
def lab(station):
    virtual_lab = station.simulation.lab
    yield virtual_lab
    virtual_lab.clear_faults()


class Replay:
    """IDQ's ``zmq_exec`` / ``dlt_exec`` with a count of steps that answered as expected."""

    def __init__(self, unit: str, datalink: str) -> None:
        context = zmq.Context.instance()
        self.tc = context.socket(zmq.REQ)
        self.tc.connect(unit)
        self.dlt = context.socket(zmq.REQ)
        self.dlt.connect(datalink)
        for sock in (self.tc, self.dlt):
            sock.setsockopt(zmq.RCVTIMEO, 5000)
            sock.setsockopt(zmq.LINGER, 0)
        self.passed: list[str] = []
        self.failed: list[str] = []

    def step(self, command: str, ok: Callable[[str], bool] = lambda a: "SCPI_ERR_" not in a
             ) -> str:
        self.tc.send_string(command)
        answer = self.tc.recv().decode("utf-8")
        (self.passed if ok(answer) else self.failed).append(f"{command} -> {answer[:60]}")
        return answer

    def dlt_step(self, command: str) -> object:
        self.dlt.send_string(command)
        answer = json.loads(self.dlt.recv().decode("utf-8"))
        good = not (isinstance(answer, dict) and "error" in answer)
        (self.passed if good else self.failed).append(f"{command} -> {answer}")
        return answer

    def close(self) -> None:
        self.tc.close()
        self.dlt.close()


@pytest.fixture
def replay(station):
    tagger = station.instrument("time_tagger", "heralding")
    client = Replay(tagger.address, tagger.data_link_address)
    yield client
    client.close()


def _is_int(answer: str) -> bool:
    return answer.strip().isdigit()


def test_idq_example_sequences_answer_as_the_examples_expect(station, replay):
    clock = station.clock
    r = replay
    # connection and device (utils/common.py, inputs status)
    r.step("*IDN?", lambda a: "ID1000" in a)
    r.step("DEVI:RES:BWID?", _is_int)
    r.step("DEVIce:RESolution?", lambda a: a == "HIRES")
    # inputs set up as in the examples' one-line compound form
    for n in (1, 2, 3):
        r.step(f"INPU{n}:ENAB ON;THRE -0.4V;EDGE RISING;COUP DC")
        r.step(f"INPU{n}:THRE?", lambda a: float(a.replace("V", "")) == -0.4)
    # histogram acquisition (Histogram_acquisition)
    r.step("REC:TRIG:ARM:MODE MANUal")
    r.step("REC:ENABle ON")
    r.step("REC:STOP")
    r.step("REC:NUM 1")
    r.step(f"REC:DURation {0.01 * 1e12}")
    r.step("HIST1:BCOUnt 64", lambda a: a.upper() == "VALUE SET TO 64")
    r.step("HIST1:BWID 100", lambda a: a.upper() == "VALUE SET TO 100")
    r.step("HIST1:FLUSh")
    r.step("HIST1:REF:LINK INPU3;:HIST1:STOP:LINK INPU1")
    r.step("REC:PLAY")
    r.step("REC:STAGe?", lambda a: a.upper() == "PLAYING")
    clock.sleep(0.02)
    r.step("REC:STAGe?", lambda a: a.upper() != "PLAYING")
    r.step("HIST1:DATA?", lambda a: len(ast.literal_eval(a)) == 64)
    # filtered histogram (Histogram_acquisition_filtred)
    r.step("TSCO7:WIND:ENAB ON;:TSCO7:FIR:LINK DELA2")
    r.step("TSCO7:WIND:BEGI:LINK DELA3;DELAY 100000;EDGE RISING")
    r.step("TSCO7:WIND:END:LINK DELA3;DELAY 600000;EDGE RISING")
    r.step("TSCO7:OPIN ONLYFIR;:TSCO7:OPOUt MUTE")
    r.step("TSCO7:WIND:END:DELA?", lambda a: a.removesuffix("TB") == "600000")
    r.step("TSCO7:WIND:ENAB OFF")
    # coincidence counters (Coincidence_counters_acquisition)
    r.step("DEVI:CONFI:LOAD COUNT")
    delay = int(r.step("DELA2:VALU?", lambda a: a.endswith("TB")).removesuffix("TB"))
    r.step(f"DELA6:VALU {delay + 1000}", lambda a: "SCPI_ERR_" in a)  # 4 inputs here
    for block in ("TSCO6", "TSCO3", "TSCO24"):
        r.step(f"{block}:WIND:BEGI:DELA 500")
        r.step(f"{block}:COUN:MODE CYCL;INTE 1000;RESEt")
    r.step("INPU1:COUN:MODE CYCL;INTE 1000;RESEt")
    answer = r.step("STARt:COUNter?;:INPU1:COUNter?;:INPU2:COUNter?;:TSCO6:COUNter?",
                    lambda a: len(a.splitlines()) == 4 and all(map(_is_int, a.splitlines())))
    assert len(answer.splitlines()) == 4
    # streamed timestamps through the DLT (Timestamp_acquisition_stream)
    r.dlt_step("list")
    context = zmq.Context.instance()
    streams, ids = {}, {}
    for channel in (1, 3):
        r.step(f"RAW{channel}:REF:LINK NONE")
        r.step(f"RAW{channel}:STOP:LINK INPU{channel}")
        r.step(f"RAW{channel}:ERRORS:CLEAR")
        port = _free_port()
        pair = context.socket(zmq.PAIR)
        pair.setsockopt(zmq.LINGER, 0)
        pair.connect(f"tcp://localhost:{port}")
        streams[channel] = pair
        answer = r.dlt_step(f"start-stream --channel {channel} --address 127.0.0.1 "
                            f"--stream-port {port}")
        ids[channel] = answer["id"]
        r.step(f"RAW{channel}:SEND ON")
    r.step(f"REC:DURation {int(0.01 * 1e12)}")
    r.step("REC:PLAY")
    clock.sleep(0.02)
    r.step("REC:NUMber?", _is_int)
    r.step("REC:STAGe?", lambda a: a.upper() != "PLAYING")
    received = {}
    for channel, pair in streams.items():
        status = r.dlt_step(f"status --id {ids[channel]}")
        assert status["acquisitions_count"] >= 1
        stopped = r.dlt_step(f"stop --id {ids[channel]}")
        assert stopped["status"]["acquisitions_count"] >= 1
        r.step(f"RAW{channel}:SEND OFF")
        r.step(f"RAW{channel}:ERRORS?", lambda a: int(a) == 0)
        frames = []
        while pair.poll(5000):
            frame = pair.recv()
            if len(frame) == 0:          # the end of the stream, as IDQ's client stops
                break
            frames.append(np.frombuffer(frame, dtype="<u8"))
        received[channel] = np.concatenate(frames) if frames else np.zeros(0, "<u8")
        assert received[channel].size == stopped["status"]["timestamps_count"]
        pair.close()
    for times in received.values():
        assert np.all(np.diff(times.astype(np.int64)) >= 0)
        assert times.size == 0 or int(times.max()) < 0.01 * 1e12
    r.dlt_step("list")
    total = len(r.passed) + len(r.failed)
    assert len(r.passed) / total >= 0.95, r.failed
    assert total >= 60


def test_a_datalink_error_is_a_json_error(replay):
    replay.dlt.send_string("start-stream --address 10.9.9.9 --channel 1 --stream-port 4242")
    answer = json.loads(replay.dlt.recv())
    assert "time controller" in answer["error"]["description"]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("kind, value, reason", [
    ("silent", 0.0, "no reply"),
    ("latency", 1.0, "no reply"),
    ("drop", 0.0, "dropped the connection"),
    ("garbage", 0.0, "not text"),
])
def test_every_transport_fault_ends_in_a_clear_error_then_recovery(station, lab, kind,
                                                                   value, reason):
    tagger = station.instrument("time_tagger", "heralding")
    tagger.timeout(0.3)
    try:
        lab.set_fault(tagger.name, kind, value)
        with pytest.raises(DriverError, match=reason) as caught:
            tagger.input1.threshold.get()
        assert "INPU1:THRE?" in str(caught.value)
        lab.clear_faults()
        tagger.timeout(2.0)
        assert tagger.input1.threshold() == pytest.approx(tagger.input1.threshold())
        assert tagger.IDN()["model"] == "ID1000"
    finally:
        lab.clear_faults()
        tagger.timeout(2.0)


def test_a_run_streams_tags_over_zmq(station):
    from experiments.bringup import AttemptDesign, acquire, bring_up, record_raw_streams

    bring_up(station, AttemptDesign())
    record_raw_streams(station)
    channels, timestamps = acquire(station, 0.5)
    sync = station.wiring("time_tagger", "heralding")["sync"]
    assert np.count_nonzero(channels == sync) > 1000
    assert np.all(np.diff(timestamps) >= 0)
