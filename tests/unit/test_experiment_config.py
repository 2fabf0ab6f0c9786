"""`--set key=value` parsing into frozen experiment configs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from labctl.engine.experiment import parse_settings, settable_keys
from labctl.engine.stopping import AnyOf, Duration, FixedCount, History, StatisticBound
from labctl.errors import ParameterError


@dataclass(frozen=True)
class Config:
    blocks: int = 10
    alpha: float = 0.1
    filtered: bool = True
    protocol: Literal["single-click", "barrett-kok"] = "single-click"
    label: str = "x"
    limit: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")


def test_values_are_converted_by_their_declared_type():
    config = parse_settings(Config, ["blocks=3", "alpha=0.25", "filtered=off",
                                     "protocol=barrett-kok", "label=hello", "limit=2.5"])
    assert config == Config(3, 0.25, False, "barrett-kok", "hello", 2.5)
    assert parse_settings(Config, ["limit=none"]).limit is None


@pytest.mark.parametrize("settings, message", [
    (["colour=red"], "unknown --set key 'colour'"),
    (["blocks"], "is not key=value"),
    (["blocks=many"], "blocks=many: not a int"),
    (["alpha=big"], "alpha=big: not a float"),
    (["filtered=maybe"], "filtered=maybe: not a bool"),
    (["protocol=teleport"], "must be one of single-click, barrett-kok"),
    (["alpha=1.5"], "alpha must be within (0, 1)"),
])
def test_bad_settings_are_one_line_parameter_errors(settings, message):
    with pytest.raises(ParameterError) as caught:
        parse_settings(Config, settings)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_settable_keys_describe_the_types():
    keys = settable_keys(Config)
    assert keys["blocks"] == "int" and keys["protocol"] == "single-click|barrett-kok"


def test_stopping_rules():
    history = History()
    rule = AnyOf((FixedCount(3), Duration(25.0)))
    assert rule.done(history) is None
    history.add({"seconds": 10.0, "s": 2.5})
    history.add({"seconds": 10.0, "s": 2.5})
    assert rule.done(history) is None
    history.add({"seconds": 10.0, "s": 2.5})
    assert "3 blocks done" in rule.done(history)
    bound = StatisticBound("S", lambda h: (float(h.array("s").mean()), 0.1), 2.0, 5.0)
    assert "exceeds 2 by 5.0σ" in bound.done(history)
    assert StatisticBound("S", lambda h: (2.3, 0.1), 2.0, 5.0).done(history) is None
    with pytest.raises(ValueError):
        FixedCount(0)
