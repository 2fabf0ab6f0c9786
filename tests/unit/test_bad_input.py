"""Bad input to `labctl`: one line on stderr, exit status 2, and nothing created.

The inputs are those a reliability campaign found wrong (issue 14) and their
variants: numbers that overflow or are not finite, run ids that are not
positive 64-bit integers, a key folder that is a file, a station file's bad
``world:`` or repeated key, an unknown node, faults with impossible values,
clock requests without bound, and ``--join`` with nothing to join. Each runs
as a real ``labctl`` process; afterwards the data folder it was given does not
exist, the runtime folder (where virtual labs announce themselves) is empty and
no other file appeared.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.simulation import MAX_CLOCK_REQUEST_S, ControlClient
from labctl.station import read_spec, simulated_station
from sim_instruments.virtual_lab import VirtualLab

REPO = Path(__file__).parents[2]
DEFAULT = (REPO / "stations" / "two_node.yaml").read_text()
HUGE = "1" + "0" * 29                      # 30 digits
LONG_ID = "1234567890123456789012345"      # 25 digits


def _station(folder: Path, old: str, new: str) -> Path:
    assert old in DEFAULT, old
    path = folder / "station.yaml"
    path.write_text(DEFAULT.replace(old, new, 1))
    return path


#: (command line, what the one line must say); "{tmp}" is the test's folder.
CASES: list[tuple[tuple[str, ...], str]] = [
    (("run", "herald_rate", "--set", f"blocks={HUGE}"), "does not fit a 64-bit integer"),
    (("run", "herald_rate", "--set", f"blocks=-{HUGE}"), "does not fit a 64-bit integer"),
    (("run", "herald_rate", "--set", "alpha=nan"), "alpha=nan: must be a finite number"),
    (("run", "herald_rate", "--set", "block_seconds=inf"), "must be a finite number"),
    (("run", "herald_rate", "--set", "period=1e400"), "must be a finite number"),
    (("run", "rabi", "--set", "steps=" + "9" * 20), "steps=" + "9" * 20),
    (("show", LONG_ID), f"run id {LONG_ID} is not a run id"),
    (("resume", LONG_ID), f"run id {LONG_ID} is not a run id"),
    (("fit", LONG_ID), f"run id {LONG_ID} is not a run id"),
    (("export", LONG_ID, "{tmp}/out.nc"), f"run id {LONG_ID} is not a run id"),
    (("report", LONG_ID, "--out", "{tmp}/report"), f"run id {LONG_ID} is not a run id"),
    (("show", "0"), "run id 0 is not a run id"),
    (("show", "-5"), "run id -5 is not a run id"),
    (("certify", "--reuse", "3", LONG_ID), f"run id {LONG_ID} is not a run id"),
    (("certify", "--reuse-hours", "nan"), "--reuse-hours must be a non-negative number"),
    (("certify", "--rounds", HUGE), "--rounds must be at most"),
    (("report", "--out", "{tmp}/report"), "nothing to report"),
    (("keys", "generate", "{tmp}/a_file"), "exists and is not a folder"),
    (("keys", "generate", "{tmp}/a_file/keys"), "is not a folder"),
    (("node", "status", "tcp://127.0.0.1:9", "--timeout", "nan"),
     "--timeout must be a positive number"),
    (("sim", "serve", "--fault", "herald_tagger:latency:-1"), "seconds must be within [0, "),
    (("sim", "serve", "--fault", "herald_tagger:latency:nan"), "must be a finite number"),
    (("sim", "serve", "--fault", "herald_tagger:latency:inf"), "must be a finite number"),
    (("sim", "serve", "--fault", "herald_tagger:latency:1e9"), "seconds must be within [0, "),
    (("sim", "serve", "--fault", "herald_snspd:latch:1.5"), "an SNSPD channel number"),
    (("sim", "serve", "--fault", "herald_tagger:latch"), "only SNSPDs latch"),
    (("sim", "serve", "--fault", "no_such_unit:drop"), "no instrument 'no_such_unit'"),
    (("run", "herald_rate", "--join"), "--join: no virtual lab serves stations/two_node.yaml"),
    (("run", "herald_rate", "--join", "--profile", "lab"), "names no simulator"),
    (("station", "show", "--join"), "--join: no virtual lab serves stations/two_node.yaml"),
]
if Path("/proc/keys").is_file():   # the campaign's own case, where the kernel has it
    CASES.append((("keys", "generate", "/proc/keys"), "/proc/keys: exists and is not a folder"))

#: (line of the default station, its replacement, what the one line must say)
STATION_CASES = [
    ("      seed: 20180613", "      seed: abc", "seed must be an integer"),
    ("      seed: 20180613", "      seed: -1", "seed must be an integer"),
    ("      fibre_km: 0.002", "      fibre_km: -5", "fibre_km must not be negative, got -5"),
    ("      fibre_km: 0.002", "      fibre_km: .nan", "fibre_km must be finite"),
    ("      fibre_km: 0.002", "      fibre_km: '3'", "fibre_km must be a number, not '3'"),
    ("      fibre_km: 0.002", "      fibre_km: 0.002\n      emitter: bright",
     "emitter must be a mapping"),
    ("      fibre_km: 0.002", "      fibre_km: 0.002\n      detector: {jitter: -1.0}",
     "jitter must not be negative"),
    ("      fibre_km: 0.002", "      fibre_km: 0.002\n      detector: {colour: 1}",
     "detector: unknown key(s) colour"),
    ("      fibre_km: 0.002", "      fibre_km: 0.002\n      path_delay_s: {node_a: .inf}",
     "path_delay_s.node_a must be finite"),
    ("    simulator: virtual_lab\n", "    simulator: virtual_lab\n    join: maybe\n",
     "join must be true or false"),
    ("  node_b_laser:", "  node_a_laser:",
     "duplicate key 'node_a_laser' at lines 26 and 49"),
]


def _labctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if argv[0] in ("run", "runs", "show", "resume", "fit", "export", "report", "certify"):
        argv += ["--data-dir", str(tmp_path / "data")]
    return subprocess.run([sys.executable, "-m", "labctl.cli", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def _assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("labctl: error: ") and message in result.stderr, \
        result.stderr


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path, private_runtime_dir,
                                                          args, message):
    (tmp_path / "a_file").write_text("not a folder\n")
    before = _files(tmp_path)
    result = _labctl(tmp_path, *args)
    _assert_refused(result, message)
    assert _files(tmp_path) == before          # no data folder, no database, no file
    assert not list(private_runtime_dir.iterdir())   # no virtual lab announced


@pytest.mark.parametrize("old, new, message", STATION_CASES,
                         ids=[m for _, _, m in STATION_CASES])
@pytest.mark.parametrize("command", [("station", "check", "{station}"),
                                     ("run", "herald_rate", "--station", "{station}")])
def test_a_bad_station_file_is_refused_on_load_and_creates_nothing(
        tmp_path, private_runtime_dir, old, new, message, command):
    station = _station(tmp_path, old, new)
    before = _files(tmp_path)
    result = _labctl(tmp_path, *(a.replace("{station}", str(station)) for a in command))
    _assert_refused(result, message)
    assert str(station) in result.stderr
    assert _files(tmp_path) == before
    assert not list(private_runtime_dir.iterdir())


def test_an_unknown_node_is_refused_before_a_run_exists(tmp_path):
    result = _labctl(tmp_path, "run", "rabi", "--set", "node=node_z")
    _assert_refused(result, "has no node 'node_z' (nodes: heralding, node_a, node_b)")
    assert not (tmp_path / "data").exists()          # not even an empty database
    listed = _labctl(tmp_path, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() in ("[]", "no runs archived yet"), listed.stdout


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path):
    path = tmp_path / "station.yaml"
    path.write_text("instruments:\n  a:\n    type: x.Y\n    node: n\n    node: m\n"
                    "profiles: {sim: {}}\n")
    result = _labctl(tmp_path, "station", "check", str(path))
    _assert_refused(result, f"{path}: duplicate key 'node' at lines 4 and 5")


def test_a_yaml_merge_may_still_override_what_it_merges(tmp_path):
    """Only a mapping's own keys must be unique: ``<<: *base`` then one of its keys is fine."""
    path = _station(tmp_path, "  node_a_laser:\n    type: drivers.newfocus_tlb6700",
                    "  node_a_laser:\n    <<: {node: node_b}\n"
                    "    type: drivers.newfocus_tlb6700")
    laser = next(s for s in read_spec(path).instruments if s.name == "node_a_laser")
    assert laser.node == "node_a"


# --- clock requests -------------------------------------------------------------------

def test_the_control_port_bounds_each_clock_request():
    """``CLOCk:ADVance`` over the control port's TCP socket: at most a day, finite, >= 0."""
    lab = VirtualLab(simulated_station(read_spec(REPO / "stations" / "two_node.yaml"))).start()
    try:
        assert lab.control is not None
        control = ControlClient(lab.control.port)
        control.sleep(MAX_CLOCK_REQUEST_S)   # a day is allowed
        now = control.now()
        assert now == pytest.approx(MAX_CLOCK_REQUEST_S)
        for text in ("1e308", "inf", "nan", "-1", str(MAX_CLOCK_REQUEST_S * 1.01)):
            # as a loopback client that checks nothing sends it (the campaign's)
            with pytest.raises(LabctlError, match="refused 'CLOCk:ADVance"):
                control._exchange(f"CLOCk:ADVance {text}", reply=False)
        assert control.now() == now            # nothing advanced
        for seconds in (1e308, math.inf, math.nan, -1.0):   # and the client checks first
            with pytest.raises(ValueError, match="clock request"):
                control.sleep(seconds)
    finally:
        lab.stop()
