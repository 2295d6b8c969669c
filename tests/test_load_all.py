"""HiNASSplitDataset's load_all: each image read and decoded once, when the dataset is built; the same samples."""
from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
import torch

import hinas_basicsr  # noqa: F401
from hinas_basicsr.data.hinas_split_dataset import HiNASSplitDataset, SharedFileClient


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    from hinas_basicsr.tools.sample_data import ensure_sample_data

    root = tmp_path_factory.mktemp('sample') / 'sample'
    ensure_sample_data(str(root))
    return root


def _paired(sample, load_all: bool) -> dict:
    div2k = sample / 'DIV2K'
    inner = {'type': 'PairedImageDataset', 'dataroot_gt': str(div2k / 'DIV2K_train_HR_sub.lmdb'),
             'dataroot_lq': str(div2k / 'DIV2K_train_LR_bicubic_X2_sub.lmdb'), 'io_backend': {'type': 'lmdb'},
             'gt_size': 32, 'use_hflip': True, 'use_rot': True}
    return {'name': 'W', 'phase': 'train', 'scale': 2, 'split': 'w', 'val_ratio': 0.05, 'dataset': inner,
            'load_all': load_all}


def _noisy(sample, load_all: bool) -> dict:
    inner = {'type': 'HiNASNoisyImageDataset', 'dataroot_gt': str(sample / 'BSD500' / 'BSD500_train.lmdb'),
             'io_backend': {'type': 'lmdb'}, 'gray': True, 'gt_size': 32, 'use_hflip': True, 'use_rot': True,
             'sigma': [30, 50], 'noise_seed': 0}
    return {'name': 'W', 'phase': 'train', 'scale': 1, 'split': 'w', 'val_ratio': 0.2, 'group_by': r'^(.+)_\d+$',
            'dataset': inner, 'load_all': load_all}


def _samples(dataset, seed: int = 5) -> list[dict]:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return [dataset[i] for _ in range(2) for i in range(len(dataset))]  # two passes


@pytest.mark.slow
@pytest.mark.parametrize('options', [_paired, _noisy])
def test_same_samples_each_image_decoded_once(sample, options, monkeypatch):
    from basicsr.utils import img_util

    plain = _samples(HiNASSplitDataset(options(sample, False)))
    decodes = []
    imdecode = cv2.imdecode
    monkeypatch.setattr(img_util.cv2, 'imdecode', lambda *a: decodes.append(1) or imdecode(*a))
    dataset = HiNASSplitDataset(options(sample, True))
    built = len(decodes)
    records = len(dataset.dataset.file_client.records)
    assert built == records > 0  # each record read and decoded once, at build time
    kept = _samples(dataset)
    assert len(decodes) == built  # and never again
    assert len(dataset.dataset.file_client.records) == records
    for a, b in zip(plain, kept):
        for key in ('gt', 'lq'):
            assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_load_all_is_a_bool(sample):
    opt = _paired(sample, 'yes')
    with pytest.raises(ValueError, match=r"^datasets.train.load_all: expected true or false, got 'yes'"):
        HiNASSplitDataset(opt)


def test_workers_open_the_lmdb_after_the_main_process_read_it(sample):
    """py-lmdb counts the parent's open environments as open in a forked worker: the split's shared client
    closes the inherited ones there (else: 'The environment ... is already open in this process')."""
    from torch.utils.data import DataLoader

    dataset = HiNASSplitDataset(_paired(sample, False))
    first = dataset[0]['gt']  # the main process opens the LMDBs (as a validation of the val split does)
    batches = list(DataLoader(dataset, batch_size=2, num_workers=2))
    assert sum(len(b['gt']) for b in batches) == len(dataset) and first.shape == batches[0]['gt'][0].shape


def test_split_all_is_the_inner_dataset_decoded_once(sample, monkeypatch):
    """``split: all`` with ``load_all`` (how the photo benchmark trains): every sample of the plain dataset, in its
    order, with the same crops for the same seeds, each image decoded once."""
    from basicsr.data import build_dataset
    from basicsr.utils import img_util

    opt = _paired(sample, True)
    plain = build_dataset({**opt['dataset'], 'name': 'plain', 'phase': 'train', 'scale': 2})
    plain.file_client = SharedFileClient(plain.io_backend_opt)  # LMDB opens an environment once a process
    expected = _samples(plain)
    decodes = []
    imdecode = cv2.imdecode
    monkeypatch.setattr(img_util.cv2, 'imdecode', lambda *a: decodes.append(1) or imdecode(*a))
    dataset = HiNASSplitDataset({**opt, 'split': 'all'})
    assert len(dataset) == len(plain) == len(dataset.dataset.file_client.records) // 2  # a GT and an LQ record each
    built = len(decodes)
    kept = _samples(dataset)
    assert len(decodes) == built == 2 * len(plain)
    assert [s['gt_path'] for s in kept] == [s['gt_path'] for s in expected]
    for a, b in zip(expected, kept):
        for key in ('gt', 'lq'):
            assert torch.equal(a[key], b[key]), key


def test_photo_benchmark_trains_on_split_all(tmp_path):
    """``hinas search-vs-random --data photos``: the training set is the plain photo set inside ``split: all``."""
    from hinas_basicsr.research.search_vs_random import LOADER_KEYS, Settings, training_options

    s = Settings(task='sr', scale=2, search_opt=None, genotype=None, random=1, seeds=1, search_iters=1,
                 train_iters=10, out=str(tmp_path), device='cpu', ablations=False, data='photos')
    train = training_options(s, 'net', str(tmp_path / 'g.json'), 0)['datasets']['train']
    assert (train['type'], train['split'], train['load_all']) == ('HiNASSplitDataset', 'all', True)
    inner = train['dataset']
    assert inner['type'] == 'PairedImageDataset' and inner['dataroot_gt'].startswith('datasets/photos/')
    assert (inner['gt_size'], train['batch_size_per_gpu']) == (64, 8)
    assert not set(inner) & (set(LOADER_KEYS) - {'name'}) and not {'gt_size', 'io_backend'} & set(train)
