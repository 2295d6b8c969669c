"""No host-device traffic inside a search step's supernet forward (and backward), checked on the CPU by a
TorchFunctionMode that sees every tensor read back to the host and every tensor made from host data."""
from __future__ import annotations

import pytest
import torch
from host_sync import HostTraffic

import hinas_basicsr  # noqa: F401
from hinas_basicsr.archs import search_cell
from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.losses.log_ssim_loss import LogSSIMLoss


def _step(net: HiNASSupernet) -> list[str]:
    """What one forward and backward of the search loss (L1 + 0.6 LogSSIM) moves between host and device."""
    lq, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8 * net.upscale, 8 * net.upscale)
    with HostTraffic() as mode:
        out = net(lq)
        ((out - gt).abs().mean() + LogSSIMLoss(0.6)(out, gt)).backward()
    return mode.found


@pytest.mark.slow
@pytest.mark.parametrize('checkpoint_cells', [False, True])
@pytest.mark.parametrize('task', ['sr', 'denoise'])
def test_supernet_step_moves_nothing_between_host_and_device(checkpoint_cells, task):
    net = HiNASSupernet(task=task, upscale=2 if task == 'sr' else 1, num_layers=2, num_nodes=3, num_feat=4,
                        checkpoint_cells=checkpoint_cells)
    LogSSIMLoss(0.6)(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))  # its window is made once, here
    assert _step(net) == []


@pytest.mark.slow
def test_the_check_finds_a_planted_item_and_a_list_index(monkeypatch):
    net = HiNASSupernet(num_layers=2, num_nodes=2, num_feat=4)
    fan_out = search_cell.Cell.state_fan_out

    def planted(self, i, x, weights):
        float(weights.max().item())  # what a debugging line or a data-dependent branch would do
        weights[[0, 1], 0]  # a Python-list index: a host-to-device copy
        return fan_out(self, i, x, weights)

    monkeypatch.setattr(search_cell.Cell, 'state_fan_out', planted)
    found = set(_step(net))
    assert 'reads back: TensorBase.item' in found and 'indexes with host data: TensorBase.__getitem__' in found


def test_log_ssim_window_is_made_once_per_device_and_dtype():
    loss = LogSSIMLoss(0.6)
    pred, target = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    loss(pred.double(), target.double())
    with HostTraffic() as mode:
        value = loss(pred.double(), target.double())
    assert mode.found == []
    with HostTraffic() as mode:
        loss(pred.half(), target.half())  # a new dtype: its own window, once
    assert mode.found == ['creates from host data: from_numpy']
    from hinas_basicsr.losses.log_ssim_loss import gaussian_window

    assert gaussian_window(torch.device('cpu'), torch.float64).sum().item() == pytest.approx(1.0)
    assert torch.isfinite(value)
