"""SumLoss: several BasicSR losses in one ``pixel_opt``, so that SRModel trains ``L1 + 0.6 * LogSSIM`` unchanged."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from basicsr.losses import build_loss
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn

REDUCTIONS = ('sum', 'mean')


def check_options(losses: Any, reduction: Any = 'sum', where: str = 'train.pixel_opt') -> None:
    """Refuse options :class:`SumLoss` cannot be built from (a ``ValueError`` naming ``where.<key>``).

    The constructor calls it; so does the options check of ``basicsr train``, before anything is written.
    """
    if not isinstance(losses, Sequence) or isinstance(losses, (str, bytes)) or not losses:
        raise ValueError(f'{where}.losses: SumLoss needs at least one loss (a list of loss options), got {losses!r}')
    for i, inner in enumerate(losses):
        if not isinstance(inner, Mapping) or 'type' not in inner:
            raise ValueError(f'{where}.losses[{i}]: expected a loss with a type, got {inner!r}')
    if reduction not in REDUCTIONS:
        raise ValueError(f'{where}.reduction: expected one of {REDUCTIONS}, got {reduction!r}')


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

    def __init__(self, losses: Sequence[Mapping[str, Any]] = (), reduction: str = 'sum') -> None:
        super().__init__()
        check_options(losses, reduction)
        self.losses = nn.ModuleList(build_loss(dict(opt)) for opt in losses)
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        total = sum(loss(pred, target) for loss in self.losses)
        return total / len(self.losses) if self.reduction == 'mean' else total
