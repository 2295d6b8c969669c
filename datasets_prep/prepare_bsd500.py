"""Pack BSD500's 300 train+val images into a GT LMDB and copy its 200 test images to a folder.

    python datasets_prep/prepare_bsd500.py --src BSR --dst datasets/BSD500 [--gray]

See :mod:`hinas_basicsr.prep.bsd500` for the layouts.
"""
import argparse
import sys

import _bootstrap  # noqa: F401

import hinas_basicsr  # noqa: F401,E402  (BasicSR compat shim first)
from hinas_basicsr.cli import OneLineParser, run_guarded  # noqa: E402
from hinas_basicsr.prep.bsd500 import prepare_bsd500  # noqa: E402
from hinas_basicsr.utils.arg_checks import output_dir  # noqa: E402


def main(argv=None) -> int:
    parser = OneLineParser(prog='prepare_bsd500', description=__doc__.splitlines()[0])
    parser.add_argument('--src', required=True, help='the extracted BSR folder')
    parser.add_argument('--dst', required=True, help='output folder, e.g. datasets/BSD500')
    parser.add_argument('--gray', action='store_true', help='store gray images')
    parser.add_argument('--crop-size', type=int, default=64,
                        help='least side of a training image: the training crop (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = parser.parse_args(argv)

    def run(a: argparse.Namespace) -> int:
        output_dir(a.dst, '--dst')
        built = prepare_bsd500(a.src, a.dst, gray=a.gray, workers=a.workers, force=a.force,
                               crop_size=a.crop_size)
        print(f'prepare_bsd500: built {len(built)} output(s) in {a.dst}' + ('' if built else ' (all up to date)'))
        return 0

    return run_guarded('prepare_bsd500', run, args)


if __name__ == '__main__':
    sys.exit(main())
