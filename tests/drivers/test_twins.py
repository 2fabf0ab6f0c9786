"""Every VISA driver has a pyvisa-sim twin it can open, snapshot and (if hazardous) make safe.

Modules of ``drivers/`` that speak no VISA (a vendor's Python library, or only
an adapter for QCoDeS's own driver) need no twin; every module provides a
capability through an adapter.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from qcodes import validators as vals
from qcodes.instrument import VisaInstrument

import drivers
from labctl.instruments.adapter import Adapter
from labctl.instruments.safety import SafeState

TWIN_DIR = Path(__file__).parents[2] / "sim_instruments" / "visa"
#: Drivers that control nothing hazardous (they only measure).
NOT_HAZARDOUS = {"IDQID1000"}


def all_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(drivers.__path__)
                  if not info.name.startswith("_"))


def _defines(module_name: str, base: type) -> bool:
    module = importlib.import_module(f"drivers.{module_name}")
    return any(issubclass(cls, base) and cls.__module__ == module.__name__
               for _, cls in inspect.getmembers(module, inspect.isclass))


def driver_modules() -> list[str]:
    """The modules with a VISA driver (each needs a pyvisa-sim twin)."""
    return [name for name in all_modules() if _defines(name, VisaInstrument)]


def driver_classes() -> list[tuple[str, type[VisaInstrument]]]:
    found = []
    for module_name in driver_modules():
        module = importlib.import_module(f"drivers.{module_name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, VisaInstrument) and cls.__module__ == module.__name__:
                found.append((module_name, cls))
    return found


def test_there_are_drivers():
    assert len(driver_modules()) >= 3  # the others speak no VISA (Eos: JSON over TCP, ...)


@pytest.mark.parametrize("module_name", driver_modules())
def test_every_driver_module_has_a_twin_yaml(module_name):
    assert (TWIN_DIR / f"{module_name}.yaml").is_file(), (
        f"drivers/{module_name}.py has no pyvisa-sim twin sim_instruments/visa/{module_name}.yaml")


@pytest.mark.parametrize("module_name", all_modules())
def test_every_driver_module_provides_a_capability_through_an_adapter(module_name):
    assert _defines(module_name, Adapter), f"drivers/{module_name}.py defines no Adapter"


def test_every_twin_belongs_to_a_visa_driver():
    twins = {path.stem for path in TWIN_DIR.glob("*.yaml")}
    assert twins == set(driver_modules())


@pytest.mark.parametrize("module_name, cls", driver_classes(),
                         ids=[cls.__name__ for _, cls in driver_classes()])
def test_driver_opens_on_its_twin_and_reads_its_whole_snapshot(open_twin, module_name, cls):
    instrument = open_twin(cls, f"{module_name}.yaml")
    snapshot = instrument.snapshot(update=True)
    assert snapshot["parameters"]["IDN"]["value"]["model"]


@pytest.mark.parametrize("module_name, cls", driver_classes(),
                         ids=[cls.__name__ for _, cls in driver_classes()])
def test_hazardous_drivers_have_safe_state(module_name, cls):
    if cls.__name__ in NOT_HAZARDOUS:
        pytest.skip(f"{cls.__name__} only measures")
    assert issubclass(cls, SafeState), f"{cls.__name__} has no safe_state()"


@pytest.mark.parametrize("module_name, cls", driver_classes(),
                         ids=[cls.__name__ for _, cls in driver_classes()])
def test_every_parameter_has_unit_label_and_validator(module_name, cls, open_twin):
    instrument = open_twin(cls, f"{module_name}.yaml")
    missing = []
    for module in [instrument, *instrument.instrument_modules.values(),
                   *(channel for channels in instrument.submodules.values()
                     if hasattr(channels, "__iter__") for channel in channels)]:
        for name, parameter in module.parameters.items():
            if name in ("IDN", "timeout") or not parameter.settable:
                continue
            if parameter.vals is None:
                missing.append(f"{parameter.full_name}: no validator")
            elif isinstance(parameter.vals, vals.Numbers) and not parameter.unit:
                missing.append(f"{parameter.full_name}: no unit")
            if not parameter.label:
                missing.append(f"{parameter.full_name}: no label")
    assert not missing, missing
