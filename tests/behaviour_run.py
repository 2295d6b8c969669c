"""A tiny search and a tiny training through ``basicsr train``, one thread: the found genotype and the losses.

tests/test_behaviour_unchanged.py compares them with tests/data/behaviour_reference.json, which this module wrote
at the commit before the package's reorganisation (``python tests/behaviour_run.py OUT.json``, run with that
commit's package first on PYTHONPATH): moving code must not move numbers.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile

import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from search_helpers import make_subimage_folders, search_options  # noqa: E402

LOSS = re.compile(r'(l_\w+): ([-+0-9.e]+)')


def _logged_losses(root: str) -> list[dict[str, float]]:
    """Every loss line of the run's logs, in order (BasicSR's logger keeps the first run's file in a process)."""
    lines = []
    for folder in sorted(os.listdir(os.path.join(root, 'experiments'))):
        for name in sorted(os.listdir(os.path.join(root, 'experiments', folder))):
            if name.endswith('.log'):
                with open(os.path.join(root, 'experiments', folder, name), encoding='utf-8') as f:
                    lines += [line for line in f if 'l_pix' in line]
    return [{k: float(v) for k, v in LOSS.findall(line)} for line in lines]


def run(root: str) -> dict:
    """Search 6 iterations, then train the found net 4 iterations, in ``root``; what both produced."""
    from hinas_basicsr.cli import basicsr_main

    torch.set_num_threads(1)
    os.chdir(root)
    gt_dir, lq_dir = make_subimage_folders(os.path.join(root, 'data'))
    search = search_options(gt_dir, lq_dir, name='behaviour_search')
    with open('search.yml', 'w') as f:
        yaml.safe_dump(search, f, sort_keys=False)
    assert basicsr_main(['train', '-opt', 'search.yml']) == 0
    with open('experiments/behaviour_search/genotypes/best.json', encoding='utf-8') as f:
        found = json.load(f)
    inner = dict(search['datasets']['train']['dataset'])
    train = {k: v for k, v in search.items() if k not in ('val',)}
    train.update(name='behaviour_train', model_type='HiNASModel',
                 network_g={'type': 'HiNASNet', 'genotype': os.path.abspath(
                     'experiments/behaviour_search/genotypes/best.json'), 'num_feat': 4},
                 datasets={'train': {'name': 'TinyTrain', **inner, 'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2,
                                     'dataset_enlarge_ratio': 1, 'prefetch_mode': None}},
                 train={'ema_decay': 0, 'total_iter': 4, 'warmup_iter': -1,
                        'optim_g': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0},
                        'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [4], 'restart_weights': [1],
                                      'eta_min': 1e-7},
                        'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
                 logger={'print_freq': 1, 'save_checkpoint_freq': 4, 'use_tb_logger': False})
    with open('train.yml', 'w') as f:
        yaml.safe_dump(train, f, sort_keys=False)
    assert basicsr_main(['train', '-opt', 'train.yml']) == 0
    losses = _logged_losses(root)
    return {'cells': found['cells'], 'widths': found['widths'],
            'search_losses': [line for line in losses if 'l_ssim' in line],
            'train_losses': [line for line in losses if 'l_ssim' not in line]}


if __name__ == '__main__':
    out = os.path.abspath(sys.argv[1])  # basicsr train rewrites sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        result = run(tmp)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))
