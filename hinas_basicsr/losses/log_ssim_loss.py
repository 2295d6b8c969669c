"""LogSSIM loss: ``-log10(SSIM)``, the structural term of HiNAS's search and training losses."""
from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn
from torch.nn import functional as F

PADDINGS = ('same', 'valid')


@functools.lru_cache(maxsize=16)
def gaussian_window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The 11x11 Gaussian window (sigma 1.5) of SSIM, made once per device and dtype (no upload per call)."""
    kernel = cv2.getGaussianKernel(11, 1.5)
    return torch.from_numpy(np.outer(kernel, kernel.T)).to(device=device, dtype=dtype)


def ssim_map(pred: torch.Tensor, target: torch.Tensor, padding: str = 'same') -> torch.Tensor:
    """Per-pixel SSIM of (N, C, H, W) images in [0, 1]: 11x11 Gaussian window (sigma 1.5), channel by channel.

    ``padding: same`` zero-pads the window as the HiNAS reference does (``F.conv2d(..., padding=5)``), so the
    map has the input's size; ``valid`` keeps only full windows, as BasicSR's ``calculate_ssim``.
    """
    if padding not in PADDINGS:
        raise ValueError(f'padding: expected one of {PADDINGS}, got {padding!r}')
    c1, c2 = 0.01**2, 0.03**2
    window = gaussian_window(pred.device, pred.dtype).expand(pred.shape[1], 1, 11, 11)
    pad = 5 if padding == 'same' else 0

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, padding=pad, groups=pred.shape[1])

    mu1, mu2 = blur(pred), blur(target)
    sigma1_sq = blur(pred * pred) - mu1 * mu1
    sigma2_sq = blur(target * target) - mu2 * mu2
    sigma12 = blur(pred * target) - mu1 * mu2
    return ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (sigma1_sq + sigma2_sq + c2))


@LOSS_REGISTRY.register()
class LogSSIMLoss(nn.Module):
    """``loss_weight * -log10(SSIM(pred, target))``, SSIM with an 11x11 Gaussian window (sigma 1.5).

    HiNAS uses ``L1 + 0.6 * LogSSIM`` for super-resolution and ``MSE + 0.5 * LogSSIM`` (search) or
    ``MSE + 0.6 * LogSSIM`` (training) for denoising (Zhang et al., IJCV 2022). SSIM is the mean of the
    map over the batch; it is clamped away from 0 so the log stays finite.

    Args:
        loss_weight (float): Weight of this loss. Default: 1.0.
        padding (str): ``same``: the window is zero-padded at the borders, as the reference
            implementation; ``valid``: only full windows, as BasicSR's SSIM metric. Default: 'same'.
        eps (float): Lower clamp of SSIM before the log. Default: 1e-4.
    """

    def __init__(self, loss_weight: float = 1.0, padding: str = 'same', eps: float = 1e-4) -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f'LogSSIMLoss.padding: expected one of {PADDINGS}, got {padding!r}')
        self.loss_weight = loss_weight
        self.padding = padding
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor, **kwargs) -> torch.Tensor:
        ssim = ssim_map(pred, target, self.padding).mean()
        return -self.loss_weight * torch.log10(ssim.clamp(min=self.eps))
