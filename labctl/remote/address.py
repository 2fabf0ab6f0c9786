"""Node addresses: ``tcp://host:port`` endpoints and the ``remote:`` key of a station file.

Pure parsing and checking (no zmq import), shared by the station loader
(`labctl.station`), the ``labctl node serve`` command and the clients. Every
problem is a `ValueError` with a one-line message; the caller adds the
file, instrument and key.

In a station file an instrument entry says where it is served either as a
string or, when CURVE keys are needed, as a mapping::

    remote: tcp://127.0.0.1:5551
    remote: {address: "tcp://10.0.1.10:5551", keys: ../keys/lab}

A node off this PC (any address that is not loopback) must be reached with
CURVE keys: ``keys`` is a folder made by ``labctl keys generate`` holding the
node's public key (``server.key``) and this PC's key pair
(``client.key_secret``), relative to the station file.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ENDPOINT = re.compile(r"^tcp://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\*|\d+)$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")
#: The two files a client needs in its keys folder.
CLIENT_KEY_FILES = ("server.key", "client.key_secret")
_REMOTE_KEYS = {"address", "keys"}


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``tcp://host:port`` (``port`` 0 stands for ``*``: any free port, bind only)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port if self.port else '*'}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


@dataclass(frozen=True)
class RemoteSpec:
    """Where a remote instrument is served and the CURVE keys to reach it (None: plain)."""

    address: str
    keys: Path | None = None


def parse_endpoint(text: Any, bind: bool = False) -> Endpoint:
    """Check ``tcp://host:port``; ``bind`` also allows port ``*`` and host ``*``."""
    if not isinstance(text, str):
        raise ValueError(f"an address is a string like tcp://127.0.0.1:5551, not {text!r}")
    candidate = text.strip()
    if bind and candidate.startswith("tcp://*:"):
        candidate = "tcp://0.0.0.0:" + candidate.removeprefix("tcp://*:")
    match = _ENDPOINT.match(candidate)
    if match is None:
        raise ValueError(f"{text!r} is not an address of the form tcp://HOST:PORT")
    host, port_text = match.group("host"), match.group("port")
    if port_text == "*":
        if not bind:
            raise ValueError(f"{text!r}: a node to connect to needs a port number, not '*'")
        port = 0
    else:
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ValueError(f"{text!r}: port {port} is not within 1..65535")
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"{text!r}: '{host}' is not a host name or IP address") from None
    return Endpoint(host, port)


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: reachable only from this PC."""
    bare = host.strip("[]")
    if bare.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


class BadRemote(ValueError):
    """A ``remote:`` value is unusable; ``subkey`` names the part (``address``, ``keys``)."""

    def __init__(self, message: str, subkey: str | None = None) -> None:
        super().__init__(message)
        self.subkey = subkey


def parse_remote(value: Any, base: Path) -> RemoteSpec:
    """The ``remote:`` value of an instrument entry; `BadRemote` says what is wrong.

    ``base`` is the station file's folder (relative ``keys`` folders start there).
    """
    if isinstance(value, str):
        value = {"address": value}
    if not isinstance(value, dict):
        raise BadRemote(f"must be tcp://HOST:PORT or {{address: .., keys: ..}}, not {value!r}")
    unknown = sorted(str(k) for k in value if k not in _REMOTE_KEYS)
    if unknown:
        raise BadRemote("unknown key (remote takes 'address' and 'keys')", unknown[0])
    if "address" not in value:
        raise BadRemote("missing 'address' (tcp://HOST:PORT of the node)", "address")
    try:
        endpoint = parse_endpoint(value["address"])
    except ValueError as error:
        raise BadRemote(str(error), "address") from None
    keys = value.get("keys")
    if keys is None:
        if not endpoint.is_loopback:
            raise BadRemote(f"{endpoint.url} is not on this PC: give CURVE keys (remote: "
                            "{address: .., keys: DIR}, made by 'labctl keys generate DIR')",
                            "keys")
        return RemoteSpec(endpoint.url)
    if not isinstance(keys, str) or not keys:
        raise BadRemote(f"keys must be a folder name, not {keys!r}", "keys")
    folder = Path(keys) if Path(keys).is_absolute() else base / keys
    missing = [name for name in CLIENT_KEY_FILES if not (folder / name).is_file()]
    if missing:
        raise BadRemote(f"keys folder {str(folder)!r} lacks {', '.join(missing)} "
                        "(make one with 'labctl keys generate DIR')", "keys")
    return RemoteSpec(endpoint.url, folder)
