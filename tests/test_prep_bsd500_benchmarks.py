import os

import cv2
import numpy as np
from basicsr.utils.matlab_functions import imresize
from prep_helpers import smooth_image

from hinas_basicsr.data.hinas_noisy_dataset import HiNASNoisyImageDataset
from hinas_basicsr.prep.benchmarks import prepare_sr_benchmarks
from hinas_basicsr.prep.bsd500 import prepare_bsd500


def test_bsd500_gray_lmdb_and_test_folder(tmp_path):
    images = tmp_path / 'BSR' / 'BSDS500' / 'data' / 'images'
    ids = {'train': ['100075', '100080'], 'val': ['101085'], 'test': ['100007', '100039']}
    for split, names in ids.items():
        os.makedirs(images / split)
        for k, name in enumerate(names):
            cv2.imwrite(str(images / split / f'{name}.jpg'), smooth_image(81, 121, seed=k))
    dst = str(tmp_path / 'BSD500')
    assert prepare_bsd500(str(tmp_path / 'BSR'), dst, gray=True) == ['BSD500_train.lmdb', 'BSD500_test']
    with open(os.path.join(dst, 'BSD500_train.lmdb', 'meta_info.txt')) as f:
        assert f.read().splitlines() == [f'{i}.png (81,121,1) 1' for i in ('100075', '100080', '101085')]
    assert sorted(os.listdir(os.path.join(dst, 'BSD500_test'))) == ['100007.png', '100039.png']
    assert cv2.imread(os.path.join(dst, 'BSD500_test', '100007.png'), cv2.IMREAD_UNCHANGED).shape == (81, 121)
    opt = {'phase': 'val', 'dataroot_gt': os.path.join(dst, 'BSD500_train.lmdb'), 'io_backend': {'type': 'lmdb'},
           'gray': True, 'sigma': 50}
    assert HiNASNoisyImageDataset(opt)[0]['lq'].shape == (1, 81, 121)
    assert prepare_bsd500(str(tmp_path / 'BSR'), dst, gray=True) == []  # rerun: up to date


def test_bsd500_counts_300_train_val_and_200_test(tmp_path):
    """A BSR tree with BSDS500's real split sizes: 200 train + 100 val in the LMDB, 200 test in the folder."""
    images = tmp_path / 'BSR' / 'BSDS500' / 'data' / 'images'
    counts = {'train': 200, 'val': 100, 'test': 200}
    ids = {}
    for k, (split, n) in enumerate(counts.items()):
        os.makedirs(images / split)
        ids[split] = [str(100000 * (k + 1) + i) for i in range(n)]
        for i, name in enumerate(ids[split]):
            cv2.imwrite(str(images / split / f'{name}.jpg'), np.full((11, 12, 3), i % 256, np.uint8))
    dst = str(tmp_path / 'BSD500')
    prepare_bsd500(str(tmp_path / 'BSR'), dst, gray=True, crop_size=11)  # tiny images: SSIM's window is 11
    with open(os.path.join(dst, 'BSD500_train.lmdb', 'meta_info.txt')) as f:
        keys = [line.split('.png')[0] for line in f.read().splitlines()]
    assert len(keys) == 300 and keys == sorted(ids['train'] + ids['val'])
    assert sorted(os.listdir(os.path.join(dst, 'BSD500_test'))) == sorted(f'{i}.png' for i in ids['test'])


def test_sr_benchmarks_gtmod_and_lrbic(tmp_path, capsys):
    os.makedirs(tmp_path / 'src' / 'Set5' / 'HR')
    os.makedirs(tmp_path / 'src' / 'b100')
    cv2.imwrite(str(tmp_path / 'src' / 'Set5' / 'HR' / 'baby.png'), smooth_image(101, 87, 1))
    cv2.imwrite(str(tmp_path / 'src' / 'b100' / '3096.png'), smooth_image(97, 130, 2))
    dst = tmp_path / 'benchmarks'
    prepare_sr_benchmarks(str(tmp_path / 'src'), str(dst), (2, 3, 8))
    assert 'Urban100 not found' in capsys.readouterr().out
    assert sorted(os.listdir(dst / 'Set5')) == ['GTmod2', 'GTmod3', 'GTmod8', 'LRbicx2', 'LRbicx3', 'LRbicx8']
    for s in (2, 3, 8):
        gt = cv2.imread(str(dst / 'BSD100' / f'GTmod{s}' / '3096.png'))
        assert gt.shape[:2] == (97 - 97 % s, 130 - 130 % s)
        lr = cv2.imread(str(dst / 'BSD100' / f'LRbicx{s}' / '3096.png'))
        expected = np.clip(np.round(imresize(gt.astype(np.float32) / 255., 1 / s) * 255), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(lr, expected)
