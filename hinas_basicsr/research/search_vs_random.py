"""Does the search find better networks than chance? The searched genotype against K uniform random ones.

Every genotype (the found one, the two ablation searches, K random draws from the same space, and the
decomposition's variants) is trained with the same recipe and iteration budget, then scored on the
held-out photos with ``hinas compare``'s conventions and its params/FLOPs count.

* The searches run ``basicsr train`` on the given search options with ``total_iter`` set to the
  budget, in a child process (:func:`hinas_basicsr.tools.runners.search_genotype`). The ablations change one
  key of ``network_g``: ``layerwise_cells: false`` (one cell tied across layers) and ``cell_sharing:
  false`` (one cell per incoming path).
* The random genotypes come from :mod:`hinas_basicsr.research.random_genotype` (uniform ops and input pairs,
  uniform over width paths), drawn from the search space of the search options (or of the given
  genotype) with a fixed seed, so a rerun draws the same ones, and they may train while the search runs.
* Seeds: the searched nets are trained with ``--seeds`` seeds, the randoms and the decomposition's
  variants with ``--random-seeds``. The report gives the seed spread (the searched nets' std over
  seeds) beside the spread among the randoms, and the Kendall tau between the nets' ranks at half and
  at full training (every training also saves its weights at half its iterations).
* Decomposition: ``--widths`` trains the found cells on every valid width path (5 for L = 2) and ranks
  the searched path among them; ``--cells K`` trains K random cells at the found widths.
* Data: ``--data sample`` (the default; the demo's recipe on the embedded sample data) or ``--data
  photos`` (``datasets/photos``, made by ``datasets_prep/prepare_photos.py``): the photos go into the
  search options' datasets and into every training, and the held-out set is ``PhotosTestCrop`` (the
  central 480x480 of each of the 6 held-out photos; add the whole ones with
  ``--test datasets/photos/benchmark/PhotosTest/HR``).
  ``--test DIR`` (repeatable) also scores on a folder of HR images, with LR made by MATLAB bicubic.
* ``--jobs J`` trains J genotypes at once, each in a process of its own with one thread (the search
  counts as one of the J while it runs); the figures are those of ``--jobs 1``.
* Equal cost: ``--band-min M`` draws randoms inside +-10% of a searched net's FLOPs where fewer than M
  lie there (:meth:`Benchmark.band_jobs`); they count at equal FLOPs only.
* The verdict per search mode (:func:`search_modes`): every search beats the median of the randoms at
  equal FLOPs, and the 90% bootstrap interval of the mean margin (:mod:`hinas_basicsr.research.stats`)
  lies above 0.
* Provenance: per seed the commit the net was trained at (:func:`code_commit`), per searched net its
  search's iterations; :func:`rerun_nets` (``--from RUN --only NAME --out NEW``) trains nets of a
  finished run again and checks their PSNRs against the recorded ones.

The training recipe is the demo's (``options/demo/train_hinas_sr_x2.yml``: HiNASNet F = 16, Adam 1e-3,
L1 + 0.6 logSSIM) with the learning rate decayed by a cosine to 0 over the iteration budget: batch 4 on
the sample data, batch 8 on the photos; for denoising, the same recipe on the sample BSD500 patches
(gray, sigma 30/50/70) without ASPP.

Writes under OUT: ``results.json`` (after every genotype), ``table.md``, ``psnr_vs_flops.png``, and
the searched genotypes (``genotypes/``), option files, checkpoints (``train/``), per-genotype
comparisons (``scores/``), prepared ``--test`` sets (``testsets/``) and the search logs (``logs/``).
A rerun with the same settings skips the searches and genotypes done.
"""
from __future__ import annotations

import concurrent.futures as futures
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.prep.benchmarks import build_benchmark_set
from hinas_basicsr.prep.common import Outputs, image_size, list_images
from hinas_basicsr.research.processes import training_pool
from hinas_basicsr.research.random_genotype import random_cell, random_genotype
from hinas_basicsr.research.remedies import REMEDIES, apply_overrides, flops_target_overrides
from hinas_basicsr.research.stats import BOOTSTRAP_SEED, LEVEL, REPLICATES, margin_interval, tau_interval
from hinas_basicsr.search.judge import kendall_tau
from hinas_basicsr.search.record import record_path
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.trellis import count_paths, valid_paths
from hinas_basicsr.tools.compare import BICUBIC, NOISY, ModelSpec, compare, count_flops
from hinas_basicsr.tools.demo import HINAS_OPT, SAMPLE_ROOT
from hinas_basicsr.tools.runners import TrainResult, search_genotype, train_for_budget, write_options
from hinas_basicsr.tools.sample_data import ensure_sample_data
from hinas_basicsr.utils.arg_checks import count, is_integer, is_number
from hinas_basicsr.utils.fileio import atomic_write, write_json, write_text
from hinas_basicsr.utils.options_file import load_yaml, parse_json, read_text_file

RESULTS, TABLE, PLOT = 'results.json', 'table.md', 'psnr_vs_flops.png'
MAX_RESULTS_BYTES = 64 << 20  # a results.json: a few kB a net
RANDOM_DRAW_SEED = 0  # the random genotypes are the same in every run and rerun
CELLS_DRAW_SEED = 1  # the random cells of --cells, drawn apart from the random genotypes
BAND_DRAW_SEED = 2  # the band randoms of --band-min: random.Random(f'{BAND_DRAW_SEED}:{searched net}')
BAND_TRIES = 1000  # draws per searched net before --band-min gives up on its band
BAND_PREFIX = 'random_band_'  # random_band_<searched net>_<k>: the k-th random drawn inside its FLOPs band
FLOPS_MATCH = 0.25  # "FLOPs-matched" randoms: within +-25% of the searched net's FLOPs
EQUAL_FLOPS = 0.10  # the benchmark's "equal FLOPs": randoms within +-10% of a searched net's FLOPs (summary)
EXTRA_NAME = re.compile(r'[A-Za-z][A-Za-z0-9-]*(_[A-Za-z0-9-]+)*$')
SR_SCALES = (2, 3, 4)  # the scales the sample data and the photo set have LR images for
DATA = ('sample', 'photos')
PHOTO_ROOT = 'datasets/photos'
PHOTO_TEST = 'PhotosTestCrop'  # the central 480x480 of the 6 held-out photos (a whole one costs 5x as much)
SAMPLE_TEST = 'SampleTest'
PHOTO_BATCH = 8  # the photo benchmark trains at batch 8, LR crop 32 (the measured step: 0.38 s, 1 thread)
ABLATIONS = {'tied_cells': {'network_g': {'layerwise_cells': False}},
             'no_cell_sharing': {'network_g': {'cell_sharing': False}}}
SEARCH_SEED = re.compile(r'_search(\d+)$')  # found_search2: the found search again, its manual_seed + 1
# the keys of a training set's options that BasicSR's data loader reads (the others are the dataset's own)
LOADER_KEYS = ('name', 'phase', 'scale', 'num_worker_per_gpu', 'batch_size_per_gpu', 'dataset_enlarge_ratio',
               'prefetch_mode', 'pin_memory', 'persistent_workers', 'use_shuffle')
DENOISE_TRAIN = {'name': 'SampleBSD500', 'type': 'HiNASNoisyImageDataset',
                 'dataroot_gt': f'{SAMPLE_ROOT}/BSD500/BSD500_train.lmdb', 'io_backend': {'type': 'lmdb'},
                 'gray': True, 'gt_size': 48, 'use_hflip': True, 'use_rot': True, 'sigma': [30, 50, 70],
                 'noise_seed': 0}
DENOISE_TEST_SIGMA = 50
KINDS = ('search', 'widths', 'cells', 'random')  # the order of results.json's entries
# the most of each count a run may ask for, far past any study (the paper's: 8 to 50 nets, 2 to 5 seeds, 10^5
# iterations): each net trained writes its options, checkpoints and scores, each search its genotypes
MAX_NETS = 1000  # --random, --cells, --band-min, and the width paths of --widths
MAX_SEEDS = 100  # --seeds, --random-seeds, --search-seeds
MAX_ITERS = 10_000_000  # --search-iters, --train-iters
MAX_JOBS = 1024  # --jobs: processes at once


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
    data: str = 'sample'
    random_seeds: int = 1
    widths: bool = False
    cells: int = 0
    tests: tuple[str, ...] = field(default=())
    jobs: int = 1
    extras: tuple[tuple[str, str], ...] = field(default=())  # --extra NAME=JSON: (name, genotype file)
    remedies: tuple[str, ...] = field(default=())  # --remedy SPEC: one more search each (remedy_overrides)
    search_seeds: int = 1
    band_min: int = 4  # randoms within +-10% of each searched net's FLOPs; drawn inside the band where fewer

    # settings that do not change a figure: a rerun may change them; and --band-min, which only adds band randoms
    # where it is raised (lowered, the band randoms drawn stay)
    FREE = ('device', 'jobs', 'band_min')
    # settings that only add genotypes to a finished run: a rerun may turn them on
    ADDING = ('ablations', 'widths')
    # counts that only add genotypes or seeds to a finished run: a rerun may raise them
    RAISING = ('cells', 'search_seeds', 'random_seeds', 'seeds')

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != 'out'}
        d['tests'] = list(self.tests)
        d['extras'] = {name: path for name, path in self.extras}
        d['remedies'] = list(self.remedies)
        return d

    def searches(self) -> dict[str, tuple[dict[str, Any], int]]:
        """Every search of the run: name -> (option overrides, offset of its ``manual_seed``).

        The found search, the ablations and the remedies, each ``search_seeds`` times: the k-th (k >= 2) is
        ``NAME_searchK``, with the option file's ``manual_seed`` + k - 1.
        """
        if self.search_opt is None:
            return {}
        modes = {'found': {}, **(ABLATIONS if self.ablations else {}),
                 **{spec: remedy_overrides(spec) for spec in self.remedies}}
        return {name if k == 0 else f'{name}_search{k + 1}': (overrides, k)
                for name, overrides in modes.items() for k in range(self.search_seeds)}


# a setting an earlier run's results.json lacks had this value then (as its JSON writes it)
_SETTING_DEFAULTS = {**{k: f.default for k, f in Settings.__dataclass_fields__.items() if f.default is not MISSING},
                     'tests': [], 'extras': {}, 'remedies': [], 'band_min': 0}  # earlier runs drew no band randoms


# each kind of a Settings field, as results.json records it: its words and its test
_RECORDED_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    'str': ('text', lambda v: isinstance(v, str)),
    'str | None': ('text or null', lambda v: v is None or isinstance(v, str)),
    'int': ('an integer', is_integer),
    'bool': ('true or false', lambda v: isinstance(v, bool)),
    'tuple[str, ...]': ('a list of text', lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    'tuple[tuple[str, str], ...]': ('a mapping of names to files',
                                    lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values())),
}


def read_results(path: str, option: str, complete: bool = False) -> dict[str, Any]:
    """A benchmark's results.json (``option`` names the run), refused in one line when it is not one: not JSON, not
    a mapping, its ``settings`` or ``genotypes`` not mappings, a recorded setting of another kind than the
    benchmark's; with ``complete``, a setting missing (``_SETTING_DEFAULTS`` fill the ones an earlier run did not
    record)."""
    results = parse_json(read_text_file(path, option, 'results file', MAX_RESULTS_BYTES), f'{option}: {path}',
                         'results file')
    if not isinstance(results, dict):
        raise ValueError(f'{option}: {path} is not a search-vs-random results file (a mapping), got '
                         f'{type(results).__name__}')
    for key in ('settings', 'genotypes'):
        if not isinstance(results.get(key, {}), dict):
            raise ValueError(f'{option}: {path}: {key}: expected a mapping, got {results[key]!r:.60}')
    recorded = results.get('settings', {})
    for name, f in Settings.__dataclass_fields__.items():
        if name == 'out' or (name not in recorded and (name in _SETTING_DEFAULTS or not complete)):
            continue
        if name not in recorded:
            raise ValueError(f'{option}: {path}: settings.{name}: missing')
        words, of_kind = _RECORDED_KINDS[f.type]
        if not of_kind(recorded[name]):
            raise ValueError(f'{option}: {path}: settings.{name}: expected {words}, got {recorded[name]!r:.60}')
    return results


def _check_entry(path: str, name: str, entry: Any) -> None:
    """The recorded entry of net ``name`` in ``path`` holds what a rerun compares with: a PSNR per seed (and per
    set under ``sets``), the commits the seeds were trained at."""
    where = f'--from: {path}: genotypes.{name}'
    if not isinstance(entry, dict):
        raise ValueError(f'{where}: expected a mapping, got {entry!r:.60}')
    psnr = entry.get('psnr')
    if not isinstance(psnr, list) or not psnr or not all(map(is_number, psnr)):
        raise ValueError(f'{where}.psnr: expected a PSNR per seed, got {psnr!r:.60}')
    sets = entry.get('sets') or {}
    for set_name, scores in (sets.items() if isinstance(sets, dict) else [('', sets)]):
        got = scores.get('psnr') if isinstance(scores, dict) else None
        if not isinstance(got, list) or len(got) < len(psnr) or not all(map(is_number, got)):
            raise ValueError(f'{where}.sets{"." + set_name if set_name else ""}: expected a PSNR per seed on each '
                             f'set, got {scores!r:.60}')
    if not isinstance(entry.get('commits') or [], list):
        raise ValueError(f'{where}.commits: expected a list, got {entry["commits"]!r:.60}')


def remedy_overrides(spec: str) -> dict[str, Any]:
    """The search-option overrides of ``--remedy SPEC``: remedy names of :data:`REMEDIES` joined by ``+``;
    ``flops_target=G`` asks for G GFLOPs (``flops_target`` alone: the demo's 8.0)."""
    merged: dict[str, Any] = {}
    for part in spec.split('+'):
        name, _, value = part.partition('=')
        if name == 'flops_target' and value:
            try:
                gflops = float(value)
            except ValueError:
                gflops = float('nan')
            if not is_number(gflops) or gflops <= 0:
                raise ValueError(f'--remedy {spec}: flops_target={value} is not a positive number of GFLOPs')
            overrides = flops_target_overrides(gflops)
        elif name in REMEDIES and not value:
            overrides = REMEDIES[name]
        else:
            raise ValueError(f'--remedy {spec}: {part!r} is not a remedy (one of {", ".join(REMEDIES)}, or '
                             f'flops_target=G; join several with +)')
        merged = apply_overrides(merged, overrides)
    return merged


def mode_of(name: str) -> str:
    """``found_search2`` -> found: the search mode a searched net belongs to (its name without _searchK)."""
    return SEARCH_SEED.sub('', name)


def kind_of(name: str) -> str:
    """``random_3`` -> random, ``widths_0-1`` -> widths, ``cells_2`` -> cells; the rest are searches.

    The band randoms (``random_band_found_1``) are randoms too."""
    prefix = name.split('_', 1)[0]
    return prefix if prefix in ('random', 'widths', 'cells') else 'search'


def is_band(name: str) -> bool:
    """A random drawn inside a searched net's FLOPs band (``--band-min``), not uniformly from the space."""
    return name.startswith(BAND_PREFIX)


def check_data(s: Settings) -> None:
    """Refuse a missing photo set (``--data photos``) and a ``--test`` folder that is not one of readable images."""
    if s.data == 'photos':
        if s.task != 'sr':
            raise ValueError('--data: photos is an SR set (use --task sr)')
        missing = [p for p in (f'{PHOTO_ROOT}/DIV2K_train_HR_sub.lmdb', photo_test_dirs(s.scale)[0])
                   if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f'--data photos: {missing[0]} does not exist; make it with '
                                    f'`python datasets_prep/prepare_photos.py --dst {PHOTO_ROOT}`')
    for folder in s.tests:
        if s.task != 'sr':
            raise ValueError('--test: scores SR (HR images, LR by bicubic); use --task sr')
        if not os.path.isdir(folder):
            raise FileNotFoundError(f'--test: {folder} is not a folder')

        for path in list_images(folder):
            image_size(path)


def _counts(s: Settings) -> tuple[tuple[str, int, int, int, str], ...]:
    """Each count of ``s``: its option, value, least and most, and what each one costs."""
    net, seed, it = 'each a net trained and saved', 'each a training of every net', 'each a step of every run'
    return (('--random', s.random, 1, MAX_NETS, net), ('--seeds', s.seeds, 1, MAX_SEEDS, seed),
            ('--search-iters', s.search_iters, 1, MAX_ITERS, it), ('--train-iters', s.train_iters, 1, MAX_ITERS, it),
            ('--random-seeds', s.random_seeds, 1, MAX_SEEDS, seed), ('--cells', s.cells, 0, MAX_NETS, net),
            ('--jobs', s.jobs, 1, MAX_JOBS, 'each a process'),
            ('--search-seeds', s.search_seeds, 1, MAX_SEEDS, 'each a search run and saved'),
            ('--band-min', s.band_min, 0, MAX_NETS, 'up to as many nets trained for each searched one'))


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
    for option, value, least, most, what in _counts(s):
        count(value, option, least, most, what)
    if s.data not in DATA:
        raise ValueError(f'--data: expected one of {DATA}, got {s.data!r}')
    check_data(s)
    if s.device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device: cuda was asked for but no CUDA device is available')
    if s.ablations and s.search_opt is None:
        raise ValueError('--ablations: needs --search-opt (the ablations are searches)')
    if (s.remedies or s.search_seeds > 1) and s.search_opt is None:
        raise ValueError(f'{"--remedy" if s.remedies else "--search-seeds"}: needs --search-opt (it adds searches)')
    if len(set(s.remedies)) < len(s.remedies):
        raise ValueError('--remedy: each remedy once')
    for spec in s.remedies:
        remedy_overrides(spec)
    if os.path.exists(s.out) and not os.path.isdir(s.out):
        raise ValueError(f'--out: {s.out} exists and is not a folder')
    previous = os.path.join(s.out, RESULTS)
    if os.path.isfile(previous):
        old = read_results(previous, '--out').get('settings', {})
        differ = [k for k, v in s.as_dict().items() if not _may_change(k, v, old)]
        if differ:
            raise ValueError(f'--out: {previous} holds a run with other settings ({differ[0]}: {old.get(differ[0])!r} '
                             f'there, {getattr(s, differ[0])!r} now); use another --out')
    given = None
    if s.genotype is not None:
        given = Genotype.load(s.genotype)
        given.check_compatible(task=s.task, scale=s.scale, source=f'--genotype {s.genotype}')
    else:
        check_search_opt(s)
    check_extras(s, given)
    if s.widths:
        space = space_of(s, given)
        paths = count_paths(space['num_layers'], len(space['width_factors']))
        if paths > MAX_NETS:
            raise ValueError(f'--widths: {space["num_layers"]} layers of {len(space["width_factors"])} widths have '
                             f'{paths:,} width paths, more than the {MAX_NETS:,} nets a run may train (each trained '
                             'and saved)')
    return given


def _may_change(key: str, value: Any, old: dict[str, Any]) -> bool:
    """Whether a rerun may give setting ``key`` this ``value`` where the earlier run had ``old`` (its settings):
    the same value, a free setting, or one that only adds genotypes, seeds or searches."""
    before = old.get(key, _SETTING_DEFAULTS.get(key, MISSING))
    if key in Settings.FREE or before == value:
        return True
    if key in Settings.ADDING:
        return bool(value) and not before
    if key in Settings.RAISING:
        return isinstance(before, int) and value > before
    if key == 'extras':
        return isinstance(before, dict) and all(value.get(n) == f for n, f in before.items())
    if key == 'remedies':
        return isinstance(before, list) and set(before) <= set(value)
    return False


def check_extras(s: Settings, given: Genotype | None) -> None:
    """Refuse a bad ``--extra NAME=JSON``: a name that is taken or not a searched net's, a missing file, a
    genotype of another task, scale or search space."""
    space = space_of(s, given)
    seen: set[str] = set()
    for name, path in s.extras:
        if not EXTRA_NAME.match(name) or kind_of(name) != 'search' or name in ('found', *ABLATIONS) or name in seen \
                or name in s.searches():
            raise ValueError(f'--extra: {name!r} is not a free name (letters, digits, - and _; not found, an '
                             f'ablation, a remedy, a search seed\'s NAME_searchK, random_*, widths_* or cells_*; '
                             f'each once)')
        seen.add(name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'--extra {name}: {path} does not exist')
        genotype = Genotype.load(path)
        genotype.check_compatible(task=s.task, scale=s.scale, source=f'--extra {name}={path}')
        if space_of(s, genotype) != space:
            raise ValueError(f'--extra {name}: {path} is outside the benchmark\'s search space')


def check_search_opt(s: Settings) -> None:
    """Refuse a missing ``--search-opt`` or one that does not search a HiNASSupernet for the task and scale."""
    if not os.path.isfile(s.search_opt):
        raise FileNotFoundError(f'--search-opt: {s.search_opt} does not exist')
    net = load_yaml(s.search_opt).get('network_g') or {}
    if net.get('type') != 'HiNASSupernet' or net.get('task') != s.task or int(net.get('upscale', 1)) != s.scale:
        raise ValueError(f'--search-opt: {s.search_opt} searches {net.get("type")} task {net.get("task")!r} '
                         f'upscale {net.get("upscale")}, not a HiNASSupernet for task {s.task!r} scale {s.scale}')


def _num_gpu(device: str) -> int:
    return 1 if device == 'cuda' else 0


def photo_test_dirs(scale: int) -> tuple[str, str]:
    """GT and LR folders of the photo set's held-out photos at ``scale``."""
    root = f'{PHOTO_ROOT}/benchmark/{PHOTO_TEST}'
    return f'{root}/GTmod{scale}', f'{root}/LRbicx{scale}'


def _photo_roots(dataset: dict[str, Any], scale: int) -> None:
    """Point a paired dataset's ``dataroot_gt``/``dataroot_lq`` at the photo set (sub-images stay sub-images)."""
    sub = '_sub' if '_sub' in os.path.basename(str(dataset.get('dataroot_gt', ''))) else ''
    dataset.update(dataroot_gt=f'{PHOTO_ROOT}/DIV2K_train_HR{sub}.lmdb',
                   dataroot_lq=f'{PHOTO_ROOT}/DIV2K_train_LR_bicubic_X{scale}{sub}.lmdb',
                   io_backend={'type': 'lmdb'}, filename_tmpl='{}')


def search_options(s: Settings, variant: str, overrides: dict[str, Any], seed_offset: int = 0) -> dict[str, Any]:
    """The search options with ``total_iter`` = the budget, a name of its own, the ablation's or remedy's
    overrides (:func:`~hinas_basicsr.research.remedies.apply_overrides`) and ``manual_seed`` + ``seed_offset``.

    The validation frequency is raised where the file's would give fewer than three validations, so
    that the search's convergence line can judge stability. With ``--data photos`` every dataset of
    the options reads the photo set.
    """
    opt = apply_overrides(load_yaml(s.search_opt), overrides)
    run_id = hashlib.sha1(os.path.abspath(s.out).encode()).hexdigest()[:8]
    opt.update(name=f'search_vs_random_{run_id}_{variant}', num_gpu=_num_gpu(s.device))
    if seed_offset:
        opt['manual_seed'] = int(opt.get('manual_seed') or 0) + seed_offset
    opt['train']['total_iter'] = s.search_iters
    scheduler = opt['train'].get('scheduler') or {}
    if scheduler.get('type') == 'CosineAnnealingRestartLR':
        scheduler.update(periods=[s.search_iters], restart_weights=[1])
    if opt.get('val') and opt['val'].get('val_freq', s.search_iters) * 3 > s.search_iters:
        opt['val']['val_freq'] = max(1, s.search_iters // 3)
    opt.setdefault('logger', {})['save_checkpoint_freq'] = s.search_iters
    if s.data == 'photos':
        opt.pop('sample_data', None)
        for dataset in (opt.get('datasets') or {}).values():
            _photo_roots(dataset['dataset'] if isinstance(dataset.get('dataset'), dict) else dataset, s.scale)
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
        if s.data == 'photos':
            opt.pop('sample_data', None)
            _photo_roots(train, s.scale)
            train.update(name='Photos', batch_size_per_gpu=PHOTO_BATCH)
            opt['datasets']['train'] = decoded_once(train)
    else:
        opt['datasets']['train'] = {**DENOISE_TRAIN, **{k: train[k] for k in (
            'num_worker_per_gpu', 'batch_size_per_gpu', 'dataset_enlarge_ratio', 'prefetch_mode')}}
        opt['network_g']['use_aspp'] = False
    opt['datasets'] = {'train': opt['datasets']['train']}
    return opt


def decoded_once(dataset: dict[str, Any]) -> dict[str, Any]:
    """A training set of whole photos as ``HiNASSplitDataset``'s ``split: all`` with ``load_all``: the same samples
    and crops as ``dataset`` (the loader's options stay outside, the rest goes inside), each photo decoded once
    instead of at every crop (a fifth of a training step on this CPU)."""
    outer = {k: dataset[k] for k in LOADER_KEYS if k in dataset}
    inner = {k: v for k, v in dataset.items() if k not in LOADER_KEYS or k == 'name'}
    return {**outer, 'type': 'HiNASSplitDataset', 'split': 'all', 'load_all': True, 'dataset': inner}


def _set_name(folder: str, taken: set[str]) -> str:
    base = re.sub(r'[^A-Za-z0-9]+', '_', os.path.basename(os.path.normpath(folder))).strip('_') or 'test'
    name, k = base, 2
    while name in taken:
        name, k = f'{base}_{k}', k + 1
    taken.add(name)
    return name


def prepare_test_sets(s: Settings) -> list[tuple[str, str, str]]:
    """``(name, GT folder, LR folder)`` of each ``--test`` folder, made under ``OUT/testsets`` (MATLAB bicubic LR)."""

    sets, taken = [], {SAMPLE_TEST if s.data == 'sample' else PHOTO_TEST}
    for folder in s.tests:
        name = _set_name(folder, taken)
        out = Outputs(os.path.join(s.out, 'testsets'), folder)
        build_benchmark_set(list_images(folder), out, name, [s.scale])
        sets.append((name, out.path(f'{name}/GTmod{s.scale}'), out.path(f'{name}/LRbicx{s.scale}')))
    return sets


def test_options(s: Settings, extra: Sequence[tuple[str, str, str]] = ()) -> dict[str, Any]:
    """The held-out photos (and the ``--test`` sets, in order), as a ``hinas compare`` test option file."""
    if s.task == 'sr':
        if s.data == 'photos':
            gt, lq = photo_test_dirs(s.scale)
            name = PHOTO_TEST
        else:
            gt, lq = (f'{SAMPLE_ROOT}/benchmark/SampleTest/GTmod{s.scale}',
                      f'{SAMPLE_ROOT}/benchmark/SampleTest/LRbicx{s.scale}')
            name = SAMPLE_TEST
        test = {'name': name, 'type': 'PairedImageDataset', 'dataroot_gt': gt, 'dataroot_lq': lq,
                'io_backend': {'type': 'disk'}}
    else:
        test = {'name': 'SampleBSD500_test', 'type': 'HiNASNoisyImageDataset',
                'dataroot_gt': f'{SAMPLE_ROOT}/BSD500/BSD500_test', 'io_backend': {'type': 'disk'}, 'gray': True,
                'sigma': [DENOISE_TEST_SIGMA], 'noise_seed': 0}
    datasets = {'test_00': test}
    for k, (name, gt, lq) in enumerate(extra, 1):
        datasets[f'test_{k:02d}'] = {'name': name, 'type': 'PairedImageDataset', 'dataroot_gt': gt,
                                     'dataroot_lq': lq, 'io_backend': {'type': 'disk'}}
    return {'name': 'search_vs_random_test', 'model_type': 'SRModel', 'scale': s.scale, 'num_gpu': 0,
            'datasets': datasets, 'path': {}}


def space_of(s: Settings, given: Genotype | None) -> dict[str, Any]:
    """The search space (``random_genotype``'s keywords) of the given genotype or of the search options."""
    if given is not None:
        return dict(task=given.task, scale=given.scale, num_in_ch=given.num_in_ch, num_nodes=given.num_nodes,
                    num_layers=given.num_layers, width_factors=tuple(given.width_factors), ops=tuple(given.ops))
    return search_space(s.search_opt)


def search_space(search_opt: str) -> dict[str, Any]:
    """The search space (``random_genotype``'s keywords) that a search option file's ``HiNASSupernet`` searches."""
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(HiNASSupernet).parameters.items()}
    net = {**defaults, **load_yaml(search_opt)['network_g']}
    return dict(task=net['task'], scale=int(net['upscale']) if net['task'] == 'sr' else 1,
                num_in_ch=int(net['num_in_ch']), num_nodes=int(net['num_nodes']), num_layers=int(net['num_layers']),
                width_factors=tuple(float(f) for f in net['width_factors']), ops=tuple(net['ops']))


def genotype_flops(s: Settings, genotype: Genotype) -> int:
    """FLOPs of the net that ``genotype`` trains into (the benchmark's HiNASNet recipe) for one LR input of
    1 x C x 128 x 128, as ``hinas compare`` (and so the table) counts them; on the meta device, so nothing is
    computed or allocated."""
    from basicsr.archs import build_network

    net_opt = training_options(s, 'flops', 'genotype.json', 0)['network_g']
    net_opt['genotype'] = genotype.to_dict()
    with torch.device('meta'):
        net = build_network(net_opt).eval()
        return count_flops(net, torch.empty(1, genotype.num_in_ch, 128, 128))


def path_label(widths: Sequence[int]) -> str:
    return '-'.join(str(w) for w in widths)


def _earlier_training(s: Settings, run: str, previous: dict[str, Any], seed: int) -> TrainResult | None:
    """The training ``run`` of an earlier run of the benchmark (seed ``seed`` of the entry ``previous``), if its
    files are still under OUT/train."""
    root, half = os.path.join(s.out, 'train', run), max(1, s.train_iters // 2)
    checkpoint, option = os.path.join(root, 'models', 'net_g_latest.pth'), os.path.join(root, f'{run}.yml')
    if seed >= len(previous.get('train_iterations', ())) or not (os.path.isfile(checkpoint) and os.path.isfile(option)):
        return None
    snapshot = os.path.join(root, 'models', f'net_g_{half}.pth')
    return TrainResult(checkpoint, option, previous['train_iterations'][seed], previous['train_seconds'][seed],
                       snapshot if os.path.isfile(snapshot) else None)


def code_commit() -> dict[str, Any] | None:
    """The commit of the code that runs (``git rev-parse HEAD`` of the checkout holding this package) and whether its
    tracked files differ from it (``dirty``); None where the package is not in a git checkout."""
    root = os.path.abspath(__file__)
    for _ in range(__name__.count('.') + 1):  # hinas_basicsr/research/search_vs_random.py -> the checkout
        root = os.path.dirname(root)
    try:
        def git(*args: str) -> str:
            return subprocess.run(['git', '-C', root, *args], capture_output=True, text=True, check=True,
                                  timeout=60).stdout.strip()

        if os.path.abspath(git('rev-parse', '--show-toplevel')) != root:
            return None  # an installed copy inside some other repository
        commit = git('rev-parse', 'HEAD')
        dirty = bool(git('status', '--porcelain', '--untracked-files=no'))
    except (OSError, subprocess.SubprocessError):
        return None
    return {'commit': commit, 'dirty': dirty}


def search_iterations(s: Settings, name: str, genotype_file: str) -> dict[str, Any] | None:
    """A searched net's search schedule, read from the search's option file under OUT/options: ``total_iter``, the
    architecture warm-up in iterations (as HiNASSearchModel computes it) and the iteration its genotype was selected
    at; None for a net no search of this run found (a given genotype, an --extra, the randoms)."""
    option = os.path.join(s.out, 'options', f'search_{name}.yml')
    if kind_of(name) != 'search' or not os.path.isfile(option):
        return None
    train = load_yaml(option)['train']
    total = int(train['total_iter'])
    warmup = (int(train['arch_warmup_iter']) if train.get('arch_warmup_iter') is not None
              else round(float(train.get('arch_warmup_ratio', 0.2)) * total))
    with open(genotype_file, encoding='utf-8') as f:
        selected = (json.load(f).get('search') or {}).get('iteration')
    return {'total_iter': total, 'arch_warmup_iter': warmup, 'selected_at': selected}


def train_and_score(s: Settings, name: str, genotype_file: str, test_opt: str, seeds: int,
                    previous: dict[str, Any] | None = None, options: Sequence[str] | None = None) -> dict[str, Any]:
    """Train ``name`` once per seed, score every checkpoint (and the half-way snapshot); its results.json entry.

    With ``previous`` (the entry of an earlier run, with fewer seeds), the seeds it trained are not trained
    again: their checkpoints are scored again with the new ones. ``options`` (one option file per seed) replaces
    the recipe's options (``--only``: the option files a finished run recorded).
    The entry holds the baseline of the test sets under ``baseline`` (the caller moves it out).
    """
    started = time.perf_counter()
    specs, runs, commits = [], [], []
    half = max(1, s.train_iters // 2)
    for seed in range(seeds):
        run = f'{name}_seed{seed}'
        trained = _earlier_training(s, run, previous, seed) if previous else None
        if trained is None:
            option = options[seed] if options else write_options(os.path.join(s.out, 'options', f'{run}.yml'),
                                                                 training_options(s, run, genotype_file, seed))
            commits.append(code_commit())
            trained = train_for_budget(option, float('inf'), s.out, max_iters=s.train_iters, snapshot_at=half)
        else:
            earlier = previous.get('commits') or []
            commits.append(earlier[seed] if seed < len(earlier) else None)  # trained before commits were recorded
        specs.append(ModelSpec(f'seed{seed}', trained.option, trained.checkpoint))
        if trained.snapshot:
            specs.append(ModelSpec(f'seed{seed}_half', trained.option, trained.snapshot))
        runs.append(trained)
    rows = compare(specs, test_opt, os.path.join(s.out, 'scores', name), task=s.task, scale=s.scale,
                   latency_runs=1, device=torch.device(s.device), bm3d=False)  # its reference: bicubic or noisy
    set_names = list(dict.fromkeys(r['set'] for r in rows))
    baseline = {'name': rows[0]['model'], 'psnr': {}, 'ssim': {}}
    for r in rows:
        if r['model'] in (BICUBIC, NOISY):
            baseline['psnr'][r['set']], baseline['ssim'][r['set']] = r['psnr'], r['ssim']
    by = {(r['model'], r['set']): r for r in rows}
    seeds_done = [spec.name for spec in specs if not spec.name.endswith('_half')]
    first = by[(seeds_done[0], set_names[0])]
    with open(genotype_file, encoding='utf-8') as f:
        genotype = json.load(f)
    genotype.pop('search', None)  # alpha and beta are in genotypes/; keep results.json readable
    entry = {'kind': kind_of(name), 'genotype': genotype,
             'params': first['params'], 'flops': first['flops'], 'flops_input': first['flops_input'],
             'psnr': [float(by[(m, set_names[0])]['psnr']) for m in seeds_done],
             'ssim': [float(by[(m, set_names[0])]['ssim']) for m in seeds_done],
             'psnr_half': [float(by[(f'{m}_half', set_names[0])]['psnr']) for m in seeds_done
                           if (f'{m}_half', set_names[0]) in by],
             'sets': {n: {'psnr': [float(by[(m, n)]['psnr']) for m in seeds_done],
                          'ssim': [float(by[(m, n)]['ssim']) for m in seeds_done]} for n in set_names},
             'train_iterations': [r.iterations for r in runs], 'train_seconds': [round(r.seconds, 2) for r in runs],
             'commits': commits, 'search_iterations': search_iterations(s, name, genotype_file),
             'wall_seconds': round(time.perf_counter() - started + (previous or {}).get('wall_seconds', 0), 1)}
    entry['baseline'] = baseline
    return entry


def _train_job(s: Settings, name: str, genotype_file: str, test_opt: str, seeds: int,
               previous: dict[str, Any] | None, options: Sequence[str] | None = None) -> dict[str, Any]:
    """:func:`train_and_score` in a worker process (one thread, as set by the pool's initializer)."""
    return train_and_score(s, name, genotype_file, test_opt, seeds, previous, options)


@dataclass
class Job:
    """One unit of the run: a search (gives a genotype file) or a training (gives a results.json entry)."""

    name: str
    kind: str  # 'search' or 'train'
    run: Callable[[], Any] | None = None
    after: str | None = None  # a search this job waits for
    make: Callable[[], str] | None = None  # training: its genotype file, once ``after`` is done


class Benchmark:
    """One benchmark run under ``settings.out``: searches, draws, trains, scores, and writes the report."""

    def __init__(self, settings: Settings, given: Genotype | None) -> None:
        self.s, self.given = settings, given
        self.results_path = os.path.join(settings.out, RESULTS)
        self.results: dict[str, Any] = {'settings': settings.as_dict(), 'baseline': None, 'genotypes': {},
                                        'wall_seconds': {}}
        if os.path.isfile(self.results_path):
            self.results = read_results(self.results_path, '--out')
            self.results['settings'] = settings.as_dict()
            self.results.setdefault('wall_seconds', {})
        self.space = space_of(settings, given)

    def path(self, *parts: str) -> str:
        return os.path.join(self.s.out, *parts)

    def search(self, variant: str, overrides: dict[str, Any], seed_offset: int = 0) -> str:
        """The genotype file of one search (``genotypes/{variant}.json``), searching only if it is missing."""
        target = self.path('genotypes', f'{variant}.json')
        if not os.path.isfile(target):
            option = write_options(self.path('options', f'search_{variant}.yml'),
                                   search_options(self.s, variant, overrides, seed_offset))
            log_path = self.path('logs', f'search_{variant}.log')
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            print(f'Searching {variant}: basicsr train -opt {option} ({self.s.search_iters} iterations; '
                  f'log {log_path})', flush=True)
            started = time.perf_counter()
            with open(log_path, 'a', encoding='utf-8') as log:
                best = search_genotype(option, threads=1 if self.s.jobs > 1 else None, log=log)
            found = Genotype.load(best)
            found.check_compatible(task=self.s.task, scale=self.s.scale, source=best)
            if space_of(self.s, found) != self.space:
                raise ValueError(f'{best}: the search found a genotype outside the space of {self.s.search_opt}')
            if os.path.isfile(record_path(best)):  # what a selection measured (search/record.py), beside the genotype
                atomic_write(record_path(target), lambda tmp: shutil.copyfile(record_path(best), tmp))
            atomic_write(target, lambda tmp: shutil.copyfile(best, tmp))
            self.results['wall_seconds'][f'search_{variant}'] = round(time.perf_counter() - started, 1)
            print(f'Search {variant} done in {self.results["wall_seconds"][f"search_{variant}"]:.0f} s', flush=True)
        return target

    def jobs(self) -> list[Job]:
        """Every search and training of the run (the randoms before the decomposition: they are what every searched
        net is ranked against); trainings of done entries left out, unless they need more seeds."""
        os.makedirs(self.path('genotypes'), exist_ok=True)
        jobs: list[Job] = []
        searches = self.s.searches()
        if self.given is not None:
            self.given.save(self.path('genotypes', 'found.json'))
        else:
            for variant, (overrides, offset) in searches.items():
                jobs.append(Job(variant, 'search', run=lambda v=variant, o=overrides, k=offset: self.search(v, o, k)))
        after = None if self.given is not None else 'found'
        for variant in searches if self.given is None else ['found']:
            file = self.path('genotypes', f'{variant}.json')
            jobs.append(Job(variant, 'train', after=None if self.given is not None else variant,
                            make=lambda f=file: f))
        for name, source in self.s.extras:
            file = self.path('genotypes', f'{name}.json')
            Genotype.load(source).save(file)
            jobs.append(Job(name, 'train', make=lambda f=file: f))
        rng = random.Random(RANDOM_DRAW_SEED)
        for k in range(1, self.s.random + 1):
            file = self.path('genotypes', f'random_{k}.json')
            random_genotype(rng, **self.space).save(file)
            jobs.append(Job(f'random_{k}', 'train', make=lambda f=file: f))
        found_file = self.path('genotypes', 'found.json')
        searched_path = tuple(Genotype.load(found_file).widths) if os.path.isfile(found_file) else None
        if self.s.widths:
            for widths in valid_paths(self.space['num_layers'], len(self.space['width_factors'])):
                if tuple(widths) == searched_path:
                    continue  # the found net itself (also skipped by ``prepare`` when the search is still to run)
                jobs.append(Job(f'widths_{path_label(widths)}', 'train', after=after,
                                make=lambda w=widths: self.variant(f'widths_{path_label(w)}', widths=w)))
        for k in range(1, self.s.cells + 1):
            jobs.append(Job(f'cells_{k}', 'train', after=after, make=lambda k=k: self.variant(f'cells_{k}', cells=k)))
        if self.searched_known():
            jobs += self.band_jobs()
        return self.to_do(jobs)

    def to_do(self, jobs: list[Job]) -> list[Job]:
        """The searches, and the trainings of nets not scored yet or scored with fewer seeds than asked for now."""
        done = self.results['genotypes']
        return [j for j in jobs if j.kind == 'search' or j.name not in done
                or len(done[j.name]['psnr']) < self.seeds_of(j.name)]

    def searched(self) -> list[str]:
        """The searched nets of the run, in its order: the searches (or the given genotype), then the extras."""
        return [*(self.s.searches() if self.given is None else ['found']), *(name for name, _ in self.s.extras)]

    def searched_known(self) -> bool:
        """Whether every searched net's genotype file is under OUT/genotypes (every search done)."""
        return all(os.path.isfile(self.path('genotypes', f'{n}.json')) for n in self.searched())

    def band_jobs(self) -> list[Job]:
        """The band randoms of ``--band-min`` (once every searched genotype is known), a training each.

        For each searched net in the run's order: while fewer than ``band_min`` randoms (the uniform ones, and the
        band randoms of any net) lie within +-10% of its FLOPs, its own generator
        (``random.Random(f'{BAND_DRAW_SEED}:{name}')``) draws from the space, and the k-th draw inside its band is
        ``random_band_{name}_{k}`` (rejection sampling: the band's randoms are uniform within the band). A rerun
        draws the same. More than ``BAND_TRIES`` draws for one net is an error naming its band.
        """
        if not self.s.band_min:
            return []
        folder = self.path('genotypes')
        names = [f'random_{k}' for k in range(1, self.s.random + 1)]
        names += sorted(f[:-5] for f in os.listdir(folder) if is_band(f) and f.endswith('.json'))
        flops = {n: genotype_flops(self.s, Genotype.load(os.path.join(folder, f'{n}.json'))) for n in names}
        for name in self.searched():
            target = genotype_flops(self.s, Genotype.load(os.path.join(folder, f'{name}.json')))
            inside = sum(abs(f - target) <= EQUAL_FLOPS * target for f in flops.values())
            rng, k, tries = random.Random(f'{BAND_DRAW_SEED}:{name}'), 0, 0
            while inside < self.s.band_min:
                if tries == BAND_TRIES:
                    raise ValueError(f'--band-min {self.s.band_min}: {inside} random(s) within +-{EQUAL_FLOPS:.0%} of '
                                     f'{name}\'s {target / 1e9:.3f} GFLOPs after {BAND_TRIES} draws from the space; '
                                     f'lower --band-min (0: no band randoms)')
                tries += 1
                drawn = random_genotype(rng, **self.space)
                cost = genotype_flops(self.s, drawn)
                if abs(cost - target) > EQUAL_FLOPS * target:
                    continue
                k += 1
                band = f'{BAND_PREFIX}{name}_{k}'
                if band not in flops:  # drawn in an earlier run: counted already
                    drawn.save(os.path.join(folder, f'{band}.json'))
                    flops[band] = cost
                    inside += 1
        self.results['band_randoms'] = {'band': EQUAL_FLOPS, 'min': self.s.band_min,
                                        'nets': sorted(n for n in flops if is_band(n))}
        files = {n: os.path.join(folder, f'{n}.json') for n in flops if is_band(n)}
        return [Job(n, 'train', make=lambda f=file: f) for n, file in files.items()]

    def seeds_of(self, name: str) -> int:
        """Training seeds of a net: ``--seeds`` for the searched nets, ``--random-seeds`` for the others."""
        return self.s.seeds if kind_of(name) == 'search' else self.s.random_seeds

    def variant(self, name: str, widths: tuple[int, ...] | None = None, cells: int | None = None) -> str:
        """A decomposition genotype: the found cells on ``widths``, or random cells number ``cells`` at the
        found widths. The searched path's entry is the found net itself (``None``: nothing to train)."""
        found = Genotype.load(self.path('genotypes', 'found.json'))
        if widths is not None:
            genotype = replace(found, widths=tuple(widths), search=None)
        else:
            rng = random.Random(CELLS_DRAW_SEED)
            for _ in range(cells):
                drawn = tuple(random_cell(rng, found.num_nodes, found.ops) for _ in range(found.num_layers))
            genotype = replace(found, cells=drawn, search=None)
        file = self.path('genotypes', f'{name}.json')
        genotype.save(file)
        return file

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        os.makedirs(self.s.out, exist_ok=True)
        if self.s.data == 'sample':
            ensure_sample_data(SAMPLE_ROOT)
        test_opt = write_options(self.path('options', 'test.yml'), test_options(self.s, prepare_test_sets(self.s)))
        jobs = self.jobs()
        trainings = [j for j in jobs if j.kind == 'train']
        done = self.results['genotypes']
        total = len({j.name for j in trainings} | set(done))
        more = [j.name for j in trainings if j.name in done]  # scored with fewer seeds than asked for now
        if len(trainings) < total or more:
            print(f'Resuming: {total - len(trainings)} of {total} genotypes already scored, skipped'
                  + (f'; {len(more)} get more seeds ({", ".join(more)})' if more else '') + '.', flush=True)
        self.schedule(jobs, test_opt)
        entries = self.results['genotypes']
        self.results['genotypes'] = {n: entries[n] for kind in KINDS for n in entries if kind_of(n) == kind}
        self.results['wall_seconds']['total_last_run'] = round(time.perf_counter() - started, 1)
        self.results['summary'] = summary(self.results)
        write_json(self.path(RESULTS), self.results)
        write_text(self.path(TABLE), markdown_table(self.results))
        atomic_write(self.path(PLOT), lambda tmp: plot_psnr_vs_flops(self.results, tmp))
        return self.results

    def record(self, name: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            return
        baseline = entry.pop('baseline')
        sets = list(baseline['psnr'])
        self.results['baseline'] = {'name': baseline['name'], 'psnr': baseline['psnr'][sets[0]],
                                    'ssim': baseline['ssim'][sets[0]], 'sets': baseline}
        self.results['genotypes'][name] = entry
        write_json(self.path(RESULTS), self.results)
        print(f'  {name}: PSNR {", ".join(f"{p:.3f}" for p in entry["psnr"])} dB, '
              f'{entry["flops"] / 1e9:.3f} GFLOPs, {entry["wall_seconds"]:.0f} s '
              f'({len(self.results["genotypes"])} scored)', flush=True)

    def schedule(self, jobs: list[Job], test_opt: str) -> None:
        """Run the jobs, at most ``--jobs`` at once (a search counts as one); trainings wait for their search."""
        searches_done = {j.name for j in jobs if j.kind == 'search' and os.path.isfile(
            self.path('genotypes', f'{j.name}.json'))}
        pending = [j for j in jobs if not (j.kind == 'search' and j.name in searches_done)]
        if self.given is not None:
            searches_done.add('found')

        def ready(job: Job) -> bool:
            return job.after is None or job.after in searches_done

        def prepare(job: Job) -> tuple[str, int] | None:
            genotype_file = job.make()
            if kind_of(job.name) == 'widths' and Genotype.load(genotype_file) == Genotype.load(
                    self.path('genotypes', 'found.json')):
                return None  # the searched path: its net is the found one (seed 0 of it is used)
            return genotype_file, self.seeds_of(job.name)

        banded = self.searched_known()  # the band randoms are among the jobs already

        def band_jobs() -> list[Job]:
            """The band randoms' trainings, once the last search is done."""
            nonlocal banded
            if banded or not self.searched_known():
                return []
            banded = True
            return self.to_do(self.band_jobs())

        if self.s.jobs <= 1:
            for job in pending:  # the band randoms are appended to the list while it is walked
                if job.kind == 'search':
                    job.run()
                    pending += band_jobs()
                    continue
                made = prepare(job)
                self.record(job.name, None if made is None else train_and_score(
                    self.s, job.name, made[0], test_opt, made[1], self.results['genotypes'].get(job.name)))
            return
        threads = futures.ThreadPoolExecutor(max_workers=max(1, sum(j.kind == 'search' for j in pending)))
        pool = training_pool(self.s.jobs)
        running: dict[futures.Future, Job] = {}
        searching = 0
        try:
            while pending or running:
                for job in [j for j in pending if ready(j)]:
                    if len(running) >= self.s.jobs or (job.kind == 'search' and searching):
                        continue  # one search at a time: they would share the experiments folder's names
                    pending.remove(job)
                    if job.kind == 'search':
                        running[threads.submit(job.run)] = job
                        searching += 1
                        continue
                    made = prepare(job)
                    if made is None:
                        continue
                    running[pool.submit(_train_job, self.s, job.name, made[0], test_opt, made[1],
                                        self.results['genotypes'].get(job.name))] = job
                if not running and not pending:
                    break  # the last ones needed no training (the searched width path)
                if not running:
                    raise RuntimeError(f'search-vs-random: jobs wait for a search that is not scheduled: '
                                       f'{[j.name for j in pending]}')
                done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    result = future.result()
                    if job.kind == 'search':
                        searching -= 1
                        searches_done.add(job.name)
                        pending += band_jobs()
                        write_json(self.path(RESULTS), self.results)
                    else:
                        self.record(job.name, result)
        finally:
            for future in running:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            threads.shutdown(wait=True)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values))


def rank_among(value: float, others: Sequence[float]) -> tuple[int, int]:
    """(rank, of): 1 + the number of ``others`` strictly better (higher), out of ``len(others) + 1``."""
    return 1 + sum(o > value for o in others), len(others) + 1


def randoms_near(entry: dict[str, Any], randoms: dict[str, dict[str, Any]], band: float) -> list[float]:
    """The mean PSNRs of the randoms whose FLOPs lie within +-``band`` of ``entry``'s."""
    return [_mean(r['psnr']) for r in band_of(entry, randoms, band)]


def band_of(entry: dict[str, Any], randoms: dict[str, dict[str, Any]], band: float) -> list[dict[str, Any]]:
    """The entries of the randoms whose FLOPs lie within +-``band`` of ``entry``'s."""
    return [r for r in randoms.values() if abs(r['flops'] - entry['flops']) <= band * entry['flops']]


def split_randoms(entries: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(every random, the uniform ones): the band randoms of ``--band-min`` count at equal FLOPs only, not in the
    randoms' spread, mean, median and overall ranks (they were drawn for a cost, not uniformly)."""
    randoms = {n: e for n, e in entries.items() if kind_of(n) == 'random'}
    return randoms, {n: e for n, e in randoms.items() if not is_band(n)}


def _tau_or_none(a: Sequence[float], b: Sequence[float]) -> float | None:
    """:func:`~hinas_basicsr.search.judge.kendall_tau`, or None for fewer than 3 pairs or a constant list."""

    tau = kendall_tau(a, b) if len(a) >= 3 else float('nan')
    return None if np.isnan(tau) else tau


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The run's figures beyond the table: spreads, the half/full tau, the decomposition's ranks."""
    entries = results['genotypes']
    randoms, uniform = split_randoms(entries)
    out: dict[str, Any] = {}
    means = [_mean(e['psnr']) for e in uniform.values()]
    out['random_spread_db'] = round(statistics.stdev(means), 4) if len(means) > 1 else None
    seed_stds = {n: statistics.stdev(e['psnr']) for n, e in entries.items() if len(e['psnr']) > 1}
    out['seed_spread_db'] = round(_mean(list(seed_stds.values())), 4) if seed_stds else None
    out['seed_spread_by_net'] = {n: round(v, 4) for n, v in seed_stds.items()}
    if out['random_spread_db'] and out['seed_spread_db'] is not None:
        out['seed_over_random_spread'] = round(out['seed_spread_db'] / out['random_spread_db'], 3)
    paired = [(e['psnr_half'][0], e['psnr'][0]) for e in entries.values() if e.get('psnr_half')]
    out['tau_half_vs_full'] = _tau_or_none([p[0] for p in paired], [p[1] for p in paired])
    out['tau_nets'] = len(paired)
    if out['tau_half_vs_full'] is not None:
        out['tau_half_vs_full_interval90'] = _rounded(tau_interval([p[0] for p in paired], [p[1] for p in paired])[1])
    if randoms:
        ranks, samples = {}, {}
        for name, e in entries.items():
            if kind_of(name) != 'search':
                continue
            near = band_of(e, randoms, EQUAL_FLOPS)
            near_means = [_mean(r['psnr']) for r in near]
            ranks[name] = {'psnr_mean': round(_mean(e['psnr']), 4), 'rank': list(rank_among(_mean(e['psnr']), means)),
                           'rank_equal_flops': list(rank_among(_mean(e['psnr']), near_means)),
                           'median_equal_flops_db': round(float(np.median(near_means)), 4) if near else None,
                           'randoms_equal_flops': len(near)}
            samples[name] = (e['psnr'], [r['psnr'] for r in near])
        out['searched_vs_randoms'] = {'equal_flops': EQUAL_FLOPS, 'nets': ranks}
        out['modes'] = search_modes(ranks, samples)
    if 'found' in entries:
        found = entries['found']
        if randoms:
            out['found_rank_among_randoms'] = list(rank_among(_mean(found['psnr']), means))
            out['random_median_db'] = round(float(np.median(means)), 4)
        seeds = decomposition_seeds(entries)
        widths = {n: _mean(e['psnr'][:seeds]) for n, e in entries.items() if kind_of(n) == 'widths'}
        if widths:
            found_path = 'widths_' + path_label(found['genotype']['widths'])
            widths[found_path] = _mean(found['psnr'][:seeds])
            others = [v for n, v in widths.items() if n != found_path]
            out['widths'] = {'searched_path': found_path, 'rank': list(rank_among(widths[found_path], others)),
                             'seeds': seeds, 'psnr_mean': {n: round(v, 4) for n, v in sorted(widths.items())}}
        cells = {n: _mean(e['psnr'][:seeds]) for n, e in entries.items() if kind_of(n) == 'cells'}
        if cells:
            found_cells = _mean(found['psnr'][:seeds])
            out['cells'] = {'rank': list(rank_among(found_cells, list(cells.values()))), 'seeds': seeds,
                            'found_psnr_mean': round(found_cells, 4),
                            'psnr_mean': {n: round(v, 4) for n, v in cells.items()}}
    return out


def decomposition_seeds(entries: dict[str, Any]) -> int:
    """The seeds the decomposition compares on: the fewest that the found net and every width-path and random-cells
    net were trained with (seeds 0..k-1 of each, so every net is scored on the same seeds)."""
    group = [e for n, e in entries.items() if n == 'found' or kind_of(n) in ('widths', 'cells')]
    return min((len(e['psnr']) for e in group), default=1)


def search_modes(ranks: dict[str, dict[str, Any]],
                 samples: dict[str, tuple[Sequence[float], Sequence[Sequence[float]]]]) -> dict[str, dict[str, Any]]:
    """The verdict per search mode (the searched nets grouped by :func:`mode_of`): a mode beats chance only if two or
    more searches (different seeds) all beat the median of the randoms within +-10% of their FLOPs, and the 90%
    bootstrap interval of its mean margin over that median lies above 0.

    ``samples``: per searched net, its seed PSNRs and those of each random within its band
    (:func:`hinas_basicsr.research.stats.margin_interval`: the randoms and the seeds resampled). A search with no
    random within the band beats nothing: it is compared at no equal cost, and its mode has no margin."""
    modes: dict[str, dict[str, Any]] = {}
    for name, r in ranks.items():
        m = modes.setdefault(mode_of(name), {'searches': [], 'beats_median_equal_flops': []})
        m['searches'].append(name)
        median = r['median_equal_flops_db']
        m['beats_median_equal_flops'].append(median is not None and r['psnr_mean'] > median)
    for m in modes.values():
        margin, interval = None, None
        if all(samples[n][1] for n in m['searches']):
            margin, interval = margin_interval([samples[n] for n in m['searches']])
        m['margin_db'], m['interval90_db'] = _rounded(margin), _rounded(interval)
        m['bootstrap'] = {'level': LEVEL, 'replicates': REPLICATES, 'seed': BOOTSTRAP_SEED}
        m['beats_chance'] = (len(m['searches']) >= 2 and all(m['beats_median_equal_flops'])
                             and interval is not None and interval[0] > 0)
    return modes


def _rounded(value: float | Sequence[float] | None) -> float | list[float] | None:
    if value is None:
        return None
    return round(float(value), 4) if np.ndim(value) == 0 else [round(float(v), 4) for v in value]


def _set_columns(entries: dict[str, Any]) -> list[str]:
    some = next(iter(entries.values()))
    return list(some.get('sets') or {}) or ['']


def markdown_table(results: dict[str, Any]) -> str:
    """Searched nets, the randoms' mean +- std, best and worst (one PSNR/SSIM pair per test set); the
    searched nets' ranks among the randoms; the decomposition, the spreads and the tau where measured."""
    s, entries = results['settings'], results['genotypes']
    randoms, uniform = split_randoms(entries)
    searched = {n: e for n, e in entries.items() if kind_of(n) == 'search'}
    metric = f'Y channel, crop {s["scale"]}' if s['task'] == 'sr' else f'gray, sigma {DENOISE_TEST_SIGMA}'
    some = next(iter(entries.values()))
    sets = _set_columns(entries)
    source = (f'the search ({s["search_iters"]} iterations)' if s.get('search_opt')
              else f'the given genotype {s.get("genotype")}')
    random_seeds = s.get('random_seeds', s['seeds'])
    band = (f' (and {len(randoms) - len(uniform)} drawn within +-{EQUAL_FLOPS:.0%} of a searched net\'s FLOPs, '
            f'counted at equal FLOPs only)') if len(randoms) > len(uniform) else ''
    lines = [f'{s["task"]} x{s["scale"]} on the {s.get("data", "sample")} data: {len(uniform)} random genotypes{band} '
             f'vs {source}; every net trained {s["train_iters"]} iterations, the searched nets with seeds '
             f'0..{s["seeds"] - 1}, the others with seeds 0..{random_seeds - 1}. PSNR (dB) / SSIM on held-out '
             f'photos ({metric}), mean +- std over seeds; FLOPs for one {some["flops_input"]} input.', '']
    header = ' | '.join(f'PSNR {n} | SSIM {n}' if n else 'PSNR | SSIM' for n in sets)
    lines += [f'| genotype | {header} | params | GFLOPs |', '|' + ' --- |' * (2 * len(sets) + 3)]

    def per_set(e: dict[str, Any], name: str) -> tuple[list[float], list[float]]:
        if name and e.get('sets'):
            return e['sets'][name]['psnr'], e['sets'][name]['ssim']
        return e['psnr'], e['ssim']

    def cells(psnr: Sequence[float], ssim: Sequence[float]) -> str:
        spread = f' +- {statistics.stdev(psnr):.3f}' if len(psnr) > 1 else ''
        return f'{_mean(psnr):.3f}{spread} | {_mean(ssim):.4f}'

    def row(label: str, e: dict[str, Any]) -> str:
        body = ' | '.join(cells(*per_set(e, n)) for n in sets)
        return f'| {label} | {body} | {e["params"]:,} | {e["flops"] / 1e9:.3f} |'

    for name, e in searched.items():
        lines.append(row(name, e))
    for label, group in (('random', uniform), ('band random', {n: e for n, e in randoms.items() if is_band(n)})):
        if not group:
            continue
        body = []
        for n in sets:
            body.append(cells([_mean(per_set(e, n)[0]) for e in group.values()],
                              [_mean(per_set(e, n)[1]) for e in group.values()]))
        lines.append(f'| {label} (mean +- std over {len(group)} nets) | {" | ".join(body)} | '
                     f'{_mean([e["params"] for e in group.values()]):,.0f} | '
                     f'{_mean([e["flops"] for e in group.values()]) / 1e9:.3f} |')
    if uniform:
        means = {n: _mean(e['psnr']) for n, e in uniform.items()}
        for label, name in (('best random', max(means, key=means.get)), ('worst random', min(means, key=means.get))):
            lines.append(row(f'{label} ({name})', uniform[name]))
    if results.get('baseline'):
        b = results['baseline']
        body = ' | '.join(f'{b["sets"]["psnr"][n]:.3f} | {b["sets"]["ssim"][n]:.4f}' if n and 'sets' in b
                          else f'{b["psnr"]:.3f} | {b["ssim"]:.4f}' for n in sets)
        lines.append(f'| {b["name"]} | {body} | 0 | 0 |')
    if randoms:
        lines += ['', '| searched net | rank among randoms (1 = best) | rank among randoms within +-25% of its FLOPs '
                  '| rank among randoms within +-10% of its FLOPs |', '| --- | --- | --- | --- |']
        for name, e in searched.items():
            overall = rank_among(_mean(e['psnr']), [_mean(r['psnr']) for r in uniform.values()])
            matched = [rank_among(_mean(e['psnr']), randoms_near(e, randoms, band))
                       for band in (FLOPS_MATCH, EQUAL_FLOPS)]
            lines.append(f'| {name} | {overall[0]} of {overall[1]} | '
                         + ' | '.join(f'{m[0]} of {m[1]}' for m in matched) + ' |')
    figures = results.get('summary') or summary(results)
    modes = (figures.get('modes') or {}) if randoms else {}
    if modes:
        lines += ['', 'Search modes (a mode beats chance when two or more searches, with different seeds, each beat '
                  f'the median of the randoms within +-{EQUAL_FLOPS:.0%} of its FLOPs, and the {LEVEL:.0%} bootstrap '
                  f'interval of the mean margin over that median, resampling the randoms and the seeds, lies above 0):',
                  '', f'| mode | searches | beat the median at equal FLOPs | mean margin (dB) | {LEVEL:.0%} interval '
                  '(dB) | beats chance |', '| --- | --- | --- | --- | --- | --- |']
        for mode, m in modes.items():
            beats = ', '.join('yes' if b else 'no' for b in m['beats_median_equal_flops'])
            margin, interval = m.get('margin_db'), m.get('interval90_db')
            lines.append(f'| {mode} | {len(m["searches"])} | {beats} | '
                         + (f'{margin:+.3f} | [{interval[0]:+.3f}, {interval[1]:+.3f}]' if interval else '- | -')
                         + f' | {"yes" if m["beats_chance"] else "no"} |')
    decomposition = [(n, e) for n, e in entries.items() if kind_of(n) in ('widths', 'cells')]
    if decomposition:
        seeds = decomposition_seeds(entries)
        label = 'seed 0' if seeds == 1 else f'mean of seeds 0..{seeds - 1}'
        lines += ['', f'Decomposition ({label} of each net, first test set):', '',
                  f'| net | cells | widths | PSNR ({label}) | GFLOPs |', '| --- | --- | --- | --- | --- |']
        found = entries.get('found')
        if found:
            lines.append(f'| found | found | {path_label(found["genotype"]["widths"])} | '
                         f'{_mean(found["psnr"][:seeds]):.3f} | {found["flops"] / 1e9:.3f} |')
        for n, e in decomposition:
            cell = 'found' if kind_of(n) == 'widths' else 'random'
            lines.append(f'| {n} | {cell} | {path_label(e["genotype"]["widths"])} | {_mean(e["psnr"][:seeds]):.3f} | '
                         f'{e["flops"] / 1e9:.3f} |')
    notes = []
    if figures.get('widths'):
        w = figures['widths']
        notes.append(f'searched width path {w["searched_path"][7:]}: rank {w["rank"][0]} of {w["rank"][1]} paths')
    if figures.get('cells'):
        c = figures['cells']
        notes.append(f'found cells: rank {c["rank"][0]} of {c["rank"][1]} against random cells at the found widths')
    if figures.get('seed_spread_db') is not None:
        notes.append(f'seed spread (std over seeds, mean over nets) {figures["seed_spread_db"]:.3f} dB')
    if figures.get('random_spread_db') is not None:
        notes.append(f'spread among randoms (std) {figures["random_spread_db"]:.3f} dB')
    if figures.get('tau_half_vs_full') is not None:
        interval = figures.get('tau_half_vs_full_interval90')
        notes.append(f'Kendall tau of the ranks at half and full training {figures["tau_half_vs_full"]:.3f} '
                     f'({figures["tau_nets"]} nets' + (f'; {LEVEL:.0%} bootstrap interval [{interval[0]:.3f}, '
                                                      f'{interval[1]:.3f}]' if interval else '') + ')')
    if notes:
        lines += [''] + [f'- {n}' for n in notes]
    return '\n'.join(lines) + '\n'


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats in both cost (lower x) and quality (higher y), by increasing x."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def far_below(value: float, limits: tuple[float, float]) -> bool:
    """Whether a horizontal line at ``value`` lies further below an axis's ``limits`` than they are apart: drawn, it
    would squash the plot's points into a band at its top (bicubic, 1.3 dB under nets 0.5 dB apart)."""
    low, high = limits
    return value < low - (high - low)


def plot_psnr_vs_flops(results: dict[str, Any], path: str) -> None:
    """Randoms as a scatter with their Pareto front, the searched nets and the decomposition marked;
    error bars: the std over seeds. PSNR of the first test set."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    s, entries = results['settings'], results['genotypes']
    fig, ax = plt.subplots(figsize=(6.4, 4.8))

    def points(group: Sequence[dict[str, Any]]) -> tuple[list[float], list[float], list[float]]:
        return ([e['flops'] / 1e9 for e in group], [_mean(e['psnr']) for e in group],
                [float(np.std(e['psnr'])) for e in group])

    randoms = [e for n, e in entries.items() if kind_of(n) == 'random' and not is_band(n)]
    band = [e for n, e in entries.items() if is_band(n)]
    if band:
        x, y, err = points(band)
        ax.errorbar(x, y, yerr=err, fmt='o', mfc='none', color='0.55', alpha=0.8, capsize=2,
                    label=f'random within +-{EQUAL_FLOPS:.0%} of a searched net\'s FLOPs ({len(band)})')
    if randoms:
        x, y, err = points(randoms)
        ax.errorbar(x, y, yerr=err, fmt='o', color='0.55', alpha=0.8, capsize=2, label=f'random ({len(randoms)})')
        front = pareto_front(list(zip(x, y)))
        ax.step([p[0] for p in front], [p[1] for p in front], where='post', color='0.2', linewidth=1.5, zorder=2.5,
                label='randoms\' Pareto front')
    for kind, marker, color, label in (('widths', 'v', 'tab:orange', 'found cells, other width path'),
                                       ('cells', 'x', 'tab:cyan', 'random cells, found widths')):
        group = [e for n, e in entries.items() if kind_of(n) == kind]
        if group:
            x, y, _ = points(group)
            ax.plot(x, y, marker, color=color, markersize=7, linestyle='none', label=f'{label} ({len(group)})')
    markers = {'found': ('*', 'tab:red', 16), 'tied_cells': ('s', 'tab:blue', 9),
               'no_cell_sharing': ('D', 'tab:green', 8)}
    # further search modes (remedies, --extra): a marker and colour of their own each, so the legend tells them
    # apart; the searches of one mode (NAME, NAME_search2, ...) share its marker, and the legend names the mode once
    others = iter([('^', 'tab:purple', 9), ('P', 'tab:brown', 10), ('p', 'tab:pink', 10), ('h', 'tab:olive', 10),
                   ('>', 'navy', 9), ('<', 'black', 9), ('d', 'tab:blue', 9), ('X', 'tab:green', 9)] * 4)
    modes: dict[str, list[str]] = {}
    for name in entries:
        if kind_of(name) == 'search':
            modes.setdefault(mode_of(name), []).append(name)
    for mode, names in modes.items():
        marker, color, size = markers.get(mode) or next(others)
        x, y, err = points([entries[n] for n in names])
        label = mode if len(names) == 1 else f'{mode} ({len(names)} searches)'
        ax.errorbar(x, y, yerr=err, fmt=marker, color=color, markersize=size, capsize=3, label=label, zorder=3)
    if results.get('baseline'):
        baseline = results['baseline']
        if far_below(baseline['psnr'], ax.get_ylim()):
            ax.plot([], [], ' ', label=f'{baseline["name"]}: {baseline["psnr"]:.2f} dB, below the axis')
        else:
            ax.axhline(baseline['psnr'], color='0.3', linestyle='--', linewidth=1, label=baseline['name'])
    first = next(iter(entries.values()))
    set_name = next(iter(first.get('sets') or {}), 'held-out photos')
    ax.set_xlabel(f'GFLOPs (input {first["flops_input"]})')
    ax.set_ylabel(f'PSNR (dB) on {set_name}, mean over seeds')
    source = f'search ({s["search_iters"]} it)' if s.get('search_opt') else 'given genotype'
    ax.set_title(f'{s["task"]} x{s["scale"]}, {s.get("data", "sample")} data: {source} vs random, '
                 f'{s["train_iters"]} training it', fontsize=10)
    ax.grid(alpha=0.3)
    # below the axes: inside, with a dozen nets in a narrow PSNR range, it hid some of them
    ax.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.12), ncols=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format='png', dpi=110, bbox_inches='tight')
    plt.close(fig)


PSNR_MATCH = 1e-3  # dB: --only's rerun matches a recorded PSNR when within this


def settings_of_run(results: dict[str, Any], out: str) -> Settings:
    """The settings a finished run recorded (its defaults for the settings it predates), with ``out``."""
    recorded = {**_SETTING_DEFAULTS, **results.get('settings', {})}
    fields = {k: recorded[k] for k in Settings.__dataclass_fields__ if k != 'out'}
    fields.update(tests=tuple(fields['tests']), extras=tuple(fields['extras'].items()),
                  remedies=tuple(fields['remedies']))
    return Settings(**fields, out=out)


def check_rerun(run: str, names: Sequence[str], out: str, tests: Sequence[str] = ()) -> tuple[dict[str, Any], Settings]:
    """Refuse a bad ``--from RUN --only NAME[,NAME...] --out NEW`` before anything is written: RUN without
    results.json, a NAME that is not one of its nets (or whose genotype file is gone), NEW the same folder as RUN
    or holding a results.json, a ``--test`` folder that is not one. Returns the run's results and the settings of
    the rerun (the run's, into NEW, with the new ``--test`` folders after the run's)."""
    recorded = os.path.join(run, RESULTS)
    if not os.path.isfile(recorded):
        raise FileNotFoundError(f'--from: {recorded} does not exist (not a finished search-vs-random run)')
    if os.path.abspath(out) == os.path.abspath(run) or (os.path.exists(out) and os.path.samefile(out, run)):
        raise ValueError(f'--out: {out} is the run given to --from; the rerun goes into a new folder')
    if os.path.exists(os.path.join(out, RESULTS)):
        raise ValueError(f'--out: {out} holds a results.json already; give a new folder')
    results = read_results(recorded, '--from', complete=True)
    if not names:
        raise ValueError('--only: expected NAME[,NAME...], the nets of the run to train again')
    for name in names:
        if name not in results.get('genotypes', {}):
            raise ValueError(f'--only: {name!r} is not a net of {run} (its nets: '
                             f'{", ".join(results.get("genotypes", {})) or "none"})')
        _check_entry(recorded, name, results['genotypes'][name])
        if not os.path.isfile(os.path.join(run, 'genotypes', f'{name}.json')):
            raise FileNotFoundError(f'--only {name}: {os.path.join(run, "genotypes", name + ".json")} does not exist')
    s = settings_of_run(results, out)
    s = replace(s, tests=(*s.tests, *(t for t in tests if t not in s.tests)))
    check_data(s)
    return results, s


def rerun_options(run: str, s: Settings, name: str, seed: int, genotype_file: str) -> tuple[str, bool]:
    """The option file of seed ``seed`` of ``name`` for the rerun, under NEW/options: the one the run recorded
    (``RUN/options/{name}_seed{seed}.yml``) with its genotype read from ``genotype_file``; where the run recorded
    none, today's recipe (:func:`training_options`). Returns the file and whether it was the run's."""
    run_name = f'{name}_seed{seed}'
    source = os.path.join(run, 'options', f'{run_name}.yml')
    if os.path.isfile(source):
        opt = load_yaml(source)
        opt['network_g']['genotype'] = os.path.abspath(genotype_file)
    else:
        opt = training_options(s, run_name, genotype_file, seed)
    return write_options(os.path.join(s.out, 'options', f'{run_name}.yml'), opt), os.path.isfile(source)


def _short(commit: dict[str, Any] | None) -> str:
    if not commit:
        return 'unknown'
    return commit['commit'][:10] + (' (with uncommitted changes)' if commit.get('dirty') else '')


def rerun_nets(run: str, names: Sequence[str], out: str, tests: Sequence[str] = ()) -> dict[str, Any]:
    """``hinas search-vs-random --from RUN --only NAME[,NAME...] --out NEW``: train those nets of a finished run
    again (its genotype files, seeds and recorded option files; one thread per training where the run trained
    with ``--jobs`` > 1, as it did), score them on the run's test sets and the new ``--test`` ones, and check
    every seed's PSNR against the recorded one (a match: within ``PSNR_MATCH`` dB on every recorded set).

    Writes NEW/results.json (the new entries, the checks, ``all_match``) and prints a line per net, seed and set.
    """
    results, s = check_rerun(run, names, out, tests)
    names = list(dict.fromkeys(names))
    os.makedirs(out, exist_ok=True)
    test_opt = write_options(os.path.join(out, 'options', 'test.yml'), test_options(s, prepare_test_sets(s)))
    now = code_commit()
    work = {}
    for name in names:
        genotype_file = os.path.join(out, 'genotypes', f'{name}.json')
        os.makedirs(os.path.dirname(genotype_file), exist_ok=True)
        shutil.copyfile(os.path.join(run, 'genotypes', f'{name}.json'), genotype_file)
        made = [rerun_options(run, s, name, seed, genotype_file)
                for seed in range(len(results['genotypes'][name]['psnr']))]
        work[name] = (genotype_file, [m[0] for m in made], all(m[1] for m in made))
    entries: dict[str, Any] = {}
    if s.jobs > 1:  # the run trained each net in a process of its own with one thread
        with training_pool(min(s.jobs, len(names))) as pool:
            running = {name: pool.submit(_train_job, s, name, g, test_opt, len(o), None, o)
                       for name, (g, o, _) in work.items()}
            entries = {name: future.result() for name, future in running.items()}
    else:
        entries = {name: train_and_score(s, name, g, test_opt, len(o), options=o) for name, (g, o, _) in work.items()}
    checks, baseline = [], None
    for name, entry in entries.items():
        baseline = entry.pop('baseline')
        recorded = results['genotypes'][name]
        entry['search_iterations'] = recorded.get('search_iterations')  # the run's search, not run again
        old_sets = recorded.get('sets') or {next(iter(entry['sets'])): {'psnr': recorded['psnr']}}
        old_commits = recorded.get('commits') or []
        for seed in range(len(entry['psnr'])):
            for set_name, scores in entry['sets'].items():
                was = old_sets[set_name]['psnr'][seed] if set_name in old_sets else None
                psnr = scores['psnr'][seed]
                checks.append({'net': name, 'seed': seed, 'set': set_name, 'recorded_psnr': was, 'psnr': psnr,
                               'match': None if was is None else bool(abs(psnr - was) <= PSNR_MATCH + 1e-9),
                               'recorded_options': work[name][2],
                               'recorded_commit': old_commits[seed] if seed < len(old_commits) else None,
                               'commit': entry['commits'][seed]})
    all_match = all(c['match'] is not False for c in checks)
    report = {'rerun_of': run, 'only': names, 'settings': s.as_dict(), 'commit': now,
              'threads': 1 if s.jobs > 1 else torch.get_num_threads(), 'psnr_match_db': PSNR_MATCH,
              'checks': checks, 'all_match': all_match, 'baseline': baseline, 'genotypes': entries}
    write_json(os.path.join(out, RESULTS), report)
    for c in checks:
        if c['match'] is None:
            verdict = f'now {c["psnr"]:.4f} dB (a set the run did not score)'
        else:
            verdict = (f'recorded {c["recorded_psnr"]:.4f} dB, now {c["psnr"]:.4f} dB: '
                       + ('match' if c['match'] else f'MISMATCH ({c["psnr"] - c["recorded_psnr"]:+.4f} dB)'))
        print(f'{c["net"]} seed {c["seed"]} on {c["set"]}: {verdict}; commit recorded {_short(c["recorded_commit"])}, '
              f'now {_short(c["commit"])}' + ('' if c['recorded_options'] else
                                               "; the run recorded no option file: today's recipe"), flush=True)
    print(f'{"All match" if all_match else "MISMATCH"}: {sum(c["match"] is True for c in checks)} of '
          f'{sum(c["match"] is not None for c in checks)} recorded PSNRs within {PSNR_MATCH} dB '
          f'({out}/{RESULTS})', flush=True)
    return report


def run_benchmark(settings: Settings) -> dict[str, Any]:
    """Check the arguments (nothing written if they are wrong), then run or resume the benchmark."""
    given = check_settings(settings)
    return Benchmark(settings, given).run()


__all__ = ['Settings', 'check_rerun', 'check_settings', 'code_commit', 'genotype_flops', 'markdown_table', 'mode_of',
           'pareto_front', 'plot_psnr_vs_flops', 'rank_among', 'remedy_overrides', 'rerun_nets', 'run_benchmark',
           'search_modes', 'search_options', 'search_space', 'summary', 'training_options', 'test_options']
