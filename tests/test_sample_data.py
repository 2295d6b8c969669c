import os

import cv2
import numpy as np
import pytest
from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.utils.matlab_functions import imresize

from hinas_basicsr.tools.sample_data import ensure_sample_data, make_sample_data


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    dst = str(tmp_path_factory.mktemp('s') / 'sample')
    ensure_sample_data(dst)
    return dst


@pytest.mark.slow
def test_layout(sample):
    div2k = os.path.join(sample, 'DIV2K')
    assert len(os.listdir(os.path.join(div2k, 'DIV2K_train_HR'))) == 5
    n_sub = len(os.listdir(os.path.join(div2k, 'DIV2K_train_HR_sub')))
    assert n_sub == 22
    for s in (2, 3, 4):
        names = os.listdir(os.path.join(div2k, 'DIV2K_train_LR_bicubic', f'X{s}_sub'))
        assert len(names) == n_sub
        gt_dir = os.path.join(sample, 'benchmark', 'SampleTest', f'GTmod{s}')
        lr_dir = os.path.join(sample, 'benchmark', 'SampleTest', f'LRbicx{s}')
        assert sorted(os.listdir(gt_dir)) == sorted(os.listdir(lr_dir)) == ['chelsea.png', 'coffee.png', 'rocket.png']
        for name in os.listdir(gt_dir):
            gt, lr = cv2.imread(os.path.join(gt_dir, name)), cv2.imread(os.path.join(lr_dir, name))
            assert gt.shape[0] == lr.shape[0] * s and gt.shape[1] == lr.shape[1] * s
            expected = np.clip(np.round(imresize(gt.astype(np.float32) / 255., 1 / s) * 255), 0, 255)
            np.testing.assert_array_equal(lr, expected.astype(np.uint8))
    test_dir = os.path.join(sample, 'BSD500', 'BSD500_test')
    assert sorted(os.listdir(test_dir)) == ['camera.png', 'chelsea.png', 'coffee.png', 'rocket.png']
    with open(os.path.join(sample, 'BSD500', 'BSD500_train.lmdb', 'meta_info.txt')) as f:
        shapes = [line.split()[1] for line in f]
    assert len(shapes) == 40 and all(s.endswith(',1)') for s in shapes)  # gray


def test_paired_lmdbs_read_by_basicsr(sample):
    div2k = os.path.join(sample, 'DIV2K')
    opt = {'name': 't', 'phase': 'train', 'scale': 4, 'gt_size': 96, 'use_hflip': True, 'use_rot': True,
           'io_backend': {'type': 'lmdb'}, 'filename_tmpl': '{}',
           'dataroot_gt': os.path.join(div2k, 'DIV2K_train_HR_sub.lmdb'),
           'dataroot_lq': os.path.join(div2k, 'DIV2K_train_LR_bicubic_X4_sub.lmdb')}
    item = PairedImageDataset(opt)[0]
    assert item['gt'].shape == (3, 96, 96) and item['lq'].shape == (3, 24, 24)


@pytest.mark.slow
def test_deterministic_and_idempotent(sample, tmp_path):
    mtime = os.path.getmtime(os.path.join(sample, '.sample_complete'))
    ensure_sample_data(sample)  # complete: a no-op
    assert os.path.getmtime(os.path.join(sample, '.sample_complete')) == mtime
    other = str(tmp_path / 'again')
    assert make_sample_data(other)
    for rel in ('DIV2K/DIV2K_train_HR_sub/0003_s002.png', 'DIV2K/DIV2K_train_LR_bicubic/X3_sub/0005_s004.png',
                'benchmark/SampleTest/LRbicx4/coffee.png', 'BSD500/BSD500_test/camera.png'):
        with open(os.path.join(sample, rel), 'rb') as a, open(os.path.join(other, rel), 'rb') as b:
            assert a.read() == b.read()


def test_incomplete_folder_is_refused(tmp_path):
    os.makedirs(tmp_path / 'sample' / 'DIV2K')
    with pytest.raises(FileExistsError, match='not complete sample data'):
        ensure_sample_data(str(tmp_path / 'sample'))
    assert os.listdir(tmp_path / 'sample') == ['DIV2K']  # never deleted
