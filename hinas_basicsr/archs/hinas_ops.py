"""The HiNAS candidate operations, defined once as a name-to-factory table (DARTS style).

Every operation maps C to C channels at stride 1 with "same" padding. Convolutions have no bias,
are preceded by LeakyReLU(0.2) and followed by BatchNorm; ``affine`` is False in the supernet
(as in DARTS, so that the architecture weights alone scale the ops) and True in derived nets.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from hinas_basicsr.trellis import PRIMITIVES

NEGATIVE_SLOPE = 0.2


def make_act(inplace: bool = False) -> nn.Module:
    """The one activation of the search space: LeakyReLU(0.2)."""
    return nn.LeakyReLU(NEGATIVE_SLOPE, inplace=inplace)


def make_norm(channels: int, affine: bool) -> nn.Module:
    """The one normalisation of the search space: BatchNorm2d."""
    return nn.BatchNorm2d(channels, affine=affine)


def scaled_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``scale * bn(x)`` for a BatchNorm without affine parameters, ``scale`` a 0-dim tensor.

    The scale is passed to ``F.batch_norm`` as the affine weight, so autograd keeps only BN's input
    (which its backward needs anyway) and not the normalised output that ``scale * bn(x)`` would keep.
    Running statistics are handled exactly as ``nn.BatchNorm2d.forward`` handles them.
    """
    if bn.affine:
        raise ValueError('scaled_batch_norm: the BatchNorm must have affine=False')
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    use_batch_stats = bn.training or (bn.running_mean is None and bn.running_var is None)
    track = not bn.training or bn.track_running_stats
    return F.batch_norm(x, bn.running_mean if track else None, bn.running_var if track else None,
                        scale.expand(x.shape[1]), None, use_batch_stats, momentum, bn.eps)


class PreActOp(nn.Sequential):
    """An operation whose first module is the activation and whose last is a BatchNorm.

    ``forward(x)`` applies it whole; ``forward_scaled`` is the supernet's form: the input is already
    activated (the activation is shared by every operation of an edge) and the output is scaled.
    """

    def forward_scaled(self, x_act: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``scale * self(x)`` given ``x_act = act(x)``."""
        modules = list(self)
        for module in modules[1:-1]:
            x_act = module(x_act)
        return scaled_batch_norm(modules[-1], x_act, scale)


class ActConvBN(PreActOp):
    """act, conv k x k (dilation d, no bias), BN."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int = 1, affine: bool = True) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            make_act(),
            nn.Conv2d(c_in, c_out, kernel_size, padding=padding, dilation=dilation, bias=False),
            make_norm(c_out, affine))


class SepConv(PreActOp):
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

    def forward_scaled(self, x_act: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``scale * self(x)`` given ``x_act = act(x)``; the depthwise outputs are recomputed, not kept.

        Each depthwise output is needed only by the backward of the pointwise conv after it; the backward
        recomputes it from the depthwise input (kept anyway), at k * k multiply-adds per value.
        """
        _, dw1, pw1, bn1, act2, dw2, pw2, bn2 = self
        h = act2(bn1(_depthwise_pointwise(dw1, pw1, x_act)))
        return scaled_batch_norm(bn2, _depthwise_pointwise(dw2, pw2, h), scale)


def _depthwise_pointwise(dw: nn.Module, pw: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``pw(dw(x))``, with ``dw(x)`` recomputed in the backward pass instead of kept."""
    if not torch.is_grad_enabled():
        return pw(dw(x))
    return checkpoint(lambda t: pw(dw(t)), x, use_reentrant=False)


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
