"""The experiment API: a frozen config, blocks of data, and a pure analysis.

An experiment is a small class:

- ``config_type``: a frozen dataclass with lab-sensible defaults (values are
  checked in its ``__post_init__``; `parse_settings` turns ``--set key=value``
  into it, refusing numbers that are not finite or do not fit 64 bits; a field
  named ``node`` must name a node of the station, `check_station`);
- ``prepare(context)``: set the instruments up (called when a run starts,
  when it resumes, and after the engine reconnected a dropped instrument);
- ``acquire(context, index)``: measure block ``index`` and return a `Block`
  (scalar values for the index, raw arrays for the chunk store, figures for
  the progress bar);
- ``stopping_rule()``: when the run is done (default: ``planned_blocks``);
- ``analyze(data)``: a pure function of archived data returning a frozen result.

Instruments are reached through ``context.station`` by role; waiting goes
through ``context.station.clock``. Everything else — archiving, progress,
Ctrl-C, retries, health between blocks (lasers locked, detectors not latched),
safe state — is the engine's (`labctl.engine.runner`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin

import numpy as np
from numpy.typing import NDArray

from labctl.engine.stopping import FixedCount, StoppingRule
from labctl.errors import ParameterError
from labctl.station import LabStation, StationSpec

ConfigT = TypeVar("ConfigT")

#: Largest integer a setting may take: the archive keeps configs and block counts in
#: SQLite, whose integers are 64-bit signed.
MAX_SETTING_INT = 2**63 - 1
#: Config fields that name a node of the station (checked against it before a run).
NODE_FIELDS = ("node",)


@dataclass(frozen=True)
class Block:
    """One block of a run: scalar values (indexed), raw arrays (chunked), progress figures."""

    values: Mapping[str, float]
    arrays: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    progress: Mapping[str, float] = field(default_factory=dict)


@dataclass
class RunContext:
    """What an experiment sees while it runs."""

    station: LabStation
    run_id: int
    rng: np.random.Generator


class Experiment(Generic[ConfigT]):
    """Base class of experiments (see the module docstring), generic over its config.

    ``class Rabi(Experiment[RabiConfig])`` with ``config_type = RabiConfig``:
    ``self.config`` is then a ``RabiConfig`` to the type checker too.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    config_type: ClassVar[type[Any]]
    #: Names of the scalar values every block reports.
    value_names: ClassVar[tuple[str, ...]]
    #: Roles whose health the experiment watches itself, so the engine does not
    #: (`labctl.engine.health`: e.g. ``("snspd",)`` for a scan that latches its detectors).
    unchecked_roles: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ConfigT) -> None:
        if not isinstance(config, self.config_type):
            raise TypeError(f"{self.name} needs a {self.config_type.__name__}, "
                            f"got {type(config).__name__}")
        self.config: ConfigT = config

    def planned_blocks(self) -> int | None:
        """Blocks the run will take if nothing stops it early (None: open-ended)."""
        blocks = getattr(self.config, "blocks", None)
        return int(blocks) if blocks is not None else None

    def prepare(self, context: RunContext) -> None:
        """Set the instruments up for the run."""

    def acquire(self, context: RunContext, index: int) -> Block:
        raise NotImplementedError

    def stopping_rule(self) -> StoppingRule:
        planned = self.planned_blocks()
        if planned is None:
            raise NotImplementedError(f"{self.name} must define a stopping rule")
        return FixedCount(planned)

    def check_station(self, spec: StationSpec) -> None:
        """Refuse (`ParameterError`) a config the station cannot run, before any run exists.

        By default: every `NODE_FIELDS` field names a node of the station.
        """
        nodes = sorted({s.node for s in spec.instruments if s.node})
        for name in NODE_FIELDS:
            value = getattr(self.config, name, None)
            if value is not None and value not in nodes:
                raise ParameterError(f"--set {name}={value}: {spec.path} profile "
                                     f"'{spec.profile}' has no node {value!r} (nodes: "
                                     f"{', '.join(nodes) or 'none'})")

    @classmethod
    def analyze(cls, data: Any) -> Any:
        """A frozen result computed only from the archived data."""
        raise NotImplementedError

    @classmethod
    def plot(cls, data: Any, result: Any, path: Any) -> bool:
        """Draw the data and the fit into the PNG ``path``; False if there is nothing to draw."""
        return False


def settable_keys(config_type: type) -> dict[str, str]:
    """``{key: type description}`` of a config dataclass, for help texts."""
    hints = typing.get_type_hints(config_type)
    return {f.name: _describe(hints[f.name]) for f in dataclasses.fields(config_type)}


def parse_settings(config_type: type, settings: Sequence[str]) -> Any:
    """A config from ``key=value`` strings; `ParameterError` naming a bad key or value."""
    hints = typing.get_type_hints(config_type)
    names = {f.name for f in dataclasses.fields(config_type)}
    values: dict[str, Any] = {}
    for setting in settings:
        key, separator, text = setting.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ParameterError(f"--set {setting!r} is not key=value")
        if key not in names:
            raise ParameterError(f"unknown --set key {key!r} (keys: {', '.join(sorted(names))})")
        values[key] = _convert(key, text.strip(), hints[key])
    try:
        return config_type(**values)
    except (ValueError, TypeError) as error:
        raise ParameterError(f"--set: {error}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config as JSON-able values."""
    return {k: v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(config_type: type, values: Mapping[str, Any]) -> Any:
    """Rebuild an archived config (refusing keys the type no longer has)."""
    names = {f.name for f in dataclasses.fields(config_type)}
    unknown = set(values) - names
    if unknown:
        raise ParameterError(f"archived config has keys {sorted(unknown)} that "
                             f"{config_type.__name__} no longer knows")
    return config_type(**values)


def _convert(key: str, text: str, kind: Any) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if origin in (types.UnionType, typing.Union):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(key, text, options[0]) if len(options) == 1 else text
    if origin is Literal:
        if text not in args:
            raise ParameterError(f"--set {key}={text}: must be one of "
                                 f"{', '.join(map(str, args))}")
        return text
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            number = int(text)
            if abs(number) > MAX_SETTING_INT:
                raise ParameterError(f"--set {key}={text}: does not fit a 64-bit integer "
                                     f"(at most {MAX_SETTING_INT} in magnitude)")
            return number
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ParameterError(f"--set {key}={text}: must be a finite number")
            return value
    except ValueError:
        raise ParameterError(f"--set {key}={text}: not a {kind.__name__}") from None
    return text


def _describe(kind: Any) -> str:
    if get_origin(kind) is Literal:
        return "|".join(map(str, get_args(kind)))
    if get_origin(kind) in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in get_args(kind))
    return getattr(kind, "__name__", str(kind))
