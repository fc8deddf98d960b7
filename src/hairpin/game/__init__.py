"""hairpin's Trackmania backend: the TMInterface 2 wire protocol, its client, and an emulator of the game side.

The wire layer (``protocol``, ``state_bytes``, ``client``, ``emulator``) speaks the protocol of the ``Python_Link``
plugin that Linesight and rulka run inside TMInterface 2 (see TMINTERFACE.md); the environment on top of it turns
sync events into Gymnasium steps.
"""

from hairpin.game.client import (
    CheckpointCountChanged,
    Event,
    Frame,
    LapCountChanged,
    OnConnect,
    RunStep,
    TMInterfaceClient,
)
from hairpin.game.errors import GameConnectionError, GameError, GameProtocolError, GameTimeoutError
from hairpin.game.protocol import DEFAULT_BASE_PORT, STATE_FIXED_BYTES, MessageId
from hairpin.game.state_bytes import GameState, decode_state, encode_state, with_last_cp_time

__all__ = [
    "DEFAULT_BASE_PORT",
    "STATE_FIXED_BYTES",
    "CheckpointCountChanged",
    "Event",
    "Frame",
    "GameConnectionError",
    "GameError",
    "GameProtocolError",
    "GameState",
    "GameTimeoutError",
    "LapCountChanged",
    "MessageId",
    "OnConnect",
    "RunStep",
    "TMInterfaceClient",
    "decode_state",
    "encode_state",
    "with_last_cp_time",
]
