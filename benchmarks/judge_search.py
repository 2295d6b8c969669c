"""The trained supernet as a judge and selection by its validation (docs/remedies.md).

For every genotype of a finished ``hinas search-vs-random`` run (the searched nets, the randoms, the width paths,
the random cells) this computes its validation PSNR in the search's trained supernet with alpha and beta one-hot
on it ("inherited weights", Yu et al., ICLR 2020; :class:`hinas_basicsr.search.judge.SearchJudge`) and the Kendall
tau between those and the stand-alone PSNRs of results.json (the mean over the seeds each net was trained with: a
single seed's PSNR carries a seed spread as large as the spread among the randoms), for the randoms alone and for
all nets, each with its 90% bootstrap interval (the nets resampled with replacement,
:func:`hinas_basicsr.research.stats.tau_interval`).

With ``--select DIR`` it also writes, from the same supernet, the genotype DARTS-PT's perturbation selects
(``DIR/perturbation.json``, its widths by the best one-hot beta; what the selection measured in
``DIR/perturbation.search.json`` beside it) and the found cells on the best one-hot-beta
width path (``DIR/best_widths.json``).

    PYTHONPATH=$PWD python benchmarks/judge_search.py --search-opt results/photos/options/search_found.yml \
        --results results/photos/results.json --json docs/judge.json --select docs/genotypes
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

import torch

from hinas_basicsr.research.judge import judge_of_search
from hinas_basicsr.research.stats import BOOTSTRAP_SEED, LEVEL, REPLICATES, tau_interval
from hinas_basicsr.search.judge import BN_MODES, kendall_tau
from hinas_basicsr.search.record import record_path, save_record
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.utils.fileio import write_json


def judge(search_opt: str, results_path: str, bn: str = 'batch', val_batches: int | None = None,
          val_crop: int | None = None, select: str | None = None, select_val_crop: int | None = None,
          seed: int = 0) -> dict[str, Any]:
    """Inherited PSNRs and taus of a finished benchmark run (module docstring); selections with ``select``."""
    with open(results_path, encoding='utf-8') as f:
        results = json.load(f)
    entries = {name: e for name, e in results['genotypes'].items() if 'genotype' in e}
    started = time.perf_counter()
    judge_ = judge_of_search(search_opt, bn=bn, val_batches=val_batches, val_crop=val_crop)
    nets = {}
    for name, e in entries.items():
        genotype = Genotype.from_dict(e['genotype'])
        nets[name] = {'kind': e['kind'], 'flops': e['flops'], 'standalone_psnr': round(statistics.fmean(e['psnr']), 4),
                      'standalone_seeds': len(e['psnr']), 'standalone_psnr_seed0': e['psnr'][0],
                      'inherited_psnr': round(judge_.inherited_psnr(genotype), 4)}
    judged = time.perf_counter() - started
    randoms = [n for n in nets if nets[n]['kind'] == 'random']

    def tau(names: list[str]) -> float:
        return kendall_tau([nets[n]['inherited_psnr'] for n in names],
                           [nets[n]['standalone_psnr'] for n in names])

    def interval(names: list[str]) -> list[float] | None:
        """The tau's bootstrap interval (the nets resampled with replacement); None for fewer than 3 nets."""
        if len(names) < 3:
            return None
        low_high = tau_interval([nets[n]['inherited_psnr'] for n in names],
                                [nets[n]['standalone_psnr'] for n in names])[1]
        return None if low_high is None else [round(v, 4) for v in low_high]

    report: dict[str, Any] = {
        'search_opt': search_opt, 'results': results_path, 'bn': bn, 'val_images': len(judge_.val),
        'val_crop': val_crop, 'val_lr_size': list(judge_.val[0][0].shape[-2:]), 'nets': nets,
        'tau_randoms': round(tau(randoms), 4), 'tau_all': round(tau(list(nets)), 4),
        'tau_randoms_interval90': interval(randoms), 'tau_all_interval90': interval(list(nets)),
        'bootstrap': {'level': LEVEL, 'replicates': REPLICATES, 'seed': BOOTSTRAP_SEED},
        'num_randoms': len(randoms), 'num_all': len(nets), 'wall_seconds': {'inherited': round(judged, 1)}}
    if select is not None:
        started = time.perf_counter()
        picker = judge_ if select_val_crop == val_crop else judge_of_search(
            search_opt, bn=bn, val_batches=val_batches, val_crop=select_val_crop)
        found = Genotype.from_dict(entries['found']['genotype'])
        widths, path_psnr = picker.best_widths(found.cells)
        best_widths = replace(found, widths=tuple(widths), search=None)  # the path PSNRs are in the report
        perturbation, record = picker.perturbation_selection(seed=seed, val_crop=select_val_crop)
        os.makedirs(select, exist_ok=True)
        best_widths.save(os.path.join(select, 'best_widths.json'))
        perturbation.save(os.path.join(select, 'perturbation.json'))
        save_record(os.path.join(select, 'perturbation.json'), record)
        report['selection'] = {
            'val_crop': select_val_crop, 'seed': seed, 'best_widths': list(widths), 'found_path_psnr': path_psnr,
            'perturbation': {'cells': [list(map(list, c)) for c in perturbation.cells],
                             'widths': list(perturbation.widths),
                             'inherited_psnr': round(judge_.inherited_psnr(perturbation), 4)},
            'files': [os.path.join(select, 'perturbation.json'), record_path(os.path.join(select, 'perturbation.json')),
                      os.path.join(select, 'best_widths.json')]}
        report['wall_seconds']['selection'] = round(time.perf_counter() - started, 1)
    return report


def table(report: dict[str, Any]) -> str:
    lines = ['| net | kind | GFLOPs | inherited PSNR | stand-alone PSNR (mean over seeds) | seeds |',
             '|---|---|---|---|---|---|']
    for name, n in sorted(report['nets'].items(), key=lambda kv: -kv[1]['inherited_psnr']):
        lines.append(f'| {name} | {n["kind"]} | {n["flops"] / 1e9:.3f} | {n["inherited_psnr"]:.3f} | '
                     f'{n["standalone_psnr"]:.3f} | {n["standalone_seeds"]} |')
    lines.append('')
    def interval(key: str) -> str:
        low_high = report.get(f'{key}_interval90')
        return f', 90% interval [{low_high[0]:+.3f}, {low_high[1]:+.3f}]' if low_high else ''

    lines.append(f'Kendall tau, inherited vs stand-alone: randoms {report["tau_randoms"]:+.3f} '
                 f'({report["num_randoms"]} nets{interval("tau_randoms")}), all {report["tau_all"]:+.3f} '
                 f'({report["num_all"]} nets{interval("tau_all")}); '
                 f'bn={report["bn"]}, {report["val_images"]} val image(s) of LR {report["val_lr_size"]}; '
                 f'{report["wall_seconds"]["inherited"]:.0f} s')
    if 'selection' in report:
        sel = report['selection']
        lines.append(f'Perturbation-selected: cells {sel["perturbation"]["cells"]}, widths '
                     f'{sel["perturbation"]["widths"]}; found cells, best one-hot-beta widths {sel["best_widths"]} '
                     f'({report["wall_seconds"]["selection"]:.0f} s)')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--search-opt', required=True, help="the search's option file (its supernet is loaded)")
    parser.add_argument('--results', required=True, help="the benchmark's results.json")
    parser.add_argument('--bn', default='batch', choices=BN_MODES)
    parser.add_argument('--val-batches', type=int, default=None, help='score on the first N val images (all)')
    parser.add_argument('--val-crop', type=int, default=None, help='central LR crop of each val image (whole)')
    parser.add_argument('--select', default=None, help='also write the selected genotypes into this folder')
    parser.add_argument('--select-val-crop', type=int, default=None, help='val crop of the selection (whole)')
    parser.add_argument('--seed', type=int, default=0, help="perturbation's edge order")
    parser.add_argument('--json', default=None, help='write the report here')
    args = parser.parse_args(argv)
    for path in (args.search_opt, args.results):
        if not os.path.isfile(path):
            print(f'judge_search: {path} does not exist', file=sys.stderr)
            return 2
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    report = judge(args.search_opt, args.results, args.bn, args.val_batches, args.val_crop, args.select,
                   args.select_val_crop, args.seed)
    print(table(report))
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
