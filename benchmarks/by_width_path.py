"""The searched nets against the randoms on their own width path: how much of a margin the path explains.

A genotype is a width path (the cell widths of its layers) and cells. On the photo benchmark the path moves the
PSNR more than the cells do, and the randoms drawn near a searched net's cost (``--band-min``) may all lie on one
path: a margin at equal FLOPs can then be the path's. This groups every random of a finished
``hinas search-vs-random`` run (the uniform ones and the band ones) by its width path and, for each searched net,
gives its margin over the median of the randoms on its path, with both nets' FLOPs; per search mode, the mean of
those margins with its 90% bootstrap interval (:func:`hinas_basicsr.research.stats.margin_interval`, as the run's
own verdict, with the path's randoms in place of the FLOPs band). Every net's PSNR is the mean over its seeds on one
test set (``--set``, default every set of the run). Prints a table per set; writes JSON.

    PYTHONPATH=$PWD python benchmarks/by_width_path.py --results docs/photos_full/results.json \
        --json docs/photos_full/by_width_path.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from hinas_basicsr.research.search_vs_random import kind_of, mode_of, path_label
from hinas_basicsr.research.stats import BOOTSTRAP_SEED, LEVEL, REPLICATES, margin_interval
from hinas_basicsr.utils.fileio import write_json


def set_psnrs(entry: Mapping[str, Any], set_name: str) -> list[float]:
    """The seed PSNRs of a net on one test set (results.json's ``sets``; ``psnr`` is the first set's)."""
    return list(entry['sets'][set_name]['psnr'])


def by_path(entries: Mapping[str, Any], set_name: str) -> dict[str, Any]:
    """Per width path, its randoms' seed means and their median; per searched net, its margin over that median."""
    paths: dict[str, dict[str, Any]] = {}
    for name, e in entries.items():
        if kind_of(name) == 'random':
            path = paths.setdefault(path_label(e['genotype']['widths']), {'randoms': {}, 'gflops': {}})
            path['randoms'][name] = statistics.mean(set_psnrs(e, set_name))
            path['gflops'][name] = e['flops'] / 1e9
    for path in paths.values():
        path['median_db'] = statistics.median(path['randoms'].values())
        path['median_gflops'] = statistics.median(path['gflops'].values())
    nets, modes = {}, {}
    for name, e in entries.items():
        if kind_of(name) != 'search':
            continue
        label = path_label(e['genotype']['widths'])
        path = paths.get(label)
        mean = statistics.mean(set_psnrs(e, set_name))
        nets[name] = {'path': label, 'psnr_db': mean, 'gflops': e['flops'] / 1e9,
                      'randoms_on_path': len(path['randoms']) if path else 0,
                      'margin_db': mean - path['median_db'] if path else None}
        if path:
            band = [set_psnrs(entries[r], set_name) for r in path['randoms']]
            modes.setdefault(mode_of(name), []).append((set_psnrs(e, set_name), band))
    verdicts = {}
    for mode, samples in modes.items():
        margin, interval = margin_interval(samples)
        verdicts[mode] = {'searches': len(samples), 'margin_db': margin, 'interval90_db': list(interval)}
    return {'paths': paths, 'nets': nets, 'modes': verdicts,
            'bootstrap': {'level': LEVEL, 'replicates': REPLICATES, 'seed': BOOTSTRAP_SEED}}


def markdown(set_name: str, figures: Mapping[str, Any]) -> str:
    lines = [f'On {set_name} (PSNR in dB, mean over seeds):', '',
             '| width path | randoms on it | their median PSNR | their median GFLOPs |', '| --- | --- | --- | --- |']
    for label, path in sorted(figures['paths'].items()):
        lines.append(f'| [{label}] | {len(path["randoms"])} | {path["median_db"]:.3f} | {path["median_gflops"]:.2f} |')
    lines += ['', '| searched net | width path | PSNR | GFLOPs | margin over its path\'s median |',
              '| --- | --- | --- | --- | --- |']
    for name, net in figures['nets'].items():
        margin = '' if net['margin_db'] is None else f'{net["margin_db"]:+.3f}'
        lines.append(f'| {name} | [{net["path"]}] | {net["psnr_db"]:.3f} | {net["gflops"]:.2f} | {margin} |')
    lines += ['', '| mode | searches | mean margin over its paths\' medians (dB) | 90% interval (dB) |',
              '| --- | --- | --- | --- |']
    for mode, m in figures['modes'].items():
        low, high = m['interval90_db']
        lines.append(f'| {mode} | {m["searches"]} | {m["margin_db"]:+.3f} | [{low:+.3f}, {high:+.3f}] |')
    return '\n'.join(lines) + '\n'


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--results', required=True, metavar='JSON', help="a finished run's results.json")
    parser.add_argument('--set', dest='set_name', metavar='NAME', help='one test set (default: every set of the run)')
    parser.add_argument('--json', metavar='OUT', help='write the figures here')
    args = parser.parse_args(argv)
    try:
        with open(args.results, encoding='utf-8') as f:
            entries = json.load(f)['genotypes']
        sets = list(next(iter(entries.values()))['sets'])
        if args.set_name is not None and args.set_name not in sets:
            raise ValueError(f'--set: {args.set_name!r} is not a test set of {args.results} ({", ".join(sets)})')
        if not any(kind_of(n) == 'random' for n in entries) or not any(kind_of(n) == 'search' for n in entries):
            raise ValueError(f'--results: {args.results} holds no randoms or no searched nets')
    except (ValueError, OSError, KeyError, StopIteration, json.JSONDecodeError) as err:
        print(f'by_width_path: error: {err}', file=sys.stderr)
        return 2
    figures = {name: by_path(entries, name) for name in ([args.set_name] if args.set_name else sets)}
    for name, f in figures.items():
        print(markdown(name, f))
    if args.json:
        write_json(args.json, {'results': args.results, 'sets': figures})
        print(f'Wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
