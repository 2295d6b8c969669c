"""A search's course in pictures, drawn from the files it left: ``hinas report experiments/<search>``.

Nothing is re-run. The sources are the experiment folder's ``genotypes/iter_<N>.json`` (each with the ``search``
field the search model writes at every validation: softmax(alpha), the beta transitions, val PSNR/SSIM), its
``best.json``, and BasicSR's ``train_<name>_<time>.log`` files (the training losses; several after a resume).

``report.png`` has these panels:

* validation PSNR and SSIM against iteration (the best validation marked);
* the training losses the log printed (``l_pix``, ``l_ssim``, ``l_arch``, ...);
* how decided alpha is: ``alpha_max_mean`` (1 / number of ops when uniform) and the mean entropy per layer;
* softmax(beta) of each move along the found width path, per layer (the chosen move solid, the others dotted);
* how many edges, operations and widths changed between consecutive validations;
* the found genotype's drawing (``best.json``, or the last validation's genotype without one).

The search model also sends two of these pictures to tensorboard at every validation (:func:`alpha_figure`,
:func:`trellis_figure`).
"""
from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hinas_basicsr.search.convergence import alpha_max_mean, genotype_changes
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.genotype_plot import draw_path, genotype_figure
from hinas_basicsr.space.trellis import MOVE_NAMES, MOVES, node_edges
from hinas_basicsr.utils.fileio import atomic_write

ITER_FILE = re.compile(r'iter_(\d+)\.json$')
# BasicSR's message logger: "[name..][epoch:  3, iter:     120, lr:(...)] [eta: ...] l_pix: 1.2e-01 l_ssim: ..."
LOG_LINE = re.compile(r'\[epoch:\s*\d+, iter:\s*([\d,]+), lr:\(.*?\)\] \[eta: [^\]]*\] (.*)$')
INPUT_NAMES = ('c_{l-2}', 'c_{l-1}')  # cell inputs 0 and 1, as the genotype drawing names them
LOSS_ITEM = re.compile(r'(\w+): ([-+0-9.eE]+|nan|inf)')


@dataclass(frozen=True)
class SearchCourse:
    """What a search left: its validations' genotypes in iteration order, the found one, the logged losses.

    Args:
        experiment (str): The experiment folder.
        iterations (tuple[int]): The validations' iterations, ascending.
        genotypes (tuple[Genotype]): The genotype of each validation (with its ``search`` field).
        found (Genotype): ``best.json``, or the last validation's genotype where there is none.
        found_name (str): ``best.json`` or ``iter_<N>.json``.
        losses (dict[str, tuple[tuple[int, float], ...]]): Per logged loss name, (iteration, value) pairs.
    """

    experiment: str
    iterations: tuple[int, ...]
    genotypes: tuple[Genotype, ...]
    found: Genotype
    found_name: str
    losses: dict[str, tuple[tuple[int, float], ...]]


def read_log_losses(paths: Sequence[str]) -> dict[str, tuple[tuple[int, float], ...]]:
    """The losses BasicSR's logger printed, per name, as (iteration, value); later files win (a resume)."""
    values: dict[str, dict[int, float]] = {}
    for path in sorted(paths):
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                match = LOG_LINE.search(line)
                if match is None:
                    continue
                iteration = int(match.group(1).replace(',', ''))
                for name, value in LOSS_ITEM.findall(match.group(2)):
                    values.setdefault(name, {})[iteration] = float(value)
    return {name: tuple(sorted(points.items())) for name, points in sorted(values.items())}


SPACE_FIELDS = ('task', 'num_layers', 'num_nodes', 'ops', 'width_factors')


def search_space(genotype: Genotype) -> tuple[object, ...]:
    """What a genotype's search searched among: its task, layers, nodes, candidate ops and width factors."""
    return tuple(getattr(genotype, key) for key in SPACE_FIELDS)


def _space_difference(genotype: Genotype, other: Genotype) -> str:
    key = next(k for k in SPACE_FIELDS if getattr(genotype, k) != getattr(other, k))
    return f'{key} {_short(getattr(genotype, key))} against {_short(getattr(other, key))}'


def _short(value: object) -> str:
    text = str(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= 40 else text[:37] + '...'


def load_search_course(experiment: str) -> SearchCourse:
    """Read an experiment folder of ``HiNASSearchModel`` (see the module docstring); ValueError when it is none."""
    if not os.path.isdir(experiment):
        raise ValueError(f'{experiment}: not a folder (give experiments/<search name>)')
    genotype_dir = os.path.join(experiment, 'genotypes')
    found_files = {int(m.group(1)): path for path in glob.glob(os.path.join(genotype_dir, 'iter_*.json'))
                   if (m := ITER_FILE.search(os.path.basename(path)))}
    if not found_files:
        raise ValueError(f'{experiment}: no genotypes/iter_<N>.json: not a HiNAS search folder, or the search has '
                         'not validated yet')
    iterations = tuple(sorted(found_files))
    genotypes = tuple(Genotype.load(found_files[i]) for i in iterations)
    for i, genotype in zip(iterations, genotypes):
        if genotype.search is None:
            raise ValueError(f'{found_files[i]}: has no "search" field (written by hand, not by a search)')
    for i, genotype in zip(iterations, genotypes):
        if search_space(genotype) != search_space(genotypes[0]):
            raise ValueError(f'{found_files[i]}: of another search space than iter_{iterations[0]}.json '
                             f'({_space_difference(genotype, genotypes[0])}; two searches in one folder?)')
    best = os.path.join(genotype_dir, 'best.json')
    found, found_name = (Genotype.load(best), 'best.json') if os.path.isfile(best) else \
        (genotypes[-1], f'iter_{iterations[-1]}.json')
    if search_space(found) != search_space(genotypes[0]):
        raise ValueError(f'{best}: of another search space than the iter_<N>.json beside it '
                         f'({_space_difference(found, genotypes[0])})')
    losses = read_log_losses(glob.glob(os.path.join(experiment, 'train_*.log')))
    return SearchCourse(experiment, iterations, genotypes, found, found_name, losses)


def layer_entropy(alpha_softmax: Sequence[Sequence[Sequence[float]]]) -> list[float]:
    """Per layer, the mean over edges of softmax(alpha)'s entropy (nats; log(number of ops) when uniform)."""
    return [sum(-sum(p * math.log(p) for p in edge if p > 0) for edge in layer) / len(layer)
            for layer in alpha_softmax]


def path_moves(widths: Sequence[int]) -> list[tuple[int, int]]:
    """Per layer, (level left, index of the move in MOVES) of the width path, which starts at level 0."""
    levels = [0, *widths]
    return [(levels[d], MOVES.index(levels[d + 1] - levels[d])) for d in range(len(widths))]


def course_panels(course: SearchCourse) -> dict[str, object]:
    """The numbers each panel of ``report.png`` draws, per validation (tests compare them with the files)."""
    moves = path_moves(course.found.widths)
    beta = []  # [validation][layer] -> the three move probabilities at the found path's position (None off-grid)
    for g in course.genotypes:
        transitions = g.search['transitions']
        beta.append([list(transitions[d][level]) for d, (level, _) in enumerate(moves)])
    changes = [genotype_changes(a, b) for a, b in zip(course.genotypes, course.genotypes[1:])]
    return {
        'iterations': list(course.iterations),
        'val_psnr': [g.search.get('val_psnr') for g in course.genotypes],
        'val_ssim': [g.search.get('val_ssim') for g in course.genotypes],
        'alpha_max_mean': [alpha_max_mean(g.search['alpha_softmax']) for g in course.genotypes],
        'entropy': [layer_entropy(g.search['alpha_softmax']) for g in course.genotypes],
        'beta_path': beta,
        'path_moves': moves,
        'changes': changes,  # between validation k and k + 1
        'losses': course.losses,
    }


def end_state(course: SearchCourse) -> dict[str, object]:
    """Whether alpha and beta decided, at the search's last validation.

    ``entropy``: the mean over layers and edges of softmax(alpha)'s entropy (nats), beside ``entropy_uniform``
    (log of the number of operations); ``alpha_max_mean`` beside ``alpha_max_mean_uniform`` (1 / number of
    operations); ``beta_path``: per layer, softmax(beta) of the move the found width path takes; ``last_change``:
    the validation from which on the genotype (cells and widths) stayed the same to the end (the first validation
    when it never changed); ``validations``: their number.
    """
    panels = course_panels(course)
    alpha = course.genotypes[-1].search['alpha_softmax']
    num_ops = len(alpha[0][0])
    entropy = panels['entropy'][-1]
    changed = [it for it, c in zip(course.iterations[1:], panels['changes']) if any(c.values())]
    return {
        'experiment': course.experiment,
        'iteration': course.iterations[-1],
        'validations': len(course.iterations),
        'entropy': sum(entropy) / len(entropy),
        'entropy_uniform': math.log(num_ops),
        'alpha_max_mean': panels['alpha_max_mean'][-1],
        'alpha_max_mean_uniform': 1 / num_ops,
        'beta_path': [row[move] for row, (_, move) in zip(panels['beta_path'][-1], panels['path_moves'])],
        'last_change': changed[-1] if changed else course.iterations[0],
        'found': course.found_name,
    }


def end_state_line(state: dict[str, object]) -> str:
    """``end_state`` in one line, as ``hinas report`` prints it."""
    beta = ' '.join(f'{p:.2f}' for p in state['beta_path'])
    return (f'{state["experiment"]}: at iteration {state["iteration"]} ({state["validations"]} validations) '
            f'entropy {state["entropy"]:.4f} nats (uniform {state["entropy_uniform"]:.4f}), alpha_max_mean '
            f'{state["alpha_max_mean"]:.3f} (uniform {state["alpha_max_mean_uniform"]:.3f}), softmax(beta) along '
            f'the found path {beta}; the genotype has not changed since iteration {state["last_change"]}')


def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def _genotype_image(genotype: Genotype):
    """The genotype drawing (hinas_basicsr.space.genotype_plot) as an RGBA array, to place in a panel."""
    import numpy as np

    plt = _pyplot()
    fig, _ = genotype_figure(genotype)
    try:
        fig.set_dpi(100)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()
    finally:
        plt.close(fig)


def report_figure(course: SearchCourse):
    """The figure of ``report.png`` (see the module docstring)."""
    plt = _pyplot()
    panels = course_panels(course)
    its = panels['iterations']
    genotype_image = _genotype_image(course.found)
    image_h = 11.0 * genotype_image.shape[0] / genotype_image.shape[1]
    fig = plt.figure(figsize=(11, 10.5 + image_h))
    grid = fig.add_gridspec(4, 2, height_ratios=[3, 3, 3, image_h], hspace=0.45, wspace=0.42,
                            left=0.07, right=0.93, top=1 - 0.7 / (10.5 + image_h), bottom=0.02)
    name = os.path.basename(os.path.normpath(course.experiment))
    fig.suptitle(f'HiNAS search {name}: {len(its)} validations, iterations {its[0]} to {its[-1]}', fontsize=12)

    ax = fig.add_subplot(grid[0, 0])
    ax.set_title('validation PSNR / SSIM (held-out split)', fontsize=10)
    psnr = [(i, v) for i, v in zip(its, panels['val_psnr']) if v is not None]
    ssim = [(i, v) for i, v in zip(its, panels['val_ssim']) if v is not None]
    if psnr:
        ax.plot(*zip(*psnr), '-o', color='tab:blue', ms=3, label='PSNR')
    ax.set_xlabel('iteration')
    ax.set_ylabel('PSNR (dB)', color='tab:blue')
    twin = ax.twinx()
    if ssim:
        twin.plot(*zip(*ssim), '-s', color='tab:orange', ms=3, label='SSIM')
    twin.set_ylabel('SSIM', color='tab:orange')
    found_it = (course.found.search or {}).get('iteration')
    if found_it is not None:
        ax.axvline(found_it, color='tab:red', ls='--', lw=1)
        ax.text(found_it, ax.get_ylim()[0], f' {course.found_name}', color='tab:red', fontsize=8, va='bottom')

    ax = fig.add_subplot(grid[0, 1])
    ax.set_title('training losses (from the log)', fontsize=10)
    for loss_name, points in panels['losses'].items():
        ax.plot(*zip(*points), lw=1, label=loss_name)
    if panels['losses']:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, 'no train_*.log in the folder', ha='center', va='center', transform=ax.transAxes)
    ax.set_xlabel('iteration')

    ax = fig.add_subplot(grid[1, 0])
    n_ops = len(course.found.ops)
    ax.set_title(f'how decided alpha is (uniform: 1/{n_ops} = {1 / n_ops:.3f}, log {n_ops} = '
                 f'{math.log(n_ops):.3f} nats)', fontsize=10)
    ax.plot(its, panels['alpha_max_mean'], '-o', color='black', ms=3, label='alpha_max_mean')
    ax.axhline(1 / n_ops, color='black', ls=':', lw=1)
    ax.set_ylabel('alpha_max_mean')
    ax.set_xlabel('iteration')
    twin = ax.twinx()
    for layer in range(course.found.num_layers):
        twin.plot(its, [e[layer] for e in panels['entropy']], '--', lw=1, label=f'entropy, layer {layer + 1}')
    twin.set_ylabel('mean entropy per layer (nats)')
    twin.ticklabel_format(axis='y', useOffset=False)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=7, loc='center right')

    ax = fig.add_subplot(grid[1, 1])
    ax.set_title(f'softmax(beta) along the found path {list(course.found.widths)}', fontsize=10)
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for d, (level, chosen) in enumerate(panels['path_moves']):
        colour = colours[d % len(colours)]
        for m, move_name in enumerate(MOVE_NAMES):
            values = [row[d][m] for row in panels['beta_path']]
            if m == chosen:
                ax.plot(its, values, '-o', color=colour, ms=3,
                        label=f'layer {d + 1}: level {level} -> {level + MOVES[m]} ({move_name})')
            elif any(v > 0 for v in values):
                ax.plot(its, values, ':', color=colour, lw=1, label=f'layer {d + 1}: {move_name}')
    ax.set_ylim(0, 1)
    ax.set_ylabel('probability')
    ax.set_xlabel('iteration')
    ax.legend(fontsize=7)

    ax = fig.add_subplot(grid[2, 0])
    ax.set_title('genotype changes since the previous validation', fontsize=10)
    if panels['changes']:
        x = list(range(1, len(its)))
        for k, (key, label) in enumerate((('edges_changed', 'edges'), ('ops_changed', 'operations'),
                                         ('widths_changed', 'widths'))):
            ax.bar([i + (k - 1) * 0.27 for i in x], [c[key] for c in panels['changes']], width=0.27, label=label)
        step = max(1, len(x) // 12)
        ax.set_xticks(x[::step], [str(its[i]) for i in x[::step]], fontsize=8)
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, 'one validation only', ha='center', va='center', transform=ax.transAxes)
    ax.set_xlabel('iteration')

    ax = fig.add_subplot(grid[2, 1])
    ax.axis('off')
    ax.set_title('summary', fontsize=10)
    last = panels['changes'][-3:] if len(panels['changes']) >= 1 else []
    # changes[k] is between validations k and k + 1: the genotype is the final one since the first k after which
    # nothing changed
    settled = next((its[k] for k in range(len(panels['changes'])) if
                    not any(any(c.values()) for c in panels['changes'][k:])), None)
    lines = [f'found: {course.found_name}' + (f' (iteration {found_it})' if found_it is not None else ''),
             f'widths {list(course.found.widths)}',
             *(f'layer {i + 1}: ' + ', '.join(f'{op}<-{idx}' for op, idx in cell)
               for i, cell in enumerate(course.found.cells)),
             f'alpha_max_mean: {panels["alpha_max_mean"][0]:.4f} -> {panels["alpha_max_mean"][-1]:.4f}',
             f'the genotype is the same since iteration {settled}' if settled is not None else
             'the genotype changed up to the last validation',
             f'changes over the last {len(last)} intervals: '
             f'{sum(sum(c.values()) for c in last)}' if last else '']
    ax.text(0, 1, '\n'.join(lines), va='top', ha='left', fontsize=8, family='monospace', transform=ax.transAxes,
            wrap=True)

    ax = fig.add_subplot(grid[3, :])
    ax.imshow(genotype_image)
    ax.axis('off')
    ax.set_title(f'found genotype ({course.found_name})', fontsize=10)
    return fig


def save_report(experiment: str, out: str | None = None, course: SearchCourse | None = None) -> str:
    """Write ``report.png`` (default: inside ``experiment``) from the search's files, or from their ``course``
    already read; returns its path."""
    out = out or os.path.join(experiment, 'report.png')
    course = course or load_search_course(experiment)  # everything read and checked before anything is written
    plt = _pyplot()
    fig = report_figure(course)
    try:
        atomic_write(out, lambda tmp: fig.savefig(tmp, format='png', dpi=90))
    finally:
        plt.close(fig)
    return out


def alpha_figure(genotype: Genotype):
    """softmax(alpha) as one heatmap per layer (edges by operations), for tensorboard at each validation."""
    import numpy as np

    plt = _pyplot()
    alpha = np.asarray(genotype.search['alpha_softmax'], dtype=float)
    num_layers, num_edges, n_ops = alpha.shape
    ranges = node_edges(genotype.num_nodes)
    edge_names = [f'{INPUT_NAMES[i] if i < 2 else f"n{i - 2}"} -> n{j}' for j, r in enumerate(ranges)
                  for i in range(len(r))]
    fig, axes = plt.subplots(1, num_layers, figsize=(2.0 + 2.4 * num_layers, 2.2 + 0.28 * num_edges), squeeze=False,
                             sharey=True, layout='constrained')
    low, high = 1 / n_ops - 0.01, max(alpha.max(), 1 / n_ops + 0.01)
    for layer, ax in enumerate(axes[0]):
        image = ax.imshow(alpha[layer], vmin=low, vmax=high, cmap='viridis', aspect='auto')
        ax.set_xticks(range(n_ops), list(genotype.ops), rotation=60, ha='right', fontsize=7)
        ax.set_yticks(range(num_edges), edge_names, fontsize=7)
        ax.tick_params(axis='y', labelleft=layer == 0)
        chosen = [(ranges[j][idx], genotype.ops.index(op)) for j in range(genotype.num_nodes)
                  for op, idx in genotype.cells[layer][2 * j:2 * j + 2]]
        for edge, op in chosen:
            ax.add_patch(plt.Rectangle((op - 0.5, edge - 0.5), 1, 1, fill=False, color='red', lw=1.2))
        ax.set_title(f'layer {layer + 1}', fontsize=8)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.05, label='softmax(alpha)')
    it = genotype.search.get('iteration')
    fig.suptitle(f'softmax(alpha) at iteration {it} (red: decoded)', fontsize=9)
    return fig


def trellis_figure(genotype: Genotype):
    """The trellis with softmax(beta) on its moves and the decoded width path, for tensorboard."""

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * genotype.num_layers, 2.8))
    draw_path(ax, genotype, annotate=True)
    fig.tight_layout()
    return fig
