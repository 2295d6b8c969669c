"""benchmarks/arch_signal.py: the architecture gradient's signal-to-noise, read back from Adam's state."""
from __future__ import annotations

import math

import pytest
import torch
from arch_signal import arch_signal, signal_to_noise, simulated_ratio

BETAS = (0.9, 0.999)


def test_pure_noise_floor_is_the_analytic_one():
    """For N(0, 1) gradients, m is N(0, (1 - b1) / (1 + b1)) and v about 1: E|m| = sqrt(2 / pi) times its std."""
    expected = math.sqrt(2 / math.pi) * math.sqrt((1 - BETAS[0]) / (1 + BETAS[0]))
    assert simulated_ratio(0.0, 1000, BETAS) == pytest.approx(expected, rel=0.05)
    assert simulated_ratio(100.0, 1000, BETAS) == pytest.approx(1.0, abs=1e-3)


def _search_folder(root, r: float, steps: int = 600, lr: float = 1e-3, decay: float = 0.0):
    """A search's files whose alpha was stepped by Adam on gradients ``1e-4 * (r + N(0, 1))``."""
    torch.manual_seed(0)
    alpha = torch.zeros(2, 9, 7, requires_grad=True)
    beta = torch.zeros(2, 3, 3, requires_grad=True)
    optimizer = torch.optim.Adam([alpha, beta], lr=lr, betas=BETAS, weight_decay=decay)
    for _ in range(steps):
        optimizer.zero_grad()
        alpha.grad = 1e-4 * (r + torch.randn_like(alpha))
        beta.grad = torch.zeros_like(beta)
        beta.grad[:, 0, 1:] = 1e-4 * torch.randn(2, 2)  # four live entries, pure noise
        optimizer.step()
    (root / 'training_states').mkdir(parents=True)
    (root / 'models').mkdir()
    torch.save({'hinas': {'optimizer_arch': optimizer.state_dict()}}, root / 'training_states' / f'{steps}.state')
    torch.save({'params': {'alpha': alpha.detach(), 'beta': beta.detach()}}, root / 'models' / 'net_g_latest.pth')
    return alpha.detach()


@pytest.mark.parametrize('r', [0.1, 0.5])
def test_planted_signal_is_recovered(tmp_path, r):
    alpha = _search_folder(tmp_path, r)
    row = arch_signal(str(tmp_path))
    a = row['alpha']
    assert a['architecture_steps'] == 600 and a['entries_with_gradient'] == 126
    low, high = a['signal_to_noise_interval']
    assert low <= r <= high and low <= a['signal_to_noise_per_step'] <= high
    assert high - low < (0.2 if r == 0.1 else 0.5)  # 126 entries: an interval about 0.15 wide near r = 0.1
    assert a['abs_max'] == pytest.approx(float(alpha.abs().max()))
    # Adam's consistent drift, lr * r / sqrt(1 + r^2) a step: the planted alpha's mean displacement lies between the
    # distances of the interval's ends
    def distance(x: float) -> float:
        return 1e-3 * x / math.sqrt(1 + x * x) * 600

    assert a['distance_over_the_search'] == pytest.approx(
        distance(a['signal_to_noise_per_step']), rel=1e-3)  # r is rounded
    assert distance(low) <= -float(alpha.mean()) <= distance(high)
    b = row['beta']
    assert b['entries_with_gradient'] == 4 and b['signal_to_noise_interval'][0] == 0.0  # noise: no signal excluded


def test_signal_to_noise_inverts_the_simulation():
    ratio = simulated_ratio(0.3, 400, BETAS, seed=1)
    r, floor = signal_to_noise(ratio, 400, BETAS)
    assert r == pytest.approx(0.3, rel=0.1) and floor < ratio
    assert signal_to_noise(floor * 0.9, 400, BETAS)[0] == 0.0
