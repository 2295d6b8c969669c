"""The whole story on a CPU in minutes: sample data, a short x2 search, two equal-time trainings, a comparison.

1. builds the embedded sample data from ``skimage.data`` photos (``datasets/sample``);
2. runs the short x2 search of ``options/demo/search_sr_x2.yml`` through BasicSR's train pipeline;
   its best genotype is ``experiments/<name>/genotypes/best.json``;
3. trains the found net (HiNASNet, F = 16) and an EDSR-baseline (64 features, 16 blocks) for the
   SAME wall-clock budget each: BasicSR's own dataset, dataloader and SRModel, stepped until the
   budget runs out (the time to build them is not counted), then saved;
4. compares both with bicubic on the held-out SampleTest photos (:func:`hinas_basicsr.compare.compare`)
   and draws the same crop of each photo by every method (``side_by_side.png``);
5. prints the table and where the files are.

The terminal shows one progress bar over the whole run (its steps are about seconds: one per search
iteration, one per training second); what BasicSR prints (its logger, the LMDB messages, the search's
output) goes to ``<out>/demo.log``.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import cv2
import numpy as np
import torch
from tqdm import tqdm

from hinas_basicsr.compare import (
    BICUBIC,
    IMAGE_SUFFIXES,
    ModelSpec,
    bicubic,
    compare,
    markdown_table,
    to_image,
    to_tensor,
)
from hinas_basicsr.compat import resolve_num_gpu
from hinas_basicsr.networks import default_device, load_network
from hinas_basicsr.options_check import load_yaml

SAMPLE_ROOT = 'datasets/sample'
SEARCH_OPT = 'options/demo/search_sr_x2.yml'
HINAS_OPT = 'options/demo/train_hinas_sr_x2.yml'
EDSR_OPT = 'options/demo/train_edsr_x2.yml'
TEST_OPT = 'options/demo/test_sr_x2.yml'
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_LOG = 'demo.log'
SIDE_BY_SIDE = 'side_by_side.png'
GROUND_TRUTH = 'ground truth'
DISPLAY_NAMES = {BICUBIC: 'bicubic', 'hinas': 'HiNAS', 'edsr_baseline': 'EDSR-baseline'}
# A training line of BasicSR's MessageLogger: "[demo_..][epoch:  0, iter:      10, lr:(...".
ITERATION = re.compile(r'\[epoch:\s*\d+, iter:\s*([\d,]+)')


@dataclass(frozen=True)
class TrainResult:
    """What a budgeted training produced: the checkpoint, its option file and the iterations done."""

    checkpoint: str
    option: str
    iterations: int
    seconds: float


def search_genotype(search_opt: str = SEARCH_OPT, threads: int | None = None, log: TextIO | None = None,
                    on_iteration: Callable[[int], None] | None = None) -> str:
    """Run the search options through ``basicsr train``; return the path of its best genotype.

    The search runs in a child process: its LMDB environments stay open for the process's lifetime
    (shared by the W, A and val splits), and LMDB refuses to open them again for the trainings.
    Its output goes to ``log`` (default: this process's stdout); ``on_iteration`` gets the iteration
    of every training line it logs.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_REPO, os.environ.get('PYTHONPATH')])),
               PYTHONUNBUFFERED='1')
    if threads is not None:
        env['OMP_NUM_THREADS'] = str(threads)
    log = log or sys.stdout
    with subprocess.Popen([sys.executable, '-m', 'hinas_basicsr.cli', 'train', '-opt', search_opt], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors='replace') as child:
        for line in child.stdout:
            log.write(line)
            match = ITERATION.search(line)
            if match and on_iteration:
                on_iteration(int(match.group(1).replace(',', '')))
    if child.returncode:
        raise ValueError(f'{search_opt}: the search failed (its output is in {getattr(log, "name", "the log")})')
    best = os.path.join('experiments', load_yaml(search_opt)['name'], 'genotypes', 'best.json')
    if not os.path.isfile(best):
        raise FileNotFoundError(f'{search_opt}: the search wrote no genotype at {best}')
    return best


def _training_options(option: str, root: str, network_overrides: dict[str, Any]) -> dict[str, Any]:
    """The option file as BasicSR's ``parse_options`` would prepare it, with its files under ``root``."""
    opt = load_yaml(option)
    opt['network_g'].update(network_overrides)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    opt['num_gpu'] = resolve_num_gpu(opt['num_gpu'], dist=False)[0]  # auto: one GPU, as the search
    for phase, dataset in opt['datasets'].items():
        dataset.update(phase=phase.split('_')[0], scale=opt['scale'])
    opt['path'].update(experiments_root=root, models=os.path.join(root, 'models'), log=root,
                       training_states=os.path.join(root, 'training_states'),
                       visualization=os.path.join(root, 'visualization'))
    return opt


def train_for_budget(option: str, budget_s: float, out_dir: str, network_overrides: dict[str, Any] | None = None,
                     on_progress: Callable[[float], None] | None = None, max_iters: int | None = None) -> TrainResult:
    """Train ``network_g`` of ``option`` with BasicSR's SRModel for ``budget_s`` seconds; save ``net_g_latest.pth``.

    The budget counts data loading and optimisation steps, not building the dataset and model. The
    learning rate follows a cosine from ``optim_g.lr`` to 0 over the wall-clock budget (the option
    file's ``scheduler``, counted in iterations, is not used: the iterations a budget buys vary by machine).
    With ``max_iters``, training also stops after that many iterations, and the cosine runs over
    whichever budget is spent faster (``budget_s = inf``: an iteration budget).
    The option file (with the overrides) is written beside the checkpoint, for ``hinas compare``.
    ``on_progress`` gets the seconds spent after every step.
    """
    import yaml
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model
    from basicsr.utils import set_random_seed

    overrides = dict(network_overrides or {})
    name = load_yaml(option)['name']
    root = os.path.join(out_dir, 'train', name)
    opt = _training_options(option, root, overrides)
    os.makedirs(opt['path']['models'], exist_ok=True)
    set_random_seed(opt.get('manual_seed') or 0)
    train_opt = opt['datasets']['train']
    loader = build_dataloader(build_dataset(train_opt), train_opt, num_gpu=opt['num_gpu'], dist=False, sampler=None,
                              seed=opt.get('manual_seed'))
    model = build_model(opt)
    base_lrs = [[group['lr'] for group in optimizer.param_groups] for optimizer in model.optimizers]
    iterations, start = 0, time.perf_counter()

    def spent() -> float:
        return max((time.perf_counter() - start) / budget_s, iterations / max_iters if max_iters else 0.)

    while spent() < 1:
        for batch in loader:
            fraction = spent()
            if fraction >= 1:
                break
            iterations += 1
            set_budget_lr(model.optimizers, base_lrs, fraction)
            model.feed_data(batch)
            model.optimize_parameters(iterations)
            if on_progress:
                on_progress(time.perf_counter() - start)
    seconds = time.perf_counter() - start
    model.save(-1, -1)
    saved_opt = load_yaml(option)
    saved_opt['network_g'].update(overrides)
    saved_opt_path = os.path.join(root, f'{name}.yml')
    with open(saved_opt_path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(_plain(saved_opt), f, sort_keys=False)
    return TrainResult(os.path.join(opt['path']['models'], 'net_g_latest.pth'), saved_opt_path, iterations, seconds)


def budget_cosine(base_lr: float, fraction: float) -> float:
    """Cosine decay from ``base_lr`` at the start of the budget to 0 at its end (``fraction`` of it spent)."""
    return 0.5 * base_lr * (1. + math.cos(math.pi * min(max(fraction, 0.), 1.)))


def set_budget_lr(optimizers: list[torch.optim.Optimizer], base_lrs: list[list[float]], fraction: float) -> None:
    """Set every parameter group's learning rate to :func:`budget_cosine` of its initial one."""
    for optimizer, lrs in zip(optimizers, base_lrs):
        for group, lr in zip(optimizer.param_groups, lrs):
            group['lr'] = budget_cosine(lr, fraction)


def _plain(value: Any) -> Any:
    """OrderedDicts (BasicSR's YAML loader) -> dicts, for a plain YAML dump."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_demo(out_dir: str = 'results/demo', budget_s: float = 240., genotype: str | None = None,
             search_opt: str = SEARCH_OPT, latency_runs: int = 5, threads: int | None = None) -> list[dict[str, Any]]:
    """Run the five steps; return the comparison rows (also in ``out_dir/compare.csv``).

    ``threads`` sets ``torch.set_num_threads`` for the whole run (None: PyTorch's default).
    """
    from hinas_basicsr.data.sample import ensure_sample_data

    if threads is not None:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    terminal = sys.stdout
    stages = {'sample data': 5., 'search': 0. if genotype else float(load_yaml(search_opt)['train']['total_iter']),
              'training hinas': budget_s, 'training edsr_baseline': budget_s, 'comparing': 15.}
    log_path = os.path.join(out_dir, DEMO_LOG)
    with RunProgress(stages) as progress, quiet_basicsr(log_path) as log:
        def say(message: str) -> None:
            progress.write(message, terminal)

        say(f'[1/5] sample data in {SAMPLE_ROOT} (BasicSR messages: {log_path})')
        ensure_sample_data(SAMPLE_ROOT)
        progress.update('sample data', stages['sample data'])
        if genotype is None:
            say(f'[2/5] short x2 search: basicsr train -opt {search_opt}')
            genotype = search_genotype(search_opt, threads, log, lambda it: progress.update('search', it))
        else:
            say(f'[2/5] search skipped: genotype {genotype}')
        say(f'[3/5] training the found net and an EDSR-baseline, {budget_s:.0f} s each')
        trained = {}
        hinas_overrides = {'genotype': genotype, 'upscale': load_yaml(HINAS_OPT)['scale']}  # any SR genotype at x2
        for name, option, overrides in (('hinas', HINAS_OPT, hinas_overrides), ('edsr_baseline', EDSR_OPT, {})):
            stage = f'training {name}'
            trained[name] = train_for_budget(option, budget_s, out_dir, overrides,
                                             lambda seconds, stage=stage: progress.update(stage, seconds))
            say(f'      {name}: {trained[name].iterations} iterations in {trained[name].seconds:.0f} s')
        say(f'[4/5] comparing on the held-out photos of {TEST_OPT}')
        rows = compare([ModelSpec(n, r.option, r.checkpoint) for n, r in trained.items()], TEST_OPT, out_dir,
                       latency_runs=latency_runs)
        pictures = os.path.join(out_dir, SIDE_BY_SIDE)
        save_side_by_side(demo_photos({n: (r.option, r.checkpoint) for n, r in trained.items()}, TEST_OPT), pictures,
                          caption='x2, the same crop of each held-out photo; PSNR (Y, crop 2) of the whole photo')
        progress.update('comparing', stages['comparing'])
    print('[5/5] results\n')
    print(markdown_table(rows, 'sr', 2))
    gain = _psnr(rows, 'hinas') - _psnr(rows, BICUBIC)
    print(f'Found net vs bicubic: {gain:+.2f} dB PSNR (Y, crop 2) on photos neither net nor the search saw.')
    print(f'Both nets trained {budget_s:.0f} s each (wall clock, same recipe); params and FLOPs are in the table: '
          'under an equal CPU budget the net with fewer FLOPs takes more steps.')
    print('\nFiles:')
    for what, path in (('comparison', f'{out_dir}/compare.csv'), ('table', f'{out_dir}/compare.md'),
                       ('plot', f'{out_dir}/psnr_vs_flops.png'), ('pictures', pictures), ('genotype', genotype),
                       ('BasicSR log', log_path),
                       *((f'{n} checkpoint', r.checkpoint) for n, r in trained.items()),
                       *((f'{n} options', r.option) for n, r in trained.items())):
        print(f'  {what:<24} {path}')
    print(f'Wall time {time.perf_counter() - started:.0f} s.')
    return rows


class RunProgress:
    """One progress bar over consecutive stages; each stage has a size in steps and reports its own progress.

    Args:
        stages (dict[str, float]): Stage names and sizes, in order (a size 0 stage is skipped).
    """

    def __init__(self, stages: Mapping[str, float]) -> None:
        self.sizes = dict(stages)
        self.starts = dict(zip(stages, itertools.accumulate(stages.values(), initial=0.)))
        self.bar = tqdm(total=round(sum(stages.values())), desc='demo', unit='step', dynamic_ncols=True,
                        bar_format='{desc}: {percentage:3.0f}%|{bar}| {elapsed} elapsed, {remaining} left')
        self._shown = 0.

    def update(self, stage: str, done: float) -> None:
        """``done`` of the stage's size is complete (the bar is redrawn at most twice a second)."""
        self.bar.n = round(self.starts[stage] + min(max(done, 0.), self.sizes[stage]))
        self.bar.set_description_str(stage, refresh=False)
        if time.monotonic() - self._shown > 0.5 or done >= self.sizes[stage]:
            self._shown = time.monotonic()
            self.bar.refresh()

    def write(self, message: str, file: TextIO) -> None:
        self.bar.write(message, file=file)

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


@contextlib.contextmanager
def quiet_basicsr(log_path: str) -> Iterator[TextIO]:
    """Send BasicSR's console logging and anything printed (its LMDB messages) to ``log_path`` meanwhile."""
    from basicsr.utils import get_root_logger

    logger = get_root_logger()  # initialised now, so that a later call adds no console handler
    consoles = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    with open(log_path, 'a', encoding='utf-8') as log:
        to_log = logging.StreamHandler(log)
        to_log.setFormatter(logging.Formatter('%(asctime)s %(levelname)s: %(message)s'))
        for handler in consoles:
            logger.removeHandler(handler)
        logger.addHandler(to_log)
        try:
            with contextlib.redirect_stdout(log):
                yield log
        finally:
            logger.removeHandler(to_log)
            for handler in consoles:
                logger.addHandler(handler)


@dataclass(frozen=True)
class PhotoRow:
    """One held-out photo for the side-by-side figure: HR-sized BGR images by method, and their PSNR.

    The ground truth is the last image; it has no PSNR.
    """

    name: str
    images: dict[str, np.ndarray]
    psnr: dict[str, float]


def demo_photos(models: Mapping[str, tuple[str, str]], test_opt: str = TEST_OPT,
                device: torch.device | None = None) -> list[PhotoRow]:
    """Bicubic, each model (name -> (option, checkpoint)) and the ground truth on the held-out photos.

    The photos are the image files of the first dataset of ``test_opt`` (``dataroot_gt``, and the LR
    files of the same names in ``dataroot_lq``); PSNR is BasicSR's, on Y with ``scale`` pixels cropped,
    as in the table.
    """
    from basicsr.metrics import calculate_psnr

    device = device or default_device()
    opt = load_yaml(test_opt)
    scale = int(opt['scale'])
    dataset = next(iter(opt['datasets'].values()))
    nets = {name: load_network(option, checkpoint, device) for name, (option, checkpoint) in models.items()}
    photos = []
    for file in sorted(f for f in os.listdir(dataset['dataroot_gt']) if f.lower().endswith(IMAGE_SUFFIXES)):
        gt = cv2.imread(os.path.join(dataset['dataroot_gt'], file), cv2.IMREAD_COLOR)
        lq = cv2.imread(os.path.join(dataset['dataroot_lq'], file), cv2.IMREAD_COLOR).astype(np.float32) / 255.
        images = {DISPLAY_NAMES[BICUBIC]: np.round(bicubic(lq, scale) * 255.).astype(np.uint8)}
        with torch.no_grad():
            for name, net in nets.items():
                images[DISPLAY_NAMES.get(name, name)] = to_image(net(to_tensor(lq, device)))
        psnr = {method: float(calculate_psnr(img, gt, scale, test_y_channel=True)) for method, img in images.items()}
        photos.append(PhotoRow(os.path.splitext(file)[0], {**images, GROUND_TRUTH: gt}, psnr))
    return photos


def detail_crop(image: np.ndarray, size: int) -> tuple[slice, slice]:
    """The ``size x size`` window (on a half-size grid) with the most detail (gray standard deviation)."""
    gray = image.mean(axis=2) if image.ndim == 3 else image
    height, width = gray.shape
    size = min(size, height, width)
    step = max(size // 2, 1)
    tops = sorted({*range(0, height - size + 1, step), height - size})
    lefts = sorted({*range(0, width - size + 1, step), width - size})
    top, left = max(itertools.product(tops, lefts), key=lambda p: gray[p[0]:p[0] + size, p[1]:p[1] + size].std())
    return slice(top, top + size), slice(left, left + size)


def save_side_by_side(photos: Sequence[PhotoRow], path: str, crop: int = 96, caption: str = '') -> None:
    """Rows = photos, columns = methods: the same crop of each (chosen on the ground truth), PSNR below it."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    from hinas_basicsr.fileio import atomic_write

    methods = list(photos[0].images)
    fig, axes = plt.subplots(len(photos), len(methods), figsize=(2.3 * len(methods), 2.5 * len(photos) + 0.5),
                             squeeze=False)
    for row, photo in zip(axes, photos):
        window = detail_crop(photo.images[GROUND_TRUTH], crop)
        for ax, method in zip(row, methods):
            img = photo.images[method][window]
            ax.imshow(img[..., ::-1] if img.ndim == 3 and img.shape[2] == 3 else img.squeeze(), cmap='gray',
                      vmin=0, vmax=255, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f'PSNR {photo.psnr[method]:.2f} dB' if method in photo.psnr else 'reference', fontsize=10)
            if ax is row[0]:
                ax.set_ylabel(photo.name, fontsize=10)
        for ax, method in zip(axes[0], methods):
            ax.set_title(method, fontsize=11)
    fig.suptitle(caption or f'The same {crop}x{crop} crop of each held-out photo; PSNR of the whole photo',
                 fontsize=10)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))
    finally:
        plt.close(fig)


def _psnr(rows: list[dict[str, Any]], model: str) -> float:
    mine = [r['psnr'] for r in rows if r['model'] == model]
    return sum(mine) / len(mine)

