"""The bootstrap intervals of the search-vs-random verdict, against straightforward loops on planted numbers."""
import math

import numpy as np
import pytest

from hinas_basicsr.research.stats import margin_interval, search_margin, tau_interval


def _median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _percentile(values, q):
    """numpy's default ('linear'): rank q/100 * (n - 1) between the sorted values."""
    v = sorted(values)
    rank = q / 100 * (len(v) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(v) - 1)
    return v[low] + (v[high] - v[low]) * (rank - low)


def _pick(rng, n):
    return [int(u * n) for u in rng.random(n)]


def loop_margin_interval(searches, replicates, seed):
    rng = np.random.default_rng(seed)
    point = sum(sum(s) / len(s) - _median([sum(r) / len(r) for r in band]) for s, band in searches) / len(searches)
    replicate_means = []
    for _ in range(replicates):
        total = 0.0
        for s, band in searches:
            own = [s[i] for i in _pick(rng, len(s))]
            randoms = [band[j] for j in _pick(rng, len(band))]
            means = []
            for r in randoms:
                chosen = [r[i] for i in _pick(rng, len(r))]
                means.append(sum(chosen) / len(chosen))
            total += sum(own) / len(own) - _median(means)
        replicate_means.append(total / len(searches))
    return point, (_percentile(replicate_means, 5), _percentile(replicate_means, 95))


def loop_tau_b(x, y):
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx * dy > 0:
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else float('nan')


MODE = [([40.10, 40.02], [[39.95, 40.00], [39.80], [40.20, 39.90], [40.05, 40.11], [39.70, 39.93]]),
        ([39.90, 40.30, 40.00], [[39.95, 40.00], [40.31, 40.12]]),
        ([40.50], [[40.00, 40.40, 39.90]])]


def test_margin_interval_equals_a_straightforward_loop_with_the_same_seed():
    margin, interval = margin_interval(MODE, replicates=300, seed=7)
    expected_margin, expected_interval = loop_margin_interval(MODE, 300, 7)
    assert margin == pytest.approx(expected_margin, abs=1e-12)
    assert interval == pytest.approx(expected_interval, abs=1e-12)
    # the point margin by hand: 40.06 - 39.975 (median of 5), 120.2 / 3 - 40.095 (median of 2), 40.5 - 40.1
    assert margin == pytest.approx((0.085 + (120.2 / 3 - 40.095) + 0.4) / 3, abs=1e-9)
    assert interval[0] < margin < interval[1]
    assert search_margin(*MODE[0]) == pytest.approx(0.085)
    # another seed, other resamples: another interval
    assert margin_interval(MODE, replicates=300, seed=8)[1] != interval


def test_margin_interval_above_zero_for_a_clear_winner_and_straddling_zero_for_a_tie():
    rng = np.random.default_rng(123)
    randoms = [list(40.0 + 0.05 * rng.standard_normal(2)) for _ in range(6)]
    winner = [([40.40, 40.45], randoms), ([40.38, 40.50], randoms[:4]), ([40.42, 40.41], randoms[2:])]
    margin, (low, high) = margin_interval(winner)
    assert margin > 0.3 and 0.2 < low <= margin <= high < 0.6
    tie = [([40.05, 39.90], [[40.1, 39.8], [39.9, 40.2], [40.0, 39.95], [40.15, 39.85]]),
           ([39.92, 40.03], [[40.1, 39.8], [39.9, 40.2], [40.0, 39.95]])]
    margin, (low, high) = margin_interval(tie)
    assert low < 0 < high and abs(margin) < 0.05
    # the loser's interval is below 0
    loser = [([39.60, 39.65], randoms)]
    assert margin_interval(loser)[1][1] < 0


def test_margin_interval_of_constant_numbers_is_the_margin_and_bad_input_is_refused():
    margin, interval = margin_interval([([30.5, 30.5], [[30.0, 30.0], [30.0]])], replicates=50)
    assert margin == pytest.approx(0.5) and interval == pytest.approx((0.5, 0.5))
    for bad in ([], [([30.0], [])], [([], [[30.0]])], [([30.0], [[]])]):
        with pytest.raises(ValueError):
            margin_interval(bad)


def test_tau_interval_equals_a_loop_over_the_same_resamples():
    x = [39.9, 40.1, 40.0, 39.7, 40.3, 39.95, 40.2, 39.8]
    y = [40.0, 40.2, 39.9, 39.8, 40.25, 40.1, 40.05, 39.7]
    tau, interval = tau_interval(x, y, replicates=200, seed=3)
    assert tau == pytest.approx(loop_tau_b(x, y), abs=1e-12)
    rng = np.random.default_rng(3)
    taus = []
    for _ in range(200):
        picked = _pick(rng, len(x))
        t = loop_tau_b([x[i] for i in picked], [y[i] for i in picked])
        if not math.isnan(t):
            taus.append(t)
    assert interval == pytest.approx((_percentile(taus, 5), _percentile(taus, 95)), abs=1e-12)
    assert interval[0] < tau < interval[1]
    # the same ranking: tau 1, and every resample (with ties) keeps tau-b 1
    same, same_interval = tau_interval(x, x, replicates=100)
    assert same == pytest.approx(1.0) and same_interval == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError):
        tau_interval([1.0, 2.0], [1.0, 2.0])
