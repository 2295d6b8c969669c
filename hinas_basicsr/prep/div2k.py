"""DIV2K -> BasicSR sub-images and LMDBs, as BasicSR's ``scripts/data_preparation`` would make them, plus
whole-image LMDBs for training that takes one random crop per image (the HiNAS reference search).

Source layout (the official one)::

    DIV2K/DIV2K_train_HR/0001.png ...
    DIV2K/DIV2K_train_LR_bicubic/X2/0001x2.png ...   (X3, X4, X8; generated when missing)
    DIV2K/DIV2K_valid_HR/0801.png ...                  (optional)
    DIV2K/DIV2K_valid_LR_bicubic/X2/0801x2.png ...    (generated when missing)

Output under ``dst``: ``DIV2K_train_HR_sub/0001_s001.png``, ``DIV2K_train_LR_bicubic/X{s}_sub/0001_s001.png``,
``DIV2K_train_HR_sub.lmdb`` and ``DIV2K_train_LR_bicubic_X{s}_sub.lmdb`` (keys ``0001_s001``); the whole
images in ``DIV2K_train_HR.lmdb`` and ``DIV2K_train_LR_bicubic_X{s}.lmdb`` (keys ``0001``, the image ids);
plus any generated full-size LR folder (``DIV2K_{train,valid}_LR_bicubic/X{s}/0001x{s}.png``).

HR is mod-cropped to the least common multiple of the scales (24 for 2, 3, 4 and 8; 12 for 2, 3 and 4) so
that one set of HR images and sub-images lines up with the LR of every scale: the whole HR image is
``HR[:H, :W]`` and its LR is ``LR[:H/s, :W/s]``; HR sub-image ``i`` is ``HR[x:x+480, y:y+480]`` and LR sub-image
``i`` is ``LR[x/s:(x+480)/s, y/s:(y+480)/s]``. (DIV2K's widths, 2040, are multiples of 24; a height of 1356
loses 12 rows at mod 24.) The modulus is recorded with the outputs: a later run for other scales refuses
outputs cut with another one.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from hinas_basicsr.prep.common import (
    SCALES,
    Outputs,
    check_image,
    check_scales,
    check_workers,
    lcm,
    list_images,
    pack_lmdb,
    parallel_map,
    save_bicubic_lr,
    save_subimages,
    save_whole_image,
    scoring_size,
)

CROP_SIZE = 480
STEP = 240


def _lr_partners(hr_paths: list[str], sizes: dict[str, tuple[int, int]], folder: str, scale: int) -> list[str]:
    """The official LR partners (``0001x2.png``) of ``hr_paths`` in ``folder``; refuse missing or mis-sized ones."""
    partners = []
    for hr in hr_paths:
        stem = os.path.splitext(os.path.basename(hr))[0]
        lr = os.path.join(folder, f'{stem}x{scale}.png')
        if not os.path.isfile(lr):
            raise FileNotFoundError(f'{lr}: LR partner of {hr} is missing')
        h, w = sizes[hr]
        lh, lw = check_image(lr, color=True)
        if (lh, lw) != (h // scale, w // scale):
            raise ValueError(f'{lr}: size {lh}x{lw}, expected {h // scale}x{w // scale} (HR {h}x{w} / {scale})')
        partners.append(lr)
    return partners


def prepare_div2k(src: str, dst: str, scales: Sequence[int] = SCALES, workers: int = 1, make_lmdb: bool = True,
                  force: bool = False, crop_size: int = CROP_SIZE, step: int = STEP) -> list[str]:
    """Cut DIV2K (or any folder in its layout) into BasicSR sub-images and pack them, and the whole images, into LMDBs.

    Every input is checked before anything is written. Finished outputs of an earlier run from the
    same source are skipped; other existing outputs are refused unless ``force``.

    Args:
        src (str): Folder in the official DIV2K layout.
        dst (str): Destination folder (may be ``src`` itself).
        scales (Sequence[int]): LR scales among 2, 3, 4, 8. Default: (2, 3, 4, 8).
        workers (int): Worker processes. Default: 1.
        make_lmdb (bool): Also pack the sub-images, and the whole images, into LMDBs. Default: True.
        force (bool): Overwrite existing outputs. Default: False.
        crop_size (int): HR sub-image size. Default: 480.
        step (int): HR step between sub-images. Default: 240.

    Returns:
        list[str]: The outputs built by this call (skipped ones excluded).
    """
    scales = check_scales(scales)
    hr_mod = lcm(scales)  # HR and LR line up at every scale asked for: 24 for 2, 3, 4 and 8
    check_workers(workers)
    for s in scales:
        if crop_size % s or step % s:
            raise ValueError(f'crop_size/step: {crop_size}/{step} are not multiples of scale {s}')
    if not os.path.isdir(src):
        raise FileNotFoundError(f'{src}: source folder does not exist')
    splits = {'train': list_images(os.path.join(src, 'DIV2K_train_HR'))}
    if os.path.isdir(os.path.join(src, 'DIV2K_valid_HR')):
        splits['valid'] = list_images(os.path.join(src, 'DIV2K_valid_HR'))
    # every image decodes, is colour and holds what is cut from it: a sub-image (train), its LR at every scale and
    # a PSNR/SSIM score (valid); all before anything is written
    least = max(hr_mod, scoring_size(max(scales)))
    sizes = {p: check_image(p, color=True, min_height=least, why=f'its LR at x{max(scales)} to be scored')
             for paths in splits.values() for p in paths}
    for p in splits['train']:
        h, w = sizes[p]
        if min(h - h % hr_mod, w - w % hr_mod) < crop_size:
            raise ValueError(f'{p}: {h}x{w} is too small: at least {crop_size}x{crop_size} after its crop to a '
                             f'multiple of {hr_mod} needed (the {crop_size}x{crop_size} sub-image)')

    # hr_mod is recorded: outputs cut for other scales (e.g. mod 12 for x2-x4) do not line up with x8 ones.
    # 12, the only modulus before x8 existed, stays implicit so that outputs of earlier versions stay valid.
    params = {'crop_size': crop_size, 'step': step, **({'hr_mod': hr_mod} if hr_mod != 12 else {})}
    out = Outputs(dst, src, force, params)
    lr_paths: dict[tuple[str, int], list[str]] = {}
    generate: list[tuple[str, int, str]] = []
    for split, paths in splits.items():
        for s in scales:
            rel = f'DIV2K_{split}_LR_bicubic/X{s}'
            if os.path.isdir(os.path.join(src, rel)):
                lr_paths[split, s] = _lr_partners(paths, sizes, os.path.join(src, rel), s)
            else:
                generate.append((split, s, rel))
                stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
                lr_paths[split, s] = [os.path.join(out.path(rel), f'{stem}x{s}.png') for stem in stems]
    sub_names = {0: 'DIV2K_train_HR_sub', **{s: f'DIV2K_train_LR_bicubic/X{s}_sub' for s in scales}}
    lmdb_names = {0: 'DIV2K_train_HR_sub.lmdb', **{s: f'DIV2K_train_LR_bicubic_X{s}_sub.lmdb' for s in scales}}
    whole_names = {0: 'DIV2K_train_HR.lmdb', **{s: f'DIV2K_train_LR_bicubic_X{s}.lmdb' for s in scales}}
    lmdbs = [*lmdb_names.values(), *whole_names.values()] if make_lmdb else []
    out.check([g[2] for g in generate] + list(sub_names.values()) + lmdbs)
    out.clean_stale()

    built = []
    for split, s, rel in generate:
        if not out.is_done(rel):
            with out.build(rel) as tmp:
                os.makedirs(tmp)
                job = functools.partial(save_bicubic_lr, lr_dir=tmp, scale=s, lr_suffix=f'x{s}')
                parallel_map(job, splits[split], workers, f'LR x{s} {split}')
            built.append(rel)
    for s, name in sub_names.items():
        div = max(s, 1)
        tasks = []  # (image, id, height, width): the mod-cropped HR, or its LR at scale s
        for hr, path in zip(splits['train'], lr_paths['train', s] if s else splits['train']):
            h, w = sizes[hr]
            tasks.append((path, os.path.splitext(os.path.basename(hr))[0], (h - h % hr_mod) // div,
                          (w - w % hr_mod) // div))
        if not out.is_done(name):
            with out.build(name) as tmp:
                os.makedirs(tmp)
                job = functools.partial(save_subimages, out_dir=tmp, crop_size=crop_size // div, step=step // div)
                parallel_map(job, tasks, workers, f'cut {name}')
            built.append(name)
        if make_lmdb and not out.is_done(lmdb_names[s]):
            with out.build(lmdb_names[s]) as tmp:
                pack_lmdb(out.path(name), tmp, workers)
            built.append(lmdb_names[s])
        if make_lmdb and not out.is_done(whole_names[s]):
            with out.build(whole_names[s]) as tmp:
                png_dir = os.path.join(os.path.dirname(tmp), 'png')  # in the staging folder: removed with it
                os.makedirs(png_dir)
                parallel_map(functools.partial(save_whole_image, out_dir=png_dir), tasks, workers, f'whole {name}')
                pack_lmdb(png_dir, tmp, workers)
            built.append(whole_names[s])
    return built
