"""The HiNAS candidate operations, defined once as a name-to-factory table (DARTS style).

Every operation maps C to C channels at stride 1 with "same" padding. Convolutions have no bias,
are preceded by LeakyReLU(0.2) and followed by BatchNorm; ``affine`` is False in the supernet
(as in DARTS, so that the architecture weights alone scale the ops) and True in derived nets.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hinas_basicsr.space.trellis import PRIMITIVES

NEGATIVE_SLOPE = 0.2


def make_act(inplace: bool = False) -> nn.Module:
    """The one activation of the search space: LeakyReLU(0.2)."""
    return nn.LeakyReLU(NEGATIVE_SLOPE, inplace=inplace)


def make_norm(channels: int, affine: bool) -> nn.Module:
    """The one normalisation of the search space: BatchNorm2d."""
    return nn.BatchNorm2d(channels, affine=affine)


class ActConvBN(nn.Sequential):
    """act, conv k x k (dilation d, no bias), BN."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int = 1, affine: bool = True) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            make_act(),
            nn.Conv2d(c_in, c_out, kernel_size, padding=padding, dilation=dilation, bias=False),
            make_norm(c_out, affine))


class SepConv(nn.Sequential):
    """Twice: act, depthwise k x k, pointwise 1x1, BN.

    The second activation runs in place on the BN output (BN keeps its input for the backward, not its
    output), so autograd keeps one tensor there instead of two.
    """

    def __init__(self, channels: int, kernel_size: int, affine: bool = True) -> None:
        layers: list[nn.Module] = []
        for i in range(2):
            layers += [
                make_act(inplace=i > 0),
                nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False),
                nn.Conv2d(channels, channels, 1, bias=False),
                make_norm(channels, affine)]
        super().__init__(*layers)


class Zero(nn.Module):
    """The ``none`` operation: contributes nothing, but takes part in the softmax."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.)


OpFactory = Callable[[int, bool], nn.Module]

OPS: dict[str, OpFactory] = {
    'conv_3x3': lambda c, affine: ActConvBN(c, c, 3, 1, affine),
    'sep_conv_3x3': lambda c, affine: SepConv(c, 3, affine),
    'sep_conv_5x5': lambda c, affine: SepConv(c, 5, affine),
    'dil_conv_3x3': lambda c, affine: ActConvBN(c, c, 3, 2, affine),
    'dil_conv_5x5': lambda c, affine: ActConvBN(c, c, 5, 2, affine),
    'skip_connect': lambda c, affine: nn.Identity(),
    'none': lambda c, affine: Zero(),
}

assert tuple(OPS) == PRIMITIVES, 'hinas_ops.OPS must build exactly trellis.PRIMITIVES, in order'


def make_op(name: str, channels: int, affine: bool) -> nn.Module:
    """Build the operation ``name`` on ``channels`` channels."""
    if name not in OPS:
        raise ValueError(f'ops: unknown operation {name!r}; known: {", ".join(OPS)}')
    return OPS[name](channels, affine)
