"""The learner's latest online weights in shared memory, which collector processes pull into their copies."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from hairpin.rl.lockfree import POLL_S

__all__ = ["SharedWeights"]


class SharedWeights:
    """CPU tensors in shared memory behind a sequence counter, with no lock (a collector killed mid-pull must not
    block the learner).

    The learner makes the counter odd, copies the weights in, and makes it even again; a collector copies the
    weights out between two reads of the same even counter, and copies again when the counter moved meanwhile.
    The version of the weights is the counter halved.
    """

    def __init__(self, net: nn.Module, ctx: Any) -> None:
        self.tensors = {k: v.detach().to("cpu", copy=True).share_memory_() for k, v in net.state_dict().items()}
        self._sequence = ctx.Value("q", 0, lock=False)

    @property
    def version(self) -> int:
        """Number of completed publishes."""
        return int(self._sequence.value) // 2

    def publish(self, net: nn.Module) -> int:
        """Copy ``net``'s weights in; return the new version."""
        self._sequence.value += 1
        with torch.no_grad():
            for name, value in net.state_dict().items():
                self.tensors[name].copy_(value)
        self._sequence.value += 1
        return self.version

    def pull(self, net: nn.Module, seen_version: int) -> int:
        """Load the shared weights into ``net`` when they are newer than ``seen_version``; return the version held."""
        while True:
            before = int(self._sequence.value)
            if before // 2 == seen_version:  # nothing newer, or the next version is being written: keep ours
                return seen_version
            if before % 2:
                time.sleep(POLL_S)
                continue
            with torch.no_grad():
                net.load_state_dict(self.tensors, strict=True)
            if int(self._sequence.value) == before:
                return before // 2
