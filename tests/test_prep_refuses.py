"""Every prep script checks each image before it writes anything: it decodes, its channels fit the set (colour for
SR; colour converts to gray), and it holds what is cut from it. A bad image: one line naming it, exit 2, nothing
written. Generated images only."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from prep_helpers import smooth_image
from test_bad_input import one_line, prep_main
from test_prep_photos import SIZES

from hinas_basicsr.prep.photos import sha256_of


def truncated_png(path, h: int = 120, w: int = 130) -> None:
    cv2.imwrite(str(path), smooth_image(h, w, seed=5))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])


def gray_png(path, h: int = 120, w: int = 130) -> None:
    cv2.imwrite(str(path), smooth_image(h, w, seed=6, channels=1))


def refused(tmp_path, capsys, script: str, args: list[str], bad, *words: str) -> str:
    """Run ``script`` in process; assert one line naming ``bad`` (and ``words``), exit 2, no output folder."""
    capsys.readouterr()
    code = prep_main(script)(args)
    line = one_line(code, capsys.readouterr().err, str(bad), *words)
    assert not (tmp_path / 'out').exists()
    return line


# ----------------------------------------------------------------------------- DIV2K
def div2k_src(tmp_path, bad: str):
    src = tmp_path / 'DIV2K'
    (src / 'DIV2K_train_HR').mkdir(parents=True)
    cv2.imwrite(str(src / 'DIV2K_train_HR' / '0001.png'), smooth_image(480, 490, seed=1))  # holds a sub-image
    path = src / 'DIV2K_train_HR' / '0002.png'
    if bad == 'truncated':
        truncated_png(path)
    elif bad == 'gray':
        gray_png(path)
    else:  # 60 rows: no 480x480 sub-image
        cv2.imwrite(str(path), smooth_image(60, 200, seed=2))
    return src, path


@pytest.mark.parametrize('bad, words', [('truncated', ('not a readable image',)),
                                        ('gray', ('a gray image', 'colour')),
                                        ('small', ('60x200 is too small', '480x480 sub-image'))])
def test_div2k(tmp_path, capsys, bad, words):
    src, path = div2k_src(tmp_path, bad)
    refused(tmp_path, capsys, 'prepare_div2k', ['--src', str(src), '--dst', str(tmp_path / 'out'), '--scales', '2'],
            path, *words)


# ----------------------------------------------------------------------------- SR benchmarks
@pytest.mark.parametrize('bad, words', [('truncated', ('bird.png: not a readable image (',)),
                                        ('text', ('bird.png: not a readable image (not a format Pillow knows, or its '
                                                  'header is corrupt)',)),
                                        ('gray', ('a gray image',)),
                                        ('small', ('19x40 is too small', 'at least 20x20', 'x4'))])
def test_sr_benchmarks(tmp_path, capsys, bad, words):
    (tmp_path / 'src' / 'Set5').mkdir(parents=True)
    cv2.imwrite(str(tmp_path / 'src' / 'Set5' / 'baby.png'), smooth_image(60, 60, seed=1))
    path = tmp_path / 'src' / 'Set5' / 'bird.png'
    {'truncated': truncated_png, 'gray': gray_png, 'text': lambda p: p.write_text('not an image'),
     'small': lambda p: cv2.imwrite(str(p), smooth_image(19, 40, seed=2))}[bad](path)
    # x4: 4 pixels cropped from each border of the GT cut to a multiple of 4, then SSIM's 11: 19 -> 20
    args = ['--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'out'), '--scales', '2', '4']
    line = refused(tmp_path, capsys, 'prepare_sr_benchmarks', args, path, *words)
    assert 'Error' not in line  # Pillow's words, never a Python class name (OSError: ..., UnidentifiedImageError: ...)


def test_sr_benchmarks_take_the_least_size_that_scores(tmp_path, capsys):
    (tmp_path / 'src' / 'Set5').mkdir(parents=True)
    cv2.imwrite(str(tmp_path / 'src' / 'Set5' / 'bird.png'), smooth_image(20, 23, seed=2))
    assert prep_main('prepare_sr_benchmarks')(['--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'out'),
                                               '--scales', '4']) == 0
    from basicsr.metrics import calculate_ssim

    gt = cv2.imread(str(tmp_path / 'out' / 'Set5' / 'GTmod4' / 'bird.png'))
    assert gt.shape[:2] == (20, 20)
    assert np.isfinite(calculate_ssim(gt, gt, crop_border=4))  # BasicSR scores it


# ----------------------------------------------------------------------------- BSD500
def bsr(tmp_path, bad: str, gray: bool):
    images = tmp_path / 'BSR' / 'BSDS500' / 'data' / 'images'
    for split in ('train', 'val', 'test'):
        (images / split).mkdir(parents=True)
        cv2.imwrite(str(images / split / f'{split}1.png'), smooth_image(81, 121, seed=1))
    path = images / ('test' if bad == 'small test' else 'train') / 'bad.png'
    if bad == 'truncated':
        truncated_png(path)
    elif bad == 'gray':
        gray_png(path)
    elif bad == 'small train':
        cv2.imwrite(str(path), smooth_image(63, 200, seed=2))
    else:
        cv2.imwrite(str(path), smooth_image(10, 200, seed=2))
    return path


@pytest.mark.parametrize('bad, gray, words', [('truncated', True, ('not a readable image',)),
                                              ('gray', False, ('a gray image',)),
                                              ('small train', True, ('63x200 is too small', '64x64 training crop')),
                                              ('small test', True, ('10x200 is too small', 'SSIM'))])
def test_bsd500(tmp_path, capsys, bad, gray, words):
    path = bsr(tmp_path, bad, gray)
    refused(tmp_path, capsys, 'prepare_bsd500', ['--src', str(tmp_path / 'BSR'), '--dst', str(tmp_path / 'out'),
                                                 *(['--gray'] if gray else [])], path, *words)


def test_bsd500_gray_takes_gray_and_colour_images(tmp_path, capsys):
    bsr(tmp_path, 'gray', True)  # a gray training image among colour ones: both serve a gray set
    assert prep_main('prepare_bsd500')(['--src', str(tmp_path / 'BSR'), '--dst', str(tmp_path / 'out'),
                                        '--gray']) == 0
    assert sorted(os.listdir(tmp_path / 'out')) == ['.hinas_prep.json', 'BSD500_test', 'BSD500_train.lmdb']


# ----------------------------------------------------------------------------- photos, SR and gray
def photo_source(tmp_path, bad: str | None) -> tuple[str, str]:
    """The photo tests' source, with photo b made bad; the manifest lists the bad file as it is (sha256 and all)."""
    folder = tmp_path / 'usr' / 'share' / 'fake'
    folder.mkdir(parents=True)
    photos = []
    for i, (name, (h, w)) in enumerate(SIZES.items()):
        path = folder / f'{name}.png'
        if name == 'b' and bad == 'truncated':
            truncated_png(path, h, w)
        elif name == 'b' and bad == 'gray':
            gray_png(path, h, w)
        elif name == 'b' and bad == 'small':
            cv2.imwrite(str(path), smooth_image(126, 300, seed=i))  # halved: 63 rows, no 64x64 crop
        else:
            cv2.imwrite(str(path), smooth_image(h, w, i))
        photos.append({'name': f'fake_{name}', 'package': 'fake-wallpapers', 'path': f'/usr/share/fake/{name}.png',
                       'sha256': sha256_of(str(path)), 'split': 'test' if name == 'd' else 'train'})
    manifest = tmp_path / 'manifest.json'
    manifest.write_text(json.dumps({'format': 'hinas-photos', 'version': 1, 'photos': photos}))
    return str(manifest), str(folder / 'b.png')


@pytest.mark.parametrize('bad, gray, words', [('truncated', False, ('not a readable image',)),
                                              ('truncated', True, ('not a readable image',)),
                                              ('gray', False, ('a gray image',)),
                                              ('small', True, ('126x300 is too small', '64x64 training crop'))])
def test_photos(tmp_path, capsys, bad, gray, words):
    manifest, path = photo_source(tmp_path, bad)
    refused(tmp_path, capsys, 'prepare_photos', ['--dst', str(tmp_path / 'out'), '--manifest', manifest, '--root',
                                                 str(tmp_path), *(['--gray'] if gray else [])], path, *words)


def test_photos_gray_takes_a_gray_photo(tmp_path):
    manifest, _ = photo_source(tmp_path, 'gray')
    assert prep_main('prepare_photos')(['--dst', str(tmp_path / 'out'), '--manifest', manifest, '--root',
                                        str(tmp_path), '--gray']) == 0


# ----------------------------------------------------------------------------- the sample data
@pytest.mark.parametrize('bad, words', [('gray', ('not an 8-bit RGB image',)),
                                        ('small', ('400x600 is too small', '480')),
                                        ('unreadable', ('skimage.data ihc: not a readable image (image file is '
                                                        'truncated)',))])
def test_sample_data(tmp_path, capsys, monkeypatch, bad, words):
    from hinas_basicsr.prep import sample

    photos = sample._photos

    def broken():
        train, test = photos()
        if bad == 'gray':
            train['ihc'] = lambda: smooth_image(600, 600, seed=1, channels=1)
        elif bad == 'small':
            train['ihc'] = lambda: smooth_image(400, 600, seed=1)
        else:
            def unreadable():
                raise OSError('image file is truncated')
            train['ihc'] = unreadable
        return train, test

    monkeypatch.setattr(sample, '_photos', broken)
    refused(tmp_path, capsys, 'make_sample_data', ['--dst', str(tmp_path / 'out' / 'sample')],
            'skimage.data ihc', *words)
    assert os.listdir(tmp_path) == []  # no staging folder either
