"""Make GTmod{s} and LRbicx{s} folders of Set5, Set14, BSD100, Urban100 and Manga109.

    python datasets_prep/prepare_sr_benchmarks.py --src DIR --dst datasets/benchmarks --scales 2 3 4 8

DIR/<Set>/ holds the HR images, directly or in an HR/, GT/ or original/ subfolder.
"""
import argparse
import sys

import _bootstrap  # noqa: F401

import hinas_basicsr  # noqa: F401,E402  (BasicSR compat shim first)
from hinas_basicsr.cli import run_guarded  # noqa: E402
from hinas_basicsr.prep.benchmarks import prepare_sr_benchmarks  # noqa: E402
from hinas_basicsr.utils.arg_checks import output_dir  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='prepare_sr_benchmarks', description=__doc__.splitlines()[0])
    parser.add_argument('--src', required=True, help='folder with one subfolder per set')
    parser.add_argument('--dst', required=True, help='output folder, e.g. datasets/benchmarks')
    parser.add_argument('--scales', type=int, nargs='+', default=[2, 3, 4, 8], help='scales (2, 3, 4, 8)')
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = parser.parse_args(argv)

    def run(a: argparse.Namespace) -> int:
        output_dir(a.dst, '--dst')
        built = prepare_sr_benchmarks(a.src, a.dst, a.scales, a.workers, force=a.force)
        print(f'prepare_sr_benchmarks: built {len(built)} output(s) in {a.dst}' + ('' if built else ' (up to date)'))
        return 0

    return run_guarded('prepare_sr_benchmarks', run, args)


if __name__ == '__main__':
    sys.exit(main())
