import glob
import os

import cv2
import numpy as np
import pytest
from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.utils.matlab_functions import imresize
from prep_helpers import HR_SIZES, expected_subimages, make_div2k_src

from hinas_basicsr.prep import div2k
from hinas_basicsr.prep.div2k import prepare_div2k

SCALES = (2, 3, 4, 8)
HR_MOD = 24  # lcm(2, 3, 4, 8): HR and LR line up at every scale


def bicubic(img: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic of a uint8 image, computed here from BasicSR directly."""
    h, w = img.shape[:2]
    img = img[:h - h % scale, :w - w % scale].astype(np.float32) / 255.
    return np.clip(np.round(imresize(img, 1 / scale) * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp('div2k')
    src = make_div2k_src(str(root / 'DIV2K'))
    dst = str(root / 'out')
    built = prepare_div2k(src, dst, SCALES)
    return src, dst, built


def test_counts_match_formula(prepared):
    src, dst, _ = prepared
    expected = {f'{i:04d}': len(expected_subimages(h, w)) for i, (h, w) in enumerate(HR_SIZES, 1)}
    assert expected == {'0001': 2, '0002': 2}  # 500x700 -> 480x696, 730x481 -> 720x480
    names = sorted(f'{stem}_s{k:03d}.png' for stem, n in expected.items() for k in range(1, n + 1))
    folders = ['DIV2K_train_HR_sub'] + [f'DIV2K_train_LR_bicubic/X{s}_sub' for s in SCALES]
    lmdbs = ['DIV2K_train_HR_sub.lmdb'] + [f'DIV2K_train_LR_bicubic_X{s}_sub.lmdb' for s in SCALES]
    for folder, lmdb in zip(folders, lmdbs):
        assert sorted(os.listdir(os.path.join(dst, folder))) == names
        with open(os.path.join(dst, lmdb, 'meta_info.txt')) as f:
            lines = f.read().splitlines()
        assert [line.split(' ')[0] for line in lines] == names
        assert all('.' not in line.split('.png')[0] for line in lines)  # keys have no dots


def test_generated_lr_is_matlab_bicubic(prepared):
    src, dst, built = prepared
    assert {f'DIV2K_train_LR_bicubic/X{s}' for s in SCALES} <= set(built)
    hr = cv2.imread(os.path.join(src, 'DIV2K_train_HR', '0002.png'))
    for s in SCALES:
        lr = cv2.imread(os.path.join(dst, 'DIV2K_train_LR_bicubic', f'X{s}', f'0002x{s}.png'))
        assert lr.shape == (730 // s, 481 // s, 3)
        np.testing.assert_array_equal(lr, bicubic(hr, s))


@pytest.mark.parametrize('scale', SCALES)
def test_hr_and_lr_subimages_align(prepared, scale):
    src, dst, _ = prepared
    for i, (h, w) in enumerate(HR_SIZES, 1):
        hr = cv2.imread(os.path.join(src, 'DIV2K_train_HR', f'{i:04d}.png'))
        full_lr = bicubic(hr, scale)
        for k, (x, y) in enumerate(expected_subimages(h, w), 1):
            name = f'{i:04d}_s{k:03d}.png'
            hr_sub = cv2.imread(os.path.join(dst, 'DIV2K_train_HR_sub', name))
            lr_sub = cv2.imread(os.path.join(dst, f'DIV2K_train_LR_bicubic/X{scale}_sub', name))
            np.testing.assert_array_equal(hr_sub, hr[x:x + 480, y:y + 480])
            c, xs, ys = 480 // scale, x // scale, y // scale
            np.testing.assert_array_equal(lr_sub, full_lr[xs:xs + c, ys:ys + c])
            # LR sub-image == imresize(HR sub-image, 1/s) within rounding, away from the crop border
            # (bicubic support reaches 2 LR pixels past it)
            m = 3
            diff = np.abs(lr_sub[m:-m, m:-m].astype(int) - bicubic(hr_sub, scale)[m:-m, m:-m].astype(int))
            assert diff.max() <= 1


@pytest.mark.parametrize('scale', SCALES)
def test_basicsr_paired_dataset_reads_lmdb_as_png(prepared, scale):
    _, dst, _ = prepared
    opt = {'name': 't', 'phase': 'val', 'scale': scale, 'io_backend': {'type': 'lmdb'}, 'filename_tmpl': '{}',
           'dataroot_gt': os.path.join(dst, 'DIV2K_train_HR_sub.lmdb'),
           'dataroot_lq': os.path.join(dst, f'DIV2K_train_LR_bicubic_X{scale}_sub.lmdb')}
    dataset = PairedImageDataset(opt)
    assert len(dataset) == 4
    for item in dataset:
        name = f"{item['gt_path']}.png"
        gt = cv2.imread(os.path.join(dst, 'DIV2K_train_HR_sub', name))[..., ::-1].transpose(2, 0, 1)
        lq = cv2.imread(os.path.join(dst, f'DIV2K_train_LR_bicubic/X{scale}_sub', name))[..., ::-1].transpose(2, 0, 1)
        np.testing.assert_array_equal((item['gt'].numpy() * 255).round().astype(np.uint8), gt)
        np.testing.assert_array_equal((item['lq'].numpy() * 255).round().astype(np.uint8), lq)


@pytest.mark.parametrize('scale', SCALES)
def test_whole_image_lmdb_read_by_basicsr(prepared, scale):
    """Keys are the image ids; GT = the HR mod-cropped to 24, LQ = its MATLAB bicubic (rows/columns away from the
    crop edge, where bicubic support does not reach past it); the train phase takes one crop per image."""
    src, dst, built = prepared
    assert {'DIV2K_train_HR.lmdb', f'DIV2K_train_LR_bicubic_X{scale}.lmdb'} <= set(built)
    opt = {'name': 't', 'phase': 'val', 'scale': scale, 'io_backend': {'type': 'lmdb'}, 'filename_tmpl': '{}',
           'dataroot_gt': os.path.join(dst, 'DIV2K_train_HR.lmdb'),
           'dataroot_lq': os.path.join(dst, f'DIV2K_train_LR_bicubic_X{scale}.lmdb')}
    dataset = PairedImageDataset(opt)
    assert [item['gt_path'] for item in dataset] == ['0001', '0002']
    for i, (h, w) in enumerate(HR_SIZES, 1):
        item = dataset[i - 1]
        hr = cv2.imread(os.path.join(src, 'DIV2K_train_HR', f'{i:04d}.png'))
        hh, ww = h - h % HR_MOD, w - w % HR_MOD
        gt = (item['gt'].numpy().transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8)
        lq = (item['lq'].numpy().transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8)
        assert gt.shape == (hh, ww, 3) and lq.shape == (hh // scale, ww // scale, 3)
        np.testing.assert_array_equal(gt, hr[:hh, :ww])
        np.testing.assert_array_equal(lq, bicubic(hr, scale)[:hh // scale, :ww // scale])  # the LR file, cropped
        m = 3
        diff = np.abs(lq[:-m, :-m].astype(int) - bicubic(hr[:hh, :ww], scale)[:-m, :-m].astype(int))
        assert diff.max() <= 1
    dataset.opt.update(phase='train', gt_size=24 * scale, use_hflip=False, use_rot=False)  # (LMDB opens once)
    item = dataset[1]
    assert item['gt'].shape == (3, 24 * scale, 24 * scale) and item['lq'].shape == (3, 24, 24)


def test_rerun_skips_finished_outputs(prepared):
    src, dst, _ = prepared
    assert prepare_div2k(src, dst, SCALES) == []
    assert not glob.glob(os.path.join(dst, '.partial-*'))


def test_outputs_cut_for_other_scales_are_refused(tmp_path):
    """x2-x4 cut HR at mod 12: 492 rows give two sub-images; with x8 (mod 24) the same image gives one."""
    src = make_div2k_src(str(tmp_path / 'DIV2K'), sizes=((492, 480),))
    dst = str(tmp_path / 'out')
    prepare_div2k(src, dst, (2, 3, 4), make_lmdb=False)
    assert len(os.listdir(os.path.join(dst, 'DIV2K_train_HR_sub'))) == len(expected_subimages(492, 480, mod=12)) == 2
    with pytest.raises(FileExistsError, match='other settings; use --force'):
        prepare_div2k(src, dst, (2, 3, 4, 8), make_lmdb=False)
    prepare_div2k(src, dst, (2, 3, 4, 8), make_lmdb=False, force=True)
    assert len(os.listdir(os.path.join(dst, 'DIV2K_train_HR_sub'))) == len(expected_subimages(492, 480)) == 1
    assert len(os.listdir(os.path.join(dst, 'DIV2K_train_LR_bicubic', 'X8_sub'))) == 1


def test_official_lr_folders_are_used(tmp_path):
    src = make_div2k_src(str(tmp_path / 'DIV2K'), sizes=((480, 480),))
    hr = cv2.imread(os.path.join(src, 'DIV2K_train_HR', '0001.png'))
    os.makedirs(os.path.join(src, 'DIV2K_train_LR_bicubic', 'X2'))
    given = np.full((240, 240, 3), 77, np.uint8)  # not the bicubic of HR: must be taken as is
    cv2.imwrite(os.path.join(src, 'DIV2K_train_LR_bicubic', 'X2', '0001x2.png'), given)
    built = prepare_div2k(src, src, (2,), make_lmdb=False)
    assert 'DIV2K_train_LR_bicubic/X2' not in built
    subs = sorted(glob.glob(os.path.join(src, 'DIV2K_train_LR_bicubic', 'X2_sub', '*.png')))
    assert len(subs) == 1 and (cv2.imread(subs[0]) == 77).all()
    np.testing.assert_array_equal(cv2.imread(os.path.join(src, 'DIV2K_train_HR_sub', '0001_s001.png')),
                                  hr[:480, :480])


def test_interrupted_run_leaves_no_lmdb(tmp_path, monkeypatch):
    src = make_div2k_src(str(tmp_path / 'DIV2K'), sizes=((500, 700),))
    dst = str(tmp_path / 'out')
    real_pack = div2k.pack_lmdb

    def dying_pack(folder, lmdb_path, workers=1):
        real_pack(folder, lmdb_path, workers)  # fully written, but in the staging folder
        raise KeyboardInterrupt

    monkeypatch.setattr(div2k, 'pack_lmdb', dying_pack)
    with pytest.raises(KeyboardInterrupt):
        prepare_div2k(src, dst, (2,))
    assert glob.glob(os.path.join(dst, '**', '*.lmdb'), recursive=True) == []
    assert not glob.glob(os.path.join(dst, '.partial-*'))
    monkeypatch.setattr(div2k, 'pack_lmdb', real_pack)
    built = prepare_div2k(src, dst, (2,))
    # the LR folder and the HR sub-images were finished before the interruption: not redone
    assert built == ['DIV2K_train_HR_sub.lmdb', 'DIV2K_train_HR.lmdb', 'DIV2K_train_LR_bicubic/X2_sub',
                     'DIV2K_train_LR_bicubic_X2_sub.lmdb', 'DIV2K_train_LR_bicubic_X2.lmdb']


def test_parallel_workers_give_identical_output(tmp_path):
    src = make_div2k_src(str(tmp_path / 'DIV2K'))
    prepare_div2k(src, str(tmp_path / 'a'), (4,), workers=1, make_lmdb=False)
    prepare_div2k(src, str(tmp_path / 'b'), (4,), workers=2, make_lmdb=False)
    for rel in ('DIV2K_train_HR_sub', 'DIV2K_train_LR_bicubic/X4_sub'):
        names = sorted(os.listdir(tmp_path / 'a' / rel))
        assert names == sorted(os.listdir(tmp_path / 'b' / rel))
        for n in names:
            assert (tmp_path / 'a' / rel / n).read_bytes() == (tmp_path / 'b' / rel / n).read_bytes()
