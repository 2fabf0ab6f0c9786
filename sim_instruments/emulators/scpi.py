"""The SCPI engine every emulator is built on: headers, compound commands, error queue.

An emulator declares its commands with their SCPI spelling — upper case for
the short form, ``<n>`` for a numeric suffix, e.g. ``SOURce<n>:VOLTage:AMPLitude``
— and a handler. The engine then behaves like a real IEEE-488.2 / SCPI-99
instrument:

- short and long forms and any letter case are accepted (``SOUR1:VOLT:AMPL``,
  ``source1:voltage:amplitude``); a missing suffix means 1;
- ``;`` separates commands in one message; a command without a leading ``:``
  after a ``;`` continues the previous command's path (SCPI-99 §6.2.4);
- an unknown header queues ``-113,"Undefined header"``; a handler refusing its
  argument raises `ScpiError` with the standard code (``-222`` out of range,
  ``-224`` illegal value, ``-109`` missing parameter, ...);
- ``SYST:ERR?`` / ``SYST:ERR:NEXT?`` pop the queue (``0,"No error"`` when
  empty);
- the IEEE 488.2 mandatory common commands and status model (IEEE 488.2-1992
  §10 and §11) are built in: ``*IDN?``, ``*RST``, ``*TST?``, ``*OPC``,
  ``*OPC?``, ``*WAI``, ``*CLS``, ``*ESE``/``*ESE?``, ``*ESR?``,
  ``*SRE``/``*SRE?``, ``*STB?``, and ``*OPT?`` (``0`` for a unit without
  options, else its option list). Every error queued sets its class's bit in
  the standard event status register (command error ``-1xx`` → CME, bit 5;
  execution ``-2xx`` → EXE, bit 4; device-specific ``-3xx`` → DDE, bit 3;
  query ``-4xx`` → QYE, bit 2); ``*OPC`` sets OPC (bit 0) at once (an
  emulator finishes every operation before answering); power-on sets PON
  (bit 7). ``*ESR?`` reads and clears the register; the status byte holds
  EAV (bit 2, the error queue is not empty, SCPI-99), ESB (bit 5, ``ESR &
  ESE``) and MSS (bit 6, the summary of the byte under ``*SRE``); ``*CLS``
  clears the event register and the error queue but not the enable masks;
  ``*RST`` changes none of them. ``*TRG`` is the unit's own (a unit with a
  trigger overrides `trigger`);
- a query refused with an error sends no reply, like real units (the
  controller times out and reads the error queue).

Arguments reach handlers as text, except IEEE-488.2 definite-length blocks
(``#<n><length><bytes>``), which arrive as raw bytes.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Standard SCPI error codes (SCPI-99 volume 2, chapter 21).
NO_ERROR = (0, "No error")
COMMAND_ERROR = (-100, "Command error")
SYNTAX_ERROR = (-102, "Syntax error")
DATA_TYPE_ERROR = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
HEADER_SUFFIX_OUT_OF_RANGE = (-114, "Header suffix out of range")
INVALID_SUFFIX = (-131, "Invalid suffix")
EXECUTION_ERROR = (-200, "Execution error")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER_VALUE = (-224, "Illegal parameter value")
FILE_NAME_NOT_FOUND = (-256, "File name not found")
FILE_NAME_ERROR = (-257, "File name error")
QUEUE_OVERFLOW = (-350, "Queue overflow")

#: Standard event status register bits (IEEE 488.2 §11.5.1).
ESR_OPC = 1 << 0
ESR_QYE = 1 << 2
ESR_DDE = 1 << 3
ESR_EXE = 1 << 4
ESR_CME = 1 << 5
ESR_PON = 1 << 7
#: Status byte bits (IEEE 488.2 §11.2; EAV is SCPI-99's error/event queue summary).
STB_EAV = 1 << 2
STB_ESB = 1 << 5
STB_MSS = 1 << 6

#: Error-queue depth of a typical instrument.
QUEUE_DEPTH = 32


class ScpiError(Exception):
    """A handler refuses a command: queue ``code, "message"``."""

    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        super().__init__(error, detail)
        self.code, self.message = error
        self.detail = detail

    def entry(self) -> str:
        text = f"{self.message}; {self.detail}" if self.detail else self.message
        return f'{self.code},"{text}"'


@dataclass(frozen=True)
class Call:
    """One parsed command as a handler sees it."""

    header: str
    suffixes: tuple[int, ...]
    query: bool
    argument: str | bytes | None

    @property
    def suffix(self) -> int:
        """The first numeric suffix (1 when the command has none)."""
        return self.suffixes[0] if self.suffixes else 1

    def text(self) -> str:
        """The argument as text; `MISSING_PARAMETER` when there is none."""
        if self.argument is None or self.argument == "":
            raise ScpiError(MISSING_PARAMETER, self.header)
        if isinstance(self.argument, bytes):
            raise ScpiError(DATA_TYPE_ERROR, "text expected, got a block")
        return self.argument.strip()

    def arguments(self) -> list[str]:
        """Comma-separated arguments, quotes kept."""
        return split_arguments(self.text())

    def index(self, count: int, what: str = "suffix") -> int:
        """The 0-based index of the numeric suffix; `HEADER_SUFFIX_OUT_OF_RANGE` beyond 1..count."""
        if not 1 <= self.suffix <= count:
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"{what} {self.suffix} not in 1..{count}")
        return self.suffix - 1

    def block(self) -> bytes:
        """The argument as an IEEE-488.2 block payload."""
        if not isinstance(self.argument, bytes):
            raise ScpiError(DATA_TYPE_ERROR, "a definite-length block is expected")
        return self.argument


Handler = Callable[[Call], str | bytes | None]


def header_pattern(spelling: str, partial: bool = False) -> re.Pattern[str]:
    """A regex accepting the short or long form of each node of a SCPI header.

    ``SOURce<n>:VOLTage`` accepts ``SOUR``, ``SOURCE``, ``SOUR2`` ... (any
    case); ``[:NEXT]`` marks an optional node. With ``partial`` any
    truncation between the two forms is accepted too (``SOURC``), as some
    vendors' parsers do (`ScpiEmulator.partial_keywords`).
    """
    parts = []
    for node in re.findall(r"\[:?[^\]]+\]|[^:\[\]]+", spelling.lstrip(":")):
        optional = node.startswith("[")
        name = node.strip("[]:")
        suffix = name.endswith("<n>")
        name = name.removesuffix("<n>")
        short = "".join(c for c in name if c.isupper() or c.isdigit() or c in "*?")
        rest = name[len(short):]
        word = re.escape(short) + (_truncations(rest) if partial else
                                   f"(?:{re.escape(rest)})?" if rest else "")
        if suffix:
            word += r"(\d*)"
        part = f"(?::{word})?" if optional else f":{word}"
        parts.append(part)
    # matched against the header with exactly one leading ':' (see ScpiEmulator._execute)
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE)


def _truncations(rest: str) -> str:
    """A regex accepting any leading part of ``rest`` (``ce`` -> ``(?:c(?:e)?)?``)."""
    pattern = ""
    for char in reversed(rest):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    return pattern


def split_arguments(text: str) -> list[str]:
    """Split on commas outside double or single quotes."""
    parts, current, quote = [], [], ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == ",":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def unquote(text: str) -> str:
    """``"name"`` -> ``name``."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_number(text: str, low: float | None = None, high: float | None = None) -> float:
    """A SCPI number (``1.5``, ``1.5E-3``, ``MIN``/``MAX`` not supported); range-checked."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ScpiError(DATA_TYPE_ERROR, f"not a number: {text.strip()!r}") from None
    if value != value:  # NaN
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, "NaN")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ScpiError(DATA_OUT_OF_RANGE, f"{value:g} not in [{low}, {high}]")
    return value


def parse_bool(text: str) -> bool:
    """``ON``/``OFF``/``1``/``0``."""
    word = text.strip().upper()
    if word in ("1", "ON"):
        return True
    if word in ("0", "OFF"):
        return False
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"expected ON/OFF/1/0, got {text.strip()!r}")


def parse_choice(text: str, choices: dict[str, str], partial: bool = False) -> str:
    """Map a keyword (short or long form, any case) to its canonical value.

    ``choices`` maps SCPI spellings (``"CONTinuous"``) to what the state stores;
    with ``partial`` any truncation between the short and long form is accepted.
    """
    word = text.strip().upper()
    for spelling, value in choices.items():
        short = "".join(c for c in spelling if c.isupper() or c.isdigit())
        if word in (short.upper(), spelling.upper()) or (
                partial and word.startswith(short.upper()) and spelling.upper().startswith(word)):
            return value
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{text.strip()!r} not in {', '.join(choices)}")


def block(payload: bytes) -> bytes:
    """An IEEE-488.2 definite-length block: ``#<digits><length><payload>``."""
    length = str(len(payload)).encode()
    return b"#" + str(len(length)).encode() + length + payload


class ScpiEmulator:
    """Base class: subclasses set `identity` and register their commands in `__init__`.

    `respond` takes one complete message (without its terminator) and returns
    the reply (without terminator), or None when the message asks nothing.
    """

    #: ``*IDN?`` reply.
    identity: str = "LABCTL,EMULATOR,0,0"
    #: Reply terminator the real unit uses.
    reply_terminator: bytes = b"\n"
    #: The query that pops the error queue (units with another mechanism override it).
    error_query: str = "SYSTem:ERRor[:NEXT]?"
    #: ``*OPT?`` reply: the unit's installed options ("0": none, IEEE 488.2 §10.20).
    options: str = "0"
    #: Does the unit implement IEEE 488.2's status model (``*ESE``, ``*ESR?``, ``*SRE``,
    #: ``*STB?``, ``*OPC``, ``*OPT?``, ``*TRG``)? A unit that is not a 488.2 device says no.
    ieee488_2: bool = True
    #: Does the unit's parser take any truncation between a keyword's short and long
    #: form (``SEQuence`` for ``SEQuencer``)? Strict SCPI-99 says no.
    partial_keywords: bool = False

    def __init__(self) -> None:
        self._commands: list[tuple[re.Pattern[str], bool, Handler]] = []
        self.errors: deque[str] = deque()
        #: Standard event status register and its enable mask; service request enable.
        self.event_status = ESR_PON
        self.event_enable = 0
        self.service_request_enable = 0
        self.register("*IDN?", lambda call: self.identity)
        self.register("*RST", lambda call: self.reset())
        self.register("*CLS", lambda call: self.clear_status())
        self.register("*OPC?", lambda call: "1")
        self.register("*WAI", lambda call: None)
        self.register("*TST?", lambda call: "0")
        self.register(self.error_query, lambda call: self.pop_error())
        if not self.ieee488_2:
            return
        self.register("*OPT?", lambda call: self.options)
        self.register("*OPC", lambda call: self._set_event(ESR_OPC))
        self.register("*ESE", lambda call: self._set_mask("event_enable", call))
        self.register("*ESE?", lambda call: str(self.event_enable))
        self.register("*ESR?", lambda call: str(self._read_event_status()))
        self.register("*SRE", lambda call: self._set_mask("service_request_enable", call))
        self.register("*SRE?", lambda call: str(self.service_request_enable))
        self.register("*STB?", lambda call: str(self.status_byte()))
        self.register("*TRG", lambda call: self.trigger())

    # --- IEEE 488.2 status model -------------------------------------------------

    def trigger(self) -> None:
        """``*TRG``: a unit without a trigger does not know the command."""
        raise ScpiError(UNDEFINED_HEADER, "*TRG (this unit has no trigger)")

    def clear_status(self) -> None:
        """``*CLS``: clear the event register and the error queue (not the masks)."""
        self.errors.clear()
        self.event_status = 0

    def status_byte(self) -> int:
        """The status byte as ``*STB?`` reads it (MSS in bit 6)."""
        byte = (STB_EAV if self.errors else 0) | (
            STB_ESB if self.event_status & self.event_enable else 0)
        return byte | (STB_MSS if byte & self.service_request_enable & ~STB_MSS else 0)

    def _set_event(self, bits: int) -> None:
        self.event_status |= bits

    def _read_event_status(self) -> int:
        value, self.event_status = self.event_status, 0
        return value

    def _set_mask(self, attribute: str, call: Call) -> None:
        value = parse_number(call.text(), 0, 255)
        if value != int(value):
            raise ScpiError(DATA_OUT_OF_RANGE, f"{call.header} takes an integer 0..255")
        setattr(self, attribute, int(value) & (~STB_MSS & 0xFF
                                               if attribute == "service_request_enable"
                                               else 0xFF))

    def register(self, spelling: str, handler: Handler) -> None:
        """Answer ``spelling`` (a trailing ``?`` makes it a query) with ``handler``."""
        query = spelling.endswith("?")
        pattern = header_pattern(spelling.removesuffix("?"), self.partial_keywords) \
            if not spelling.startswith("*") \
            else re.compile(f"^{re.escape(spelling.removesuffix('?'))}$", re.IGNORECASE)
        self._commands.append((pattern, query, handler))

    def reset(self) -> None:
        """``*RST``: subclasses restore their default settings."""

    def queue_error(self, entry: str) -> None:
        entry = entry.encode("ascii", "replace").decode("ascii")  # replies are ASCII
        self._set_event(_event_bit(entry))
        if len(self.errors) >= QUEUE_DEPTH - 1:
            if len(self.errors) == QUEUE_DEPTH - 1:
                self.errors.append(f'{QUEUE_OVERFLOW[0]},"{QUEUE_OVERFLOW[1]}"')
            return
        self.errors.append(entry)

    def pop_error(self) -> str:
        return self.errors.popleft() if self.errors else f'{NO_ERROR[0]},"{NO_ERROR[1]}"'

    def respond(self, message: bytes) -> bytes | None:
        """Execute every command of a message; join the query replies with ``;``."""
        replies: list[bytes] = []
        path = ""
        for command in split_message(message):
            header, argument = command
            if not header:
                continue
            text_header = header.decode("ascii", errors="replace").strip()
            if not text_header.startswith((":", "*")) and path:
                text_header = f"{path}:{text_header}"
            if not text_header.startswith("*"):
                path = text_header.lstrip(":").rsplit(":", 1)[0] \
                    if ":" in text_header.lstrip(":") else ""
            reply = self._execute(text_header, argument)
            if reply is not None:
                replies.append(reply if isinstance(reply, bytes) else reply.encode())
        return b";".join(replies) if replies else None

    def _execute(self, header: str, argument: str | bytes | None) -> str | bytes | None:
        query = header.endswith("?")
        bare = header.removesuffix("?")
        rooted = bare if bare.startswith("*") else ":" + bare.lstrip(":")
        for pattern, is_query, handler in self._commands:
            if is_query != query:
                continue
            match = pattern.match(rooted)
            if match is None:
                continue
            suffixes = tuple(int(g) if g else 1 for g in match.groups())
            try:
                return handler(Call(header=bare, suffixes=suffixes, query=query,
                                    argument=argument))
            except ScpiError as error:
                log.debug("%s refused %s: %s", type(self).__name__, header, error.entry())
                self.queue_error(error.entry())
                return None
        self.queue_error(f'{UNDEFINED_HEADER[0]},"{UNDEFINED_HEADER[1]}; {header}"')
        return None


def _event_bit(entry: str) -> int:
    """The standard-event bit an error-queue entry sets, by its code's class."""
    try:
        code = int(entry.split(",", 1)[0])
    except ValueError:
        return ESR_DDE
    return {1: ESR_CME, 2: ESR_EXE, 3: ESR_DDE, 4: ESR_QYE}.get(-code // 100, ESR_DDE)


def split_message(message: bytes) -> list[tuple[bytes, str | bytes | None]]:
    """Split a message into (header, argument) pairs on ``;`` outside quotes and blocks.

    A definite-length block argument is returned as bytes; others as text.
    """
    commands: list[tuple[bytes, str | bytes | None]] = []
    i, n = 0, len(message)
    while i < n:
        # header: up to the first space, ';' or end
        start = i
        while i < n and message[i] not in b" \t;":
            i += 1
        header = message[start:i]
        while i < n and message[i] in b" \t":
            i += 1
        if i >= n or message[i] == ord(";"):
            commands.append((header, None))
            i += 1
            continue
        # argument: text up to ';' outside quotes, or a block
        parts: list[bytes] = []
        arg_start = i
        block_payload: bytes | None = None
        quote = 0
        while i < n:
            char = message[i]
            if quote:
                if char == quote:
                    quote = 0
                i += 1
                continue
            if char in b"\"'":
                quote = char
                i += 1
                continue
            if char == ord("#") and i + 1 < n and chr(message[i + 1]).isdigit():
                digits = int(chr(message[i + 1]))
                length_text = message[i + 2:i + 2 + digits]
                if digits == 0 or not length_text.isdigit() or len(length_text) < digits:
                    i += 1  # not a definite-length block: leave it to the handler as text
                    continue
                length = int(length_text)
                payload_start = i + 2 + digits
                parts.append(message[arg_start:i])
                block_payload = message[payload_start:payload_start + length]
                i = payload_start + length
                arg_start = i
                continue
            if char == ord(";"):
                break
            i += 1
        prefix = b"".join(parts) + message[arg_start:i]
        if block_payload is not None:
            # text before the block (e.g. '"name",0,250,') stays available to the handler
            commands.append((header, _BlockWithPrefix(prefix, block_payload)))
        else:
            commands.append((header, prefix.decode("latin-1")))
        i += 1
    return commands


class _BlockWithPrefix(bytes):
    """A block argument preceded by text arguments (``"name",0,250,#...``)."""

    def __new__(cls, prefix: bytes, payload: bytes) -> _BlockWithPrefix:
        instance = super().__new__(cls, payload)
        instance.prefix = prefix.decode("latin-1").rstrip(", ")  # type: ignore[attr-defined]
        return instance


def block_prefix(argument: bytes) -> list[str]:
    """The text arguments that preceded a block (empty list if none)."""
    prefix = getattr(argument, "prefix", "")
    return split_arguments(prefix) if prefix else []
