"""Cut DIV2K into 480x480 sub-images (LR x2/x3/x4/x8 alike); pack them, and the whole images, into BasicSR LMDBs.

    python datasets_prep/prepare_div2k.py --src DIV2K --dst datasets/DIV2K [--scales 2 3 4 8] [--workers N]

See :mod:`hinas_basicsr.prep.div2k` for the layouts.
"""
import argparse
import sys

import _bootstrap  # noqa: F401

import hinas_basicsr  # noqa: F401,E402  (BasicSR compat shim first)
from hinas_basicsr.cli import run_guarded  # noqa: E402
from hinas_basicsr.prep.div2k import prepare_div2k  # noqa: E402
from hinas_basicsr.utils.arg_checks import output_dir  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='prepare_div2k', description=__doc__.splitlines()[0])
    parser.add_argument('--src', required=True, help='folder in the official DIV2K layout')
    parser.add_argument('--dst', required=True, help='output folder, e.g. datasets/DIV2K')
    parser.add_argument('--scales', type=int, nargs='+', default=[2, 3, 4, 8], help='LR scales (2, 3, 4, 8)')
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--no-lmdb', action='store_true', help='only write the PNG sub-images')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = parser.parse_args(argv)

    def run(a: argparse.Namespace) -> int:
        output_dir(a.dst, '--dst')
        built = prepare_div2k(a.src, a.dst, a.scales, a.workers, make_lmdb=not a.no_lmdb, force=a.force)
        print(f'prepare_div2k: built {len(built)} output(s) in {a.dst}' + ('' if built else ' (all up to date)'))
        return 0

    return run_guarded('prepare_div2k', run, args)


if __name__ == '__main__':
    sys.exit(main())
