"""2-rank gloo runs of BatchNorm networks under torchrun: a search and a HiNASNet training, validation on."""
from __future__ import annotations

import hashlib
import re

import pytest
import torch
from conftest import REPO, make_paired_folders, torchrun, write_options
from search_helpers import make_subimage_folders, search_options

from hinas_basicsr.space.genotype import Genotype


def _checksums(log: str) -> list[tuple[str, int]]:
    found = re.findall(r'alpha/beta checksum ([0-9a-f]{14}) identical on all 2 ranks at iter (\d+)', log)
    return [(checksum, int(it)) for checksum, it in found]


@pytest.mark.slow
def test_two_rank_search_validates_keeps_alpha_beta_identical_and_auto_resumes(tmp_path):
    gt_dir, lq_dir = make_subimage_folders(str(tmp_path / 'data'), num_images=6, subs=2, size=24)
    opt = search_options(gt_dir, lq_dir, name='dist_search', total_iter=6, batch=1, val_freq=2, ckpt_freq=4)
    opt['logger']['use_tb_logger'] = False
    opt_path = write_options(tmp_path / 'search.yml', opt)
    root = tmp_path / 'experiments' / 'dist_search'

    # First 4 iterations: validations at 2, 4 and the pipeline's final one after the loop.
    out = torchrun(opt_path, tmp_path, '--force_yml', 'train:total_iter=4')
    assert out.returncode == 0, out.stderr[-3000:]
    log = next(root.glob('train_*.log')).read_text()
    assert 'World size (gpu number): 2' in log
    checks = _checksums(log)
    assert [it for _, it in checks][:2] == [2, 4] and len(checks) == 3, checks
    assert sorted(p.name for p in (root / 'training_states').glob('*.state')) == ['4.state']

    # --auto_resume under torchrun: both ranks continue from 4.state to the end.
    out = torchrun(opt_path, tmp_path, '--auto_resume')
    assert out.returncode == 0, out.stderr[-3000:]
    log = max(root.glob('train_*.log'), key=lambda p: p.stat().st_mtime).read_text()
    assert 'Resuming training from epoch' in log and 'iter: 4.' in log
    checks = _checksums(log)
    assert checks[0][1] == 6 and len(checks) == 2, checks
    genotypes = sorted(p.name for p in (root / 'genotypes').glob('*.json'))
    assert genotypes == ['best.json', 'iter_2.json', 'iter_4.json', 'iter_6.json']
    assert Genotype.load(root / 'genotypes' / 'iter_6.json').search['iteration'] == 6
    # The checksum logged at the end is the sha256 of the alpha and beta that rank 0 saved.
    saved = torch.load(root / 'models' / 'net_g_latest.pth', map_location='cpu')['params']
    digest = hashlib.sha256(saved['alpha'].numpy().tobytes() + saved['beta'].numpy().tobytes()).digest()
    assert checks[-1][0] == f"{int.from_bytes(digest[:7], 'little'):014x}"


@pytest.mark.slow
def test_two_rank_hinas_net_training_with_validation(tmp_path):
    gt_dir, lq_dir = make_paired_folders(tmp_path / 'data', count=4, size=48)
    opt = {
        'name': 'dist_hinas_net', 'model_type': 'SRModel', 'scale': 2, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {
            'train': {'name': 'Tiny', 'type': 'PairedImageDataset', 'dataroot_gt': str(gt_dir),
                      'dataroot_lq': str(lq_dir), 'io_backend': {'type': 'disk'}, 'gt_size': 16,
                      'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
                      'dataset_enlarge_ratio': 1, 'prefetch_mode': None},
            'val': {'name': 'TinyVal', 'type': 'PairedImageDataset', 'dataroot_gt': str(gt_dir),
                    'dataroot_lq': str(lq_dir), 'io_backend': {'type': 'disk'}}},
        'network_g': {'type': 'HiNASNet', 'genotype': str(REPO / 'options/demo/genotype_example_sr_x2.json'),
                      'num_feat': 4},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'total_iter': 4, 'warmup_iter': -1,
                  'optim_g': {'type': 'Adam', 'lr': 1e-3},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [4], 'gamma': 0.5},
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
        'val': {'val_freq': 2, 'save_img': False,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 2, 'test_y_channel': True}}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 4, 'use_tb_logger': False},
    }
    out = torchrun(write_options(tmp_path / 'train.yml', opt), tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    root = tmp_path / 'experiments' / 'dist_hinas_net'
    log = next(root.glob('train_*.log')).read_text()
    assert 'World size (gpu number): 2' in log
    assert len(re.findall(r'Validation TinyVal', log)) == 3  # iters 2, 4 and the pipeline's final one
    saved = torch.load(root / 'models' / 'net_g_latest.pth', map_location='cpu')['params']
    assert any('running_mean' in k for k in saved)  # a BatchNorm network
