"""Draw a search's course from the files it left: report.png (validation PSNR/SSIM, alpha, beta, changes, genotype).

    hinas report experiments/search_sr_x4            # writes experiments/search_sr_x4/report.png
    hinas report experiments/search_sr_x4 -o course.png

Reads genotypes/iter_<N>.json (their "search" fields), genotypes/best.json and the train_*.log files; runs nothing.
"""
from __future__ import annotations

import argparse

from hinas_basicsr.search.report import save_report
from hinas_basicsr.utils import arg_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('experiment', metavar='EXP', help='a search\'s experiment folder (experiments/<name>)')
    parser.add_argument('-o', '--out', metavar='OUT.png', help='output PNG (default: EXP/report.png)')


def run(args: argparse.Namespace) -> int:
    import os

    out = args.out or os.path.join(args.experiment, 'report.png')
    arg_checks.output_file(out, '-o', ('.png',))  # as plot-genotype checks its -o
    print(f'search report: {save_report(args.experiment, out)}')
    return 0
