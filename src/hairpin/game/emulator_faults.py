"""Failures the emulated game can inject on purpose, so tests can check the client meets each with its error.

Each is one of the failure modes seen with the real game (TMINTERFACE.md §7, §11 item 8). A ``FaultPlan`` names one
and the number of run-step syncs sent before it is armed; it then fires once, at its first occasion:

- ``close-mid-message``: the next run step is cut after 6 of its 8 bytes and the socket closed (the game died).
- ``short-then-stall``: the next run step is cut after 6 bytes, then the game says nothing more (a short read).
- ``stall``: the next run step is never sent and the game says nothing more (longer than any client timeout).
- ``stale-run-step``: when the next map has loaded, one run step carries the previous race's time first.
- ``no-frame``: frame requests are never delivered from then on (a minimised window stops rendering).
- ``plugin-timeout``: the plugin drops the client right after the next run step, as when its RESPONSE_TIMEOUT
  passes before an answer.
- ``tiny-state``: the next ``C_GET_SIMULATION_STATE`` is answered with a state far shorter than 8356 bytes (the
  game in menus or loading).

A stalled connection is left open (the client sees no end of stream) until the emulator stops; the emulator
serves the next client that connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FaultKind", "FaultPlan", "FaultTrigger"]


class FaultKind(StrEnum):
    CLOSE_MID_MESSAGE = "close-mid-message"
    SHORT_THEN_STALL = "short-then-stall"
    STALL = "stall"
    STALE_RUN_STEP = "stale-run-step"
    NO_FRAME = "no-frame"
    PLUGIN_TIMEOUT = "plugin-timeout"
    TINY_STATE = "tiny-state"


@dataclass(frozen=True)
class FaultPlan:
    """One fault, armed once ``after_run_steps`` run-step syncs have been sent."""

    kind: FaultKind
    after_run_steps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.after_run_steps < 0:
            raise ValueError(f"after_run_steps must be at least 0, got {self.after_run_steps}")

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """``KIND`` or ``KIND@N`` (armed after N run steps), e.g. ``stall@100``."""
        kind, _, count = text.partition("@")
        try:
            return cls(FaultKind(kind.strip()), int(count) if count else 0)
        except ValueError as err:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"fault {text!r}: expected KIND or KIND@N with KIND one of {kinds}") from err


class FaultTrigger:
    """Fires a plan's fault once, at its first occasion after it is armed."""

    def __init__(self, plan: FaultPlan | None) -> None:
        self.plan = plan
        self.fired = False

    def fire(self, kind: FaultKind, run_steps_sent: int) -> bool:
        """True (once) if the planned fault is ``kind`` and armed now; it then counts as fired."""
        plan = self.plan
        if self.fired or plan is None or plan.kind != kind or run_steps_sent < plan.after_run_steps:
            return False
        self.fired = True
        return True
