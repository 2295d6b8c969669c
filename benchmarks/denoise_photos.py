"""The gray-photo denoising table: the found net of a denoising search on the photos, DnCNN and RIDNet (trained
alike: the same iterations, batch, crop and seeds), BM3D and the noisy input, on the 6 held-out gray photographs.

    python datasets_prep/prepare_photos.py --gray --dst datasets/photos_gray           (once)
    PYTHONPATH=$PWD python benchmarks/denoise_photos.py --sigma 50 --iters 1000 --seeds 2 --jobs 2 \\
        --out results/denoise_photos_sigma50
    PYTHONPATH=$PWD python benchmarks/denoise_photos.py --sigma 30 --iters 1000 --seeds 2 --jobs 2 \\
        --genotype results/denoise_photos_sigma50/genotypes/found.json --out results/denoise_photos_sigma30
    PYTHONPATH=$PWD python benchmarks/denoise_photos.py --time-steps 5 --out results/denoise_photos_steps

Writes OUT/results.json, OUT/table.md and OUT/psnr_vs_flops.png; a rerun with the same arguments skips what is done
(--seeds may be raised, --jobs changed). --time-steps K times K steps of each net and of the search on one thread,
writes OUT/step_times.json and prints the iterations that fit 1.5 hours at --seeds and --jobs. See
hinas_basicsr/research/denoise_photos.py and docs/denoising.md.
"""
from __future__ import annotations

import argparse
import os
import sys

from hinas_basicsr.cli import OneLineParser, run_guarded
from hinas_basicsr.research.denoise_photos import (
    DATA_ROOT,
    LATENCY_SIZE,
    SEARCH_OPT,
    STEP_TIMES,
    TABLE,
    Settings,
    check_settings,
    run_table,
    step_table,
    time_steps,
)
from hinas_basicsr.utils.arg_checks import count, output_dir

MAX_TIME_STEPS = 1000  # --time-steps: a search step takes 7 s on a CPU, 1,000 of them two hours


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog='denoise_photos', description=__doc__.splitlines()[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sigma', type=float, help='noise level, 0-255 scale (required but with --time-steps: 50)')
    p.add_argument('--iters', type=int, help='training iterations of every net (required but with --time-steps)')
    p.add_argument('--seeds', type=int, default=2, help='training seeds of every net (default: %(default)s)')
    p.add_argument('--jobs', type=int, default=1,
                   help='searches and trainings at once, each a process with one thread (default: %(default)s)')
    p.add_argument('--out', required=True, metavar='DIR', help='output folder (a rerun resumes there)')
    p.add_argument('--genotype', metavar='JSON', help='skip the search: the found net is this genotype')
    p.add_argument('--search-opt', default=SEARCH_OPT, metavar='YML', help='the search (default: %(default)s)')
    p.add_argument('--data', default=DATA_ROOT, metavar='DIR',
                   help='the gray photo set of prepare_photos.py --gray (default: %(default)s)')
    p.add_argument('--latency-size', type=int, nargs=2, default=list(LATENCY_SIZE), metavar=('H', 'W'),
                   help='input of the FLOPs and latency (default: %(default)s, a 1280x960 photo)')
    p.add_argument('--latency-runs', type=int, default=3, metavar='R',
                   help='latency: the median of R runs after a warm-up (default: %(default)s)')
    p.add_argument('--time-steps', type=int, metavar='K',
                   help='time K steps of each net and of the search instead, and plan the iterations')
    return p


def run(args: argparse.Namespace) -> int:
    timing = args.time_steps is not None
    if timing:
        count(args.time_steps, '--time-steps', 1, MAX_TIME_STEPS, 'each a timed step of every net')
    if timing and args.iters is not None:
        raise ValueError('--iters: not with --time-steps (which plans them)')
    for flag, value in (('--sigma', args.sigma), ('--iters', args.iters)):
        if value is None and not timing:
            raise ValueError(f'{flag}: required (but with --time-steps)')
    output_dir(args.out, '--out')
    settings = Settings(sigma=50. if args.sigma is None else args.sigma, iters=1 if timing else args.iters,
                        seeds=args.seeds, out=args.out, genotype=args.genotype, search_opt=args.search_opt,
                        data=args.data, latency_size=tuple(args.latency_size), latency_runs=args.latency_runs,
                        jobs=args.jobs)
    if timing:
        given = check_settings(settings, timing=True)
        print(step_table(time_steps(settings, args.time_steps, given)), end='')
        print(f'Wrote {os.path.join(args.out, STEP_TIMES)}')
        return 0
    run_table(settings)
    with open(os.path.join(args.out, TABLE), encoding='utf-8') as f:
        print(f.read(), end='')
    print(f'Wrote {args.out}/results.json, {args.out}/table.md and {args.out}/psnr_vs_flops.png')
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # a bad flag: one line printed by OneLineParser, exit 2 (--help: 0)
        return int(stop.code or 0)
    return run_guarded('denoise_photos', run, args)


if __name__ == '__main__':
    sys.exit(main())
