"""Pure, seeded physics models of a quantum-network link (numpy/scipy only)."""
