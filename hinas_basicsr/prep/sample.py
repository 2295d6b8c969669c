"""The embedded sample data: real photographs shipped inside scikit-image, prepared by the same code as
DIV2K, the SR benchmarks and BSD500, so that every example runs offline in a minute.

Layout under ``dst`` (built in a staging folder beside it and renamed into place when complete)::

    DIV2K/DIV2K_train_HR/0001.png ... 0005.png           5 colour photos, 504..720 px
    DIV2K/DIV2K_train_LR_bicubic/X{2,3,4}/0001x{s}.png   (generated, as by prepare_div2k)
    DIV2K/DIV2K_train_HR_sub/, DIV2K_train_LR_bicubic/X{s}_sub/    22 sub-images each
    DIV2K/DIV2K_train_HR_sub.lmdb, DIV2K_train_LR_bicubic_X{s}_sub.lmdb
    benchmark/SampleTest/HR/, GTmod{s}/, LRbicx{s}/      3 held-out photos, 240x240 GT
    BSD500/BSD500_train.lmdb                             40 gray patches, 96..180 px
    BSD500/BSD500_test/                                  4 gray held-out photos
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable

import numpy as np

from hinas_basicsr.prep.benchmarks import prepare_sr_benchmarks
from hinas_basicsr.prep.bsd500 import prepare_bsd500
from hinas_basicsr.prep.common import bicubic_downscale, files_under, lcm, not_written, scoring_size, write_png
from hinas_basicsr.prep.div2k import CROP_SIZE, prepare_div2k
from hinas_basicsr.utils.arg_checks import with_reason

SAMPLE_VERSION = '1'
COMPLETE_MARKER = '.sample_complete'


def _center_crop(img: np.ndarray, height: int, width: int) -> np.ndarray:
    top, left = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
    return img[top:top + height, left:left + width]


def _photos() -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, Callable[[], np.ndarray]]]:
    """Training and held-out photos (RGB uint8), each as a loader; no photo is in both."""
    from skimage import data

    def retina() -> np.ndarray:
        return _center_crop(bicubic_downscale(data.retina()[:1408, :1408], 2), 600, 600)

    train = {
        'astronaut': data.astronaut,
        'motorcycle': lambda: data.stereo_motorcycle()[0],
        'hubble': lambda: _center_crop(data.hubble_deep_field(), 600, 720),
        'ihc': data.immunohistochemistry,
        'retina': retina,
    }
    test = {
        'coffee': lambda: _center_crop(data.coffee(), 240, 240),
        'chelsea': lambda: _center_crop(data.chelsea(), 240, 240),
        'rocket': lambda: _center_crop(data.rocket(), 240, 240),
    }
    return train, test


def _gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


SAMPLE_SCALES = (2, 3, 4)
BSD_PATCH = (96, 180)  # least and largest side of the gray BSD-like patches


def _checked(name: str, load: Callable[[], np.ndarray], least: int, why: str, mod: int = 1,
             color: bool = True) -> np.ndarray:
    """Photo ``name`` of ``skimage.data`` (8 bits, RGB where ``color``, else gray); one that does not load, has other
    channels, or keeps less than ``least`` on a side once cut to a multiple of ``mod`` (``why`` says what needs it)
    is refused in one line naming it."""
    try:
        img = np.asarray(load())
    except Exception as err:  # noqa: BLE001  (skimage's readers and its data fetcher raise many kinds)
        raise ValueError(with_reason(f'skimage.data {name}: not a readable image', err)) from None
    if img.dtype != np.uint8 or (img.ndim, img.shape[-1] if color else 0) != ((3, 3) if color else (2, 0)):
        raise ValueError(f'skimage.data {name}: {img.dtype} {"x".join(map(str, img.shape))} is not an 8-bit '
                         f'{"RGB" if color else "gray"} image, as the sample data needs')
    usable = min(side - side % mod for side in img.shape[:2])
    if usable < least:
        cut = f', cut to a multiple of {mod},' if mod > 1 else ''
        raise ValueError(f'skimage.data {name}: {img.shape[0]}x{img.shape[1]} is too small:{cut} it must keep a '
                         f'side of at least {least} ({why})')
    return img


def _load_photos() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The training and held-out photos, and the gray camera photo, each checked before anything is written."""
    from skimage import data

    train, test = _photos()
    mod = lcm(SAMPLE_SCALES)
    test_least = max(scoring_size(s) for s in SAMPLE_SCALES)
    return ({name: _checked(name, load, max(CROP_SIZE, BSD_PATCH[1]), f'a {CROP_SIZE}x{CROP_SIZE} sub-image and '
                                                                      f'gray patches of up to {BSD_PATCH[1]}', mod)
             for name, load in train.items()},
            {name: _checked(name, load, test_least, 'a PSNR/SSIM score at every scale') for name, load in test.items()},
            _checked('camera', data.camera, 2 * scoring_size(), 'a PSNR/SSIM score once halved', color=False))


def _write_sources(root: str, train: dict[str, np.ndarray], test: dict[str, np.ndarray], camera: np.ndarray) -> None:
    """Write the photos in the source layouts of DIV2K, the SR benchmarks and BSR (under ``root``)."""
    rng = np.random.default_rng(0)
    div2k_hr = os.path.join(root, 'DIV2K', 'DIV2K_train_HR')
    bench_hr = os.path.join(root, 'benchmark', 'SampleTest', 'HR')
    bsr = os.path.join(root, 'BSR', 'BSDS500', 'data', 'images')
    for folder in (div2k_hr, bench_hr, *(os.path.join(bsr, s) for s in ('train', 'val', 'test'))):
        os.makedirs(folder)
    for index, (name, rgb) in enumerate(train.items(), 1):
        write_png(os.path.join(div2k_hr, f'{index:04d}.png'), rgb[..., ::-1])
        gray = _gray(rgb)
        for j in range(8):  # BSD-like gray patches of 96..180 px, half "train", half "val"
            h, w = rng.integers(BSD_PATCH[0], BSD_PATCH[1] + 1, size=2)
            top, left = rng.integers(0, gray.shape[0] - h + 1), rng.integers(0, gray.shape[1] - w + 1)
            split = 'train' if j < 4 else 'val'
            write_png(os.path.join(bsr, split, f'{name}_{j}.png'), gray[top:top + h, left:left + w])
    for name, rgb in test.items():
        write_png(os.path.join(bench_hr, f'{name}.png'), rgb[..., ::-1])
        write_png(os.path.join(bsr, 'test', f'{name}.png'), _gray(rgb))
    write_png(os.path.join(bsr, 'test', 'camera.png'), bicubic_downscale(camera, 2))


def make_sample_data(dst: str, force: bool = False) -> bool:
    """Build the sample data at ``dst`` (see the module docstring); deterministic, a few seconds.

    Args:
        dst (str): Destination folder. Complete sample data there is kept (a no-op); anything else
            there is refused unless ``force``, which replaces it.
        force (bool): Rebuild even if ``dst`` exists. Default: False.

    Returns:
        bool: Whether it was built (False when complete sample data was already there).
    """
    dst = os.path.normpath(dst)
    if not force and is_sample_complete(dst):
        return False
    if os.path.exists(dst) and not force:
        raise FileExistsError(f'{dst}: exists but is not complete sample data; use --force to rebuild')
    if os.path.lexists(dst):
        check_only_sample_data(dst)
    photos = _load_photos()
    parent = os.path.dirname(os.path.abspath(dst))
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f'.{os.path.basename(dst)}.partial-', dir=parent)
    try:
        _write_sources(stage, *photos)
        prepare_div2k(os.path.join(stage, 'DIV2K'), os.path.join(stage, 'DIV2K'), scales=(2, 3, 4))
        bench = os.path.join(stage, 'benchmark')
        prepare_sr_benchmarks(bench, bench, scales=(2, 3, 4), sets=('SampleTest',))
        prepare_bsd500(os.path.join(stage, 'BSR'), os.path.join(stage, 'BSD500'), gray=True)
        shutil.rmtree(os.path.join(stage, 'BSR'))
        written = files_under(stage)  # the marker lists them: --force later removes these and nothing else
        with open(os.path.join(stage, COMPLETE_MARKER), 'w') as f:
            f.write(f'hinas-basicsr sample data v{SAMPLE_VERSION}\n' + ''.join(f'{rel}\n' for rel in written))
        if os.path.exists(dst):
            shutil.rmtree(dst)
        try:
            os.rename(stage, dst)
        except OSError:
            if not is_sample_complete(dst):  # another process finished first: keep its copy
                raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return True


def is_sample_complete(dst: str) -> bool:
    """Whether ``dst`` holds complete sample data of the current version."""
    try:
        with open(os.path.join(dst, COMPLETE_MARKER), encoding='utf-8') as f:
            return f.readline().strip().endswith(f'v{SAMPLE_VERSION}')
    except (OSError, UnicodeDecodeError):
        return False


def check_only_sample_data(dst: str) -> None:
    """Refuse a ``dst`` that holds anything this tool did not write there (its marker lists what it wrote), naming
    one such file: ``--force`` replaces the sample data, never the user's files beside it."""
    if not os.path.isdir(dst) or os.path.islink(dst):
        raise FileExistsError(f'--dst: {dst} is not a folder; --force replaces only sample data that this tool wrote')
    written = None
    try:
        with open(os.path.join(dst, COMPLETE_MARKER), encoding='utf-8') as f:
            lines = f.read().splitlines()
        if len(lines) > 1:
            written = lines[1:]
    except (OSError, UnicodeDecodeError):
        pass
    foreign = not_written(dst, written, own=(COMPLETE_MARKER,) if written is not None else ())
    if foreign is not None:
        raise FileExistsError(f'--dst: {dst} holds {foreign}, which this tool did not write; --force replaces only '
                              'the sample data it wrote: move that away or choose another --dst')


def ensure_sample_data(dst: str) -> None:
    """Build the sample data at ``dst`` if it is absent; a no-op when it is complete.

    An existing ``dst`` that is not complete sample data is refused (``FileExistsError``), never deleted.
    """
    if is_sample_complete(dst):
        return
    if os.path.exists(dst):
        raise FileExistsError(f'sample_data: {dst} exists but is not complete sample data; remove it to rebuild')
    print(f'Building the sample data in {dst} ...')
    make_sample_data(dst)
