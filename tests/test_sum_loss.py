"""SumLoss: the weighted sum of its losses, as the HiNAS training options use it."""
import pytest
import torch
from torch.nn import functional as F

import hinas_basicsr  # noqa: F401
from hinas_basicsr.losses.log_ssim_loss import LogSSIMLoss
from hinas_basicsr.losses.sum_loss import SumLoss


def test_sum_loss_is_l1_plus_weighted_log_ssim():
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss = SumLoss([{'type': 'L1Loss', 'loss_weight': 1.0},
                                                     {'type': 'LogSSIMLoss', 'loss_weight': 0.6}])
    expected = F.l1_loss(pred, target) + 0.6 * LogSSIMLoss()(pred, target)
    assert loss(pred, target).item() == pytest.approx(expected.item(), rel=1e-6)


def test_sum_loss_needs_a_loss():
    with pytest.raises(ValueError, match='SumLoss needs at least one loss'):
        SumLoss([])
