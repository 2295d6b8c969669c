"""Build the embedded sample data from photographs shipped inside scikit-image (offline, < 1 minute).

    python datasets_prep/make_sample_data.py --dst datasets/sample [--force]

See :mod:`hinas_basicsr.prep.sample` for the layout.
"""
import argparse
import sys
import time

import _bootstrap  # noqa: F401

import hinas_basicsr  # noqa: F401,E402  (BasicSR compat shim first)
from hinas_basicsr.cli import run_guarded  # noqa: E402
from hinas_basicsr.prep.sample import make_sample_data  # noqa: E402
from hinas_basicsr.utils.arg_checks import output_dir  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='make_sample_data', description=__doc__.splitlines()[0])
    parser.add_argument('--dst', default='datasets/sample', help='output folder. Default: datasets/sample')
    parser.add_argument('--force', action='store_true', help='rebuild an existing folder')
    args = parser.parse_args(argv)

    def run(a: argparse.Namespace) -> int:
        output_dir(a.dst, '--dst')
        start = time.perf_counter()
        if make_sample_data(a.dst, force=a.force):
            print(f'make_sample_data: built {a.dst} in {time.perf_counter() - start:.1f} s')
        else:
            print(f'make_sample_data: {a.dst} is already complete (use --force to rebuild)')
        return 0

    return run_guarded('make_sample_data', run, args)


if __name__ == '__main__':
    sys.exit(main())
