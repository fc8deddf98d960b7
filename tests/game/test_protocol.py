"""The wire protocol: message ids, little-endian framing of every command, exact reads, and the client's rules
(commands only inside a sync window, errors of the GameError family, closed after a failure).

A raw loopback server (a plain socket held by the test) plays the game, so every byte the client sends is checked.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from hairpin.errors import HairpinError
from hairpin.game import (
    CheckpointCountChanged,
    Frame,
    GameConnectionError,
    GameError,
    GameProtocolError,
    GameTimeoutError,
    LapCountChanged,
    MessageId,
    OnConnect,
    RunStep,
    TMInterfaceClient,
)
from hairpin.game.protocol import (
    SERVER_MESSAGES,
    SocketReader,
    encode_blob,
    encode_execute_command,
    encode_message,
    recv_exact,
    socket_errors,
)
from hairpin.game.state_bytes import encode_state
from hairpin.obs import CarState

TIMEOUT_S = 2.0


def i32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


class RawGame:
    """The game side as a bare socket: the test writes syncs and reads exactly what the client sent."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.listener.settimeout(TIMEOUT_S)
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(TIMEOUT_S)
        return self.conn

    def send(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(data)

    def recv(self, n: int) -> bytes:
        assert self.conn is not None
        return recv_exact(self.conn, n)

    def nothing_sent(self) -> bool:
        """True if no byte is waiting from the client (checked without blocking)."""
        assert self.conn is not None
        self.conn.setblocking(False)
        try:
            return not self.conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        finally:
            self.conn.settimeout(TIMEOUT_S)

    def close(self) -> None:
        for s in (self.conn, self.listener):
            if s is not None:
                s.close()


@pytest.fixture
def game() -> Iterator[RawGame]:
    g = RawGame()
    yield g
    g.close()


@pytest.fixture
def client(game: RawGame) -> Iterator[TMInterfaceClient]:
    c = TMInterfaceClient(game.port, timeout_s=TIMEOUT_S)
    c.connect(retry_for_s=TIMEOUT_S)
    game.accept()
    yield c
    c.close()


def open_window(game: RawGame, client: TMInterfaceClient, race_time_ms: int = 120) -> RunStep:
    game.send(i32(MessageId.SC_RUN_STEP_SYNC, race_time_ms))
    event = client.read_event()
    assert event == RunStep(race_time_ms)
    return event


def test_message_ids_follow_the_plugin_enum() -> None:
    names = [m.name for m in MessageId]
    assert [m.value for m in MessageId] == list(range(1, 24))
    assert names[:5] == [
        "SC_RUN_STEP_SYNC",
        "SC_CHECKPOINT_COUNT_CHANGED_SYNC",
        "SC_LAP_COUNT_CHANGED_SYNC",
        "SC_REQUESTED_FRAME_SYNC",
        "SC_ON_CONNECT_SYNC",
    ]
    assert MessageId.C_SHUTDOWN == 13 and MessageId.C_REQUEST_FRAME == 17 and MessageId.C_GET_INPUTS == 23
    assert set(SERVER_MESSAGES) == {1, 2, 3, 4, 5}


def test_fixed_messages_are_little_endian_without_padding() -> None:
    assert encode_message(MessageId.C_SET_SPEED, 0.5) == b"\x06\0\0\0" + struct.pack("<f", 0.5)
    assert encode_message(MessageId.C_SET_INPUT_STATE, 1, 0, 1, 0) == b"\x0a\0\0\0\x01\x00\x01\x00"
    assert encode_message(MessageId.C_REQUEST_FRAME, 160, 120) == i32(17, 160, 120)
    assert encode_message(MessageId.C_SET_TIMEOUT, 0xFFFFFFFF) == b"\x0f\0\0\0\xff\xff\xff\xff"
    assert encode_message(MessageId.SC_RUN_STEP_SYNC, -2600) == i32(1, -2600)
    assert encode_message(MessageId.C_REWIND_TO_STATE) == i32(7)  # its bytes follow separately
    assert encode_blob(b"abc") == i32(3) + b"abc"
    with pytest.raises(ValueError, match="carries bytes"):
        encode_message(MessageId.C_EXECUTE_COMMAND, 3)


def test_execute_command_length_counts_characters_as_the_reference_client() -> None:
    assert encode_execute_command("map a.Gbx") == i32(14, 9) + b"map a.Gbx"
    assert encode_execute_command("map é") == i32(14, 5) + "map é".encode()  # 6 bytes: the wire quirk


def test_every_command_is_framed_as_the_plugin_reads_it(game: RawGame, client: TMInterfaceClient) -> None:
    event = open_window(game, client)
    state = encode_state(CarState(np.zeros(3), np.eye(3), np.zeros(3), np.zeros(3)), 0, [False], [-1, -1])
    expected: list[tuple[str, tuple[object, ...], bytes]] = [
        ("set_speed", (80.0,), i32(6) + struct.pack("<f", 80.0)),
        ("rewind_to_state", (state,), i32(7, len(state)) + state),
        ("rewind_to_current_state", (), i32(8)),
        ("set_input_state", (True, False, True, False), i32(10) + bytes([1, 0, 1, 0])),
        ("give_up", (), i32(11)),
        ("prevent_simulation_finish", (), i32(12)),
        ("execute_command", ("cam 2",), i32(14, 5) + b"cam 2"),
        ("set_timeout", (10100,), i32(15) + struct.pack("<I", 10100)),
        ("request_frame", (64, 48), i32(17, 64, 48)),
        ("reset_camera", (), i32(18)),
        ("set_on_step_period", (50,), i32(19, 50)),
        ("unrequest_frame", (), i32(20)),
        ("toggle_interface", (False,), i32(21, 0)),
    ]
    for name, args, wire in expected:
        getattr(client, name)(*args)
        client.flush()
        assert game.recv(len(wire)) == wire, name
    client.answer(event)
    assert game.recv(4) == i32(1)
    assert game.nothing_sent()


def test_queries_read_their_replies(game: RawGame, client: TMInterfaceClient) -> None:
    event = open_window(game, client)
    state = encode_state(CarState(np.ones(3), np.eye(3), np.zeros(3), np.zeros(3)), 1230, [True], [1000, -1])
    game.send(i32(len(state)) + state)
    got = client.get_simulation_state()
    assert game.recv(4) == i32(9)
    assert got.raw == state and got.race_time_ms == 1230 and got.cp_times_ms == [1000, -1]
    for query, wire, reply, answer in [
        ("race_finished", i32(16), i32(1), True),
        ("is_in_menus", i32(22), i32(0), False),
        ("get_inputs", i32(23), i32(14) + b"0 press up\n\xc3\xa9\n", "0 press up\né\n"),
    ]:
        game.send(reply)
        assert getattr(client, query)() == answer
        assert game.recv(len(wire)) == wire
    client.answer(event)
    assert game.recv(4) == i32(1)


def test_commands_wait_for_the_next_query_or_answer_but_set_timeout_goes_at_once(
    game: RawGame, client: TMInterfaceClient
) -> None:
    event = open_window(game, client)
    client.set_input_state(False, True, True, False)
    assert game.nothing_sent()
    client.set_timeout(600_000_000)
    assert game.recv(16) == i32(10) + bytes([0, 1, 1, 0]) + i32(15) + struct.pack("<I", 600_000_000)
    client.give_up()
    client.answer(event)
    assert game.recv(8) == i32(11, 1)


def test_events_are_decoded_and_answered_with_their_id(game: RawGame, client: TMInterfaceClient) -> None:
    bgra = bytes(range(2 * 3 * 4))
    game.send(i32(5))
    assert client.read_event() == OnConnect()
    client.request_frame(3, 2)
    client.answer(OnConnect())
    assert game.recv(16) == i32(17, 3, 2) + i32(5)
    for wire, event in [
        (i32(2, 3, 4), CheckpointCountChanged(3, 4)),
        (i32(3, 1, 2), LapCountChanged(1, 2)),
        (i32(4) + bgra, Frame(3, 2, bgra)),
        (i32(1, -2600), RunStep(-2600)),
    ]:
        game.send(wire)
        assert client.read_event() == event
        assert client.sync_window == event.message_id
        client.answer(event)
        assert game.recv(4) == i32(event.message_id)
        assert client.sync_window is None


def test_frame_gray_uses_bgra_weights() -> None:
    pixel = bytes([10, 200, 50, 255])  # B, G, R, A
    frame = Frame(2, 1, pixel + bytes([7, 7, 7, 255]))
    gray = frame.gray()
    assert gray.shape == (1, 1, 2) and gray.dtype == np.uint8
    assert gray[0, 0, 0] == round(0.299 * 50 + 0.587 * 200 + 0.114 * 10)
    assert gray[0, 0, 1] == 7


def test_commands_outside_a_window_are_refused_and_never_sent(game: RawGame, client: TMInterfaceClient) -> None:
    with pytest.raises(GameProtocolError, match="outside a sync window"):
        client.set_speed(0.0)
    with pytest.raises(GameProtocolError, match="outside a sync window"):
        client.get_simulation_state()
    with pytest.raises(GameProtocolError, match="cannot answer"):
        client.answer(RunStep(0))
    assert game.nothing_sent()
    assert client.connected  # nothing touched the stream
    event = open_window(game, client)
    with pytest.raises(GameProtocolError, match="still open"):
        client.read_event()
    with pytest.raises(GameProtocolError, match="cannot answer"):
        client.answer(OnConnect())
    client.answer(event)
    assert game.recv(4) == i32(1)


def test_non_ascii_console_commands_are_refused(game: RawGame, client: TMInterfaceClient) -> None:
    open_window(game, client)
    with pytest.raises(GameProtocolError, match="not ASCII"):
        client.execute_command("map Pistes/Été.Challenge.Gbx")
    client.flush()
    assert game.nothing_sent()


@pytest.mark.parametrize(
    ("wire", "error", "match"),
    [
        (i32(9), GameProtocolError, "unexpected message id 9"),
        (i32(4) + bytes(16), GameProtocolError, "no frame was ever requested"),
        (i32(1) + b"\x01\x02", GameConnectionError, "closed after"),
        (b"", GameConnectionError, "closed after 0"),
    ],
)
def test_bad_streams_raise_and_close_the_client(
    game: RawGame, client: TMInterfaceClient, wire: bytes, error: type[GameError], match: str
) -> None:
    game.send(wire)
    if wire in (b"", i32(1) + b"\x01\x02"):
        assert game.conn is not None
        game.conn.close()
    with pytest.raises(error, match=match):
        client.read_event()
    assert not client.connected
    with pytest.raises(GameConnectionError, match="not connected"):
        client.read_event()


def test_a_short_state_is_a_protocol_error(game: RawGame, client: TMInterfaceClient) -> None:
    open_window(game, client)
    game.send(i32(64) + bytes(64))
    with pytest.raises(GameProtocolError, match="shorter than its fixed part of 8356"):
        client.get_simulation_state()
    assert not client.connected


def test_a_silent_game_times_out(game: RawGame) -> None:
    client = TMInterfaceClient(game.port, timeout_s=0.2)
    client.connect(retry_for_s=TIMEOUT_S)
    game.accept()
    with pytest.raises(GameTimeoutError):
        client.read_event()
    assert not client.connected
    assert isinstance(GameTimeoutError("x"), HairpinError)


def test_socket_errors_map_every_timeout_flavour() -> None:
    for flavour in (TimeoutError("timed out"), BlockingIOError(11, "EAGAIN")):  # socket.timeout is TimeoutError
        with pytest.raises(GameTimeoutError), socket_errors("reading"):
            raise flavour
    with pytest.raises(GameConnectionError), socket_errors("reading"):
        raise ConnectionResetError(104, "reset")


def test_so_rcvtimeo_gives_blocking_io_error_that_maps_to_a_timeout() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 50_000))
        with pytest.raises(GameTimeoutError):
            recv_exact(a, 4)


def test_socket_reader_reads_across_messages_and_grows() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(TIMEOUT_S)
        reader = SocketReader(a, capacity=16)
        big = bytes(range(256)) * 40
        b.sendall(i32(7, -1) + big + i32(99))
        assert reader.read_int32() == 7 and reader.read_int32() == -1
        assert bytes(reader.read(len(big))) == big
        assert reader.read_int32() == 99
        b.close()
        with pytest.raises(GameConnectionError, match="closed after 0 of 4"):
            reader.read_int32()


def test_connect_retries_then_gives_up() -> None:
    holder = socket.socket()  # bound but not listening: connections are refused
    holder.bind(("127.0.0.1", 0))
    with holder:
        client = TMInterfaceClient(holder.getsockname()[1], timeout_s=TIMEOUT_S)
        with pytest.raises(GameConnectionError, match="nothing accepted"):
            client.connect(retry_for_s=0.2, backoff_s=0.01)
        assert not client.connected


def test_connect_succeeds_once_the_game_listens() -> None:
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    starts_listening = threading.Timer(0.1, holder.listen)
    starts_listening.start()
    with holder:
        client = TMInterfaceClient(holder.getsockname()[1], timeout_s=TIMEOUT_S)
        client.connect(retry_for_s=10.0, backoff_s=0.01, max_backoff_s=0.05)
        assert client.connected
        client.close()
    starts_listening.join()


def test_close_sends_shutdown_once_and_is_idempotent(game: RawGame, client: TMInterfaceClient) -> None:
    client.close()
    client.close()
    assert not client.connected
    assert game.recv(4) == i32(13)
    assert game.conn is not None and game.conn.recv(1) == b""
