"""LogSSIM loss: ``-log10(SSIM)``, the structural term of HiNAS's search and training losses."""
from __future__ import annotations

import torch
from basicsr.metrics.psnr_ssim import _ssim_pth
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn


@LOSS_REGISTRY.register()
class LogSSIMLoss(nn.Module):
    """``loss_weight * -log10(SSIM(pred, target))``, SSIM as BasicSR computes it (11x11 Gaussian, sigma 1.5).

    HiNAS uses ``L1 + 0.6 * LogSSIM`` for super-resolution and ``MSE + 0.5 * LogSSIM`` for
    denoising (Zhang et al., IJCV 2022). SSIM is BasicSR's own differentiable ``_ssim_pth`` on the
    0-255 scale, averaged over the batch; it is clamped away from 0 so the log stays finite.

    Args:
        loss_weight (float): Weight of this loss. Default: 1.0.
        eps (float): Lower clamp of SSIM before the log. Default: 1e-4.
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-4) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        ssim = _ssim_pth(pred * 255., target * 255.).mean()
        return -self.loss_weight * torch.log10(ssim.clamp(min=self.eps))
