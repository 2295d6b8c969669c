"""SumLoss: several BasicSR losses in one ``pixel_opt``, so that SRModel trains ``L1 + 0.6 * LogSSIM`` unchanged."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from basicsr.losses import build_loss
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn


@LOSS_REGISTRY.register()
class SumLoss(nn.Module):
    """The sum of losses, each built by BasicSR's ``build_loss`` from its own options (weights included).

    HiNAS trains derived nets with ``L1 + 0.6 * (-log10 SSIM)`` (SR) or ``MSE + 0.6 * (-log10 SSIM)``
    (denoising); BasicSR's SRModel has one pixel loss, so this loss holds both::

        pixel_opt:
          type: SumLoss
          losses:
            - {type: L1Loss, loss_weight: 1.0, reduction: mean}
            - {type: LogSSIMLoss, loss_weight: 0.6}

    Args:
        losses (list[dict]): Option dicts of the summed losses, each with its ``type``.
    """

    def __init__(self, losses: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        if not losses:
            raise ValueError('train.pixel_opt.losses: SumLoss needs at least one loss')
        self.losses = nn.ModuleList(build_loss(dict(opt)) for opt in losses)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        return sum(loss(pred, target) for loss in self.losses)
