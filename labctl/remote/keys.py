"""CurveZMQ keys: make a lab's key set, load it, and refuse clients that are not authorised.

``labctl keys generate DIR`` writes, with ``zmq.auth``::

    DIR/server.key, DIR/server.key_secret      the node's key pair
    DIR/client.key, DIR/client.key_secret      the orchestrator's key pair
    DIR/authorized_clients/client.key          public keys a node accepts

A node (``labctl node serve --keys DIR``) needs ``server.key_secret`` and
``authorized_clients/``; an orchestrator (``remote: {address: .., keys: DIR}``)
needs ``client.key_secret`` and the node's public ``server.key``. Secret
files are written readable by their owner only. To admit another PC, copy
its public ``client.key`` (under any name ending in ``.key``) into a node's
``authorized_clients/`` and restart the node.

A node checks every connecting client's public key through a ZAP handler
(`zmq.auth.thread.ThreadAuthenticator`); a key that is not in
``authorized_clients/`` is refused and logged with the key.
"""

from __future__ import annotations

import logging
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from labctl.errors import LabctlError

log = logging.getLogger(__name__)

AUTHORIZED = "authorized_clients"


@dataclass(frozen=True)
class ServerKeys:
    """A node's key pair and the public keys of the orchestrators it accepts (z85)."""

    public: bytes
    secret: bytes
    authorized: frozenset[bytes]
    directory: Path

    @classmethod
    def load(cls, directory: str | Path) -> ServerKeys:
        folder = Path(directory)
        public, secret = _pair(folder / "server.key_secret")
        authorized_dir = folder / AUTHORIZED
        if not authorized_dir.is_dir():
            raise LabctlError(f"keys folder {str(folder)!r} has no {AUTHORIZED}/ folder "
                              "(make one with 'labctl keys generate DIR')")
        try:
            authorized = frozenset(zmq.auth.load_certificates(authorized_dir))
        except (OSError, ValueError) as error:
            raise LabctlError(f"cannot read {authorized_dir}: {error}") from None
        if not authorized:
            log.warning("%s holds no keys: every client will be refused", authorized_dir)
        return cls(public, secret, authorized, folder)


@dataclass(frozen=True)
class ClientKeys:
    """An orchestrator's key pair and the public key of the node it talks to (z85)."""

    public: bytes
    secret: bytes
    server_public: bytes

    @classmethod
    def load(cls, directory: str | Path) -> ClientKeys:
        folder = Path(directory)
        public, secret = _pair(folder / "client.key_secret")
        try:
            server_public, _ = zmq.auth.load_certificate(folder / "server.key")
        except (OSError, ValueError) as error:
            raise LabctlError(f"cannot read the node's public key {folder / 'server.key'}: "
                              f"{error}") from None
        return cls(public, secret, server_public)


def generate(directory: str | Path) -> list[Path]:
    """Write a server and a client key pair and authorise the client; never overwrites."""
    folder = Path(directory)
    targets = [folder / name for name in ("server.key", "server.key_secret", "client.key",
                                          "client.key_secret")]
    existing = [str(path) for path in [*targets, folder / AUTHORIZED / "client.key"]
                if path.exists()]
    if existing:
        raise LabctlError(f"{existing[0]} already exists; keys are never overwritten "
                          "(choose a new folder)")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("server", "client"):
        zmq.auth.create_certificates(folder, name)
    for path in targets:
        if path.name.endswith("_secret"):
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    (folder / AUTHORIZED).mkdir(exist_ok=True)
    authorised = folder / AUTHORIZED / "client.key"
    shutil.copyfile(folder / "client.key", authorised)
    return [*targets, authorised]


def use_as_server(socket: zmq.Socket[bytes], keys: ServerKeys) -> None:
    """Make ``socket`` a CURVE server (call before bind)."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_server = True


def use_as_client(socket: zmq.Socket[bytes], keys: ClientKeys) -> None:
    """Make ``socket`` a CURVE client of the node whose public key ``keys`` holds."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_serverkey = keys.server_public


class AuthorisedKeys:
    """ZAP credentials check: the client's key must be one of ``authorized``; log refusals."""

    def __init__(self, authorized: frozenset[bytes]) -> None:
        self.authorized = authorized

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self.authorized:
            log.info("authorised client key %s", key.decode("ascii", "replace"))
            return True
        log.warning("refused a client whose CURVE key is not authorised: %s",
                    key.decode("ascii", "replace"))
        return False


def start_authenticator(context: zmq.Context[zmq.Socket[bytes]],
                        keys: ServerKeys) -> ThreadAuthenticator:
    """Start the ZAP handler of ``context`` checking clients against ``keys.authorized``."""
    authenticator = ThreadAuthenticator(context, log=logging.getLogger(f"{__name__}.zap"))
    authenticator.start()
    authenticator.configure_curve_callback("*", credentials_provider=AuthorisedKeys(
        keys.authorized))
    return authenticator


def _pair(secret_file: Path) -> tuple[bytes, bytes]:
    if not secret_file.is_file():
        raise LabctlError(f"{secret_file} not found (make a key set with "
                          "'labctl keys generate DIR')")
    if secret_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by others; restrict it to its owner (chmod 600)",
                    secret_file)
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as error:
        raise LabctlError(f"cannot read key pair {secret_file}: {error}") from None
    if secret is None:
        raise LabctlError(f"{secret_file} holds no secret key")
    return public, secret
