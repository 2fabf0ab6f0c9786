"""`labctl certify` on the virtual lab: three worlds, three stages; bad inputs.

The worlds are the station's certification profiles (stations/two_node.yaml):
``sim-prepare-measure`` (good phase stability and readout, single click),
``sim-entanglement`` (near-ideal photons and readout, Barrett–Kok) and
``sim-memory`` (the same link with a memory robust to entangling attempts).
Each must attain exactly its stage (Wehner, Elkouss & Hanson 2018, Table 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.cli import main
from labctl.station import DEFAULT_STATION


def certify(capsys, tmp_path: Path, *arguments: str) -> dict:
    code = main(["certify", "--json", "--data-dir", str(tmp_path / "archive"), *arguments])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("profile, options, stage", [
    ("sim-prepare-measure", ["--alpha", "0.03"], "prepare_and_measure"),
    ("sim-entanglement", ["--protocol", "barrett-kok", "--block-seconds", "400"],
     "entanglement_distribution"),
    ("sim-memory", ["--protocol", "barrett-kok", "--block-seconds", "400"], "quantum_memory"),
])
def test_each_world_attains_its_stage(capsys, tmp_path, profile, options, stage):
    result = certify(capsys, tmp_path, "--profile", profile, *options)
    assert result["stage"] == stage, json.dumps(result["stages"], indent=1)
    stages = result["stages"]
    order = list(stages)
    assert order == ["prepare_and_measure", "entanglement_distribution", "quantum_memory"]
    reached = order.index(stage)
    for index, name in enumerate(order):
        verdict = stages[name]
        assert verdict["attained"] is (index <= reached), (name, verdict["reason"])
        assert verdict["runs"], name
        assert (verdict["margin"] >= 0) is (index <= reached)
        for estimate in verdict["parameters"].values():
            assert estimate["low"] <= estimate["value"] <= estimate["high"]
    assert stages["prepare_and_measure"]["thresholds"] == {"epsilon_T + epsilon_M": 0.11}
    assert stages["entanglement_distribution"]["thresholds"] == {"epsilon_P + epsilon_M": 0.057}
    assert stages["quantum_memory"]["thresholds"] == {"k": 10.0}


def without(tmp_path: Path, instrument: str) -> Path:
    """The default station file with one instrument (and its profile entries) removed."""
    import yaml

    spec = yaml.safe_load(DEFAULT_STATION.read_text())
    del spec["instruments"][instrument]
    for profile in spec["profiles"].values():
        (profile.get("instruments") or {}).pop(instrument, None)
    path = tmp_path / f"without_{instrument}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_missing_instrument_makes_its_stages_not_testable_and_reuse_is_checked(
        capsys, tmp_path):
    station = without(tmp_path, "herald_reference_laser")
    for node in ("node_a", "node_b"):
        assert main(["run", "readout_fidelity", "--station", str(station), "--set",
                     f"node={node}", "--set", "steps=4", "--json",
                     "--data-dir", str(tmp_path / "archive")]) == 0
    capsys.readouterr()
    result = certify(capsys, tmp_path, "--station", str(station), "--reuse", "1", "2")
    stages = result["stages"]
    for name in ("prepare_and_measure", "entanglement_distribution"):
        assert stages[name]["attained"] is None
        assert "no phase_reference_laser at heralding" in stages[name]["reason"]
    assert stages["quantum_memory"]["attained"] is None   # no pair rate without the link
    assert result["stage"] == "none"
    assert result["battery"]["runs"]["readout_node_a"] == [1]      # reused, not rerun
    assert result["battery"]["runs"]["readout_node_b"] == [2]
    # a run of another station is refused, with the reason
    code = main(["certify", "--json", "--data-dir", str(tmp_path / "archive"), "--reuse", "1"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert "cannot reuse run 1 was taken on" in error and "not stations/two_node.yaml" in error


@pytest.mark.parametrize("arguments, message", [
    (["--station", "no/such/station.yaml"], "no/such/station.yaml"),
    (["--profile", "nonesuch"], "nonesuch"),
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--alpha", "1.5"], "alpha must be within (0, 1)"),
    (["--reuse", "99"], "99"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, arguments, message):
    code = main(["certify", "--data-dir", str(tmp_path / "archive"), *arguments])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert len(error.splitlines()) == 1 and message in error, error
