"""The errors of the real-game backend: one family under ``GameError``, so a caller can catch the whole backend.

``GameConnectionError``: the game cannot be reached or the socket closed (also a short read, when the game closes
mid-message). ``GameTimeoutError``: no data within the client's timeout, whatever flavour the OS reports it in.
``GameProtocolError``: the stream is not what the protocol says (an unexpected message id, a state shorter than its
fixed part, a command sent outside a sync window).
"""

from __future__ import annotations

from hairpin.errors import HairpinError

__all__ = ["GameConnectionError", "GameError", "GameProtocolError", "GameTimeoutError"]


class GameError(HairpinError):
    """Root of every failure talking to the game (or to its emulator)."""


class GameConnectionError(GameError):
    """Refused after all retries, a closed socket, or a short read (the peer closed mid-message)."""


class GameTimeoutError(GameError):
    """No data within the client timeout (``socket.timeout``/``TimeoutError``, or ``BlockingIOError`` from
    ``SO_RCVTIMEO`` on Linux)."""


class GameProtocolError(GameError):
    """A message the protocol does not allow here: wrong id, too-short state, command outside a sync window."""
