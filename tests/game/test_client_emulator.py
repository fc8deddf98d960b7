"""The client against the emulated game on loopback: the handshake, a §5.4 rollout, rewinds, give up, the finish
and the un-finish patch, speed 0, map loading, the plugin's quirks, and ``hairpin sim serve``."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import ctrl_c_restored

from hairpin.config.sim import EnvConfig
from hairpin.game import (
    CheckpointCountChanged,
    Event,
    Frame,
    GameConnectionError,
    GameProtocolError,
    MessageId,
    OnConnect,
    RunStep,
    TMInterfaceClient,
    with_last_cp_time,
)
from hairpin.game.emulator import DEFAULT_RESPONSE_TIMEOUT_MS, Emulator
from hairpin.game.protocol import recv_exact

TIMEOUT_S = 2.0
"""Upper bound of every read: a hang fails the test instead of stalling it."""
MAX_EVENTS = 20_000
COUNTDOWN_MS = 200


def straight_map(path: Path, length_m: float = 400.0) -> str:
    """A straight flat line: one checkpoint at 200 m, the finish at ``length_m``."""
    z = np.arange(0.0, length_m + 0.25, 0.5)
    np.save(path, np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1))
    return str(path)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EnvConfig(map="sprint"), countdown_ms=COUNTDOWN_MS) as em:
        yield em


@pytest.fixture
def client(emulator: Emulator) -> Iterator[TMInterfaceClient]:
    c = TMInterfaceClient(emulator.port, timeout_s=TIMEOUT_S)
    c.connect(retry_for_s=TIMEOUT_S)
    yield c
    c.close()


def greet(client: TMInterfaceClient, step_period_ms: int = 50) -> None:
    event = client.read_event()
    assert event == OnConnect()
    client.set_on_step_period(step_period_ms)
    client.answer(event)


def next_event(client: TMInterfaceClient, wanted: Callable[[Event], bool]) -> Event:
    """Answer events until one is ``wanted``; it is returned unanswered."""
    for _ in range(MAX_EVENTS):
        event = client.read_event()
        if wanted(event):
            return event
        client.answer(event)
    raise AssertionError("the wanted event never came")


def race_started(event: Event) -> bool:
    return isinstance(event, RunStep) and event.race_time_ms >= 0


def test_handshake_and_queries_inside_the_window(client: TMInterfaceClient) -> None:
    with pytest.raises(GameProtocolError):
        client.is_in_menus()
    event = client.read_event()
    assert event == OnConnect()
    assert client.is_in_menus() is False
    assert client.race_finished() is False
    state = client.get_simulation_state()
    assert state.race_time_ms == -COUNTDOWN_MS
    assert len(state.cp_times_ms) == len(state.cp_states) + 1 and set(state.cp_times_ms) == {-1}
    client.answer(event)
    first = client.read_event()
    assert first == RunStep(-COUNTDOWN_MS + 10)  # default period: a run step every tick
    client.answer(first)


def test_scripted_rollout_as_on_the_wire(client: TMInterfaceClient) -> None:
    """TMINTERFACE.md §5.4: S:1,t C:9 C:8 C:6,0 C:17 C:1 | S:4 C:10 C:6 C:4, repeated."""
    greet(client)
    event = next_event(client, race_started)
    times, positions = [], []
    for _ in range(30):
        assert isinstance(event, RunStep)
        state = client.get_simulation_state()
        assert state.race_time_ms == event.race_time_ms
        times.append(event.race_time_ms)
        positions.append(state.car.position)
        client.rewind_to_current_state()
        client.set_speed(0.0)
        client.request_frame(64, 48)
        client.answer(event)
        frame = client.read_event()
        assert isinstance(frame, Frame) and (frame.width, frame.height) == (64, 48)
        gray = frame.gray()
        assert gray.shape == (1, 48, 64) and gray.min() < gray.max()
        assert frame.bgra[3::4] == b"\xff" * (64 * 48)
        client.set_input_state(left=False, right=False, accelerate=True, brake=False)
        client.set_speed(80.0)
        client.answer(frame)
        event = client.read_event()
    assert np.all(np.diff(times) == 50)
    travelled = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert np.all(travelled > 0) and travelled[-1] > 10 * travelled[0]  # accelerating from the start line
    assert np.linalg.norm(positions[-1] - positions[0]) > 10.0


def drive(client: TMInterfaceClient, event: Event, steps: int, keys: tuple[bool, bool, bool, bool]) -> RunStep:
    """Hold ``keys`` for ``steps`` run steps from the open ``event``; the last run step is returned unanswered."""
    for _ in range(steps):
        if isinstance(event, RunStep):
            client.set_input_state(*keys)
        client.answer(event)
        event = next_event(client, lambda e: isinstance(e, RunStep))
    assert isinstance(event, RunStep)
    return event


ACCEL = (False, False, True, False)
ACCEL_RIGHT = (False, True, True, False)


def test_rewind_restores_the_state_exactly(client: TMInterfaceClient) -> None:
    greet(client)
    event = drive(client, next_event(client, race_started), 20, ACCEL)
    saved = client.get_simulation_state()
    event = drive(client, event, 10, ACCEL_RIGHT)
    after_first = client.get_simulation_state()
    assert after_first.raw != saved.raw
    client.rewind_to_state(saved)
    assert client.get_simulation_state().raw == saved.raw  # the float64 row too, in the opaque block
    event = drive(client, event, 10, ACCEL_RIGHT)
    assert client.get_simulation_state().raw == after_first.raw  # exact: the same inputs replay the same race
    client.answer(event)


def test_give_up_restarts_the_countdown(client: TMInterfaceClient) -> None:
    greet(client)
    event = drive(client, next_event(client, race_started), 10, ACCEL)
    assert event.race_time_ms == 500
    client.give_up()
    client.answer(event)
    times = []
    for _ in range(COUNTDOWN_MS // 50):
        event = next_event(client, lambda e: isinstance(e, RunStep))
        assert isinstance(event, RunStep)
        times.append(event.race_time_ms)
        client.answer(event)
    assert times == list(range(-COUNTDOWN_MS + 50, 1, 50))


@pytest.fixture
def straight_emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(EnvConfig(map=straight_map(tmp_path / "straight.npy")), countdown_ms=COUNTDOWN_MS) as em:
        yield em


def drive_to_finish(client: TMInterfaceClient) -> tuple[list[CheckpointCountChanged], int]:
    """Accelerate on the straight map until the finish sync; it is left open. Returns the checkpoint syncs and
    the last run-step time."""
    greet(client, step_period_ms=1000)
    event = client.read_event()
    syncs: list[CheckpointCountChanged] = []
    last_time = -COUNTDOWN_MS
    for _ in range(MAX_EVENTS):
        if isinstance(event, RunStep):
            client.set_input_state(*ACCEL)
            last_time = event.race_time_ms
        if isinstance(event, CheckpointCountChanged):
            syncs.append(event)
            if event.current == event.target:
                return syncs, last_time
        client.answer(event)
        event = client.read_event()
    raise AssertionError("never finished")


def test_finish_then_un_finish_patch(straight_emulator: Emulator) -> None:
    client = TMInterfaceClient(straight_emulator.port, timeout_s=TIMEOUT_S)
    client.connect(retry_for_s=TIMEOUT_S)
    syncs, _ = drive_to_finish(client)
    assert [(s.current, s.target) for s in syncs] == [(1, 2), (2, 2)]
    assert client.race_finished()
    state = client.get_simulation_state()
    finish_ms = state.race_time_ms
    assert state.cp_times_ms[-1] == finish_ms and 0 < state.cp_times_ms[0] < finish_ms
    client.rewind_to_state(with_last_cp_time(state.raw, -1))
    assert not client.race_finished()
    assert client.get_simulation_state().cp_times_ms[-1] == -1
    client.answer(syncs[-1])
    later = next_event(client, lambda e: isinstance(e, RunStep))
    assert isinstance(later, RunStep) and later.race_time_ms > finish_ms  # the race goes on past the line
    assert not client.race_finished()
    client.answer(later)
    client.close()


def test_after_the_finish_every_tick_syncs_at_the_finish_time(straight_emulator: Emulator) -> None:
    client = TMInterfaceClient(straight_emulator.port, timeout_s=TIMEOUT_S)
    client.connect(retry_for_s=TIMEOUT_S)
    syncs, _ = drive_to_finish(client)
    finish_ms = client.get_simulation_state().race_time_ms
    client.answer(syncs[-1])
    times = []
    for _ in range(5):  # the period is 1000 ms, yet a run step comes every tick, frozen at the finish
        event = client.read_event()
        assert isinstance(event, RunStep)
        times.append(event.race_time_ms)
        client.answer(event)
    assert times == [finish_ms] * 5
    client.close()


def test_prevent_simulation_finish_keeps_the_car_driving(straight_emulator: Emulator) -> None:
    client = TMInterfaceClient(straight_emulator.port, timeout_s=TIMEOUT_S)
    client.connect(retry_for_s=TIMEOUT_S)
    syncs, _ = drive_to_finish(client)
    finish_ms = client.get_simulation_state().race_time_ms
    client.prevent_simulation_finish()
    assert not client.race_finished()
    client.answer(syncs[-1])
    event = next_event(client, lambda e: isinstance(e, RunStep))
    assert isinstance(event, RunStep) and event.race_time_ms > finish_ms
    client.answer(event)
    client.close()


def test_speed_zero_freezes_time_but_frames_still_come(client: TMInterfaceClient, emulator: Emulator) -> None:
    greet(client)
    event = next_event(client, race_started)
    assert isinstance(event, RunStep)
    frozen_at = event.race_time_ms
    client.set_speed(0.0)
    client.request_frame(32, 32)
    client.answer(event)
    for _ in range(3):
        frame = client.read_event()
        assert isinstance(frame, Frame)  # no run step in between: time stands still
        assert client.get_simulation_state().race_time_ms == frozen_at
        client.request_frame(32, 32)
        client.answer(frame)
    frame = client.read_event()
    client.set_speed(1.0)
    client.answer(frame)
    assert client.read_event() == RunStep(frozen_at + 50)


def test_map_command_loads_a_map_and_restarts_the_race(
    client: TMInterfaceClient, emulator: Emulator, tmp_path: Path
) -> None:
    greet(client)
    event = drive(client, next_event(client, race_started), 4, ACCEL)
    keys_before = emulator.race.keys.copy()
    client.execute_command(f'map "{straight_map(tmp_path / "line.npy", 300.0)}"')
    client.request_frame(16, 16)
    client.answer(event)
    frame = client.read_event()  # rendered while the map loads
    assert isinstance(frame, Frame)
    assert client.is_in_menus()
    client.set_input_state(True, True, False, True)  # ignored outside a race
    with pytest.raises(GameProtocolError, match="shorter than its fixed part"):
        client.get_simulation_state()  # the game in menus answers a short state
    assert not client.connected
    assert np.array_equal(emulator.race.keys, keys_before)
    client.connect(retry_for_s=TIMEOUT_S)
    greet(client)
    event = next_event(client, lambda e: isinstance(e, RunStep))
    assert isinstance(event, RunStep) and event.race_time_ms < 0
    assert emulator.race.track.name == "line"
    assert not client.is_in_menus()
    assert emulator.game.console[-1].startswith("map ")
    client.answer(event)


def test_unknown_map_is_logged_and_the_race_goes_on(client: TMInterfaceClient, emulator: Emulator) -> None:
    greet(client)
    event = next_event(client, race_started)
    client.execute_command("map no-such-map")
    client.execute_command("set countdown_speed 80")
    assert client.is_in_menus() is False
    client.answer(event)
    assert isinstance(client.read_event(), RunStep)
    assert emulator.race.track.name == "sprint"
    assert emulator.game.console == ["map no-such-map", "set countdown_speed 80"]


def test_inputs_script_records_key_changes(client: TMInterfaceClient) -> None:
    greet(client)
    event = drive(client, next_event(client, race_started), 3, ACCEL)
    client.set_input_state(False, False, False, False)
    assert client.get_inputs() == "0 press up\n150 rel up\n"
    client.answer(event)


def test_a_new_connection_replaces_the_old(client: TMInterfaceClient, emulator: Emulator) -> None:
    """As in the plugin, a connection is accepted between waits (here: the game idles at speed 0)."""
    greet(client)
    event = client.read_event()
    client.set_speed(0.0)
    client.answer(event)
    other = TMInterfaceClient(emulator.port, timeout_s=TIMEOUT_S)
    other.connect(retry_for_s=TIMEOUT_S)
    assert other.read_event() == OnConnect()
    with pytest.raises(GameConnectionError):
        client.read_event()
    assert not client.connected
    other.close()


def test_shutdown_drops_the_client_and_the_game_keeps_listening(client: TMInterfaceClient, emulator: Emulator) -> None:
    greet(client)
    event = client.read_event()
    client.close()
    assert not client.connected and isinstance(event, RunStep)
    client.connect(retry_for_s=TIMEOUT_S)
    assert client.read_event() == OnConnect()
    assert "shutdown by the client" in emulator.drops


class RawClient:
    """A client as bare bytes, to reproduce what hairpin's client refuses to send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, *values: int, raw: bytes = b"") -> None:
        self.sock.sendall(struct.pack(f"<{len(values)}i", *values) + raw)

    def recv_i32(self, n: int = 1) -> tuple[int, ...]:
        return struct.unpack(f"<{n}i", recv_exact(self.sock, 4 * n))

    def close(self) -> None:
        self.sock.close()


def test_plugin_quirks_id_3_unknown_ids_and_character_counts(emulator: Emulator) -> None:
    raw = RawClient(emulator.port)
    assert raw.recv_i32() == (MessageId.SC_ON_CONNECT_SYNC,)
    raw.send(3)  # no case in the plugin: logged as unknown, and (not awaited here) the wait goes on
    raw.send(99, MessageId.C_IS_IN_MENUS)  # an unknown id consumes no payload: the query right after is read
    assert raw.recv_i32() == (0,)
    raw.send(MessageId.C_EXECUTE_COMMAND, len("set é"), raw="set é".encode())  # 6 bytes announced as 5
    raw.send(MessageId.SC_ON_CONNECT_SYNC)  # its first 3 bytes complete a garbage id
    raw.send(MessageId.C_IS_IN_MENUS)
    assert emulator.game.unknown_ids[:2] == [3, 99]
    raw.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        raw.sock.recv(4)  # desynchronised: the query is never read as one
    raw.close()


def test_plugin_drops_a_silent_client_after_its_timeout(emulator: Emulator) -> None:
    raw = RawClient(emulator.port)
    assert raw.recv_i32() == (MessageId.SC_ON_CONNECT_SYNC,)
    raw.send(MessageId.C_SET_TIMEOUT, 50)
    assert raw.sock.recv(4) == b""  # never answered: dropped after 50 ms, which closes the connection
    assert emulator.drops[-1].startswith("Client disconnected due to timeout")
    assert emulator.game.response_timeout_ms == DEFAULT_RESPONSE_TIMEOUT_MS
    raw.close()


def test_sim_serve_prints_its_port_and_serves() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hairpin.cli", "sim", "serve", "--port", "0", "--map", "technical"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=ctrl_c_restored,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line and "technical" in line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        client = TMInterfaceClient(port, timeout_s=10.0)
        client.connect(retry_for_s=10.0)
        assert client.read_event() == OnConnect()
        client.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()  # whatever failed, no server is left behind
        proc.wait()
