"""Proxies: QCoDeS instruments that stand for instruments a node serves.

`RemoteInstrument` is built from the node's description of one instrument
(`labctl.remote.catalog`) and mirrors it, so experiments cannot tell it from
the local driver:

- every parameter, with the same name, label and unit; get and set go to
  the node, where the real parameter validates and converts the value. The
  proxy's validator (`RemoteValidator`) only carries the node's validator
  description — checking happens once, where the instrument is;
- every submodule and channel list (``tagger.input3``, ``tagger.inputs[0]``,
  ``snspd.channels``), recursively, as `RemoteModule` and QCoDeS
  ``ChannelTuple``;
- the allowed methods (``awg.upload_waveform(...)``, ``awg.channel(1)`` —
  which returns the proxy of that channel — ``tagger.fetch_timetags()``);
- the capability of the instrument's role, as `served_capability`: a
  `RemoteCapability` whose methods run the node's adapter (one round trip
  per capability call);
- plain data attributes such as a channel's ``index``;
- the snapshot, which is the node's snapshot of the real instrument (plus
  ``remote``: the node's address).

A value refused on the node raises `RemoteInvalidValue` (a ``ValueError``), a
lost instrument connection `RemoteTransportError` (a ``ConnectionError``), as
local drivers would.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from qcodes import validators as vals
from qcodes.instrument import ChannelTuple, Instrument, InstrumentBase, InstrumentChannel
from qcodes.parameters import Parameter

from labctl.remote.catalog import CAPABILITY
from labctl.remote.client import NodeClient
from labctl.remote.codec import Codec, Frame
from labctl.remote.errors import CallRefused, ProtocolError

log = logging.getLogger(__name__)


class RemoteValidator(vals.Validator[Any]):
    """The description of the node's validator; the node does the validating."""

    def __init__(self, description: str) -> None:
        self._description = description
        self._valid_values = ()

    def validate(self, value: Any, context: str = "") -> None:
        """Nothing here: the real parameter on the node validates every value it is set to."""

    def __repr__(self) -> str:
        return self._description


class _Link:
    """How the proxies of one instrument reach it: its node, its name, the codec."""

    def __init__(self, client: NodeClient, instrument: str) -> None:
        self.client = client
        self.instrument = instrument
        self.codec = Codec()
        self.modules: dict[str, InstrumentBase] = {}

    def get(self, path: str) -> Any:
        return self._decode(*self.client.request("get", instrument=self.instrument, path=path))

    def set(self, path: str, value: Any) -> None:
        frames: list[Frame] = []
        encoded = self.codec.encode(value, frames)
        self.client.request("set", frames, instrument=self.instrument, path=path,
                            value=encoded)

    def call(self, path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        frames: list[Frame] = []
        encoded_args = self.codec.encode(list(args), frames)
        encoded_kwargs = self.codec.encode(kwargs, frames)
        safety = path.rsplit(".", 1)[-1] == "safe_state"
        return self._decode(*self.client.request(
            "call", frames, instrument=self.instrument, path=path, args=encoded_args,
            kwargs=encoded_kwargs, safety=safety))

    def snapshot(self, update: bool) -> dict[str, Any]:
        text, _ = self.client.request("snapshot", instrument=self.instrument, update=update)
        if not isinstance(text, str):
            raise ProtocolError(f"{self.instrument}: the node sent no snapshot")
        snapshot: dict[str, Any] = json.loads(text)
        return snapshot

    def module(self, path: str) -> InstrumentBase:
        found = self.modules.get(path)
        if found is None:
            raise ProtocolError(f"{self.instrument}: the node returned unknown module {path!r}")
        return found

    def _decode(self, data: Any, frames: list[Frame]) -> Any:
        return self.codec.decode(data, frames, self.module)


class RemoteParameter(Parameter):
    """A parameter of a served instrument; get and set happen on the node."""

    def __init__(self, name: str, link: _Link, path: str, spec: dict[str, Any],
                 **kwargs: Any) -> None:
        self._link, self._path = link, path
        description = spec.get("vals")
        super().__init__(
            name, label=spec.get("label"), unit=spec.get("unit"),
            get_cmd=(lambda: link.get(path)) if spec.get("gettable") else False,
            set_cmd=(lambda value: link.set(path, value)) if spec.get("settable") else False,
            vals=RemoteValidator(description) if isinstance(description, str) else None,
            **kwargs)


class RemoteMethod:
    """An allowed method of a served instrument, called on the node."""

    def __init__(self, link: _Link, path: str, doc: str) -> None:
        self._link, self._path = link, path
        self.__name__ = path.rsplit(".", 1)[-1]
        self.__doc__ = doc or f"{self.__name__} (called on the node)"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.call(self._path, args, kwargs)

    def __repr__(self) -> str:
        return f"<remote method {self._link.instrument}.{self._path}>"


class RemoteCapability:
    """The capability a node serves for one instrument: each method runs its adapter there."""

    def __init__(self, link: _Link, description: dict[str, Any]) -> None:
        self.protocol = str(description.get("protocol", ""))
        self.adapter_class = str(description.get("class", ""))
        self._instrument = link.instrument
        for name, doc in (description.get("methods") or {}).items():
            setattr(self, name, RemoteMethod(link, f"{CAPABILITY}.{name}", str(doc)))

    def __repr__(self) -> str:
        return f"<remote {self.protocol} of {self._instrument} ({self.adapter_class})>"


class RemoteModule(InstrumentChannel):
    """A submodule or channel of a served instrument."""

    def __init__(self, parent: InstrumentBase, name: str, link: _Link, prefix: str,
                 description: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        _mirror(self, link, prefix, description)


class RemoteInstrument(Instrument):
    """A served instrument, as a QCoDeS instrument on the orchestrator (module docstring)."""

    def __init__(self, name: str, client: NodeClient, description: dict[str, Any],
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        if "IDN" in self.parameters:    # QCoDeS adds a local one; the node's replaces it
            self.remove_parameter("IDN")
        self.remote_address = client.address
        self.remote_class = str(description.get("class", ""))
        self._link = _Link(client, name)
        _mirror(self, self._link, "", description)
        served = description.get(CAPABILITY)
        #: The node's capability of this instrument (None: its role has none).
        self.served_capability = (RemoteCapability(self._link, served)
                                  if isinstance(served, dict) else None)

    def get_idn(self) -> dict[str, str | None]:
        if "IDN" not in self.parameters:
            return {"vendor": None, "model": None, "serial": None, "firmware": None}
        idn: dict[str, str | None] = self.parameters["IDN"].get()
        return idn

    def ask_raw(self, cmd: str) -> str:
        """Only the identity query (a liveness probe); raw commands are not served."""
        if cmd.strip().upper() == "*IDN?":
            idn = self.get_idn()
            return ",".join(str(idn.get(k) or "") for k in ("vendor", "model", "serial",
                                                            "firmware"))
        raise CallRefused(f"{self.name}: raw commands are not sent to remote instruments "
                          "(use its parameters and methods)")

    def write_raw(self, cmd: str) -> None:
        raise CallRefused(f"{self.name}: raw commands are not sent to remote instruments "
                          "(use its parameters and methods)")

    def snapshot_base(self, update: bool | None = False,
                      params_to_skip_update: Any = None) -> dict[str, Any]:
        """The node's snapshot of the real instrument, and where it is served."""
        snapshot = self._link.snapshot(bool(update))
        snapshot["remote"] = self.remote_address
        return snapshot


def _mirror(node: InstrumentBase, link: _Link, prefix: str,
            description: dict[str, Any]) -> None:
    """Give ``node`` the parameters, methods, attributes and submodules described."""
    link.modules[prefix.rstrip(".")] = node
    for name, spec in (description.get("parameters") or {}).items():
        node.add_parameter(name, parameter_class=RemoteParameter, link=link,
                           path=prefix + name, spec=spec)
    for name, doc in (description.get("methods") or {}).items():
        if hasattr(type(node), name):
            log.warning("%s: remote method %s shadows a QCoDeS attribute; not mirrored",
                        node.full_name, name)
            continue
        setattr(node, name, RemoteMethod(link, prefix + name, str(doc)))
    submodules = description.get("submodules") or {}
    for name, sub in submodules.items():
        if sub.get("kind") == "module":
            node.add_submodule(name, RemoteModule(node, name, link, f"{prefix}{name}.", sub))
    for name, sub in submodules.items():
        if sub.get("kind") == "tuple":
            members = [module for member in sub.get("members", ())
                       if isinstance(module := node.submodules[member], RemoteModule)]
            node.add_submodule(name, ChannelTuple(node, name, RemoteModule, members))
    for name, encoded in (description.get("attributes") or {}).items():
        if hasattr(type(node), name) or name in node.parameters or name in node.submodules:
            continue
        setattr(node, name, link.codec.decode(encoded, []))
