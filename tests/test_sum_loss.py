"""SumLoss and LogSSIMLoss: the HiNAS search and training losses, against an independent computation."""
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate
from torch.nn import functional as F

import hinas_basicsr  # noqa: F401
from hinas_basicsr.losses.log_ssim_loss import LogSSIMLoss
from hinas_basicsr.losses.sum_loss import SumLoss


def _ssim_numpy(a: np.ndarray, b: np.ndarray, padding: str) -> float:
    """SSIM of (N, C, H, W) arrays in [0, 1] with scipy: an 11x11 Gaussian (sigma 1.5) written from its formula."""
    x = np.arange(11) - 5
    g = np.exp(-x**2 / (2 * 1.5**2))
    g /= g.sum()
    window = np.outer(g, g)
    maps = []
    for img1, img2 in zip(a.reshape(-1, *a.shape[2:]), b.reshape(-1, *b.shape[2:])):
        def blur(z):
            out = correlate(z.astype(np.float64), window, mode='constant', cval=0.0)
            return out if padding == 'same' else out[5:-5, 5:-5]
        mu1, mu2 = blur(img1), blur(img2)
        s1, s2, s12 = blur(img1 * img1) - mu1**2, blur(img2 * img2) - mu2**2, blur(img1 * img2) - mu1 * mu2
        c1, c2 = 0.01**2, 0.03**2
        maps.append((2 * mu1 * mu2 + c1) * (2 * s12 + c2) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2)))
    return float(np.mean(maps))


@pytest.mark.parametrize('padding', ['same', 'valid'])
def test_log_ssim_matches_an_independent_ssim(padding):
    torch.manual_seed(0)
    target = torch.rand(2, 3, 20, 24, dtype=torch.float64)
    pred = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    expected = -0.6 * math.log10(_ssim_numpy(pred.numpy(), target.numpy(), padding))
    assert LogSSIMLoss(0.6, padding=padding)(pred, target).item() == pytest.approx(expected, rel=1e-9)


def test_same_padding_is_the_default_and_differs_from_valid():
    torch.manual_seed(1)
    pred, target = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    assert LogSSIMLoss().padding == 'same'
    assert abs(LogSSIMLoss(padding='same')(pred, target) - LogSSIMLoss(padding='valid')(pred, target)) > 1e-3
    with pytest.raises(ValueError, match='padding'):
        LogSSIMLoss(padding='reflect')


def test_sum_loss_is_l1_plus_weighted_log_ssim():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss = SumLoss([{'type': 'L1Loss', 'loss_weight': 1.0}, {'type': 'LogSSIMLoss', 'loss_weight': 0.6}])
    expected = F.l1_loss(pred, target).item() - 0.6 * math.log10(_ssim_numpy(pred.numpy(), target.numpy(), 'same'))
    assert loss(pred, target).item() == pytest.approx(expected, rel=1e-5)


def test_sum_loss_mean_is_the_reference_search_loss():
    torch.manual_seed(2)
    pred, target = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    ssim = _ssim_numpy(pred.numpy(), target.numpy(), 'same')
    loss = SumLoss([{'type': 'MSELoss', 'loss_weight': 1.0}, {'type': 'LogSSIMLoss', 'loss_weight': 0.5}],
                   reduction='mean')
    expected = (F.mse_loss(pred, target).item() - 0.5 * math.log10(ssim)) / 2
    assert loss(pred, target).item() == pytest.approx(expected, rel=1e-5)


def test_sum_loss_bad_options():
    with pytest.raises(ValueError, match='SumLoss needs at least one loss'):
        SumLoss([])
    with pytest.raises(ValueError, match='reduction'):
        SumLoss([{'type': 'L1Loss'}], reduction='max')
