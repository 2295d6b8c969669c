"""Does the search beat random? Train the searched genotype and K uniform random ones alike; compare PSNR per FLOP.

Runs the search on --search-opt with --search-iters iterations (or takes --genotype), with --ablations
also the tied-cells and no-cell-sharing searches; draws --random genotypes uniformly from the same
space; trains each for --train-iters iterations (the demo's recipe; the searched nets with seeds
0..--seeds-1, the others with 0..--random-seeds-1) on --data and scores it on its held-out photos and
every --test folder (hinas compare's PSNR/SSIM, params, FLOPs). --widths and --cells K decompose the
search: the found cells on every width path, and K random cells at the found widths. --extra NAME=JSON
trains a given genotype (e.g. one selected from the search's supernet) as one more searched net.
--remedy SPEC searches once more with a remedy of docs/remedies.md (perturbation, decoder_head,
arch_no_weight_decay, arch_lr_3e-3, flops_target[=G], joined by +) and trains what it finds as a searched
net named SPEC; --search-seeds K runs every search K times (NAME_search2... with manual_seed + 1...), and
the report says whether each search mode beat the random median at equal FLOPs in all its searches,
its mean margin over that median and the margin's 90% bootstrap interval (a mode beats chance when every
search beats the median and the interval lies above 0). Where fewer than --band-min randoms lie within
+-10% of a searched net's FLOPs, more are drawn inside that band (random_band_NAME_K) and trained alike.
Writes OUT/results.json (after every genotype; per net and seed the PSNR/SSIM on every set, the training
iterations, the commit it was trained at; for searched nets the search's iterations), OUT/table.md and
OUT/psnr_vs_flops.png; a rerun with the same arguments skips what is done.

--from RUN --only NAME[,NAME...] --out NEW trains those nets of the finished run RUN again (its genotype
files, seeds and recorded option files; every other setting is the run's) into NEW, scores them on the
run's test sets and any new --test, and prints per seed whether its PSNR equals the recorded one (to 0.001
dB; CPU training is deterministic on the same machine and thread count), with the commit recorded and now.
Exit code 0 when every recorded PSNR matches, 1 when one does not.

  hinas search-vs-random --task sr --scale 2 --search-opt options/demo/search_sr_x2.yml \\
      --random 8 --seeds 2 --search-iters 1000 --train-iters 200 --out results/search_vs_random
  hinas search-vs-random --task sr --scale 2 --data photos --search-opt options/search_sr_x2_photos.yml \\
      --random 8 --seeds 2 --widths --cells 4 --jobs 2 --search-iters 300 --train-iters 300 \\
      --out results/photos
  hinas search-vs-random ... (the same run) ... --search-seeds 2 --remedy perturbation+flops_target=8.3
  hinas search-vs-random --from results/photos --only found,random_3 --out results/photos_check
"""
from __future__ import annotations

import argparse
from typing import Any

from hinas_basicsr.research.search_vs_random import TABLE, Settings, rerun_nets, run_benchmark
from hinas_basicsr.utils.arg_checks import output_dir

# the benchmark's required options (not with --from) and every option's default (--from takes the run's)
REQUIRED = ('task', 'scale', 'random', 'seeds', 'search_iters', 'train_iters')
_DEFAULTS: dict[str, Any] = {}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument('--task', choices=['sr', 'denoise'], help='required (but with --from)')
    parser.add_argument('--scale', type=int, metavar='S', help='SR scale (1 for denoise); required (but with --from)')
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--search-opt', metavar='YML', help='search options to run (HiNASSearchModel)')
    source.add_argument('--genotype', metavar='JSON', help='skip the search: benchmark this genotype')
    parser.add_argument('--random', type=int, metavar='K', help='random genotypes to draw; required (but with --from)')
    parser.add_argument('--seeds', type=int, metavar='N',
                        help='training seeds per genotype; required (but with --from)')
    parser.add_argument('--search-iters', type=int, metavar='I',
                        help='total_iter of each search; required (but with --from)')
    parser.add_argument('--train-iters', type=int, metavar='T',
                        help='training iterations per net; required (but with --from)')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='output folder (a rerun resumes there; with --from, a new folder)')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu', help='default: %(default)s')
    parser.add_argument('--ablations', action='store_true',
                        help='also search with layerwise_cells: false and with cell_sharing: false')
    parser.add_argument('--random-seeds', type=int, default=1, metavar='R',
                        help='training seeds of the randoms and the decomposition (default: %(default)s)')
    parser.add_argument('--data', choices=['sample', 'photos'], default='sample',
                        help='sample: the embedded sample data; photos: datasets/photos (datasets_prep/'
                             'prepare_photos.py), in the search options and every training (default: %(default)s)')
    parser.add_argument('--test', action='append', default=[], metavar='DIR',
                        help='also score on this folder of HR images (LR by MATLAB bicubic); repeatable')
    parser.add_argument('--widths', action='store_true',
                        help='also train the found cells on every valid width path')
    parser.add_argument('--cells', type=int, default=0, metavar='K',
                        help='also train K random cells at the found widths (default: %(default)s)')
    parser.add_argument('--jobs', type=int, default=1, metavar='J',
                        help='genotypes trained at once, each in its own process with one thread '
                             '(default: %(default)s)')
    parser.add_argument('--extra', action='append', default=[], metavar='NAME=JSON',
                        help='also train this genotype file as a searched net named NAME (2 --seeds, as found); '
                             'repeatable; may be added to a finished run, which trains only what is new')
    parser.add_argument('--remedy', action='append', default=[], metavar='SPEC',
                        help='also search with these remedies (REMEDIES names or flops_target=G, joined by +) and '
                             'train the result as a searched net named SPEC; repeatable; may be added to a '
                             'finished run')
    parser.add_argument('--search-seeds', type=int, default=1, metavar='K',
                        help='run every search (found, ablations, remedies) K times, with manual_seed + 0..K-1; '
                             'may be raised on a finished run (default: %(default)s)')
    parser.add_argument('--band-min', type=int, default=4, metavar='M',
                        help='where fewer than M randoms lie within +-10%% of a searched net\'s FLOPs, draw more '
                             'inside that band (0: none; default: %(default)s)')
    parser.add_argument('--from', dest='from_run', metavar='RUN',
                        help='a finished run: with --only, train some of its nets again into --out and check their '
                             'PSNRs against the recorded ones (exit 0: all match, 1: one does not)')
    parser.add_argument('--only', metavar='NAME[,NAME...]',
                        help='with --from: the nets of the run to train again (e.g. found,random_3)')
    _DEFAULTS.update({a.dest: a.default for a in parser._actions if a.dest != 'help'})


def _flag(dest: str) -> str:
    return '--' + dest.replace('_', '-')


def rerun(args: argparse.Namespace) -> int:
    """--from RUN --only NAME[,NAME...] --out NEW (every other option is the run's; --test adds a set)."""
    if args.only is None:
        raise ValueError('--from: needs --only NAME[,NAME...] (the nets of the run to train again)')
    given = [d for d, v in vars(args).items() if d in _DEFAULTS and d not in ('from_run', 'only', 'out', 'test')
             and v != _DEFAULTS[d]]
    if given:
        raise ValueError(f'{_flag(given[0])}: --from takes the settings of the run; give only --only, --out and '
                         '--test with it')
    report = rerun_nets(args.from_run, [n for n in args.only.split(',') if n], args.out, tuple(args.test))
    return 0 if report['all_match'] else 1


def run(args: argparse.Namespace) -> int:
    output_dir(args.out, '--out')
    if args.from_run is not None:
        return rerun(args)
    if args.only is not None:
        raise ValueError('--only: needs --from RUN (the finished run whose nets are trained again)')
    missing = [_flag(d) for d in REQUIRED if getattr(args, d) is None]
    if missing:
        raise ValueError(f'{missing[0]}: required (but with --from RUN --only NAME)')
    extras = []
    for spec in args.extra:
        name, sep, path = spec.partition('=')
        if not sep or not name or not path:
            raise ValueError(f'--extra: expected NAME=JSON, got {spec!r}')
        extras.append((name, path))
    settings = Settings(task=args.task, scale=args.scale, search_opt=args.search_opt, genotype=args.genotype,
                        random=args.random, seeds=args.seeds, search_iters=args.search_iters,
                        train_iters=args.train_iters, out=args.out, device=args.device, ablations=args.ablations,
                        data=args.data, random_seeds=args.random_seeds, widths=args.widths, cells=args.cells,
                        tests=tuple(args.test), jobs=args.jobs, extras=tuple(extras), remedies=tuple(args.remedy),
                        search_seeds=args.search_seeds, band_min=args.band_min)
    run_benchmark(settings)
    with open(f'{args.out}/{TABLE}', encoding='utf-8') as f:
        print(f.read(), end='')
    print(f'Wrote {args.out}/results.json, {args.out}/table.md and {args.out}/psnr_vs_flops.png')
    return 0
