"""The supernet's cell computed the straightforward DARTS way: the reference implementation's stand-in.

``PlainCell`` holds a :class:`~hinas_basicsr.archs.search_cell.Cell`'s edges (the same parameters and BN buffers) and
computes ``sum_k w_k * op_k(x)`` on every edge, nothing fused: ``benchmarks/search_step.py`` times it as ``plain``,
and the tests use it as the oracle of the fused cell.
"""
from __future__ import annotations

import torch
from torch import nn

from hinas_basicsr.archs.search_cell import Cell
from hinas_basicsr.space.trellis import node_edges


class PlainCell(nn.Module):
    """The cell computed the straightforward DARTS way: ``sum_k w_k * op_k(x)`` on every edge, nothing fused.

    It holds a :class:`Cell`'s edges (the same parameters and BN buffers) and computes what that cell
    computes; it is the stand-in for the reference implementation in benchmarks and the oracle in tests.

    Args:
        cell (Cell): The cell whose edges it computes.
    """

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        self.num_nodes, self.edges = cell.num_nodes, cell.edges

    def forward(self, s_prev_prev: torch.Tensor, s_prev: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [s_prev_prev, s_prev]
        for edges in node_edges(self.num_nodes):
            states.append(sum(self.edges[e](s, weights[e]) for e, s in zip(edges, states)))
        return torch.cat(states[2:], dim=1)


def use_plain_cells(net: nn.Module) -> nn.Module:
    """Replace every :class:`Cell` inside ``net`` by a :class:`PlainCell` on the same edges; return ``net``."""
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Cell):
                setattr(module, name, PlainCell(child))
    return net
