"""The station's snapshot at the start of a run, read afresh in bounded time.

QCoDeS's own ``snapshot(update=True)`` reads every parameter of every
instrument and channel and logs and goes on past each one that fails: a unit
that stopped answering costs one reply timeout per parameter (an AWG with four
channels: about fifty). Here each instrument's parameters (its channels' too)
are read one by one into QCoDeS's cache until the first that does not answer —
that unit costs one timeout and keeps its last known values, with one warning —
and the whole station's reading stops at an overall bound; the snapshot is
then QCoDeS's own from the cache.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from qcodes.utils import NumpyJSONEncoder

from labctl.clock import Clock
from labctl.errors import TransportError
from labctl.station import LabStation

log = logging.getLogger(__name__)

#: The longest reading a station's instruments for a run's snapshot may take, s.
SNAPSHOT_BOUND_S = 30.0


def station_snapshot(station: LabStation, clock: Clock, update: bool = True,
                     bound_s: float = SNAPSHOT_BOUND_S,
                     transport_errors: tuple[type[BaseException], ...] = (TransportError,)
                     ) -> dict[str, Any]:
    """The station's QCoDeS snapshot as plain JSON values (string keys, no numpy).

    With ``update``, the instruments are read afresh first (module docstring);
    a read failing with one of ``transport_errors`` means the unit does not answer.
    """
    if update:
        deadline = clock.now() + bound_s
        for instrument in station.loaded_instruments():
            if clock.now() > deadline:
                log.warning("the station's snapshot took more than %g s: %s and the "
                            "instruments after it keep their last known values", bound_s,
                            instrument.name)
                break
            _read(instrument, instrument.name, clock, deadline, transport_errors)
    whole = station.snapshot(update=False)
    snapshot: dict[str, Any] = json.loads(json.dumps(whole, cls=NumpyJSONEncoder))
    return snapshot


def _read(module: Any, instrument: str, clock: Clock, deadline: float,
          transport_errors: tuple[type[BaseException], ...],
          seen: set[int] | None = None) -> bool:
    """Read ``module``'s parameters and its submodules' into the cache; False once one
    does not answer (or the deadline passed), and nothing more of it is read."""
    seen = set() if seen is None else seen
    if id(module) in seen:
        return True
    seen.add(id(module))
    for name, parameter in getattr(module, "parameters", {}).items():
        if name == "IDN" or getattr(parameter, "snapshot_exclude", False):
            continue
        if clock.now() > deadline:
            return False
        try:
            parameter.snapshot(update=True)
        except transport_errors as error:
            log.warning("%s does not answer (%s): its snapshot keeps its last known values",
                        instrument, " ".join(str(error).split()))
            return False
        except Exception:  # a refusal is an answer: the value stays what it was
            log.debug("%s: %s could not be read for the snapshot", instrument, name,
                      exc_info=True)
    for submodule in getattr(module, "submodules", {}).values():
        if not _read(submodule, instrument, clock, deadline, transport_errors, seen):
            return False
    return True
