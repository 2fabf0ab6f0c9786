"""Vendors' wire formats, each shared by one unit's driver and its emulator.

A format a unit puts on the wire (the AWG5014's ``INTeger`` waveform words,
the ID1000's time-tag words) is written once, here, where both the driver in
``drivers/`` and the emulator in ``sim_instruments/`` can import it; labctl
itself never sees one (its time tags and waveforms are vendor-neutral arrays).
Pure numpy.
"""
