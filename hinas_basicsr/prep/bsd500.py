"""BSD500 (the ``BSR`` archive) -> a GT LMDB of the 300 train+val images and a folder of the 200 test images.

BSDS500 splits its 500 images into train (200), val (100) and test (200). The LMDB holds whole images (one
random crop per image and epoch in the HiNAS denoising search); with ``gray`` it is the search's gray LMDB.

Source layout: ``BSR/BSDS500/data/images/{train,val,test}/*.jpg`` (``SRC`` may also point at
``BSDS500`` or at ``images`` itself). Output under ``dst``: ``BSD500_train.lmdb`` (keys are the image
ids, e.g. ``100075``) and ``BSD500_test/<id>.png``; both gray with ``gray``, else BGR colour.
"""
from __future__ import annotations

import functools
import os

from hinas_basicsr.prep.common import (
    Outputs,
    check_image,
    check_workers,
    list_images,
    pack_lmdb,
    parallel_map,
    read_image,
    scoring_size,
    write_png,
)

TRAIN_CROP = 64  # the denoising search's and training's crop (options/search_denoise.yml, train_*_denoise_*.yml)

_IMAGE_ROOTS = ('BSDS500/data/images', 'data/images', 'images', '.')


def _find_image_root(src: str) -> str:
    for rel in _IMAGE_ROOTS:
        root = os.path.normpath(os.path.join(src, rel))
        if all(os.path.isdir(os.path.join(root, split)) for split in ('train', 'val', 'test')):
            return root
    raise FileNotFoundError(f'{src}: no BSDS500/data/images/{{train,val,test}} folders inside')


def save_png_copy(path: str, out_dir: str, gray: bool = False) -> None:
    """Worker: write ``path`` as ``out_dir/<stem>.png``, converted to gray with ``gray``."""
    write_png(os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + '.png'), read_image(path, gray))


def prepare_bsd500(src: str, dst: str, gray: bool = False, workers: int = 1, force: bool = False,
                   crop_size: int = TRAIN_CROP) -> list[str]:
    """Pack BSD500's train+val images into ``dst/BSD500_train.lmdb`` and copy its test images to ``dst/BSD500_test``.

    Args:
        src (str): The extracted ``BSR`` folder.
        dst (str): Destination folder.
        gray (bool): Store gray images (for gray denoising). Default: False.
        workers (int): Worker processes. Default: 1.
        force (bool): Overwrite existing outputs. Default: False.
        crop_size (int): Least side of a training image: the training crop. Default: 64.

    Returns:
        list[str]: The outputs built by this call.
    """
    check_workers(workers)
    if crop_size < 1:
        raise ValueError(f'--crop-size: expected a size >= 1, got {crop_size}')
    if not os.path.isdir(src):
        raise FileNotFoundError(f'{src}: source folder does not exist')
    root = _find_image_root(src)
    train = list_images(os.path.join(root, 'train')) + list_images(os.path.join(root, 'val'))
    test = list_images(os.path.join(root, 'test'))
    for p in train:  # each decodes, has channels the set can use, and holds a training crop or a score
        check_image(p, color=not gray, min_height=crop_size, why=f'the {crop_size}x{crop_size} training crop')
    for p in test:
        check_image(p, color=not gray, min_height=scoring_size(), why="SSIM's 11x11 window")
    seen: dict[str, str] = {}
    for p in train + test:
        stem = os.path.splitext(os.path.basename(p))[0]
        if '.' in stem or stem in seen:
            raise ValueError(f'{p}: image id {stem!r} is {"repeated" if stem in seen else "not a valid LMDB key"}')
        seen[stem] = p
    out = Outputs(dst, src, force, {'gray': gray})
    out.check(['BSD500_train.lmdb', 'BSD500_test'])
    out.clean_stale()
    built = []
    if not out.is_done('BSD500_train.lmdb'):
        with out.build('BSD500_train.lmdb') as tmp:
            png_dir = os.path.join(os.path.dirname(tmp), 'png')
            os.makedirs(png_dir)
            parallel_map(functools.partial(save_png_copy, out_dir=png_dir, gray=gray), train, workers, 'BSD500 train')
            pack_lmdb(png_dir, tmp, workers)
        built.append('BSD500_train.lmdb')
    if not out.is_done('BSD500_test'):
        with out.build('BSD500_test') as tmp:
            os.makedirs(tmp)
            parallel_map(functools.partial(save_png_copy, out_dir=tmp, gray=gray), test, workers, 'BSD500 test')
        built.append('BSD500_test')
    return built
