"""The whole story on a CPU in minutes: sample data, a short x2 search, two equal-time trainings, a comparison.

1. builds the embedded sample data from ``skimage.data`` photos (``datasets/sample``);
2. runs the short x2 search of ``options/demo/search_sr_x2.yml`` through BasicSR's train pipeline;
   its best genotype is ``experiments/<name>/genotypes/best.json``;
3. trains the found net (HiNASNet, F = 16) and an EDSR-baseline (64 features, 16 blocks) for the
   SAME wall-clock budget each: BasicSR's own dataset, dataloader and SRModel, stepped until the
   budget runs out (the time to build them is not counted), then saved;
4. compares both with bicubic on the held-out SampleTest photos (:func:`hinas_basicsr.tools.compare.compare`)
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
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import cv2
import numpy as np
import torch
from tqdm import tqdm

from hinas_basicsr.tools.compare import (
    BICUBIC,
    IMAGE_SUFFIXES,
    ModelSpec,
    bicubic,
    compare,
    markdown_table,
    to_image,
    to_tensor,
)
from hinas_basicsr.tools.networks import default_device, load_network
from hinas_basicsr.tools.runners import search_genotype, train_for_budget
from hinas_basicsr.tools.sample_data import ensure_sample_data
from hinas_basicsr.utils.fileio import atomic_write
from hinas_basicsr.utils.options_file import load_yaml

SAMPLE_ROOT = 'datasets/sample'
SEARCH_OPT = 'options/demo/search_sr_x2.yml'
HINAS_OPT = 'options/demo/train_hinas_sr_x2.yml'
EDSR_OPT = 'options/demo/train_edsr_x2.yml'
TEST_OPT = 'options/demo/test_sr_x2.yml'
DEMO_LOG = 'demo.log'
SIDE_BY_SIDE = 'side_by_side.png'
GROUND_TRUTH = 'ground truth'
DISPLAY_NAMES = {BICUBIC: 'bicubic', 'hinas': 'HiNAS', 'edsr_baseline': 'EDSR-baseline'}


def run_demo(out_dir: str = 'results/demo', budget_s: float = 240., genotype: str | None = None,
             search_opt: str = SEARCH_OPT, latency_runs: int = 5, threads: int | None = None) -> list[dict[str, Any]]:
    """Run the five steps; return the comparison rows (also in ``out_dir/compare.csv``).

    ``threads`` sets ``torch.set_num_threads`` for the whole run (None: PyTorch's default).
    """

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

