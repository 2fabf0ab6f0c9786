"""Every emulator answers the IEEE 488.2 mandatory common commands and keeps the status model.

IEEE 488.2-1992 §10 (common commands) and §11 (status reporting): ``*ESE``,
``*ESR?``, ``*SRE``, ``*STB?``, ``*OPC``, ``*CLS``, ``*IDN?``, ``*RST``,
``*TST?``, ``*WAI``, ``*OPC?`` and ``*OPT?``; errors set their class's bit in
the standard event status register; the status byte summarises it.
"""

from __future__ import annotations

import pytest

from labctl import station as station_module
from sim_instruments.emulators.scpi import (
    ESR_CME,
    ESR_EXE,
    ESR_OPC,
    ESR_PON,
    STB_EAV,
    STB_ESB,
    STB_MSS,
    ScpiEmulator,
)
from sim_instruments.emulators.tektronix_awg5014c import TektronixAWG5014CEmulator
from sim_instruments.virtual_lab import EMULATORS, build_world

#: Each emulator once (by labctl's driver); not those that speak no SCPI: the Swabian
#: service (an API), the PPLN converter (two serial units: Interbus and TC200 ASCII) and
#: the Single Quantum Eos (JSON over TCP).
NO_SCPI = ("SwabianTimeTagger", "PPLNFrequencyConverter", "QuantumEos")
UNITS = sorted(path for path in EMULATORS
               if path.startswith("drivers.") and not path.endswith(NO_SCPI))
#: Not IEEE 488.2 devices: the TLB-6700 (USB, its own ``OK``/``ERRSTR?`` dialect) and the
#: ID1000 (SCPI-like text over zmq, every message answered, refusals in the reply, no
#: status registers in IDQ's documentation).
NOT_488_2 = {"drivers.newfocus_tlb6700.NewFocusTLB6700", "drivers.idq_id1000.IDQID1000"}
SCPI_UNITS = [path for path in UNITS if path not in NOT_488_2]


def emulator_for(driver: str) -> ScpiEmulator:
    spec = station_module.read_spec("stations/two_node.yaml", "sim")
    simulated = station_module.simulated_station(spec)
    world = build_world(simulated)
    instrument = next(i for i in simulated.instruments
                      if i.driver.rsplit(".", 1)[-1] == driver.rsplit(".", 1)[-1])
    return EMULATORS[driver].factory(world, instrument)


def ask(emulator: ScpiEmulator, message: str) -> str:
    reply = emulator.respond(message.encode())
    return reply.decode() if reply is not None else ""


@pytest.mark.parametrize("driver", SCPI_UNITS)
def test_the_mandatory_common_commands_answer_as_the_standard_says(driver):
    unit = emulator_for(driver)
    assert int(ask(unit, "*ESR?")) & ESR_PON          # power on, once
    assert int(ask(unit, "*ESR?")) == 0                # reading clears it
    assert ask(unit, "*IDN?").count(",") == 3          # maker, model, serial, firmware
    assert ask(unit, "*TST?") == "0" and ask(unit, "*OPC?") == "1"
    assert ask(unit, "*OPT?")                          # "0" when the unit has no options
    assert ask(unit, "*ESE 60;*ESE?") == "60"
    assert ask(unit, "*SRE 32;*SRE?") == "32"
    assert int(ask(unit, "*STB?")) == 0
    ask(unit, "*OPC")
    assert int(ask(unit, "*ESR?")) == ESR_OPC
    ask(unit, "NOSUCH:HEADER")                          # a command error
    assert int(ask(unit, "*STB?")) & STB_EAV         # the error queue holds an entry
    assert int(ask(unit, "*STB?")) & STB_ESB and int(ask(unit, "*STB?")) & STB_MSS
    assert int(ask(unit, "*ESR?")) & ESR_CME
    assert int(ask(unit, "*STB?")) & STB_ESB == 0     # ESR? cleared the register ...
    assert int(ask(unit, "*STB?")) & STB_EAV         # ... not the error queue
    ask(unit, "*CLS")
    assert int(ask(unit, "*STB?")) == 0
    assert ask(unit, "*ESE?") == "60" and ask(unit, "*SRE?") == "32"   # masks survive *CLS
    ask(unit, "*RST")
    assert ask(unit, "*ESE?") == "60"                  # and *RST
    ask(unit, "*ESE 256")                               # out of range: an execution error
    assert int(ask(unit, "*ESR?")) & ESR_EXE
    assert ask(unit, "*ESE?") == "60"


def test_only_the_units_that_are_not_488_2_devices_go_without_the_status_model():
    assert {path for path in UNITS if not emulator_for(path).ieee488_2} == NOT_488_2


def test_a_unit_with_a_trigger_accepts_trg_one_without_refuses_it():
    awg = emulator_for("drivers.tektronix_awg5014c.TektronixAWG5014C")
    assert isinstance(awg, TektronixAWG5014CEmulator)
    ask(awg, "*CLS")
    ask(awg, "*TRG")
    assert int(ask(awg, "*ESR?")) == 0
    source = emulator_for("drivers.rs_sgs100a.RohdeSchwarzSGS100A")
    ask(source, "*CLS")
    ask(source, "*TRG")
    assert int(ask(source, "*ESR?")) & ESR_CME


def test_the_microwave_source_reports_its_frequency_option():
    source = emulator_for("drivers.rs_sgs100a.RohdeSchwarzSGS100A")
    assert "SGS-B112" in ask(source, "*OPT?")
