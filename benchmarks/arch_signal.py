"""How much signal the architecture gradient carries, read from a finished search's Adam state.

Adam keeps, per parameter, an average of the gradient (``exp_avg``, m) and of its square (``exp_avg_sq``, v). For a
gradient with mean mu and noise sigma per step, the ratio |m̂| / sqrt(v̂) (bias-corrected) settles near 1 when
mu dominates and near a floor when it is pure noise (about 0.18 for beta1 = 0.9). The per-step signal-to-noise
r = mu / sigma that gives the measured mean ratio (over the entries) is found by simulating Adam's averages on
mu + sigma * N(0, 1) with the search's betas and number of architecture steps, and so is the r of the mean ratio
+- 2 standard errors (few entries, or r near 0, make that interval wide); from r:

- Adam's step along the signal: about ``lr * r / sqrt(1 + r^2)`` a step (a noisy gradient's steps cancel), and the
  logit distance that covers over the search's architecture steps;
- the weight decay's pull (Adam's L2 ``weight_decay * |alpha|``, added to the gradient) against the signal
  ``mu = r * sqrt(v)``: where the pull is the larger, alpha is held near ``mu / weight_decay``.

It reads ``experiments/<search>/training_states/<last>.state`` (the ``hinas`` entry: ``optimizer_arch``) and the
supernet ``models/net_g_latest.pth`` (alpha and beta), prints a table and writes JSON.

    python benchmarks/arch_signal.py experiments/search_a experiments/search_b --json arch_signal.json
"""
from __future__ import annotations

import argparse
import glob
import math
import os
import re
import sys
from typing import Any

import numpy as np
import torch

from hinas_basicsr.utils.fileio import write_json

SIM_PARAMS = 4000  # simulated parameters per value of r
SIM_SEED = 0
LIVE = 1e-3  # an entry whose RMS gradient is below this fraction of the largest gets none


def simulated_ratio(r: float, steps: int, betas: tuple[float, float], seed: int = SIM_SEED) -> float:
    """Mean bias-corrected |m̂| / sqrt(v̂) after ``steps`` Adam steps on gradients ``r + N(0, 1)``."""
    rng = np.random.default_rng(seed)
    b1, b2 = betas
    m = np.zeros(SIM_PARAMS)
    v = np.zeros(SIM_PARAMS)
    for _ in range(steps):
        g = r + rng.standard_normal(SIM_PARAMS)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** steps), v / (1 - b2 ** steps)
    return float(np.mean(np.abs(m_hat) / np.sqrt(v_hat)))


def signal_to_noise(ratio: float, steps: int, betas: tuple[float, float]) -> tuple[float, float]:
    """The per-step r whose simulated mean ratio equals ``ratio`` (bisection on log r), and the pure-noise ratio."""
    floor = simulated_ratio(0.0, steps, betas)
    if ratio <= floor:
        return 0.0, floor
    lo, hi = 1e-4, 1e3
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if simulated_ratio(mid, steps, betas) < ratio else (lo, mid)
    return math.sqrt(lo * hi), floor


def last_state(experiment: str) -> str:
    states = glob.glob(os.path.join(experiment, 'training_states', '*.state'))
    if not states:
        raise FileNotFoundError(f'{experiment}: no training_states/<iter>.state (the search saves one at its end)')
    return max(states, key=lambda p: int(re.sub(r'\D', '', os.path.basename(p)) or 0))


def arch_signal(experiment: str) -> dict[str, Any]:
    state = torch.load(last_state(experiment), map_location='cpu', weights_only=False)
    optimizer = state['hinas']['optimizer_arch']
    group = optimizer['param_groups'][0]
    betas, lr, decay = tuple(group['betas']), float(group['lr']), float(group['weight_decay'])
    net = torch.load(os.path.join(experiment, 'models', 'net_g_latest.pth'), map_location='cpu')['params']
    rows = {}
    for index, name in zip(group['params'], ('alpha', 'beta')):
        s = optimizer['state'][index]
        steps = int(s['step'])
        m_hat = s['exp_avg'] / (1 - betas[0] ** steps)
        v_hat = s['exp_avg_sq'] / (1 - betas[1] ** steps)
        live = v_hat.sqrt() > LIVE * v_hat.sqrt().max()  # beta entries off the trellis get none (or 1e-8 traces)
        ratios = m_hat[live].abs() / v_hat[live].sqrt()
        ratio = float(ratios.mean())
        se = float(ratios.std()) / math.sqrt(ratios.numel()) if ratios.numel() > 1 else float('inf')
        r, floor = signal_to_noise(ratio, steps, betas)
        r_low, r_high = (signal_to_noise(ratio + k * se, steps, betas)[0] if math.isfinite(se) else math.nan
                         for k in (-2, 2))
        rms = float(v_hat[live].sqrt().median())
        value = net[name]
        step = lr * r / math.sqrt(1 + r * r)
        rows[name] = {
            'architecture_steps': steps, 'lr': lr, 'weight_decay': decay, 'betas': list(betas),
            'entries_with_gradient': int(live.sum()), 'entries': int(live.numel()),
            'mean_ratio': round(ratio, 4), 'mean_ratio_se': round(se, 4), 'pure_noise_ratio': round(floor, 4),
            'signal_to_noise_per_step': round(r, 4), 'signal_to_noise_interval': [round(r_low, 4), round(r_high, 4)],
            'gradient_rms_median': rms, 'signal_per_step': r * rms,
            'weight_decay_pull_median': decay * float(value[live].abs().median()),
            'adam_step_along_signal': step, 'distance_over_the_search': step * steps,
            'abs_max': float(value[live].abs().max()), 'std': float(value[live].std()),
        }
    return {'experiment': experiment, **rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('experiments', nargs='+', metavar='EXP', help='a finished search\'s experiment folder')
    parser.add_argument('--json', help='write the rows here')
    args = parser.parse_args(argv)
    try:
        rows = [arch_signal(e) for e in args.experiments]
    except (FileNotFoundError, KeyError) as err:
        print(f'arch_signal: {err}', file=sys.stderr)
        return 2
    print('| search | param | arch steps | mean abs(m)/sqrt(v) (noise floor) | signal/noise a step (mean +- 2 se) '
          '| signal a step '
          '| weight-decay pull | Adam step along the signal | distance over the search | abs max |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for row in rows:
        for name in ('alpha', 'beta'):
            p = row[name]
            print(f'| {os.path.basename(row["experiment"])} | {name} | {p["architecture_steps"]} | '
                  f'{p["mean_ratio"]:.3f} ({p["pure_noise_ratio"]:.3f}) | {p["signal_to_noise_per_step"]:.3f} '
                  f'[{p["signal_to_noise_interval"][0]:.3f}, {p["signal_to_noise_interval"][1]:.3f}] | '
                  f'{p["signal_per_step"]:.1e} | {p["weight_decay_pull_median"]:.1e} | '
                  f'{p["adam_step_along_signal"]:.1e} | {p["distance_over_the_search"]:.3f} | {p["abs_max"]:.3f} |')
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
