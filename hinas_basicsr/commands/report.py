"""Draw a search's course from the files it left: report.png (validation PSNR/SSIM, alpha, beta, changes, genotype),
and say in one line whether it decided (entropy, alpha_max_mean, softmax(beta) along the found path, last change).

    hinas report experiments/search_sr_x4            # writes experiments/search_sr_x4/report.png
    hinas report experiments/search_sr_x4 -o course.png
    hinas report experiments/search_a experiments/search_b --json end_states.json

Reads genotypes/iter_<N>.json (their "search" fields), genotypes/best.json and the train_*.log files; runs nothing.
"""
from __future__ import annotations

import argparse
import os

from hinas_basicsr.search.report import end_state, end_state_line, load_search_course, save_report
from hinas_basicsr.utils import arg_checks
from hinas_basicsr.utils.fileio import write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('experiments', metavar='EXP', nargs='+',
                        help='a search\'s experiment folder (experiments/<name>); several: a report each')
    parser.add_argument('-o', '--out', metavar='OUT.png', help='output PNG of a single EXP (default: EXP/report.png)')
    parser.add_argument('--json', metavar='OUT.json', help='also write every EXP\'s end state (the printed line\'s '
                        'numbers) as a JSON list')


def run(args: argparse.Namespace) -> int:
    if args.out and len(args.experiments) > 1:
        raise ValueError(f'-o: one output for {len(args.experiments)} experiment folders; leave it out (each '
                         'report.png goes into its folder)')
    outs = [args.out or os.path.join(exp, 'report.png') for exp in args.experiments]
    for out in outs:
        arg_checks.output_file(out, '-o', ('.png',))  # as plot-genotype checks its -o
    if args.json:
        arg_checks.output_file(args.json, '--json', ('.json',))
    courses = [load_search_course(exp) for exp in args.experiments]  # every folder read before a write
    states = [end_state(course) for course in courses]
    for exp, out, course, state in zip(args.experiments, outs, courses, states):
        print(f'search report: {save_report(exp, out, course)}')
        print(end_state_line(state))
    if args.json:
        write_json(args.json, states)
    return 0
