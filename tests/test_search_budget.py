"""The reference search options' budget: an epoch is one random crop per W image, as BasicSR's loader yields them."""
from __future__ import annotations

import os

import pytest
import torch
from basicsr.data import build_dataloader
from basicsr.data.data_sampler import EnlargedSampler
from torch.utils.data import Dataset

from hinas_basicsr.data.hinas_split_dataset import GROUP_BY, loader_batch_size, loader_iters_per_epoch, split_indices
from hinas_basicsr.utils.options_file import load_yaml

OPTIONS = os.path.join(os.path.dirname(__file__), '..', 'options')
# option file -> (whole-image LMDB, its image count: DIV2K's 800 training images, BSD500's 200 train + 100 val)
REFERENCE = {**{f'search_sr_x{s}.yml': ('DIV2K_train_HR.lmdb', 800) for s in (2, 3, 4)},
             'search_denoise.yml': ('BSD500_train.lmdb', 300)}
EPOCHS, WARMUP_EPOCHS = 100, 20


class Indices(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index)


@pytest.mark.parametrize('n, batch, world, ratio, num_gpu', [(380, 24, 1, 1, 0), (147, 6, 1, 1, 1), (147, 6, 2, 1, 1),
                                                             (10, 5, 1, 3, 0), (23, 4, 3, 2, 1), (380, 24, 1, 1, 4)])
def test_iters_per_epoch_is_what_basicsr_loader_yields(n, batch, world, ratio, num_gpu):
    """HiNASSearchModel.iters_per_epoch (loader_iters_per_epoch) against BasicSR's own loader, on every rank;
    with 4 GPUs and no launcher BasicSR's DataParallel batch is 4 x batch_size_per_gpu."""
    dataset = Indices(n)
    dataset_opt = {'phase': 'train', 'batch_size_per_gpu': batch, 'num_worker_per_gpu': 0}
    opt = {'num_gpu': num_gpu, 'dist': world > 1}
    assert loader_batch_size(opt, dataset_opt) == batch * (4 if num_gpu == 4 else 1)
    for rank in range(world):
        sampler = EnlargedSampler(dataset, world, rank, ratio)
        loader = build_dataloader(dataset, dataset_opt, num_gpu=num_gpu, dist=world > 1, sampler=sampler)
        assert sum(1 for _ in loader) == loader_iters_per_epoch(n, loader_batch_size(opt, dataset_opt), world, ratio)


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_reference_search_budget(name):
    opt = load_yaml(os.path.join(OPTIONS, name))
    lmdb, num_images = REFERENCE[name]
    train_set = opt['datasets']['train']
    inner = train_set['dataset']
    assert inner['dataroot_gt'].endswith(f'/{lmdb}') and inner['io_backend']['type'] == 'lmdb'
    if 'dataroot_lq' in inner:  # whole images at the search's scale
        assert inner['dataroot_lq'].endswith(f"DIV2K_train_LR_bicubic_X{opt['scale']}.lmdb")
    else:
        assert (inner['rescale_prob'], inner['rescale_range']) == (0.5, [0.8, 1.2])
    assert train_set.get('dataset_enlarge_ratio', 1) == 1  # one crop per image and epoch

    # the W split of the whole images, counted here from the ratios, and as HiNASSplitDataset splits them
    num_val = round(train_set['val_ratio'] * num_images)
    num_w = (num_images - num_val + 1) // 2
    keys = [f'{i:06d}' for i in range(num_images)]
    splits = split_indices(keys, train_set['val_ratio'], train_set['split_seed'], train_set.get('group_by', GROUP_BY))
    assert (len(splits['val']), len(splits['w'])) == (num_val, num_w)
    assert (num_val, num_w) == ((40, 380) if num_images == 800 else (6, 147))

    batch = train_set['batch_size_per_gpu']
    iters = num_w // batch  # drop_last
    assert iters == loader_iters_per_epoch(num_w, batch) == (15 if num_images == 800 else 24)
    train = opt['train']
    assert train['total_iter'] == EPOCHS * iters
    warmup = train.get('arch_warmup_iter')
    warmup = round(train['arch_warmup_ratio'] * train['total_iter']) if warmup is None else warmup
    assert warmup == WARMUP_EPOCHS * iters
    for freq in (opt['val']['val_freq'], opt['logger']['save_checkpoint_freq']):  # epoch boundaries: exact resume
        assert freq % iters == 0 and train['total_iter'] % freq == 0
