"""Samples per second of the search's whole-image training data: LMDB with 0, 2 and 4 workers against in memory.

At the reference scale the search crops each sample from a whole DIV2K image (about 2040 x 1356, a 2.8 MB PNG
here): BasicSR's ``PairedImageDataset`` decodes the HR and the LR image of every sample and converts both to
float before cropping. The data is made here from the sample photos (cubic upscale to DIV2K's size, LR by cubic
x4), packed into LMDBs as ``hinas prep`` packs DIV2K. Each setting builds a ``HiNASSplitDataset`` (the W split)
and reads ``--samples`` samples through a DataLoader (batch 8: each worker loads whole batches, so the
reference's 24 would leave workers idle in a short run); the in-memory settings
(``load_all: true``) decode every image once when the dataset is built, timed apart (``build_s``).

    python benchmarks/data_loading.py --json data_loading.json
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import cv2
import numpy as np

import hinas_basicsr  # noqa: F401  (repairs BasicSR's imports: must come before basicsr)
from hinas_basicsr.utils.fileio import write_json

DIV2K_SIZE = (1356, 2040)  # height, width of a typical DIV2K training image


def make_whole_image_lmdbs(root: str, count: int, scale: int = 4, size: tuple[int, int] = DIV2K_SIZE,
                           seed: int = 0) -> tuple[str, str]:
    """``count`` DIV2K-sized HR images made from the sample photos (crops, flips and cubic upscaling) and their
    cubic x``scale`` LR, packed into ``root/HR.lmdb`` and ``root/LRx{scale}.lmdb`` (keys ``0001`` ...)."""
    from skimage import data

    from hinas_basicsr.prep.common import pack_lmdb

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    hr_dir, lr_dir = os.path.join(root, 'HR'), os.path.join(root, f'LRx{scale}')
    os.makedirs(hr_dir, exist_ok=True)
    os.makedirs(lr_dir, exist_ok=True)
    height, width = size[0] // scale * scale, size[1] // scale * scale
    for i in range(count):
        photo = photos[i % len(photos)][..., ::-1]  # BGR, as cv2 writes
        h, w = photo.shape[:2]
        top, left = int(rng.integers(0, h // 4)), int(rng.integers(0, w // 4))
        crop = photo[top:top + h * 3 // 4, left:left + w * 3 // 4]
        if i // len(photos) % 2:
            crop = crop[:, ::-1]
        hr = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_CUBIC)
        lr = cv2.resize(hr, (width // scale, height // scale), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(os.path.join(hr_dir, f'{i + 1:04d}.png'), hr)
        cv2.imwrite(os.path.join(lr_dir, f'{i + 1:04d}.png'), lr)
    hr_lmdb, lr_lmdb = os.path.join(root, 'HR.lmdb'), os.path.join(root, f'LRx{scale}.lmdb')
    pack_lmdb(hr_dir, hr_lmdb)
    pack_lmdb(lr_dir, lr_lmdb)
    return hr_lmdb, lr_lmdb


def split_options(hr_lmdb: str, lr_lmdb: str, scale: int = 4, crop: int = 64, load_all: bool = False) -> dict:
    """The W split of a search over whole-image LMDBs (no val split), as ``options/search_sr_x4.yml``."""
    inner = {'type': 'PairedImageDataset', 'dataroot_gt': hr_lmdb, 'dataroot_lq': lr_lmdb,
             'io_backend': {'type': 'lmdb'}, 'gt_size': crop * scale, 'use_hflip': True, 'use_rot': True}
    return {'name': 'W', 'phase': 'train', 'scale': scale, 'split': 'w', 'val_ratio': 0, 'dataset': inner,
            'load_all': load_all}


def measure(opt: dict, workers: int, samples: int, batch: int) -> dict:
    """Build the split (timed apart) and read ``samples`` samples (whole batches) through a DataLoader, timed
    from its ``iter()`` (worker start-up included: a fraction of a second) to the last batch: no batch is
    prefetched before the clock starts."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    from hinas_basicsr.data.hinas_split_dataset import HiNASSplitDataset

    start = time.perf_counter()
    dataset = HiNASSplitDataset(opt)
    build_s = time.perf_counter() - start
    sampler = RandomSampler(dataset, replacement=True, num_samples=samples, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)
    start = time.perf_counter()
    read = sum(len(b['gt']) for b in loader)
    elapsed = time.perf_counter() - start
    return {'backend': 'memory' if opt['load_all'] else 'lmdb', 'workers': workers, 'images': len(dataset),
            'samples': read, 'samples_per_s': read / elapsed, 'build_s': build_s}


def table(rows: list[dict]) -> str:
    lines = ['| data | workers | samples/s | build (s) |', '| --- | ---: | ---: | ---: |']
    lines += [f"| {r['backend']} | {r['workers']} | {r['samples_per_s']:.1f} | {r['build_s']:.1f} |" for r in rows]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=8, help='whole images in the W split')
    parser.add_argument('--samples', type=int, default=96, help='samples timed per setting')
    parser.add_argument('--batch', type=int, default=8, help='a worker loads whole batches: 8 keeps 4 busy')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 2, 4], help='LMDB settings')
    parser.add_argument('--memory-workers', type=int, nargs='+', default=[0, 2], help='in-memory settings')
    parser.add_argument('--size', type=int, nargs=2, default=list(DIV2K_SIZE), metavar=('H', 'W'))
    parser.add_argument('--data', help='folder for the LMDBs (default: a temporary one)')
    parser.add_argument('--json', help='write the rows here')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or tmp
        # val_ratio 0 leaves W the first half (rounded up) of the images: make twice as many
        hr_lmdb, lr_lmdb = make_whole_image_lmdbs(root, 2 * args.images, size=tuple(args.size))
        rows = [measure(split_options(hr_lmdb, lr_lmdb), w, args.samples, args.batch) for w in args.workers]
        rows += [measure(split_options(hr_lmdb, lr_lmdb, load_all=True), w, args.samples, args.batch)
                 for w in args.memory_workers]
    print(table(rows))
    print(f'({os.cpu_count()} CPU cores; HR {args.size[0]}x{args.size[1]}, LR x4, crops 64 LR, batch {args.batch}, '
          f'{args.samples} samples)')
    if args.json:
        write_json(args.json, {'cpu_count': os.cpu_count(), 'size': args.size, 'rows': rows})
    return rows


if __name__ == '__main__':
    main(sys.argv[1:])
