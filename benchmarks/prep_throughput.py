"""Packing throughput of prepare_div2k (sub-image cutting + LMDB) for 1 and N workers, in images/s.

    python benchmarks/prep_throughput.py [--images 8] [--size 1020 2040] [--workers 1 2] [--json OUT]

Synthetic DIV2K-sized HR images are written to a temporary folder, with their x2 LR (so LR generation is
not timed); each run then cuts HR and LR into sub-images and packs both LMDBs. images/s counts HR images.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import hinas_basicsr  # noqa: E402,F401
from hinas_basicsr.prep.common import bicubic_downscale  # noqa: E402
from hinas_basicsr.prep.div2k import prepare_div2k  # noqa: E402
from hinas_basicsr.utils.fileio import write_json  # noqa: E402


def make_source(root: str, count: int, height: int, width: int) -> str:
    rng = np.random.default_rng(0)
    hr_dir, lr_dir = os.path.join(root, 'DIV2K_train_HR'), os.path.join(root, 'DIV2K_train_LR_bicubic', 'X2')
    os.makedirs(hr_dir)
    os.makedirs(lr_dir)
    for i in range(1, count + 1):
        small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
        img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(os.path.join(hr_dir, f'{i:04d}.png'), img)
        cv2.imwrite(os.path.join(lr_dir, f'{i:04d}x2.png'), bicubic_downscale(img, 2))
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--size', type=int, nargs=2, default=[1020, 2040], metavar=('H', 'W'))
    parser.add_argument('--workers', type=int, nargs='+', default=[1, os.cpu_count() or 1])
    parser.add_argument('--json', default=None, help='write the results here')
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix='prep_bench_')
    results = []
    try:
        src = make_source(os.path.join(root, 'DIV2K'), args.images, *args.size)
        for workers in args.workers:
            dst = os.path.join(root, f'out{workers}')
            start = time.perf_counter()
            prepare_div2k(src, dst, scales=(2,), workers=workers)
            seconds = time.perf_counter() - start
            subs = len(os.listdir(os.path.join(dst, 'DIV2K_train_HR_sub')))
            results.append({'workers': workers, 'images': args.images, 'sub_images': subs, 'seconds': seconds,
                            'images_per_s': args.images / seconds, 'sub_images_per_s': subs / seconds})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f'\n{"workers":>7} {"images":>6} {"subs":>5} {"seconds":>8} {"images/s":>9} {"subs/s":>7}')
    for r in results:
        print(f'{r["workers"]:>7} {r["images"]:>6} {r["sub_images"]:>5} {r["seconds"]:>8.2f} '
              f'{r["images_per_s"]:>9.2f} {r["sub_images_per_s"]:>7.1f}')
    if args.json:
        write_json(args.json, {'size': args.size, 'cpu_count': os.cpu_count(), 'results': results})
    return 0


if __name__ == '__main__':
    sys.exit(main())
