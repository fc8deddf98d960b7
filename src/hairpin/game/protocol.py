"""The TMInterface 2 wire protocol of the ``Python_Link`` plugin: message ids, little-endian framing, exact reads.

Every message starts with an int32 id (TMINTERFACE.md §2); payloads are packed little-endian with no padding, and
byte strings carry no length of their own (where one is needed it is a separate int32 before the bytes). The
tables here are shared by the client (``client.py``) and the emulated server (``emulator.py``), so both sides read
and write one definition of each message.

Socket failures are turned into the ``GameError`` family in one place (``socket_errors``): a timeout in any of the
flavours the OS reports it (``TimeoutError``/``socket.timeout`` from ``settimeout``, ``BlockingIOError``/EAGAIN
from ``SO_RCVTIMEO`` on Linux, TMINTERFACE.md §7) is a ``GameTimeoutError``; a closed or reset socket, or a read
that ends early, is a ``GameConnectionError``.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

from hairpin.game.errors import GameConnectionError, GameError, GameTimeoutError

__all__ = [
    "DEFAULT_BASE_PORT",
    "FIXED_PAYLOADS",
    "FLOAT32",
    "INT32",
    "SERVER_MESSAGES",
    "STATE_FIXED_BYTES",
    "UINT8",
    "UINT32",
    "MessageId",
    "SocketReader",
    "encode_blob",
    "encode_execute_command",
    "encode_message",
    "game_error",
    "pack_float32",
    "pack_int32",
    "pack_uint8",
    "pack_uint32",
    "recv_exact",
    "set_socket_timeout",
    "socket_errors",
    "unpack_float32",
    "unpack_int32",
    "unpack_uint8",
    "unpack_uint32",
]

DEFAULT_BASE_PORT = 8478
"""Port of game instance 0; instance k listens on ``DEFAULT_BASE_PORT + k`` (TMINTERFACE.md §1)."""
STATE_FIXED_BYTES = 8356
"""Length of the fixed part of the simulation state; a checkpoint tail follows it (TMINTERFACE.md §4.1)."""


class MessageId(IntEnum):
    """Message ids in the plugin's order (1-based; TMINTERFACE.md §2). SC_*: game → client, C_*: client → game."""

    SC_RUN_STEP_SYNC = 1
    SC_CHECKPOINT_COUNT_CHANGED_SYNC = 2
    SC_LAP_COUNT_CHANGED_SYNC = 3
    SC_REQUESTED_FRAME_SYNC = 4
    SC_ON_CONNECT_SYNC = 5
    C_SET_SPEED = 6
    C_REWIND_TO_STATE = 7
    C_REWIND_TO_CURRENT_STATE = 8
    C_GET_SIMULATION_STATE = 9
    C_SET_INPUT_STATE = 10
    C_GIVE_UP = 11
    C_PREVENT_SIMULATION_FINISH = 12
    C_SHUTDOWN = 13
    C_EXECUTE_COMMAND = 14
    C_SET_TIMEOUT = 15
    C_RACE_FINISHED = 16
    C_REQUEST_FRAME = 17
    C_RESET_CAMERA = 18
    C_SET_ON_STEP_PERIOD = 19
    C_UNREQUEST_FRAME = 20
    C_TOGGLE_INTERFACE = 21
    C_IS_IN_MENUS = 22
    C_GET_INPUTS = 23


SERVER_MESSAGES = frozenset(range(MessageId.SC_RUN_STEP_SYNC, MessageId.SC_ON_CONNECT_SYNC + 1))
"""The sync ids the game sends; each opens a window that the client closes by sending the same id back."""

INT32 = struct.Struct("<i")
UINT32 = struct.Struct("<I")
FLOAT32 = struct.Struct("<f")
UINT8 = struct.Struct("<B")

_M = MessageId
FIXED_PAYLOADS: dict[MessageId, struct.Struct] = {
    _M.SC_RUN_STEP_SYNC: struct.Struct("<i"),  # race_time_ms
    _M.SC_CHECKPOINT_COUNT_CHANGED_SYNC: struct.Struct("<ii"),  # current, target
    _M.SC_LAP_COUNT_CHANGED_SYNC: struct.Struct("<ii"),  # current, target
    _M.SC_ON_CONNECT_SYNC: struct.Struct("<"),
    _M.C_SET_SPEED: struct.Struct("<f"),
    _M.C_REWIND_TO_CURRENT_STATE: struct.Struct("<"),
    _M.C_GET_SIMULATION_STATE: struct.Struct("<"),
    _M.C_SET_INPUT_STATE: struct.Struct("<BBBB"),  # left, right, accelerate, brake
    _M.C_GIVE_UP: struct.Struct("<"),
    _M.C_PREVENT_SIMULATION_FINISH: struct.Struct("<"),
    _M.C_SHUTDOWN: struct.Struct("<"),
    _M.C_SET_TIMEOUT: struct.Struct("<I"),  # ms
    _M.C_RACE_FINISHED: struct.Struct("<"),
    _M.C_REQUEST_FRAME: struct.Struct("<ii"),  # width, height
    _M.C_RESET_CAMERA: struct.Struct("<"),
    _M.C_SET_ON_STEP_PERIOD: struct.Struct("<i"),  # ms
    _M.C_UNREQUEST_FRAME: struct.Struct("<"),
    _M.C_TOGGLE_INTERFACE: struct.Struct("<i"),  # 0 or 1
    _M.C_IS_IN_MENUS: struct.Struct("<"),
    _M.C_GET_INPUTS: struct.Struct("<"),
}
"""Payload after the id of every message whose payload has a fixed size. The other three carry bytes:
``SC_REQUESTED_FRAME_SYNC`` (W*H*4 raw BGRA, sized by the last frame request), ``C_REWIND_TO_STATE`` and
``C_EXECUTE_COMMAND`` (an int32 length, then the bytes)."""

_HEADERS = {m: struct.Struct("<i" + s.format[1:]) for m, s in FIXED_PAYLOADS.items()}


def pack_int32(value: int) -> bytes:
    return INT32.pack(value)


def pack_uint32(value: int) -> bytes:
    return UINT32.pack(value)


def pack_float32(value: float) -> bytes:
    return FLOAT32.pack(value)


def pack_uint8(value: int) -> bytes:
    return UINT8.pack(value)


def unpack_int32(data: bytes | bytearray | memoryview, offset: int = 0) -> int:
    return int(INT32.unpack_from(data, offset)[0])


def unpack_uint32(data: bytes | bytearray | memoryview, offset: int = 0) -> int:
    return int(UINT32.unpack_from(data, offset)[0])


def unpack_float32(data: bytes | bytearray | memoryview, offset: int = 0) -> float:
    return float(FLOAT32.unpack_from(data, offset)[0])


def unpack_uint8(data: bytes | bytearray | memoryview, offset: int = 0) -> int:
    return int(UINT8.unpack_from(data, offset)[0])


def encode_message(message: MessageId, *values: float) -> bytes:
    """The id and fixed payload of ``message``, ``values`` in the order of ``FIXED_PAYLOADS``; for the three
    messages that carry bytes, the id alone (their bytes follow)."""
    header = _HEADERS.get(message)
    if header is None:
        if values:
            raise ValueError(f"{message.name} carries bytes, not values: append them after the id")
        return INT32.pack(message)
    return header.pack(int(message), *values)


def encode_blob(data: bytes | bytearray | memoryview) -> bytes:
    """An int32 length followed by the bytes (state payloads and replies, the inputs text)."""
    return INT32.pack(len(data)) + bytes(data)


def encode_execute_command(command: str) -> bytes:
    """``C_EXECUTE_COMMAND`` as the reference client frames it: the length is ``len(command)``, a character count,
    followed by the UTF-8 bytes. Only ASCII text frames correctly (TMINTERFACE.md §2, wire quirks)."""
    return INT32.pack(MessageId.C_EXECUTE_COMMAND) + INT32.pack(len(command)) + command.encode()


def game_error(err: OSError, what: str) -> GameError:
    """The ``GameError`` for a socket failure during ``what``: a timeout in any flavour, or a broken connection."""
    if isinstance(err, TimeoutError | BlockingIOError):  # socket.timeout is TimeoutError; EAGAIN from SO_RCVTIMEO
        return GameTimeoutError(f"{what}: no data within the socket timeout ({err.__class__.__name__})")
    return GameConnectionError(f"{what}: {err.__class__.__name__}: {err}")  # reset, broken pipe, closed


@contextmanager
def socket_errors(what: str) -> Iterator[None]:
    """Turn socket failures inside the block into the ``GameError`` family; ``what`` names the operation."""
    try:
        yield
    except OSError as err:
        raise game_error(err, what) from err


def set_socket_timeout(sock: socket.socket, timeout_s: float) -> None:
    """Make every receive and send on ``sock`` give up after ``timeout_s``.

    On Linux this is ``SO_RCVTIMEO``/``SO_SNDTIMEO`` on a blocking socket (a timeout then raises
    ``BlockingIOError``), which spares the extra ``poll`` that ``settimeout`` makes before each call; elsewhere it
    is ``settimeout``. ``socket_errors``/``game_error`` map both flavours to ``GameTimeoutError``.
    """
    if sys.platform.startswith("linux"):
        sock.settimeout(None)
        seconds, micros = divmod(max(1, round(timeout_s * 1e6)), 1_000_000)  # 0 would mean "never time out"
        timeval = struct.pack("ll", seconds, micros)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    else:
        sock.settimeout(timeout_s)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from ``sock``; ``GameConnectionError`` if the peer closes first (a short read)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    with socket_errors(f"reading {n} bytes"):
        while got < n:
            k = sock.recv_into(view[got:], n - got)
            if k == 0:
                raise GameConnectionError(f"connection closed after {got} of {n} bytes")
            got += k
    return bytes(buf)


class SocketReader:
    """Exact reads from a socket through one preallocated buffer: each ``recv`` takes whatever has arrived, so
    back-to-back messages cost one system call, not one per field.

    ``read(n)`` returns a view into the buffer that is valid until the next read; copy it (``bytes(...)``) to keep.
    """

    def __init__(self, sock: socket.socket, capacity: int = 1 << 16) -> None:
        self.sock = sock
        self._buf = bytearray(capacity)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet read."""
        return self._end - self._start

    def read(self, n: int) -> memoryview:
        """The next ``n`` bytes; ``GameConnectionError`` on a short read, ``GameTimeoutError`` on a timeout."""
        if self._end - self._start < n:
            self._fill(n)
        start = self._start
        self._start = start + n
        return self._view[start : start + n]

    def read_int32(self) -> int:
        return int(INT32.unpack_from(self.read(4))[0])

    def _fill(self, n: int) -> None:
        """Receive until at least ``n`` unread bytes are buffered."""
        have = self._end - self._start
        if n > len(self._buf):
            grown = bytearray(max(n, 2 * len(self._buf)))
            grown[:have] = self._buf[self._start : self._end]
            self._buf, self._view = grown, memoryview(grown)
        elif self._start:
            self._buf[:have] = self._buf[self._start : self._end]
        self._start, self._end = 0, have
        try:
            while self._end < n:
                k = self.sock.recv_into(self._view[self._end :])
                if k == 0:
                    raise GameConnectionError(f"connection closed after {self._end} of {n} bytes")
                self._end += k
        except OSError as err:  # what arrived stays buffered: a read retried after a timeout goes on from there
            raise game_error(err, f"reading {n} bytes") from err
