"""QCoDeS's own Tektronix AWG5014 driver as labctl's pulse sequencer (an adapter).

`QcodesAWG5014Sequencer` lets a station use
`qcodes.instrument_drivers.tektronix.TektronixAWG5014` — the driver QCoDeS
ships, unchanged — in the ``awg`` role (`labctl.instruments.PulseSequencer`);
a station file names it with ``adapter: drivers.qcodes_awg5014.QcodesAWG5014Sequencer``.

What QCoDeS's driver provides and the adapter calls: the waveform list
(``send_waveform_to_list``, which deletes the name, creates it with
``WLISt:WAVeform:NEW`` and sends the ``INTeger`` words with
``WLISt:WAVeform:DATA``; ``delete_all_waveforms_from_list``), the sequence
table (``sequence_length``, ``set_sqel_waveform``, ``set_sqel_loopcnt`` /
``set_sqel_loopcnt_to_inf``, ``set_sqel_trigger_wait``,
``set_sqel_event_jump_type`` / ``set_sqel_event_jump_target_index``,
``set_sqel_goto_state`` / ``set_sqel_goto_target_index``), the channels'
``amp`` and ``state``, ``clock_freq`` (the sample rate), ``run_mode``,
``run`` / ``stop`` and its ``state`` (``AWGControl:RSTate?``).

What the adapter adds:

- dynamic jumps, which QCoDeS's driver does not cover: it sends
  ``AWGControl:EVENt:DJUMp:DEFine <pattern>,<target>`` for every pattern
  (target 0 clears one) and ``AWGControl:EVENt:JMODe {EJUMp|DJUMp}`` itself
  with the driver's ``write`` — the commands as the AWG5000/7000 programmer
  manual's command tables list them (see ``drivers/tektronix_awg5014c.py``
  for which of its commands are confirmed from Tektronix's text);
- the error queue, which QCoDeS's driver never reads: after each step of a
  load, after every setting and after run/stop it pops ``SYSTem:ERRor:NEXT?``
  (the driver's ``get_error``) until the unit answers 0 and raises
  `labctl.errors.DriverError` naming the step and the entries. One refusal
  per upload is expected and accepted: ``send_waveform_to_list`` deletes the
  waveform's name before creating it, and on a list the adapter has just
  emptied that ``WLISt:WAVeform:DELete`` names no waveform (-224); a refused
  creation or transfer always adds an entry of its own;
- everything checked before a byte is sent, against the facts labctl's own
  AWG5014C driver holds as class data (`drivers.tektronix_awg5014c.sequencer_limits`;
  the AWG5014 and AWG5014C share the sequencer): waveform names, lengths
  (the hardware sequencer's 250 points), sequence length, loop counts, jump
  and goto targets, dynamic-jump patterns;
- the same DAC codes as labctl's driver: QCoDeS truncates ``8191 * (1 + w)``
  where `wire_formats.tektronix_awg5014` rounds, so each sample is handed to
  it a quarter step above the code labctl's format gives it;
- `safe_state`: every output off and the AWG stopped, each step attempted
  even if another fails, verified by reading ``state`` back.

The adapter uses the driver's raw ``write`` for the dynamic jumps. Behind
`labctl node serve` that is no obstacle: the node runs the adapter next to
the driver and serves its capability (an orchestrator never sends raw
commands).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pyvisa.errors import VisaIOError
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from drivers.tektronix_awg5014c import (
    TektronixAWG5014C,
    check_waveform_length,
    check_waveform_name,
    sequencer_limits,
)
from labctl.errors import DriverError, LabctlError
from labctl.instruments.adapter import Adapter
from labctl.instruments.sequencer import SequencerLimits, check_sequence
from labctl.pulses.program import ChannelSamples, RenderedProgram, SequenceElement
from labctl.visa import drain_errors, parse_error_reply
from wire_formats.tektronix_awg5014 import CODE_HALF_RANGE, CODE_ZERO, SAMPLE_MASK, encode_waveform

log = logging.getLogger(__name__)

#: The error-queue code the unit gives a ``WLISt:WAVeform:DELete`` of a name not in the list.
_ABSENT_WAVEFORM = -224
#: Offset, in DAC steps, that makes QCoDeS's truncation land on the intended code.
_QUARTER_STEP = 0.25


class UnplayableProgram(LabctlError, ValueError):
    """A program or setting the AWG cannot play, refused before anything is sent."""


def qcodes_samples(samples: ChannelSamples) -> tuple[NDArray[np.float64], NDArray[np.int64],
                                                     NDArray[np.int64]]:
    """(w, m1, m2) for ``send_waveform_to_list`` that it packs into labctl's ``INTeger`` codes.

    Raises `ValueError` (from `wire_formats.tektronix_awg5014.encode_waveform`)
    for NaN, values outside [-1, 1] or markers that are not booleans.
    """
    words = encode_waveform(samples.analog, samples.marker1, samples.marker2)
    codes = (words & SAMPLE_MASK).astype(np.float64)
    top = CODE_ZERO + CODE_HALF_RANGE
    analog = np.where(codes >= top, 1.0,
                      (codes - CODE_ZERO + _QUARTER_STEP) / CODE_HALF_RANGE)
    return (analog, np.asarray(samples.marker1, dtype=np.int64),
            np.asarray(samples.marker2, dtype=np.int64))


class QcodesAWG5014Sequencer(Adapter[TektronixAWG5014]):
    """QCoDeS's `TektronixAWG5014` as a `labctl.instruments.PulseSequencer` (module docstring)."""

    #: The model QCoDeS's driver drives (`labctl.contact`).
    expected_model: ClassVar[str] = r"AWG5014"

    def limits(self) -> SequencerLimits:
        limits = sequencer_limits(TektronixAWG5014C)
        return dataclasses.replace(limits, channels=min(limits.channels,
                                                        len(self.instrument.channels)))

    def sample_rate_hz(self) -> float:
        return float(self.instrument.clock_freq())

    def set_amplitude_vpp(self, channel: int, amplitude_vpp: float) -> None:
        self._channel(channel).amp(amplitude_vpp)
        self._check(f"ch{channel}.amp {amplitude_vpp}")

    def load_sequence(self, program: RenderedProgram) -> None:
        """Stop; replace the waveforms, the sequence and the jump table; outputs on; SEQ mode."""
        self._check_program(program)
        awg = self.instrument
        self._discard_earlier_errors()
        awg.stop()
        awg.delete_all_waveforms_from_list()
        self._check("WLISt:WAVeform:DELete ALL")
        for name, samples in program.waveforms.items():
            analog, marker1, marker2 = qcodes_samples(samples)
            awg.send_waveform_to_list(analog, marker1, marker2, name)
            self._check(f'WLISt:WAVeform:NEW/DATA "{name}" ({analog.size} points)',
                        tolerated=1)
        self._define_sequence(program.elements)
        self._check(f"sequence table ({len(program.elements)} elements)")
        if program.dynamic_jumps:
            for pattern in range(self.limits().max_jump_pattern + 1):
                target = int(program.dynamic_jumps.get(pattern, 0))
                awg.write(f"AWGControl:EVENt:DJUMp:DEFine {pattern},{target}")
            awg.write("AWGControl:EVENt:JMODe DJUMp")
            self._check("AWGControl:EVENt:DJUMp:DEFine (dynamic-jump table)")
        else:
            awg.write("AWGControl:EVENt:JMODe EJUMp")
            self._check("AWGControl:EVENt:JMODe EJUMp")
        for channel in program.channels:
            self._channel(channel).state(1)
        awg.run_mode("SEQ")
        self._check(f"outputs {list(program.channels)} on, run mode SEQ")
        log.info("%s: loaded %d waveforms and a sequence of %d elements%s", awg.name,
                 len(program.waveforms), len(program.elements),
                 " with dynamic jumps" if program.dynamic_jumps else "")

    def run(self) -> None:
        state = self.instrument.run()
        self._check("AWGControl:RUN")
        log.info("%s: %s", self.instrument.name, state.lower())

    def stop(self) -> None:
        self.instrument.stop()
        self._check("AWGControl:STOP")

    def safe_state(self) -> None:
        """Every output off and the AWG stopped, read back; raises if any step failed.

        Every step is attempted even if an earlier one fails.
        """
        awg = self.instrument
        failures: list[str] = []
        first: BaseException | None = None
        steps: list[tuple[str, Any]] = [
            (f"{channel.short_name} off", lambda channel=channel: channel.state(0))
            for channel in awg.channels]
        steps.append(("stop", awg.stop))
        steps += [(f"{channel.short_name} reads off",
                   lambda channel=channel: self._expect(channel.state(), 0))
                  for channel in awg.channels]
        steps.append(("reads stopped", lambda: self._expect(awg.get_state(), "Idle")))
        for what, step in steps:
            try:
                step()
            except (VisaIOError, LabctlError, ValueError, OSError) as error:
                log.error("%s: safe state: %s failed: %s", awg.name, what, error)
                failures.append(f"{what}: {error}")
                first = first or error
        if failures:
            raise LabctlError(f"{awg.name}: safe state not reached ("
                              + "; ".join(failures) + ")") from first
        log.info("%s: safe state (outputs off, stopped)", awg.name)

    # --- helpers ---------------------------------------------------------------

    def _channel(self, number: int) -> Any:
        channels = self.instrument.channels
        if not 1 <= number <= len(channels):
            raise UnplayableProgram(f"channel must be 1 .. {len(channels)}, got {number}")
        return channels[number - 1]

    @staticmethod
    def _expect(value: object, wanted: object) -> None:
        if value != wanted:
            raise LabctlError(f"read back {value!r}, expected {wanted!r}")

    def _check_program(self, program: RenderedProgram) -> None:
        """Refuse what this AWG cannot play before anything is sent."""
        limits = self.limits()
        for name, samples in program.waveforms.items():
            try:
                check_waveform_name(name)
                check_waveform_length(len(samples.analog), limits.min_waveform_points,
                                      limits.max_waveform_points,
                                      limits.waveform_granularity)
                encode_waveform(samples.analog, samples.marker1, samples.marker2)
            except ValueError as error:
                raise UnplayableProgram(f"waveform {name!r}: {error}") from None
        try:
            check_sequence(program.elements, limits, program.dynamic_jumps)
        except (TypeError, ValueError) as error:
            raise UnplayableProgram(str(error)) from None
        for index, element in enumerate(program.elements, start=1):
            unknown = [n for n in element.waveforms if n is not None
                       and n not in program.waveforms]
            if unknown:
                raise UnplayableProgram(f"element {index} plays waveforms the program does "
                                        f"not define: {', '.join(unknown)}")

    def _define_sequence(self, elements: tuple[SequenceElement, ...]) -> None:
        awg = self.instrument
        awg.sequence_length(0)
        awg.sequence_length(len(elements))
        for index, element in enumerate(elements, start=1):
            for channel, name in enumerate(element.waveforms, start=1):
                if name is not None:
                    awg.set_sqel_waveform(name, channel, index)
            awg.set_sqel_loopcnt_to_inf(index, int(element.infinite))
            awg.set_sqel_loopcnt(element.loop_count, index)
            awg.set_sqel_trigger_wait(index, int(element.wait_for_trigger))
            if element.event_jump is None:
                awg.set_sqel_event_jump_type(index, "OFF")
            elif element.event_jump == "next":
                awg.set_sqel_event_jump_type(index, "NEXT")
            else:
                awg.set_sqel_event_jump_type(index, "INDEX")
                awg.set_sqel_event_jump_target_index(index, element.event_jump)
            awg.set_sqel_goto_state(index, 0 if element.goto is None else 1)
            if element.goto is not None:
                awg.set_sqel_goto_target_index(index, element.goto)

    def _errors(self) -> list[str]:
        """Pop the error queue until the unit reports none; the entries."""
        return drain_errors(self.instrument.get_error)

    def _discard_earlier_errors(self) -> None:
        """Entries queued before a load belong to earlier commands: log them, do not blame it."""
        stale = self._errors()
        if stale:
            log.warning("%s: error queue held earlier entries: %s", self.instrument.name,
                        "; ".join(stale))

    def _check(self, command: str, tolerated: int = 0) -> None:
        """Raise `DriverError` if the unit queued errors for ``command``.

        ``tolerated``: that many leading ``-224`` entries are the expected
        refusal of deleting an absent waveform (module docstring).
        """
        entries = self._errors()
        while tolerated and entries and _code(entries[0]) == _ABSENT_WAVEFORM:
            log.debug("%s: %s: expected refusal %s", self.instrument.name, command, entries[0])
            entries = entries[1:]
            tolerated -= 1
        if entries:
            log.warning("%s refused %s: %s", self.instrument.name, command, "; ".join(entries))
            raise DriverError(self.instrument.name, command, "; ".join(entries))


def _code(entry: str) -> int | None:
    try:
        return parse_error_reply(entry)
    except ValueError:
        return None
