"""SR benchmark sets (Set5, Set14, BSD100, Urban100, Manga109) -> ``GTmod{s}`` and ``LRbicx{s}`` folders.

The LR images are made exactly as the DIV2K LR (MATLAB-style bicubic of the HR mod-cropped to ``s``);
GT and LR share file names, as BasicSR's benchmark options expect with ``filename_tmpl: '{}'``.

Source: ``SRC/<Set>/`` holding the HR images directly, or in an ``HR/``, ``GT/`` or ``original/``
subfolder (the set folder name is matched case-insensitively; ``B100`` is accepted for BSD100).
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
    list_images,
    parallel_map,
    save_bicubic_lr,
    scoring_size,
)

BENCHMARK_SETS = ('Set5', 'Set14', 'BSD100', 'Urban100', 'Manga109')
_ALIASES = {'bsd100': ('b100',)}
_HR_SUBFOLDERS = ('HR', 'GT', 'original', 'hr', 'gt')


def find_benchmark_images(src: str, set_name: str) -> list[str] | None:
    """HR image paths of ``set_name`` under ``src`` (see the module docstring), or None if the set is absent."""
    wanted = (set_name.lower(), *_ALIASES.get(set_name.lower(), ()))
    folders = [os.path.join(src, e) for e in sorted(os.listdir(src)) if e.lower() in wanted]
    for folder in folders:
        for sub in _HR_SUBFOLDERS:
            if os.path.isdir(os.path.join(folder, sub)):
                return list_images(os.path.join(folder, sub))
        if os.path.isdir(folder):
            return list_images(folder)
    return None


def build_benchmark_set(hr_paths: Sequence[str], out: Outputs, set_name: str, scales: Sequence[int],
                        workers: int = 1) -> list[str]:
    """Write ``set_name/GTmod{s}`` and ``set_name/LRbicx{s}`` under ``out`` for each scale; return what was built."""
    built = []
    for s in scales:
        gt_name, lr_name = f'{set_name}/GTmod{s}', f'{set_name}/LRbicx{s}'
        if out.is_done(gt_name) and out.is_done(lr_name):
            continue
        with out.build(gt_name) as gt_tmp, out.build(lr_name) as lr_tmp:
            os.makedirs(gt_tmp)
            os.makedirs(lr_tmp)
            job = functools.partial(save_bicubic_lr, lr_dir=lr_tmp, scale=s, gt_dir=gt_tmp)
            parallel_map(job, list(hr_paths), workers, f'{set_name} x{s}')
        built += [gt_name, lr_name]
    return built


def prepare_sr_benchmarks(src: str, dst: str, scales: Sequence[int] = SCALES, workers: int = 1,
                          force: bool = False, sets: Sequence[str] = BENCHMARK_SETS) -> list[str]:
    """Make ``dst/<Set>/GTmod{s}`` and ``dst/<Set>/LRbicx{s}`` for every set found under ``src``.

    Args:
        src (str): Folder holding one subfolder per set.
        dst (str): Destination folder.
        scales (Sequence[int]): Scales among 2, 3, 4, 8. Default: (2, 3, 4, 8).
        workers (int): Worker processes. Default: 1.
        force (bool): Overwrite existing outputs. Default: False.
        sets (Sequence[str]): Set names to look for. Default: the five standard sets.

    Returns:
        list[str]: The outputs built by this call.
    """
    scales = check_scales(scales)
    check_workers(workers)
    if not os.path.isdir(src):
        raise FileNotFoundError(f'{src}: source folder does not exist')
    found = {name: find_benchmark_images(src, name) for name in sets}
    found = {name: paths for name, paths in found.items() if paths is not None}
    if not found:
        raise FileNotFoundError(f'{src}: none of {", ".join(sets)} found')
    least = scoring_size(max(scales))  # every image decodes, is colour and can be scored at every scale
    for paths in found.values():
        for p in paths:
            check_image(p, color=True, min_height=least,
                        why=f'PSNR/SSIM at x{max(scales)}: {max(scales)} pixels cropped from each border, then '
                            'an 11x11 SSIM window')
    out = Outputs(dst, src, force)
    out.check(f'{name}/{kind}{s}' for name in found for s in scales for kind in ('GTmod', 'LRbicx'))
    out.clean_stale()
    for name in sets:
        if name not in found:
            print(f'prepare_sr_benchmarks: {name} not found under {src}, skipped')
    built = []
    for name, paths in found.items():
        built += build_benchmark_set(paths, out, name, scales, workers)
    return built
