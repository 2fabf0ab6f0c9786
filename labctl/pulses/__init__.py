"""Pulse-sequence description turned into AWG waveforms and markers."""
