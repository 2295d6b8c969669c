"""Does the search find better networks than chance? The searched genotype against K uniform random ones.

Every genotype (the found one, the two ablation searches, K random draws from the same space) is
trained with the same recipe, the same iteration budget and the same N seeds, then scored on the
held-out photos with ``hinas compare``'s conventions and its params/FLOPs count.

* The searches run ``basicsr train`` on the given search options with ``total_iter`` set to the
  budget, in a child process (as the demo does: the search's LMDB handles stay open for its life).
  The ablations change one key of ``network_g``: ``layerwise_cells: false`` (one cell tied across
  layers) and ``cell_sharing: false`` (one cell per incoming path).
* The random genotypes come from :mod:`hinas_basicsr.random_genotype` (uniform ops and input pairs,
  uniform over width paths), drawn from the found genotype's space with a fixed seed, so a rerun
  draws the same ones.
* The training recipe is the demo's (``options/demo/train_hinas_sr_x2.yml``: HiNASNet F = 16, Adam
  1e-3, L1 + 0.6 logSSIM, batch 4) on the sample data, with the learning rate decayed by a cosine to
  0 over the iteration budget; for denoising, the same recipe on the sample BSD500 patches (gray,
  sigma 30/50/70) without ASPP. Test sets: the sample SampleTest photos (SR, scale S) or the sample
  BSD500 test photos at sigma 50 (denoising).

Writes under OUT: ``results.json`` (after every genotype), ``table.md``, ``psnr_vs_flops.png``, and
the searched genotypes (``genotypes/``), option files, checkpoints (``train/``) and per-genotype
comparisons (``scores/``). A rerun with the same settings skips the searches and genotypes done.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from hinas_basicsr.compare import BICUBIC, NOISY, ModelSpec, compare
from hinas_basicsr.demo import HINAS_OPT, SAMPLE_ROOT
from hinas_basicsr.fileio import atomic_write, write_json, write_text
from hinas_basicsr.genotype import Genotype
from hinas_basicsr.options_check import load_yaml
from hinas_basicsr.random_genotype import random_like
from hinas_basicsr.runners import plain_options, search_genotype, train_for_budget

RESULTS, TABLE, PLOT = 'results.json', 'table.md', 'psnr_vs_flops.png'
RANDOM_DRAW_SEED = 0  # the random genotypes are the same in every run and rerun
FLOPS_MATCH = 0.25  # "FLOPs-matched" randoms: within +-25% of the searched net's FLOPs
SR_SCALES = (2, 3, 4)  # the scales the sample data has LR images for
ABLATIONS = {'tied_cells': {'layerwise_cells': False}, 'no_cell_sharing': {'cell_sharing': False}}
DENOISE_TRAIN = {'name': 'SampleBSD500', 'type': 'HiNASNoisyImageDataset',
                 'dataroot_gt': f'{SAMPLE_ROOT}/BSD500/BSD500_train.lmdb', 'io_backend': {'type': 'lmdb'},
                 'gray': True, 'gt_size': 48, 'use_hflip': True, 'use_rot': True, 'sigma': [30, 50, 70],
                 'noise_seed': 0}
DENOISE_TEST_SIGMA = 50


@dataclass(frozen=True)
class Settings:
    """The benchmark's arguments (see ``hinas search-vs-random --help``)."""

    task: str
    scale: int
    search_opt: str | None
    genotype: str | None
    random: int
    seeds: int
    search_iters: int
    train_iters: int
    out: str
    device: str
    ablations: bool

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != 'out'}


def check_settings(s: Settings) -> Genotype | None:
    """Refuse impossible arguments (ValueError/FileNotFoundError naming the option) before anything is written.

    Returns the given genotype (``--genotype``), else None.
    """
    if s.task == 'sr' and s.scale not in SR_SCALES:
        raise ValueError(f'--scale: {s.scale} has no sample data for sr (use one of {SR_SCALES})')
    if s.task == 'denoise' and s.scale != 1:
        raise ValueError(f'--scale: denoising is scale 1, got {s.scale}')
    if (s.search_opt is None) == (s.genotype is None):
        raise ValueError('--search-opt/--genotype: give exactly one')
    for name, value, low in (('--random', s.random, 1), ('--seeds', s.seeds, 1), ('--search-iters', s.search_iters, 1),
                             ('--train-iters', s.train_iters, 1)):
        if value < low:
            raise ValueError(f'{name}: expected an integer >= {low}, got {value}')
    if s.device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device: cuda was asked for but no CUDA device is available')
    if s.ablations and s.search_opt is None:
        raise ValueError('--ablations: needs --search-opt (the ablations are searches)')
    if os.path.exists(s.out) and not os.path.isdir(s.out):
        raise ValueError(f'--out: {s.out} exists and is not a folder')
    previous = os.path.join(s.out, RESULTS)
    if os.path.isfile(previous):
        with open(previous, encoding='utf-8') as f:
            old = json.load(f).get('settings', {})
        # --ablations may be added to a finished run: it only adds genotypes, the others stay as they are
        differ = [k for k, v in s.as_dict().items()
                  if k != 'device' and old.get(k) != v and not (k == 'ablations' and v and not old.get(k))]
        if differ:
            raise ValueError(f'--out: {previous} holds a run with other settings ({differ[0]}: {old.get(differ[0])!r} '
                             f'there, {getattr(s, differ[0])!r} now); use another --out')
    if s.genotype is not None:
        genotype = Genotype.load(s.genotype)
        genotype.check_compatible(task=s.task, scale=s.scale, source=f'--genotype {s.genotype}')
        return genotype
    if not os.path.isfile(s.search_opt):
        raise FileNotFoundError(f'--search-opt: {s.search_opt} does not exist')
    net = load_yaml(s.search_opt).get('network_g') or {}
    if net.get('type') != 'HiNASSupernet' or net.get('task') != s.task or int(net.get('upscale', 1)) != s.scale:
        raise ValueError(f'--search-opt: {s.search_opt} searches {net.get("type")} task {net.get("task")!r} '
                         f'upscale {net.get("upscale")}, not a HiNASSupernet for task {s.task!r} scale {s.scale}')
    return None


def _num_gpu(device: str) -> int:
    return 1 if device == 'cuda' else 0


def search_options(s: Settings, variant: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The search options with ``total_iter`` = the budget, a name of its own and the ablation's network keys.

    The validation frequency is raised where the file's would give fewer than three validations, so
    that the search's convergence line can judge stability.
    """
    opt = load_yaml(s.search_opt)
    run_id = hashlib.sha1(os.path.abspath(s.out).encode()).hexdigest()[:8]
    opt.update(name=f'search_vs_random_{run_id}_{variant}', num_gpu=_num_gpu(s.device))
    opt['network_g'].update(overrides)
    opt['train']['total_iter'] = s.search_iters
    scheduler = opt['train'].get('scheduler') or {}
    if scheduler.get('type') == 'CosineAnnealingRestartLR':
        scheduler.update(periods=[s.search_iters], restart_weights=[1])
    if opt.get('val') and opt['val'].get('val_freq', s.search_iters) * 3 > s.search_iters:
        opt['val']['val_freq'] = max(1, s.search_iters // 3)
    opt.setdefault('logger', {})['save_checkpoint_freq'] = s.search_iters
    return opt


def training_options(s: Settings, name: str, genotype_path: str, seed: int) -> dict[str, Any]:
    """The demo's HiNASNet recipe for the task and scale, with this genotype and seed."""
    opt = load_yaml(HINAS_OPT)
    opt.update(name=name, manual_seed=seed, num_gpu=_num_gpu(s.device), scale=s.scale)
    opt['network_g']['genotype'] = os.path.abspath(genotype_path)
    opt['train']['total_iter'] = s.train_iters
    opt.pop('val', None)
    train = opt['datasets']['train']
    if s.task == 'sr':
        train.update(dataroot_lq=f'{SAMPLE_ROOT}/DIV2K/DIV2K_train_LR_bicubic_X{s.scale}_sub.lmdb',
                     gt_size=32 * s.scale)
    else:
        opt['datasets']['train'] = {**DENOISE_TRAIN, **{k: train[k] for k in (
            'num_worker_per_gpu', 'batch_size_per_gpu', 'dataset_enlarge_ratio', 'prefetch_mode')}}
        opt['network_g']['use_aspp'] = False
    opt['datasets'] = {'train': opt['datasets']['train']}
    return opt


def test_options(s: Settings) -> dict[str, Any]:
    """The held-out sample photos, as a ``hinas compare`` test option file."""
    if s.task == 'sr':
        test = {'name': 'SampleTest', 'type': 'PairedImageDataset',
                'dataroot_gt': f'{SAMPLE_ROOT}/benchmark/SampleTest/GTmod{s.scale}',
                'dataroot_lq': f'{SAMPLE_ROOT}/benchmark/SampleTest/LRbicx{s.scale}', 'io_backend': {'type': 'disk'}}
    else:
        test = {'name': 'SampleBSD500_test', 'type': 'HiNASNoisyImageDataset',
                'dataroot_gt': f'{SAMPLE_ROOT}/BSD500/BSD500_test', 'io_backend': {'type': 'disk'}, 'gray': True,
                'sigma': [DENOISE_TEST_SIGMA], 'noise_seed': 0}
    return {'name': 'search_vs_random_test', 'model_type': 'SRModel', 'scale': s.scale, 'num_gpu': 0,
            'datasets': {'test_1': test}, 'path': {}}


def _write_yaml(path: str, opt: dict[str, Any]) -> str:
    write_text(path, yaml.safe_dump(plain_options(opt), sort_keys=False))
    return path


class Benchmark:
    """One benchmark run under ``settings.out``: searches, draws, trains, scores, and writes the report."""

    def __init__(self, settings: Settings, given: Genotype | None) -> None:
        self.s, self.given = settings, given
        self.results_path = os.path.join(settings.out, RESULTS)
        self.results: dict[str, Any] = {'settings': settings.as_dict(), 'baseline': None, 'genotypes': {}}
        if os.path.isfile(self.results_path):
            with open(self.results_path, encoding='utf-8') as f:
                self.results = json.load(f)
            self.results['settings'].update(device=settings.device, ablations=settings.ablations)

    def path(self, *parts: str) -> str:
        return os.path.join(self.s.out, *parts)

    def searched(self, variant: str, overrides: dict[str, Any]) -> str:
        """The genotype file of one search (``genotypes/{variant}.json``), searching only if it is missing."""
        target = self.path('genotypes', f'{variant}.json')
        if not os.path.isfile(target):
            option = _write_yaml(self.path('options', f'search_{variant}.yml'),
                                 search_options(self.s, variant, overrides))
            print(f'Searching {variant}: basicsr train -opt {option} ({self.s.search_iters} iterations)', flush=True)
            best = search_genotype(option)
            atomic_write(target, lambda tmp: shutil.copyfile(best, tmp))
        return target

    def genotype_files(self) -> dict[str, str]:
        """Name -> genotype JSON of every genotype to train: found, ablations, random_1..K."""
        os.makedirs(self.path('genotypes'), exist_ok=True)
        if self.given is not None:
            files = {'found': self.path('genotypes', 'found.json')}
            self.given.save(files['found'])
        else:
            files = {'found': self.searched('found', {})}
            if self.s.ablations:
                files.update({name: self.searched(name, overrides) for name, overrides in ABLATIONS.items()})
        found = Genotype.load(files['found'])
        found.check_compatible(task=self.s.task, scale=self.s.scale, source=files['found'])
        rng = random.Random(RANDOM_DRAW_SEED)
        for k in range(1, self.s.random + 1):
            files[f'random_{k}'] = self.path('genotypes', f'random_{k}.json')
            random_like(found, rng).save(files[f'random_{k}'])
        return files

    def train_and_score(self, name: str, genotype_file: str, test_opt: str) -> dict[str, Any]:
        """Train ``name`` once per seed, score every checkpoint; its results.json entry."""
        specs, runs = [], []
        for seed in range(self.s.seeds):
            run = f'{name}_seed{seed}'
            option = _write_yaml(self.path('options', f'{run}.yml'),
                                 training_options(self.s, run, genotype_file, seed))
            trained = train_for_budget(option, float('inf'), self.s.out, max_iters=self.s.train_iters)
            specs.append(ModelSpec(f'seed{seed}', trained.option, trained.checkpoint))
            runs.append(trained)
        rows = compare(specs, test_opt, self.path('scores', name), task=self.s.task, scale=self.s.scale,
                       latency_runs=1, device=torch.device(self.s.device))
        baseline = [r for r in rows if r['model'] in (BICUBIC, NOISY)]
        self.results['baseline'] = {'name': baseline[0]['model'], 'psnr': float(np.mean([r['psnr'] for r in baseline])),
                                    'ssim': float(np.mean([r['ssim'] for r in baseline]))}
        mine = {spec.name: [r for r in rows if r['model'] == spec.name] for spec in specs}
        first = mine['seed0'][0]
        with open(genotype_file, encoding='utf-8') as f:
            genotype = json.load(f)
        genotype.pop('search', None)  # alpha and beta are in genotypes/; keep results.json readable
        return {'kind': 'random' if name.startswith('random_') else 'search', 'genotype': genotype,
                'params': first['params'], 'flops': first['flops'], 'flops_input': first['flops_input'],
                'psnr': [float(np.mean([r['psnr'] for r in m])) for m in mine.values()],
                'ssim': [float(np.mean([r['ssim'] for r in m])) for m in mine.values()],
                'train_iterations': [r.iterations for r in runs], 'train_seconds': [round(r.seconds, 2) for r in runs]}

    def run(self) -> dict[str, Any]:
        from hinas_basicsr.data.sample import ensure_sample_data

        os.makedirs(self.s.out, exist_ok=True)
        ensure_sample_data(SAMPLE_ROOT)
        files = self.genotype_files()
        test_opt = _write_yaml(self.path('options', 'test.yml'), test_options(self.s))
        done = self.results['genotypes']
        todo = [n for n in files if n not in done]
        if len(todo) < len(files):
            print(f'Resuming: {len(files) - len(todo)} of {len(files)} genotypes already scored, skipped.', flush=True)
        with tqdm(total=len(files), initial=len(files) - len(todo), desc='genotypes', unit='net') as bar:
            for name in todo:
                bar.set_postfix_str(name)
                done[name] = self.train_and_score(name, files[name], test_opt)
                write_json(self.path(RESULTS), self.results)
                bar.update()
        write_json(self.path(RESULTS), self.results)
        write_text(self.path(TABLE), markdown_table(self.results))
        atomic_write(self.path(PLOT), lambda tmp: plot_psnr_vs_flops(self.results, tmp))
        return self.results


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values))


def rank_among(value: float, others: Sequence[float]) -> tuple[int, int]:
    """(rank, of): 1 + the number of ``others`` strictly better (higher), out of ``len(others) + 1``."""
    return 1 + sum(o > value for o in others), len(others) + 1


def markdown_table(results: dict[str, Any]) -> str:
    """Searched nets, the randoms' mean +- std, best and worst; the searched nets' ranks among the randoms."""
    s, entries = results['settings'], results['genotypes']
    randoms = {n: e for n, e in entries.items() if n.startswith('random_')}
    searched = {n: e for n, e in entries.items() if not n.startswith('random_')}
    metric = f'Y channel, crop {s["scale"]}' if s['task'] == 'sr' else f'gray, sigma {DENOISE_TEST_SIGMA}'
    some = next(iter(entries.values()))
    source = (f'the search ({s["search_iters"]} iterations)' if s.get('search_opt')
              else f'the given genotype {s.get("genotype")}')
    lines = [f'{s["task"]} x{s["scale"]}: {len(randoms)} random genotypes vs {source}; every net trained '
             f'{s["train_iters"]} iterations with seeds 0..{s["seeds"] - 1}. PSNR (dB) '
             f'/ SSIM on held-out photos ({metric}), mean +- std over seeds; FLOPs for one {some["flops_input"]} '
             'input.', '',
             '| genotype | PSNR | SSIM | params | GFLOPs |', '| --- | --- | --- | --- | --- |']

    def row(label: str, psnr: Sequence[float], ssim: Sequence[float], params: str, gflops: str) -> str:
        spread = f' +- {statistics.stdev(psnr):.3f}' if len(psnr) > 1 else ''
        return f'| {label} | {_mean(psnr):.3f}{spread} | {_mean(ssim):.4f} | {params} | {gflops} |'

    for name, e in searched.items():
        lines.append(row(name, e['psnr'], e['ssim'], f'{e["params"]:,}', f'{e["flops"] / 1e9:.3f}'))
    if randoms:
        means = {n: _mean(e['psnr']) for n, e in randoms.items()}
        lines.append(row(f'random (mean +- std over {len(randoms)} nets)', list(means.values()),
                         [_mean(e['ssim']) for e in randoms.values()],
                         f'{_mean([e["params"] for e in randoms.values()]):,.0f}',
                         f'{_mean([e["flops"] for e in randoms.values()]) / 1e9:.3f}'))
        for label, name in (('best random', max(means, key=means.get)), ('worst random', min(means, key=means.get))):
            e = randoms[name]
            lines.append(row(f'{label} ({name})', e['psnr'], e['ssim'], f'{e["params"]:,}', f'{e["flops"] / 1e9:.3f}'))
    if results.get('baseline'):
        b = results['baseline']
        lines.append(f'| {b["name"]} | {b["psnr"]:.3f} | {b["ssim"]:.4f} | 0 | 0 |')
    if randoms:
        lines += ['', '| searched net | rank among randoms (1 = best) | rank among randoms within +-25% of its FLOPs |',
                  '| --- | --- | --- |']
        for name, e in searched.items():
            near = [_mean(r['psnr']) for r in randoms.values()
                    if abs(r['flops'] - e['flops']) <= FLOPS_MATCH * e['flops']]
            overall = rank_among(_mean(e['psnr']), [_mean(r['psnr']) for r in randoms.values()])
            matched = rank_among(_mean(e['psnr']), near)
            lines.append(f'| {name} | {overall[0]} of {overall[1]} | {matched[0]} of {matched[1]} |')
    return '\n'.join(lines) + '\n'


def plot_psnr_vs_flops(results: dict[str, Any], path: str) -> None:
    """Randoms as a scatter, the searched nets marked; error bars: the std over seeds."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    s, entries = results['settings'], results['genotypes']
    fig, ax = plt.subplots(figsize=(6, 4.5))
    randoms = [e for n, e in entries.items() if n.startswith('random_')]

    def points(group: Sequence[dict[str, Any]]) -> tuple[list[float], list[float], list[float]]:
        return ([e['flops'] / 1e9 for e in group], [_mean(e['psnr']) for e in group],
                [float(np.std(e['psnr'])) for e in group])

    if randoms:
        x, y, err = points(randoms)
        ax.errorbar(x, y, yerr=err, fmt='o', color='0.55', alpha=0.8, capsize=2, label=f'random ({len(randoms)})')
    markers = {'found': ('*', 'tab:red', 16), 'tied_cells': ('s', 'tab:blue', 9),
               'no_cell_sharing': ('D', 'tab:green', 8)}
    for name, e in entries.items():
        if name.startswith('random_'):
            continue
        marker, color, size = markers.get(name, ('^', 'tab:purple', 9))
        x, y, err = points([e])
        ax.errorbar(x, y, yerr=err, fmt=marker, color=color, markersize=size, capsize=3, label=name, zorder=3)
    if results.get('baseline'):
        ax.axhline(results['baseline']['psnr'], color='0.3', linestyle='--', linewidth=1,
                   label=results['baseline']['name'])
    ax.set_xlabel(f'GFLOPs (input {next(iter(entries.values()))["flops_input"]})')
    ax.set_ylabel('PSNR (dB) on held-out photos, mean over seeds')
    source = f'search ({s["search_iters"]} it)' if s.get('search_opt') else 'given genotype'
    ax.set_title(f'{s["task"]} x{s["scale"]}: {source} vs random, '
                 f'{s["train_iters"]} training it, {s["seeds"]} seed(s)', fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format='png', dpi=110)
    plt.close(fig)


def run_benchmark(settings: Settings) -> dict[str, Any]:
    """Check the arguments (nothing written if they are wrong), then run or resume the benchmark."""
    given = check_settings(settings)
    return Benchmark(settings, given).run()


__all__ = ['Settings', 'check_settings', 'markdown_table', 'plot_psnr_vs_flops', 'rank_among', 'run_benchmark',
           'search_options', 'training_options', 'test_options']
