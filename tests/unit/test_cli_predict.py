"""`labctl predict link|sweep` as a user runs it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.physics.link import LinkParameters, predict
from labctl.physics.optics import fibre_loss_db_per_km
from labctl.physics.presets import preset

#: The default world (nv-short) sends unconverted 637 nm photons through its fibre.
LOSS_637 = fibre_loss_db_per_km(637e-9)

REPO = Path(__file__).parents[2]


def labctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_predict_link_json_has_the_documented_keys_and_the_model_values():
    result = labctl("predict", "link", "--alpha", "0.1", "--eta", "0.002",
                    "--phase-noise-deg", "20", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"p_herald", "rate_hz", "fidelity", "correlators", "chsh_S"} <= set(data)
    assert set(data["correlators"]) == {"XX", "YY", "ZZ"}
    expected = predict(LinkParameters(alpha=0.1, eta_a=0.002, eta_b=0.002,
                                      phase_noise=0.3490658503988659,
                                      fibre_loss_db_per_km=LOSS_637))
    assert data["p_herald"] == pytest.approx(expected.p_herald)
    assert data["fidelity"] == pytest.approx(expected.fidelity)
    assert data["rate_hz"] == pytest.approx(expected.rate_hz)


def test_asymmetric_eta_options_override_eta():
    data = json.loads(labctl("predict", "link", "--eta", "0.01", "--eta-b", "0.02",
                             "--protocol", "barrett-kok", "--dark-count-rate", "0",
                             "--json").stdout)
    assert data["parameters"]["eta_a"] == 0.01 and data["parameters"]["eta_b"] == 0.02
    arm = 10 ** (-LOSS_637 * 0.001 / 10)  # 1 m of fibre per arm at 637 nm
    assert data["p_herald"] == pytest.approx(0.01 * 0.02 / 2 * arm**2,
                                             rel=1e-6)


def test_a_637_nm_link_over_10_km_pays_the_visible_fibre_loss():
    """physics.md section 2: 5-8 dB/km at 637 nm. Over 10 km the photons barely arrive
    (10^-2.5 to 10^-4 per 5 km arm), dark counts herald most attempts, and the rate is
    ≈ 0.02 Hz; at 0.2 dB/km (the old figure for every wavelength) it was 0.54 Hz."""
    data = json.loads(labctl("predict", "link", "--fibre-km", "10", "--json").stdout)
    rates = [predict(dataclasses.replace(preset("nv-short"), fibre_km=10.0,
                                         fibre_loss_db_per_km=loss)).rate_hz
             for loss in (8.0, 5.0)]
    assert rates[0] <= data["rate_hz"] <= rates[1]
    assert data["rate_hz"] == pytest.approx(0.02, rel=0.1)
    assert data["parameters"]["fibre_loss_db_per_km"] == LOSS_637


def test_a_telecom_link_uses_0_2_db_per_km_and_the_option_overrides():
    converted = json.loads(labctl("predict", "link", "--fibre-km", "10",
                                  "--wavelength-nm", "1588", "--json").stdout)
    assert converted["parameters"]["fibre_loss_db_per_km"] == 0.2
    expected = predict(dataclasses.replace(preset("nv-short"), fibre_km=10.0,
                                           fibre_loss_db_per_km=0.2))
    assert converted["rate_hz"] == pytest.approx(expected.rate_hz)
    assert converted["rate_hz"] > 20 * json.loads(labctl(
        "predict", "link", "--fibre-km", "10", "--json").stdout)["rate_hz"]
    telecom = json.loads(labctl("predict", "link", "--world", "nv-telecom-25km",
                                "--json").stdout)
    assert telecom["parameters"]["fibre_loss_db_per_km"] == 0.2
    given = json.loads(labctl("predict", "link", "--fibre-km", "10", "--wavelength-nm",
                              "1588", "--fibre-loss-db-km", "0.35", "--json").stdout)
    assert given["parameters"]["fibre_loss_db_per_km"] == 0.35


def test_predict_link_prints_for_people():
    result = labctl("predict", "link")
    assert result.returncode == 0
    for key in ("p_herald", "rate_hz", "fidelity", "XX", "chsh_S"):
        assert key in result.stdout


def test_sweep_prints_a_table_and_writes_a_png(tmp_path):
    plot = tmp_path / "tradeoff.png"
    result = labctl("predict", "sweep", "alpha", "--from", "0.02", "--to", "0.5",
                    "--steps", "5", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["alpha", "p_herald", "rate_hz", "fidelity", "chsh_S"]
    assert len(lines) == 1 + 5 + 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_json_shows_the_trade_off():
    rows = json.loads(labctl("predict", "sweep", "alpha", "--from", "0.02", "--to", "0.5",
                             "--steps", "4", "--json").stdout)["rows"]
    rates = [r["rate_hz"] for r in rows]
    fidelities = [r["fidelity"] for r in rows]
    assert rates == sorted(rates) and fidelities == sorted(fidelities, reverse=True)


@pytest.mark.parametrize("args, message", [
    (("--alpha", "1.5"), "--alpha must be within [0, 1]"),
    (("--eta", "2"), "--eta-a must be within [0, 1]"),
    (("--fibre-km", "-3"), "--fibre-km must not be negative"),
    (("--dark-count-rate", "-1"), "--dark-count-rate must not be negative"),
    (("--visibility", "nan"), "--visibility must be finite"),
    (("--alpha", "abc"), "invalid float value"),
    (("--readout-f0", "1.2"), "--readout-f0 must be within [0, 1]"),
    (("--wavelength-nm", "-637"), "--wavelength-nm must be positive"),
    (("--set", "alpha=0.1"), "--experiment and --set need --station"),
    (("--station", "stations/two_node.yaml", "--alpha", "0.1"),
     "--alpha cannot be used with --station"),
    (("--station", "stations/two_node.yaml", "--experiment", "no_such_experiment"),
     "no_such_experiment"),
])
def test_bad_link_parameters_give_one_line_and_exit_2(args, message):
    result = labctl("predict", "link", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_bad_sweep_range_is_refused():
    result = labctl("predict", "sweep", "alpha", "--from", "0.1", "--to", "1.5", "--steps", "3")
    assert result.returncode == 2 and "--alpha must be within" in result.stderr
