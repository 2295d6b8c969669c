"""The trained supernet as a judge of architectures, and selection by the supernet's validation.

* **Inherited weights** (Yu et al., "Evaluating the search phase of neural architecture search", ICLR 2020): a
  genotype's validation PSNR in the trained supernet with alpha and beta made one-hot on it
  (:func:`one_hot_weights`, :meth:`SearchJudge.inherited_psnr`): every edge the genotype does not use has weight
  0, every operation it does not choose weight 0, every move off its path weight 0, and the head of every
  last-layer level but the path's end weight 0, so only the genotype's own operations compute the output (and
  only they get gradients). BatchNorm normalises with each validation image's own statistics (``bn='batch'``,
  as the supernets of NAS-Bench-201 and DARTS-PT, which keep no running statistics): the supernet's running
  statistics were gathered under the mixture. ``bn='calibrate'`` recomputes them for each net on a few A-split
  training batches instead, ``bn='running'`` keeps the supernet's. :func:`kendall_tau` compares the ranking
  with stand-alone PSNRs.
* **Selection by perturbation** (DARTS-PT: Wang et al., "Rethinking architecture selection in differentiable
  NAS", ICLR 2021), :meth:`SearchJudge.perturbation_selection`: edge by edge in a random order, the operation
  whose removal from the mixture (its weight set to 0) lowers the supernet's validation PSNR most is kept and
  the edge is made one-hot on it; then node by node, the two incoming edges whose removal lowers it most are
  kept. The width path is then the one whose one-hot beta (with those cells) gives the best validation PSNR
  (:meth:`SearchJudge.best_widths`, every valid path tried). DARTS-PT fine-tunes the supernet between
  decisions; a ``between`` callback may do so here (the search model passes none).

``train.selection_opt: {type: perturbation}`` makes the search model use it at the end of the search (docs/remedies.md);
:func:`hinas_basicsr.research.judge.judge_of_search` loads a finished search for the benchmark.
"""
from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from hinas_basicsr.archs.search_cell import buffers_restored
from hinas_basicsr.space.genotype import Cell, Genotype, decode_cell
from hinas_basicsr.space.trellis import MOVES, count_paths, levels_at, node_edges, num_edges, valid_paths
from hinas_basicsr.utils.options_file import component_options, refuse_replaced_keys

BN_MODES = ('batch', 'calibrate', 'running')
DEFAULT_CALIB_BATCHES = 8
SELECTION_GROUP = 'selection_opt'  # train.selection_opt: how the search picks its final genotype
MAX_JUDGED_PATHS = 1_000  # perturbation's best_widths validates every width path: 12 layers of 3 widths have 33,461
SELECTION_TYPES = {'alpha': {},  # the reference: the largest alpha and the Viterbi path (the default)
                   'perturbation': {'bn': 'batch', 'calib_batches': DEFAULT_CALIB_BATCHES, 'val_batches': None,
                                    'val_crop': None}}
SELECTIONS = tuple(SELECTION_TYPES)
SELECTION_REPLACED = {'selection': 'type', 'selection_bn': 'bn', 'selection_calib_batches': 'calib_batches',
                      'selection_val_batches': 'val_batches',
                      'selection_val_crop': 'val_crop'}  # the flat train keys before train.selection_opt


def check_selection_options(train_opt: Mapping[str, Any]) -> dict[str, Any]:
    """How the search picks its final genotype, ``train.selection_opt: {type: alpha | perturbation, bn,
    calib_batches, val_batches, val_crop}``, with its defaults filled in (``{'type': 'alpha'}`` when the group is
    absent). Refuses bad values, and the flat keys it replaced (``train.selection``, ``train.selection_*``), in
    one line (ValueError naming the option)."""
    refuse_replaced_keys(train_opt, 'train', 'selection', SELECTION_GROUP, 'perturbation', SELECTION_REPLACED,
                         'docs/remedies.md')
    spec = train_opt.get(SELECTION_GROUP)
    opt = component_options(f'train.{SELECTION_GROUP}', {'type': 'alpha'} if spec is None else spec,
                            SELECTION_TYPES)
    if opt['type'] == 'perturbation':
        if opt['bn'] not in BN_MODES:
            raise ValueError(f'train.{SELECTION_GROUP}.bn: {opt["bn"]!r} is not one of {", ".join(BN_MODES)}')
        for key, low in (('calib_batches', 0), ('val_batches', 1), ('val_crop', 1)):
            value = opt[key]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ValueError(f'train.{SELECTION_GROUP}.{key}: expected an integer >= {low}, got {value!r}')
    return opt


def check_judged_paths(num_layers: int, num_levels: int) -> None:
    """Selection by perturbation picks the width path by validating each one-hot (:meth:`SearchJudge.best_widths`):
    refuse a supernet of more than ``MAX_JUDGED_PATHS`` paths, before the search spends its hours."""
    paths = count_paths(num_layers, num_levels)
    if paths > MAX_JUDGED_PATHS:
        raise ValueError(f'train.{SELECTION_GROUP}: type perturbation validates every width path, {paths:,} at '
                         f'network_g.num_layers {num_layers} of {num_levels} widths; at most {MAX_JUDGED_PATHS:,} '
                         f'(type alpha decodes the path from beta)')


class Selection(NamedTuple):
    """A genotype chosen by the supernet's validation, and what the choice measured (its search record)."""

    genotype: Genotype
    record: dict[str, Any]


def one_hot_weights(genotype: Genotype) -> tuple[torch.Tensor, torch.Tensor]:
    """The genotype as mixture weights: cell weights (L, E, n_ops) and transitions (L, W, 3).

    A chosen (operation, input) pair has weight 1 on its edge (2 if a node chose the same pair twice); an edge
    no node uses is one-hot on ``none`` where the space has it (all zeros otherwise); each move of the path has
    probability 1, every other move (from the path's positions and from every other position) 0.
    """
    ops = list(genotype.ops)
    cells = torch.zeros(genotype.num_layers, num_edges(genotype.num_nodes), len(ops))
    for layer, cell in enumerate(genotype.cells):
        for k, (op, index) in enumerate(cell):
            cells[layer, node_edges(genotype.num_nodes)[k // 2][index], ops.index(op)] += 1
    if 'none' in ops:
        unused = cells.sum(-1) == 0
        cells[..., ops.index('none')] += unused.float()
    num_levels = len(genotype.width_factors)
    transitions = torch.zeros(genotype.num_layers, num_levels, len(MOVES))
    level = 0
    for layer, target in enumerate(genotype.widths):
        transitions[layer, level, MOVES.index(target - level)] = 1
        level = target
    return cells, transitions


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists (1: the same ranking, -1: reversed, about 0: unrelated)."""
    from scipy.stats import kendalltau

    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f'kendall_tau: needs two lists of equal length >= 2, got {len(x)} and {len(y)}')
    return float(kendalltau(list(x), list(y)).statistic)


def supernet_of(model_or_net: Any) -> nn.Module:
    """The bare ``HiNASSupernet`` of a search model (``HiNASSearchModel``) or of a (DDP-wrapped) supernet."""
    net = model_or_net.get_bare_model(model_or_net.net_g) if hasattr(model_or_net, 'net_g') else model_or_net
    net = getattr(net, 'module', net)
    if not hasattr(net, 'fixed_architecture'):
        raise ValueError(f'search_judge: {type(net).__name__} is not a HiNASSupernet')
    return net


def take_batches(loader: Iterable[Mapping[str, torch.Tensor]], count: int | None) -> list[Mapping[str, torch.Tensor]]:
    """``count`` batches of ``loader`` (one pass with None; passes again while it yields fewer, as a training
    loader of random crops gives new ones each pass), kept so every candidate sees the same data."""
    if count is None:
        return list(loader)
    batches: list[Mapping[str, torch.Tensor]] = []
    while len(batches) < count:
        more = list(itertools.islice(loader, count - len(batches)))
        if not more:
            break
        batches += more
    return batches


class SearchJudge:
    """Validation PSNR of a trained supernet under given mixture weights, one-hot genotypes and selections.

    Args:
        net (HiNASSupernet | HiNASSearchModel): The trained supernet (or the search model holding it).
        val_batches (iterable): Validation batches (dicts with ``lq`` and ``gt``, BasicSR's), e.g. the search's
            val loader; read once and kept.
        crop_border (int): Border cropped before the PSNR (BasicSR's ``crop_border``). Default: 0.
        test_y_channel (bool): PSNR on the Y channel (RGB images). Default: True.
        bn (str): BatchNorm statistics while scoring: ``batch`` (each val batch's own; the running statistics are
            left alone), ``calibrate`` (recomputed on ``calibration`` for each one-hot net and after each
            perturbation decision) or ``running`` (the supernet's). Default: 'batch'.
        calibration (iterable | None): Training batches (dicts with ``lq``) for ``bn='calibrate'``. Default: None.
        val_crop (int | None): Score on the central ``val_crop`` x ``val_crop`` LR pixels of each val image (and
            the GT pixels they map to); None: the whole images. Default: None.
    """

    def __init__(self, net: Any, val_batches: Iterable[Mapping[str, torch.Tensor]], crop_border: int = 0,
                 test_y_channel: bool = True, bn: str = 'batch',
                 calibration: Iterable[Mapping[str, torch.Tensor]] | None = None, val_crop: int | None = None) -> None:
        self.net = supernet_of(net)
        self.device = next(self.net.parameters()).device
        self.val = [center_crop(b['lq'], b['gt'], val_crop) for b in val_batches]
        if not self.val:
            raise ValueError('search_judge: the validation loader yields no batch')
        if bn not in BN_MODES:
            raise ValueError(f'search_judge: bn {bn!r} is not one of {", ".join(BN_MODES)}')
        self.calibration = [b['lq'] for b in calibration] if calibration is not None else []
        if bn == 'calibrate' and not self.calibration:
            raise ValueError("search_judge: bn 'calibrate' needs calibration batches")
        self.bn = bn
        self.crop_border, self.test_y_channel = int(crop_border), bool(test_y_channel)

    # --- construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_model(cls, model: Any, val_loader: Iterable[Mapping[str, torch.Tensor]], bn: str = 'batch',
                   calib_batches: int = DEFAULT_CALIB_BATCHES, val_batches: int | None = None,
                   val_crop: int | None = None) -> SearchJudge:
        """A judge of a search model's supernet: PSNR as its ``val.metrics.psnr`` on the first ``val_batches``
        batches of ``val_loader`` (all with None); ``bn='calibrate'`` on ``calib_batches`` A-split batches."""
        crop_border, y = psnr_options(model.opt)
        calibration = None
        if bn == 'calibrate':
            from torch.utils.data import DataLoader

            set_opt = model.opt['datasets']['train']
            loader = DataLoader(model.arch_set, batch_size=int(set_opt['batch_size_per_gpu']), shuffle=True,
                                generator=torch.Generator().manual_seed(int(model.opt.get('manual_seed') or 0)))
            calibration = take_batches(loader, calib_batches)
        return cls(model, take_batches(val_loader, val_batches), crop_border, y, bn, calibration, val_crop)

    # --- scoring ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def psnr(self, cell_weights: torch.Tensor, transitions: torch.Tensor) -> float:
        """Mean validation PSNR of the supernet mixing with these weights (BN statistics as ``bn`` says)."""
        from basicsr.metrics.psnr_ssim import calculate_psnr_pt

        net, was_training = self.net, self.net.training
        net.train(self.bn == 'batch')
        scores = []
        try:
            with buffers_restored(net) if self.bn == 'batch' else contextlib.nullcontext(), \
                    net.fixed_architecture(cell_weights.to(self.device), transitions.to(self.device)):
                for lq, gt in self.val:
                    out = net(lq.to(self.device)).clamp(0, 1)
                    gt = gt.to(self.device)[..., :out.shape[-2], :out.shape[-1]]
                    y = self.test_y_channel and out.shape[1] == 3
                    scores += calculate_psnr_pt(out, gt, self.crop_border, test_y_channel=y).tolist()
        finally:
            net.train(was_training)
        return sum(scores) / len(scores)

    @torch.no_grad()
    def recalibrate(self, cell_weights: torch.Tensor, transitions: torch.Tensor) -> None:
        """Recompute every BatchNorm's running statistics (a cumulative average) on the calibration batches,
        for the supernet mixing with these weights, with ``bn='calibrate'`` (nothing happens otherwise)."""
        if self.bn != 'calibrate':
            return
        net, was_training = self.net, self.net.training
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        net.train()
        try:
            with net.fixed_architecture(cell_weights.to(self.device), transitions.to(self.device)):
                for lq in self.calibration:
                    net(lq.to(self.device))
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            net.train(was_training)

    def inherited_psnr(self, genotype: Genotype) -> float:
        """The genotype's validation PSNR with the supernet's weights (alpha and beta one-hot on it); the
        supernet's own BatchNorm statistics are left as they were."""
        self.check_space(genotype)
        cells, transitions = one_hot_weights(genotype)
        with buffers_restored(self.net):
            self.recalibrate(cells, transitions)
            return self.psnr(cells, transitions)

    def check_space(self, genotype: Genotype) -> None:
        """Refuse a genotype from another search space than the supernet's."""
        net = self.net
        ours = (net.task, net.num_in_ch, net.num_nodes, tuple(net.width_factors), tuple(net.op_names), net.num_layers)
        theirs = (genotype.task, genotype.num_in_ch, genotype.num_nodes, tuple(genotype.width_factors),
                  tuple(genotype.ops), genotype.num_layers)
        if ours != theirs:
            raise ValueError(f'search_judge: the genotype (task, channels, nodes, width factors, ops, layers) {theirs} '
                             f'is not from the supernet\'s space {ours}')

    # --- selection ----------------------------------------------------------------------------------------------
    def best_widths(self, cells: Sequence[Cell]) -> tuple[tuple[int, ...], dict[str, float]]:
        """The width path whose one-hot beta (with ``cells`` one-hot) gives the best validation PSNR, and the
        PSNR of every valid path (keys ``"0,1"``); ties go to the first path in lexicographic order."""
        net = self.net
        scores: dict[str, float] = {}
        best: tuple[float, tuple[int, ...]] | None = None
        for path in valid_paths(net.num_layers, len(net.channels)):
            score = self.inherited_psnr(self._genotype(cells, path))
            scores[','.join(map(str, path))] = score
            if best is None or score > best[0]:
                best = (score, path)
        return best[1], scores

    def perturbation_selection(self, seed: int = 0, between: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
                               iteration: int | None = None, **record_info: Any) -> Selection:
        """The genotype DARTS-PT's perturbation selects (module docstring), with the widths of
        :meth:`best_widths`. ``between(cell_weights, transitions)`` runs after each decision (e.g. a short
        fine-tuning of the supernet's weights; BN statistics are recomputed after it). The supernet's BN
        statistics are restored at the end. The genotype's ``search`` holds its one-hot weights (so it decodes to
        itself) and the search's ``iteration``; the record, what the selection measured: the supernet's own
        ``alpha_softmax``/``transitions`` under ``supernet``, the PSNR costs of every removal, the PSNR of every
        path, the ``seed`` and ``record_info``."""
        net = self.net
        with torch.no_grad():
            rows = torch.softmax(net.alpha.detach().float(), dim=-1).cpu()  # (L or 1, E, n): the decisions' rows
            transitions = net.transition_probs().detach().float().cpu()
        ops = list(net.op_names)
        choosable = [k for k, name in enumerate(ops) if name != 'none']
        rng = random.Random(seed)

        def weights() -> torch.Tensor:
            return rows.expand(net.num_layers, -1, -1) if rows.shape[0] != net.num_layers else rows

        def decided() -> None:
            if between is not None:
                between(weights(), transitions)
            self.recalibrate(weights(), transitions)

        op_costs: list[list[dict[str, float]]] = [[{} for _ in range(rows.shape[1])] for _ in range(rows.shape[0])]
        edge_costs: list[list[float | None]] = [[None] * rows.shape[1] for _ in range(rows.shape[0])]
        with buffers_restored(net):
            self.recalibrate(weights(), transitions)
            edges = [(a, e) for a in range(rows.shape[0]) for e in range(rows.shape[1])]
            rng.shuffle(edges)
            for a, e in edges:
                base = self.psnr(weights(), transitions)
                costs = {}
                for k in choosable:
                    removed = rows.clone()
                    removed[a, e, k] = 0
                    costs[k] = base - self._psnr_rows(removed, transitions)
                best = max(choosable, key=lambda k: costs[k])
                op_costs[a][e] = {ops[k]: round(c, 6) for k, c in costs.items()}
                rows[a, e] = 0
                rows[a, e, best] = 1
                decided()
            for a in range(rows.shape[0]):
                for node_range in node_edges(net.num_nodes):
                    base = self.psnr(weights(), transitions)
                    costs = {}
                    for e in node_range:
                        removed = rows.clone()
                        removed[a, e] = 0
                        costs[e] = base - self._psnr_rows(removed, transitions)
                        edge_costs[a][e] = round(costs[e], 6)
                    keep = sorted(node_range, key=lambda e: -costs[e])[:2]
                    for e in node_range:
                        if e not in keep:
                            rows[a, e] = 0
                    decided()
            cells = tuple(decode_cell(layer.tolist(), ops, net.num_nodes) for layer in weights())
            widths, path_psnr = self.best_widths(cells)
        genotype = self._genotype(cells, widths)
        one_hot_cells, one_hot_trans = one_hot_weights(genotype)
        record = {'selection': 'perturbation', 'seed': seed, **record_info, 'supernet': net.search_state(),
                  'op_removal_psnr_cost': op_costs, 'edge_removal_psnr_cost': edge_costs, 'path_psnr': path_psnr}
        at = {} if iteration is None else {'iteration': int(iteration)}
        return Selection(self._genotype(cells, widths, alpha_softmax=one_hot_cells.tolist(),
                                        transitions=self._transitions_json(one_hot_trans), **at), record)

    # --- helpers ------------------------------------------------------------------------------------------------
    def _psnr_rows(self, rows: torch.Tensor, transitions: torch.Tensor) -> float:
        net = self.net
        return self.psnr(rows.expand(net.num_layers, -1, -1) if rows.shape[0] != net.num_layers else rows, transitions)

    def _transitions_json(self, transitions: torch.Tensor) -> list[list[list[float] | None]]:
        num_levels = transitions.shape[1]
        return [[transitions[d, w].tolist() if w in levels_at(d, num_levels) else None for w in range(num_levels)]
                for d in range(transitions.shape[0])]

    def _genotype(self, cells: Sequence[Cell], widths: Sequence[int], **search: Any) -> Genotype:
        net = self.net
        return Genotype(task=net.task, scale=net.upscale, num_in_ch=net.num_in_ch, num_nodes=net.num_nodes,
                        width_factors=tuple(net.width_factors), ops=tuple(net.op_names), cells=tuple(cells),
                        widths=tuple(widths), search=search or None)


def center_crop(lq: torch.Tensor, gt: torch.Tensor, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The central ``size`` x ``size`` pixels of ``lq`` and the GT pixels they map to (at the GT's integer scale)."""
    if size is None:
        return lq, gt
    scale = gt.shape[-1] // lq.shape[-1]
    top, left = max(0, (lq.shape[-2] - size) // 2), max(0, (lq.shape[-1] - size) // 2)
    return (lq[..., top:top + size, left:left + size],
            gt[..., top * scale:(top + size) * scale, left * scale:(left + size) * scale])


def psnr_options(opt: Mapping[str, Any]) -> tuple[int, bool]:
    """``crop_border`` and ``test_y_channel`` of the options' ``val.metrics.psnr`` (default: the scale, Y)."""
    psnr = ((opt.get('val') or {}).get('metrics') or {}).get('psnr') or {}
    return int(psnr.get('crop_border', opt.get('scale') or 0)), bool(psnr.get('test_y_channel', True))


