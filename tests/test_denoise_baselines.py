"""The denoising baselines: DnCNN (the plugin's, checked against the published design) and BasicSR's own RIDNet,
with option files on the same data as the HiNAS denoising nets."""
from __future__ import annotations

import os
import re
from copy import deepcopy

import pytest
import torch
import yaml
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY
from conftest import REPO, run_cli, write_options

from hinas_basicsr.utils.options_file import load_yaml

pytestmark = pytest.mark.usefixtures('one_thread')
SIGMAS = (30, 50, 70)
OPTIONS = REPO / 'options'


def dncnn_params(channels: int, features: int, depth: int) -> int:
    """DnCNN's parameters by the paper's layers and the authors' code: conv 3x3 with bias + ReLU; depth - 2 times
    conv 3x3 without bias + BN (a scale and a shift per channel) + ReLU; a last conv 3x3 without bias."""
    first = 3 * 3 * channels * features + features
    middle = (depth - 2) * (3 * 3 * features * features + 2 * features)
    last = 3 * 3 * features * channels
    return first + middle + last


def test_dncnn_has_the_published_parameter_count():
    net = ARCH_REGISTRY.get('DnCNN')()  # the defaults: DnCNN-S, gray, 17 layers, 64 channels
    count = sum(p.numel() for p in net.parameters())
    assert count == dncnn_params(1, 64, 17) == 556_096
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 17
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 15
    assert sum(p.numel() for p in ARCH_REGISTRY.get('DnCNN')(3, 3, 64, 20).parameters()) == dncnn_params(3, 64, 20)


def test_dncnn_predicts_the_noise_and_subtracts_it():
    torch.manual_seed(0)
    net = ARCH_REGISTRY.get('DnCNN')(num_feat=8, num_conv=4).eval()
    x = torch.rand(2, 1, 13, 17)
    with torch.no_grad():
        noise = net.conv_last(net.body(torch.relu(net.conv_first(x))))
        out = net(x)
        assert out.shape == x.shape and noise.abs().max() > 1e-3
        torch.testing.assert_close(out, x - noise)
        net.conv_last.weight.zero_()  # no noise predicted: the input comes back
        torch.testing.assert_close(net(x), x)


def test_dncnn_refuses_an_output_that_cannot_be_subtracted():
    with pytest.raises(ValueError, match='num_out_ch'):
        ARCH_REGISTRY.get('DnCNN')(num_in_ch=1, num_out_ch=3)


@pytest.mark.parametrize('arch', ['dncnn', 'ridnet'])
@pytest.mark.parametrize('kind', ['train', 'test'])
@pytest.mark.parametrize('sigma', SIGMAS)
def test_baseline_options_share_the_hinas_data(arch, kind, sigma):
    """The same datasets (gray BSD500, crops, batch, fixed test noise) and metrics as the HiNAS denoiser's files."""
    mine = load_yaml(str(OPTIONS / f'{kind}_{arch}_sigma{sigma}.yml'))
    hinas = load_yaml(str(OPTIONS / f'{kind}_hinas_denoise_sigma{sigma}.yml'))
    assert mine['datasets'] == hinas['datasets']
    assert mine['val']['metrics'] == hinas['val']['metrics']
    assert mine['name'] == f'{kind}_{arch}_sigma{sigma}' and mine['scale'] == 1
    if kind == 'test':
        assert mine['path']['pretrain_network_g'] == f'experiments/train_{arch}_sigma{sigma}/models/net_g_latest.pth'
    else:
        assert mine['train']['total_iter'] == hinas['train']['total_iter']


@pytest.mark.parametrize('arch', ['dncnn', 'ridnet'])
@pytest.mark.parametrize('kind', ['train', 'test'])
@pytest.mark.parametrize('sigma', SIGMAS)
def test_baselines_build_from_their_options_and_denoise_gray(arch, kind, sigma):
    net_opt = deepcopy(load_yaml(str(OPTIONS / f'{kind}_{arch}_sigma{sigma}.yml'))['network_g'])
    net = build_network(net_opt).eval()
    expected = {'dncnn': 'DnCNN', 'ridnet': 'RIDNet'}[arch]
    assert type(net).__name__ == expected and type(net) is ARCH_REGISTRY.get(expected)
    if arch == 'ridnet':
        assert type(net).__module__ == 'basicsr.archs.ridnet_arch'  # BasicSR's own class
    with torch.no_grad():
        assert net(torch.rand(1, 1, 12, 10)).shape == (1, 1, 12, 10)


def test_ridnet_mean_shift_follows_rgb_mean():
    """BasicSR builds RIDNet's mean shift with three channels whatever the image; the repair builds one per value of
    rgb_mean, the same weights as BasicSR's for three."""
    rgb = build_network({'type': 'RIDNet', 'in_channels': 3, 'mid_channels': 16, 'out_channels': 3, 'num_block': 1})
    assert rgb.sub_mean.weight.shape == (3, 3, 1, 1)
    torch.testing.assert_close(rgb.sub_mean.weight.flatten(1), torch.eye(3))
    torch.testing.assert_close(rgb.sub_mean.bias, -255. * torch.tensor([0.4488, 0.4371, 0.4040]))
    torch.testing.assert_close(rgb.add_mean.bias, 255. * torch.tensor([0.4488, 0.4371, 0.4040]))
    gray = build_network({'type': 'RIDNet', 'in_channels': 1, 'mid_channels': 16, 'out_channels': 1, 'num_block': 1,
                          'img_range': 1., 'rgb_mean': [0.4], 'rgb_std': [0.5]})
    assert gray.sub_mean.weight.shape == (1, 1, 1, 1)
    assert (gray.sub_mean.weight.item(), gray.sub_mean.bias.item()) == pytest.approx((2.0, -0.8))
    with pytest.raises(ValueError, match='rgb_std'):
        build_network({'type': 'RIDNet', 'in_channels': 1, 'mid_channels': 16, 'out_channels': 1, 'rgb_mean': [0.4]})


def test_option_check_takes_one_rgb_mean_per_input_channel():
    """The option check asks a tuple option for as many numbers as its default, except a mean shift's, which may
    instead give one number per input channel (RIDNet on gray photos: rgb_mean: [0.4369]); two numbers for one
    channel are refused, in the option check's words."""
    from hinas_basicsr.tools.options_check import _typed_like_defaults

    ridnet = ARCH_REGISTRY.get('RIDNet')
    gray = {'in_channels': 1, 'out_channels': 1, 'img_range': 1., 'rgb_std': [1.0]}
    _typed_like_defaults('o.yml', 'network_g', ridnet, {**gray, 'rgb_mean': [0.4369]})
    _typed_like_defaults('o.yml', 'network_g', ridnet, {**gray, 'rgb_mean': [0.4, 0.4, 0.4]})
    with pytest.raises(ValueError, match=re.escape('o.yml: network_g.rgb_mean: expected 3 numbers (its default is '
                                                   '[0.4488, 0.4371, 0.404]) or 1, one per input channel')):
        _typed_like_defaults('o.yml', 'network_g', ridnet, {**gray, 'rgb_mean': [0.4, 0.4]})
    with pytest.raises(ValueError, match='network_g.rgb_mean: expected 3 numbers'):
        _typed_like_defaults('o.yml', 'network_g', ridnet, {'in_channels': 3, 'rgb_mean': [0.4]})


@pytest.mark.slow
@pytest.mark.parametrize('arch', ['dncnn', 'ridnet'])
def test_baseline_trains_through_basicsr_train_on_the_sample_data(tmp_path, arch):
    """A few iterations of options/train_{dncnn,ridnet}_sigma50.yml, small, on the sample data's gray BSD500."""
    from hinas_basicsr.tools.sample_data import ensure_sample_data

    sample = tmp_path / 'sample'
    ensure_sample_data(str(sample))
    opt = yaml.safe_load((OPTIONS / f'train_{arch}_sigma50.yml').read_text())
    train, val = opt['datasets']['train'], opt['datasets']['val']
    train.update(dataroot_gt=str(sample / 'BSD500' / 'BSD500_train.lmdb'), gt_size=32, batch_size_per_gpu=2,
                 num_worker_per_gpu=0, dataset_enlarge_ratio=1)
    val['dataroot_gt'] = str(sample / 'BSD500' / 'BSD500_test')
    tiny = {'dncnn': {'num_feat': 8, 'num_conv': 5}, 'ridnet': {'mid_channels': 16, 'num_block': 1}}
    opt['network_g'].update(tiny[arch])
    opt['num_gpu'] = 0
    opt['train'].update(total_iter=4)
    opt['train']['scheduler']['milestones'] = [2]  # within the 4 iterations, as the options check requires
    opt['val']['val_freq'] = 4
    opt['logger'].update(print_freq=2, save_checkpoint_freq=4, use_tb_logger=False)
    out = run_cli(['-m', 'hinas_basicsr.cli', 'train', '-opt', str(write_options(tmp_path / 'd.yml', opt))],
                  cwd=tmp_path, env={'OMP_NUM_THREADS': '1'})
    assert out.returncode == 0, out.stderr[-2000:]
    models = tmp_path / 'experiments' / opt['name'] / 'models'
    weights = torch.load(models / 'net_g_latest.pth', map_location='cpu')['params']
    if arch == 'dncnn':
        assert 'body.0.1.running_mean' in weights and weights['conv_first.weight'].shape == (8, 1, 3, 3)
    else:
        assert weights['head.weight'].shape == (16, 1, 3, 3) and weights['sub_mean.weight'].shape == (1, 1, 1, 1)
    log = next((tmp_path / 'experiments' / opt['name']).glob('train_*.log')).read_text()
    assert 'iter:       4' in log and '# psnr:' in log
    assert os.path.exists(models / 'net_g_4.pth')
