"""The exception hierarchy: every error labctl raises derives from `LabctlError`."""

from __future__ import annotations


class LabctlError(Exception):
    """Root of every error labctl raises on purpose."""


class DriverError(LabctlError):
    """An instrument refused a command: it put an entry in its error queue.

    ``str()`` is built from the attributes, not from ``args``, so the message
    stays one line even after QCoDeS appends its context to ``args``.
    """

    def __init__(self, instrument: str, command: str, reply: str) -> None:
        super().__init__(instrument, command, reply)
        self.instrument = instrument
        self.command = command
        self.reply = reply

    def __str__(self) -> str:
        return f"{self.instrument}: command {self.command!r} was refused: {self.reply}"


class TransportError(DriverError):
    """An instrument could not be reached for a command: no reply in time, a dropped
    connection, a line that would not open. Unlike a refusal it may pass, so the
    engine reconnects and retries (`labctl.engine.runner.TRANSPORT_ERRORS`)."""

    def __str__(self) -> str:
        return f"{self.instrument}: command {self.command!r} failed: {self.reply}"


class StationError(LabctlError):
    """A station file is unusable; names the file, the instrument and the key."""

    def __init__(self, path: str, message: str, instrument: str | None = None,
                 key: str | None = None) -> None:
        super().__init__(path, message, instrument, key)
        self.path = path
        self.message = message
        self.instrument = instrument
        self.key = key

    def __str__(self) -> str:
        where = [self.path]
        if self.instrument is not None:
            where.append(f"instrument '{self.instrument}'")
        if self.key is not None:
            where.append(f"key '{self.key}'")
        return f"{': '.join(where)}: {self.message}"


class SafeStateError(LabctlError):
    """Instruments that could not be put in their safe state; ``failures`` maps each
    instrument's name to what went wrong."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(failures)
        self.failures = dict(failures)

    def __str__(self) -> str:
        return "safe state failed for " + "; ".join(
            f"{name}: {what}" for name, what in self.failures.items())


class SafetyLimitError(LabctlError):
    """A safety limit from the station file cannot be applied to a parameter."""


class ParameterError(LabctlError):
    """A command-line or configuration value is out of range or of the wrong kind."""


class RemoteError(LabctlError):
    """A remote node refused a call, did not answer, or was lost (see `labctl.remote`).

    ``str()`` is the first argument only, so the message stays one line even
    after QCoDeS appends its context to ``args``.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__
