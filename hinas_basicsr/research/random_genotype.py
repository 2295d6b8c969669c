"""Random genotypes drawn uniformly from the HiNAS search space: the baseline a search must beat.

Cells: each node of each layer takes two DISTINCT inputs, uniformly among the unordered pairs of its
``node + 2`` candidate states, and each input gets an operation uniformly among the space's ops other
than ``none`` (the decoding never picks ``none`` either).

Widths: a width path drawn uniformly over the VALID PATHS of the trellis, not step by step. Drawing
each move uniformly among the moves that stay on the grid would favour the paths that pass near the
grid's edges (fewer choices there, so each is likelier), and paths near level 0 early on (the trellis
is narrow there); a search that prefers a width is then compared with a biased baseline. So the number
of completions from every grid position is counted by dynamic programming, and each move is taken with
probability proportional to the completions it leaves: every full path has probability 1 / (number of
paths).
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from hinas_basicsr.space.genotype import Cell, Genotype
from hinas_basicsr.space.trellis import moves_from, node_edges


def path_counts(num_layers: int, num_levels: int) -> list[list[int]]:
    """``counts[d][w]``: the number of valid ways to finish a path standing at level w of depth d.

    Depth 0 is the stem (only level 0 is reached there); ``counts[num_layers][w] == 1``.
    """
    counts = [[0] * num_levels for _ in range(num_layers + 1)]
    counts[num_layers] = [1] * num_levels
    for depth in range(num_layers - 1, -1, -1):
        for level in range(num_levels):
            counts[depth][level] = sum(counts[depth + 1][target] for _, _, target in moves_from(level, num_levels))
    return counts


def random_widths(rng: random.Random, num_layers: int, num_levels: int) -> tuple[int, ...]:
    """A width path drawn uniformly among all valid paths (one level per layer)."""
    counts = path_counts(num_layers, num_levels)
    level, widths = 0, []
    for depth in range(num_layers):
        targets = [target for _, _, target in moves_from(level, num_levels)]
        level = rng.choices(targets, weights=[counts[depth + 1][t] for t in targets])[0]
        widths.append(level)
    return tuple(widths)


def random_cell(rng: random.Random, num_nodes: int, ops: Sequence[str]) -> Cell:
    """One cell: per node two distinct inputs, each with a uniformly drawn op other than ``none``."""
    candidates = [op for op in ops if op != 'none']
    if not candidates:
        raise ValueError(f'ops: {list(ops)} holds no operation other than none')
    pairs: list[tuple[str, int]] = []
    for inputs in node_edges(num_nodes):
        pairs += [(rng.choice(candidates), index) for index in rng.sample(range(len(inputs)), 2)]
    return tuple(pairs)


def random_genotype(rng: random.Random, *, task: str, scale: int, num_in_ch: int, num_nodes: int,
                    num_layers: int, width_factors: Sequence[float], ops: Sequence[str]) -> Genotype:
    """A genotype drawn uniformly from the space (see the module docstring); ``search`` is None."""
    return Genotype(task=task, scale=int(scale), num_in_ch=int(num_in_ch), num_nodes=int(num_nodes),
                    width_factors=tuple(width_factors), ops=tuple(ops),
                    cells=tuple(random_cell(rng, num_nodes, ops) for _ in range(num_layers)),
                    widths=random_widths(rng, num_layers, len(width_factors)))


