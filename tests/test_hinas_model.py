"""HiNASModel: the reference's derived-net recipe (bias groups, gradient clipping, poly lr) on 4 crops x images."""
import os
from copy import deepcopy

import pytest
import torch
from basicsr.data import build_dataset
from search_helpers import make_subimage_folders
from torch.utils.data import DataLoader

import hinas_basicsr  # noqa: F401
from hinas_basicsr.models.hinas_model import HiNASModel

GENOTYPE = os.path.join(os.path.dirname(__file__), '..', 'options', 'demo', 'genotype_example_sr_x2.json')


def _options(gt: str, lq: str, clip: float | None = 5, momentum: float = 0.9, weight_decay: float = 4e-5) -> dict:
    inner = {'type': 'PairedImageDataset', 'dataroot_gt': gt, 'dataroot_lq': lq, 'filename_tmpl': '{}',
             'io_backend': {'type': 'disk'}}
    train = {'ema_decay': 0, 'total_iter': 10, 'warmup_iter': -1,
             'optim_g': {'type': 'SGD', 'lr': 0.05, 'momentum': momentum, 'weight_decay': weight_decay,
                         'bias_lr_factor': 2, 'bias_weight_decay': 0},
             'scheduler': {'type': 'PolyLR', 'power': 0.9},
             'pixel_opt': {'type': 'SumLoss', 'losses': [{'type': 'L1Loss', 'loss_weight': 1.0},
                                                         {'type': 'LogSSIMLoss', 'loss_weight': 0.6}]}}
    if clip is not None:
        train['clip_grad_value'] = clip
    return {'name': 'hinas_model_test', 'model_type': 'HiNASModel', 'scale': 2, 'num_gpu': 0, 'is_train': True,
            'dist': False, 'rank': 0, 'world_size': 1,
            'datasets': {'train': {'name': 'Tiny', 'type': 'HiNASMultiCropDataset', 'phase': 'train', 'scale': 2,
                                   'crops_per_image': 4, 'gt_size': 16, 'use_hflip': True, 'use_rot': True,
                                   'dataset': inner}},
            'network_g': {'type': 'HiNASNet', 'genotype': GENOTYPE, 'num_feat': 4},
            'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
            'train': train}


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    gt, lq = make_subimage_folders(str(tmp_path), num_images=2, subs=2, size=24)
    opt = _options(gt, lq)
    batch = next(iter(DataLoader(build_dataset(deepcopy(opt['datasets']['train'])), batch_size=2)))
    return gt, lq, batch


def test_multicrop_batches_are_crops_of_their_image(tiny):
    _, _, batch = tiny
    assert batch['gt'].shape == (2, 4, 3, 16, 16) and batch['lq'].shape == (2, 4, 3, 8, 8)
    model = HiNASModel(_options(*tiny[:2]))
    model.feed_data(batch)
    assert model.lq.shape == (8, 3, 8, 8) and model.gt.shape == (8, 3, 16, 16)
    assert torch.equal(model.gt[4:8], batch['gt'][1])  # image by image, crop by crop


def test_param_groups_bias_at_twice_the_lr_without_weight_decay(tiny):
    model = HiNASModel(_options(*tiny[:2]))
    weights, biases = model.optimizer_g.param_groups
    names = {id(p): n for n, p in model.net_g.named_parameters()}
    assert all(not names[id(p)].endswith('bias') for p in weights['params'])
    assert all(names[id(p)].endswith('bias') for p in biases['params'])
    assert len(weights['params']) + len(biases['params']) == len(list(model.net_g.parameters()))
    assert (weights['lr'], weights['weight_decay'], weights['momentum']) == (0.05, 4e-5, 0.9)
    assert (biases['lr'], biases['weight_decay'], biases['momentum']) == (0.1, 0, 0.9)


@pytest.mark.parametrize('clip', [None, 1e-4])
def test_gradients_are_clipped_by_value(tiny, clip):
    gt, lq, batch = tiny
    # plain SGD: a step moves each weight by exactly lr * its (clipped) gradient
    model = HiNASModel(_options(gt, lq, clip=clip, momentum=0, weight_decay=0))
    before = [p.detach().clone() for p in model.optimizer_g.param_groups[0]['params']]
    model.feed_data(batch)
    model.optimize_parameters(1)
    step = max((p.detach() - b).abs().max().item() for p, b in zip(model.optimizer_g.param_groups[0]['params'], before))
    if clip is None:
        assert step > 0.05 * 1e-4 * 10  # unclipped gradients are far larger than the clip value
    else:
        assert step == pytest.approx(0.05 * clip, rel=1e-4)


@pytest.mark.slow
def test_poly_lr_over_the_training(tiny):
    model = HiNASModel(_options(*tiny[:2]))
    model.feed_data(tiny[2])
    for current_iter in range(1, 11):
        model.update_learning_rate(current_iter)  # as BasicSR's training loop, before the step
        decay = (1 - (current_iter - 1) / 10) ** 0.9
        assert model.get_current_learning_rate() == pytest.approx([0.05 * decay, 0.1 * decay], rel=1e-12)
        model.optimize_parameters(current_iter)
    assert all(torch.isfinite(p).all() for p in model.net_g.parameters())


@pytest.mark.parametrize('name', ['train_hinas_sr_x2', 'train_hinas_sr_x3', 'train_hinas_sr_x4', 'train_hinas_sr_x8',
                                  'train_hinas_denoise_sigma30', 'train_hinas_denoise_sigma50',
                                  'train_hinas_denoise_sigma70'])
def test_train_option_files_use_the_reference_recipe(name):
    from hinas_basicsr.utils.options_file import load_yaml

    opt = load_yaml(os.path.join(os.path.dirname(__file__), '..', 'options', f'{name}.yml'))
    train = opt['train']
    assert opt['model_type'] == 'HiNASModel'
    assert train['optim_g'] == {'type': 'SGD', 'lr': 0.05, 'momentum': 0.9, 'weight_decay': 4e-5,
                                'bias_lr_factor': 2, 'bias_weight_decay': 0}
    assert train['clip_grad_value'] == 5 and train['scheduler'] == {'type': 'PolyLR', 'power': 0.9}
    pixel, ssim = train['pixel_opt']['losses']
    assert train['pixel_opt'].get('reduction', 'sum') == 'sum'
    assert ssim == {'type': 'LogSSIMLoss', 'loss_weight': 0.6, 'padding': 'same'}
    if name.startswith('train_hinas_sr'):
        scale, train_set = opt['scale'], opt['datasets']['train']
        assert pixel['type'] == 'L1Loss' and train['total_iter'] == 600000
        assert opt['network_g']['genotype'] == 'experiments/search_sr_x4/genotypes/best.json'
        assert opt['network_g']['upscale'] == scale == int(name[-1])
        assert (train_set['type'], train_set['crops_per_image'], train_set['batch_size_per_gpu']) == (
            'HiNASMultiCropDataset', 4, 4)
        assert train_set['gt_size'] == 64 * scale
        assert train_set['dataset']['dataroot_gt'] == 'datasets/DIV2K/DIV2K_train_HR.lmdb'
        assert train_set['dataset']['dataroot_lq'] == f'datasets/DIV2K/DIV2K_train_LR_bicubic_X{scale}.lmdb'
        test_opt = load_yaml(os.path.join(os.path.dirname(__file__), '..', 'options', f'test_hinas_sr_x{scale}.yml'))
        assert test_opt['network_g'] == opt['network_g'] and test_opt['scale'] == scale
        assert all(d['dataroot_lq'].endswith(f'LRbicx{scale}') for d in test_opt['datasets'].values())
    else:
        assert pixel['type'] == 'MSELoss'
