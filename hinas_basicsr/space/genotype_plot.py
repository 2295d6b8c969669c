"""A PNG drawing of a genotype: the width path over the trellis beside one left-to-right DAG per layer's cell.

The cell drawing follows DARTS's genotype plots (there made by graphviz, here by matplotlib alone):
the two inputs on the left (``c_{l-2}``, ``c_{l-1}``), the nodes in columns by their depth, the
concatenated output ``c_{l}`` on the right; every edge is an arrow labelled with its operation, each
label placed where it overlaps neither a node nor another label.
"""
from __future__ import annotations

import os

from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.trellis import MOVES, levels_at
from hinas_basicsr.utils.fileio import atomic_write

COLUMN_GAP, ROW_GAP = 4.2, 1.6  # data units between node columns and between nodes of one column
NODE_W, NODE_H = 0.9, 0.5
INCH_PER_UNIT = 0.45  # drawing scale of the cells
# Label places: along the edge (most central first), then just above or below it (data units).
LABEL_CANDIDATES = tuple((t, offset) for offset in (0.0, 0.22, -0.22, 0.42, -0.42)
                         for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85, 0.9))
INPUT_COLOUR, NODE_COLOUR, OUTPUT_COLOUR = '#fde9a9', '#bfdcf5', '#c9ecc3'


def draw_path(ax, genotype: Genotype, annotate: bool = False) -> None:
    """The width path over the trellis; beta's moves in grey (if the genotype has them), labelled if ``annotate``."""
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
                    if annotate:
                        # a third of the way along: moves that cross do so at their middle
                        ax.text(d + 0.33, w + move / 3, f'{p:.3f}', fontsize=7, ha='center', va='bottom',
                                color='dimgray', zorder=3)
    path = [0, *genotype.widths]
    ax.plot(range(num_layers + 1), path, '-o', color='tab:red', lw=2.5, zorder=2)
    ax.set_xticks(range(num_layers + 1), ['stem'] + [f'L{i + 1}' for i in range(num_layers)])
    ax.set_yticks(range(num_levels), [f'level {w}\nx{f:g}' for w, f in enumerate(genotype.width_factors)])
    ax.set_xlim(-0.4, num_layers + 0.4)
    ax.set_ylim(-0.5, num_levels - 0.5)
    ax.set_xlabel('depth')
    ax.grid(alpha=0.2)
    ax.set_title(f'width path {list(genotype.widths)}' + ('' if transitions is None else '\n(grey: beta)'),
                 fontsize=9)


def cell_layout(cell: tuple[tuple[str, int], ...], num_nodes: int) -> dict[int, tuple[float, float]]:
    """Positions of states 0, 1 (the inputs), 2 + j (node j) and -1 (the output): columns by longest path."""
    depth = {0: 0, 1: 0}
    for j in range(num_nodes):
        depth[2 + j] = 1 + max(depth[src] for _, src in cell[2 * j:2 * j + 2])
    last = max(depth.values()) + 1
    depth[-1] = last
    pos = {}
    for column in range(last + 1):
        states = [s for s in depth if depth[s] == column]
        for row, state in enumerate(sorted(states)):
            pos[state] = (column * COLUMN_GAP, ((len(states) - 1) / 2 - row) * ROW_GAP)
    return pos


def _bend(p0: tuple[float, float], p1: tuple[float, float], side: float | None = None) -> float:
    """``arc3`` curvature: straight between neighbouring columns; a longer edge bows away from the middle
    (or to ``side``: +1 up, -1 down), higher the more columns it spans, so that it passes around nodes."""
    columns = (p1[0] - p0[0]) / COLUMN_GAP
    if columns <= 1.01:
        return 0.0
    if side is None:
        mid_y = (p0[1] + p1[1]) / 2
        side = 1.0 if mid_y > 0 or (mid_y == 0 and p0[1] >= 0) else -1.0
    height = ROW_GAP * (0.5 + 0.3 * (columns - 2))  # of the curve's middle above the straight line
    # arc3 moves the control point by rad * (dy, -dx), and the curve's middle by half of that.
    return -side * 2 * height / (p1[0] - p0[0])


def cell_edges(genotype: Genotype, layer: int) -> list[tuple[int, int, str | None, float]]:
    """``(source, target, operation, arc3 curvature)`` of a cell: the searched edges, then node -> output."""
    pos = cell_layout(genotype.cells[layer], genotype.num_nodes)
    edges = [(src, 2 + k // 2, op, _bend(pos[src], pos[2 + k // 2]))
             for k, (op, src) in enumerate(genotype.cells[layer])]
    edges += [(2 + j, -1, None, _bend(pos[2 + j], pos[-1], (-1.0) ** j)) for j in range(genotype.num_nodes)]
    return edges


def cell_extent(genotype: Genotype, layer: int) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)`` in data units covering a cell's nodes, curves and edge labels."""
    pos = cell_layout(genotype.cells[layer], genotype.num_nodes)
    ys = [y for _, y in pos.values()]
    for src, dst, _, rad in cell_edges(genotype, layer):
        ys += [_on_arc(pos[src], pos[dst], rad, t)[1] for t in (0.25, 0.5, 0.75)]
    xs = [x for x, _ in pos.values()]
    return min(xs) - NODE_W * 0.6, max(xs) + NODE_W * 0.6, min(ys) - 0.45, max(ys) + 0.45


def _on_arc(p0: tuple[float, float], p1: tuple[float, float], rad: float, t: float) -> tuple[float, float]:
    """The point at parameter t of matplotlib's ``arc3`` quadratic Bezier curve (equal-aspect axes)."""
    (x0, y0), (x1, y1) = p0, p1
    cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
    a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t ** 2
    return a * x0 + b * cx + c * x1, a * y0 + b * cy + c * y1


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _draw_cell(ax, genotype: Genotype, layer: int, x_range: tuple[float, float]) -> float:
    """Draw one layer's cell; return the overlap (square pixels) its labels have with nodes and each other."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    cell = genotype.cells[layer]
    pos = cell_layout(cell, genotype.num_nodes)
    names = {0: '$c_{l-2}$', 1: '$c_{l-1}$', -1: '$c_{l}$\nconcat',
             **{2 + j: str(j) for j in range(genotype.num_nodes)}}
    boxes = {}
    for state, (x, y) in pos.items():
        colour = INPUT_COLOUR if state in (0, 1) else OUTPUT_COLOUR if state == -1 else NODE_COLOUR
        box = FancyBboxPatch((x - NODE_W / 2, y - NODE_H / 2), NODE_W, NODE_H, boxstyle='round,pad=0.05',
                             fc=colour, ec='black', lw=0.8, zorder=3)
        ax.add_patch(box)
        ax.text(x, y, names[state], ha='center', va='center', fontsize=8, zorder=4)
        boxes[state] = box

    def arrow(src: int, dst: int, rad: float, **style) -> None:
        ax.add_patch(FancyArrowPatch(pos[src], pos[dst], patchA=boxes[src], patchB=boxes[dst],
                                     connectionstyle=f'arc3,rad={rad}', arrowstyle='-|>', mutation_scale=10,
                                     shrinkA=1, shrinkB=1, zorder=2, **style))

    edges = cell_edges(genotype, layer)
    for src, dst, op, rad in edges:
        if op is None:
            arrow(src, dst, rad, color='gray', lw=0.8, linestyle=(0, (3, 2)))
    renderer = ax.figure.canvas.get_renderer()
    ax.set_aspect('equal')
    _, _, y0, y1 = cell_extent(genotype, layer)
    ax.set_xlim(*x_range)  # one scale for every layer
    ax.set_ylim(y0, y1)
    ax.apply_aspect()  # the final box, so that measured extents are those of the saved figure
    nodes = [b.get_window_extent(renderer) for b in boxes.values()]
    labels: list = []
    overlap = 0.0
    for src, dst, op, rad in edges:
        if op is None:
            continue
        arrow(src, dst, rad, color='tab:blue', lw=1.1)
        best = None
        for t, offset in LABEL_CANDIDATES:
            x, y = _on_arc(pos[src], pos[dst], rad, t)
            text = ax.text(x, y + offset, op, ha='center', va='center', fontsize=7, color='navy', zorder=5,
                           bbox={'boxstyle': 'round,pad=0.15', 'fc': 'white', 'ec': 'none', 'alpha': 0.9})
            extent = text.get_window_extent(renderer).expanded(1.2, 1.4)  # a margin between labels
            # Covering a node is worse than touching another label.
            clash = 3 * sum(_overlap(extent, n) for n in nodes) + sum(_overlap(extent, o) for o in labels)
            if best is None or clash < best[0]:
                if best is not None:
                    best[1].remove()
                best = (clash, text, extent)
            else:
                text.remove()
            if clash == 0:
                break
        labels.append(best[2])
        overlap += best[0]
    ax.axis('off')
    level = genotype.widths[layer]
    ax.set_title(f'layer {layer + 1} cell: level {level} (x{genotype.width_factors[level]:g} width)', fontsize=9)
    return overlap


def genotype_figure(genotype: Genotype):
    """The drawing of ``genotype`` (a matplotlib Figure: the width path, then each layer's cell as a DAG) and
    the overlap, in square pixels, left between its edge labels and the nodes or other labels (0: none)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    num_layers = genotype.num_layers
    extents = [cell_extent(genotype, layer) for layer in range(num_layers)]
    cell_w = (max(e[1] for e in extents) - min(e[0] for e in extents)) * INCH_PER_UNIT
    cell_hs = [(y1 - y0) * INCH_PER_UNIT + 0.45 for _, _, y0, y1 in extents]  # + the title
    width, height = 3.4 + cell_w, max(0.9 + sum(cell_hs), 3.5)
    fig = plt.figure(figsize=(width, height))
    # Fixed margins, no automatic layout: label placement measures text on the final geometry.
    grid = fig.add_gridspec(num_layers, 2, width_ratios=[3.0, cell_w], height_ratios=cell_hs, left=0.9 / width,
                            right=0.99, bottom=0.5 / height, top=1 - 0.7 / height, wspace=0.08, hspace=0.08)
    draw_path(fig.add_subplot(grid[:, 0]), genotype)
    x_range = (min(e[0] for e in extents), max(e[1] for e in extents))
    overlap = sum(_draw_cell(fig.add_subplot(grid[layer, 1]), genotype, layer, x_range) for layer in range(num_layers))
    search = genotype.search or {}
    extra = f", search iteration {search['iteration']}" if search.get('iteration') is not None else ''
    fig.suptitle(f'HiNAS genotype: {genotype.task} x{genotype.scale}, {num_layers} layers, '
                 f'{genotype.num_nodes} nodes per cell{extra}', fontsize=10)
    return fig, overlap


def save_genotype_png(genotype: Genotype, path: str | os.PathLike) -> None:
    """Draw ``genotype`` to the PNG ``path`` atomically (see :func:`genotype_figure`)."""
    import matplotlib.pyplot as plt

    fig, _ = genotype_figure(genotype)
    try:
        atomic_write(os.fspath(path), lambda tmp: fig.savefig(tmp, format='png', dpi=110))
    finally:
        plt.close(fig)
