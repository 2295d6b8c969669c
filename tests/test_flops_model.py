"""The FLOPs model of the derived net: exact at one-hot alpha and beta, differentiable, the penalty's options."""
from __future__ import annotations

import random

import pytest
import torch

from hinas_basicsr.archs.hinas_net_arch import HiNASNet
from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.research.random_genotype import random_genotype
from hinas_basicsr.search.flops_model import FlopsModel, FlopsTarget, check_flops_options
from hinas_basicsr.search.judge import one_hot_weights
from hinas_basicsr.space.path_probs import level_marginals, low_level_probs
from hinas_basicsr.space.trellis import PRIMITIVES
from hinas_basicsr.tools.compare import count_flops


@pytest.mark.slow
@pytest.mark.parametrize('task, scale, layers, in_ch', [('sr', 2, 2, 3), ('sr', 4, 3, 3), ('denoise', 1, 3, 1)])
def test_one_hot_model_matches_the_flop_counter_for_5_random_genotypes(task, scale, layers, in_ch):
    rng = random.Random(7)
    size = (12, 10)
    for _ in range(5):
        genotype = random_genotype(rng, task=task, scale=scale, num_in_ch=in_ch, num_nodes=3, num_layers=layers,
                                   width_factors=(1, 1.5, 2), ops=PRIMITIVES)
        counted = count_flops(HiNASNet(genotype, num_feat=16).eval(), torch.rand(1, in_ch, *size))
        model = FlopsModel(PRIMITIVES, 3, (1, 1.5, 2), 16, in_ch, scale, task == 'sr', size)
        predicted = float(model(*one_hot_weights(genotype)))
        assert abs(predicted / counted - 1) < 0.05, (genotype.cells, genotype.widths, predicted, counted)
        assert predicted == pytest.approx(counted, rel=1e-9)  # every part of the model is exact at one-hot


def test_path_marginals_at_a_one_hot_path():
    genotype = random_genotype(random.Random(1), task='sr', scale=2, num_in_ch=3, num_nodes=2, num_layers=3,
                               width_factors=(1, 1.5, 2), ops=PRIMITIVES)
    genotype = type(genotype)(**{**genotype.__dict__, 'widths': (1, 1, 0)})
    _, transitions = one_hot_weights(genotype)
    q = level_marginals(transitions)
    assert q.argmax(-1).tolist() == [0, 1, 1, 0] and q.max(-1).values.tolist() == [1, 1, 1, 1]
    assert low_level_probs(transitions).tolist() == [1, 0, 0]  # no level-0 cell before the last: the stem's


def test_expected_flops_are_differentiable_and_the_penalty_pulls_toward_the_target():
    net = HiNASSupernet(num_nodes=2, num_feat=4)
    train = {'flops_opt': {'type': 'target', 'gflops': 0.05, 'input': [32, 32], 'weight': 1.0}}
    penalty = FlopsTarget.from_options(train, net)
    loss, expected = penalty(net)
    loss.backward()
    assert net.alpha.grad.abs().sum() > 0 and net.beta.grad.abs().sum() > 0
    assert float(loss.detach()) == pytest.approx(abs(float(expected.detach()) / 0.05e9 - 1))
    # a gradient step on the penalty alone moves the expected FLOPs toward the target
    with torch.no_grad():
        net.alpha -= 10 * net.alpha.grad
        net.beta -= 10 * net.beta.grad
    _, after = penalty(net)
    assert abs(float(after.detach()) - 0.05e9) < abs(float(expected.detach()) - 0.05e9)


@pytest.mark.parametrize('flops_opt, message', [
    ({'type': 'target', 'gflops': -1}, 'train.flops_opt.gflops: expected a number > 0, got -1'),
    ({'type': 'target', 'gflops': float('nan')}, 'train.flops_opt.gflops: expected a number > 0, got nan'),
    ({'type': 'target', 'gflops': True}, 'train.flops_opt.gflops: expected a number > 0, got True'),
    ({'type': 'target', 'gflops': 1, 'input': [64]},
     'train.flops_opt.input: expected [height, width] of the LR input in pixels, got [64]'),
    ({'type': 'target', 'weight': 0.1}, 'train.flops_opt.gflops: missing (type target needs it)'),
    ({'type': 'target', 'gflops': 1, 'num_feat': 2.5}, 'train.flops_opt.num_feat: expected an integer > 0, got 2.5'),
    ({'type': 'target', 'gflops': 1, 'weight': float('inf')}, 'train.flops_opt.weight: expected a number > 0, got inf'),
    ({'gflops': 1}, 'train.flops_opt.type: missing (target)'),
    ({'type': 'budget', 'gflops': 1}, "train.flops_opt.type: 'budget' is not one of target"),
    (8.2, 'train.flops_opt: expected a mapping {type: target, ...}, got 8.2')])
def test_bad_flops_options_are_refused(flops_opt, message):
    with pytest.raises(ValueError) as refused:
        check_flops_options({'flops_opt': flops_opt})
    assert str(refused.value) == message


def test_flops_options_fill_in_the_defaults():
    assert check_flops_options({}) is None and check_flops_options({'flops_opt': None}) is None
    assert check_flops_options({'flops_opt': {'type': 'target', 'gflops': 8}}) == {
        'type': 'target', 'gflops': 8, 'input': (128, 128), 'num_feat': 16, 'weight': 0.1}
