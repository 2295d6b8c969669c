"""Real photographs from two Debian/Ubuntu wallpaper packages -> a medium-scale SR benchmark set.

The packages ``mate-backgrounds`` and ``plasma-workspace-wallpapers`` ship natural photographs of 1280 to
2560 pixels among their illustrations. The manifest (``datasets_prep/photos_manifest.json``) lists the
photographs only, each by ``package``, ``path``, ``sha256``, its ``name`` in the set and its ``split``
(``train`` or ``test``, by image); every file is checked against it before anything is written.

Each photo is downscaled by 2 with MATLAB bicubic to its HR image (this removes the JPEG blocking), then
prepared by the same code as DIV2K and the SR benchmarks. Layout under ``dst``::

    DIV2K_train_HR/<name>.png                       the HR training photos
    DIV2K_train_HR_sub.lmdb, DIV2K_train_LR_bicubic_X{2,3,4}_sub.lmdb    480x480 sub-images (step 240)
    DIV2K_train_HR.lmdb, DIV2K_train_LR_bicubic_X{2,3,4}.lmdb            whole images (keys = names)
    DIV2K_train_HR_sub/, DIV2K_train_LR_bicubic/X{s}_sub/, DIV2K_train_LR_bicubic/X{s}/   (their PNGs)
    benchmark/PhotosTest/HR/<name>.png, GTmod{s}/, LRbicx{s}/           the held-out photos
    benchmark/PhotosTestCrop/HR/<name>.png, GTmod{s}/, LRbicx{s}/       their central 480x480 (HR) crops

The crops are what ``hinas search-vs-random --data photos`` scores on: a whole 1280x800 photo costs an
F = 16 net about 14 s on one thread of a busy 2-core CPU, its crop a fifth of that.

With ``gray``, the same photos and split, halved alike and converted to gray (BT.601, as OpenCV reads an image
gray), in the layout ``HiNASNoisyImageDataset`` reads (its fixed noise per sigma makes the noisy test images)::

    Photos_train.lmdb            the gray training photos, whole (keys = names)
    Photos_test/<name>.png       the gray held-out photos
    Photos_test_crop/<name>.png  their central 480x480 crops

Every source is checked before anything is written: its sha256, that it decodes, that it is colour (for the SR
set), and that its HR image holds what is cut from it.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from hinas_basicsr.prep.benchmarks import prepare_sr_benchmarks
from hinas_basicsr.prep.bsd500 import TRAIN_CROP
from hinas_basicsr.prep.common import (
    Outputs,
    bicubic_downscale,
    check_image,
    check_workers,
    lcm,
    pack_lmdb,
    read_image,
    scoring_size,
    write_png,
)
from hinas_basicsr.prep.div2k import CROP_SIZE, STEP, prepare_div2k
from hinas_basicsr.utils.options_file import parse_json, read_text_file

MANIFEST_FORMAT = 'hinas-photos'
MAX_MANIFEST_BYTES = 16 << 20  # a photo manifest: about 200 bytes a photo
PHOTO_SCALES = (2, 3, 4)
TEST_SET = 'PhotosTest'
CROP_SET = 'PhotosTestCrop'
TEST_CROP = 480
SPLITS = ('train', 'test')
HR_TRAIN = 'DIV2K_train_HR'
HR_TEST = f'benchmark/{TEST_SET}/HR'
HR_CROP = f'benchmark/{CROP_SET}/HR'
GRAY_TRAIN, GRAY_TEST, GRAY_CROP = 'Photos_train.lmdb', 'Photos_test', 'Photos_test_crop'
_DEFAULT_MANIFEST = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                 'datasets_prep', 'photos_manifest.json')


def default_manifest() -> str:
    """The manifest kept in the repository (``datasets_prep/photos_manifest.json``)."""
    return _DEFAULT_MANIFEST


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _photo_fields(path: str, i: int, photo: Any) -> None:
    """One manifest entry: every field text of its form; ``name`` one file stem and ``path`` free of ``..``."""
    where = f'{path}: photos[{i}]'
    if not isinstance(photo, dict):
        raise ValueError(f'{where}: expected a mapping of package, path, sha256, name and split, got {photo!r:.60}')
    for key in ('package', 'path', 'sha256', 'name', 'split'):
        if key not in photo:
            raise ValueError(f'{where}: needs {key}')
        if not isinstance(photo[key], str) or not photo[key] or len(photo[key]) > 4096:
            raise ValueError(f'{where}.{key}: expected text, got {photo[key]!r:.60}')
    name = photo['name']
    if os.path.isabs(name) or any(c in name for c in '/\\\0.'):
        raise ValueError(f'{where}.name: {name!r:.60} is not a file stem (no path separator, no dot): each photo is '
                         'written as <name>.png inside --dst')
    if '..' in photo['path'].replace('\\', '/').split('/') or '\0' in photo['path']:
        raise ValueError(f'{where}.path: {photo["path"]!r:.60} leads out of its folder (..)')
    if len(photo['sha256']) != 64 or any(c not in '0123456789abcdef' for c in photo['sha256']):
        raise ValueError(f'{where}.sha256: expected 64 lowercase hex digits, got {photo["sha256"]!r:.80}')
    if photo['split'] not in SPLITS:
        raise ValueError(f'{where}.split: expected train or test, got {photo["split"]!r:.60}')


def load_manifest(path: str) -> list[dict[str, Any]]:
    """The photos of a manifest, each with ``package``, ``path``, ``sha256``, ``name`` and ``split``.

    Every field is checked (type, form) before anything is written: a ``name`` is one file stem, so no photo is
    written outside ``--dst``.
    """
    data = parse_json(read_text_file(path, '--manifest', 'manifest file', MAX_MANIFEST_BYTES), f'--manifest: {path}',
                      'manifest')
    if not isinstance(data, dict) or data.get('format') != MANIFEST_FORMAT or not isinstance(data.get('photos'), list) \
            or not data['photos']:
        raise ValueError(f'{path}: not a {MANIFEST_FORMAT} manifest with photos')
    photos, names = data['photos'], set()
    for i, photo in enumerate(photos):
        _photo_fields(path, i, photo)
        if photo['name'] in names:
            raise ValueError(f'{path}: photos[{i}].name: {photo["name"]!r} is also an earlier photo\'s name')
        names.add(photo['name'])
    for split in SPLITS:
        if not any(p['split'] == split for p in photos):
            raise ValueError(f'{path}: no {split} photo')
    return photos


def install_command(photos: Sequence[dict[str, Any]], reinstall: bool = False) -> str:
    packages = ' '.join(sorted({p['package'] for p in photos}))
    return f'apt-get install -y {"--reinstall " if reinstall else ""}{packages}'


def check_sources(photos: Sequence[dict[str, Any]], root: str = '/') -> list[str]:
    """The source file of each photo (``root`` + its path); refuse a missing file or one whose sha256 differs.

    The refusal is one line that names the ``apt-get install`` command that restores the files.
    """
    paths = []
    for photo in photos:
        path = os.path.join(root, photo['path'].lstrip('/'))
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path}: missing (package {photo["package"]}); install the photos with '
                                    f'`{install_command(photos)}`')
        if sha256_of(path) != photo['sha256']:
            raise ValueError(f'{path}: sha256 differs from the manifest (package {photo["package"]} changed); '
                             f'restore it with `{install_command(photos, reinstall=True)}`')
        paths.append(path)
    return paths


def central_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` of ``img`` (the whole side where it is shorter)."""
    h, w = min(size, img.shape[0]), min(size, img.shape[1])
    top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return img[top:top + h, left:left + w]


def check_photo_sizes(photos: Sequence[dict[str, Any]], sources: Sequence[str], gray: bool, crop_size: int,
                      test_crop: int) -> None:
    """Refuse, in one line naming it, a source that does not decode, is gray where the SR set needs colour, or whose
    HR image (the source halved) cannot give what is cut from it: a ``crop_size`` sub-image once cut to a multiple
    of the SR scales (for the gray set, a ``TRAIN_CROP`` training crop) for training, a PSNR/SSIM score at every
    scale for testing."""
    mod = 1 if gray else lcm(PHOTO_SCALES)
    train_least = TRAIN_CROP if gray else crop_size
    test_least = scoring_size() if gray else max(scoring_size(s) for s in PHOTO_SCALES)
    if test_crop < test_least:
        raise ValueError(f'test_crop: {test_crop} is smaller than {test_least}, the least side that can be scored')
    dims = [check_image(source, color=not gray) for source in sources]  # all decode and fit the mode; then sizes
    for photo, source, (h, w) in zip(photos, sources, dims):
        hr_h, hr_w = h // 2, w // 2
        if photo['split'] == 'train':
            least, why = train_least, f'a {train_least}x{train_least} ' + ('training crop' if gray else 'sub-image')
            usable = min(hr_h - hr_h % mod, hr_w - hr_w % mod)
        else:
            least, why, usable = test_least, 'a PSNR/SSIM score at every scale', min(hr_h, hr_w)
        if usable < least:
            cut = f', cut to a multiple of {mod},' if mod > 1 and photo['split'] == 'train' else ''
            raise ValueError(f'{source}: {h}x{w} is too small: halved{cut} it must hold {why} (a side of at least '
                             f'{least}), and keeps {usable}')


def prepare_photos(dst: str, manifest: str | None = None, root: str = '/', workers: int = 1,
                   force: bool = False, crop_size: int = CROP_SIZE, step: int = STEP,
                   test_crop: int = TEST_CROP, gray: bool = False) -> list[str]:
    """Check the photos against the manifest, then write the benchmark set under ``dst`` (module docstring).

    Args:
        dst (str): Destination folder, e.g. ``datasets/photos`` (``datasets/photos_gray`` with ``gray``).
        manifest (str | None): The manifest. Default: the repository's ``datasets_prep/photos_manifest.json``.
        root (str): Folder the manifest's paths are under. Default: ``/`` (the installed packages).
        workers (int): Worker processes. Default: 1.
        force (bool): Rebuild existing outputs. Default: False.
        crop_size (int): HR sub-image size (SR set). Default: 480 (DIV2K's).
        step (int): HR step between sub-images (SR set). Default: 240.
        test_crop (int): Size of the central crops of the held-out HR photos. Default: 480.
        gray (bool): Write the gray denoising set instead of the SR set. Default: False.

    Returns:
        list[str]: The outputs built by this call (empty when everything was up to date).
    """
    check_workers(workers)
    manifest = manifest or default_manifest()
    photos = load_manifest(manifest)
    sources = check_sources(photos, root)
    check_photo_sizes(photos, sources, gray, crop_size, test_crop)
    params = {'photos': sorted(p['sha256'] for p in photos), **({'gray': True} if gray else {})}
    out = Outputs(dst, manifest, force, params=params)
    hr_names = {'train': GRAY_TRAIN, 'test': GRAY_TEST, 'crop': GRAY_CROP} if gray else \
        {'train': HR_TRAIN, 'test': HR_TEST, 'crop': HR_CROP}
    out.check(hr_names.values())
    out.clean_stale()
    built = []
    for split, name in hr_names.items():
        if out.is_done(name):
            continue
        with out.build(name) as tmp:
            folder = os.path.join(os.path.dirname(tmp), 'png') if name.endswith('.lmdb') else tmp
            os.makedirs(folder)
            for photo, source in zip(photos, sources):
                if photo['split'] == split or (split == 'crop' and photo['split'] == 'test'):
                    hr = bicubic_downscale(read_image(source), 2)
                    if gray:
                        hr = cv2.cvtColor(hr, cv2.COLOR_BGR2GRAY)
                    write_png(os.path.join(folder, f'{photo["name"]}.png'),
                              central_crop(hr, test_crop) if split == 'crop' else hr)
            if folder != tmp:
                pack_lmdb(folder, tmp, workers)
        built.append(name)
    if gray:
        return built
    built += prepare_div2k(dst, dst, scales=PHOTO_SCALES, workers=workers, force=force, crop_size=crop_size,
                           step=step)
    bench = os.path.join(dst, 'benchmark')
    built += [f'benchmark/{b}' for b in prepare_sr_benchmarks(bench, bench, scales=PHOTO_SCALES, workers=workers,
                                                              force=force, sets=(TEST_SET, CROP_SET))]
    return built


__all__ = ['CROP_SET', 'GRAY_CROP', 'GRAY_TEST', 'GRAY_TRAIN', 'PHOTO_SCALES', 'TEST_SET', 'central_crop',
           'check_photo_sizes', 'check_sources', 'default_manifest', 'install_command', 'load_manifest',
           'prepare_photos', 'sha256_of']
