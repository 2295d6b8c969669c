"""Probabilities of the width path under softmax(beta): where a derived net's cells will sit, differentiably.

Decoding picks one path through the trellis; under the search's transition probabilities ``P[d, w, m]``
(move ``m`` of :data:`trellis.MOVES` leaving level ``w`` of depth ``d``) the path is a Markov chain that
starts at level 0 in the stem. These functions give that chain's marginals, which the FLOPs model
(:mod:`hinas_basicsr.search.flops_model`) and the supernet's decoder-like search head weigh things by. At a one-hot
``P`` (one path) every marginal is 0 or 1. Every function is differentiable in ``P``.
"""
from __future__ import annotations

import torch

from hinas_basicsr.space.trellis import moves_from


def transition_matrices(transitions: torch.Tensor) -> torch.Tensor:
    """``T[d, w, t]``: the probability of moving from level w at depth d to level t at depth d + 1; (L, W, W)."""
    num_layers, num_levels, _ = transitions.shape
    rows = []
    for w in range(num_levels):
        cols = [transitions.new_zeros(num_layers) for _ in range(num_levels)]
        for m, _, target in moves_from(w, num_levels):
            cols[target] = transitions[:, w, m]
        rows.append(torch.stack(cols, dim=-1))
    return torch.stack(rows, dim=1)


def _level0(mats: torch.Tensor) -> torch.Tensor:
    """The one-hot vector of level 0."""
    start = mats.new_zeros(mats.shape[-1])
    start[0] = 1
    return start


def level_marginals(transitions: torch.Tensor) -> torch.Tensor:
    """``q[d, w]``: the probability that the path is at level w at depth d (0 = the stem); (L + 1, W)."""
    mats = transition_matrices(transitions)
    q = [_level0(mats)]
    for mat in mats:
        q.append(q[-1] @ mat)
    return torch.stack(q)


def low_level_probs(transitions: torch.Tensor) -> torch.Tensor:
    """``p[d]``, d = 0..L-1: the probability that the state at depth d is the derived decoder's low-level input.

    As ``hinas_net_arch.low_level_cell`` decides: the output of the path's last level-0 cell, at depth
    d >= 1, where the path leaves level 0 after it and does not come back (so that cell is not the final
    layer); the stem's reduced feature (d = 0) otherwise, the paths that end at level 0 included.
    """
    mats = transition_matrices(transitions)
    q = level_marginals(transitions)
    num_layers = mats.shape[0]
    level0 = _level0(mats)
    cells = []
    for d in range(1, num_layers):
        state = q[d] * level0  # at level 0 at depth d
        for later in range(d, num_layers):  # then away from level 0 at depths d + 1 .. L
            state = (state @ mats[later]) * (1 - level0)
        cells.append(state.sum())
    cells = torch.stack(cells) if cells else q.new_zeros(0)
    return torch.cat([(1 - cells.sum()).reshape(1), cells])


def pair_marginals(transitions: torch.Tensor, first: int, second: int) -> torch.Tensor:
    """``J[a, b]``: the probability of level a at depth ``first`` and level b at depth ``second > first``; (W, W)."""
    mats = transition_matrices(transitions)
    joint = torch.diag(level_marginals(transitions)[first])
    for d in range(first, second):
        joint = joint @ mats[d]
    return joint
