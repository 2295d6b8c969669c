"""Bootstrap intervals of the search-vs-random benchmark: a search mode's margin over the randoms, a Kendall tau.

Both are percentile intervals over ``replicates`` resamples drawn with ``numpy.random.default_rng(seed)``, so a
rerun on the same numbers gives the same interval.

* :func:`margin_interval`: a search's margin is the mean of its seeds' PSNRs minus the median of the seed means of
  the randoms within its FLOPs band; a mode's margin is the mean of its searches' margins. A replicate resamples,
  for each search in turn, its seeds, then its band's randoms, then each resampled random's seeds (all with
  replacement; the draws in that order, one ``rng.random`` array each, see the function).
* :func:`tau_interval`: the Kendall tau of the pairs, resampled with replacement.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

REPLICATES = 2000
BOOTSTRAP_SEED = 0
LEVEL = 0.90


def _percentiles(values: Sequence[float], level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return float(low), float(high)


def search_margin(seeds: Sequence[float], band: Sequence[Sequence[float]]) -> float:
    """Mean of ``seeds`` minus the median of the means of the randoms in ``band`` (each a list of seed PSNRs)."""
    return float(np.mean(seeds) - np.median([np.mean(r) for r in band]))


def margin_interval(searches: Sequence[tuple[Sequence[float], Sequence[Sequence[float]]]],
                    level: float = LEVEL, replicates: int = REPLICATES,
                    seed: int = BOOTSTRAP_SEED) -> tuple[float, tuple[float, float]]:
    """A mode's mean margin over the randoms at equal cost, and its bootstrap percentile interval at ``level``.

    ``searches``: one ``(seed PSNRs of the searched net, band)`` per search of the mode, the band a list of the seed
    PSNRs of each random within its FLOPs band (at least one random, each with at least one seed).
    Per replicate and per search, in this order: ``u = rng.random(len(seeds))`` picks its seeds
    (``floor(u * len(seeds))``), ``v = rng.random(len(band))`` picks its randoms, and for each picked random in turn
    ``w = rng.random(len(that random's seeds))`` picks that random's seeds.

    Returns ``(margin, (low, high))``: the margin of the data as given, and the interval.
    """
    if not searches:
        raise ValueError('margin_interval: no search')
    for seeds, band in searches:
        if not seeds or not band or any(not r for r in band):
            raise ValueError('margin_interval: every search needs a seed and a random (with a seed) in its band')
    if not 0 < level < 1 or replicates < 1:
        raise ValueError(f'margin_interval: level in (0, 1) and replicates >= 1, got {level} and {replicates}')
    arrays = [(np.asarray(s, dtype=float), [np.asarray(r, dtype=float) for r in band]) for s, band in searches]
    margin = float(np.mean([search_margin(s, band) for s, band in arrays]))
    rng = np.random.default_rng(seed)
    means = np.empty(replicates)
    for b in range(replicates):
        margins = []
        for s, band in arrays:
            own = s[(rng.random(len(s)) * len(s)).astype(int)].mean()
            picked = (rng.random(len(band)) * len(band)).astype(int)
            random_means = [band[j][(rng.random(len(band[j])) * len(band[j])).astype(int)].mean() for j in picked]
            margins.append(own - np.median(random_means))
        means[b] = np.mean(margins)
    return margin, _percentiles(means, level)


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(x, y).statistic)


def tau_interval(x: Sequence[float], y: Sequence[float], level: float = LEVEL, replicates: int = REPLICATES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, tuple[float, float] | None]:
    """Kendall's tau-b of the pairs ``(x[i], y[i])`` and its bootstrap percentile interval at ``level``.

    A replicate draws ``u = rng.random(n)`` and takes the pairs ``floor(u * n)``; a replicate whose tau is undefined
    (all its x or all its y equal) is left out. The interval is None when fewer than half the replicates count.
    """
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f'tau_interval: needs two lists of equal length >= 3, got {len(x)} and {len(y)}')
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    taus = []
    for _ in range(replicates):
        picked = (rng.random(len(xs)) * len(xs)).astype(int)
        tau = _tau(xs[picked], ys[picked])
        if not math.isnan(tau):
            taus.append(tau)
    interval = _percentiles(taus, level) if len(taus) * 2 >= replicates else None
    return _tau(xs, ys), interval


__all__ = ['BOOTSTRAP_SEED', 'LEVEL', 'REPLICATES', 'margin_interval', 'search_margin', 'tau_interval']
