"""QCoDeS drivers, one module per instrument model (named by import path in station files)."""
