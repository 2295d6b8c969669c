"""Draw a genotype JSON file as a PNG: the width path beside each layer's cell as a left-to-right DAG.

    hinas plot-genotype experiments/search_sr_x2/genotypes/best.json -o best.png

The same drawing the search writes beside every genotypes/iter_N.json and best.json.
"""
from __future__ import annotations

import argparse
import os

from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.genotype_plot import save_genotype_png
from hinas_basicsr.utils import arg_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('genotype', metavar='G.json', help='a genotype file (format: hinas-genotype)')
    parser.add_argument('-o', '--out', metavar='G.png', help='output PNG (default: the JSON path with .png)')


def run(args: argparse.Namespace) -> int:
    genotype = Genotype.load(args.genotype, option='G.json')  # checked before anything is written
    out = args.out or os.path.splitext(args.genotype)[0] + '.png'
    arg_checks.output_file(out, '-o', ('.png',))
    save_genotype_png(genotype, out)
    print(f'genotype drawing: {out}')
    return 0
