"""Is the search converging? How a genotype changed since the previous validation, and how decided alpha is.

Used by the search model at each validation (log and tensorboard ``convergence/*``) and at its end.

* ``edges_changed``: cell edges (a node's chosen input) present now but not in the previous genotype,
  over all layers; a node that swapped both inputs counts 2, one that only reordered them counts 0.
* ``ops_changed``: of the edges kept, those whose operation changed.
* ``widths_changed``: layers whose width level changed.
* ``alpha_max_mean``: the mean over layers and edges of the edge's largest softmax(alpha) entry
  (1 / number of ops when alpha is uniform, 1 when every edge has decided).
"""
from __future__ import annotations

from collections.abc import Sequence

from hinas_basicsr.space.genotype import Genotype

STABLE_WINDOW = 3  # the genotype is called stable when the last this-many validations agree


def genotype_changes(previous: Genotype, current: Genotype) -> dict[str, int]:
    """Edges, operations and width levels that changed from ``previous`` to ``current`` (same space)."""
    if previous.num_layers != current.num_layers or previous.num_nodes != current.num_nodes:
        raise ValueError(f'genotypes of different spaces: {previous.num_layers}x{previous.num_nodes} vs '
                         f'{current.num_layers}x{current.num_nodes} layers x nodes')
    edges = ops = 0
    for old_cell, new_cell in zip(previous.cells, current.cells):
        for node in range(current.num_nodes):
            old = {index: op for op, index in old_cell[2 * node:2 * node + 2]}
            new = {index: op for op, index in new_cell[2 * node:2 * node + 2]}
            edges += len(new.keys() - old.keys())
            ops += sum(new[i] != old[i] for i in new.keys() & old.keys())
    widths = sum(a != b for a, b in zip(previous.widths, current.widths))
    return {'edges_changed': edges, 'ops_changed': ops, 'widths_changed': widths}


def alpha_max_mean(alpha_softmax: Sequence[Sequence[Sequence[float]]]) -> float:
    """Mean over layers and edges of each edge's largest softmax(alpha) entry."""
    maxima = [max(edge) for layer in alpha_softmax for edge in layer]
    return sum(maxima) / len(maxima)


def stability_line(history: Sequence[Genotype], window: int = STABLE_WINDOW) -> str:
    """One line: was the genotype the same (cells and widths) over the last ``window`` validations?"""
    if len(history) < window:
        return f'Search convergence: only {len(history)} validation(s), fewer than {window}: stability not judged.'
    last = history[-window:]
    changed = [genotype_changes(a, b) for a, b in zip(last, last[1:])]
    if all(not any(c.values()) for c in changed):
        return f'Search convergence: the genotype was stable over the last {window} validations.'
    total = {k: sum(c[k] for c in changed) for k in changed[0]}
    return (f'Search convergence: the genotype was NOT stable over the last {window} validations '
            f'({total["edges_changed"]} edges, {total["ops_changed"]} ops, {total["widths_changed"]} widths changed).')
