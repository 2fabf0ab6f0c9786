"""Which methods of a served instrument (or channel) an orchestrator may call.

Parameters are always served — get where gettable, set where settable —
because each is a QCoDeS parameter whose validator (and any station safety
limit) runs on the node before anything reaches the instrument. Methods are
different: a method can do anything (send raw SCPI, close the connection,
reconfigure a safety interlock), so none is callable unless its class opts
in, by name, with
a class attribute ``remote_methods: ClassVar[tuple[str, ...]]`` on the
driver or channel class (inherited like any attribute). Whether a method is
safe to call from another PC is knowledge of the driver's author, so the
list travels with the driver, and a lab's own drivers need no change to
labctl; the drivers in ``drivers/`` list what ``experiments/`` call on
instruments (waveform upload and sequencing, run/stop, acquisition and
time-tag fetch, window filters, latch reset, ``channel(n)``) and their
read-backs.

Not the station file: what a method does is a property of the driver, not
of a lab, and a YAML key that could widen the list would make exposing, say,
raw writes a one-line edit. ``safe_state`` is always callable where it
exists (it is every exit path's last step); names starting with ``_`` never are.
"""

from __future__ import annotations

from labctl.errors import LabctlError

#: Always callable where the object has it.
ALWAYS = ("safe_state",)
#: The class attribute listing a driver's (or channel's) remotely callable methods.
METHODS_ATTRIBUTE = "remote_methods"


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def allowed_methods(obj: object) -> tuple[str, ...]:
    """The method names of ``obj`` an orchestrator may call (see the module docstring)."""
    cls = type(obj)
    declared = getattr(cls, METHODS_ATTRIBUTE, ())
    if not (isinstance(declared, tuple | list)
            and all(isinstance(name, str) for name in declared)):
        raise LabctlError(f"{class_path(cls)}.{METHODS_ATTRIBUTE} must be a tuple of "
                          f"method names, not {declared!r}")
    names: tuple[str, ...] = tuple(declared)
    allowed = [name for name in (*names, *ALWAYS)
               if not name.startswith("_") and callable(getattr(obj, name, None))]
    return tuple(dict.fromkeys(allowed))
