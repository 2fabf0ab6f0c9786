"""Everything that stands in for hardware: pyvisa-sim twins and the virtual lab."""
