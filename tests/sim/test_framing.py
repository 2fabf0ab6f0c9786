"""How the loopback servers cut the byte stream into messages (definite-length blocks, END).

Over GPIB or VXI-11 a controller may end a message with the interface's END
instead of a line feed; QCoDeS's ``TektronixAWG5014`` uploads waveforms that
way (``write_raw`` of ``WLISt:WAVeform:DATA "name",#<n><len><bytes>``), so
over a raw socket the next command follows the block directly.
"""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from sim_instruments.emulators.scpi import block
from sim_instruments.emulators.tektronix_awg5014c import TektronixAWG5014CEmulator
from sim_instruments.tcp_server import InstrumentServer, next_message
from sim_instruments.world_state import AwgState

#: A block whose payload holds a line feed, a ';' and a '#', which must not end or split it.
PAYLOAD = b"ab\ncd;#9\n"
DATA = b'WLIS:WAV:DATA "w",' + block(PAYLOAD)


def messages(stream: bytes) -> tuple[list[bytes], bytes]:
    """Every complete message of ``stream``, and what is left waiting."""
    buffer = bytearray(stream)
    found = []
    while (message := next_message(buffer)) is not None:
        found.append(message)
    return found, bytes(buffer)


@pytest.mark.parametrize("follower", [b"*OPC?\n", b":SYST:ERR?\n", b"WLIS:WAV:DEL ALL\n"])
def test_a_block_without_terminator_ends_its_message_when_a_command_follows(follower):
    assert messages(DATA + follower) == ([DATA, follower.rstrip(b"\n")], b"")


@pytest.mark.parametrize("rest, expected", [
    (b"\n", [DATA]),
    (b"\r\n", [DATA]),
    (b";*OPC?\n", [DATA + b";*OPC?"]),
    (b',"more"\n', [DATA + b',"more"']),
])
def test_a_terminator_or_separator_after_a_block_continues_its_message(rest, expected):
    assert messages(DATA + rest) == (expected, b"")


def test_a_block_at_the_end_of_what_arrived_waits_for_what_follows():
    assert messages(DATA) == ([], DATA)
    assert messages(DATA[:-3]) == ([], DATA[:-3])


def test_the_stream_may_arrive_in_any_pieces():
    stream = b"WLIS:WAV:NEW \"w\",9,INT\n" + DATA + b"*OPC?\n" + DATA + b"\n"
    for cut in range(1, len(stream)):
        buffer = bytearray()
        found = []
        for piece in (stream[:cut], stream[cut:]):
            buffer.extend(piece)
            while (message := next_message(buffer)) is not None:
                found.append(message)
        assert found == [b'WLIS:WAV:NEW "w",9,INT', DATA, b"*OPC?", DATA], cut
        assert buffer == b""


def test_an_upload_without_terminator_reaches_the_awg_emulator_over_tcp():
    state = AwgState()
    server = InstrumentServer("awg", TektronixAWG5014CEmulator(state), threading.RLock(),
                              fault=lambda: None)
    server.start()
    words = np.arange(250, dtype="<u2") * 37 % 0x4000 | 0x8000
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
            client.sendall(b'WLISt:WAVeform:NEW "w",250,INTEGER\n')
            client.sendall(b'WLISt:WAVeform:DATA "w",' + block(words.tobytes()))
            client.sendall(b"SYSTem:ERRor:NEXT?\n")
            reply = b""
            while not reply.endswith(b"\n"):
                reply += client.recv(1024)
    finally:
        server.stop()
    assert reply == b'0,"No error"\n'
    stored = state.waveforms["w"]
    assert stored.marker2.all() and not stored.marker1.any()
    codes = np.rint(stored.analog * 0x1FFF + 0x1FFF).astype(int)
    assert (codes == (words & 0x3FFF)).all()
