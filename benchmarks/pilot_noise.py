"""The noise floor of the search-vs-random benchmark: how much a net's score moves with its training seed, against
how much the nets differ, at each training budget and on each scoring set.

Reads a finished ``hinas search-vs-random`` run of a few genotypes trained with several seeds (its
``scores/<net>/compare.csv``: every seed's final checkpoint, and its half-way snapshot as ``seed<k>_half``), and
optionally an earlier run's results.json at another budget for the same genotypes. For every budget and set it
prints the seed spread (std over seeds, mean over nets), the spread among the nets (std of their seed means), their
ratio, and the Kendall tau of the nets' ranks between budgets; then the budget the benchmark should train at: the
shortest whose ratio is at most 1/3 (or, if none is, the longest measured, said so).

    python benchmarks/pilot_noise.py --run results/pilot --alias found=random_4 \\
        --earlier docs/search_vs_random_photos_x2_modes.json --json docs/pilot_noise_photos.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from hinas_basicsr.search.judge import kendall_tau
from hinas_basicsr.utils.fileio import write_json, write_text

RATIO_GOAL = 1 / 3  # seed spread at most a third of the spread among nets: a seed cannot reorder most nets
EARLIER_SET = 'PhotosTestCrop'  # the earlier photo run scored the held-out crops only


def run_scores(run: str) -> tuple[dict[int, dict[str, dict[str, list[float]]]], int]:
    """``{budget: {set: {net: [psnr per seed]}}}`` of a run's compare.csv files, and its training iterations.

    The half-way snapshot (``seed<k>_half``) counts as the budget ``train_iters // 2``."""
    with open(os.path.join(run, 'results.json'), encoding='utf-8') as f:
        iters = int(json.load(f)['settings']['train_iters'])
    scores: dict[int, dict[str, dict[str, list[float]]]] = {}
    for net in sorted(os.listdir(os.path.join(run, 'scores'))):
        path = os.path.join(run, 'scores', net, 'compare.csv')
        if not os.path.isfile(path):
            continue
        with open(path, encoding='utf-8') as f:
            rows = sorted((r for r in csv.DictReader(f) if r['model'].startswith('seed')), key=lambda r: r['model'])
        for row in rows:
            budget = iters // 2 if row['model'].endswith('_half') else iters
            scores.setdefault(budget, {}).setdefault(row['set'], {}).setdefault(net, []).append(float(row['psnr']))
    return scores, iters


def earlier_scores(results: Mapping[str, Any], names: Sequence[str]) -> dict[int, dict[str, dict[str, list[float]]]]:
    """The same nets (``names``, as the earlier run calls them) in an earlier run's results.json: its full and
    half-way budgets on its first set (the photo run: the held-out crops)."""
    iters = int(results['settings']['train_iters'])
    entries = results['genotypes']
    full = {n: list(entries[n]['psnr']) for n in names if n in entries}
    half = {n: list(entries[n]['psnr_half']) for n in names if n in entries and entries[n].get('psnr_half')}
    found = {iters: {EARLIER_SET: full}}
    if half:
        found[iters // 2] = {EARLIER_SET: half}
    return found


def spreads(by_net: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Seed spread (std over seeds, mean over nets), spread among nets (std of the seed means), their ratio."""
    with_seeds = [v for v in by_net.values() if len(v) > 1]
    seed = statistics.mean(statistics.stdev(v) for v in with_seeds) if with_seeds else None
    means = {n: statistics.mean(v) for n, v in by_net.items()}
    nets = statistics.stdev(means.values()) if len(means) > 1 else None
    return {'nets': len(means), 'seeds': min(len(v) for v in by_net.values()), 'seed_spread_db': seed,
            'net_spread_db': nets, 'ratio': seed / nets if seed is not None and nets else None,
            'means_db': means}


def noise_floor(scores: Mapping[int, Mapping[str, Mapping[str, Sequence[float]]]]) -> dict[str, Any]:
    """Every budget and set's spreads, the taus between budgets (per set, over the nets both scored), the choice."""
    table = {budget: {name: spreads(by_net) for name, by_net in sets.items()}
             for budget, sets in sorted(scores.items())}
    budgets = sorted(table)
    taus = []
    for a, b in zip(budgets, budgets[1:]):
        for name in table[a]:
            if name in table[b]:
                common = sorted(set(table[a][name]['means_db']) & set(table[b][name]['means_db']))
                if len(common) > 1:
                    taus.append({'set': name, 'from': a, 'to': b, 'nets': len(common), 'tau': kendall_tau(
                        [table[a][name]['means_db'][n] for n in common],
                        [table[b][name]['means_db'][n] for n in common])})
    ratios = {b: min((s['ratio'] for s in table[b].values() if s['ratio'] is not None), default=None) for b in budgets}
    passing = [b for b in budgets if ratios[b] is not None and ratios[b] <= RATIO_GOAL]
    choice = {'budget': passing[0], 'why': f'the shortest budget whose seed/net spread ratio is at most 1/3 '
                                           f'({ratios[passing[0]]:.2f} on its best-scored set)'} if passing else {
        'budget': budgets[-1], 'why': f'no measured budget reaches a ratio of 1/3 (best {ratios[budgets[-1]]:.2f} at '
                                      f'{budgets[-1]} iterations): the longest measured, noise-limited'}
    return {'budgets': {str(b): table[b] for b in budgets}, 'taus': taus, 'choice': choice}


def markdown(figures: Mapping[str, Any]) -> str:
    lines = ['| training iterations | scored on | nets x seeds | seed spread (dB) | spread among nets (dB) | ratio |',
             '| --- | --- | --- | --- | --- | --- |']
    for budget, sets in figures['budgets'].items():
        for name, s in sets.items():
            def cell(v: float | None, digits: int = 3) -> str:
                return '' if v is None else f'{v:.{digits}f}'
            lines.append(f'| {budget} | {name} | {s["nets"]} x {s["seeds"]} | {cell(s["seed_spread_db"])} | '
                         f'{cell(s["net_spread_db"])} | {cell(s["ratio"], 2)} |')
    lines += ['', '| ranks between budgets | scored on | nets | Kendall tau |', '| --- | --- | --- | --- |']
    lines += [f'| {t["from"]} -> {t["to"]} | {t["set"]} | {t["nets"]} | {t["tau"]:.2f} |' for t in figures['taus']]
    lines += ['', f'Chosen training budget: {figures["choice"]["budget"]} iterations: {figures["choice"]["why"]}.']
    return '\n'.join(lines) + '\n'


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', required=True, help='a finished hinas search-vs-random folder (several seeds)')
    parser.add_argument('--alias', action='append', default=[], metavar='RUN_NAME=EARLIER_NAME',
                        help="a net of --run that the earlier run calls otherwise (e.g. found=random_4)")
    parser.add_argument('--earlier', metavar='RESULTS_JSON', help="an earlier run's results.json at another budget")
    parser.add_argument('--json', metavar='OUT', help='write the figures here')
    parser.add_argument('--md', metavar='OUT', help='write the tables here')
    args = parser.parse_args(argv)
    try:
        if not os.path.isfile(os.path.join(args.run, 'results.json')):
            raise ValueError(f'--run: {args.run} holds no results.json')
        aliases = dict(a.split('=', 1) for a in args.alias)
        scores, _ = run_scores(args.run)
        if args.earlier:
            with open(args.earlier, encoding='utf-8') as f:
                earlier = json.load(f)
            nets = sorted({n for sets in scores.values() for by in sets.values() for n in by})
            back = {aliases.get(n, n): n for n in nets}
            for budget, sets in earlier_scores(earlier, list(back)).items():
                for name, by_net in sets.items():
                    scores.setdefault(budget, {})[name] = {back[n]: v for n, v in by_net.items()}
    except (ValueError, OSError, KeyError) as err:
        print(f'pilot_noise: error: {err}', file=sys.stderr)
        return 2
    figures = noise_floor(scores)
    figures['run'] = args.run
    text = markdown(figures)
    print(text, end='')
    if args.json:
        write_json(args.json, figures)
    if args.md:
        write_text(args.md, text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
