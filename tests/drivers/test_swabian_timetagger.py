"""The Swabian Time Tagger driver against the virtual lab's stand-in of the vendor's library.

The driver runs on the ``sim-swabian`` profile of the default station: the
virtual lab serves the Swabian service and the driver imports the stand-in
(`sim_instruments.swabian_timetagger_api`) instead of ``Swabian.TimeTagger``.
Checked here: parameters round-trip and reach the world, validators refuse
bad values before the library is called, the library's errors become
one-line `SwabianError` s, the stand-in raises what the real library raises,
and — when the real package is installed — the stand-in's API is the real
one's (names and parameter names).
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from drivers.swabian_timetagger import (
    TIME_TAGGER_ULTRA,
    SwabianError,
    SwabianTagger,
    SwabianTimeTagger,
)
from labctl import station as station_module
from labctl.instruments.tagger import TimeTagger
from sim_instruments import swabian_timetagger_api as standin
from sim_instruments.emulators import swabian_timetagger as service
from sim_instruments.tcp_server import next_message


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[station_module.LabStation]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABCTL_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
        patch.setenv("LABCTL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        with station_module.load("stations/two_node.yaml", "sim-swabian") as loaded:
            yield loaded


@pytest.fixture
def tagger(station) -> SwabianTimeTagger:
    instrument = station.instrument("time_tagger", "heralding")
    assert isinstance(instrument, SwabianTimeTagger)
    return instrument


@pytest.fixture
def address(station) -> str:
    return station.simulation.lab.addresses["herald_tagger"]


@pytest.fixture
def sent(tagger, monkeypatch) -> list[str]:
    """Every request the stand-in sends to the service (its ``op``, or the method it calls)."""
    requests: list[str] = []
    link = tagger.tagger._link
    request = link.request

    def spy(op: str, **arguments: Any) -> Any:
        requests.append(arguments.get("method", op))
        return request(op, **arguments)

    monkeypatch.setattr(link, "request", spy)
    return requests


def neutral_input(station, number: int):
    return station.simulation.lab.world.state.heralding.tagger.inputs[number - 1]


# --- the driver ---------------------------------------------------------------------------


def test_identity_inputs_and_capability(tagger):
    idn = tagger.get_idn()
    assert idn["vendor"] == "Swabian Instruments"
    assert idn["model"] == TIME_TAGGER_ULTRA.name and idn["serial"]
    assert tagger.n_inputs == 8 and tagger.input_channels == tuple(range(1, 9))
    assert [c.channel for c in tagger.inputs] == list(range(1, 9))
    assert isinstance(SwabianTagger(tagger), TimeTagger)
    assert tagger.ch5.trigger_level.unit == "V" and tagger.ch5.input_delay_ps.unit == "ps"


def test_parameters_round_trip_and_reach_the_world(station, tagger):
    tagger.ch3.trigger_level(-0.25)
    assert tagger.ch3.trigger_level() == pytest.approx(-0.25)
    tagger.ch3.input_delay_ps(12_345)
    assert tagger.ch3.input_delay_ps() == 12_345
    assert neutral_input(station, 3).delay_ps == 12_345
    tagger.ch3.input_delay_ps(5_000_000)          # beyond the on-board range: software delay
    assert tagger.call("getDelaySoftware", 3) == 5_000_000
    assert tagger.call("getDelayHardware", 3) == 0
    assert neutral_input(station, 3).delay_ps == 5_000_000
    tagger.ch3.dead_time_ps(50_000)
    assert tagger.ch3.dead_time_ps() == 50_000
    assert neutral_input(station, 3).dead_time_ps == 50_000
    tagger.ch3.input_delay_ps(0)
    tagger.ch3.dead_time_ps(TIME_TAGGER_ULTRA.dead_time_range_ps[0])


@pytest.mark.parametrize("parameter, value", [
    ("trigger_level", 2.6), ("trigger_level", -3.0),
    ("input_delay_ps", 2 * 10**9), ("input_delay_ps", 1.5),
    ("dead_time_ps", 1_000), ("dead_time_ps", 3_000_000_000),
])
def test_validators_refuse_bad_values_before_anything_is_sent(tagger, sent, parameter, value):
    with pytest.raises((ValueError, TypeError)):
        getattr(tagger.ch2, parameter)(value)
    assert sent == []


def test_library_refusals_are_one_line_driver_errors(tagger):
    with pytest.raises(SwabianError, match=r"herald_tagger: getTriggerLevel\(9\): Channel 9 "
                                           r"does not exist"):
        tagger.call("getTriggerLevel", 9)
    with pytest.raises(SwabianError, match="no input 0"):
        SwabianTagger(tagger).set_input_delay_ps(0, 10)


def test_n_inputs_beyond_the_units_and_a_missing_library_are_refused(address):
    with pytest.raises(SwabianError, match=r"n_inputs must be an integer within 1\.\.8"):
        SwabianTimeTagger("swabian_too_many", address,
                          library="sim_instruments.swabian_timetagger_api", n_inputs=9)
    with pytest.raises(SwabianError, match="cannot import the Time Tagger library"):
        SwabianTimeTagger("swabian_no_library", address, library="no_such.TimeTagger")


def test_a_serial_number_asks_for_a_usb_unit_which_the_virtual_lab_has_not(address):
    with pytest.raises(SwabianError, match="cannot connect to the Time Tagger 1234ABC"):
        SwabianTimeTagger("swabian_usb", "1234ABC",
                          library="sim_instruments.swabian_timetagger_api")


def test_n_inputs_defaults_to_the_channel_list_and_close_frees_the_tagger(address):
    driver = SwabianTimeTagger("swabian_second", address,
                               library="sim_instruments.swabian_timetagger_api")
    try:
        assert driver.n_inputs == 8
        library_tagger = driver.tagger
        assert library_tagger.isConnected()
    finally:
        driver.close()
    assert not library_tagger.isConnected()                 # freeTimeTagger was called
    with pytest.raises(ValueError, match="a valid Time Tagger"):
        standin.Countrate(library_tagger, [1])
    with pytest.raises(SwabianError, match="closed"):
        _ = driver.tagger


# --- the stand-in behaves as the library -------------------------------------------------------


def test_the_stand_in_raises_what_the_real_library_raises(tagger):
    library_tagger = tagger.tagger
    with pytest.raises(RuntimeError, match="Channel 12 does not exist or is not available"):
        library_tagger.setTriggerLevel(12, 0.1)
    with pytest.raises(ValueError, match="n_bins must be at least 1"):
        standin.Histogram(library_tagger, 1, 2, 100, 0)
    with pytest.raises(ValueError, match="binwidth must be at least 1 ps"):
        standin.Histogram(library_tagger, 1, 2, 0, 10)
    with pytest.raises(OverflowError):
        standin.TimeTagStream(library_tagger, -1, [1])
    with pytest.raises(ValueError, match="a valid Time Tagger must be provided"):
        standin.Countrate(None, [1])
    with pytest.raises(TypeError):
        standin.freeTimeTagger(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid URI"):
        standin.createTimeTaggerNetwork("no port:")
    with pytest.raises(RuntimeError, match="Could not connect"):
        standin.createTimeTaggerNetwork("127.0.0.1:1")
    with pytest.raises(RuntimeError, match="No Time Tagger attached"):
        standin.createTimeTagger()
    with pytest.raises(ValueError, match="cannot trigger and be filtered"):
        library_tagger.setConditionalFilter([1, 5], [5])
    with pytest.raises(ValueError, match="negative deadtimes"):
        library_tagger.setDeadtime(1, -1)
    assert library_tagger.setDeadtime(1, 10) == TIME_TAGGER_ULTRA.dead_time_range_ps[0]
    library_tagger.setTriggerLevel(1, 7.0)                 # clamped, as the real library does
    assert library_tagger.getTriggerLevel(1) == TIME_TAGGER_ULTRA.trigger_level_range_v[1]
    library_tagger.setTriggerLevel(1, 0.5)


def test_a_vanished_virtual_channel_is_refused(tagger):
    library_tagger = tagger.tagger
    delayed = standin.DelayedChannel(library_tagger, 1, 1000)
    number = delayed.getChannel()
    del delayed
    with pytest.raises(ValueError, match="virtual channel that does not exist"):
        standin.TimeTagStream(library_tagger, 10, [number])


def test_the_units_and_the_service_agree_on_the_ultras_limits():
    assert TIME_TAGGER_ULTRA.name == service.MODEL
    assert TIME_TAGGER_ULTRA.trigger_level_range_v == service.TRIGGER_LEVEL_RANGE_V
    assert TIME_TAGGER_ULTRA.dead_time_range_ps == service.DEAD_TIME_RANGE_PS
    assert TIME_TAGGER_ULTRA.hardware_delay_range_ps == service.HARDWARE_DELAY_RANGE_PS


def test_requests_with_any_bytes_survive_the_servers_framing():
    payload = standin._pack({"op": "call", "method": "x\n#9\"'"},
                            np.array([10, 35, 0x0A23], dtype="<i4"))
    buffer = bytearray(standin._block(payload) + b"\n" + standin._block(b"{}\n") + b"\n")
    first = next_message(buffer)
    assert first == standin._block(payload)
    header, rest = standin._unpack(first[2 + int(first[1:2]):])
    assert header["method"] == "x\n#9\"'"
    assert np.frombuffer(rest, "<i4").tolist() == [10, 35, 0x0A23]
    assert next_message(buffer) == standin._block(b"{}\n") and not buffer


def test_multi_start_multi_stop_histogram_counts_every_pair_in_range():
    starts = np.array([0, 100, 1000], dtype=np.int64)
    stops = np.array([50, 150, 1005, 5000], dtype=np.int64)
    counts = standin._histogram_counts(starts, stops, binwidth=10, n_bins=20)
    # pairs within 200 ps: 0->50, 0->150, 100->150, 1000->1005
    assert counts.sum() == 4
    assert counts[5] == 2 and counts[15] == 1 and counts[0] == 1


# --- API parity with the real package --------------------------------------------------------


def _real_module() -> Any:
    return pytest.importorskip(
        "Swabian.TimeTagger",
        reason="the real Swabian.TimeTagger package is not installed "
               "(pip install swabian-timetagger; Linux x86_64 wheels)")


def _real_parameter_lists(function: Any) -> list[list[str]]:
    """The real callable's parameter names (one list per SWIG overload), without ``self``."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        kinds = {p.kind for p in signature.parameters.values()}
        if inspect.Parameter.VAR_POSITIONAL not in kinds:
            return [[n for n in signature.parameters if n != "self"]]
    text = inspect.getdoc(function) or ""
    overloads = re.split(r"\*Overload \d+:\*", text) if "*Overload" in text else [text]
    return [re.findall(r":param (\w+):", part) for part in overloads if ":param" in part]


def _own_parameters(function: Any) -> list[str]:
    """The stand-in's named parameters (``*args, **kwargs``: an abstract constructor)."""
    return [n for n, p in inspect.signature(function).parameters.items()
            if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _stand_in_members() -> dict[str, Any]:
    return {name: value for name, value in vars(standin).items()
            if not name.startswith("_") and (
                ((inspect.isclass(value) or inspect.isfunction(value))
                and value.__module__ == standin.__name__) or type(value) is int)}


#: Attributes a stand-in object sets in its constructor (not found on its class).
INSTANCE_ATTRIBUTES = {"TimeTagStreamBuffer": ("size", "hasOverflows", "tStart", "tGetData")}


def test_the_stand_in_has_the_real_librarys_names_and_parameter_names():
    real = _real_module()
    problems: list[str] = []

    def check_parameters(where: str, ours: Any, theirs: Any) -> None:
        mine = _own_parameters(ours)
        candidates = _real_parameter_lists(theirs) or [[]]
        if not any(mine == names[:len(mine)] for names in candidates):
            problems.append(f"{where}: parameters {mine}, the real library has {candidates}")

    members = _stand_in_members()
    assert {"createTimeTaggerNetwork", "TimeTagStream", "GatedChannel"} <= set(members)
    for name, ours in members.items():
        theirs = getattr(real, name, None)
        if theirs is None:
            problems.append(f"{name}: not in the real Swabian.TimeTagger")
            continue
        if type(ours) is int:
            if ours != theirs:
                problems.append(f"{name} = {ours}, the real library's is {theirs}")
        elif inspect.isfunction(ours):
            check_parameters(name, ours, theirs)
        elif issubclass(ours, enum.Enum):
            for member in ours:
                real_member = getattr(theirs, member.name, None)
                if real_member is None or int(real_member) != int(member.value):
                    problems.append(f"{name}.{member.name} = {member.value}, the real library "
                                    f"has {real_member!r}")
        else:
            if "__init__" in vars(ours):
                check_parameters(f"{name}()", ours.__init__, theirs.__init__)
            for method_name, method in inspect.getmembers(ours, inspect.isfunction):
                if method_name.startswith("_"):
                    continue
                real_method = getattr(theirs, method_name, None)
                if real_method is None:
                    problems.append(f"{name}.{method_name}: not in the real {name}")
                else:
                    check_parameters(f"{name}.{method_name}", method, real_method)
            for attribute in INSTANCE_ATTRIBUTES.get(name, ()):
                if not hasattr(theirs, attribute):
                    problems.append(f"{name}.{attribute}: not in the real {name}")
    assert not problems, "\n".join(problems)
