"""The supernet as a judge of a finished search, for the benchmarks (benchmarks/judge_search.py): its option file,
its final supernet and its held-out split, loaded into a :class:`~hinas_basicsr.search.judge.SearchJudge`."""
from __future__ import annotations

import copy
import os
from typing import Any

import torch
from basicsr.data import build_dataset
from torch.utils.data import DataLoader

from hinas_basicsr.search.judge import DEFAULT_CALIB_BATCHES, SearchJudge, psnr_options, take_batches
from hinas_basicsr.tools.networks import load_network
from hinas_basicsr.utils.options_file import load_yaml


def judge_of_search(search_opt: str, checkpoint: str | None = None, bn: str = 'batch',
                 calib_batches: int = DEFAULT_CALIB_BATCHES, device: torch.device | None = None,
                 val_batches: int | None = None, val_crop: int | None = None) -> SearchJudge:
    """A judge of a finished search: its option file, its final supernet (``experiments/<name>/models/
    net_g_latest.pth`` unless ``checkpoint``), its held-out val split (the first ``val_batches`` images, all
    with None); ``bn='calibrate'`` on ``calib_batches`` batches of its A split."""
    opt = load_yaml(search_opt)
    checkpoint = checkpoint or os.path.join('experiments', opt['name'], 'models', 'net_g_latest.pth')
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f'{search_opt}: the search wrote no supernet at {checkpoint}')
    net = load_network(search_opt, checkpoint, device)

    def dataset(phase: str, split: str) -> Any:
        spec = copy.deepcopy(opt['datasets'][phase])
        spec.update(phase='val' if split == 'val' else 'train', scale=opt['scale'], split=split)
        return build_dataset(spec)

    val = take_batches(DataLoader(dataset('val', 'val'), batch_size=1), val_batches)
    calibration = None
    if bn == 'calibrate':
        loader = DataLoader(dataset('train', 'a'), batch_size=int(opt['datasets']['train']['batch_size_per_gpu']),
                            shuffle=True, generator=torch.Generator().manual_seed(int(opt.get('manual_seed') or 0)))
        calibration = take_batches(loader, calib_batches)
    crop_border, y = psnr_options(opt)
    return SearchJudge(net, val, crop_border, y, bn, calibration, val_crop)
