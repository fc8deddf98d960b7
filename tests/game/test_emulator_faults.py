"""Injected failures: each gives its GameError subclass within the client's timeout (never a hang), the client is
closed afterwards, and a new connection to the same emulator works."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.config.sim import EnvConfig
from hairpin.game import (
    Frame,
    GameConnectionError,
    GameError,
    GameProtocolError,
    GameTimeoutError,
    OnConnect,
    RunStep,
    TMInterfaceClient,
)
from hairpin.game.emulator import Emulator
from hairpin.game.emulator_faults import FaultKind, FaultPlan

CLIENT_TIMEOUT_S = 0.5
HANG_BOUND_S = CLIENT_TIMEOUT_S + 2.5
"""Upper bound from connecting to the error: a few fast steps, then at most one client timeout."""
MAX_EVENTS = 5_000


def rollout_until_error(client: TMInterfaceClient) -> None:
    """The §5.4 loop (state, pause, frame, keys, resume) until something raises."""
    for _ in range(MAX_EVENTS):
        event = client.read_event()
        if isinstance(event, RunStep):
            client.get_simulation_state()
            client.set_speed(0.0)
            client.request_frame(32, 32)
        elif isinstance(event, Frame):
            client.set_input_state(left=False, right=False, accelerate=True, brake=False)
            client.set_speed(1.0)
        client.answer(event)
    raise AssertionError("no fault within the rollout")


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.CLOSE_MID_MESSAGE, GameConnectionError),
        (FaultKind.SHORT_THEN_STALL, GameTimeoutError),
        (FaultKind.STALL, GameTimeoutError),
        (FaultKind.NO_FRAME, GameTimeoutError),
        (FaultKind.PLUGIN_TIMEOUT, GameConnectionError),
        (FaultKind.TINY_STATE, GameProtocolError),
    ],
)
def test_each_fault_gives_its_error_and_the_client_recovers(kind: FaultKind, error: type[GameError]) -> None:
    with Emulator(EnvConfig(), faults=FaultPlan(kind, after_run_steps=3), countdown_ms=100) as emulator:
        client = TMInterfaceClient(emulator.port, timeout_s=CLIENT_TIMEOUT_S)
        client.connect(retry_for_s=2.0)
        start = time.monotonic()
        with pytest.raises(error):
            rollout_until_error(client)
        assert time.monotonic() - start < HANG_BOUND_S
        assert not client.connected
        assert emulator.game.run_steps_sent >= 3
        client.connect(retry_for_s=2.0)
        assert client.read_event() == OnConnect()
        client.close()


def test_stale_run_step_after_a_map_change() -> None:
    with Emulator(EnvConfig(), faults=FaultPlan("stale-run-step"), countdown_ms=100) as emulator:
        client = TMInterfaceClient(emulator.port, timeout_s=CLIENT_TIMEOUT_S)
        client.connect(retry_for_s=2.0)
        event = client.read_event()
        client.set_on_step_period(50)
        client.answer(event)
        times = []
        for _ in range(MAX_EVENTS):
            event = client.read_event()
            assert isinstance(event, RunStep)
            times.append(event.race_time_ms)
            if event.race_time_ms == 200:
                client.execute_command("map technical")
            client.answer(event)
            if len(times) > 2 and times[-1] < 0:
                break
        after_map = times[times.index(200) + 1 :]
        assert after_map[0] == 200  # the previous race's time, once
        assert after_map[1] < 0  # then the new race's countdown
        assert emulator.race.track.name == "technical"
        client.close()


def test_fault_plans_parse_from_the_command_line_form() -> None:
    assert FaultPlan.parse("stall@100") == FaultPlan(FaultKind.STALL, 100)
    assert FaultPlan.parse("tiny-state") == FaultPlan(FaultKind.TINY_STATE, 0)
    for bad in ("bogus", "stall@x", "stall@-1"):
        with pytest.raises(ValueError, match="KIND or KIND@N"):
            FaultPlan.parse(bad)


def test_sim_serve_rejects_an_unknown_fault() -> None:
    result = CliRunner().invoke(app, ["sim", "serve", "--port", "0", "--fault", "bogus"])
    assert result.exit_code == 2
    assert "close-mid-message" in result.output
