"""The supernet as a judge: one-hot inherited evaluation, selection by perturbation and by one-hot widths."""
from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from judge_helpers import inherited, inherited_psnrs

from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.research.random_genotype import random_genotype
from hinas_basicsr.search.judge import SearchJudge, kendall_tau, one_hot_weights, valid_paths
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.trellis import PRIMITIVES, node_edges, position_key

TINY = {'num_nodes': 2, 'num_feat': 4}


def _genotype(net: HiNASSupernet, seed: int, widths: tuple[int, ...] | None = None) -> Genotype:
    genotype = random_genotype(random.Random(seed), task=net.task, scale=net.upscale, num_in_ch=net.num_in_ch,
                               num_nodes=net.num_nodes, num_layers=net.num_layers, width_factors=net.width_factors,
                               ops=net.op_names)
    return genotype if widths is None else dataclasses.replace(genotype, widths=widths)


def _chosen(genotype: Genotype) -> set[tuple[str, int, int]]:
    """(position key, edge, op index) of every operation the genotype uses."""
    used = set()
    for layer, (cell, level) in enumerate(zip(genotype.cells, genotype.widths)):
        for k, (op, index) in enumerate(cell):
            used.add((position_key(layer + 1, level), node_edges(genotype.num_nodes)[k // 2][index],
                      genotype.ops.index(op)))
    return used


@pytest.mark.slow
@pytest.mark.parametrize('search_head', ['reference', 'decoder'])
@pytest.mark.parametrize('seed, widths', [(0, (0, 0)), (1, (0, 1)), (2, (1, 2)), (3, None)])
def test_one_hot_inherited_evaluation_uses_only_the_genotypes_operations(seed, widths, search_head):
    torch.manual_seed(seed)
    net = HiNASSupernet(search_head=search_head, **TINY)
    genotype = _genotype(net, seed, widths)
    chosen = _chosen(genotype)
    with inherited(net, genotype):
        net(torch.rand(2, 3, 8, 8)).square().mean().backward()
    with_grad = set()
    for key, cell in net.cells.items():
        for e, edge in enumerate(cell.edges):
            for k, op in enumerate(edge.ops):
                grads = [p.grad for p in op.parameters()]
                if any(g is not None and g.abs().sum() > 0 for g in grads):
                    with_grad.add((key, e, k))
    assert with_grad <= chosen  # every other operation's weights got zero gradient
    has_weights = {(key, e, k) for key, e, k in chosen if list(net.cells[key].edges[e].ops[k].parameters())}
    if widths == (0, 0):  # every input of a path along level 0 is non-zero: every chosen op learns
        assert with_grad == has_weights and has_weights
    assert net.alpha.grad is None and net.beta.grad is None  # the one-hot weights are constants
    level_path = {position_key(d + 1, w) for d, w in enumerate(genotype.widths)}
    for key, cell in net.cells.items():
        if key not in level_path:
            assert all(p.grad is None or not p.grad.any() for p in cell.parameters()), key


@pytest.mark.slow
def test_inherited_output_ignores_everything_outside_the_genotype():
    torch.manual_seed(0)
    net = HiNASSupernet(**TINY).eval()
    genotype = _genotype(net, 4, (1, 1))
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad(), inherited(net, genotype):
        before = net(x)
        chosen = _chosen(genotype)
        for key, cell in net.cells.items():
            for e, edge in enumerate(cell.edges):
                for k, op in enumerate(edge.ops):
                    if (key, e, k) not in chosen:
                        for p in op.parameters():
                            p.normal_()
        net.alpha.normal_()
        net.beta.normal_()
        after = net(x)
        assert torch.equal(before, after)
        for p in net.cells[position_key(1, 1)].edges[0].parameters():
            p.normal_()
    assert not torch.equal(net(x), after)  # outside the context the mixture is back


def _planted_supernet() -> tuple[HiNASSupernet, dict[int, int], Genotype]:
    """One layer, one width, nodes of 2 and 3 edges: on each edge one planted op computes, the others are zero
    (their convolutions' weights are 0); edge 3 computes nothing at all. alpha prefers a zero op everywhere and
    edge 3 most, so the largest-alpha decoding picks none of the planted ops."""
    torch.manual_seed(0)
    ops = ('conv_3x3', 'sep_conv_3x3', 'dil_conv_3x3', 'none')
    net = HiNASSupernet(num_layers=1, num_nodes=2, num_feat=4, width_factors=[1], ops=ops).eval()
    planted = {0: 2, 1: 1, 2: 0, 4: 2}  # edge -> op index
    cell = net.cells[position_key(1, 0)]
    with torch.no_grad():
        for e, edge in enumerate(cell.edges):
            for k, op in enumerate(edge.ops):
                if planted.get(e) != k:
                    for p in op.parameters():
                        p.zero_()
        alpha = torch.zeros_like(net.alpha)
        for e in range(alpha.shape[1]):
            alpha[0, e, (planted.get(e, 0) + 1) % 3] = 2.0  # a zero op is the largest
        alpha[0, 3, :3] = 3.0
        net.alpha.copy_(alpha)
    cell = ((ops[planted[0]], 0), (ops[planted[1]], 1), (ops[planted[2]], 0), (ops[planted[4]], 2))
    genotype = Genotype(task='sr', scale=2, num_in_ch=3, num_nodes=2, width_factors=(1,), ops=ops, cells=(cell,),
                        widths=(0,))
    return net, planted, genotype


def test_perturbation_selection_picks_the_planted_best_operation():
    net, planted, genotype = _planted_supernet()
    lq = torch.rand(2, 3, 8, 8)
    with torch.no_grad(), inherited(net, genotype):
        gt = net(lq).clamp(0, 1)
    judge = SearchJudge(net, [{'lq': lq, 'gt': gt}], bn='running')
    state = {k: v.clone() for k, v in net.state_dict().items()}
    selected, record = judge.perturbation_selection(iteration=6, val_crop=8)
    assert selected.cells == genotype.cells and selected.widths == (0,)
    assert net.genotype().cells != genotype.cells  # the largest alpha picks otherwise
    costs = record['op_removal_psnr_cost'][0]
    for e, k in planted.items():
        assert max(costs[e], key=costs[e].get) == genotype.ops[k] and costs[e][genotype.ops[k]] > 0
    assert record['edge_removal_psnr_cost'][0][3] == pytest.approx(0, abs=1e-9)
    assert record['selection'] == 'perturbation' and record['seed'] == 0 and record['val_crop'] == 8
    assert record['supernet']['alpha_softmax'] == net.search_state()['alpha_softmax']
    # the genotype holds its one-hot weights and the iteration, and decodes to itself; the scores are the record's
    assert set(selected.search) == {'alpha_softmax', 'transitions', 'iteration'} and selected.search['iteration'] == 6
    assert Genotype.from_json(selected.to_json()) == selected
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())  # the supernet is left as it was


@pytest.mark.slow
def test_width_selection_picks_the_path_whose_one_hot_beta_validates_best():
    torch.manual_seed(0)
    net = HiNASSupernet(**TINY).eval()
    with torch.no_grad():
        net.beta.zero_()
        net.beta[:, :, 1] = 5.0  # softmax(beta) says: stay at level 0
    planted = _genotype(net, 5, (1, 2))
    lq = torch.rand(2, 3, 8, 8)
    with torch.no_grad(), inherited(net, planted):
        gt = net(lq).clamp(0, 1)
    judge = SearchJudge(net, [{'lq': lq, 'gt': gt}], bn='running')
    widths, scores = judge.best_widths(planted.cells)
    assert widths == (1, 2) and net.genotype().widths == (0, 0)
    assert set(scores) == {','.join(map(str, p)) for p in valid_paths(2, 3)} and len(scores) == 5
    assert scores['1,2'] == max(scores.values()) > scores['0,0']


@pytest.mark.slow
@pytest.mark.parametrize('bn', ['batch', 'calibrate', 'running'])
def test_inherited_psnr_restores_the_supernet_and_ranks(bn):
    torch.manual_seed(0)
    net = HiNASSupernet(**TINY)
    net(torch.rand(4, 3, 8, 8))  # running statistics that differ from a batch's own
    batches = [{'lq': torch.rand(2, 3, 8, 8), 'gt': torch.rand(2, 3, 16, 16)} for _ in range(2)]
    judge = SearchJudge(net, batches, crop_border=2, bn=bn, calibration=batches if bn == 'calibrate' else None)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    genotypes = [_genotype(net, seed) for seed in range(3)]
    scores = inherited_psnrs(judge, genotypes)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items()) and net.training
    assert len(set(scores)) == 3 and all(0 < s < 60 for s in scores)
    assert scores == inherited_psnrs(judge, genotypes)  # the same batches every time
    assert kendall_tau(scores, scores) == pytest.approx(1) and kendall_tau(scores, [-s for s in scores]) == -1
    # the statistics each mode normalises with: the val batch's own, the calibration's, the running ones
    lq = batches[0]['lq']
    with torch.no_grad(), inherited(net, genotypes[0]):
        net.train(bn == 'batch')
        expected = net(lq)
        net.train()
    if bn != 'calibrate':
        scored = SearchJudge(net, [{'lq': lq, 'gt': expected.clamp(0, 1)}], bn=bn).inherited_psnr(genotypes[0])
        assert scored == pytest.approx(80, abs=0.01)  # mse 0: calculate_psnr_pt's ceiling
    net.load_state_dict(state)


def test_calibrate_needs_batches():
    with pytest.raises(ValueError, match='calibration batches'):
        SearchJudge(HiNASSupernet(**TINY), [{'lq': 0, 'gt': 0}], bn='calibrate')


def test_one_hot_weights_layout():
    genotype = Genotype(task='sr', scale=2, num_in_ch=3, num_nodes=2, width_factors=(1, 1.5, 2), ops=PRIMITIVES,
                        cells=((('conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 2), ('conv_3x3', 0)),) * 2,
                        widths=(1, 0))
    cells, transitions = one_hot_weights(genotype)
    assert cells.sum().item() == 2 * 5  # every edge sums to 1: a chosen op or none
    assert cells[0, 1, 0] == 1 and cells[0, 0, 5] == 1 and cells[0, 4, 1] == 1 and cells[0, 2, 0] == 1
    assert cells[0, 3, PRIMITIVES.index('none')] == 1
    assert transitions.sum().item() == 2 and transitions[0, 0, 2] == 1 and transitions[1, 1, 0] == 1
    with pytest.raises(ValueError, match="supernet's space"):
        SearchJudge(HiNASSupernet(num_nodes=3, num_feat=4), [{'lq': 0, 'gt': 0}]).inherited_psnr(genotype)


def test_val_crop_keeps_the_central_pixels_and_their_gt():
    lq = torch.arange(2 * 3 * 6 * 8, dtype=torch.float32).reshape(2, 3, 6, 8)
    gt = torch.nn.functional.interpolate(lq, scale_factor=3, mode='nearest')
    judge = SearchJudge(HiNASSupernet(**TINY), [{'lq': lq, 'gt': gt}], val_crop=4)
    (small, small_gt), = judge.val
    assert torch.equal(small, lq[..., 1:5, 2:6]) and small_gt.shape == (2, 3, 12, 12)
    assert torch.equal(torch.nn.functional.interpolate(small, scale_factor=3, mode='nearest'), small_gt)
