"""Driver parameter get/set round trips per second through pyvisa-sim, against a bare
QCoDeS `Parameter` (no instrument, same validator) measured in the same run.

The driver path includes everything a real station pays for apart from the
wire: QCoDeS parameter machinery, pyvisa message formatting and parsing, the
pyvisa-sim device model, and labctl's ``SYST:ERR?`` check after every write.
"""

from __future__ import annotations

from qcodes import validators as vals
from qcodes.parameters import Parameter

from benchmarks.harness import calls_per_second, report
from drivers.santec_tsl570 import SantecTSL570


def main() -> None:
    laser = SantecTSL570("bench_laser", "GPIB::1::INSTR",
                         pyvisa_sim_file="sim_instruments.visa:santec_tsl570.yaml")
    bare = Parameter("bare_power", unit="W", set_cmd=None, get_cmd=None,
                     vals=vals.Numbers(1e-5, 0.02), initial_value=0.001)
    try:
        values = (0.001, 0.002)
        state = {"i": 0}

        def driver_round_trip() -> None:
            state["i"] ^= 1
            laser.power.set(values[state["i"]])
            laser.power.get()

        def bare_round_trip() -> None:
            state["i"] ^= 1
            bare.set(values[state["i"]])
            bare.get()

        driver_rate = calls_per_second(driver_round_trip, seconds=2.0)
        bare_rate = calls_per_second(bare_round_trip, seconds=2.0)
        get_rate = calls_per_second(laser.power.get, seconds=1.0)
        report("driver_set_get_round_trips_pyvisa_sim", driver_rate, "round trips/s")
        report("driver_get_pyvisa_sim", get_rate, "gets/s")
        report("bare_parameter_set_get_round_trips", bare_rate, "round trips/s")
        report("driver_vs_bare_parameter_ratio", driver_rate / bare_rate, "x")
    finally:
        laser.close()


if __name__ == "__main__":
    main()
