"""An emulated Trackmania with TMInterface 2 and the ``Python_Link`` plugin, over hairpin's simulator.

It is the game side of TMINTERFACE.md §11, for tests, benchmarks and ``hairpin sim serve``: it listens, accepts one
client (a new accept replaces the old; as in the plugin, accepts happen between waits), sends
``SC_ON_CONNECT_SYNC`` and waits; then one loop ticks the race and sends the syncs the plugin sends:

- a run step ``(1, race_time)`` after each 10 ms tick whose race time is a multiple of the on-step period, or after
  every tick once the race is finished (the race time then stays at the finish);
- a checkpoint count ``(2, current, target)`` after a tick that passed a checkpoint (the finish is
  ``current == target``);
- a frame ``(4, W*H*4 BGRA bytes)`` after a tick in which a frame was requested, and at speed 0 too (rendering goes
  on while the simulation is frozen).

After each sync it waits like the plugin's ``WaitForResponse``: commands are executed in order (``emulator_game``;
queries are answered at once), the wait ends on the awaited id or on ``C_SHUTDOWN``, and a client that sends
nothing for longer than RESPONSE_TIMEOUT (2000 ms, reset on every disconnect, measured from the start of the wait,
checked every ``POLL_S``) is dropped. The socket is read only inside a wait.

Differences from the game, on purpose:
- Pacing: ticks run as fast as the machine allows. Speed only matters as 0 (frozen: no ticks, no run steps) or
  more than 0; tests and benchmarks need the speed, and a client cannot tell wall time from race time anyway.
- Without a client the race stands still (a real game would race on): every client starts from a known state.
- ``map <name or .npy path>`` loads one of hairpin's maps; for ``loading_iterations`` turns of the loop (a few
  milliseconds) the game is "in menus": ``C_IS_IN_MENUS`` answers 1, no run steps come, a state is short, and
  7, 8, 10, 11, 12 are ignored. Frames are still rendered (of the new map).

Failures to inject are in ``emulator_faults``.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType

from hairpin.config.sim import EnvConfig
from hairpin.game.emulator_faults import FaultKind, FaultPlan, FaultTrigger
from hairpin.game.emulator_game import DEFAULT_RESPONSE_TIMEOUT_MS, DEFAULT_STEP_PERIOD_MS, EmulatedGame
from hairpin.game.emulator_race import COUNTDOWN_MS, EmulatedRace
from hairpin.game.errors import GameError, GameTimeoutError
from hairpin.game.protocol import MessageId, SocketReader, encode_message, set_socket_timeout

__all__ = ["DEFAULT_RESPONSE_TIMEOUT_MS", "DEFAULT_STEP_PERIOD_MS", "Emulator", "FaultKind", "FaultPlan"]

log = logging.getLogger(__name__)

LOADING_ITERATIONS = 20
"""Turns of the loop a map takes to load."""
IDLE_S = 0.002
"""How long the loop sleeps when there is nothing to do (it wakes at once for a new connection)."""
POLL_S = 0.05
ACCEPT_EVERY_S = 0.005
"""How often a busy loop looks for a new connection (the plugin looks once per rendered frame)."""
"""Longest a read blocks before the wait checks the plugin timeout and ``stop()``."""
PAYLOAD_TIMEOUT_S = 5.0
"""Longest the rest of a message may take once its id has arrived."""
_RUN_STEP = MessageId.SC_RUN_STEP_SYNC
_SHUTDOWN = MessageId.C_SHUTDOWN


@dataclass
class _Client:
    sock: socket.socket
    reader: SocketReader


class Emulator:
    """A TMInterface 2 + ``Python_Link``-compatible game server over one simulated car (TMINTERFACE.md §11)."""

    def __init__(
        self,
        env_config: EnvConfig,
        port: int = 0,
        host: str = "127.0.0.1",
        faults: FaultPlan | None = None,
        *,
        countdown_ms: int = COUNTDOWN_MS,
        loading_iterations: int = LOADING_ITERATIONS,
    ) -> None:
        self.host = host
        self.port = port
        """The port asked for; once listening, the bound one."""
        self._faults = FaultTrigger(faults)
        self.game = EmulatedGame(env_config, countdown_ms, loading_iterations, self._faults)
        self.drops: list[str] = []
        """Why each client was dropped, in order."""
        self._minimised = False
        self._listener: socket.socket | None = None
        self._client: _Client | None = None
        self._stalled: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_accept_s = 0.0

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def race(self) -> EmulatedRace:
        return self.game.race

    @property
    def speed(self) -> float:
        return self.game.speed

    @property
    def response_timeout_ms(self) -> int:
        """The plugin's RESPONSE_TIMEOUT now."""
        return self.game.response_timeout_ms

    @property
    def console(self) -> list[str]:
        """Console commands received, in order."""
        return self.game.console

    @property
    def unknown_ids(self) -> list[int]:
        """Ids the plugin would log as "got unknown message" (3 among them, by its quirk)."""
        return self.game.unknown_ids

    @property
    def has_client(self) -> bool:
        return self._client is not None

    def listen(self) -> int:
        """Bind and listen (once); the bound port, also in ``port``."""
        if self._listener is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(4)
            listener.setblocking(False)
            self._listener = listener
            self.port = listener.getsockname()[1]
        return self.port

    def start(self) -> None:
        """Listen, then serve in a daemon thread; returns once listening (``port`` is the bound port)."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already serving")
        self.listen()
        self._thread = threading.Thread(target=self.serve_forever, name=f"tmi-emulator:{self.port}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving and close every socket; returns within about ``POLL_S`` (at most ``timeout_s``)."""
        self._stopping.set()
        client = self._client
        if client is not None:
            _shutdown(client.sock)  # unblocks a read in progress
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._close_all()

    def serve_forever(self) -> None:
        """Serve until ``stop()`` (or Ctrl-C when run in the main thread)."""
        self.listen()
        try:
            while not self._stopping.is_set():
                if self._client is None or time.monotonic() >= self._next_accept_s:
                    self._accept_pending()
                if self._client is None or not self._turn():
                    self._idle()
        finally:
            self._close_all()

    def _close_all(self) -> None:
        sockets = [*self._stalled, *([self._client.sock] if self._client else []), self._listener]
        self._stalled, self._client, self._listener = [], None, None
        for sock in sockets:
            if sock is not None:
                sock.close()

    def _idle(self) -> None:
        if self._listener is not None and not self._stopping.is_set():
            select.select([self._listener], [], [], IDLE_S)

    def _accept_pending(self) -> None:
        """Accept a waiting connection, if any: it replaces the client, gets OnConnect, and is waited for."""
        if self._listener is None:
            return
        self._next_accept_s = time.monotonic() + ACCEPT_EVERY_S
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self._client is not None:
            self._drop_client("replaced by a new connection")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        set_socket_timeout(sock, POLL_S)
        self._client = _Client(sock, SocketReader(sock))
        self._minimised = False
        self._sync(MessageId.SC_ON_CONNECT_SYNC)

    def _turn(self) -> bool:
        """One turn of the game loop: a loading step, or ticks up to the next run step; then a requested frame.
        False when nothing happened (the loop then idles)."""
        game = self.game
        busy = False
        if game.loading:
            if game.load_turn() and self._faults.fire(FaultKind.STALE_RUN_STEP, game.run_steps_sent):
                self._run_step(game.time_before_load)
        elif game.speed > 0:
            self._run_ticks()
            busy = True
        if game.frame_request is not None and self._client is not None:
            busy = self._render() or busy
        return busy

    def _run_ticks(self) -> None:
        """Tick up to the next run step; one at a time when something else may be due on the way (a checkpoint, a
        frame), each followed by its syncs."""
        game, race = self.game, self.game.race
        n = race.ticks_to_period(game.on_step_period_ms)
        if game.frame_request is None and race.advance_quietly(n):
            self._after_tick(race)  # nothing on the way: only the run step of the last tick is due
            return
        for _ in range(n):
            if race.tick():
                self._sync(MessageId.SC_CHECKPOINT_COUNT_CHANGED_SYNC, race.checkpoint_count, race.target)
            if self._client is not None and game.in_race:
                self._after_tick(race)
            if self._client is None or game.speed <= 0 or game.loading or game.frame_request is not None:
                return
            if race is not game.race:
                return

    def _after_tick(self, race: EmulatedRace) -> None:
        """The run step of a tick, when its time is a multiple of the period or the race is finished."""
        time_ms = race.race_time_ms
        if race.finished or time_ms % self.game.on_step_period_ms == 0:
            self._run_step(time_ms)

    def _run_step(self, time_ms: int) -> None:
        """Send a run-step sync and wait, unless a planned fault strikes here."""
        message = encode_message(_RUN_STEP, time_ms)
        sent = self.game.run_steps_sent
        if self._faults.fire(FaultKind.CLOSE_MID_MESSAGE, sent):
            self._send(message[:6])
            self._drop_client("fault: closed mid-message")
        elif self._faults.fire(FaultKind.SHORT_THEN_STALL, sent):
            self._send(message[:6])
            self._stall_client("fault: short message, then silence")
        elif self._faults.fire(FaultKind.STALL, sent):
            self._stall_client("fault: silence")
        elif self._send(message):
            self.game.run_steps_sent += 1
            if self._faults.fire(FaultKind.PLUGIN_TIMEOUT, sent):
                self._drop_client("Client disconnected due to timeout (fault)")
            else:
                self._wait(_RUN_STEP)

    def _render(self) -> bool:
        """Deliver the requested frame (one-shot); False if it was swallowed (a "minimised" game)."""
        game = self.game
        assert game.frame_request is not None
        width, height = game.frame_request
        game.frame_request = None
        if self._minimised or self._faults.fire(FaultKind.NO_FRAME, game.run_steps_sent):
            self._minimised = True
            return False
        race = game.next_race if game.loading and game.next_race is not None else game.race
        message = encode_message(MessageId.SC_REQUESTED_FRAME_SYNC) + race.render_bgra(width, height)
        if self._send(message):
            self._wait(MessageId.SC_REQUESTED_FRAME_SYNC)
        return True

    def _sync(self, message: MessageId, *values: int) -> None:
        if self._send(encode_message(message, *values)):
            self._wait(message)

    def _send(self, data: bytes) -> bool:
        """Send to the client; a client that takes nothing for ``PAYLOAD_TIMEOUT_S`` is dropped."""
        client = self._client
        if client is None:
            return False
        view = memoryview(data)
        deadline = time.monotonic() + PAYLOAD_TIMEOUT_S
        while view:
            try:
                view = view[client.sock.send(view) :]
            except (BlockingIOError, TimeoutError):  # the socket's POLL_S passed without progress
                if time.monotonic() > deadline or self._stopping.is_set():
                    self._drop_client("the client stopped reading")
                    return False
            except OSError as err:
                self._drop_client(f"send failed: {err}")
                return False
        return True

    def _wait(self, awaited: MessageId) -> None:
        """The plugin's WaitForResponse: execute commands until ``awaited`` or ``C_SHUTDOWN`` comes back."""
        client = self._client
        if client is None:
            return
        game = self.game
        start = time.monotonic()

        def read_payload(n: int) -> memoryview:
            return self._read_payload(client, n)

        while self._client is client and not self._stopping.is_set():
            try:
                message = client.reader.read_int32()
            except GameTimeoutError:  # nothing (complete) within POLL_S
                if (time.monotonic() - start) * 1000 > game.response_timeout_ms:
                    self._drop_client(f"Client disconnected due to timeout ({game.response_timeout_ms} ms)")
                    return
                continue
            except GameError as err:
                self._drop_client(f"read failed: {err}")
                return
            try:
                game.execute(message, read_payload, self._reply)
            except GameError as err:
                self._drop_client(f"read failed: {err}")
                return
            if message == awaited:
                return
            if message == _SHUTDOWN:
                self._drop_client("shutdown by the client")
                return

    def _read_payload(self, client: _Client, n: int) -> memoryview:
        """The next ``n`` bytes of a message whose id has arrived; waits up to ``PAYLOAD_TIMEOUT_S`` for them."""
        deadline = time.monotonic() + PAYLOAD_TIMEOUT_S
        while True:
            try:
                return client.reader.read(n)
            except GameTimeoutError:  # what arrived stays buffered
                if time.monotonic() > deadline or self._stopping.is_set():
                    raise

    def _reply(self, data: bytes) -> None:
        self._send(data)

    def _drop_client(self, reason: str) -> None:
        """The plugin's disconnect: forget the client (frame request cleared, timeout reset) and close it."""
        client = self._client
        self._forget_client(reason)  # first: whoever sees the socket close sees the emulator's state after it
        if client is not None:
            _shutdown(client.sock)
            client.sock.close()

    def _stall_client(self, reason: str) -> None:
        """Stop talking to the client but keep its socket open (it sees neither data nor an end of stream)."""
        if self._client is not None:
            self._stalled.append(self._client.sock)
        self._forget_client(reason)

    def _forget_client(self, reason: str) -> None:
        log.info("client dropped: %s", reason)
        self.drops.append(reason)
        self._client = None
        self.game.client_dropped()


def _shutdown(sock: socket.socket) -> None:
    with suppress(OSError):  # already closed or never connected
        sock.shutdown(socket.SHUT_RDWR)
