"""The learner's latest online weights in shared memory, which collector processes pull into their copies."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["SharedWeights"]


class SharedWeights:
    """CPU tensors in shared memory plus a version counter; publish under a lock, pull when the version moved."""

    def __init__(self, net: nn.Module, ctx: Any) -> None:
        self.tensors = {k: v.detach().to("cpu", copy=True).share_memory_() for k, v in net.state_dict().items()}
        self.version = ctx.Value("q", 0, lock=False)
        self.lock = ctx.Lock()

    def publish(self, net: nn.Module) -> None:
        """Copy ``net``'s weights in and bump the version."""
        with self.lock, torch.no_grad():
            for name, value in net.state_dict().items():
                self.tensors[name].copy_(value)
            self.version.value += 1

    def pull(self, net: nn.Module, seen_version: int) -> int:
        """Load the shared weights into ``net`` when they are newer than ``seen_version``; return the version held."""
        if self.version.value == seen_version:
            return seen_version
        with self.lock, torch.no_grad():
            net.load_state_dict(self.tensors, strict=True)
            return int(self.version.value)
