"""pyvisa-sim YAML twins, one per driver, loaded through QCoDeS ``pyvisa_sim_file``."""
