"""The same experiments on other labs' instruments: three station profiles, one result.

`labctl demo` (every experiment of the bring-up, then `labctl certify`) runs
unchanged on the default profile (labctl's drivers), on ``sim-qcodes``
(QCoDeS's own AWG5014 and SGS100A drivers through adapters) and on
``sim-swabian`` (a Swabian Time Tagger through its vendor API, cabled
differently); every estimate that carries a standard error agrees between
the profiles within 5 combined standard errors, and the stages' verdicts are
the same. Slow (`make test-all`): `make test` runs the default demo
(tests/sim/test_demo.py) and each profile's own experiments
(test_qcodes_profile.py, test_swabian_tagger.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import pytest

from labctl.data.archive import Archive
from labctl.engine.runner import analyze_run

PROFILES = ("sim-qcodes", "sim-swabian")
Z = 5.0


def estimates(prefix: str, value: Any) -> Iterator[tuple[str, float, float]]:
    """(name, value, standard error) of every ``x`` with an ``x_err`` beside it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        for key, item in value.items():
            error = value.get(f"{key}_err")
            if isinstance(item, int | float) and not isinstance(item, bool) and \
                    isinstance(error, int | float) and math.isfinite(item) and \
                    math.isfinite(error) and error > 0:
                yield f"{prefix}{key}", float(item), float(error)
            elif isinstance(item, dict | tuple) or dataclasses.is_dataclass(item):
                yield from estimates(f"{prefix}{key}.", item)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from estimates(f"{prefix}{index}.", item)


def results(demo: Any) -> dict[str, dict[str, tuple[float, float]]]:
    """Per run (experiment, and which of its runs) its estimates."""
    archive = Archive(demo.archive)
    try:
        found = {}
        seen: dict[str, int] = {}
        for info in archive.runs():
            _, result = analyze_run(archive, info.run_id)
            seen[info.experiment] = seen.get(info.experiment, 0) + 1
            key = f"{info.experiment} #{seen[info.experiment]}"
            found[key] = {name: (v, e) for name, v, e in estimates("", result)}
    finally:
        archive.close()
    return found


def verdicts(demo: Any) -> list[str]:
    lines = demo.completed.stdout.strip().splitlines()
    return [line.split(" (margin")[0] for line in lines if ": " in line
            and not line.startswith("report:")]


@pytest.mark.slow   # two whole demos (~4 min); make test keeps each profile's own checks
@pytest.mark.xdist_group("demo")   # one worker runs each profile's demo once
@pytest.mark.parametrize("profile", PROFILES)
def test_the_demo_runs_unchanged_and_agrees_with_the_default_profile(demo_of, profile):
    reference, other = demo_of("sim"), demo_of(profile)
    for demo in (reference, other):
        assert demo.completed.returncode == 0, demo.completed.stderr[-3000:]
        assert "failed" not in demo.completed.stderr, demo.completed.stderr[-3000:]
    assert verdicts(other) == verdicts(reference)
    expected, measured = results(reference), results(other)
    assert set(measured) == set(expected)
    compared = 0
    disagreements = []
    for run, values in expected.items():
        for name, (value, error) in values.items():
            if name not in measured[run]:
                continue
            other_value, other_error = measured[run][name]
            compared += 1
            if abs(other_value - value) > Z * math.hypot(error, other_error):
                disagreements.append(f"{run}: {name} {value:.6g} ± {error:.2g} vs "
                                     f"{other_value:.6g} ± {other_error:.2g}")
    assert compared >= 30, compared
    assert not disagreements, "\n".join(disagreements)
