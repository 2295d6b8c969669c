"""Random genotypes: valid, and uniform over ops, input pairs and width paths (10,000 draws, 3 standard errors)."""
import collections
import itertools
import math
import random

import pytest

from hinas_basicsr.research.random_genotype import path_counts, random_genotype, random_widths
from hinas_basicsr.space.trellis import PRIMITIVES, path_error

DRAWS = 10_000
OPS = PRIMITIVES  # the full space, with none (never drawn)


def num_paths(num_layers: int, num_levels: int) -> int:
    """The number of valid width paths of ``num_layers`` layers (from level 0 in the stem)."""
    return path_counts(num_layers, num_levels)[0][0]


def within_3_se(count: int, p: float, n: int = DRAWS) -> bool:
    return abs(count / n - p) <= 3 * math.sqrt(p * (1 - p) / n)


def enumerate_paths(num_layers, num_levels):
    return [p for p in itertools.product(range(num_levels), repeat=num_layers) if path_error(p, num_levels) is None]


@pytest.mark.parametrize('num_layers,num_levels', [(1, 3), (3, 3), (4, 2), (5, 4), (6, 1)])
def test_path_count_equals_enumeration(num_layers, num_levels):
    assert num_paths(num_layers, num_levels) == len(enumerate_paths(num_layers, num_levels))
    assert path_counts(num_layers, num_levels)[num_layers] == [1] * num_levels


def test_width_paths_are_valid_and_uniform_over_paths():
    rng = random.Random(1)
    paths = enumerate_paths(3, 3)  # 12 paths; a per-step draw would give (0, 0, 0) 1/18 and (0, 1, 2) 1/12
    counts = collections.Counter(random_widths(rng, 3, 3) for _ in range(DRAWS))
    assert set(counts) == set(paths)
    for path in paths:
        assert within_3_se(counts[path], 1 / len(paths)), (path, counts[path])


def test_cells_valid_and_ops_and_inputs_uniform():
    rng = random.Random(0)
    num_nodes, num_layers = 3, 2
    ops_seen = collections.Counter()
    pairs_seen = collections.Counter()  # (node, unordered input pair)
    for _ in range(DRAWS):
        genotype = random_genotype(rng, task='sr', scale=2, num_in_ch=3, num_nodes=num_nodes, num_layers=num_layers,
                                   width_factors=(1, 1.5, 2), ops=OPS)  # Genotype validates cells and widths
        assert path_error(genotype.widths, 3) is None
        cell = genotype.cells[0]
        for node in range(num_nodes):
            (op_a, a), (op_b, b) = cell[2 * node:2 * node + 2]
            assert a != b
            pairs_seen[node, frozenset((a, b))] += 1
            ops_seen.update((op_a, op_b))
    assert 'none' not in ops_seen
    candidates = [op for op in OPS if op != 'none']
    total = sum(ops_seen.values())
    for op in candidates:
        assert abs(ops_seen[op] / total - 1 / len(candidates)) <= 3 * math.sqrt(
            (1 / len(candidates)) * (1 - 1 / len(candidates)) / total), (op, ops_seen[op])
    for node in range(num_nodes):
        pairs = list(itertools.combinations(range(node + 2), 2))
        for pair in pairs:
            assert within_3_se(pairs_seen[node, frozenset(pair)], 1 / len(pairs)), (node, pair)


def test_same_seed_same_genotype():
    kwargs = dict(task='denoise', scale=1, num_in_ch=1, num_nodes=4, num_layers=5, width_factors=(1, 2), ops=OPS)
    assert random_genotype(random.Random(7), **kwargs) == random_genotype(random.Random(7), **kwargs)
