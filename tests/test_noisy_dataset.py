import hashlib
import os
import random

import cv2
import numpy as np
import pytest
from basicsr.data import build_dataset
from prep_helpers import smooth_image

from hinas_basicsr.prep.common import pack_lmdb

SIGMAS = [30, 50, 70]


@pytest.fixture(scope='module')
def gt_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('noisy')
    folder = root / 'gt'
    os.makedirs(folder)
    for i in range(4):
        cv2.imwrite(str(folder / f'img{i}.png'), smooth_image(160, 192, seed=i))
    pack_lmdb(str(folder), str(root / 'gt.lmdb'))
    return str(folder), str(root / 'gt.lmdb')


def make(folder, phase='val', backend='disk', **extra):
    opt = {'name': 'noisy', 'type': 'HiNASNoisyImageDataset', 'phase': phase, 'dataroot_gt': folder,
           'io_backend': {'type': backend}, 'sigma': SIGMAS, 'noise_seed': 0, **extra}
    return build_dataset(opt)


@pytest.mark.parametrize('gray', [False, True])
def test_val_noise_is_fixed_and_has_the_requested_sigma(gt_folders, gray):
    folder, _ = gt_folders
    first, second = make(folder, gray=gray), make(folder, gray=gray)
    other_seed = make(folder, gray=gray, noise_seed=1)
    channels = 1 if gray else 3
    for a, b, c in zip(first, second, other_seed):
        assert a['gt'].shape == (channels, 160, 192)
        assert a['sigma'] in SIGMAS and a['sigma'] == b['sigma']
        assert np.array_equal(a['lq'].numpy(), b['lq'].numpy())  # identical across constructions
        assert not np.array_equal(a['lq'].numpy(), c['lq'].numpy())
        empirical = (a['lq'] - a['gt']).std().item() * 255
        assert abs(empirical / a['sigma'] - 1) < 0.02


@pytest.mark.slow
def test_val_noise_is_fixed_across_processes(gt_folders):
    """The noise comes from the seed and a stable hash of the key, not from Python's salted hash()."""
    import subprocess
    import sys

    folder, _ = gt_folders
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # the bytes of the noisy image, not a float sum: a sum's rounding depends on the thread count of each process
    code = ('import hashlib, hinas_basicsr, sys; from basicsr.data import build_dataset; '
            f"d = build_dataset({{'name': 'n', 'type': 'HiNASNoisyImageDataset', 'phase': 'val', "
            f"'dataroot_gt': {folder!r}, 'io_backend': {{'type': 'disk'}}, 'sigma': {SIGMAS}}}); "
            "sys.stdout.write(hashlib.sha256(d[2]['lq'].numpy().tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         env={**os.environ, 'PYTHONPATH': repo}).stdout
    here = make(folder)[2]['lq']
    assert out == hashlib.sha256(here.numpy().tobytes()).hexdigest()
    assert float(here.std()) > 0.1  # a real image: a constant one would match trivially


def test_lmdb_and_disk_give_the_same_items(gt_folders):
    folder, lmdb = gt_folders
    for a, b in zip(make(folder), make(lmdb, backend='lmdb')):
        assert os.path.splitext(os.path.basename(a['gt_path']))[0] == b['gt_path']
        assert np.array_equal(a['gt'].numpy(), b['gt'].numpy())
        assert np.array_equal(a['lq'].numpy(), b['lq'].numpy())


@pytest.mark.parametrize('gray', [False, True])
def test_train_crops_augments_and_draws_sigma(gt_folders, gray):
    folder, lmdb = gt_folders
    dataset = make(lmdb, phase='train', backend='lmdb', gray=gray, gt_size=48, use_hflip=True, use_rot=True)
    seen = set()
    for _ in range(6):
        for item in dataset:
            assert item['gt'].shape == item['lq'].shape == (1 if gray else 3, 48, 48)
            assert 0 <= item['gt'].min() and item['gt'].max() <= 1
            seen.add(item['sigma'])
    assert seen == set(SIGMAS)


def test_bad_options_are_named(gt_folders):
    folder, _ = gt_folders
    with pytest.raises(ValueError, match='gt_size'):
        make(folder, phase='train')
    with pytest.raises(ValueError, match='sigma'):
        make(folder, sigma=[-1])
    with pytest.raises(FileNotFoundError, match='dataroot_gt'):
        make(folder + '_missing')


def test_train_rescale_probability_range_and_shapes(gt_folders, monkeypatch):
    """rescale_prob 0.5: about half the training images are resized by a factor in [0.8, 1.2] before the crop;
    the crop keeps gt_size; the same seed gives the same draws; rescale_prob 0 never resizes."""
    from hinas_basicsr.data.hinas_noisy_dataset import HiNASNoisyImageDataset

    folder, _ = gt_folders
    real = HiNASNoisyImageDataset._rescale
    calls = []

    def recording(img, factor, gt_size):
        out = real(img, factor, gt_size)
        calls.append((img.shape, factor, out.shape))
        return out

    monkeypatch.setattr(HiNASNoisyImageDataset, '_rescale', staticmethod(recording))

    def draws(prob, seed=0, n=200):
        calls.clear()
        dataset = make(folder, phase='train', gt_size=48, gray=True, rescale_prob=prob, rescale_range=[0.8, 1.2])
        random.seed(seed)
        np.random.seed(seed)
        shapes = {tuple(dataset[i % len(dataset)]['gt'].shape) for i in range(n)}
        assert shapes == {(1, 48, 48)}
        return list(calls)

    half = draws(0.5)
    assert 70 <= len(half) <= 130  # binomial(200, 0.5): 5.6 standard deviations either side
    for (h, w, c), factor, out in half:
        assert 0.8 <= factor <= 1.2 and out == (round(h * factor), round(w * factor), c)
    assert {round(f, 1) for _, f, _ in half} >= {0.8, 1.0, 1.2}  # spread over the range
    assert draws(0.5) == half
    assert draws(0.0) == []
    assert len(draws(1.0, n=20)) == 20


def test_rescale_keeps_a_crop_and_refuses_bad_options(gt_folders):
    from hinas_basicsr.data.hinas_noisy_dataset import HiNASNoisyImageDataset

    img = np.random.default_rng(0).random((160, 192, 1), dtype=np.float32)
    small = HiNASNoisyImageDataset._rescale(img, 0.5, 100)  # 0.5 would leave 80 rows: raised to 100 / 160
    assert small.shape == (100, 120, 1) and 0 <= small.min() and small.max() <= 1
    folder, _ = gt_folders
    with pytest.raises(ValueError, match='rescale_prob'):
        make(folder, phase='train', gt_size=48, rescale_prob=1.5)
    with pytest.raises(ValueError, match='rescale_range'):
        make(folder, phase='train', gt_size=48, rescale_prob=0.5, rescale_range=[1.2, 0.8])
    with pytest.raises(ValueError, match=r'rescale_range: expected \[low, high\] with 0 < low <= high <= 4'):
        make(folder, phase='train', gt_size=48, rescale_prob=0.5, rescale_range=[0.8, 5])  # 5x: gigabytes a photo
    make(folder, phase='train', gt_size=48, rescale_prob=0.5, rescale_range=[0.8, 4])
