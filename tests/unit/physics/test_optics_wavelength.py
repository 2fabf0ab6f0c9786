"""Fibre loss at the wavelength that travels the fibre, in the named worlds too."""

from __future__ import annotations

import pytest

from labctl.physics.optics import CONVERTED_WAVELENGTH, fibre_loss_db_per_km
from labctl.physics.presets import PRESETS, preset, wavelength


def test_loss_at_the_nv_line_and_after_conversion_follows_physics_md():
    """physics.md section 2: ≈ 0.2 dB/km at 1550 nm, 5-8 dB/km at 637 nm."""
    assert 5.0 <= fibre_loss_db_per_km(637e-9) <= 8.0
    assert fibre_loss_db_per_km(CONVERTED_WAVELENGTH) == pytest.approx(0.2)
    assert fibre_loss_db_per_km(1260e-9) == pytest.approx(0.2)
    assert 0.2 <= fibre_loss_db_per_km(1000e-9) < fibre_loss_db_per_km(637e-9)


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_world_attenuates_at_its_own_wavelength(name):
    assert preset(name).fibre_loss_db_per_km == fibre_loss_db_per_km(wavelength(name))


def test_unconverted_worlds_send_637_nm_and_the_telecom_world_1588_nm():
    assert wavelength("nv-short") == pytest.approx(637e-9)
    assert wavelength("noisy") == pytest.approx(637e-9)
    assert wavelength("nv-telecom-25km") == pytest.approx(1588e-9)
    assert preset("nv-short").fibre_loss_db_per_km > 20 * preset(
        "nv-telecom-25km").fibre_loss_db_per_km
    with pytest.raises(ValueError, match="unknown world 'moon-link'"):
        wavelength("moon-link")
