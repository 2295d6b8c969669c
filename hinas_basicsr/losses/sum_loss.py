"""SumLoss: several BasicSR losses in one ``pixel_opt``, so that SRModel trains ``L1 + 0.6 * LogSSIM`` unchanged."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from basicsr.losses import build_loss
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn

REDUCTIONS = ('sum', 'mean')


@LOSS_REGISTRY.register()
class SumLoss(nn.Module):
    """The sum (or mean) of losses, each built by BasicSR's ``build_loss`` from its own options (weights included).

    HiNAS trains derived nets with ``L1 + 0.6 * (-log10 SSIM)`` (SR) or ``MSE + 0.6 * (-log10 SSIM)``
    (denoising); BasicSR's SRModel has one pixel loss, so this loss holds both::

        pixel_opt:
          type: SumLoss
          losses:
            - {type: L1Loss, loss_weight: 1.0, reduction: mean}
            - {type: LogSSIMLoss, loss_weight: 0.6}

    The reference search takes the mean of the weighted terms, ``(L1 + 0.6 * LogSSIM) / 2``: ``reduction: mean``.

    Args:
        losses (list[dict]): Option dicts of the combined losses, each with its ``type``.
        reduction (str): ``sum`` or ``mean`` of the weighted losses. Default: 'sum'.
    """

    def __init__(self, losses: Sequence[Mapping[str, Any]], reduction: str = 'sum') -> None:
        super().__init__()
        if not losses:
            raise ValueError('train.pixel_opt.losses: SumLoss needs at least one loss')
        if reduction not in REDUCTIONS:
            raise ValueError(f'train.pixel_opt.reduction: expected one of {REDUCTIONS}, got {reduction!r}')
        self.losses = nn.ModuleList(build_loss(dict(opt)) for opt in losses)
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        total = sum(loss(pred, target) for loss in self.losses)
        return total / len(self.losses) if self.reduction == 'mean' else total
