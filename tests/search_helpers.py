"""Tiny generated image sets (sub-image names) and HiNAS search options, for the search tests."""
from __future__ import annotations

import os

import cv2
import numpy as np
import yaml


def make_subimage_folders(root: str, num_images: int = 6, subs: int = 2, size: int = 24,
                          scale: int = 2) -> tuple[str, str]:
    """HR/LR PNG folders with sub-image names ``0001_s001`` (smooth random images, LR by bicubic)."""
    gt_dir, lq_dir = os.path.join(root, 'HR'), os.path.join(root, f'LRx{scale}')
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(lq_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(num_images):
        for s in range(subs):
            small = rng.integers(0, 256, (size // 4, size // 4, 3)).astype(np.uint8)
            hr = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
            lr = cv2.resize(hr, (size // scale, size // scale), interpolation=cv2.INTER_CUBIC)
            name = f'{i + 1:04d}_s{s + 1:03d}.png'
            cv2.imwrite(os.path.join(gt_dir, name), hr)
            cv2.imwrite(os.path.join(lq_dir, name), lr)
    return gt_dir, lq_dir


def search_options(gt_dir: str, lq_dir: str, name: str = 'search_test', total_iter: int = 6,
                   batch: int = 2, gt_size: int = 16, val_freq: int = 3, ckpt_freq: int = 3) -> dict:
    """A tiny x2 search: L=2, B=2, F=4, paired PNG folders split into val/W/A."""
    inner = {'type': 'PairedImageDataset', 'dataroot_gt': gt_dir, 'dataroot_lq': lq_dir, 'filename_tmpl': '{}',
             'io_backend': {'type': 'disk'}, 'gt_size': gt_size, 'use_hflip': True, 'use_rot': True}
    split = {'type': 'HiNASSplitDataset', 'val_ratio': 0.2, 'split_seed': 0, 'dataset': inner}
    return {
        'name': name, 'model_type': 'HiNASSearchModel', 'scale': 2, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {'name': 'TinyW', **split, 'split': 'w', 'num_worker_per_gpu': 0, 'batch_size_per_gpu': batch,
                      'dataset_enlarge_ratio': 1, 'prefetch_mode': None},
            'val': {'name': 'TinyVal', **split, 'split': 'val'}},
        'network_g': {'type': 'HiNASSupernet', 'task': 'sr', 'upscale': 2, 'num_in_ch': 3, 'num_out_ch': 3,
                      'num_layers': 2, 'num_nodes': 2, 'num_feat': 4},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'total_iter': total_iter, 'warmup_iter': -1, 'arch_warmup_iter': 2,
                  'optim_g': {'type': 'SGD', 'lr': 0.025, 'momentum': 0.9, 'weight_decay': 3e-4},
                  # the reference's weight lr; iters_per_epoch from the model (3 in the 6-image searches)
                  'scheduler': {'type': 'CosinePolyLR', 'eta_min': 0.001, 'period': 4, 'epochs': 2, 'power': 0.9},
                  'optim_arch': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 1e-3},
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'},
                  'ssim_opt': {'type': 'LogSSIMLoss', 'loss_weight': 0.6},
                  'best_after_ratio': 0.5},  # validations at 3 and 6 of 6 both compete for best.json
        'val': {'val_freq': val_freq, 'save_img': False,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 2, 'test_y_channel': True},
                            'ssim': {'type': 'calculate_ssim', 'crop_border': 2, 'test_y_channel': True}}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': ckpt_freq, 'use_tb_logger': True},
        'dist_params': {'backend': 'gloo', 'port': 29500},
    }


def write_search_options(path: str, opt: dict) -> str:
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    return path


def build_search_model(opt: dict, root: str):
    """A HiNASSearchModel from :func:`search_options`, as BasicSR's train pipeline builds it (no launcher)."""
    from copy import deepcopy

    from hinas_basicsr.models.hinas_search_model import HiNASSearchModel

    opt = deepcopy(opt)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    for phase, dataset in opt['datasets'].items():
        dataset.update(phase=phase, scale=opt['scale'])
    opt['path']['experiments_root'] = root
    return HiNASSearchModel(opt)
