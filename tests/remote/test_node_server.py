"""One ``labctl node serve`` process (node A on its own virtual lab), probed over zmq.

Raw DEALER sockets send what a broken or hostile client might; proxies (a
station file with ``remote:`` instruments) check what an orchestrator sees.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
import zmq

from labctl import station as station_module
from labctl.errors import StationError
from labctl.remote.address import RemoteSpec
from labctl.remote.errors import CallRefused, RemoteInvalidValue
from labctl.remote.nodes import RemoteNodes
from labctl.remote.protocol import request
from tests.remote.conftest import STATIONS, Processes

SESSION = "0123456789abcdef"
NODE_A = ("node_a_laser", "node_a_awg", "node_a_mw", "node_a_converter")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """Node A on its own virtual lab: 1 MB message limit, 1 s heartbeat timeout."""
    folder = tmp_path_factory.mktemp("node")
    (folder / "runtime").mkdir()
    env = {**os.environ, "LABCTL_RUNTIME_DIR": str(folder / "runtime"),
           "PYTHONUNBUFFERED": "1"}
    processes = Processes(folder, env)
    served = processes.start("node_a", "node", "serve", "--station",
                             str(STATIONS / "node_a.yaml"), "--bind", "tcp://127.0.0.1:*",
                             "--max-message-mb", "1", "--heartbeat-timeout", "1")
    yield served
    processes.stop_all()


class Raw:
    """A bare DEALER socket: sends exactly the frames it is given."""

    def __init__(self, endpoint: str) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(endpoint)

    def exchange(self, frames: list[bytes]) -> dict:
        self.socket.send_multipart(frames)
        assert self.socket.poll(10_000), "no reply (safety net)"
        return json.loads(self.socket.recv_multipart()[0])

    def ask(self, op: str, frames=(), request_id: int = 1, **fields) -> dict:
        return self.exchange(request(request_id, SESSION, op, frames, **fields))

    def close(self) -> None:
        self.socket.close()
        self.context.term()


@pytest.fixture
def raw(node):
    client = Raw(node.endpoint)
    yield client
    client.close()


def proxies(tmp_path, endpoint: str):
    """A station of node A's instruments as proxies of the served ones."""
    lines = ["instruments:"]
    lines += [f"  {name}: {{remote: '{endpoint}', node: node_a, role: r{i}}}"
              for i, name in enumerate(NODE_A)]
    lines += ["profiles:", "  sim: {}"]
    path = tmp_path / "orchestrator.yaml"
    path.write_text("\n".join(lines) + "\n")
    return station_module.load(path, "sim")


def idn_is_served(raw: Raw) -> None:
    reply = raw.ask("get", request_id=99, instrument="node_a_laser", path="IDN")
    assert reply["ok"] and reply["id"] == 99 and reply["result"]["model"], reply


def header(**fields) -> bytes:
    return json.dumps({"v": 1, "id": 5, "session": SESSION, **fields}).encode()


@pytest.mark.parametrize("frames, kind, message", [
    ([b"\x00\xff garbage"], "malformed", "not UTF-8 JSON"),
    ([b"[1, 2, 3]"], "malformed", "not a JSON object"),
    ([header(v=7, op="hello")], "malformed", "protocol version"),
    ([header(op="exec", code="import os")], "malformed", "unknown operation"),
    ([header(op="get", instrument="node_a_laser", path=["power"])], "malformed", "wrong type"),
    ([header(op="set", instrument="node_a_laser", path="power",
             value={"__ndarray__": 0, "dtype": "<f8", "shape": [4]})], "malformed",
     "frame 0 is missing"),
    ([header(op="set", instrument="node_a_laser", path="power",
             value={"__pickle__": "gASVCAAAAAAAAACMBHRlc3SULg=="})], "malformed",
     "unknown or malformed tag"),
    ([header(op="call", instrument="node_a_awg", path="upload_waveform",
             args=["w", {"__ndarray__": 0, "dtype": "|O", "shape": [1]}]), b"\0" * 8],
     "malformed", "not allowed"),
    ([header(op="hello"), b"\0" * (1024 * 1024 + 1)], "too_large", "exceeds the node's limit"),
])
def test_malformed_and_oversized_messages_get_an_error_reply_and_the_node_serves_on(
        raw, frames, kind, message):
    reply = raw.exchange(frames)
    assert reply["ok"] is False, reply
    assert reply["error"]["kind"] == kind and message in reply["error"]["message"], reply
    idn_is_served(raw)


def test_a_message_beyond_the_hard_limit_drops_that_connection_not_the_node(node, raw):
    raw.socket.send_multipart([header(op="hello"), b"\0" * (4 * 1024 * 1024)])
    fresh = Raw(node.endpoint)
    try:
        idn_is_served(fresh)
    finally:
        fresh.close()


@pytest.mark.parametrize("op, fields", [
    ("call", {"instrument": "node_a_awg", "path": "write", "args": ["*RST"]}),
    ("call", {"instrument": "node_a_awg", "path": "ask", "args": ["*IDN?"]}),
    ("call", {"instrument": "node_a_awg", "path": "close"}),
    ("call", {"instrument": "node_a_awg", "path": "ch1.write", "args": ["OUTP1 ON"]}),
    ("call", {"instrument": "node_a_awg", "path": "_write_element"}),
    ("call", {"instrument": "node_a_awg", "path": "visa_handle.write", "args": ["*RST"]}),
    ("call", {"instrument": "node_a_laser", "path": "get_idn"}),
    ("get", {"instrument": "node_a_laser", "path": "visa_handle"}),
    ("get", {"instrument": "node_a_laser", "path": "no_such_parameter"}),
    ("set", {"instrument": "node_a_laser", "path": "power_actual", "value": 1.0}),
    ("describe", {"instrument": "some_other_pc_laser"}),
])
def test_only_the_allow_list_is_callable(node, raw, op, fields):
    reply = raw.ask(op, **fields)
    assert reply["ok"] is False and reply["error"]["kind"] == "refused", reply
    idn_is_served(raw)
    if op != "describe":
        assert f"refused {op} {fields['path']}" in node.log_text()


def test_proxies_mirror_parameters_submodules_methods_and_snapshot(node, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(tmp_path))   # a local lab to compare with
    with station_module.load(STATIONS / "node_a.yaml", "sim") as local:
        expected = {name: (described(local.components[name]),
                           set(local.components[name].snapshot(update=True)["parameters"]),
                           local.components[name].snapshot()["__class__"])
                    for name in NODE_A}
    with proxies(tmp_path, node.endpoint) as remote:
        for name in NODE_A:
            proxy = remote.components[name]
            snapshot = proxy.snapshot(update=True)
            assert (described(proxy), set(snapshot["parameters"]),
                    snapshot["__class__"]) == expected[name], name
            assert snapshot["remote"] == node.endpoint
        awg = remote.components["node_a_awg"]
        assert awg.channel(2) is awg.ch2 and [ch.channel for ch in awg.channels] == [1, 2, 3, 4]
        assert awg.n_channels == 4 and callable(awg.upload_waveform)
        assert not hasattr(awg, "write_element") and not hasattr(awg, "_write_element")
        awg.ch2.amplitude(1.5)
        assert awg.channel(2).amplitude() == 1.5


def described(instrument) -> dict:
    """name -> (label, unit, validator) of every parameter, through every submodule."""
    found = {}

    def walk(module, prefix):
        for name, parameter in module.parameters.items():
            found[prefix + name] = (parameter.label, parameter.unit, same_order(parameter.vals))
        for name, sub in module.submodules.items():
            if hasattr(sub, "parameters"):
                walk(sub, f"{prefix}{name}.")
    walk(instrument, "")
    return found


def same_order(validator) -> str:
    """A validator's description with Enum members sorted (set order varies per process)."""
    text = repr(validator)
    match = re.fullmatch(r"<Enum: \{(.*)\}>", text)
    return f"<Enum: {sorted(match.group(1).split(', '))}>" if match else text


def test_the_nodes_validators_refuse_bad_values(node, tmp_path):
    with proxies(tmp_path, node.endpoint) as remote:
        laser = remote.components["node_a_laser"]
        before = laser.power()
        with pytest.raises(ValueError, match="power") as caught:
            laser.power(10.0)
        assert isinstance(caught.value, RemoteInvalidValue)
        assert laser.power() == before
        with pytest.raises(CallRefused, match="raw commands"):
            laser.write("POW 10")


def test_an_armed_node_lets_a_second_orchestrator_read_but_not_write_or_arm(node):
    first, second = RemoteNodes(), RemoteNodes()
    try:
        one = first.client(RemoteSpec(node.endpoint))
        two = second.client(RemoteSpec(node.endpoint))
        one.request("arm", run_id=41)
        power, _ = two.request("get", instrument="node_a_laser", path="power")
        with pytest.raises(CallRefused, match="armed for run 41"):
            two.request("set", instrument="node_a_laser", path="power", value=power)
        with pytest.raises(CallRefused, match="busy"):
            two.request("arm", run_id=42)
        one.request("disarm", run_id=41)
        two.request("set", instrument="node_a_laser", path="power", value=power)
    finally:
        first.close()
        second.close()


def test_a_client_that_changed_something_and_fell_silent_makes_the_node_safe(node, raw,
                                                                             tmp_path):
    with proxies(tmp_path, node.endpoint) as remote:
        laser = remote.components["node_a_laser"]
        before = len(_status(node)["safe_states"])
        reply = raw.ask("set", instrument="node_a_laser", path="output", value=True)
        assert reply["ok"], reply
        assert laser.output() is True
        deadline = time.monotonic() + 30        # safety net; the node's timeout is 1 s
        while len(_status(node)["safe_states"]) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        entry = _status(node)["safe_states"][-1]
        assert entry["ok"] and "no heartbeat for 1 s" in entry["reason"]
        assert laser.output() is False
    reply = raw.ask("get", instrument="node_a_laser", path="power")
    assert reply["error"]["kind"] == "expired", reply


def _status(node) -> dict:
    nodes = RemoteNodes()
    try:
        status, _ = nodes.client(RemoteSpec(node.endpoint)).request("status")
        return status
    finally:
        nodes.close()


def test_a_remote_instrument_the_node_does_not_serve_is_a_station_error(node, tmp_path):
    path = tmp_path / "station.yaml"
    path.write_text(f"instruments:\n  node_c_laser: {{remote: '{node.endpoint}'}}\n"
                    "profiles:\n  sim: {}\n")
    with pytest.raises(StationError, match="serves no instrument 'node_c_laser'") as caught:
        station_module.load(path, "sim")
    assert caught.value.instrument == "node_c_laser" and caught.value.key == "remote"


def test_a_declared_type_must_match_what_the_node_serves(node, tmp_path):
    path = tmp_path / "station.yaml"
    path.write_text(f"instruments:\n  node_a_laser: {{remote: '{node.endpoint}', "
                    "type: drivers.santec_tsl570.SantecTSL570}\nprofiles:\n  sim: {}\n")
    message = re.escape("serves a drivers.newfocus_tlb6700")
    with pytest.raises(StationError, match=message) as caught:
        station_module.load(path, "sim")
    assert caught.value.key == "type"


@pytest.mark.parametrize("seconds", [1e308, -1.0, 86400.0 * 2])
def test_a_clock_request_beyond_a_day_or_negative_is_refused(node, raw, seconds):
    """`labctl.simulation.MAX_CLOCK_REQUEST_S`: at most a day per ``clock sleep``."""
    session = f"{abs(hash(seconds)) % 16**16:016x}"   # a fresh session, of its own

    def ask(request_id: int, **fields) -> dict:
        return raw.exchange(request(request_id, session, "clock", (), **fields))

    before = ask(7, action="now")
    assert before["ok"] and isinstance(before["result"], float), before
    reply = ask(8, action="sleep", seconds=seconds)
    assert reply["ok"] is False and "cannot sleep" in reply["error"]["message"], reply
    assert ask(9, action="now")["result"] == before["result"]
