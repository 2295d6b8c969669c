"""The gray-photo denoising table: the found net of a denoising search on the photos beside DnCNN, RIDNet, BM3D and
the noisy input, on the 6 held-out gray photographs at one noise level (``benchmarks/denoise_photos.py``).

* Data: the gray photographs of ``datasets_prep/prepare_photos.py --gray`` (``--data``, default
  ``datasets/photos_gray``): ``Photos_train.lmdb`` (17 whole photos) trains the search and the nets, ``Photos_test/``
  (6 whole photos) scores them, with the fixed noise of ``HiNASNoisyImageDataset`` at ``--sigma``.
* The search: ``--search-opt`` (default ``options/search_denoise_photos.yml``, sigma drawn from 30/50/70: one search
  serves every noise level) in a child process (:func:`hinas_basicsr.tools.runners.search_genotype`), or
  ``--genotype JSON`` (e.g. the ``genotypes/found.json`` of a finished run at another sigma).
* The nets: the found genotype (HiNASNet), DnCNN and RIDNet from ``options/train_*_photos_sigma50.yml``, each trained
  ``--iters`` iterations with seeds 0..``--seeds``-1 (``manual_seed``) at the files' batch and crop, each with its own
  optimizer, lr and loss, the lr decayed by a cosine to 0 over the iterations
  (:func:`~hinas_basicsr.tools.runners.train_for_budget`); the sigma of the training data is ``--sigma``.
* Scores: each checkpoint by :func:`hinas_basicsr.tools.compare.compare` on the whole held-out photos (PSNR/SSIM as
  BasicSR scores denoising: no crop), and the noisy input and BM3D once (told the noise level).
* Cost, measured alone at the end (nothing else of this command running, one thread): params; FLOPs
  (``FlopCounterMode``, on the meta device) and latency (median of ``--latency-runs`` forward passes after a warm-up)
  on one ``--latency-size`` input, 1x1x960x1280 by default (a 1280x960 photo); BM3D's latency on the same input.
* ``--jobs J``: J searches or trainings at once, each in a process of its own with one thread.
* Resume: results.json is written after every step; a rerun with the same settings skips the search, the trainings
  and scores, the references and the measurement done (``--seeds`` may be raised, ``--jobs`` changed).
* ``--time-steps K`` times K steps of each net and of the search (and the forward passes that the scoring takes),
  one thread, one at a time, and estimates the table's wall time (:func:`plan`).

Writes under OUT: ``results.json`` (per net and seed PSNR/SSIM, iterations, seconds and the commit it was trained
at; the search's; the references; the cost), ``table.md`` (mean +- std over seeds), ``psnr_vs_flops.png``, and the
option files (``options/``), the search's genotype (``genotypes/found.json``) and log (``logs/``), checkpoints
(``train/``) and per-checkpoint scores (``scores/``).
"""
from __future__ import annotations

import concurrent.futures as futures
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hinas_basicsr.prep.common import image_size, list_images
from hinas_basicsr.research.processes import training_pool
from hinas_basicsr.research.random_genotype import random_genotype
from hinas_basicsr.research.search_vs_random import MAX_ITERS, MAX_JOBS, MAX_SEEDS, code_commit, search_space
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.tools.compare import (
    BM3D,
    BM3D_EXTRA,
    BM3D_LEAST,
    NOISY,
    ModelSpec,
    bm3d_available,
    bm3d_tensor,
    check_latency_runs,
    compare,
    count_flops,
    count_params,
    median_latency,
    plot_psnr_vs_flops,
)
from hinas_basicsr.tools.networks import load_network
from hinas_basicsr.tools.runners import search_genotype, train_for_budget, write_options
from hinas_basicsr.utils.arg_checks import count, is_number, sizes
from hinas_basicsr.utils.fileio import atomic_write, write_json, write_text
from hinas_basicsr.utils.options_file import load_yaml

RESULTS, TABLE, PLOT, STEP_TIMES = 'results.json', 'table.md', 'psnr_vs_flops.png', 'step_times.json'
SEARCH_OPT = 'options/search_denoise_photos.yml'
NETS = ('hinas', 'dncnn', 'ridnet')
TRAIN_OPTS = {net: f'options/train_{"hinas_denoise" if net == "hinas" else net}_photos_sigma50.yml' for net in NETS}
TEST_OPT = 'options/test_hinas_denoise_photos_sigma50.yml'  # its datasets: the held-out photos (as every test file's)
LABELS = {'hinas': 'HiNAS (found)', 'dncnn': 'DnCNN', 'ridnet': 'RIDNet', NOISY: 'noisy input', BM3D: 'BM3D'}
DATA_ROOT = 'datasets/photos_gray'
TRAIN_SET, TEST_SET = 'Photos_train.lmdb', 'Photos_test'
LATENCY_SIZE = (960, 1280)  # H, W: a 1280x960 photo
SCORE_PROBE = (16, 16)  # compare's own FLOPs/latency input while a checkpoint is scored: cheap, and not reported
STAND_IN_SEED = 0  # --time-steps without --genotype times HiNAS on random_genotype(random.Random(0)) of the space
PLAN_BUDGET_S = 5400.  # the wall time --time-steps plans the iterations for: 1.5 hours
PLAN_STEP = 100  # the planned iterations are a multiple of this
PLAN_MOST = 1_000_000  # and at most this


@dataclass(frozen=True)
class Settings:
    """The table's arguments (see ``benchmarks/denoise_photos.py --help``)."""

    sigma: float
    iters: int
    seeds: int
    out: str
    genotype: str | None = None
    search_opt: str = SEARCH_OPT
    data: str = DATA_ROOT
    latency_size: tuple[int, int] = LATENCY_SIZE
    latency_runs: int = 3
    jobs: int = 1

    FREE = ('jobs',)  # a rerun may change it: no figure depends on it
    RAISING = ('seeds',)  # a rerun may raise it: it adds seeds

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != 'out'}
        d['latency_size'] = list(self.latency_size)
        return d

    def path(self, *parts: str) -> str:
        return os.path.join(self.out, *parts)


# ----------------------------------------------------------------------------- checks (nothing written)
def check_data(data: str) -> None:
    """The gray photo set: its training LMDB and a test folder of readable images."""
    made = f'make it with `python datasets_prep/prepare_photos.py --gray --dst {data}`'
    lmdb = os.path.join(data, TRAIN_SET)
    if not os.path.isfile(os.path.join(lmdb, 'data.mdb')) or not os.path.isfile(os.path.join(lmdb, 'meta_info.txt')):
        raise FileNotFoundError(f'--data: {lmdb} is not an LMDB (no data.mdb and meta_info.txt); {made}')
    test = os.path.join(data, TEST_SET)
    if not os.path.isdir(test):
        raise FileNotFoundError(f'--data: {test} does not exist; {made}')
    images = list_images(test)
    if not images:
        raise ValueError(f'--data: {test} holds no images')
    for path in images:
        image_size(path)


def check_settings(s: Settings, timing: bool = False) -> Genotype | None:
    """Refuse impossible arguments (one ValueError/FileNotFoundError naming the option) before anything is written.
    Returns the ``--genotype`` given, else None. ``timing``: for ``--time-steps`` (no results to resume)."""
    if not is_number(s.sigma) or not 0 < s.sigma <= 255:
        raise ValueError(f'--sigma: expected a noise level in (0, 255] (0-255 scale), got {s.sigma!r}')
    for option, value, most, what in (('--iters', s.iters, MAX_ITERS, 'each a step of every training'),
                                      ('--seeds', s.seeds, MAX_SEEDS, 'each a training of every net'),
                                      ('--jobs', s.jobs, MAX_JOBS, 'each a process')):
        count(value, option, 1, most, what)
    check_latency_runs(s.latency_runs)
    sizes(s.latency_size, '--latency-size')
    if min(s.latency_size) < BM3D_LEAST:
        raise ValueError(f'--latency-size: BM3D needs at least {BM3D_LEAST}x{BM3D_LEAST}, got '
                         f'{" ".join(map(str, s.latency_size))}')
    if not bm3d_available():
        raise ValueError(f'bm3d: the table has a BM3D row, and the bm3d package is not installed ({BM3D_EXTRA})')
    for option in (*TRAIN_OPTS.values(), TEST_OPT):
        if not os.path.isfile(option):
            raise FileNotFoundError(f'{option} does not exist (run from the repository\'s root)')
    check_data(s.data)
    given = None
    if s.genotype is not None:
        given = Genotype.load(s.genotype)
        given.check_compatible(task='denoise', scale=1, source=f'--genotype {s.genotype}')
        if given.num_in_ch != 1:
            raise ValueError(f'--genotype: {s.genotype} is a genotype for {given.num_in_ch} channels; the photos are '
                             'gray (1)')
    else:
        if not os.path.isfile(s.search_opt):
            raise FileNotFoundError(f'--search-opt: {s.search_opt} does not exist')
        net = load_yaml(s.search_opt, '--search-opt').get('network_g') or {}
        if net.get('type') != 'HiNASSupernet' or net.get('task') != 'denoise' or net.get('num_in_ch') != 1:
            raise ValueError(f'--search-opt: {s.search_opt} searches {net.get("type")} task {net.get("task")!r} '
                             f'with {net.get("num_in_ch")} input channels, not a gray denoising HiNASSupernet')
    if os.path.exists(s.out) and not os.path.isdir(s.out):
        raise ValueError(f'--out: {s.out} exists and is not a folder')
    previous = s.path(RESULTS)
    if not timing and os.path.isfile(previous):
        with open(previous, encoding='utf-8') as f:
            old = json.load(f).get('settings', {})
        for key, value in s.as_dict().items():
            same = key in Settings.FREE or old.get(key) == value or (
                key in Settings.RAISING and isinstance(old.get(key), int) and value > old[key])
            if not same:
                raise ValueError(f'--out: {previous} holds a run with other settings ({key}: {old.get(key)!r} there, '
                                 f'{value!r} now); use another --out')
    return given


# ----------------------------------------------------------------------------- option files

def search_options(s: Settings) -> dict[str, Any]:
    """The search options on ``--data``, under a name of this output folder's (its experiments/ folder)."""
    opt = load_yaml(s.search_opt)
    run_id = hashlib.sha1(os.path.abspath(s.out).encode()).hexdigest()[:8]
    opt.update(name=f'denoise_photos_{run_id}_search', num_gpu=0)
    for dataset in (opt.get('datasets') or {}).values():
        inner = dataset['dataset'] if isinstance(dataset.get('dataset'), dict) else dataset
        inner['dataroot_gt'] = os.path.join(s.data, TRAIN_SET)
    return opt


def training_options(s: Settings, net: str, seed: int, genotype: str | None) -> dict[str, Any]:
    """``net``'s option file with this seed, ``--iters``, ``--sigma`` and ``--data`` (and the found genotype)."""
    opt = load_yaml(TRAIN_OPTS[net])
    opt.update(name=f'{net}_seed{seed}', manual_seed=seed, num_gpu=0)
    opt.pop('val', None)
    train = opt['datasets']['train']
    train.update(dataroot_gt=os.path.join(s.data, TRAIN_SET), sigma=[s.sigma])
    opt['datasets'] = {'train': train}
    opt['train']['total_iter'] = s.iters
    # the files' cosine over total_iter, as train_for_budget applies it (it sets the lr itself, every step)
    opt['train']['scheduler'].update(periods=[s.iters], restart_weights=[1])
    if net == 'hinas':
        opt['network_g']['genotype'] = os.path.abspath(genotype)
    return opt


def test_options(s: Settings) -> dict[str, Any]:
    """The held-out photos of ``TEST_OPT`` at ``--sigma`` on ``--data``, as a ``hinas compare`` test option file."""
    datasets = load_yaml(TEST_OPT)['datasets']
    for dataset in datasets.values():
        dataset.update(dataroot_gt=os.path.join(s.data, TEST_SET), sigma=[s.sigma])
    return {'name': 'denoise_photos_test', 'model_type': 'SRModel', 'scale': 1, 'num_gpu': 0, 'datasets': datasets,
            'path': {}}


# ----------------------------------------------------------------------------- the jobs
def train_and_score(s: Settings, net: str, seed: int, option: str, test_opt: str) -> dict[str, Any]:
    """Train ``net`` with ``seed`` for ``--iters`` iterations and score it on the held-out photos: its entry."""
    commit = code_commit()
    trained = train_for_budget(option, float('inf'), s.out, max_iters=s.iters)
    started = time.perf_counter()
    rows = compare([ModelSpec(f'{net}_seed{seed}', trained.option, trained.checkpoint)], test_opt,
                   s.path('scores', f'{net}_seed{seed}'), task='denoise', scale=1, flops_size=SCORE_PROBE,
                   latency_runs=1, device=torch.device('cpu'), say=lambda _: None, bm3d=False)
    row = next(r for r in rows if r['model'] == f'{net}_seed{seed}')
    return {'seed': seed, 'psnr': row['psnr'], 'ssim': row['ssim'], 'iterations': trained.iterations,
            'train_seconds': round(trained.seconds, 1), 'score_seconds': round(time.perf_counter() - started, 1),
            'commit': commit, 'option': os.path.relpath(trained.option, s.out),
            'checkpoint': os.path.relpath(trained.checkpoint, s.out)}


def score_references(s: Settings, test_opt: str) -> dict[str, Any]:
    """The noisy input and BM3D on the held-out photos."""
    started = time.perf_counter()
    rows = compare([], test_opt, s.path('scores', 'references'), task='denoise', scale=1, flops_size=SCORE_PROBE,
                   latency_runs=1, device=torch.device('cpu'), bm3d=True)
    found = {r['model']: {'psnr': r['psnr'], 'ssim': r['ssim']} for r in rows}
    if BM3D not in found:
        raise ValueError('bm3d: the BM3D row was skipped (see the line above)')
    return {**found, 'seconds': round(time.perf_counter() - started, 1)}


def job_names(seeds: int, search: bool) -> list[str]:
    """The jobs of a run in the order they are started: the search, the found net's trainings (started as soon as the
    search is done), the baselines' trainings, the references."""
    return [*(['search'] if search else []), *(f'{net}_seed{k}' for net in NETS for k in range(seeds)), 'references']


@dataclass
class Job:
    """One unit of the run: the search, a training with its score, or the references."""

    name: str
    run: Callable[[], Any]
    in_process: bool = False  # the search: a thread here that waits for its child process
    needs_genotype: bool = False


class DenoisePhotos:
    """One run of the table under ``settings.out``: the search, trainings, scores, the cost and the report."""

    def __init__(self, settings: Settings, given: Genotype | None) -> None:
        self.s, self.given = settings, given
        self.results: dict[str, Any] = {}
        if os.path.isfile(settings.path(RESULTS)):
            with open(settings.path(RESULTS), encoding='utf-8') as f:
                self.results = json.load(f)
        self.results['settings'] = settings.as_dict()
        for key, empty in (('search', None), ('references', None), ('nets', {}), ('cost', None),
                           ('wall_seconds', {'runs': []})):
            self.results.setdefault(key, empty)
        self.genotype = settings.path('genotypes', 'found.json')

    def save(self) -> None:
        write_json(self.s.path(RESULTS), self.results)

    def search(self) -> None:
        """The search in a child process (one thread where ``--jobs`` > 1); its best genotype to genotypes/."""
        option = write_options(self.s.path('options', 'search.yml'), search_options(self.s))
        log_path = self.s.path('logs', 'search.log')
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        print(f'Searching: basicsr train -opt {option} (log {log_path})', flush=True)
        commit, started = code_commit(), time.perf_counter()
        with open(log_path, 'a', encoding='utf-8') as log:
            best = search_genotype(option, threads=1 if self.s.jobs > 1 else None, log=log)
        found = Genotype.load(best)
        found.check_compatible(task='denoise', scale=1, source=best)
        train = load_yaml(option)['train']
        self.results['search'] = {
            'search_opt': self.s.search_opt, 'option': os.path.relpath(option, self.s.out), 'given': None,
            'total_iter': int(train['total_iter']), 'arch_warmup_ratio': train.get('arch_warmup_ratio', 0.2),
            'selected_at': (found.search or {}).get('iteration'), 'widths': list(found.widths),
            'seconds': round(time.perf_counter() - started, 1), 'commit': commit}
        atomic_write(self.genotype, lambda tmp: shutil.copyfile(best, tmp))  # results.json: saved by record()

    def jobs(self, test_opt: str) -> list[Job]:
        """What is left to do, in :func:`job_names`' order (the found net's trainings wait for the search)."""
        if self.given is not None and not os.path.isfile(self.genotype):
            self.given.save(self.genotype)
            self.results['search'] = {'given': self.s.genotype, 'widths': list(self.given.widths)}
        done = {f'{net}_seed{e["seed"]}' for net, entry in self.results['nets'].items() for e in entry['seeds']
                if os.path.isfile(self.s.path(e['checkpoint']))}
        if os.path.isfile(self.genotype):
            done.add('search')
        if self.results['references']:
            done.add('references')
        jobs = []
        for name in job_names(self.s.seeds, search=self.given is None):
            if name in done:
                continue
            if name == 'search':
                jobs.append(Job(name, self.search, in_process=True))
            elif name == 'references':
                jobs.append(Job(name, lambda: (score_references, self.s, test_opt)))
            else:
                net, seed = name.rsplit('_seed', 1)
                jobs.append(Job(name, lambda net=net, seed=int(seed): (
                    train_and_score, self.s, net, seed, self.write_training_options(net, seed), test_opt),
                    needs_genotype=net == 'hinas'))
        return jobs

    def write_training_options(self, net: str, seed: int) -> str:
        return write_options(self.s.path('options', f'{net}_seed{seed}.yml'),
                             training_options(self.s, net, seed, self.genotype if net == 'hinas' else None))

    def record(self, job: Job, result: Any) -> None:
        if job.name == 'references':
            self.results['references'] = result
        elif job.name == 'search':
            print(f'  search: widths {self.results["search"]["widths"]} in {self.results["search"]["seconds"]:.0f} s',
                  flush=True)
        else:
            net = job.name.rsplit('_seed', 1)[0]
            seeds = [e for e in self.results['nets'].setdefault(net, {'seeds': []})['seeds']
                     if e['seed'] != result['seed']]
            self.results['nets'][net]['seeds'] = sorted([*seeds, result], key=lambda e: e['seed'])
            print(f'  {job.name}: PSNR {result["psnr"]:.3f} dB, SSIM {result["ssim"]:.4f} after {result["iterations"]} '
                  f'iterations ({result["train_seconds"]:.0f} s training, {result["score_seconds"]:.0f} s scoring)',
                  flush=True)
        self.save()

    def schedule(self, jobs: list[Job]) -> None:
        """Run the jobs, at most ``--jobs`` at once (the search counts as one); the found net's wait for it."""
        pending, running = list(jobs), {}
        threads = futures.ThreadPoolExecutor(max_workers=1)
        pool = training_pool(self.s.jobs, one_thread=self.s.jobs > 1)
        try:
            while pending or running:
                for job in [j for j in pending if not j.needs_genotype or os.path.isfile(self.genotype)]:
                    if len(running) >= self.s.jobs:
                        break
                    pending.remove(job)
                    running[threads.submit(job.run) if job.in_process else pool.submit(*job.run())] = job
                if not running:
                    raise RuntimeError(f'denoise_photos: jobs wait for a genotype: {[j.name for j in pending]}')
                done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    self.record(job, future.result())
        finally:
            for future in running:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            threads.shutdown(wait=True)

    def measure(self) -> None:
        """Params, FLOPs and latency of each net (its seed 0) and BM3D's latency, one thread, nothing else running."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        started = time.perf_counter()
        cpu = torch.device('cpu')
        probe = torch.rand(1, 1, *self.s.latency_size, generator=torch.Generator().manual_seed(0))
        cost: dict[str, Any] = {'input': 'x'.join(map(str, probe.shape)), 'threads': 1, 'runs': self.s.latency_runs}
        try:
            for net in NETS:
                first = self.results['nets'][net]['seeds'][0]
                model = load_network(self.s.path(first['option']), self.s.path(first['checkpoint']), cpu)
                with torch.no_grad():
                    latency = median_latency(lambda model=model: model(probe), self.s.latency_runs, cpu)
                model.to('meta')
                cost[net] = {'params': count_params(model), 'latency_s': round(latency, 3),
                             'flops': count_flops(model, probe.to('meta'))}
            noisy = probe + self.s.sigma / 255. * torch.randn(probe.shape, generator=torch.Generator().manual_seed(1))
            cost[BM3D] = {'latency_s': round(median_latency(lambda: bm3d_tensor(noisy, self.s.sigma),
                                                            self.s.latency_runs, cpu), 3)}
        finally:
            torch.set_num_threads(threads)
        cost['seconds'] = round(time.perf_counter() - started, 1)
        self.results['cost'] = cost

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        os.makedirs(self.s.out, exist_ok=True)
        test_opt = write_options(self.s.path('options', 'test.yml'), test_options(self.s))
        self.results['test_photos'] = [os.path.basename(p) for p in list_images(os.path.join(self.s.data, TEST_SET))]
        jobs = self.jobs(test_opt)
        names = job_names(self.s.seeds, search=self.given is None)
        if len(jobs) < len(names):
            print(f'Resuming: {len(names) - len(jobs)} of {len(names)} steps done, skipped '
                  f'({", ".join(n for n in names if n not in {j.name for j in jobs})})', flush=True)
        self.schedule(jobs)
        if self.results['cost'] is None:
            self.measure()
        self.results['commit'] = code_commit()
        self.results['wall_seconds']['runs'].append(round(time.perf_counter() - started, 1))
        self.results['wall_seconds']['total'] = round(sum(self.results['wall_seconds']['runs']), 1)
        self.save()
        write_text(self.s.path(TABLE), markdown_table(self.results))
        atomic_write(self.s.path(PLOT), lambda tmp: plot(self.results, tmp))
        return self.results


def run_table(settings: Settings) -> dict[str, Any]:
    """Check the arguments (nothing written if they are wrong), then run or resume the table."""
    given = check_settings(settings)
    return DenoisePhotos(settings, given).run()


# ----------------------------------------------------------------------------- the report
def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (None for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _pm(values: Sequence[float], digits: int) -> str:
    mean, std = mean_std(values)
    return f'{mean:.{digits}f}' + ('' if std is None else f' +- {std:.{digits}f}')


def markdown_table(results: dict[str, Any]) -> str:
    """The table (mean +- std over seeds), the seeds one by one, the search and the wall times."""
    s, cost, refs = results['settings'], results['cost'], results['references']
    seeds = max(len(e['seeds']) for e in results['nets'].values())
    lines = [f'Gray denoising, sigma {s["sigma"]:g}, on the {len(results["test_photos"])} held-out gray photographs '
             f'(whole; PSNR/SSIM as BasicSR scores denoising: no crop), mean +- std over '
             f'{seeds} training seed(s). Each net trained {s["iters"]} iterations (its own optimizer, lr and loss; the '
             f'lr decayed by a cosine to 0). Params; GFLOPs and latency for one {cost["input"]} input (median of '
             f'{cost["runs"]} run(s) after a warm-up, {cost["threads"]} thread, nothing else of the run working).', '',
             '| method | PSNR (dB) | SSIM | params | GFLOPs | latency (s) | training (s, mean per seed) |',
             '| --- | --- | --- | --- | --- | --- | --- |',
             f'| {LABELS[NOISY]} | {refs[NOISY]["psnr"]:.3f} | {refs[NOISY]["ssim"]:.4f} | 0 | 0 | | |',
             f'| {LABELS[BM3D]} | {refs[BM3D]["psnr"]:.3f} | {refs[BM3D]["ssim"]:.4f} | | not counted | '
             f'{cost[BM3D]["latency_s"]:.2f} | |']
    for net in NETS:
        entries, c = results['nets'][net]['seeds'], cost[net]
        lines.append(f'| {LABELS[net]} | {_pm([e["psnr"] for e in entries], 3)} | '
                     f'{_pm([e["ssim"] for e in entries], 4)} | {c["params"]:,} | {c["flops"] / 1e9:.1f} | '
                     f'{c["latency_s"]:.2f} | {statistics.fmean(e["train_seconds"] for e in entries):.0f} |')
    lines += ['', '| net | seed | PSNR (dB) | SSIM | iterations | training (s) | scoring (s) | trained at |',
              '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for net in NETS:
        for e in results['nets'][net]['seeds']:
            commit = e['commit']['commit'][:10] + (' (dirty)' if e['commit']['dirty'] else '') if e['commit'] else ''
            lines.append(f'| {LABELS[net]} | {e["seed"]} | {e["psnr"]:.3f} | {e["ssim"]:.4f} | {e["iterations"]} | '
                         f'{e["train_seconds"]:.0f} | {e["score_seconds"]:.0f} | {commit} |')
    search = results['search'] or {}
    if search.get('given'):
        lines += ['', f'The genotype was given: {search["given"]} (widths {search["widths"]}).']
    elif search:
        lines += ['', f'The search: {search["search_opt"]} on the photos, {search["total_iter"]} iterations, its best '
                      f'genotype from iteration {search["selected_at"]}, widths {search["widths"]}, '
                      f'{search["seconds"]:.0f} s.']
    wall = results['wall_seconds']
    lines.append(f'Wall time: {wall["total"]:.0f} s in {len(wall["runs"])} run(s) (--jobs {s["jobs"]}); the references '
                 f'{refs["seconds"]:.0f} s, the cost measurement {cost["seconds"]:.0f} s.')
    return '\n'.join(lines) + '\n'


def plot(results: dict[str, Any], path: str) -> None:
    """PSNR against GFLOPs (mean over seeds, the std as error bars), BM3D as a level."""
    cost, s = results['cost'], results['settings']
    rows = [{'model': BM3D, 'psnr': results['references'][BM3D]['psnr'], 'flops': 0, 'flops_input': cost['input']}]
    spread = {}
    for net in NETS:
        psnr = [e['psnr'] for e in results['nets'][net]['seeds']]
        mean, std = mean_std(psnr)
        rows.append({'model': LABELS[net], 'psnr': mean, 'flops': cost[net]['flops'], 'flops_input': cost['input']})
        spread[LABELS[net]] = std or 0.
    plot_psnr_vs_flops(rows, path, yerr=spread, ylabel='PSNR (dB), mean over seeds (bars: std)',
                       title=f'gray photos, sigma {s["sigma"]:g}, {s["iters"]} training iterations')


# ----------------------------------------------------------------------------- --time-steps and the plan
def _clock(func: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of ``func()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_steps(option: str, steps: int, warmup_steps: int = 0) -> dict[str, list[float]]:
    """Wall and CPU seconds of ``steps`` training steps of ``option`` (after one untimed step), by
    :func:`~hinas_basicsr.tools.runners.train_for_budget` in a temporary folder; with ``warmup_steps``, that many
    steps are timed first (a search's weight-only warm-up: ``arch_warmup_iter`` is set to their number + 1)."""
    opt = load_yaml(option)
    opt['scale'] = opt.get('scale', 1)
    total = 1 + warmup_steps + (1 if warmup_steps else 0) + steps
    opt['train']['total_iter'] = total
    if warmup_steps:
        opt['train'].pop('arch_warmup_ratio', None)
        opt['train']['arch_warmup_iter'] = warmup_steps + 1
    marks: list[tuple[float, float]] = []  # (seconds since the first step began, CPU seconds) after each step
    with tempfile.TemporaryDirectory() as tmp:
        timed = write_options(os.path.join(tmp, 'timed.yml'), opt)
        train_for_budget(timed, float('inf'), tmp, max_iters=total,
                         on_progress=lambda seconds: marks.append((seconds, time.process_time())))
    steps_done = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(marks, marks[1:])]  # from the second step on
    found = {'wall': [w for w, _ in steps_done[-steps:]], 'cpu': [c for _, c in steps_done[-steps:]]}
    if warmup_steps:
        found.update(warmup_wall=[w for w, _ in steps_done[:warmup_steps]],
                     warmup_cpu=[c for _, c in steps_done[:warmup_steps]])
    return found


def timed_forward(network_opt: dict[str, Any], size: Sequence[int]) -> dict[str, float]:
    """Wall and CPU seconds of one forward pass (after a warm-up on a small input) of a randomly initialised
    ``network_opt`` on a 1x1xHxW input."""
    from basicsr.archs import build_network

    net = build_network(network_opt).eval()
    with torch.no_grad():
        net(torch.rand(1, 1, 32, 32))
        wall, cpu = _clock(lambda: net(torch.rand(1, 1, *size)))
    return {'wall': wall, 'cpu': cpu}


def _time_net(s: Settings, net: str, genotype: str, steps: int) -> dict[str, Any]:
    option = training_options(s, net, 0, genotype)
    with tempfile.TemporaryDirectory() as tmp:
        found = timed_steps(write_options(os.path.join(tmp, f'{net}.yml'), option), steps)
    found['forward'] = timed_forward(option['network_g'], s.latency_size)
    return found


def _time_search(s: Settings, steps: int) -> dict[str, Any]:
    from basicsr.data import build_dataset

    option = search_options(s)
    with tempfile.TemporaryDirectory() as tmp:
        found = timed_steps(write_options(os.path.join(tmp, 'search.yml'), option), steps, warmup_steps=steps)
    val = dict(option['datasets']['val'], phase='val')
    item = build_dataset(val)[0]
    found['val_forward'] = timed_forward(option['network_g'], item['lq'].shape[-2:])
    found['val_size'] = list(item['lq'].shape[-2:])
    return found


def _time_bm3d(s: Settings) -> dict[str, float]:
    noisy = torch.rand(1, 1, *s.latency_size) + s.sigma / 255. * torch.randn(1, 1, *s.latency_size)
    bm3d_tensor(noisy[..., :32, :32], s.sigma)
    wall, cpu = _clock(lambda: bm3d_tensor(noisy, s.sigma))
    return {'wall': wall, 'cpu': cpu}


def time_steps(s: Settings, steps: int, given: Genotype | None) -> dict[str, Any]:
    """Per-step seconds (wall and CPU, one thread) of each net and the search, and the forward passes the scoring
    takes, each in a fresh process, one at a time; with the plan (:func:`plan`). Writes OUT/step_times.json."""
    os.makedirs(s.out, exist_ok=True)
    genotype = s.genotype
    if given is None:
        genotype = s.path('stand_in_genotype.json')
        random_genotype(random.Random(STAND_IN_SEED), **search_space(s.search_opt)).save(genotype)
    found: dict[str, Any] = {'steps': steps, 'threads': 1, 'given': given is not None,
                             'genotype': genotype if given is not None else os.path.relpath(genotype, s.out)}
    with training_pool(1) as pool:
        for net in NETS:
            print(f'Timing {steps} steps of {net} ...', flush=True)
            found[net] = pool.submit(_time_net, s, net, genotype, steps).result()
        if given is None:
            print(f'Timing {steps} steps of the search ...', flush=True)
            found['search'] = pool.submit(_time_search, s, steps).result()
        found[BM3D] = pool.submit(_time_bm3d, s).result()
    search = load_yaml(s.search_opt)
    found['search_schedule'] = {'total_iter': int(search['train']['total_iter']),
                                'arch_warmup_ratio': float(search['train'].get('arch_warmup_ratio', 0.2)),
                                'val_freq': int((search.get('val') or {}).get('val_freq') or 0)}
    test = list_images(os.path.join(s.data, TEST_SET))
    found['test_pixels'] = sum(h * w for h, w in (image_size(p)[:2] for p in test))
    found['latency_size'] = list(s.latency_size)
    found['plan'] = plan(found, s.seeds, s.jobs, s.latency_runs)
    write_json(s.path(STEP_TIMES), found)
    return found


def job_seconds(times: dict[str, Any], iters: int, clock: str = 'cpu', latency_runs: int = 3) -> dict[str, float]:
    """Seconds of each job of the table at ``iters`` training iterations, from :func:`time_steps`' figures: the
    search (its warm-up steps, its full steps, its validations), a training and its score per net, the references
    (BM3D on the test photos) and the cost measurement (``latency_runs`` + 1 passes of every net and BM3D)."""
    ratio = times['test_pixels'] / math.prod(times['latency_size'])  # the test photos, in latency inputs

    def per_step(entry: dict[str, Any], key: str = '') -> float:
        return statistics.median(entry[f'{key}{clock}'])

    seconds = {net: iters * per_step(times[net]) + ratio * times[net]['forward'][clock] for net in NETS}
    seconds['references'] = ratio * times[BM3D][clock]
    seconds['measure'] = (latency_runs + 1) * (sum(times[net]['forward'][clock] for net in NETS) + times[BM3D][clock])
    if 'search' in times:
        sched = times['search_schedule']
        warmup = round(sched['arch_warmup_ratio'] * sched['total_iter'])
        validations = sched['total_iter'] // sched['val_freq'] if sched['val_freq'] else 0
        seconds['search'] = (warmup * per_step(times['search'], 'warmup_') + (sched['total_iter'] - warmup)
                             * per_step(times['search']) + validations * times['search']['val_forward'][clock])
    return seconds


def estimate_wall(seconds: dict[str, float], seeds: int, jobs: int) -> float:
    """The wall seconds of a run whose jobs take ``seconds`` (:func:`job_seconds`), by :meth:`DenoisePhotos.schedule`'s
    rule: whenever a slot is free, the first job of :func:`job_names` that can start (the found net's once the
    search is done), at most ``jobs`` at once; then the cost measurement alone."""
    pending = job_names(seeds, search='search' in seconds)
    searched = None if 'search' in seconds else 0.
    now, running = 0., []  # (end, name)
    while pending or running:
        for name in list(pending):
            if len(running) >= jobs:
                break
            if name.startswith('hinas') and searched is None:
                continue
            pending.remove(name)
            running.append((now + seconds[name.split('_seed')[0]], name))
        now, name = min(running)
        running.remove((now, name))
        if name == 'search':
            searched = now
    return now + seconds['measure']


def plan(times: dict[str, Any], seeds: int, jobs: int, latency_runs: int = 3,
         budget_s: float = PLAN_BUDGET_S) -> dict[str, Any]:
    """The most training iterations (a multiple of ``PLAN_STEP``) whose estimated wall time (:func:`estimate_wall`
    on the CPU seconds: what each job takes on a core of its own) fits ``budget_s``; with the estimate per job."""
    def wall(iters: int) -> float:
        return estimate_wall(job_seconds(times, iters, 'cpu', latency_runs), seeds, jobs)

    iters = 0
    while iters < PLAN_MOST and wall(iters + PLAN_STEP) <= budget_s:
        iters += PLAN_STEP
    return {'budget_s': budget_s, 'seeds': seeds, 'jobs': jobs, 'iters': iters, 'estimated_wall_s': round(wall(iters)),
            'jobs_s': {k: round(v) for k, v in job_seconds(times, iters, 'cpu', latency_runs).items()}}


def step_table(times: dict[str, Any]) -> str:
    """``--time-steps``' figures as a table, and the plan."""
    lines = [f'One thread, median of {times["steps"]} steps (after one untimed step); wall and CPU seconds.', '',
             '| what | s per step (wall) | s per step (CPU) | forward pass (CPU s) |', '| --- | --- | --- | --- |']
    size = 'x'.join(map(str, times['latency_size']))
    labels = {**LABELS, 'hinas': LABELS['hinas'] if times['given'] else 'HiNAS (stand-in: a random genotype)'}
    for net in NETS:
        t = times[net]
        lines.append(f'| {labels[net]} training step | {statistics.median(t["wall"]):.3f} | '
                     f'{statistics.median(t["cpu"]):.3f} | {t["forward"]["cpu"]:.1f} ({size}) |')
    if 'search' in times:
        t = times['search']
        lines.append(f'| search, warm-up step (weights) | {statistics.median(t["warmup_wall"]):.3f} | '
                     f'{statistics.median(t["warmup_cpu"]):.3f} | |')
        lines.append(f'| search, step (arch + weights) | {statistics.median(t["wall"]):.3f} | '
                     f'{statistics.median(t["cpu"]):.3f} | {t["val_forward"]["cpu"]:.1f} (validation, '
                     f'{"x".join(map(str, t["val_size"]))}) |')
    lines.append(f'| BM3D | | | {times[BM3D]["cpu"]:.1f} ({size}) |')
    p = times['plan']
    lines += ['', f'Plan: {p["iters"]} iterations per net fit {p["budget_s"] / 3600:.1f} h at --seeds {p["seeds"]} '
                  f'--jobs {p["jobs"]} (estimated {p["estimated_wall_s"]} s, from the CPU seconds); per job (s): '
                  + ', '.join(f'{k} {v}' for k, v in p['jobs_s'].items()) + '.']
    return '\n'.join(lines) + '\n'


__all__ = ['NETS', 'Settings', 'check_settings', 'estimate_wall', 'job_names', 'job_seconds', 'markdown_table',
           'mean_std', 'plan', 'run_table', 'search_options', 'step_table', 'test_options', 'time_steps',
           'training_options']
