"""HiNASSupernet: shapes, alpha/beta layout, parameter split, cell evaluations per forward, parameter counts."""
from __future__ import annotations

import pytest
import torch

from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.trellis import PRIMITIVES, num_edges

TINY = {'num_nodes': 2, 'num_feat': 4}


@pytest.mark.parametrize('upscale', [2, 3, 4])
def test_sr_output_shape(upscale):
    net = HiNASSupernet(task='sr', upscale=upscale, **TINY)
    out = net(torch.rand(2, 3, 6, 5))
    assert out.shape == (2, 3, 6 * upscale, 5 * upscale)


@pytest.mark.slow
def test_denoise_gray_output_shape():
    net = HiNASSupernet(task='denoise', upscale=1, num_in_ch=1, num_out_ch=1, num_layers=3, **TINY)
    assert net(torch.rand(2, 1, 7, 9)).shape == (2, 1, 7, 9)


def test_sr_residual_is_bicubic_when_the_body_outputs_zero():
    net = HiNASSupernet(task='sr', upscale=2, **TINY).eval()
    torch.nn.init.zeros_(net.conv_last.weight)
    torch.nn.init.zeros_(net.conv_last.bias)
    x = torch.rand(1, 3, 5, 5)
    expected = torch.nn.functional.interpolate(x, scale_factor=2, mode='bicubic', align_corners=False)
    assert torch.allclose(net(x), expected)


@pytest.mark.parametrize('num_layers', [1, 2, 4])
def test_alpha_shape_layerwise_and_tied(num_layers):
    lwas = HiNASSupernet(num_layers=num_layers, **TINY)
    assert lwas.alpha.shape == (num_layers, num_edges(2), len(PRIMITIVES)) == (num_layers, 5, 7)
    assert lwas.beta.shape == (num_layers, 3, 3)
    tied = HiNASSupernet(num_layers=num_layers, layerwise_cells=False, **TINY)
    assert tied.alpha.shape == (1, 5, 7)
    weights = tied.cell_weights()
    assert weights.shape == (num_layers, 5, 7)
    for layer in range(num_layers):
        assert torch.equal(weights[layer], weights[0])
    genotype = tied.genotype()
    assert len(genotype.cells) == num_layers and len(set(genotype.cells)) == 1


def test_parameter_split_is_a_partition():
    net = HiNASSupernet(**TINY)
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert [p is q for p, q in zip(arch, [net.alpha, net.beta])] == [True, True]
    ids = [id(p) for p in arch + weights]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    assert 'alpha' in net.state_dict() and 'beta' in net.state_dict()


def test_masked_transitions_and_genotype():
    net = HiNASSupernet(num_layers=3, **TINY)
    with torch.no_grad():
        net.beta.normal_()
    probs = net.transition_probs()
    assert torch.allclose(probs.sum(-1), torch.ones(3, 3))
    assert probs[:, 0, 0].abs().max() == 0 and probs[:, 2, 2].abs().max() == 0  # off the grid
    transitions = net.search_state()['transitions']
    assert transitions[0][1] is None and transitions[0][2] is None and transitions[1][2] is None
    assert transitions[2][2] is not None
    genotype = net.genotype(iteration=5)
    assert isinstance(genotype, Genotype) and genotype.search['iteration'] == 5
    assert Genotype.from_json(genotype.to_json()) == genotype


def incoming_paths(num_layers: int, num_levels: int) -> tuple[int, int]:
    """(grid positions, incoming paths) of layers 1..L, counted from the trellis definition."""
    positions = paths = 0
    for depth in range(1, num_layers + 1):
        for target in range(min(depth, num_levels - 1) + 1):
            positions += 1
            paths += sum(1 for src in range(min(depth - 1, num_levels - 1) + 1) if abs(src - target) <= 1)
    return positions, paths


def count_cell_evaluations(net: HiNASSupernet, x: torch.Tensor) -> int:
    """Cell forward calls during one forward of ``net``, counted by forward hooks on its cells."""
    calls = []
    handles = [cell.register_forward_hook(lambda *_: calls.append(1)) for cell in net.cells.values()]
    try:
        net(x)
    finally:
        for handle in handles:
            handle.remove()
    return len(calls)


@pytest.mark.slow
@pytest.mark.parametrize('num_layers', [1, 2, 3])
def test_cell_evaluations(num_layers):
    positions, paths = incoming_paths(num_layers, 3)
    x = torch.rand(1, 3, 4, 4)
    shared = HiNASSupernet(num_layers=num_layers, cell_sharing=True, **TINY)
    assert count_cell_evaluations(shared, x) == positions
    separate = HiNASSupernet(num_layers=num_layers, cell_sharing=False, **TINY)
    assert count_cell_evaluations(separate, x) == paths
    assert {1: (2, 2), 2: (5, 7), 3: (8, 14)}[num_layers] == (positions, paths)  # by hand


@pytest.mark.parametrize('kwargs, expected', [
    (dict(task='sr', upscale=4, num_feat=8, num_layers=2, num_nodes=3), 429_012),
    (dict(task='denoise', upscale=1, num_in_ch=1, num_out_ch=1, num_feat=10, num_layers=3, num_nodes=4), 1_475_357),
])
def test_weight_parameters_equal_the_reference_supernet(kwargs, expected):
    """The reference search settings (SR x4 and gray denoising): weights as many as the reference's supernet."""
    net = HiNASSupernet(**kwargs)
    assert sum(p.numel() for p in net.weight_parameters()) == expected


def test_batchnorm_affine_only_in_the_search_heads_separable_branch():
    net = HiNASSupernet(**TINY)
    affine = sorted(name for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and m.affine)
    assert len(affine) == 2 * len(net.heads)
    assert all(name.startswith('heads.') and '.branches.1.' in name for name in affine)
    assert not any(isinstance(m, torch.nn.LeakyReLU) for m in [*net.routes.modules(), *net.expand.modules()])


@pytest.mark.parametrize('kwargs, message', [
    ({'upscale': 5}, 'network_g.upscale: 5 is not valid for task sr'),
    ({'task': 'denoise', 'upscale': 2}, 'network_g.upscale: 2 is not valid for task denoise'),
    ({'task': 'deblur'}, "network_g.task: 'deblur'"),
    ({'ops': ['conv_3x3', 'conv_9x9']}, "network_g.ops: unknown operation 'conv_9x9'"),
    ({'num_out_ch': 1}, 'network_g.num_out_ch: 1'),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HiNASSupernet(**kwargs)
