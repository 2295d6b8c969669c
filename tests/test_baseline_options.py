"""x8 baselines: the option files are the x4 ones at scale 8, and BasicSR's EDSR/RCAN build and run at x8."""
from __future__ import annotations

import os
from copy import deepcopy

import pytest
import torch
from basicsr.archs import build_network

from hinas_basicsr.utils.options_file import load_yaml

OPTIONS = os.path.join(os.path.dirname(__file__), '..', 'options')


def at_scale(value, old: int, new: int):
    """``value`` (an option tree) with every scale-dependent string and number of scale ``old`` moved to ``new``."""
    if isinstance(value, dict):
        return {k: (new if k in ('scale', 'upscale', 'crop_border') and v == old else at_scale(v, old, new))
                for k, v in value.items()}
    if isinstance(value, list):
        return [at_scale(v, old, new) for v in value]
    if isinstance(value, str):
        for prefix in ('X', 'x', 'GTmod', 'LRbicx'):  # LR folders and LMDBs, benchmark folders, names
            value = value.replace(f'{prefix}{old}', f'{prefix}{new}')
    return value


@pytest.mark.parametrize('arch', ['edsr', 'rcan'])
@pytest.mark.parametrize('kind', ['train', 'test'])
def test_x8_options_are_the_x4_ones_at_scale_8(arch, kind):
    x4 = load_yaml(os.path.join(OPTIONS, f'{kind}_{arch}_x4.yml'))
    x8 = load_yaml(os.path.join(OPTIONS, f'{kind}_{arch}_x8.yml'))
    expected = at_scale(x4, 4, 8)
    if kind == 'train':  # LR crops 48: an x8 LR sub-image (480 / 8 = 60) cannot hold the 64 of x4
        expected['datasets']['train']['gt_size'] = 384
    assert x8 == expected
    assert (x8['scale'], x8['network_g']['upscale']) == (8, 8)


@pytest.mark.parametrize('arch', ['edsr', 'rcan'])
def test_basicsr_baselines_upscale_by_8(arch):
    net_opt = deepcopy(load_yaml(os.path.join(OPTIONS, f'test_{arch}_x8.yml'))['network_g'])
    net_opt.update(num_feat=16, num_block=1, **({'num_group': 1, 'squeeze_factor': 4} if arch == 'rcan' else {}))
    net = build_network(net_opt).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 5, 6)).shape == (1, 3, 40, 48)
