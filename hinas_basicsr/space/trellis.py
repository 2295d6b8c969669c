"""The HiNAS search space's vocabulary, in one place: operations by name, cell edges, width levels, moves.

The supernet, the genotype, the derived net, the plots and the random sampler all ask this module,
so the geometry is written once. It imports no torch and nothing else of the plugin.

The outer space is a trellis of depths 0..L (depth 0 is the stem, depth d >= 1 holds layer d's cells)
by W width levels; position ``(d, w)`` exists for ``w <= min(d, W - 1)``. From a position a path
moves down, stays or moves up one level (:data:`MOVES`) into the next depth. The inner space is a cell
of B nodes; node j has j + 2 incoming edges (from the two cell inputs and the nodes before it).
"""
from __future__ import annotations

from collections.abc import Sequence

# The candidate operations, in alpha's order; ``hinas_ops.OPS`` builds each of them.
PRIMITIVES: tuple[str, ...] = (
    'conv_3x3', 'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5', 'skip_connect', 'none')

MOVES: tuple[int, ...] = (-1, 0, 1)  # level change of down, same, up: the order of a transitions entry
MOVE_NAMES: tuple[str, ...] = ('down', 'same', 'up')


def num_edges(num_nodes: int) -> int:
    """Edges of a cell with ``num_nodes`` nodes: node j has j + 2 inputs."""
    return sum(j + 2 for j in range(num_nodes))


def node_edges(num_nodes: int) -> list[range]:
    """For each node, the range of its edge indices (edge ``first + i`` comes from state i)."""
    ranges, first = [], 0
    for node in range(num_nodes):
        ranges.append(range(first, first + node + 2))
        first += node + 2
    return ranges


def level_channels(num_feat: int, width_factors: Sequence[float]) -> list[int]:
    """Channels of one node at each width level: ``int(F * factor)``."""
    return [int(num_feat * f) for f in width_factors]


def levels_at(depth: int, num_levels: int) -> range:
    """Levels present at ``depth`` (0 = the stem): ``0..min(depth, W - 1)``."""
    return range(min(depth, num_levels - 1) + 1)


def moves_from(level: int, num_levels: int) -> list[tuple[int, str, int]]:
    """The moves that stay on the grid from ``level``: (index in MOVES, name, target level)."""
    return [(m, name, level + move) for m, (move, name) in enumerate(zip(MOVES, MOVE_NAMES))
            if 0 <= level + move < num_levels]


def position_key(depth: int, level: int) -> str:
    """Module key of the grid position (depth, level): ``d{depth}_w{level}``."""
    return f'd{depth}_w{level}'


def route_key(depth: int, level: int, move_name: str) -> str:
    """Module key of the routing projection leaving (depth, level) by ``move_name``."""
    return f'{position_key(depth, level)}_{move_name}'


def path_error(widths: Sequence[int], num_levels: int) -> str | None:
    """Why ``widths`` (one level per layer, starting from level 0 in the stem) is not a trellis path, or None."""
    level = 0
    for layer, w in enumerate(widths):
        if not 0 <= w < num_levels or abs(w - level) > 1:
            return (f'widths[{layer}]: impossible step from level {level} to {w} '
                    f'({num_levels} levels, one step at a time)')
        level = w
    return None


def count_paths(num_layers: int, num_levels: int) -> int:
    """How many width paths :func:`valid_paths` lists, counted level by level without listing them (40 layers of 3
    levels have 1.7 x 10^15; 12 layers 33,461)."""
    at = {0: 1}  # paths ending at each level
    for _ in range(num_layers):
        after: dict[int, int] = {}
        for level, paths in at.items():
            for _, _, t in moves_from(level, num_levels):
                after[t] = after.get(t, 0) + paths
        at = after
    return sum(at.values())


def valid_paths(num_layers: int, num_levels: int) -> list[tuple[int, ...]]:
    """Every width path of the trellis (one level per layer, from level 0 in the stem), in lexicographic order."""
    paths: list[tuple[int, ...]] = [()]
    for _ in range(num_layers):
        paths = [p + (t,) for p in paths for _, _, t in moves_from(p[-1] if p else 0, num_levels)]
    return sorted(paths)
