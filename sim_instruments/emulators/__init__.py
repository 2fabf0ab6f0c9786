"""Wire-protocol emulators of each driver's instrument, answered from the physics."""
