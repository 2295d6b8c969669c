"""Does alpha follow a signal or a random walk? Read from the validations' genotype files of finished searches.

A search that decides moves alpha steadily in one direction; one whose architecture gradient is noise moves it like
a random walk, and with weight decay on alpha (Adam's L2, the reference's 1e-3) the walk is pulled back to 0, so
alpha settles at a spread where the noise's push and the decay's pull balance. Three readings tell them apart, all
from the centered logits of softmax(alpha) (log p minus its mean over the operations of an edge) that every
validation writes (``genotypes/iter_<N>.json``, as ``hinas report`` reads them):

- ``spread``: the std of the centered logits at each validation (0 when uniform): a drift keeps growing, a walk
  held by the decay levels off;
- ``halves``: the correlation, over all edges and operations, of the change of the logits over the first half of
  the architecture steps with their change over the second half: near +1 for a steady drift, near 0 for a free
  random walk, below 0 when the decay pulls the walk back;
- ``agreement``: for each pair of searches (another ``manual_seed``, the same data), the correlation of their
  final centered logits, beside its 90% interval under no agreement (one search's entries permuted): searches
  that read a signal from the data agree.

The architecture steps start at ``arch_warmup_ratio`` x ``total_iter`` of the option file the search left in its
folder (``<name>.yml``, BasicSR's copy; or ``--arch-start``). Prints two tables; writes JSON.

    python benchmarks/arch_signal.py experiments/search_a experiments/search_b --json arch_signal.json
"""
from __future__ import annotations

import argparse
import glob
import itertools
import os
import sys
from typing import Any

import numpy as np

from hinas_basicsr.search.report import load_search_course
from hinas_basicsr.utils.fileio import write_json
from hinas_basicsr.utils.options_file import load_yaml

PERMUTATIONS = 10000
PERMUTATION_SEED = 0
LEVEL = 0.9


def centered_logits(alpha_softmax: Any) -> np.ndarray:
    """log softmax(alpha) minus its mean over each edge's operations: alpha up to the constant softmax drops."""
    log_p = np.log(np.asarray(alpha_softmax, dtype=np.float64))
    return log_p - log_p.mean(axis=-1, keepdims=True)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def arch_start_of(experiment: str) -> int:
    """The first architecture step's iteration, from the option file BasicSR copied into the experiment folder."""
    options = glob.glob(os.path.join(experiment, '*.yml'))
    if len(options) != 1:
        raise ValueError(f'{experiment}: expected the search\'s one option file (<name>.yml) there, found '
                         f'{len(options)}; give --arch-start')
    train = load_yaml(options[0])['train']
    return round(float(train.get('arch_warmup_ratio', 0)) * int(train['total_iter']))


def alpha_course(experiment: str, arch_start: int | None = None) -> dict[str, Any]:
    """The spread at every validation and the halves' correlation of one search (see the module docstring)."""
    course = load_search_course(experiment)
    start = arch_start_of(experiment) if arch_start is None else arch_start
    iterations = list(course.iterations)
    logits = [centered_logits(g.search['alpha_softmax']) for g in course.genotypes]
    after = [k for k, it in enumerate(iterations) if it >= start]
    if len(after) < 3:
        raise ValueError(f'{experiment}: {len(after)} validation(s) from the architecture steps on (iteration '
                         f'{start}); the halves need 3')
    first, last = after[0], after[-1]
    middle = min(after, key=lambda k: abs(iterations[k] - (iterations[first] + iterations[last]) / 2))
    halves = correlation(logits[middle] - logits[first], logits[last] - logits[middle])
    return {'experiment': experiment, 'arch_start': start, 'iterations': iterations,
            'spread': [round(float(x.std()), 5) for x in logits],
            'halves': {'from': iterations[first], 'middle': iterations[middle], 'to': iterations[last],
                       'correlation': round(halves, 4)},
            'final_logits': logits[-1]}


def agreement(a: np.ndarray, b: np.ndarray, seed: int = PERMUTATION_SEED) -> dict[str, Any]:
    """The correlation of two searches' final logits and its ``LEVEL`` interval with ``b``'s entries permuted."""
    rng = np.random.default_rng(seed)
    flat = b.ravel()
    null = np.array([correlation(a, rng.permutation(flat)) for _ in range(PERMUTATIONS)])
    tail = (1 - LEVEL) / 2
    return {'correlation': round(correlation(a, b), 4),
            'no_agreement_interval90': [round(float(np.quantile(null, tail)), 4),
                                        round(float(np.quantile(null, 1 - tail)), 4)]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('experiments', nargs='+', metavar='EXP', help='a finished search\'s experiment folder')
    parser.add_argument('--arch-start', type=int, default=None,
                        help='the first architecture step\'s iteration (default: from EXP/<name>.yml)')
    parser.add_argument('--json', help='write the readings here')
    args = parser.parse_args(argv)
    try:
        courses = [alpha_course(e, args.arch_start) for e in args.experiments]
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f'arch_signal: {err}', file=sys.stderr)
        return 2
    print('| search | architecture steps from | spread of the centered logits: at the start, a quarter, the middle, '
          'the end | halves\' correlation |')
    print('| --- | --- | --- | --- |')
    for c in courses:
        its, spread = c['iterations'], c['spread']
        marks = [k for k, it in enumerate(its) if it >= c['arch_start']]
        picks = [marks[0], marks[len(marks) // 4], marks[len(marks) // 2], marks[-1]]
        cells = ', '.join(f'{spread[k]:.3f} ({its[k]})' for k in picks)
        print(f'| {os.path.basename(os.path.normpath(c["experiment"]))} | {c["arch_start"]} | {cells} | '
              f'{c["halves"]["correlation"]:+.2f} |')
    pairs = []
    if len(courses) > 1:
        print('\n| searches | agreement of the final logits | 90% interval under no agreement |')
        print('| --- | --- | --- |')
        for a, b in itertools.combinations(courses, 2):
            found = agreement(a['final_logits'], b['final_logits'])
            names = [os.path.basename(os.path.normpath(c['experiment'])) for c in (a, b)]
            pairs.append({'searches': names, **found})
            low, high = found['no_agreement_interval90']
            print(f'| {names[0]} / {names[1]} | {found["correlation"]:+.3f} | [{low:+.3f}, {high:+.3f}] |')
    if args.json:
        write_json(args.json, {'searches': [{k: v for k, v in c.items() if k != 'final_logits'} for c in courses],
                               'agreement': pairs, 'permutations': PERMUTATIONS, 'level': LEVEL})
    return 0


if __name__ == '__main__':
    sys.exit(main())
