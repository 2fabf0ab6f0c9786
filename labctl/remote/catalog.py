"""What a node serves of one instrument: its parameters, allowed methods and submodules.

`Catalog` walks a QCoDeS instrument once, when the node starts, and keeps
every parameter and allowed method under its dotted path relative to the
instrument (``power``, ``input3.delay_ps``, ``tsco1.configure_window``), and
the methods of the capability its role needs (`labctl.instruments`) under
``capability.`` (``capability.fetch_tags``): the node runs the adapter, so a
capability call is one round trip however many commands it sends. A
request names such a path; anything not in the catalog does not exist as
far as the network is concerned. `Catalog.description` is what a proxy is
built from: for the instrument and each submodule its class, parameters
(label, unit, the validator's description, gettable/settable), allowed
methods, plain data attributes (numbers, strings and tuples of them, such
as a channel's ``index``), and submodules — channel lists by the names of
their member channels.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qcodes.instrument import ChannelTuple, Instrument, InstrumentBase, InstrumentChannel
from qcodes.parameters import ParameterBase

from labctl.instruments.roles import protocol_members
from labctl.remote.allowlist import allowed_methods, class_path
from labctl.remote.codec import Codec

log = logging.getLogger(__name__)

#: Where a catalog serves the methods of its instrument's capability.
CAPABILITY = "capability"
#: Attribute names a proxy already has; never mirrored as data.
RESERVED_NAMES = frozenset(dir(Instrument)) | frozenset(dir(InstrumentChannel))
_MAX_ITEMS = 64


@dataclass
class Catalog:
    """One served instrument, indexed by dotted path (see the module docstring)."""

    instrument: Instrument
    parameters: dict[str, ParameterBase] = field(default_factory=dict)
    methods: dict[str, Callable[..., Any]] = field(default_factory=dict)
    module_paths: dict[int, str] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, instrument: Instrument, codec: Codec, capability: object | None = None,
              protocol: type | None = None) -> Catalog:
        """Index ``instrument``; with ``capability``, also its ``protocol``'s methods."""
        catalog = cls(instrument)
        catalog.description = catalog._describe(instrument, "", codec)
        if capability is not None and protocol is not None:
            methods = {}
            for name in protocol_members(protocol):
                bound = getattr(capability, name)
                catalog.methods[f"{CAPABILITY}.{name}"] = bound
                methods[name] = (inspect.getdoc(bound) or "").split("\n", 1)[0]
            catalog.description[CAPABILITY] = {
                "class": class_path(type(capability)), "protocol": protocol.__name__,
                "methods": methods}
        return catalog

    def module_path(self, value: object) -> str | None:
        """The path of a submodule of this instrument (for replies such as ``channel(1)``)."""
        return self.module_paths.get(id(value))

    def _describe(self, node: InstrumentBase, prefix: str, codec: Codec) -> dict[str, Any]:
        self.module_paths[id(node)] = prefix.rstrip(".")
        parameters = {}
        for name, parameter in node.parameters.items():
            self.parameters[prefix + name] = parameter
            parameters[name] = {
                "label": str(getattr(parameter, "label", name)),
                "unit": str(getattr(parameter, "unit", "")),
                "vals": repr(parameter.vals) if parameter.vals is not None else None,
                "gettable": bool(parameter.gettable), "settable": bool(parameter.settable)}
        methods = {}
        for name in allowed_methods(node):
            bound = getattr(node, name)
            self.methods[prefix + name] = bound
            methods[name] = (inspect.getdoc(bound) or "").split("\n", 1)[0]
        named = {id(m): n for n, m in node.submodules.items() if not isinstance(m, ChannelTuple)}
        submodules: dict[str, Any] = {}
        for name, module in node.submodules.items():
            if isinstance(module, ChannelTuple):
                members = [named.get(id(channel)) for channel in module]
                if any(member is None for member in members):
                    log.warning("%s: channel list %s has unnamed channels; not served",
                                node.full_name, name)
                    continue
                submodules[name] = {"kind": "tuple", "class": class_path(type(module)),
                                    "members": members}
            elif isinstance(module, InstrumentBase):
                submodules[name] = {"kind": "module",
                                    **self._describe(module, f"{prefix}{name}.", codec)}
        skip = set(parameters) | set(methods) | set(node.submodules)
        attributes = {name: codec.encode(value, [])
                      for name, value in _plain_attributes(node).items() if name not in skip}
        return {"class": class_path(type(node)), "parameters": parameters, "methods": methods,
                "attributes": attributes, "submodules": submodules}


def _plain_attributes(node: InstrumentBase) -> dict[str, Any]:
    """Public numbers, strings and tuples of them: the driver's class data and e.g. ``index``."""
    found: dict[str, Any] = {}
    for base in reversed(type(node).__mro__):
        if base.__module__.split(".")[0] in ("qcodes", "builtins", "typing", "abc"):
            continue
        found.update({k: v for k, v in vars(base).items() if _is_plain(v)})
    found.update({k: v for k, v in vars(node).items() if _is_plain(v)})
    return {k: v for k, v in found.items()
            if not k.startswith("_") and k not in RESERVED_NAMES}


def _is_plain(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, tuple) and depth < 2 and len(value) <= _MAX_ITEMS:
        return all(_is_plain(v, depth + 1) for v in value)
    return False
