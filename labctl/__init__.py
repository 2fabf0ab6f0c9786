"""labctl: run, simulate and certify quantum-network experiments.

The framework package. It imports nothing from ``drivers``, ``sim_instruments``
or ``experiments``; those are found by name (station files, entry points).
"""

__version__ = "0.1.0"
