"""A PNG drawing of a genotype: the width path over the trellis, then one panel per layer's cell."""
from __future__ import annotations

import os

from hinas_basicsr.fileio import atomic_write
from hinas_basicsr.genotype import Genotype
from hinas_basicsr.trellis import MOVES, levels_at


def _draw_path(ax, genotype: Genotype) -> None:
    num_levels, num_layers = len(genotype.width_factors), genotype.num_layers
    transitions = (genotype.search or {}).get('transitions')
    for d in range(num_layers + 1):
        for w in levels_at(d, num_levels):
            ax.plot(d, w, 'o', color='lightgray', markersize=10, zorder=1)
            if transitions is None or d == num_layers or transitions[d][w] is None:
                continue
            for move, p in zip(MOVES, transitions[d][w]):
                if p > 0:
                    ax.plot([d, d + 1], [w, w + move], '-', color='gray', alpha=0.2 + 0.8 * p, lw=0.5 + 3 * p,
                            zorder=0)
    path = [0, *genotype.widths]
    ax.plot(range(num_layers + 1), path, '-o', color='tab:red', lw=2.5, zorder=2)
    ax.set_xticks(range(num_layers + 1), ['stem'] + [f'L{i + 1}' for i in range(num_layers)])
    ax.set_yticks(range(num_levels), [f'x{f:g}' for f in genotype.width_factors])
    ax.set_xlim(-0.4, num_layers + 0.4)
    ax.set_ylim(-0.5, num_levels - 0.5)
    ax.set_title(f'width path {list(genotype.widths)}')


def _draw_cell(ax, genotype: Genotype, layer: int) -> None:
    num_nodes = genotype.num_nodes
    pos = {0: (0.0, 0.25), 1: (0.0, 0.75)}
    pos.update({2 + j: (1.0 + j, 0.5 + 0.3 * (-1) ** j) for j in range(num_nodes)})
    for k, (op, src) in enumerate(genotype.cells[layer]):
        (x0, y0), (x1, y1) = pos[src], pos[2 + k // 2]
        ax.annotate('', (x1, y1), (x0, y0), arrowprops={'arrowstyle': '->', 'color': 'tab:blue', 'lw': 1})
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.04 * (k % 2 * 2 - 1), op, fontsize=7, ha='center')
    names = {0: 's_pp', 1: 's_p', **{2 + j: f'n{j}' for j in range(num_nodes)}}
    for i, (x, y) in pos.items():
        ax.text(x, y, names[i], ha='center', va='center', fontsize=8,
                bbox={'boxstyle': 'round', 'fc': 'lightyellow' if i < 2 else 'lightblue'})
    ax.set_xlim(-0.5, num_nodes + 0.5)
    ax.set_ylim(-0.1, 1.1)
    ax.axis('off')
    ax.set_title(f'layer {layer + 1} cell (level {genotype.widths[layer]})')


def save_genotype_png(genotype: Genotype, path: str | os.PathLike) -> None:
    """Draw ``genotype`` to the PNG ``path`` atomically (temporary file in the same folder, then rename)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    num_layers = genotype.num_layers
    fig, axes = plt.subplots(1, num_layers + 1, figsize=(3.2 * (num_layers + 1), 3.0), squeeze=False)
    _draw_path(axes[0][0], genotype)
    for layer in range(num_layers):
        _draw_cell(axes[0][layer + 1], genotype, layer)
    fig.suptitle(f'HiNAS genotype: {genotype.task} x{genotype.scale}', fontsize=9)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format='png', dpi=90))
    finally:
        plt.close(fig)
