"""Single Quantum Eos SNSPD system: bias, enable, counts and latch handling over its TCP protocol.

The Eos is driven over Ethernet through two TCP ports (defaults 12000 and
12345). Facts come from Single Quantum's own Python class ``WebSQControl``
(MIT, Single Quantum B.V. and A. Fognini, shipped with the system and kept
in NQCP-Phot-Git-Drivers ``photonicdrivers/SNSPDs/FilesFromManufacturer``;
QCoDeS-contrib's ``SingleQuantum.WebSQControlqcode`` is built on it); the
Eos manual itself is not public.

- Control port: the client sends JSON objects without terminator; the system
  sends JSON objects, each frame ending with ``\\x17`` (ASCII ETB).
  ``{"request": "labelProps", "value": "None"}`` is answered with every
  label's properties (``{"label": L, "value": {"value": v, ...}}``);
  settings are commands ``{"command": C, "label": L, "value": v}``:
  ``SetAllBiasCurrents`` (list, uA, one per detector), ``SetAllTriggerLevels``
  (list, mV), ``DetectorEnable`` (bool: *all* detectors are enabled together),
  ``SetMeasurementPeriod`` (ms, minimum 10). ``{"request": "BiasVoltage"}``
  is answered with ``{"label": "BiasVoltage", "value": [mV ...]}``. Labels:
  ``NumberOfDetectors``, ``BiasCurrent``, ``TriggerLevel``, ``DetectorEnable``,
  ``InptMeasurementPeriod``, ``BiasVoltage``; an object whose label contains
  ``Error`` reports an error. The bias range is -90.9..90.9 uA
  (``iv_scan_setup``'s docstring); labctl biases in the positive sense only.
- Counts port: one line per measurement period,
  ``<timestamp>,<counts ch1>,...,<counts chN>``.

Not publicly documented, labctl's assumptions: that the reply to one
``labelProps`` request is one ``\\x17`` frame; that a refused command is
answered with an ``Error`` object; the properties' ``min``/``max``/``unit``
keys. The Eos has no latch status and no reset command; labctl detects a
latch from the bias-voltage readout (a latched wire is resistive: bias
voltage over bias current above `QuantumEos.latch_resistance_ohm`; its counts
also fall to zero) and resets one the usual way for an SNSPD: bias to zero,
hold `QuantumEos.reset_hold_s`, bias back. ``auto_reset`` is labctl's
(software, off by default): with it on, reading a latched channel resets it.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, ClassVar

from qcodes import validators as vals
from qcodes.instrument import ChannelList, Instrument, InstrumentChannel
from qcodes.parameters import Parameter

from labctl.errors import DriverError, LabctlError, TransportError
from labctl.instruments.adapter import Adapter

log = logging.getLogger(__name__)

#: Each frame from the control port ends with this byte (ASCII ETB).
FRAME_END = b"\x17"


class EosReplyError(TransportError, ValueError):
    """The Eos sent something that is not its protocol (a garbled or foreign reply): a
    transport fault, which the engine retries after reconnecting."""


class EosConnection:
    """The two sockets of one Eos: JSON control messages and the counts stream.

    Connects lazily; a lost connection raises `DriverError` and is reopened by
    the next call.
    """

    def __init__(self, name: str, host: str, control_port: int, counts_port: int,
                 timeout: float) -> None:
        self.name = name
        self.host = host
        self.ports = (control_port, counts_port)
        self.timeout = timeout
        self._control: socket.socket | None = None
        self._counts: socket.socket | None = None
        self._frames = bytearray()
        self._lines = bytearray()
        #: the latest value of each label, from replies and broadcasts
        self.labels: dict[str, Any] = {}
        #: the latest properties (value, unit, bounds) of each label
        self.props: dict[str, dict[str, Any]] = {}

    def _open(self, which: int) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.ports[which]), self.timeout)
        except OSError as error:
            raise TransportError(self.name, f"connect {self.host}:{self.ports[which]}",
                              str(error)) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        for sock in (self._control, self._counts):
            if sock is not None:
                sock.close()
        self._control = self._counts = None
        self._frames.clear()
        self._lines.clear()

    def _lost(self, command: str, error: Exception) -> DriverError:
        self.close()
        if isinstance(error, TimeoutError):
            return TransportError(self.name, command, f"no reply within {self.timeout:g} s")
        return TransportError(self.name, command, f"connection lost ({error}); "
                                               "the next call reconnects")

    # --- control port -------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        if self._control is None:
            self._control = self._open(0)
        try:
            self._control.sendall(json.dumps(message).encode())
        except OSError as error:
            raise self._lost(json.dumps(message), error) from None

    def _next_frame(self, command: str) -> list[dict[str, Any]]:
        assert self._control is not None
        deadline = time.monotonic() + self.timeout
        while FRAME_END not in self._frames:
            self._control.settimeout(max(deadline - time.monotonic(), 1e-3))
            try:
                chunk = self._control.recv(1 << 16)
            except OSError as error:
                raise self._lost(command, error) from None
            if not chunk:
                raise self._lost(command, ConnectionResetError("closed by the Eos"))
            self._frames.extend(chunk)
        end = self._frames.index(FRAME_END)
        frame = bytes(self._frames[:end])
        del self._frames[:end + 1]
        return self._objects(command, frame)

    def _objects(self, command: str, frame: bytes) -> list[dict[str, Any]]:
        try:
            text = frame.decode("utf-8")
            decoder = json.JSONDecoder()
            found: list[dict[str, Any]] = []
            index = 0
            while index < len(text):
                obj, index = decoder.raw_decode(text, index)
                if not isinstance(obj, dict) or "label" not in obj:
                    raise ValueError(f"not a label object: {obj!r}")
                found.append(obj)
        except ValueError as error:
            self.close()  # what follows in the stream cannot be trusted either
            raise EosReplyError(self.name, command, f"unreadable reply {frame[:40]!r}: "
                                f"{error}") from None
        return found

    def exchange(self, message: dict[str, Any],
                 done: Callable[[list[dict[str, Any]]], bool]) -> None:
        """Send ``message``, then read frames until one makes ``done`` true.

        Every label object read updates `labels` / `props`; an ``Error`` object
        raises `DriverError` with the system's reason.
        """
        command = json.dumps(message)
        self.send(message)
        error: str | None = None
        while True:
            frame = self._next_frame(command)
            for obj in frame:
                label = str(obj["label"])
                if "Error" in label:
                    error = error or str(obj.get("value"))
                    continue
                if isinstance(obj.get("value"), dict):
                    self.props[label] = obj["value"]
                    self.labels[label] = obj["value"].get("value")
                else:
                    self.labels[label] = obj.get("value")
            if done(frame):
                if error is not None:  # the reply is read: the stream stays in step
                    raise DriverError(self.name, command, error)
                return

    def refresh(self) -> dict[str, Any]:
        """Every label's value, read fresh (a ``labelProps`` request)."""
        self.exchange({"request": "labelProps", "value": "None"},
                      lambda frame: any(o["label"] == "NumberOfDetectors" and
                                        isinstance(o.get("value"), dict) for o in frame))
        return self.labels

    def command(self, command: str, label: str, value: Any) -> None:
        """A setting, confirmed: the refresh after it reports any error it caused."""
        message = {"command": command, "label": label, "value": value}
        self.send(message)
        try:
            self.refresh()
        except DriverError as error:
            if isinstance(error, EosReplyError) or error.command == json.dumps(message):
                raise
            unreached = isinstance(error, TransportError)   # stays retryable
            raise (TransportError if unreached else DriverError)(
                self.name, json.dumps(message), error.reply) from None

    def bias_voltages_mv(self) -> list[float]:
        self.exchange({"request": "BiasVoltage"},
                      lambda frame: any(o["label"] == "BiasVoltage" for o in frame))
        return [float(v) for v in self.labels["BiasVoltage"]]

    # --- counts port --------------------------------------------------------------

    def next_counts(self) -> list[float]:
        """The first counts line that starts after this call: ``[time, c1, ..., cN]``."""
        command = "counts stream"
        if self._counts is None:
            self._counts = self._open(1)
        sock = self._counts
        stale = b""
        try:
            sock.setblocking(False)
            try:
                while chunk := sock.recv(1 << 16):
                    stale = chunk
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        except OSError as error:
            raise self._lost(command, error) from None
        self._lines.clear()
        # the bytes up to the first line end may be the tail of a line from before this call
        started = stale == b"" or stale.endswith(b"\n")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\n" in self._lines:
                end = self._lines.index(b"\n")
                line = bytes(self._lines[:end])
                del self._lines[:end + 1]
                if started:
                    return self._counts_values(line)
                started = True
            sock.settimeout(max(deadline - time.monotonic(), 1e-3))
            try:
                chunk = sock.recv(1 << 16)
            except OSError as error:
                raise self._lost(command, error) from None
            if not chunk:
                raise self._lost(command, ConnectionResetError("closed by the Eos"))
            self._lines.extend(chunk)

    def _counts_values(self, line: bytes) -> list[float]:
        try:
            return [float(v) for v in line.decode("ascii").split(",")]
        except ValueError as error:
            self.close()
            raise EosReplyError(self.name, "counts stream",
                                f"unreadable line {line[:40]!r}: {error}") from None


class QuantumEosChannel(InstrumentChannel["QuantumEos"]):
    """One detector: bias current, count rate, bias voltage, latch and reset."""

    #: Methods `labctl node serve` lets an orchestrator call (`labctl.remote.allowlist`).
    remote_methods: ClassVar[tuple[str, ...]] = ("reset_latch",)

    def __init__(self, parent: QuantumEos, name: str, channel: int, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.channel = channel
        n = channel
        self.bias_current: Parameter = self.add_parameter(
            "bias_current", label=f"Bias current ch{n}", unit="A",
            get_cmd=lambda: parent.list_label("BiasCurrent")[n - 1] * 1e-6,
            set_cmd=self._set_bias, vals=vals.Numbers(*parent.bias_current_range_a))
        self.output: Parameter = self.add_parameter(
            "output", label="Bias enable (all detectors)",
            get_cmd=parent.enabled, set_cmd=parent.set_enabled, vals=vals.Bool(),
            docstring="The Eos enables all its detectors together: this is the "
                      "system's DetectorEnable, shared by every channel.")
        self.trigger_level: Parameter = self.add_parameter(
            "trigger_level", label=f"Trigger level ch{n}", unit="V",
            get_cmd=lambda: parent.list_label("TriggerLevel")[n - 1] * 1e-3,
            set_cmd=self._set_trigger, vals=vals.Numbers(-1.0, 1.0))
        self.bias_voltage: Parameter = self.add_parameter(
            "bias_voltage", label=f"Bias voltage ch{n}", unit="V", set_cmd=False,
            get_cmd=lambda: parent.connection.bias_voltages_mv()[n - 1] * 1e-3)
        self.count_rate: Parameter = self.add_parameter(
            "count_rate", label=f"Count rate ch{n}", unit="Hz", set_cmd=False,
            get_cmd=self._count_rate, vals=vals.Numbers(min_value=0.0))
        self.latched: Parameter = self.add_parameter(
            "latched", label=f"Latched ch{n}", set_cmd=False, get_cmd=self._latched,
            vals=vals.Bool(),
            docstring="True when the bias voltage shows a resistive (latched) wire.")
        self.auto_reset: Parameter = self.add_parameter(
            "auto_reset", label=f"Software auto-reset ch{n}", initial_value=False,
            get_cmd=None, set_cmd=None, vals=vals.Bool(),
            docstring="labctl's, not the Eos's: when on, reading the channel's latch "
                      "or count rate resets a latched wire first.")

    def _set_bias(self, bias_a: float) -> None:
        currents = list(self.parent.list_label("BiasCurrent"))
        currents[self.channel - 1] = round(bias_a * 1e6, 4)
        self.parent.connection.command("SetAllBiasCurrents", "BiasCurrent", currents)

    def _set_trigger(self, level_v: float) -> None:
        levels = list(self.parent.list_label("TriggerLevel"))
        levels[self.channel - 1] = round(level_v * 1e3, 3)
        self.parent.connection.command("SetAllTriggerLevels", "TriggerLevel", levels)

    def _is_latched(self) -> bool:
        voltage_v = float(self.bias_voltage.get())
        current_a = float(self.bias_current.get())
        if current_a == 0.0 or not self.parent.enabled():
            return False
        return abs(voltage_v / current_a) > self.parent.latch_resistance_ohm

    def _latched(self) -> bool:
        if self._is_latched() and self.auto_reset.get():
            log.info("%s latched: software auto-reset", self.full_name)
            return not self.reset_latch()
        return self._is_latched()

    def _count_rate(self) -> float:
        if self.auto_reset.get():
            self._latched()
        period_s = float(self.parent.measurement_period.get())
        counts = self.parent.connection.next_counts()
        if len(counts) <= self.channel:
            raise EosReplyError(self.parent.name, "counts stream",
                                f"a line of {len(counts) - 1} detectors has no channel "
                                f"{self.channel}")
        return max(counts[self.channel], 0.0) / period_s

    def reset_latch(self) -> bool:
        """Bias to zero, hold `QuantumEos.reset_hold_s`, bias back; True if no longer latched.

        A channel still latched afterwards (a warm or over-biased wire) is
        reported with a warning; what to do about it is the caller's decision.
        """
        setpoint = float(self.bias_current.get())
        self._set_bias(0.0)
        time.sleep(self.parent.reset_hold_s)
        self._set_bias(setpoint)
        still_latched = self._is_latched()
        if still_latched:
            log.warning("%s is still latched after a reset", self.full_name)
        return not still_latched


class EosDetectors(Adapter["QuantumEos"]):
    """The Eos detectors as `labctl.instruments.SinglePhotonDetectors` (channels 1..N)."""

    def _channel(self, channel: int) -> Any:
        count = len(self.instrument.channels)
        if isinstance(channel, bool) or not isinstance(channel, int) or \
                not 1 <= channel <= count:
            raise ValueError(f"{self.instrument.name}: no detector channel {channel!r} "
                             f"(1..{count})")
        return getattr(self.instrument, f"ch{channel}")

    def detector_channels(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.instrument.channels) + 1))

    def set_bias_a(self, channel: int, bias_a: float) -> None:
        self._channel(channel).bias_current(bias_a)

    def bias_a(self, channel: int) -> float:
        return float(self._channel(channel).bias_current())

    def set_bias_enabled(self, channel: int, on: bool) -> None:
        """Enables or disables *every* detector: the Eos has one enable for all."""
        self._channel(channel).output(on)

    def count_rate_hz(self, channel: int) -> float:
        return float(self._channel(channel).count_rate())

    def is_latched(self, channel: int) -> bool:
        return bool(self._channel(channel).latched())

    def reset_latch(self, channel: int) -> None:
        self._channel(channel).reset_latch()

    def safe_state(self) -> None:
        self.instrument.safe_state()


def parse_address(address: str) -> tuple[str, int, int]:
    """``host``, ``host:control`` or ``host:control:counts`` -> (host, control, counts)."""
    parts = address.split(":")
    if not parts[0] or len(parts) > 3:
        raise LabctlError(f"Eos address {address!r} is not host[:control_port[:counts_port]]")
    try:
        ports = [int(p) for p in parts[1:]]
    except ValueError:
        raise LabctlError(f"Eos address {address!r}: ports must be numbers") from None
    defaults = [QuantumEos.control_port, QuantumEos.counts_port]
    control, counts = [*ports, *defaults[len(ports):]]
    return parts[0], control, counts


class QuantumEos(Instrument):
    """Single Quantum Eos: one channel ``chN`` per detector the system reports."""

    #: Provides `labctl.instruments.SinglePhotonDetectors` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = EosDetectors
    #: The model field of the unit's identity this driver drives (an Eos system);
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"Eos"

    #: Default TCP ports (WebSQControl): control messages and the counts stream.
    control_port: ClassVar[int] = 12000
    counts_port: ClassVar[int] = 12345
    #: Bias current range labctl uses, A (the unit allows -90.9..90.9 uA).
    bias_current_range_a: ClassVar[tuple[float, float]] = (0.0, 90.9e-6)
    #: Measurement period range, ms (minimum 10 ms, WebSQControl; maximum labctl's choice).
    measurement_period_range_ms: ClassVar[tuple[int, int]] = (10, 60_000)
    #: A wire whose bias voltage / bias current exceeds this is latched (labctl's threshold).
    latch_resistance_ohm: ClassVar[float] = 2_000.0
    #: How long a reset holds the bias at zero, s (labctl's choice).
    reset_hold_s: ClassVar[float] = 0.05

    def __init__(self, name: str, address: str, timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        host, control, counts = parse_address(address)
        self.connection = EosConnection(name, host, control, counts, timeout)
        try:
            count = int(self.connection.refresh()["NumberOfDetectors"])
        except BaseException:
            self.connection.close()
            raise
        self.number_of_detectors: Parameter = self.add_parameter(
            "number_of_detectors", label="Number of detectors", set_cmd=False,
            get_cmd=lambda: int(self.connection.refresh()["NumberOfDetectors"]))
        self.measurement_period: Parameter = self.add_parameter(
            "measurement_period", label="Counts measurement period", unit="s",
            get_cmd=lambda: float(self.connection.labels["InptMeasurementPeriod"]) / 1e3
            if "InptMeasurementPeriod" in self.connection.labels
            else float(self.connection.refresh()["InptMeasurementPeriod"]) / 1e3,
            set_cmd=lambda s: self.connection.command(
                "SetMeasurementPeriod", "InptMeasurementPeriod", round(s * 1e3)),
            vals=vals.Numbers(self.measurement_period_range_ms[0] / 1e3,
                              self.measurement_period_range_ms[1] / 1e3))
        channels = ChannelList(self, "channels", QuantumEosChannel)
        for n in range(1, count + 1):
            channel = QuantumEosChannel(self, f"ch{n}", n)
            channels.append(channel)
            self.add_submodule(f"ch{n}", channel)
        channels.lock()
        self.channels: ChannelList[QuantumEosChannel] = self.add_submodule("channels", channels)
        self.connect_message()

    def get_idn(self) -> dict[str, str | None]:
        """The Eos has no identification query: maker and model, and the detector count."""
        count = int(self.connection.refresh()["NumberOfDetectors"])
        return {"vendor": "Single Quantum", "model": "Eos", "serial": None,
                "firmware": f"{count} detectors"}

    def limits(self) -> dict[str, Any]:
        """The unit's own bounds and units of each label, as it reports them."""
        self.connection.refresh()
        return {label: {k: v for k, v in props.items() if k != "value"}
                for label, props in self.connection.props.items()}

    def list_label(self, label: str) -> list[float]:
        values = self.connection.refresh()[label]
        if not isinstance(values, list) or len(values) != len(self.channels):
            raise EosReplyError(self.name, label, f"expected {len(self.channels)} values, "
                                f"got {values!r}")
        return [float(v) for v in values]

    def enabled(self) -> bool:
        return bool(self.connection.refresh()["DetectorEnable"])

    def set_enabled(self, on: bool) -> None:
        self.connection.command("DetectorEnable", "DetectorEnable", bool(on))

    def safe_state(self) -> None:
        """Every bias to zero, detectors disabled; verified by reading both back."""
        zeros = [0.0] * len(self.channels)
        self.connection.command("SetAllBiasCurrents", "BiasCurrent", zeros)
        self.connection.command("DetectorEnable", "DetectorEnable", False)
        labels = self.connection.refresh()
        if any(float(v) != 0.0 for v in labels["BiasCurrent"]) or labels["DetectorEnable"]:
            raise DriverError(self.name, "safe state", f"read back bias "
                              f"{labels['BiasCurrent']} uA, enabled {labels['DetectorEnable']}")
        for channel in self.channels:
            channel.bias_current.cache.set(0.0)
            channel.output.cache.set(False)

    def close(self) -> None:
        self.connection.close()
        super().close()
