"""What a lab checks on day one, reading only: identity, settings in range, nothing queued.

One run per instrument of the lab profile (see conftest.py); the role's
checks read through the capability the experiments use, so a unit that
passes here is one the experiments can drive.
"""

from __future__ import annotations

import math
import re

import pytest

from labctl.instruments.laser import LaserStatus
from labctl.safety import numeric_range

pytestmark = pytest.mark.hardware


def test_the_unit_is_the_model_its_driver_drives(unit):
    idn = unit.instrument.get_idn()
    assert idn.get("model"), f"{unit.spec.name} gives no model in its identity: {idn}"
    expected = getattr(unit.spec.driver, "expected_model", None) or \
        getattr(unit.spec.adapter, "expected_model", None)
    if expected is not None:
        assert re.search(expected, str(idn["model"])), (idn, expected)


def test_every_parameter_reads_and_nothing_is_queued(unit):
    snapshot = unit.instrument.snapshot(update=True)
    assert snapshot["parameters"]
    drain = getattr(unit.instrument, "drain_error_queue", None)
    if callable(drain):
        assert drain() == []


def test_safety_limited_settings_are_within_their_limits(unit):
    for limit in unit.spec.safety_limits:
        node = unit.instrument
        *path, leaf = limit.parameter.split(".")
        for part in path:
            node = node.submodules[part]
        parameter = node.parameters[leaf]
        lower, upper = numeric_range(parameter)
        value = parameter.get()
        assert lower <= value <= upper, (limit.parameter, value, lower, upper)


def test_the_role_reads_through_its_capability(unit):
    role, capability = unit.spec.role, unit.capability
    if role in ("excitation_laser", "phase_reference_laser"):
        assert isinstance(capability.status(), LaserStatus)
        assert capability.wavelength_nm() > 0
        assert capability.power_w() >= 0
    elif role == "mw_source":
        assert capability.frequency_hz() > 0
        assert isinstance(capability.output(), bool)
    elif role == "snspd":
        assert capability.detector_channels()
        for channel in unit.spec.wiring.values():
            assert math.isfinite(capability.bias_a(int(channel)))
            assert isinstance(capability.is_latched(int(channel)), bool)
    elif role == "time_tagger":
        channels = set(capability.input_channels())
        for channel in unit.spec.wiring.values():
            assert int(channel) in channels
            capability.input_delay_ps(int(channel))
            assert math.isfinite(capability.trigger_level_v(int(channel)))
    elif role == "awg":
        assert capability.sample_rate_hz() > 0
        assert capability.limits().max_waveform_points > 0
    elif role == "frequency_converter":
        assert math.isfinite(capability.oven_temperature_c())
        assert capability.pump_power_w() >= 0
    else:
        pytest.skip(f"no read-only capability check for role {role!r}")
