"""`labctl predict link --station` predicts what `labctl run` then measures on that station.

The prediction comes from the station's own world as the experiment's
``prepare`` sets it up (`labctl.commands.predict.station_link`); the runs go
through `labctl run` on the same station file and profile. Every comparison
is within Z = 3 standard errors of the measurement: the herald rate's
Poisson error √N / T, and the fidelity's, each correlator's and S's errors as
the experiments report them (propagated binomial errors). The runs are
short, so the errors are large enough that 3σ is a meaningful but not a
fragile bound; the seeds are fixed (the world's seed, the run ids), so a
pass is reproducible.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from experiments.bell_test import BellTest, BellTestConfig
from labctl import cli
from labctl.commands.predict import station_link, violation_warning
from labctl.data.archive import Archive
from labctl.engine.runner import Engine

REPO = Path(__file__).parents[2]
STATION = REPO / "stations" / "two_node.yaml"
Z = 3.0


def labctl_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert cli.main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def predicted(capsys: pytest.CaptureFixture[str], experiment: str, *settings: str) -> dict:
    args = ["predict", "link", "--station", str(STATION), "--experiment", experiment]
    for setting in settings:
        args += ["--set", setting]
    return labctl_json(capsys, *args)


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, experiment: str,
        *settings: str) -> dict:
    args = ["run", experiment, "--station", str(STATION), "--data-dir", str(tmp_path)]
    for setting in settings:
        args += ["--set", setting]
    result = labctl_json(capsys, *args)
    assert result["status"] == "completed", result
    return result


def test_entanglement_run_agrees_with_the_station_prediction(tmp_path, capsys):
    settings = ("blocks=3", "block_seconds=60")
    prediction = predicted(capsys, "entanglement", *settings)
    assert prediction["settings"]["block_seconds"] == 60.0   # the --set values were used
    measured = run(capsys, tmp_path, "entanglement", *settings)
    heralds, seconds = measured["heralds"], measured["seconds"]
    assert heralds > 1000
    rate_error = math.sqrt(prediction["rate_hz"] * seconds) / seconds
    assert abs(measured["herald_rate_hz"] - prediction["rate_hz"]) < Z * rate_error, (
        measured["herald_rate_hz"], prediction["rate_hz"])
    assert abs(measured["fidelity"] - prediction["fidelity"]) < Z * measured["fidelity_err"], (
        measured["fidelity"], prediction["fidelity"], measured["fidelity_err"])
    for name, value in prediction["correlators"].items():
        error = measured["correlator_errors"][name]
        assert abs(measured["correlators"][name] - value) < Z * error, (
            name, measured["correlators"][name], value, error)


def test_bell_test_run_agrees_with_the_station_prediction(tmp_path, capsys):
    settings = ("blocks=2", "block_seconds=150")
    prediction = predicted(capsys, "bell_test", *settings)
    bell = prediction["bell"]
    # the default station cannot violate CHSH, and the prediction says so and why
    assert bell["S"] < 2.0 and prediction["chsh_S"] < 2.0
    assert prediction["warnings"] and "cannot violate CHSH" in prediction["warnings"][0]
    measured = run(capsys, tmp_path, "bell_test", *settings)
    assert measured["trials"] > 2000
    assert abs(measured["S"] - bell["S"]) < Z * measured["S_err"], (
        measured["S"], bell["S"], measured["S_err"])
    for name, value in bell["correlators"].items():
        error = measured["correlator_errors"][name]
        assert abs(measured["correlators"][name] - value) < Z * error, (
            name, measured["correlators"][name], value, error)
    rate_error = math.sqrt(prediction["rate_hz"] * measured["seconds"]) / measured["seconds"]
    assert abs(measured["trials"] / measured["seconds"] - prediction["rate_hz"]) \
        < Z * rate_error


def test_the_prediction_follows_the_experiments_settings(capsys):
    """α set with --set reaches the world through the experiment's own pulses (the
    microwave rotation its AWG plays): the world's α is the requested one (to within
    the AWG's sample rounding) and a larger α heralds more often (p ≈ 2αη + dark)."""
    low = predicted(capsys, "entanglement", "alpha=0.05")
    high = predicted(capsys, "entanglement", "alpha=0.2")
    assert low["parameters"]["alpha"] == pytest.approx(0.05, abs=0.01)
    assert high["parameters"]["alpha"] == pytest.approx(0.2, abs=0.01)
    assert high["rate_hz"] > 2.5 * low["rate_hz"]
    assert high["fidelity"] < low["fidelity"]


def test_a_bell_test_that_cannot_violate_warns_before_its_first_block(tmp_path, caplog):
    records_at_first_block: list[int] = []
    archive = Archive(tmp_path / "archive")
    engine = Engine(archive, progress=False,
                    on_block=lambda index: records_at_first_block.append(len(caplog.records)))
    with caplog.at_level(logging.WARNING):
        outcome = engine.start(BellTest(BellTestConfig(blocks=1, block_seconds=5.0)),
                               STATION, "sim")
    archive.close()
    assert outcome.status == "completed", outcome.reason
    warnings = [i for i, r in enumerate(caplog.records)
                if r.levelno == logging.WARNING and "cannot violate CHSH" in r.getMessage()]
    assert warnings, [r.getMessage() for r in caplog.records]
    assert warnings[0] < records_at_first_block[0]   # said before block 0 was written
    message = caplog.records[warnings[0]].getMessage()
    assert "S_max" in message and "Hz of dark counts and noise" in message


def test_a_link_that_can_violate_gets_no_warning(tmp_path):
    """The near-ideal memory profile with a long-lived spin (T2* 1 ms, so nothing dephases
    between herald and readout) is predicted above 2: nothing to warn about."""
    text = STATION.read_text()
    old = "memory: {dephasing_per_attempt: 2.0e-6}"
    assert old in text
    station = tmp_path / "station.yaml"
    station.write_text(text.replace(old, "memory: {dephasing_per_attempt: 2.0e-6, "
                                         "t2_star: 1.0e-3}"))
    link, _ = station_link(station, "sim-memory", "bell_test", ["alpha=0.05"])
    assert violation_warning(link) is None


def test_a_lab_profile_says_what_it_cannot_predict(capsys):
    code = cli.main(["predict", "link", "--station", str(STATION), "--profile", "lab",
                     "--experiment", "entanglement"])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    assert "names no simulator" in error and "cannot be predicted" in error


def test_a_station_prediction_names_its_experiment(capsys):
    code = cli.main(["predict", "link", "--station", str(STATION)])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and "--experiment NAME" in error
