"""Run the whole HiNAS story on this machine: sample data, a short search, equal-time training, comparison.

Builds datasets/sample from skimage.data photos, searches a cell and width path, trains the found net
and the field's baseline for the same wall-clock budget each, and compares both on held-out photos
(PSNR/SSIM, params, FLOPs, latency). --task sr (the default): an x2 search
(options/demo/search_sr_x2.yml), an EDSR-baseline, bicubic as the reference, PSNR/SSIM on Y with crop 2.
--task denoise: a gray denoising search (options/demo/search_denoise.yml), the nets trained at sigma 50,
DnCNN as the baseline, the noisy input and BM3D (with the bm3d extra) as the references, no crop.
Writes DIR/compare.csv, DIR/compare.md, DIR/psnr_vs_flops.png, DIR/side_by_side.png (the same crop of
each photo by every method), DIR/demo.log (BasicSR's messages) and the checkpoints under DIR/train/; the
search writes to experiments/. One progress bar; about 10 minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import math

from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.tools.compare import check_latency_runs
from hinas_basicsr.tools.demo import TASKS, run_demo
from hinas_basicsr.utils import arg_checks

MAX_BUDGET_S = 7 * 24 * 3600  # --budget-s: the demo takes minutes; a week a net is past any use of it
MAX_THREADS = 1024  # --threads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--task', choices=list(TASKS), default='sr',
                        help='super-resolution x2, or gray denoising at sigma 50 (default: %(default)s)')
    parser.add_argument('--out', default='results/demo', metavar='DIR', help='output folder (default: %(default)s)')
    parser.add_argument('--budget-s', type=float, default=None, metavar='S',
                        help='training seconds for each of the two nets (default: '
                             + ', '.join(f'{d.budget_s:.0f} for {t}' for t, d in TASKS.items()) + ')')
    parser.add_argument('--genotype', default=None, metavar='JSON',
                        help='skip the search and train this genotype of the task (e.g. '
                             'options/demo/genotype_example_sr_x2.json, genotype_example_denoise.json)')
    parser.add_argument('--latency-runs', type=int, default=5, metavar='N', help='timed forward passes (default: 5)')
    parser.add_argument('--threads', type=int, default=1, metavar='N',
                        help='PyTorch CPU threads, 0 for one per core (default: %(default)s: on a 2-core CPU two '
                             'threads are about 1.4x faster when it is idle, but 10x or more slower when another '
                             'job shares it, as their OpenMP threads spin waiting for each other)')


def run(args: argparse.Namespace) -> int:
    if args.budget_s is not None and (not math.isfinite(args.budget_s) or not 0 < args.budget_s <= MAX_BUDGET_S):
        raise ValueError(f'--budget-s: expected a positive number of seconds, at most {MAX_BUDGET_S:,} (a week of '
                         f'training for each net), got {args.budget_s}')
    arg_checks.count(args.threads, '--threads', 0, MAX_THREADS, '0 for one per core; each a thread')
    check_latency_runs(args.latency_runs)
    arg_checks.output_dir(args.out, '--out')
    if args.genotype is not None:
        genotype = Genotype.load(args.genotype, option='--genotype')
        # any genotype of the task: the demo builds an SR one at x2 (one SR search serves every scale)
        genotype.check_compatible(task=args.task, source=f'--genotype {args.genotype}')
    run_demo(args.out, budget_s=args.budget_s, genotype=args.genotype, latency_runs=args.latency_runs,
             threads=args.threads or None, task=args.task)
    return 0
