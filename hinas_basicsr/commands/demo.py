"""Run the whole HiNAS story on this machine: sample data, a short x2 search, equal-time training, comparison.

Builds datasets/sample from skimage.data photos, searches an x2 cell and width path
(options/demo/search_sr_x2.yml), trains the found net and an EDSR-baseline for the same wall-clock
budget each, and compares both with bicubic on held-out photos (PSNR/SSIM on Y, crop 2; params,
FLOPs, latency). Writes DIR/compare.csv, DIR/compare.md, DIR/psnr_vs_flops.png, DIR/side_by_side.png
(the same crop of each photo by every method), DIR/demo.log (BasicSR's messages) and the checkpoints
under DIR/train/; the search writes to experiments/. One progress bar; about 10 minutes on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import math

from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.tools.demo import run_demo
from hinas_basicsr.utils import arg_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--out', default='results/demo', metavar='DIR', help='output folder (default: %(default)s)')
    parser.add_argument('--budget-s', type=float, default=240., metavar='S',
                        help='training seconds for each of the two nets (default: %(default)s)')
    parser.add_argument('--genotype', default=None, metavar='JSON',
                        help='skip the search and train this genotype (e.g. options/demo/genotype_example_sr_x2.json)')
    parser.add_argument('--latency-runs', type=int, default=5, metavar='N', help='timed forward passes (default: 5)')
    parser.add_argument('--threads', type=int, default=1, metavar='N',
                        help='PyTorch CPU threads, 0 for one per core (default: %(default)s: on a 2-core CPU two '
                             'threads are about 1.4x faster when it is idle, but 10x or more slower when another '
                             'job shares it, as their OpenMP threads spin waiting for each other)')


def run(args: argparse.Namespace) -> int:
    if not math.isfinite(args.budget_s) or args.budget_s <= 0:
        raise ValueError(f'--budget-s: expected a positive, finite number of seconds, got {args.budget_s}')
    if args.threads < 0:
        raise ValueError(f'--threads: expected 0 (one per core) or a positive number, got {args.threads}')
    arg_checks.number(args.latency_runs, '--latency-runs', 1, integer=True)
    arg_checks.output_dir(args.out, '--out')
    if args.genotype is not None:
        arg_checks.input_file(args.genotype, '--genotype', 'genotype file')
    if args.genotype is not None:
        genotype = Genotype.load(args.genotype)
        # any SR genotype: the demo builds it at x2 (one SR search serves every scale)
        genotype.check_compatible(task='sr', source=f'--genotype {args.genotype}')
    run_demo(args.out, budget_s=args.budget_s, genotype=args.genotype, latency_runs=args.latency_runs,
             threads=args.threads or None)
    return 0
