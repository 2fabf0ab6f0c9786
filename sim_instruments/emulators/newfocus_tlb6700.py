"""Emulator of the New Focus TLB-6700 Velocity controller with a TLB-6704 head (634-639 nm).

The Velocity's dialect is SCPI-like but has no ``SYSTem:ERRor?`` queue:

- every *set* command is answered with one line, ``OK`` when accepted and
  ``ERROR`` when refused (the refusal's text is labctl's rendering, as in the
  pyvisa-sim twin); the reason goes to an error buffer that ``ERRSTR?`` pops
  one entry at a time as ``<code>,<TEXT>`` (``0,NO ERROR`` when empty);
  ``*STB?`` reads 128 while the buffer holds errors;
- a refused *query* sends no reply (the controller times out);
- error codes are the controller's own, not SCPI's: 116 SYNTAX ERROR (unknown
  command, unreadable argument), 126 WRONG NUM OF PARAMS, 201 VALUE OUT OF
  RANGE (as listed by QuTech's QMI, ``qmi/instruments/newport/tlb670x_error_messages.py``);
- ``*IDN?`` is space separated (``New_Focus 6700 v2.4 03/19/14 SN1012``);
  commands end with a carriage return (Newport's USB library appends one),
  reply lines with CR LF.

The unit is a USB device: the virtual lab serves this emulator on loopback
TCP, and labctl's stand-in of Newport's USB library
(`sim_instruments.newport_usb_api`) carries the driver's
``newp_usb_send_ascii`` / ``newp_usb_get_ascii`` calls to it.

Settings live in the `LaserState`. Read-backs: the actual wavelength equals the
setpoint while ``state.locked``; unlocked, it sits `UNLOCKED_OFFSET_NM` above
the setpoint and wanders by `UNLOCKED_WANDER_NM` with the virtual time (when a
clock is given). The actual power is the setpoint while emitting (0 when
off) and the diode current follows it through a linear L-I curve above
threshold. Not emulated: constant-current mode (with ``SOURce:CPOWer 0`` the
power still follows its setpoint), the piezo's effect on the wavelength,
scans, and the diode-current setpoint.
"""

from __future__ import annotations

import logging
import math
import re

from sim_instruments.emulators.scpi import (
    MISSING_PARAMETER,
    PARAMETER_NOT_ALLOWED,
    Call,
    ScpiEmulator,
    ScpiError,
    parse_bool,
    parse_number,
    split_message,
)
from sim_instruments.world_state import LaserState, VirtualClock

log = logging.getLogger(__name__)

#: Tuning range of the TLB-6704 head, nm.
WAVELENGTH_RANGE_NM = (634.0, 639.0)
#: Diode power setpoint range, mW.
POWER_RANGE_MW = (0.0, 12.0)
#: Piezo voltage range, percent of full range.
PIEZO_RANGE_PERCENT = (0.0, 100.0)

#: Mean offset of the actual wavelength from the setpoint while unlocked, nm.
UNLOCKED_OFFSET_NM = 0.045
#: Amplitude and period of the unlocked wavelength's wander, nm and s.
UNLOCKED_WANDER_NM = 0.015
UNLOCKED_WANDER_PERIOD_S = 90.0

#: Diode L-I curve: threshold current (mA) and slope efficiency (mW/mA).
THRESHOLD_CURRENT_MA = 40.0
SLOPE_EFFICIENCY_MW_PER_MA = 0.23

#: The controller's error codes, and which SCPI refusal each engine code becomes.
NO_ERROR_ENTRY = "0,NO ERROR"
SYNTAX_ERROR = (116, "SYNTAX ERROR")
WRONG_NUM_OF_PARAMS = (126, "WRONG NUM OF PARAMS")
VALUE_OUT_OF_RANGE = (201, "VALUE OUT OF RANGE")
_FROM_SCPI: dict[int, tuple[int, str]] = {
    -100: SYNTAX_ERROR, -102: SYNTAX_ERROR, -104: SYNTAX_ERROR, -113: SYNTAX_ERROR,
    -108: WRONG_NUM_OF_PARAMS, -109: WRONG_NUM_OF_PARAMS,
    -222: VALUE_OUT_OF_RANGE, -224: VALUE_OUT_OF_RANGE,
}
_ENTRY_CODE = re.compile(r"^\s*([+-]?\d+)")

#: Reply lines to set commands.
ACKNOWLEDGEMENT = b"OK"
REFUSAL = b"ERROR"


def _single(call: Call) -> str:
    """The one argument of a set command (126 WRONG NUM OF PARAMS otherwise)."""
    arguments = call.arguments()
    if len(arguments) != 1 or not arguments[0]:
        raise ScpiError(PARAMETER_NOT_ALLOWED if len(arguments) > 1 else MISSING_PARAMETER,
                        call.header)
    return arguments[0]


class NewFocusTLB6700Emulator(ScpiEmulator):
    """A TLB-6700 Velocity with a TLB-6704 head, driving ``state``."""

    identity = "New_Focus 6700 v2.4 03/19/14 SN1012"
    #: The controller is a USB device with its own OK/ERRSTR? dialect, not a 488.2 device.
    ieee488_2 = False
    reply_terminator = b"\r\n"
    read_terminator = b"\r"
    #: The Velocity has no SCPI error queue: its errors are read with ERRSTR?.
    error_query = "ERRSTR?"

    def __init__(self, state: LaserState, clock: VirtualClock | None = None) -> None:
        super().__init__()
        self.state = state
        self.clock = clock
        self._refusals = 0
        self.register("*STB?", lambda call: "128" if self.errors else "0")
        self.register("SOURce:WAVElength", self._set_wavelength)
        self.register("SOURce:WAVElength?", lambda call: f"{self.state.wavelength_nm:.3f}")
        self.register("SENSe:WAVElength?", lambda call: f"{self.actual_wavelength_nm():.4f}")
        self.register("SOURce:POWer:DIODe", self._set_power)
        self.register("SOURce:POWer:DIODe?", lambda call: f"{self.state.power_w * 1e3:.3f}")
        self.register("SENSe:POWer:DIODe?",
                      lambda call: f"{self.state.actual_power() * 1e3:.3f}")
        self.register("SENSe:CURRent:DIODe?", lambda call: f"{self.diode_current_ma():.1f}")
        self.register("SOURce:CPOWer", self._set_constant_power)
        self.register("SOURce:CPOWer?", lambda call: _flag(self.state.constant_power))
        self.register("SOURce:VOLTage:PIEZo", self._set_piezo)
        self.register("SOURce:VOLTage:PIEZo?", lambda call: f"{self.state.piezo_percent:.2f}")
        self.register("OUTPut:TRACk", self._set_tracking)
        self.register("OUTPut:TRACk?", lambda call: _flag(self.state.tracking))
        self.register("OUTPut:STATe", self._set_emission)
        self.register("OUTPut:STATe?", lambda call: _flag(self.state.emission))

    # -- the dialect: OK / ERROR acknowledgements and the ERRSTR? buffer ------------------

    def respond(self, message: bytes) -> bytes | None:
        """Answer queries with their value; set commands with ``OK`` or ``ERROR``."""
        commands = [header for header, _ in split_message(message) if header.strip()]
        if not commands:
            return None
        refusals = self._refusals
        reply = super().respond(message)
        if any(header.strip().endswith(b"?") for header in commands):
            return reply
        return ACKNOWLEDGEMENT if self._refusals == refusals else REFUSAL

    def queue_error(self, entry: str) -> None:
        """Queue a refusal as the controller's ``<code>,<TEXT>`` entry."""
        self._refusals += 1
        match = _ENTRY_CODE.match(entry)
        code, text = _FROM_SCPI.get(int(match.group(1)), SYNTAX_ERROR) if match \
            else SYNTAX_ERROR
        log.debug("TLB-6700 emulator: %s queued as %d,%s", entry, code, text)
        super().queue_error(f"{code},{text}")

    def pop_error(self) -> str:
        return self.errors.popleft() if self.errors else NO_ERROR_ENTRY

    def reset(self) -> None:
        """``*RST`` restarts the controller: emission and tracking off, buffer cleared."""
        self.state.emission = False
        self.state.tracking = False
        self.errors.clear()

    # -- read-backs ---------------------------------------------------------------------

    def actual_wavelength_nm(self) -> float:
        """The wavelength the head's sensor reads: the setpoint unless unlocked."""
        if self.state.locked:
            return self.state.wavelength_nm
        now = self.clock.now() if self.clock is not None else 0.0
        wander = UNLOCKED_WANDER_NM * math.sin(2 * math.pi * now / UNLOCKED_WANDER_PERIOD_S)
        return self.state.wavelength_nm + UNLOCKED_OFFSET_NM + wander

    def diode_current_ma(self) -> float:
        """Diode current for the emitted power (0 with emission off), mA."""
        if not self.state.emission:
            return 0.0
        return THRESHOLD_CURRENT_MA + self.state.actual_power() * 1e3 / SLOPE_EFFICIENCY_MW_PER_MA

    # -- set commands -------------------------------------------------------------------

    def _set_wavelength(self, call: Call) -> None:
        self.state.wavelength_nm = parse_number(_single(call), *WAVELENGTH_RANGE_NM)

    def _set_power(self, call: Call) -> None:
        self.state.power_w = parse_number(_single(call), *POWER_RANGE_MW) / 1e3

    def _set_piezo(self, call: Call) -> None:
        self.state.piezo_percent = parse_number(_single(call), *PIEZO_RANGE_PERCENT)

    def _set_constant_power(self, call: Call) -> None:
        self.state.constant_power = parse_bool(_single(call))

    def _set_tracking(self, call: Call) -> None:
        self.state.tracking = parse_bool(_single(call))

    def _set_emission(self, call: Call) -> None:
        self.state.emission = parse_bool(_single(call))
        log.debug("TLB-6700 emulator: emission %s", "on" if self.state.emission else "off")


def _flag(value: bool) -> str:
    return "1" if value else "0"
