"""Several random crops from each image of a paired dataset: the HiNAS reference's SR batches (4 crops x 4 images)."""
from __future__ import annotations

import random
from copy import deepcopy
from typing import Any

import torch
from basicsr.data import build_dataset
from basicsr.data.transforms import paired_random_crop
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data


def augment_pair(gt: torch.Tensor, lq: torch.Tensor, hflip: bool, rot: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """BasicSR's ``augment`` on (C, H, W) tensors: random horizontal flip, vertical flip and transpose."""
    for dims, enabled in (((-1,), hflip), ((-2,), rot)):
        if enabled and random.random() < 0.5:
            gt, lq = gt.flip(dims), lq.flip(dims)
    if rot and random.random() < 0.5:
        gt, lq = gt.transpose(-2, -1), lq.transpose(-2, -1)
    return gt.contiguous(), lq.contiguous()


@DATASET_REGISTRY.register()
class HiNASMultiCropDataset(data.Dataset):
    """``crops_per_image`` random paired crops of one image per sample, each flipped/rotated on its own.

    The inner dataset (e.g. ``PairedImageDataset`` on the whole-image DIV2K LMDBs) is built in its
    ``val`` phase, so it loads a whole image pair once; the crops are cut here. A sample's ``gt`` and
    ``lq`` are (crops_per_image, C, H, W); ``HiNASModel`` trains a batch of N samples as N * crops
    crops (``batch_size_per_gpu: 4`` with ``crops_per_image: 4`` is the reference's batch of 16).

    Args:
        opt (dict): Config for the wrapper. It contains:
            dataset (dict): Options of the inner paired dataset (``type`` included), without phase.
            crops_per_image (int): Crops per sample. Default: 4.
            gt_size (int): GT crop size. use_hflip, use_rot (bool): augmentations. Default: true.
            scale (int): Scale (set by BasicSR from the top-level ``scale``).
    """

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        self.opt = opt
        self.crops_per_image = int(opt.get('crops_per_image', 4))
        if self.crops_per_image < 1:
            raise ValueError(f'datasets.{opt.get("phase")}.crops_per_image: expected >= 1, got {self.crops_per_image}')
        if 'gt_size' not in opt:
            raise ValueError(f'datasets.{opt.get("phase")}.gt_size: HiNASMultiCropDataset needs the GT crop size')
        inner = deepcopy(opt['dataset'])
        inner.update(phase='val', scale=opt['scale'])  # whole images; the crops are cut in __getitem__
        inner.setdefault('name', opt.get('name', 'train'))
        self.dataset = build_dataset(inner)
        self.paths = getattr(self.dataset, 'paths', None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.dataset[index]
        gts, lqs = [], []
        for _ in range(self.crops_per_image):
            # BasicSR's crop takes (N, C, H, W) tensors
            gt, lq = paired_random_crop(sample['gt'][None], sample['lq'][None], self.opt['gt_size'],
                                        self.opt['scale'], sample.get('gt_path'))
            gt, lq = augment_pair(gt[0], lq[0], self.opt.get('use_hflip', True), self.opt.get('use_rot', True))
            gts.append(gt)
            lqs.append(lq)
        return {**sample, 'gt': torch.stack(gts), 'lq': torch.stack(lqs)}
