"""Stacked-frame encoders made single-frame: sum the first convolution's kernels over its input channels.

An encoder trained on ``n_stack`` frames stacked as channels answers a stack of n identical frames x with
Σ_c W_c * x + b. Summing the kernels into one channel, W' = Σ_c W_c, gives exactly that response to the single
frame x, so the encoder keeps the scale it was trained at.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["sum_first_conv_channels"]


def sum_first_conv_channels(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A copy of an ``img_head`` state dict whose first conv weight (O, C, k, k) becomes (O, 1, k, k), summed over C.

    The first conv is the 4-D weight whose key sorts first by layer index (``0.weight`` in part-relative keys,
    ``img_head.0.weight`` in network keys).
    """
    conv_keys = [k for k, v in state.items() if k.endswith("weight") and v.ndim == 4]
    if not conv_keys:
        raise ValueError(f"no convolution weight in the state dict; keys: {sorted(state)}")
    first = min(conv_keys, key=lambda k: int(k.split(".")[-2]))
    return {**state, first: state[first].sum(dim=1, keepdim=True)}  # (O, 1, k, k)
