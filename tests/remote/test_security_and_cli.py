"""CurveZMQ keys, who may call a node, and the commands' one-line refusals."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import time

import pytest
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from labctl.errors import RemoteError
from labctl.remote.address import RemoteSpec
from labctl.remote.errors import AuthenticationRefused
from labctl.remote.heralds_bus import HeraldPublisher, HeraldSubscriber
from labctl.remote.keys import ClientKeys, ServerKeys, start_authenticator
from labctl.remote.nodes import RemoteNodes
from tests.remote.conftest import REPO, STATIONS

NODE_A = str(STATIONS / "node_a.yaml")


def labctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_keys_generate_writes_both_pairs_private_secrets_and_never_overwrites(tmp_path):
    folder = tmp_path / "keys"
    result = labctl("keys", "generate", str(folder))
    assert result.returncode == 0, result.stderr
    for name in ("server.key", "server.key_secret", "client.key", "client.key_secret",
                 "authorized_clients/client.key"):
        assert (folder / name).is_file(), name
    for name in ("server.key_secret", "client.key_secret"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    client_public, _ = zmq.auth.load_certificate(folder / "client.key")
    assert client_public in zmq.auth.load_certificates(folder / "authorized_clients")
    again = labctl("keys", "generate", str(folder))
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert again.stderr.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (("--bind", "tcp://0.0.0.0:5999"), "needs CURVE keys"),
    (("--bind", "tcp://10.0.1.10:5999"), "needs CURVE keys"),
    (("--herald-bus", "tcp://0.0.0.0:5998"), "needs CURVE keys"),
    (("--bind", "udp://127.0.0.1:5999"), "not an address of the form tcp://HOST:PORT"),
    (("--bind", "tcp://127.0.0.1:99999"), "not within 1..65535"),
    (("--heartbeat-timeout", "0"), "heartbeat timeout must be a positive"),
    (("--keys", "/no/such/keys"), "server.key_secret not found"),
    (("--max-message-mb", "-1"), "--max-message-mb must be positive"),
])
def test_node_serve_refuses_bad_options_in_one_line_before_serving(args, message):
    result = labctl("node", "serve", "--station", NODE_A, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_node_serve_without_a_station_file_is_refused():
    result = labctl("node", "serve", "--station", "no/such.yaml")
    assert result.returncode == 2 and "station file not found" in result.stderr


@pytest.fixture
def keys(tmp_path):
    """The lab's key set, and an intruder's client pair that knows the node's public key."""
    lab, intruder = tmp_path / "lab", tmp_path / "intruder"
    for folder in (lab, intruder):
        assert labctl("keys", "generate", str(folder)).returncode == 0
    shutil.copyfile(lab / "server.key", intruder / "server.key")
    return lab, intruder


def test_curve_node_serves_authorised_keys_and_refuses_and_logs_others(processes, keys):
    lab, intruder = keys
    node = processes.start("node_a", "node", "serve", "--station", NODE_A, "--bind",
                           "tcp://127.0.0.1:*", "--keys", str(lab))
    assert node.info["curve"] is True
    nodes = RemoteNodes()
    try:
        client = nodes.client(RemoteSpec(node.endpoint, lab))
        idn, _ = client.request("get", instrument="node_a_laser", path="IDN")
        assert idn["model"]
        with pytest.raises(AuthenticationRefused, match="refused this PC's CURVE key"):
            nodes.client(RemoteSpec(node.endpoint, intruder))
        with pytest.raises(RemoteError, match="no labctl node answers"):   # no CURVE at all
            nodes.client(RemoteSpec(node.endpoint), connect_timeout=1.0)
    finally:
        nodes.close()
    intruder_key, _ = zmq.auth.load_certificate(intruder / "client.key")
    log = node.log_text()
    assert f"refused a client whose CURVE key is not authorised: {intruder_key.decode()}" in log
    assert node.process.poll() is None      # still serving


def test_node_status_reports_what_a_node_serves(processes):
    node = processes.start("node_a", "node", "serve", "--station", NODE_A, "--bind",
                           "tcp://127.0.0.1:*")
    result = subprocess.run([sys.executable, "-m", "labctl.cli", "node", "status",
                             node.endpoint], cwd=REPO, env=processes.env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "node_a_laser, node_a_awg, node_a_mw, node_a_converter" in result.stdout
    assert "run: none" in result.stdout and "clock virtual" in result.stdout
    silent = labctl("node", "status", "tcp://127.0.0.1:9", "--timeout", "0.5")
    assert silent.returncode == 2 and "no labctl node answers" in silent.stderr


def test_the_herald_bus_is_encrypted_for_authorised_nodes_and_refuses_others(keys):
    lab, intruder = keys
    publishing, subscribing = zmq.Context(), zmq.Context()
    authenticator = start_authenticator(publishing, ServerKeys.load(lab))
    publisher = HeraldPublisher(publishing, "tcp://127.0.0.1:*", ServerKeys.load(lab))
    node = HeraldSubscriber(subscribing, publisher.endpoint, ClientKeys.load(lab))
    stranger = HeraldSubscriber(subscribing, publisher.endpoint, ClientKeys.load(intruder))
    refusals = stranger.socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
    try:
        deadline = time.monotonic() + 30          # safety net for the subscription to start
        event = None
        while event is None and time.monotonic() < deadline:
            publisher.publish(7, "+", 123_456)
            event = node.receive(timeout=0.05)
        assert event is not None and (event.attempt, event.pattern) == (7, "+")
        assert refusals.poll(30_000), "the unauthorised subscriber was not refused"
        assert recv_monitor_message(refusals)["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        assert stranger.stats.received == 0
    finally:
        stranger.socket.disable_monitor()
        refusals.close(linger=0)
        for closable in (node, stranger, publisher):
            closable.close()
        authenticator.stop()
        publishing.term()
        subscribing.term()
