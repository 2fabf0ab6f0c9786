"""Injected faults reach the driver as a real unit's failures would.

Transport faults: added latency beyond the driver's timeout and an
instrument that stops answering time out; a dropped connection is reset; a
garbage reply fails to parse. Physics faults: a laser that loses its lock
drifts off the emitter line and the heralds stop; a latched SNSPD reports
the latch and counts nothing until it is reset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyvisa.errors import VisaIOError

from experiments.bringup import (
    AttemptDesign,
    acquire,
    bring_up,
    gate_detectors,
    heralds,
    keep_only_heralded_syncs,
)
from labctl import station as station_module
from labctl.errors import LabctlError
from labctl.simulation import ControlClient
from tests.waiting import read_json_object

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def station():
    with station_module.load() as loaded:
        yield loaded


@pytest.fixture
def lab(station):
    virtual_lab = station.simulation.lab
    yield virtual_lab
    virtual_lab.clear_faults()


def test_added_latency_beyond_the_timeout_is_a_timeout(station, lab):
    laser = station.instrument("phase_reference_laser", "heralding")   # a VISA SOCKET unit
    laser.timeout(0.3)
    lab.set_fault(laser.name, "latency", 0.6)
    with pytest.raises(VisaIOError) as caught:
        laser.wavelength_nm.get()
    assert caught.value.error_code == -1073807339  # VI_ERROR_TMO
    lab.clear_faults()
    time.sleep(0.7)
    laser.device_clear()
    laser.timeout(2.0)


def test_small_latency_only_slows_the_instrument(station, lab):
    mw = station.instrument("mw_source", "node_a")
    lab.set_fault(mw.name, "latency", 0.05)
    start = time.perf_counter()
    mw.frequency(2.877e9)
    assert mw.frequency() == pytest.approx(2.877e9)
    assert time.perf_counter() - start >= 0.1  # write check + query, each delayed


def test_an_instrument_that_stops_answering_times_out(station, lab):
    mw = station.instrument("mw_source", "node_b")
    mw.timeout(0.3)
    lab.set_fault(mw.name, "silent")
    with pytest.raises(VisaIOError) as caught:
        mw.frequency.get()
    assert caught.value.error_code == -1073807339
    lab.clear_faults()
    station.reconnect()   # a fresh session: the silent one may still owe a reply
    mw.timeout(2.0)
    assert mw.frequency() > 0


def test_garbage_reply_is_a_parse_error(station, lab):
    snspd = station.instrument("snspd", "heralding")
    lab.set_fault(snspd.name, "garbage")
    with pytest.raises((ValueError, UnicodeDecodeError)):
        snspd.ch1.bias_current.get()


def test_dropped_connection_is_a_connection_reset(station, lab, connect):
    from drivers.tektronix_awg5014c import TektronixAWG5014C

    # a second connection of our own: the station's stays usable for later tests
    awg = connect(TektronixAWG5014C, lab.addresses["node_b_awg"])
    lab.set_fault("node_b_awg", "drop")
    with pytest.raises((ConnectionError, VisaIOError, OSError)) as caught:
        awg.sample_rate.get()
    text = f"{type(caught.value).__name__} {caught.value}".lower()
    assert "reset" in text or "connection" in text or "conn_lost" in text


def test_latched_snspd_reports_the_latch_and_counts_nothing_until_reset(station, lab):
    reference = station.instrument("phase_reference_laser", "heralding")
    reference.power(1e-3)   # thousands of clicks a second: every counter period sees some
    reference.output(True)
    snspd = station.instrument("snspd", "heralding")
    snspd.ch2.bias_current(15e-6)
    snspd.ch2.output(True)
    snspd.ch2.auto_reset(False)
    assert snspd.ch2.count_rate() > 0
    lab.set_fault(snspd.name, "latch", 2)
    assert snspd.ch2.latched() is True
    assert snspd.ch2.count_rate() == 0
    assert snspd.ch2.reset_latch() is True
    assert snspd.ch2.latched() is False and snspd.ch2.count_rate() > 0


def test_unlocked_laser_drifts_off_resonance_and_the_heralds_stop(station, lab):
    bring_up(station, AttemptDesign(alpha=0.3))
    keep_only_heralded_syncs(station)
    gate_detectors(station)
    laser = station.instrument("excitation_laser", "node_a")
    locked = heralds(station, *acquire(station, 20.0)).count
    lab.set_fault(laser.name, "unlock")
    assert abs(laser.wavelength_actual_nm() - laser.wavelength_nm()) > 0.01
    unlocked = heralds(station, *acquire(station, 20.0)).count
    # node A no longer emits: only node B's photons herald, half as often
    assert locked > 500
    assert abs(unlocked - locked / 2) < 4 * (unlocked + locked / 4) ** 0.5
    lab.clear_faults(laser.name)
    assert laser.wavelength_actual_nm() == pytest.approx(laser.wavelength_nm(), abs=1e-3)


def test_faults_are_refused_for_unknown_instruments_and_kinds(lab):
    with pytest.raises(LabctlError, match="no instrument 'node_c_laser'"):
        lab.set_fault("node_c_laser", "drop")
    with pytest.raises(LabctlError, match="unknown fault 'melt'"):
        lab.set_fault("herald_tagger", "melt")
    with pytest.raises(LabctlError, match="only lasers can unlock"):
        lab.set_fault("herald_tagger", "unlock")


def test_control_port_sets_faults_and_moves_the_clock(station, lab):
    control = ControlClient(lab.control.port)
    before = control.now()
    control.sleep(12.5)
    assert control.now() == pytest.approx(before + 12.5)
    assert station.clock.now() == pytest.approx(before + 12.5)
    control.set_fault("herald_tagger", "silent")
    assert "herald_tagger" in lab.faults()
    control.clear_faults()
    assert not lab.faults()
    with pytest.raises(LabctlError, match="refused"):
        control.set_fault("herald_tagger", "melt")


def test_sim_serve_with_a_fault_is_joined_by_other_processes(tmp_path):
    env_runtime = {"LABCTL_RUNTIME_DIR": str(tmp_path)}
    import os

    env = {**os.environ, **env_runtime}
    server = subprocess.Popen(
        [sys.executable, "-m", "labctl.cli", "sim", "serve", "--json",
         "--fault", "herald_reference_laser:silent"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        announced = json.loads(read_json_object(server))
        assert len(announced["addresses"]) == 11
        # every unit on loopback, over its own transport (VISA, VXI-11, zmq, serial, JSON)
        assert all("127.0.0.1" in a for a in announced["addresses"].values())
        result = subprocess.run(
            [sys.executable, "-m", "labctl.cli", "station", "show", "--json", "--join"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        # the summary shows every instrument and says which one does not answer
        assert result.returncode == 1, result.stderr
        summary = {i["name"]: i for i in json.loads(result.stdout)["instruments"]}
        assert summary["herald_reference_laser"]["error"].startswith("not answering")
        assert summary["herald_reference_laser"]["address"] == \
            announced["addresses"]["herald_reference_laser"]
        assert summary["node_a_laser"]["error"] is None
        assert summary["node_a_laser"]["idn"]["model"] == "TLB-6700"
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert not list(tmp_path.glob("sim-*.json"))  # the announcement is withdrawn


