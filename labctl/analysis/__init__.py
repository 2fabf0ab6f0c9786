"""Lineshapes, lmfit models and counting estimators returning frozen results.

- `labctl.analysis.fitting`: `fit` / `fit_counts`, a shared lmfit runner whose
  `FitResult` says ``converged=False`` and why, rather than a wrong number;
- `labctl.analysis.models`: lineshapes (reusing `labctl.physics`) and their
  lmfit models: phase matching, SNSPD bias scan, Rabi, Ramsey, echo/DD,
  memory under entangling attempts, HOM dip, detector timing;
- `labctl.analysis.estimators`: correlators (with readout correction),
  Bell-state fidelity, CHSH value and game p-value, herald rate.
"""
