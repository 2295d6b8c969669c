"""Shared pieces of the dataset preparation: image I/O, bicubic LR, sub-image cutting, LMDB packing,
parallel map with progress bars, and the output guard that makes every output appear atomically.

Everything that writes goes through :class:`Outputs`: an output (a folder of PNGs or an ``.lmdb``) is
built in a hidden staging folder inside the destination and renamed into place once complete, then
recorded in the destination's manifest. A rerun skips recorded outputs; an existing output that the
manifest does not know is refused unless ``force`` is given (BasicSR's scripts refuse too).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from hinas_basicsr.utils.arg_checks import MAX_PIXELS, MAX_SIDE, count, with_reason

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm')
SCALES = (2, 3, 4, 8)
MAX_WORKERS = 1024  # --workers: processes at once, each with its own images in memory
MANIFEST = '.hinas_prep.json'
STAGING_PREFIX = '.partial-'
PNG_COMPRESSION = 3  # BasicSR's extract_subimages.py default


# ----------------------------------------------------------------------------- images
def list_images(folder: str) -> list[str]:
    """Sorted full paths of the images directly inside ``folder``."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'{folder}: folder does not exist')
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMG_EXTENSIONS) and not n.startswith('.'))
    if not names:
        raise ValueError(f'{folder}: no images found')
    return [os.path.join(folder, n) for n in names]


GRAY_MODES = ('1', 'L', 'LA', 'La', 'I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F')  # PIL modes of one-channel images
SSIM_WINDOW = 11  # BasicSR's calculate_ssim: an 11x11 window, valid part only


def image_info(path: str, unknown_ok: bool = False) -> tuple[int, int, bool] | None:
    """``(height, width, gray)`` of an image that decodes completely; a corrupt or truncated file is refused.

    ``gray`` is whether the file holds one channel (PIL modes ``L``, ``I;16``, ...; with or without alpha). A
    PNG's chunks are checked against their CRCs (``verify()``, fast); any other format is decoded whole, as
    ``verify()`` does not read JPEG data and OpenCV fills a truncated JPEG with gray without an error. An image of
    more than ``MAX_PIXELS`` pixels is refused from its header, before it is decoded. With ``unknown_ok``, None for
    a format Pillow does not know (OpenCV then decides).
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)  # a warning line: refused below instead
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ValueError(f'{path}: {w}x{h} pixels, more than the {MAX_PIXELS:,} ({MAX_SIDE}x{MAX_SIDE}) '
                                     'an image may have here')
                gray = img.mode in GRAY_MODES
                if img.format == 'PNG':
                    img.verify()
                else:
                    img.load()  # raises OSError ("image file is truncated") where data is missing
    except UnidentifiedImageError:
        if unknown_ok:
            return None
        raise ValueError(f'{path}: not a readable image (not a format Pillow knows, or its header is corrupt)'
                         ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f'{path}: more than the {MAX_PIXELS:,} pixels ({MAX_SIDE}x{MAX_SIDE}) an image may have '
                         'here (its header says so)') from None
    except (ValueError, OSError, SyntaxError) as err:  # Pillow's words for a broken file, or an OS error
        if str(err).startswith(f'{path}: '):
            raise
        raise ValueError(with_reason(f'{path}: not a readable image', err)) from None
    return h, w, gray


def check_decodes(path: str, unknown_ok: bool = False) -> tuple[int, int] | None:
    """``(height, width)`` of an image that decodes whole (see :func:`image_info`); with ``unknown_ok``, None for
    a format Pillow does not know."""
    info = image_info(path, unknown_ok)
    return None if info is None else info[:2]


def image_size(path: str) -> tuple[int, int]:
    """``(height, width)`` of an image that decodes completely (see :func:`image_info`)."""
    info = image_info(path)
    assert info is not None  # an unknown format is refused without unknown_ok
    return info[:2]


def check_image(path: str, color: bool, min_height: int = 1, min_width: int | None = None,
                why: str = '') -> tuple[int, int]:
    """Refuse, in one line naming ``path``, an image the preparation cannot use; return its ``(height, width)``.

    It must decode completely, hold colour where ``color`` (a gray image is refused: its three channels would be
    copies; colour converts to gray, so either serves a gray set), and be at least ``min_height x min_width``
    (``why`` says what needs that size).

    Args:
        path (str): The image file.
        color (bool): Whether the set is of colour images.
        min_height (int): Least height. Default: 1.
        min_width (int | None): Least width. Default: ``min_height``.
        why (str): What needs the size, for the message. Default: ''.
    """
    info = image_info(path)
    assert info is not None  # an unknown format is refused without unknown_ok
    h, w, gray = info
    if color and gray:
        raise ValueError(f'{path}: a gray image, but this set is of colour (RGB) images; convert it to RGB or '
                         'remove it')
    min_width = min_height if min_width is None else min_width
    if h < min_height or w < min_width:
        raise ValueError(f'{path}: {h}x{w} is too small: at least {min_height}x{min_width} needed'
                         + (f' ({why})' if why else ''))
    return h, w


def scoring_size(scale: int = 1) -> int:
    """The least side of a test image that BasicSR's PSNR/SSIM can score at ``scale``: after its mod-crop to
    ``scale``, ``scale`` pixels are cropped from each border (SR) and SSIM's 11x11 window must fit. A multiple of
    ``scale``, so that any side at least as long keeps that much after the mod-crop."""
    least = SSIM_WINDOW + (2 * scale if scale > 1 else 0)
    return -(-least // scale) * scale


def read_image(path: str, gray: bool = False) -> np.ndarray:
    """Read an image as uint8 BGR (H, W, 3), or (H, W) with ``gray``; refuse a corrupt file."""
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'{path}: not a readable image (corrupt or unsupported)')
    return img


def write_png(path: str, img: np.ndarray) -> None:
    """Write ``img`` as PNG at ``path`` (a folder that exists)."""
    if not cv2.imwrite(path, np.ascontiguousarray(img), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]):
        raise OSError(f'{path}: could not write the image')


def mod_crop(img: np.ndarray, mod: int) -> np.ndarray:
    """Crop the bottom/right border so that height and width are multiples of ``mod``."""
    h, w = img.shape[:2]
    return img[:h - h % mod, :w - w % mod, ...]


def bicubic_downscale(img: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-style bicubic (``basicsr.utils.matlab_functions.imresize``) of a uint8 image by ``1/scale``.

    The image is first mod-cropped to a multiple of ``scale``, as MATLAB's ``generate_LR`` does.
    """
    from basicsr.utils.matlab_functions import imresize

    img = mod_crop(img, scale).astype(np.float32) / 255.
    out = imresize(img, 1 / scale)
    return np.clip(np.round(out * 255.), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- sub-images
def crop_positions(length: int, crop_size: int, step: int, thresh_size: int = 0) -> list[int]:
    """Start positions along one axis, as BasicSR's ``extract_subimages.py`` (the last one flush with the edge)."""
    if length < crop_size:
        return []
    space = list(range(0, length - crop_size + 1, step))
    if length - (space[-1] + crop_size) > thresh_size:
        space.append(length - crop_size)
    return space


def cut_subimages(img: np.ndarray, crop_size: int, step: int) -> list[np.ndarray]:
    """Sub-images in row-major order (``_s001`` first); positions from :func:`crop_positions`."""
    hs = crop_positions(img.shape[0], crop_size, step)
    ws = crop_positions(img.shape[1], crop_size, step)
    return [img[x:x + crop_size, y:y + crop_size, ...] for x in hs for y in ws]


def subimage_name(stem: str, index: int) -> str:
    """``0001`` and 1 -> ``0001_s001`` (index counts from 1)."""
    return f'{stem}_s{index:03d}'


def read_top_left(path: str, height: int, width: int) -> np.ndarray:
    """The top-left ``height x width`` of the image at ``path`` (the crop that lines HR and LR up)."""
    img = read_image(path)
    if img.shape[0] < height or img.shape[1] < width:
        raise ValueError(f'{path}: decoded size {img.shape[0]}x{img.shape[1]}, expected at least {height}x{width}')
    return img[:height, :width]


def save_whole_image(task: tuple[str, str, int, int], out_dir: str) -> None:
    """Worker: write the top-left ``height x width`` of ``path`` as ``out_dir/{stem}.png``.

    Args:
        task (tuple): ``(path, stem, height, width)``, as :func:`save_subimages`.
        out_dir (str): Folder for the image.
    """
    path, stem, height, width = task
    write_png(os.path.join(out_dir, f'{stem}.png'), read_top_left(path, height, width))


def save_subimages(task: tuple[str, str, int, int], out_dir: str, crop_size: int, step: int) -> int:
    """Worker: read ``path``, keep its top-left ``height x width``, write its sub-images as ``{stem}_sNNN.png``.

    Args:
        task (tuple): ``(path, stem, height, width)``; the crop makes HR and LR grids line up.
        out_dir (str): Folder for the sub-images.
        crop_size (int): Sub-image size.
        step (int): Step between sub-images.

    Returns:
        int: Number of sub-images written.
    """
    path, stem, height, width = task
    subs = cut_subimages(read_top_left(path, height, width), crop_size, step)
    for index, sub in enumerate(subs, 1):
        write_png(os.path.join(out_dir, f'{subimage_name(stem, index)}.png'), sub)
    return len(subs)


def save_bicubic_lr(path: str, lr_dir: str, scale: int, lr_suffix: str = '', gt_dir: str | None = None) -> None:
    """Worker: write ``lr_dir/{stem}{lr_suffix}.png``, the bicubic LR of ``path`` (and its mod-crop to ``gt_dir``)."""
    img = read_image(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    if gt_dir is not None:
        write_png(os.path.join(gt_dir, f'{stem}.png'), mod_crop(img, scale))
    write_png(os.path.join(lr_dir, f'{stem}{lr_suffix}.png'), bicubic_downscale(img, scale))


# ----------------------------------------------------------------------------- parallel map
def _single_threaded_torch() -> None:
    """Pool initializer: one torch thread per worker. (A forked child that enters the OpenMP pool its parent
    already used hangs; with one thread torch never enters it, and the workers are the parallelism.) A worker
    ignores Ctrl-C: the main process alone reports it, in one line, and ends the pool."""
    import torch

    _ignore_sigint()
    torch.set_num_threads(1)


def _ignore_sigint(*_: Any) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _SigintIgnoredInChildren:
    """Within: every process that ``multiprocessing`` starts (BasicSR's LMDB packing pool) ignores Ctrl-C."""

    def __enter__(self) -> _SigintIgnoredInChildren:
        from multiprocessing import util

        util.register_after_fork(self, _ignore_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        from multiprocessing import util

        for key, obj in list(util._afterfork_registry.items()):
            if obj is self:
                util._afterfork_registry.pop(key, None)


def parallel_map(func: Callable[[Any], Any], items: Sequence[Any], workers: int, desc: str) -> list[Any]:
    """``[func(x) for x in items]`` with a progress bar, in a ``multiprocessing.Pool`` when ``workers > 1``.

    The bar is shown on a terminal only (``tqdm(disable=None)``), so errors stay one line in logs.
    """
    results: list[Any] = []
    with tqdm(total=len(items), desc=desc, unit='img', disable=None) as pbar:
        if workers <= 1 or len(items) <= 1:
            for item in items:
                results.append(func(item))
                pbar.update(1)
            return results
        import multiprocessing

        context = multiprocessing.get_context('fork' if sys.platform != 'win32' else 'spawn')
        with context.Pool(workers, initializer=_single_threaded_torch) as pool:
            for result in pool.imap(func, items):
                results.append(result)
                pbar.update(1)
    return results


# ----------------------------------------------------------------------------- lmdb
def pack_lmdb(img_folder: str, lmdb_path: str, workers: int = 1) -> int:
    """Pack every PNG of ``img_folder`` into ``lmdb_path`` with ``basicsr.utils.lmdb_util.make_lmdb_from_imgs``.

    Keys are the file names without extension (they must hold no dot); ``meta_info.txt`` is written by
    BasicSR. Returns the number of images packed.
    """
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    names = sorted(n for n in os.listdir(img_folder) if n.endswith('.png'))
    if not names:
        raise ValueError(f'{img_folder}: no PNG images to pack')
    keys = [os.path.splitext(n)[0] for n in names]
    bad = [k for k in keys if '.' in k]
    if bad:
        raise ValueError(f'{os.path.join(img_folder, bad[0])}.png: LMDB keys may not contain dots')
    total = sum(os.path.getsize(os.path.join(img_folder, n)) for n in names)
    with _SigintIgnoredInChildren():
        make_lmdb_from_imgs(img_folder, lmdb_path, names, keys, multiprocessing_read=workers > 1,
                            n_thread=max(workers, 1), map_size=max(10 * total, 1 << 24))
    return len(names)


# ----------------------------------------------------------------------------- outputs
FILES_KEY = '.files'  # the manifest's record of the files each output holds, as this tool wrote them


def inside(dst: str, name: str, option: str = '--dst') -> str:
    """``dst/name``, refusing a ``name`` that is absolute or leads out of ``dst`` (``..``)."""
    parts = name.replace('\\', '/').split('/')
    if not name or os.path.isabs(name) or '..' in parts or '\0' in name:
        raise ValueError(f'{option}: {name!r} would be written outside {dst}')
    return os.path.join(dst, name)


def files_under(path: str) -> list[str]:
    """The files (and links) under ``path``, relative to it, sorted; ``[]`` for a file."""
    if not os.path.isdir(path) or os.path.islink(path):
        return []
    found = []
    for folder, dirs, files in os.walk(path):
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        found += [os.path.relpath(os.path.join(folder, f), path) for f in files + links]
    return sorted(found)


def not_written(path: str, written: Iterable[str] | None, own: Iterable[str] = ()) -> str | None:
    """A file under ``path`` that is neither in ``written`` nor in ``own`` (None: all of them are; ``written``
    None: nothing is known, so any file is foreign)."""
    known = set(written or ()) | set(own)
    for rel in files_under(path):
        if rel not in known:
            return os.path.join(path, rel)
    return None


class Outputs:
    """The outputs of one preparation run under ``dst``: refusal, skipping and atomic creation.

    Args:
        dst (str): Destination folder (created if absent).
        src (str): Source it is made from, recorded in the manifest; an output made from another
            source is never silently reused.
        force (bool): Rebuild outputs that exist (recorded or not). Default: False.
        params (dict | None): Settings the outputs depend on (e.g. ``gray``), recorded with the source.
            Default: None.
    """

    def __init__(self, dst: str, src: str, force: bool = False, params: dict[str, Any] | None = None) -> None:
        if os.path.exists(dst) and not os.path.isdir(dst):
            raise FileExistsError(f'{dst}: destination exists and is not a folder')
        self.dst = dst
        self.force = force
        self.entry = {'src': self._portable(src), **(params or {})}
        self._manifest_path = os.path.join(dst, MANIFEST)
        self._manifest = self._load_manifest()

    def _portable(self, path: str) -> str:
        path, dst = os.path.abspath(path), os.path.abspath(self.dst)
        return os.path.relpath(path, dst) if (path + os.sep).startswith(dst + os.sep) else path

    def _load_manifest(self) -> dict[str, dict]:
        try:
            with open(self._manifest_path, encoding='utf-8') as f:
                manifest = json.load(f)
        except (OSError, ValueError, RecursionError):  # missing, unreadable, not JSON (nothing is then known)
            return {}
        return manifest if isinstance(manifest, dict) else {}

    def path(self, name: str) -> str:
        """The final path of output ``name`` (relative to ``dst``, and never outside it)."""
        return inside(self.dst, name)

    def is_done(self, name: str) -> bool:
        """Whether ``name`` is finished by an earlier run from the same source (so it is skipped)."""
        return (not self.force and os.path.exists(self.path(name))
                and self._manifest.get(name) == self.entry)

    def check(self, names: Iterable[str]) -> None:
        """Refuse, before anything is written, outputs that exist but were not made by this tool from ``src``.

        ``force`` rebuilds only what this tool wrote: an output that its manifest does not record, or a file in a
        recorded output that it did not write there, is refused even then (named), never removed.
        """
        for name in names:
            path = self.path(name)
            if not os.path.lexists(path) or self.is_done(name):
                continue
            made = name in self._manifest
            if not self.force:
                why = 'was made from another source or with other settings' if made else 'already exists'
                raise FileExistsError(f'{path}: {why}; use --force to overwrite')
            # an output it did not record may be replaced only where it is an empty folder; a recorded one only
            # where it holds no file but those recorded (all of them, for a manifest written before files were listed)
            written = self._files().get(name, None if made else [])
            foreign = path if not made and not os.path.isdir(path) or os.path.islink(path) else \
                not_written(path, written) if written is not None else None
            if foreign is not None:
                raise FileExistsError(f'{foreign}: this tool did not write it (not in {self._manifest_path}); '
                                      '--force replaces only its own files: move it away')

    def clean_stale(self) -> None:
        """Remove staging folders left by interrupted runs."""
        if os.path.isdir(self.dst):
            for entry in os.listdir(self.dst):  # tempfile.mkdtemp's names: the prefix and 8 characters
                if (entry.startswith(STAGING_PREFIX) and len(entry) == len(STAGING_PREFIX) + 8
                        and os.path.isdir(os.path.join(self.dst, entry))):
                    shutil.rmtree(os.path.join(self.dst, entry), ignore_errors=True)

    @contextlib.contextmanager
    def build(self, name: str) -> Iterator[str]:
        """Yield a staging path for output ``name``; on success it replaces ``dst/name`` and is recorded."""
        os.makedirs(self.dst, exist_ok=True)
        stage = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.dst)
        try:
            tmp = os.path.join(stage, os.path.basename(name))
            yield tmp
            final = self.path(name)
            if os.path.lexists(final):
                shutil.rmtree(final) if os.path.isdir(final) else os.remove(final)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
            self._record(name)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _files(self) -> dict[str, list[str]]:
        files = self._manifest.get(FILES_KEY)
        return files if isinstance(files, dict) else {}

    def _record(self, name: str) -> None:
        self._manifest[name] = self.entry
        self._manifest[FILES_KEY] = {**self._files(), name: files_under(self.path(name))}
        tmp = f'{self._manifest_path}.tmp{os.getpid()}'
        with open(tmp, 'w') as f:
            json.dump(self._manifest, f, indent=1, sort_keys=True)
        os.replace(tmp, self._manifest_path)


def lcm(values: Iterable[int]) -> int:
    """Least common multiple (1 for no values)."""
    return math.lcm(*values)


def check_workers(workers: int) -> None:
    """Validate ``--workers``: from 1 to ``MAX_WORKERS`` processes, before anything is read or written."""
    count(workers, '--workers', 1, MAX_WORKERS, 'each a process')


def check_scales(scales: Sequence[int]) -> tuple[int, ...]:
    """Validate ``--scales`` (a subset of 2, 3, 4, 8) and return them sorted and unique."""
    if not scales or any(s not in SCALES for s in scales):
        raise ValueError(f'--scales: expected values among {list(SCALES)}, got {list(scales)}')
    return tuple(sorted(set(scales)))
