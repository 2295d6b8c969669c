"""Real photographs of mate-backgrounds and plasma-workspace-wallpapers -> an SR benchmark set (x2, x3, x4).

    apt-get install -y mate-backgrounds plasma-workspace-wallpapers
    python datasets_prep/prepare_photos.py --dst datasets/photos [--workers N]
    python datasets_prep/prepare_photos.py --gray --dst datasets/photos_gray     # the gray denoising set

The photos are those of datasets_prep/photos_manifest.json (checked by sha256); see
:mod:`hinas_basicsr.prep.photos` for the layout.
"""
import argparse
import sys

import _bootstrap  # noqa: F401

import hinas_basicsr  # noqa: F401,E402  (BasicSR compat shim first)
from hinas_basicsr.cli import OneLineParser, run_guarded  # noqa: E402
from hinas_basicsr.prep.photos import default_manifest, prepare_photos  # noqa: E402
from hinas_basicsr.utils.arg_checks import output_dir  # noqa: E402


def main(argv=None) -> int:
    parser = OneLineParser(prog='prepare_photos', description=__doc__.splitlines()[0])
    parser.add_argument('--dst', required=True, help='output folder, e.g. datasets/photos')
    parser.add_argument('--manifest', default=default_manifest(), help='default: %(default)s')
    parser.add_argument('--root', default='/', help="folder the manifest's paths are under (default: /)")
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--gray', action='store_true',
                        help='write the gray denoising set (Photos_train.lmdb, Photos_test/, Photos_test_crop/) '
                             'instead of the SR set')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = parser.parse_args(argv)

    def run(a: argparse.Namespace) -> int:
        output_dir(a.dst, '--dst')
        built = prepare_photos(a.dst, a.manifest, a.root, a.workers, a.force, gray=a.gray)
        print(f'prepare_photos: built {len(built)} output(s) in {a.dst}' + ('' if built else ' (all up to date)'))
        return 0

    return run_guarded('prepare_photos', run, args)


if __name__ == '__main__':
    sys.exit(main())
