"""The nodes of an orchestrator's station: connecting, proxies, the clock, arming runs.

`RemoteNodes.client` opens one `NodeClient` per node address (all with one
session id) when a station with ``remote:`` instruments is loaded, and
`RemoteNodes.proxy` builds each instrument's proxy from its node's description.

Runs across nodes (`begin_run`, called by the engine with the run's id):

1. **arm** every node — each checks its instruments answer, refuses if
   another orchestrator's run is armed there, and from then on treats this
   session's lost heartbeat as a reason to put its instruments in safe
   state;
2. **go** — every node confirms; only then does the experiment start.

If a node fails to arm, the nodes already armed are disarmed and the error
propagates: the engine records the run as failed and makes every reachable
instrument safe. While the run is going, a node that is lost (its
connection dropped, it restarted, or it gave up on this orchestrator) stops
the whole run: every request to any node fails with `NodeLost` except the
safe-state calls the engine makes on its way out.
`end_run` disarms every node still reachable.

The clock: experiments wait through ``station.clock``. When the nodes run on
a simulator they report a virtual clock, and the orchestrator waits through
that clock (`RemoteClock`, on the first such node); nodes on different
virtual labs, or some virtual and some not, are refused. On wall-clock nodes
the orchestrator keeps its own wall clock.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading

import zmq

from labctl.clock import Clock
from labctl.errors import RemoteError
from labctl.remote.address import RemoteSpec
from labctl.remote.client import DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, NodeClient
from labctl.remote.errors import ProtocolError
from labctl.remote.keys import ClientKeys
from labctl.remote.proxy import RemoteInstrument

log = logging.getLogger(__name__)


class RemoteClock:
    """A node's (virtual) station clock, seen from the orchestrator."""

    def __init__(self, client: NodeClient) -> None:
        self.client = client

    def now(self) -> float:
        value, _ = self.client.request("clock", action="now")
        return float(value)

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        # a lab clock takes the time itself, a virtual one the time its lab computes
        self.client.request("clock", action="sleep", seconds=float(seconds),
                            timeout=self.client.call_timeout + float(seconds))


class RemoteNodes:
    """Clients of every node a station uses, sharing one session (module docstring)."""

    def __init__(self, call_timeout: float = DEFAULT_CALL_TIMEOUT) -> None:
        self.session = secrets.token_hex(16)
        self.call_timeout = call_timeout
        self.clients: dict[RemoteSpec, NodeClient] = {}
        self.failure: str | None = None
        self.run_id: int | None = None
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._lock = threading.Lock()

    def client(self, remote: RemoteSpec,
               connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> NodeClient:
        """The (connected) client of ``remote``'s node."""
        client = self.clients.get(remote)
        if client is None:
            keys = ClientKeys.load(remote.keys) if remote.keys is not None else None
            client = NodeClient(self._context, remote.address, self.session, keys,
                                self.call_timeout, on_lost=self._lost, abort=self._abort)
            self.clients[remote] = client
            try:
                client.connect(connect_timeout)
            except RemoteError as error:
                text = str(error)
                if "no reply to hello" in text:
                    text = (f"no labctl node answers at {remote.address} (is 'labctl node "
                            f"serve' running there?)")
                raise type(error)(text) from None
        return client

    def proxy(self, name: str, remote: RemoteSpec) -> RemoteInstrument:
        """The proxy of instrument ``name`` as its node serves it."""
        client = self.client(remote)
        served = client.hello.get("instruments", [])
        if name not in served:
            raise RemoteError(f"the node at {remote.address} serves no instrument '{name}' "
                              f"(it serves {', '.join(served) or 'none'})")
        description, _ = client.request("describe", instrument=name)
        if not isinstance(description, dict):
            raise ProtocolError(f"{client.label}: bad description of '{name}'")
        return RemoteInstrument(name, client, description)

    def clock(self) -> Clock | None:
        """The clock to wait through: a virtual node clock, or None for the local wall clock."""
        virtual = [(i, c) for c in self.clients.values()
                   if (i := (c.hello.get("clock") or {})).get("kind") == "virtual"]
        if not virtual:
            return None
        if len(virtual) != len(self.clients):
            raise RemoteError("some nodes run on a simulator and some on wall-clock time: "
                              "one station cannot mix them")
        ids = {str(info.get("id")) for info, _ in virtual}
        if len(ids) > 1:
            raise RemoteError(f"the nodes run on different virtual labs ({', '.join(sorted(ids))}"
                              "); serve them from one (labctl node serve --sim-lab STATION)")
        return RemoteClock(virtual[0][1])

    # --- runs ---------------------------------------------------------------------

    def begin_run(self, run_id: int) -> None:
        """Arm every node for ``run_id``, then go (module docstring)."""
        self.failure, self.run_id = None, run_id
        armed: list[NodeClient] = []
        current: NodeClient | None = None
        try:
            for current in self.clients.values():
                current.request("arm", run_id=run_id)
                armed.append(current)
            for current in self.clients.values():
                current.request("go", run_id=run_id)
        except RemoteError as error:
            for client in armed:
                with contextlib.suppress(RemoteError):
                    client.request("disarm", run_id=run_id, safety=True, timeout=5.0)
            self.run_id = None
            where = current.label if current is not None else "a node"
            raise RemoteError(f"run {run_id}: {where} failed to arm: {error}") from None
        log.info("run %d armed and going on %d node(s)", run_id, len(self.clients))

    def end_run(self) -> None:
        """Disarm every node still reachable; the run is over."""
        run_id, self.run_id = self.run_id, None
        if run_id is None:
            return
        for client in self.clients.values():
            if client.lost is None:
                try:
                    client.request("disarm", run_id=run_id, safety=True, timeout=10.0)
                except (RemoteError, zmq.ZMQError) as error:   # never stop the run's record
                    log.warning("%s: could not disarm run %d: %s", client.label, run_id, error)

    def reconnect(self) -> None:
        """Ask every node to reconnect its instruments (after a dropped connection)."""
        for client in self.clients.values():
            client.request("reconnect")

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        self._context.term()

    # --- node loss ------------------------------------------------------------------

    def _lost(self, client: NodeClient, reason: str) -> None:
        with self._lock:
            if self.run_id is not None and self.failure is None:
                self.failure = f"{client.label} lost during run {self.run_id}: {reason}"
                log.error("%s; stopping the run on every node", self.failure)

    def _abort(self) -> str | None:
        return self.failure
