"""datasets_prep/prepare_photos.py on a small generated source and manifest (never the real packages)."""
import gc
import json
import os

import cv2
import numpy as np
import pytest
from basicsr.data.paired_image_dataset import PairedImageDataset
from basicsr.utils.matlab_functions import imresize
from prep_helpers import smooth_image

from hinas_basicsr.prep.photos import prepare_photos, sha256_of

SIZES = {'a': (200, 260), 'b': (230, 200), 'c': (196, 244), 'd': (160, 180)}  # d is the test photo
CROP, STEP = 48, 24


def bicubic(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    img = img[:h - h % scale, :w - w % scale].astype(np.float32) / 255.
    return np.clip(np.round(imresize(img, 1 / scale) * 255), 0, 255).astype(np.uint8)


def make_source(root):
    """JPEG 'photos' under root/usr/share/fake/, and their manifest; returns the manifest path."""
    folder = root / 'usr' / 'share' / 'fake'
    folder.mkdir(parents=True)
    photos = []
    for i, (name, (h, w)) in enumerate(SIZES.items()):
        path = folder / f'{name}.jpg'
        cv2.imwrite(str(path), smooth_image(h, w, i), [cv2.IMWRITE_JPEG_QUALITY, 90])
        photos.append({'name': f'fake_{name}', 'package': 'fake-wallpapers', 'path': f'/usr/share/fake/{name}.jpg',
                       'sha256': sha256_of(str(path)), 'split': 'test' if name == 'd' else 'train'})
    manifest = root / 'manifest.json'
    manifest.write_text(json.dumps({'format': 'hinas-photos', 'version': 1, 'photos': photos}))
    return str(manifest)


def run_script(*args):
    import importlib.util
    import sys

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'datasets_prep')
    sys.path.insert(0, folder)  # where the script finds _bootstrap
    try:
        spec = importlib.util.spec_from_file_location('prepare_photos', os.path.join(folder, 'prepare_photos.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.main(list(args))
    finally:
        sys.path.remove(folder)


@pytest.mark.parametrize('damage', ['changed', 'missing'])
def test_a_changed_or_missing_photo_is_refused_in_one_line_naming_apt_get(tmp_path, capsys, damage):
    manifest = make_source(tmp_path)
    photo = tmp_path / 'usr' / 'share' / 'fake' / 'b.jpg'
    if damage == 'changed':
        data = bytearray(photo.read_bytes())
        data[-3] ^= 1
        photo.write_bytes(bytes(data))
    else:
        photo.unlink()
    dst = tmp_path / 'out'
    assert run_script('--dst', str(dst), '--manifest', manifest, '--root', str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(photo) in err
    if damage == 'changed':
        assert 'sha256 differs' in err and 'apt-get install -y --reinstall fake-wallpapers' in err
    else:
        assert 'missing' in err and 'apt-get install -y fake-wallpapers' in err
    assert not dst.exists()


def test_generated_set_reads_back_through_paired_image_dataset(tmp_path):
    manifest = make_source(tmp_path)
    dst = tmp_path / 'photos'
    built = prepare_photos(str(dst), manifest, str(tmp_path), crop_size=CROP, step=STEP, test_crop=36)
    assert 'DIV2K_train_HR_sub.lmdb' in built and 'DIV2K_train_LR_bicubic_X3.lmdb' in built
    assert sorted(os.listdir(dst / 'DIV2K_train_HR')) == ['fake_a.png', 'fake_b.png', 'fake_c.png']
    assert os.listdir(dst / 'benchmark' / 'PhotosTest' / 'HR') == ['fake_d.png']
    source = cv2.imread(str(tmp_path / 'usr' / 'share' / 'fake' / 'a.jpg'))
    hr = bicubic(source, 2)  # the HR photo: the source halved by MATLAB bicubic
    assert hr.shape[:2] == (100, 130)
    np.testing.assert_array_equal(cv2.imread(str(dst / 'DIV2K_train_HR' / 'fake_a.png')), hr)
    for s in (2, 3, 4):
        whole = PairedImageDataset({
            'phase': 'val', 'scale': s, 'io_backend': {'type': 'lmdb'}, 'filename_tmpl': '{}',
            'dataroot_gt': str(dst / 'DIV2K_train_HR.lmdb'),
            'dataroot_lq': str(dst / f'DIV2K_train_LR_bicubic_X{s}.lmdb')})
        assert len(whole) == 3
        item = next(whole[i] for i in range(3) if whole[i]['gt_path'] == 'fake_a')
        mod = hr[:96, :120]  # mod-cropped to lcm(2, 3, 4) = 12
        gt = np.round(item['gt'].numpy().transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)
        np.testing.assert_array_equal(gt, mod)
        lq = np.round(item['lq'].numpy().transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)
        assert lq.shape == (96 // s, 120 // s, 3)
        assert np.abs(lq.astype(int) - bicubic(hr, s)[:96 // s, :120 // s]).max() <= 1
        subs = PairedImageDataset({
            'phase': 'train', 'scale': s, 'io_backend': {'type': 'lmdb'}, 'filename_tmpl': '{}', 'gt_size': CROP,
            'use_hflip': False, 'use_rot': False, 'dataroot_gt': str(dst / 'DIV2K_train_HR_sub.lmdb'),
            'dataroot_lq': str(dst / f'DIV2K_train_LR_bicubic_X{s}_sub.lmdb')})
        # a: 96x120 -> rows 0, 24, 48 x cols 0, 24, 48, 72 = 12; b: 108x96 (230x200 /2 = 115x100) -> 4 x 3 = 12;
        # c: 96x120 (196x244 /2 = 98x122) -> 12
        assert len(subs) == 36
        assert tuple(subs[0]['gt'].shape) == (3, CROP, CROP) and tuple(subs[0]['lq'].shape) == (3, CROP // s, CROP // s)
        test = PairedImageDataset({
            'phase': 'val', 'scale': s, 'io_backend': {'type': 'disk'},
            'dataroot_gt': str(dst / 'benchmark' / 'PhotosTest' / f'GTmod{s}'),
            'dataroot_lq': str(dst / 'benchmark' / 'PhotosTest' / f'LRbicx{s}')})
        assert len(test) == 1 and tuple(test[0]['lq'].shape[-2:]) == (80 // s, 90 // s)
    crop = cv2.imread(str(dst / 'benchmark' / 'PhotosTestCrop' / 'GTmod2' / 'fake_d.png'))
    whole = cv2.imread(str(dst / 'benchmark' / 'PhotosTest' / 'HR' / 'fake_d.png'))
    assert whole.shape[:2] == (80, 90)
    np.testing.assert_array_equal(crop, whole[22:58, 27:63])  # the central 36x36
    assert prepare_photos(str(dst), manifest, str(tmp_path), crop_size=CROP, step=STEP, test_crop=36) == []


def bt601_gray(bgr: np.ndarray) -> np.ndarray:
    """Gray by ITU-R BT.601 luma weights, computed here (OpenCV's fixed point may round 1 apart)."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    return np.round(0.299 * r + 0.587 * g + 0.114 * b)


def test_gray_set_reads_back_through_the_noisy_dataset(tmp_path):
    from basicsr.data import build_dataset

    manifest = make_source(tmp_path)
    dst = tmp_path / 'photos_gray'
    assert run_script('--gray', '--dst', str(dst), '--manifest', manifest, '--root', str(tmp_path)) == 0
    assert sorted(os.listdir(dst)) == ['.hinas_prep.json', 'Photos_test', 'Photos_test_crop', 'Photos_train.lmdb']
    assert os.listdir(dst / 'Photos_test') == ['fake_d.png'] == os.listdir(dst / 'Photos_test_crop')

    def read(folder, backend, phase='val', **extra):
        return build_dataset({'name': 'g', 'type': 'HiNASNoisyImageDataset', 'phase': phase, 'gray': True,
                              'dataroot_gt': str(dst / folder), 'io_backend': {'type': backend}, 'sigma': [50],
                              'noise_seed': 0, **extra})

    train = read('Photos_train.lmdb', 'lmdb')
    assert sorted(train.paths) == ['fake_a', 'fake_b', 'fake_c']  # the same split as the SR set
    for item in train:
        name = item['gt_path'][len('fake_'):]
        source = cv2.imread(str(tmp_path / 'usr' / 'share' / 'fake' / f'{name}.jpg'))
        expected = bt601_gray(bicubic(source, 2))  # halved as the SR set's HR photo, then gray
        gt = item['gt'].numpy()
        assert gt.shape == (1, *expected.shape)
        assert np.abs(np.round(gt[0] * 255) - expected).max() <= 1
    test = read('Photos_test', 'disk')
    again = read('Photos_test', 'disk')
    assert test[0]['gt'].shape == (1, 80, 90)  # d: 160x180 halved
    assert np.array_equal(test[0]['lq'].numpy(), again[0]['lq'].numpy())  # fixed noise per sigma and seed
    assert abs((test[0]['lq'] - test[0]['gt']).std().item() * 255 / 50 - 1) < 0.05
    del train  # its LMDB environment: one per process
    gc.collect()
    crops = read('Photos_train.lmdb', 'lmdb', phase='train', gt_size=64)
    assert crops[0]['gt'].shape == (1, 64, 64)  # a training crop of the denoising options fits every photo
    assert run_script('--gray', '--dst', str(dst), '--manifest', manifest, '--root', str(tmp_path)) == 0
    assert prepare_photos(str(dst), manifest, str(tmp_path), gray=True) == []  # up to date
