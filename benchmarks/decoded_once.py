"""Decoding each photo once (``load_all``) against decoding it at every crop: the same numbers, and how much faster.

The photo benchmark's searches and trainings read crops of whole photographs from LMDB; BasicSR's
``PairedImageDataset`` decodes the whole PNG for every crop (about 13 ms for a 792x600 photo on this CPU, 16 a
batch of 8 pairs, two batches an iteration of the search). ``HiNASSplitDataset``'s ``load_all`` decodes each once.
This script runs, on the photo set (``datasets/photos``), the two ways alternately (``--rounds``; the best counts,
one thread each):

- ``search``: the photo search (``options/search_sr_x2_photos_full.yml``) for ``--search-iters`` iterations, with
  ``load_all`` as the file sets it and with it off; every validation's genotype file (softmax(alpha), the beta
  transitions, the validation PSNR) must be the same;
- ``training``: the benchmark's training of one random genotype for ``--train-iters`` iterations, on the set as
  ``hinas search-vs-random`` gives it (``split: all`` with ``load_all``) and on the plain ``PairedImageDataset``;
  the trained weights must be equal.

It prints a table (wall seconds of each way, their ratio, whether the numbers are the same) and writes JSON.

    python benchmarks/decoded_once.py --search-iters 40 --train-iters 40 --json decoded_once.json
"""
from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import tempfile
import time
from typing import Any

import torch

from hinas_basicsr.research.processes import training_pool
from hinas_basicsr.research.random_genotype import random_genotype
from hinas_basicsr.research.search_vs_random import Settings, search_options, space_of, training_options
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.tools.runners import search_genotype, train_for_budget, write_options
from hinas_basicsr.utils.fileio import write_json

SEARCH_OPT = 'options/search_sr_x2_photos_full.yml'
WAYS = ('decode_each', 'decoded_once')


def plain_training_set(dataset: dict[str, Any]) -> dict[str, Any]:
    """The ``split: all`` entry of ``hinas search-vs-random`` as the plain dataset it wraps."""
    outer = {k: v for k, v in dataset.items() if k not in ('type', 'split', 'load_all', 'dataset')}
    return {**dataset['dataset'], **outer}


def run_search(s: Settings, way: str, k: int, log) -> tuple[float, list[dict[str, Any]]]:
    opt = search_options(s, f'{way}_{k}', {})
    for name in ('train', 'val'):
        opt['datasets'][name]['load_all'] = way == 'decoded_once'
    option = write_options(os.path.join(s.out, 'options', f'search_{way}_{k}.yml'), opt)
    started = time.perf_counter()
    best = search_genotype(option, threads=1, log=log)
    seconds = time.perf_counter() - started
    files = sorted(glob.glob(os.path.join(os.path.dirname(best), 'iter_*.json')))
    return seconds, [Genotype.load(f).search for f in files]


def run_training(s: Settings, genotype: str, way: str, k: int) -> tuple[float, dict[str, torch.Tensor]]:
    """In a process of its own, as the benchmark trains (LMDB opens an environment once a process)."""
    with training_pool(1) as pool:
        return pool.submit(_train, s, genotype, way, k).result()


def _train(s: Settings, genotype: str, way: str, k: int) -> tuple[float, dict[str, torch.Tensor]]:
    opt = training_options(s, f'{way}_{k}', genotype, seed=0)
    if way == 'decode_each':
        opt['datasets']['train'] = plain_training_set(opt['datasets']['train'])
    option = write_options(os.path.join(s.out, 'options', f'train_{way}_{k}.yml'), opt)
    started = time.perf_counter()
    trained = train_for_budget(option, float('inf'), s.out, max_iters=s.train_iters)
    seconds = time.perf_counter() - started
    return seconds, torch.load(trained.checkpoint, map_location='cpu')['params']


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--search-iters', type=int, default=40, help='0: no search')
    parser.add_argument('--train-iters', type=int, default=40)
    parser.add_argument('--rounds', type=int, default=2, help='runs of each way, alternating; the best counts')
    parser.add_argument('--json', help='write the result here')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = tempfile.mkdtemp(prefix='decoded_once_', dir='results' if os.path.isdir('results') else None)
    s = Settings(task='sr', scale=2, search_opt=SEARCH_OPT, genotype=None, random=1, seeds=1,
                 search_iters=args.search_iters, train_iters=args.train_iters, out=out, device='cpu',
                 ablations=False, data='photos')
    genotype = os.path.join(out, 'random.json')
    random_genotype(random.Random(0), **space_of(s, None)).save(genotype)
    seconds: dict[str, dict[str, list[float]]] = {'search': {w: [] for w in WAYS}, 'training': {w: [] for w in WAYS}}
    same = {'search': True, 'training': True}
    with open(os.path.join(out, 'searches.log'), 'w', encoding='utf-8') as log:
        for k in range(args.rounds):
            searched, trained = {}, {}
            for way in WAYS if k % 2 == 0 else WAYS[::-1]:
                if args.search_iters:
                    t, searched[way] = run_search(s, way, k, log)
                    seconds['search'][way].append(t)
                t, trained[way] = run_training(s, genotype, way, k)
                seconds['training'][way].append(t)
            same['search'] &= searched.get('decode_each') == searched.get('decoded_once')
            same['training'] &= all(torch.equal(trained['decode_each'][n], trained['decoded_once'][n])
                                    for n in trained['decode_each'])
    rows = []
    print('| part | iterations | decode each (s) | decoded once (s) | ratio | same numbers |')
    print('| --- | --- | --- | --- | --- | --- |')
    for part, iters in (('search', args.search_iters), ('training', args.train_iters)):
        if not iters:
            continue
        each, once = min(seconds[part]['decode_each']), min(seconds[part]['decoded_once'])
        rows.append({'part': part, 'iterations': iters, 'decode_each_s': round(each, 1),
                     'decoded_once_s': round(once, 1), 'ratio': round(once / each, 3), 'same_numbers': same[part],
                     'all_seconds': {w: [round(x, 1) for x in v] for w, v in seconds[part].items()}})
        print(f'| {part} | {iters} | {each:.1f} | {once:.1f} | {once / each:.2f} | {"yes" if same[part] else "NO"} |')
    if args.json:
        write_json(args.json, {'rows': rows, 'threads': 1, 'rounds': args.rounds, 'work_dir': out})
    return 0 if all(same.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
