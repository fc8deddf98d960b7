"""A client of the TMInterface 2 ``Python_Link`` plugin (or of hairpin's emulator of it): sync events in, commands
out, over one TCP connection (TMINTERFACE.md §2, §3).

The game talks in sync windows. Each event ``read_event`` returns (a run step, a checkpoint or lap count change, a
requested frame, the connect greeting) holds the game inside a wait until ``answer`` sends the event's id back;
only inside that window does the plugin read commands, and only there do query replies come back in order. So the
client refuses a command outside a window (``GameProtocolError``, nothing is sent) instead of letting the stream
desynchronise, and refuses to read a second event while a window is open.

Failures: a closed socket or short read is a ``GameConnectionError``, no data within ``timeout_s`` a
``GameTimeoutError``, an id or state the protocol does not allow a ``GameProtocolError``. After any failure that
touched the stream the client is closed (``connected`` is False); ``connect()`` opens a new connection. A refused
command touches nothing and leaves the connection open.

Commands without a reply are collected and sent together with the next query, answer, ``set_timeout`` or
``flush()``: one packet instead of several, and the game sees the same bytes in the same order. This cannot change
what the game does, because it executes commands only inside the wait, and the wait ends only on the answer; the
one command whose timing matters during a held sync, ``set_timeout`` (the plugin's patience), is sent at once.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import numpy as np

from hairpin.game.errors import GameConnectionError, GameError, GameProtocolError
from hairpin.game.protocol import (
    FIXED_PAYLOADS,
    MessageId,
    SocketReader,
    encode_blob,
    encode_execute_command,
    encode_message,
    game_error,
    pack_int32,
    set_socket_timeout,
)
from hairpin.game.state_bytes import GameState, decode_state

__all__ = [
    "CheckpointCountChanged",
    "Event",
    "Frame",
    "LapCountChanged",
    "OnConnect",
    "RunStep",
    "TMInterfaceClient",
]

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 1 << 24
"""Largest state or text reply believed; a larger length means the stream is out of sync."""
_PAIR = FIXED_PAYLOADS[MessageId.SC_CHECKPOINT_COUNT_CHANGED_SYNC]
_T = TypeVar("_T")


@dataclass(frozen=True)
class RunStep:
    """``SC_RUN_STEP_SYNC``: the race reached ``race_time_ms`` (negative during the countdown)."""

    race_time_ms: int
    message_id: ClassVar[MessageId] = MessageId.SC_RUN_STEP_SYNC


@dataclass(frozen=True)
class CheckpointCountChanged:
    """``SC_CHECKPOINT_COUNT_CHANGED_SYNC``: the finish is ``current == target``."""

    current: int
    target: int
    message_id: ClassVar[MessageId] = MessageId.SC_CHECKPOINT_COUNT_CHANGED_SYNC


@dataclass(frozen=True)
class LapCountChanged:
    """``SC_LAP_COUNT_CHANGED_SYNC``."""

    current: int
    target: int
    message_id: ClassVar[MessageId] = MessageId.SC_LAP_COUNT_CHANGED_SYNC


@dataclass(frozen=True)
class Frame:
    """``SC_REQUESTED_FRAME_SYNC``: ``width`` × ``height`` pixels of BGRA8, rows top to bottom."""

    width: int
    height: int
    bgra: bytes
    message_id: ClassVar[MessageId] = MessageId.SC_REQUESTED_FRAME_SYNC

    def gray(self) -> np.ndarray:
        """(1, H, W) uint8: 0.299 R + 0.587 G + 0.114 B, rounded (OpenCV's BGRA2GRAY weights)."""
        pixels = np.frombuffer(self.bgra, np.uint8).reshape(self.height, self.width, 4).astype(np.uint32)
        weighted = 114 * pixels[..., 0] + 587 * pixels[..., 1] + 299 * pixels[..., 2]  # (H, W), B G R
        return ((weighted + 500) // 1000).astype(np.uint8)[None]


@dataclass(frozen=True)
class OnConnect:
    """``SC_ON_CONNECT_SYNC``: the game accepted this client."""

    message_id: ClassVar[MessageId] = MessageId.SC_ON_CONNECT_SYNC


Event = RunStep | CheckpointCountChanged | LapCountChanged | Frame | OnConnect


class TMInterfaceClient:
    """One connection to a game (or emulator) listening on ``host:port``; reads time out after ``timeout_s``."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: float = 10.0) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.port = port
        self.host = host
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._reader: SocketReader | None = None
        self._window: MessageId | None = None
        self._frame_size: tuple[int, int] | None = None
        self._outbox = bytearray()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def sync_window(self) -> MessageId | None:
        """The id of the sync event that is open (read but not answered yet), if any."""
        return self._window

    def connect(self, retry_for_s: float = 30.0, backoff_s: float = 0.05, max_backoff_s: float = 1.0) -> None:
        """Connect, retrying refused connections with exponential back-off for up to ``retry_for_s`` seconds.

        An open connection is closed first. ``GameConnectionError`` when nothing accepted in time.
        """
        self.close()
        deadline = time.monotonic() + retry_for_s
        delay = backoff_s
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
                break
            except ConnectionRefusedError as err:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GameConnectionError(
                        f"nothing accepted a connection on {self.host}:{self.port} within {retry_for_s:g} s: is the "
                        "game running with the Python_Link plugin on that port (set custom_port)?"
                    ) from err
                log.debug("connection to %s:%d refused; retrying in %.2f s", self.host, self.port, delay)
                time.sleep(min(delay, remaining))
                delay = min(2 * delay, max_backoff_s)
            except OSError as err:
                raise GameConnectionError(f"cannot connect to {self.host}:{self.port}: {err}") from err
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        set_socket_timeout(sock, self.timeout_s)
        self._sock, self._reader = sock, SocketReader(sock)

    def close(self) -> None:
        """Send ``C_SHUTDOWN`` (the plugin drops the client and keeps listening) and close; idempotent."""
        if self._sock is not None:
            with suppress(OSError):  # the game is gone or the socket broke: closing is all that is left
                self._sock.sendall(self._outbox + encode_message(MessageId.C_SHUTDOWN))
        self._drop()

    def _drop(self) -> None:
        """Close the socket without a word (after a failure, the stream is in no known state)."""
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None
        self._window = None
        self._outbox.clear()

    def _not_connected(self) -> GameConnectionError:
        return GameConnectionError(f"not connected to {self.host}:{self.port}: call connect() first")

    def flush(self) -> None:
        """Send the commands collected so far (queries, answers and ``set_timeout`` do this themselves)."""
        if self._outbox:
            if self._sock is None:
                raise self._not_connected()
            try:
                self._sock.sendall(self._outbox)
            except OSError as err:
                self._drop()
                raise game_error(err, "sending to the game") from err
            self._outbox.clear()

    def _receive(self, read: Callable[[SocketReader], _T]) -> _T:
        """``read(reader)`` on the open connection; any failure closes the client."""
        if self._reader is None:
            raise self._not_connected()
        try:
            return read(self._reader)
        except GameError:
            self._drop()
            raise

    def read_event(self) -> Event:
        """Block until the next sync event; it opens a window that ``answer`` closes."""
        if self._window is not None:
            raise GameProtocolError(f"sync {self._window.name} is still open: answer it before reading another event")
        event = self._receive(self._parse_event)
        self._window = event.message_id
        return event

    def _parse_event(self, reader: SocketReader) -> Event:
        message = reader.read_int32()
        if message == MessageId.SC_RUN_STEP_SYNC:
            return RunStep(reader.read_int32())
        if message == MessageId.SC_CHECKPOINT_COUNT_CHANGED_SYNC:
            return CheckpointCountChanged(*_PAIR.unpack(reader.read(8)))
        if message == MessageId.SC_LAP_COUNT_CHANGED_SYNC:
            return LapCountChanged(*_PAIR.unpack(reader.read(8)))
        if message == MessageId.SC_REQUESTED_FRAME_SYNC:
            if self._frame_size is None:
                raise GameProtocolError("a frame arrived but no frame was ever requested: its size is unknown")
            width, height = self._frame_size
            return Frame(width, height, bytes(reader.read(width * height * 4)))
        if message == MessageId.SC_ON_CONNECT_SYNC:
            return OnConnect()
        raise GameProtocolError(f"unexpected message id {message} where a sync event (1 to 5) was expected")

    def answer(self, event: Event) -> None:
        """Send the event's id back, which ends the game's wait and closes the window."""
        if self._window != event.message_id:
            open_ = self._window.name if self._window is not None else "none"
            raise GameProtocolError(f"cannot answer {event.message_id.name}: the open sync window is {open_}")
        self._outbox += pack_int32(event.message_id)
        self.flush()
        self._window = None

    def _command(self, data: bytes) -> None:
        """Queue a command; allowed only inside a sync window (the plugin reads commands only there)."""
        if self._sock is None:
            raise self._not_connected()
        if self._window is None:
            raise GameProtocolError(
                f"command {MessageId(struct.unpack_from('<i', data)[0]).name} outside a sync window: the game reads "
                "commands only while it waits for the answer to a sync event"
            )
        self._outbox += data

    def _reply_int32(self, data: bytes) -> int:
        self._command(data)
        self.flush()
        return self._receive(SocketReader.read_int32)

    def _reply_blob(self, data: bytes, what: str) -> bytes:
        def read(reader: SocketReader) -> bytes:
            n = reader.read_int32()
            if not 0 <= n <= MAX_REPLY_BYTES:
                raise GameProtocolError(f"{what} reply announces {n} bytes: the stream is out of sync")
            return bytes(reader.read(n))

        self._command(data)
        self.flush()
        return self._receive(read)

    def set_speed(self, speed: float) -> None:
        """Simulation speed; 0 freezes the race (frames are still rendered)."""
        self._command(encode_message(MessageId.C_SET_SPEED, speed))

    def rewind_to_state(self, state: bytes | GameState) -> None:
        """Restore a state received earlier (optionally patched); ignored by the game outside a race."""
        data = state.raw if isinstance(state, GameState) else bytes(state)
        self._command(encode_message(MessageId.C_REWIND_TO_STATE) + encode_blob(data))

    def rewind_to_current_state(self) -> None:
        self._command(encode_message(MessageId.C_REWIND_TO_CURRENT_STATE))

    def get_simulation_state(self) -> GameState:
        """The current state; ``GameProtocolError`` (and the client closed) if it is shorter than its fixed part,
        as it is in menus or while a map loads."""
        data = self._reply_blob(encode_message(MessageId.C_GET_SIMULATION_STATE), "simulation state")
        try:
            return decode_state(data)
        except GameError:
            self._drop()
            raise

    def set_input_state(self, left: bool, right: bool, accelerate: bool, brake: bool) -> None:
        """Keys held from the next tick on."""
        values = (int(bool(left)), int(bool(right)), int(bool(accelerate)), int(bool(brake)))
        self._command(encode_message(MessageId.C_SET_INPUT_STATE, *values))

    def give_up(self) -> None:
        """Restart the race and its countdown."""
        self._command(encode_message(MessageId.C_GIVE_UP))

    def prevent_simulation_finish(self) -> None:
        self._command(encode_message(MessageId.C_PREVENT_SIMULATION_FINISH))

    def execute_command(self, command: str) -> None:
        """Run a TMInterface console command (``map …``, ``set <var> <value>``, ``cam N``…).

        The plugin takes the length as a count of characters, so only ASCII text arrives intact; anything else is
        refused here (rename such files to ASCII) rather than desynchronising the stream.
        """
        if not command.isascii():
            raise GameProtocolError(f"console command {command!r} is not ASCII: the plugin would misread its length")
        self._command(encode_execute_command(command))

    def set_timeout(self, ms: int) -> None:
        """The plugin's RESPONSE_TIMEOUT: how long it waits for an answer before dropping this client."""
        if not 0 <= ms < 1 << 32:
            raise ValueError(f"timeout must fit an unsigned 32-bit int of milliseconds, got {ms}")
        self._command(encode_message(MessageId.C_SET_TIMEOUT, ms))
        self.flush()

    def race_finished(self) -> bool:
        return self._reply_int32(encode_message(MessageId.C_RACE_FINISHED)) != 0

    def request_frame(self, width: int, height: int) -> None:
        """Ask for one frame; it arrives later as a ``Frame`` event of this size."""
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}×{height}")
        self._command(encode_message(MessageId.C_REQUEST_FRAME, width, height))
        self._frame_size = (width, height)

    def reset_camera(self) -> None:
        self._command(encode_message(MessageId.C_RESET_CAMERA))

    def set_on_step_period(self, ms: int) -> None:
        """Run-step syncs come when the race time is a multiple of ``ms`` (and every tick after the finish)."""
        if ms < 1:
            raise ValueError(f"on-step period must be at least 1 ms, got {ms}")
        self._command(encode_message(MessageId.C_SET_ON_STEP_PERIOD, ms))

    def unrequest_frame(self) -> None:
        self._command(encode_message(MessageId.C_UNREQUEST_FRAME))

    def toggle_interface(self, visible: bool) -> None:
        """Show or hide the race HUD."""
        self._command(encode_message(MessageId.C_TOGGLE_INTERFACE, int(bool(visible))))

    def is_in_menus(self) -> bool:
        return self._reply_int32(encode_message(MessageId.C_IS_IN_MENUS)) != 0

    def get_inputs(self) -> str:
        """The input buffer as a TMInterface script."""
        return self._reply_blob(encode_message(MessageId.C_GET_INPUTS), "inputs").decode("utf-8", errors="replace")
