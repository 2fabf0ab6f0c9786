"""The AWG5014C emulator over VXI-11: pyvisa-py's client, labctl's driver and QCoDeS's.

The server (`sim_instruments.vxi11_server`) is reached as in the lab, through
pyvisa-py's VXI-11 session (``TCPIP::127.0.0.1,<port>::inst0::INSTR``, no
portmapper) or, where a test needs single RPCs (a write without END, a read
of a given size, an abort), through pyvisa-py's own core and abort clients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pyvisa
from pyvisa.errors import VisaIOError
from pyvisa_py.protocols import rpc, vxi11
from pyvisa_py.tcpip import Vxi11CoreClient
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from drivers.tektronix_awg5014c import TektronixAWG5014C
from labctl import station as station_module
from labctl.errors import LabctlError
from sim_instruments.emulators.scpi import ScpiEmulator
from sim_instruments.emulators.tektronix_awg5014c import TektronixAWG5014CEmulator
from sim_instruments.tcp_server import GARBAGE
from sim_instruments.vxi11_server import STB_MAV, Vxi11Server, vxi11_resource
from sim_instruments.world_state import AwgState, Fault

IDENTITY = TektronixAWG5014CEmulator.identity
#: A small maxRecvSize, so waveforms and their read-back take several RPCs.
SMALL_RECV = 1024


class Served(SimpleNamespace):
    server: Vxi11Server
    fault: Fault | None
    state: AwgState


@pytest.fixture
def serve_vxi11() -> Iterator[Callable[..., Served]]:
    """``serve_vxi11(emulator=None, max_recv_size=...)``: an AWG (or ``emulator``) on VXI-11."""
    servers: list[Vxi11Server] = []

    def _serve(emulator: ScpiEmulator | None = None,
               max_recv_size: int = SMALL_RECV) -> Served:
        state = AwgState()
        served = Served(fault=None, state=state)
        served.server = Vxi11Server("awg", emulator or TektronixAWG5014CEmulator(state),
                                    threading.RLock(), lambda: served.fault,
                                    max_recv_size=max_recv_size)
        served.server.start()
        servers.append(served.server)
        return served

    yield _serve
    for server in servers:
        server.stop()


@pytest.fixture
def visa() -> Iterator[Callable[..., pyvisa.resources.MessageBasedResource]]:
    """``visa(resource, **attributes)``: a pyvisa-py session, closed after the test."""
    manager = pyvisa.ResourceManager("@py")
    yield lambda resource, **kwargs: manager.open_resource(resource, **{"timeout": 2000,
                                                                        **kwargs})
    manager.close()


class Core(SimpleNamespace):
    """pyvisa-py's own VXI-11 core client on one link (single RPCs)."""

    client: Vxi11CoreClient
    link: int
    abort_port: int
    max_recv_size: int


@pytest.fixture
def core() -> Iterator[Callable[[Vxi11Server], Core]]:
    opened: list[Core] = []

    def _open(server: Vxi11Server, device: str = "inst0") -> Core:
        client = Vxi11CoreClient("127.0.0.1", server.port, 2000)
        error, link, abort_port, max_recv_size = client.create_link(7, False, 1000, device)
        opened.append(Core(client=client, link=link, abort_port=abort_port,
                           max_recv_size=max_recv_size, error=error))
        return opened[-1]

    yield _open
    for each in opened:
        each.client.close()


def write(core: Core, data: bytes, end: bool = True) -> tuple[int, int]:
    flags = vxi11.OP_FLAG_END if end else 0
    return core.client.device_write(core.link, 1000, 1000, flags, data)


def read(core: Core, size: int = 1 << 16, io_timeout: int = 1000,
         term_char: int | None = None) -> tuple[int, int, bytes]:
    flags = vxi11.OP_FLAG_TERMCHAR_SET if term_char is not None else 0
    return core.client.device_read(core.link, size, io_timeout, 1000, flags, term_char or 0)


# --- resource name, queries, END framing -------------------------------------------------


def test_the_resource_names_the_port_and_pyvisa_py_opens_a_vxi11_session(serve_vxi11, visa):
    served = serve_vxi11()
    resource = served.server.resource
    assert resource == vxi11_resource(served.server.port)
    parsed = pyvisa.rname.parse_resource_name(resource)
    assert (parsed.host_address, parsed.lan_device_name) == (
        f"127.0.0.1,{served.server.port}", "inst0")
    unit = visa(resource)
    assert type(unit.visalib.sessions[unit.session]).__name__ == "TCPIPInstrVxi11"
    assert served.server.calls[vxi11.CREATE_LINK] == 1


def test_a_query_is_answered_with_the_terminator_and_END(serve_vxi11, visa):
    unit = visa(serve_vxi11().server.resource)          # no read termination: END ends it
    assert unit.query("*IDN?") == IDENTITY + "\n"
    unit.read_termination = "\n"
    unit.write_termination = "\n"
    assert unit.query("*IDN?") == IDENTITY


def test_a_message_is_complete_only_when_a_write_has_END(serve_vxi11, core):
    link = core(serve_vxi11().server)
    assert write(link, b"*ID", end=False) == (0, 3)
    assert read(link, io_timeout=100)[0] == vxi11.ErrorCodes.io_timeout   # nothing yet
    assert write(link, b"N?", end=True) == (0, 2)
    error, reason, data = read(link)
    assert (error, reason, data) == (0, vxi11.RX_END, IDENTITY.encode() + b"\n")


def test_line_feeds_end_program_messages_inside_one_write(serve_vxi11, core):
    link = core(serve_vxi11().server)
    write(link, b"SOUR1:FREQ:CW 5.0E8\nSOUR1:FREQ:CW?\n*OPC?")
    assert float(read(link)[2]) == pytest.approx(5e8)
    assert read(link)[2] == b"1\n"


def test_a_read_ends_at_the_termination_character_or_the_requested_count(serve_vxi11, core):
    link = core(serve_vxi11().server)
    write(link, b"*IDN?")
    error, reason, first = read(link, size=5)
    assert (error, reason, first) == (0, vxi11.RX_REQCNT, IDENTITY.encode()[:5])
    error, reason, chunk = read(link, term_char=ord(","))
    assert reason == vxi11.RX_CHR and chunk == IDENTITY.encode()[5:IDENTITY.index(",") + 1]
    error, reason, rest = read(link, term_char=ord("\n"))
    assert reason == vxi11.RX_CHR | vxi11.RX_END
    assert first + chunk + rest == IDENTITY.encode() + b"\n"


# --- binary blocks and chunks ---------------------------------------------------------


def waveform(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (np.round(rng.uniform(-1, 1, n) * 8191) / 8191, rng.random(n) < 0.5,
            rng.random(n) < 0.5)


def test_labctls_driver_uploads_and_reads_back_blocks_in_chunks(serve_vxi11, connect):
    served = serve_vxi11()
    awg = connect(TektronixAWG5014C, served.server.resource, timeout=10)
    assert awg.IDN()["model"] == "AWG5014C"
    analog, m1, m2 = waveform(3000)                     # 6000 bytes: > maxRecvSize
    writes_before = served.server.calls[vxi11.DEVICE_WRITE]
    awg.upload_waveform("probe", analog, m1, m2)
    # NEW, the DATA block in ceil(6000+header / 1024) writes, SYST:ERR? after each, *OPC?
    block_writes = -(-(6000 + len('WLIS:WAV:DATA "probe",0,3000,#46000\n')) // SMALL_RECV)
    assert served.server.calls[vxi11.DEVICE_WRITE] - writes_before == 1 + 1 + block_writes + 1 + 1
    stored = served.state.waveforms["probe"]
    np.testing.assert_allclose(stored.analog, analog, atol=1e-9)
    assert (stored.marker1 == m1).all() and (stored.marker2 == m2).all()
    reads_before = served.server.calls[vxi11.DEVICE_READ]
    back, back1, back2 = awg.read_waveform("probe")
    assert served.server.calls[vxi11.DEVICE_READ] - reads_before >= 6000 // SMALL_RECV
    np.testing.assert_allclose(back, analog, atol=1e-9)
    assert (back1 == m1).all() and (back2 == m2).all()
    assert awg.drain_error_queue() == []


def test_qcodes_driver_sends_blocks_without_terminator_and_END_frames_them(serve_vxi11):
    served = serve_vxi11()
    awg = TektronixAWG5014(f"qc_awg_vxi{id(served)}", served.server.resource,
                           visalib="@py", timeout=10)      # QCoDeS's default terminator
    try:
        assert awg.IDN()["model"] == "AWG5014C"
        assert awg.run_mode() == "CONT"
        analog, m1, m2 = waveform(2000, seed=2)
        awg.write('WLIS:WAV:NEW "qc_wave",300,INT')   # what the driver deletes first
        awg.send_waveform_to_list(analog, m1.astype(int), m2.astype(int), "qc_wave")
        awg.run_mode("SEQ")                              # the next command, its own message
        assert awg.run_mode() == "SEQ"
        stored = served.state.waveforms["qc_wave"]
        assert stored.analog.size == 2000
        np.testing.assert_allclose(stored.analog, analog, atol=1.5 / 8191)
        assert (stored.marker1 == m1).all() and (stored.marker2 == m2).all()
        assert awg.ask("SYST:ERR?").strip().startswith("0")
    finally:
        awg.close()


# --- status byte, trigger, clear ----------------------------------------------------------


class TriggerCounting(ScpiEmulator):
    """A unit with a trigger input that counts the triggers it got."""

    identity = "LABCTL,TRIGGERED,0,0"

    def __init__(self) -> None:
        super().__init__()
        self.triggers = 0

    def trigger(self) -> None:
        self.triggers += 1


def test_the_status_byte_has_the_emulators_bits_and_mav(serve_vxi11, visa, core):
    served = serve_vxi11()
    unit = visa(served.server.resource, read_termination="\n", write_termination="\n")
    unit.write("*CLS")
    assert unit.read_stb() == 0
    unit.write("NOT:A:COMMand")
    assert unit.read_stb() & 0x04                        # EAV: the error queue holds one
    unit.write("*SRE 4")
    assert unit.read_stb() & 0x44 == 0x44                # ... and requests service
    unit.write("*CLS;*SRE 0")
    link = core(served.server)
    write(link, b"*IDN?")
    error, stb = link.client.device_read_stb(link.link, 0, 1000, 1000)
    assert (error, stb) == (0, STB_MAV)                  # a reply waits on this link
    read(link)
    assert link.client.device_read_stb(link.link, 0, 1000, 1000) == (0, 0)


def test_device_trigger_is_star_trg(serve_vxi11, visa):
    emulator = TriggerCounting()
    unit = visa(serve_vxi11(emulator).server.resource)
    unit.assert_trigger()
    unit.assert_trigger()
    assert emulator.triggers == 2
    plain = ScpiEmulator()                               # a unit without a trigger refuses it
    other = visa(serve_vxi11(plain).server.resource, read_termination="\n")
    other.assert_trigger()
    assert other.query("SYST:ERR?").startswith("-113")


def test_device_clear_empties_the_input_buffer_and_output_queue(serve_vxi11, visa, core):
    served = serve_vxi11()
    unit = visa(served.server.resource, read_termination="\n", write_termination="\n",
                timeout=300)
    unit.write("*IDN?")
    unit.clear()
    with pytest.raises(VisaIOError, match="TMO"):
        unit.read()                                      # the reply was discarded
    link = core(served.server)
    write(link, b"SOUR1:FREQ:CW 1E", end=False)
    assert link.client.device_clear(link.link, 0, 1000, 1000) == 0
    write(link, b"*IDN?")                                # not "SOUR1:FREQ:CW 1E*IDN?"
    assert read(link)[2] == IDENTITY.encode() + b"\n"


# --- faults -------------------------------------------------------------------------------


def test_latency_delays_each_message(serve_vxi11, visa):
    served = serve_vxi11()
    unit = visa(served.server.resource, read_termination="\n", timeout=5000)
    served.fault = Fault("latency", 0.3)
    started = time.monotonic()
    assert unit.query("*IDN?") == IDENTITY
    assert time.monotonic() - started >= 0.3
    served.fault = None


def test_latency_beyond_the_timeout_is_a_timeout_and_the_session_recovers(serve_vxi11, visa):
    served = serve_vxi11()
    unit = visa(served.server.resource, read_termination="\n", timeout=300)
    served.fault = Fault("latency", 0.6)
    with pytest.raises(VisaIOError) as caught:
        unit.query("*IDN?")
    assert caught.value.error_code == pyvisa.constants.StatusCode.error_timeout
    served.fault = None
    assert unit.query("*IDN?") == IDENTITY             # no late reply left behind


def test_drop_resets_the_connection_and_a_fresh_one_works(serve_vxi11, visa):
    served = serve_vxi11()
    unit = visa(served.server.resource, read_termination="\n")
    assert unit.query("*IDN?") == IDENTITY
    served.fault = Fault("drop")
    with pytest.raises((ConnectionError, VisaIOError)) as caught:
        unit.query("*IDN?")
    assert "reset" in str(caught.value).lower() or isinstance(caught.value, ConnectionError)
    served.fault = None
    assert visa(served.server.resource, read_termination="\n").query("*IDN?") == IDENTITY


def test_garbage_replies_parse_as_nothing_and_recover(serve_vxi11, visa):
    served = serve_vxi11()
    unit = visa(served.server.resource)
    served.fault = Fault("garbage")
    unit.write("*IDN?")
    assert unit.read_raw() == GARBAGE + b"\n"
    served.fault = None
    assert unit.query("*IDN?") == IDENTITY + "\n"


def test_a_silent_unit_times_out_and_answers_again_after_a_clear(serve_vxi11, visa, connect):
    served = serve_vxi11()
    unit = visa(served.server.resource, read_termination="\n", timeout=300)
    served.fault = Fault("silent")
    unit.write("SOUR1:FREQ:CW 5E8")                      # taken and ignored
    with pytest.raises(VisaIOError, match="TMO"):
        unit.query("*IDN?")
    with pytest.raises(VisaIOError):
        unit.read_stb()
    assert served.state.sample_rate != 5e8
    served.fault = None
    unit.clear()
    assert unit.query("*IDN?") == IDENTITY
    awg = connect(TektronixAWG5014C, served.server.resource)   # a driver connects again
    assert awg.IDN()["model"] == "AWG5014C"


def test_an_unknown_device_name_or_link_is_a_clear_error(serve_vxi11, core, visa):
    served = serve_vxi11()
    assert core(served.server, device="gpib0,3").error == vxi11.ErrorCodes.device_not_accessible
    link = core(served.server)
    assert link.client.device_write(link.link + 99, 1000, 1000, vxi11.OP_FLAG_END,
                                    b"*IDN?") == (vxi11.ErrorCodes.invalid_link_identifier, 0)
    with pytest.raises(Exception, match="error creating link: 3"):
        visa(served.server.resource.replace("inst0", "inst9"))


# --- two links at once, locks, abort ---------------------------------------------------------


def test_two_links_keep_their_own_replies(serve_vxi11, visa):
    served = serve_vxi11()
    first = visa(served.server.resource, read_termination="\n", write_termination="\n")
    second = visa(served.server.resource, read_termination="\n", write_termination="\n")
    first.write("*IDN?")
    second.write("SOUR1:FREQ:CW 6E8;:SOUR1:FREQ:CW?")
    assert float(second.read()) == pytest.approx(6e8)
    assert first.read() == IDENTITY
    assert served.server.calls[vxi11.CREATE_LINK] == 2


def test_a_lock_holds_other_links_off_until_it_is_released(serve_vxi11, core):
    served = serve_vxi11()
    owner, other = core(served.server), core(served.server)
    assert owner.client.device_lock(owner.link, 0, 0) == 0
    # without waitlock another link is refused at once; with it, it waits lock_timeout
    assert write(other, b"*IDN?") == (vxi11.ErrorCodes.device_locked_by_another_link, 0)
    assert other.client.device_lock(other.link, vxi11.OP_FLAG_WAIT_BLOCK, 100) == \
        vxi11.ErrorCodes.device_locked_by_another_link
    assert other.client.device_unlock(other.link) == vxi11.ErrorCodes.no_lock_held_by_this_link
    assert owner.client.device_unlock(owner.link) == 0
    assert write(other, b"*IDN?") == (0, 5)
    assert read(other)[2] == IDENTITY.encode() + b"\n"


def test_destroying_the_owning_link_releases_its_lock(serve_vxi11, core):
    served = serve_vxi11()
    owner, other = core(served.server), core(served.server)
    owner.client.device_lock(owner.link, 0, 0)
    assert owner.client.destroy_link(owner.link) == 0
    assert other.client.device_lock(other.link, 0, 0) == 0


def test_device_abort_ends_a_waiting_read(serve_vxi11, core):
    served = serve_vxi11()
    link = core(served.server)
    assert link.abort_port == served.server.abort_channel.port
    result: list[tuple[int, int, bytes]] = []
    reader = threading.Thread(target=lambda: result.append(read(link, io_timeout=10_000)))
    reader.start()
    abort = rpc.RawTCPClient("127.0.0.1", vxi11.DEVICE_ASYNC_PROG, vxi11.DEVICE_ASYNC_VERS,
                             link.abort_port)
    abort.packer, abort.unpacker = vxi11.Vxi11Packer(), vxi11.Vxi11Unpacker(b"")
    try:
        deadline = time.monotonic() + 5
        while not result and time.monotonic() < deadline:   # until the read is waiting
            assert abort.make_call(vxi11.DEVICE_ABORT, link.link, abort.packer.pack_device_link,
                                   abort.unpacker.unpack_device_error) == 0
            reader.join(0.05)
    finally:
        abort.close()
    reader.join(5)
    assert result and result[0][0] == vxi11.ErrorCodes.abort


def test_a_wrong_program_number_is_refused_by_the_rpc_layer(serve_vxi11):
    served = serve_vxi11()
    client = rpc.RawTCPClient("127.0.0.1", vxi11.DEVICE_ASYNC_PROG, 1, served.server.port)
    client.packer, client.unpacker = vxi11.Vxi11Packer(), vxi11.Vxi11Unpacker(b"")
    try:
        with pytest.raises(rpc.RPCError, match="program_unavailable"):
            client.make_call(vxi11.DEVICE_ABORT, 1, client.packer.pack_device_link,
                             client.unpacker.unpack_device_error)
    finally:
        client.close()


def test_max_recv_size_outside_the_specification_is_refused():
    with pytest.raises(LabctlError, match="max_recv_size"):
        Vxi11Server("awg", ScpiEmulator(), threading.RLock(), lambda: None, max_recv_size=100)


# --- the virtual lab ------------------------------------------------------------------------

STATION = Path(__file__).parents[2] / "stations" / "two_node.yaml"


@pytest.mark.parametrize(("profile", "driver", "read_termination"), [
    ("sim", TektronixAWG5014C, "\n"),
    ("sim-qcodes", TektronixAWG5014, None),          # QCoDeS's default: END ends replies
])
def test_the_virtual_lab_serves_both_awgs_over_vxi11(profile, driver, read_termination):
    with station_module.load(STATION, profile) as station:
        lab = station.simulation.lab
        for node in ("node_a", "node_b"):
            name = f"{node}_awg"
            server = lab.servers[name]
            assert isinstance(server, Vxi11Server)
            assert lab.addresses[name] == vxi11_resource(server.port)
            awg = station.instrument("awg", node)
            assert type(awg) is driver
            assert awg.visa_handle.read_termination == read_termination
            assert awg.IDN()["model"] == "AWG5014C"
            assert server.calls[vxi11.DEVICE_WRITE] > 0     # the driver spoke VXI-11
