"""The whole story on a CPU in minutes: sample data, a short search, two equal-time trainings, a comparison.

One code path serves both tasks (:data:`TASKS`): super-resolution (x2, the default) and gray denoising at
sigma 50 (``task='denoise'``).

1. builds the embedded sample data from ``skimage.data`` photos (``datasets/sample``);
2. runs the task's short search (``options/demo/search_sr_x2.yml`` or ``search_denoise.yml``) through
   BasicSR's train pipeline; its best genotype is ``experiments/<name>/genotypes/best.json``;
3. trains the found net (HiNASNet, F = 16) and the field's baseline (an EDSR-baseline of 64 features and 16
   blocks for SR, DnCNN-S for denoising) for the SAME wall-clock budget each: BasicSR's own dataset,
   dataloader and SRModel, stepped until the budget runs out (the time to build them is not counted), then
   saved;
4. compares both with the references (bicubic for SR; the noisy input and, with the ``bm3d`` extra, BM3D for
   denoising) on held-out photos (:func:`hinas_basicsr.tools.compare.compare`) and draws the same crop of
   each photo by every method (``side_by_side.png``);
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import torch
from tqdm import tqdm

from hinas_basicsr.tools.compare import (
    BICUBIC,
    BM3D,
    NOISY,
    ModelSpec,
    bicubic_tensor,
    bm3d_tensor,
    compare,
    load_test_sets,
    markdown_table,
    score,
    to_image,
)
from hinas_basicsr.tools.networks import default_device, load_network
from hinas_basicsr.tools.runners import search_genotype, train_for_budget
from hinas_basicsr.tools.sample_data import ensure_sample_data
from hinas_basicsr.utils.fileio import atomic_write
from hinas_basicsr.utils.options_file import load_yaml

SAMPLE_ROOT = 'datasets/sample'
DEMO_LOG = 'demo.log'
SIDE_BY_SIDE = 'side_by_side.png'
DISPLAY_NAMES = {BICUBIC: 'bicubic', NOISY: 'noisy', BM3D: 'BM3D', 'hinas': 'HiNAS', 'edsr_baseline': 'EDSR-baseline',
                 'dncnn': 'DnCNN'}


@dataclass(frozen=True)
class DemoTask:
    """What the demo runs for one task; everything else is one code path.

    Args:
        task (str): ``sr`` or ``denoise`` (the genotype's task).
        what (str): The task in a few words, for the messages.
        search_opt (str): The short search.
        found_opt (str): Training options of the found net (its genotype is replaced by the search's).
        baseline (str): Name of the baseline's row (a key of ``DISPLAY_NAMES``).
        baseline_opt (str): Training options of the baseline.
        test_opt (str): The held-out photos.
        reference (str): The row the found net's gain is measured from.
        metric (str): How PSNR is computed, for the messages.
        clean (str): Title of the pictures' last column.
        budget_s (float): Default training seconds of each net.
        compare_s (float): Steps of the progress bar for the comparison.
    """

    task: str
    what: str
    search_opt: str
    found_opt: str
    baseline: str
    baseline_opt: str
    test_opt: str
    reference: str
    metric: str
    clean: str
    budget_s: float
    compare_s: float

    def found_overrides(self, genotype: str) -> dict[str, Any]:
        """``network_g`` of the found net: the searched genotype (an SR genotype built at the demo's scale)."""
        scale = load_yaml(self.found_opt)['scale']
        return {'genotype': genotype, **({'upscale': scale} if self.task == 'sr' else {})}


TASKS = {
    'sr': DemoTask('sr', 'x2', 'options/demo/search_sr_x2.yml', 'options/demo/train_hinas_sr_x2.yml',
                   'edsr_baseline', 'options/demo/train_edsr_x2.yml', 'options/demo/test_sr_x2.yml', BICUBIC,
                   'Y, crop 2', 'ground truth', 240., 15.),
    'denoise': DemoTask('denoise', 'gray denoising, sigma 50', 'options/demo/search_denoise.yml',
                        'options/demo/train_hinas_denoise_sigma50.yml', 'dncnn', 'options/demo/train_dncnn_sigma50.yml',
                        'options/demo/test_denoise_sigma50.yml', NOISY, 'no crop', 'clean', 180., 60.),
}
SEARCH_OPT, TEST_OPT = TASKS['sr'].search_opt, TASKS['sr'].test_opt
HINAS_OPT, EDSR_OPT = TASKS['sr'].found_opt, TASKS['sr'].baseline_opt
GROUND_TRUTH = TASKS['sr'].clean


def run_demo(out_dir: str = 'results/demo', budget_s: float | None = None, genotype: str | None = None,
             search_opt: str | None = None, latency_runs: int = 5, threads: int | None = None,
             task: str = 'sr') -> list[dict[str, Any]]:
    """Run the five steps for ``task`` (a key of :data:`TASKS`); return the comparison rows (also in
    ``out_dir/compare.csv``).

    ``budget_s`` and ``search_opt`` default to the task's. ``threads`` sets ``torch.set_num_threads`` for the
    whole run (None: PyTorch's default).
    """
    demo = TASKS[task]
    budget_s = demo.budget_s if budget_s is None else budget_s
    search_opt = search_opt or demo.search_opt
    if threads is not None:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    terminal = sys.stdout
    stages = {'sample data': 5., 'search': 0. if genotype else float(load_yaml(search_opt)['train']['total_iter']),
              'training hinas': budget_s, f'training {demo.baseline}': budget_s, 'comparing': demo.compare_s}
    log_path = os.path.join(out_dir, DEMO_LOG)
    baseline = DISPLAY_NAMES[demo.baseline]
    with RunProgress(stages) as progress, quiet_basicsr(log_path) as log:
        def say(message: str) -> None:
            progress.write(message, terminal)

        say(f'[1/5] sample data in {SAMPLE_ROOT} (BasicSR messages: {log_path})')
        ensure_sample_data(SAMPLE_ROOT)
        progress.update('sample data', stages['sample data'])
        if genotype is None:
            say(f'[2/5] short search ({demo.what}): basicsr train -opt {search_opt}')
            genotype = search_genotype(search_opt, threads, log, lambda it: progress.update('search', it))
        else:
            say(f'[2/5] search skipped: genotype {genotype}')
        say(f'[3/5] training the found net and {"an" if baseline[0] in "AEIOU" else "a"} {baseline}, '
            f'{budget_s:.0f} s each')
        trained = {}
        for name, option, overrides in (('hinas', demo.found_opt, demo.found_overrides(genotype)),
                                        (demo.baseline, demo.baseline_opt, {})):
            stage = f'training {name}'
            trained[name] = train_for_budget(option, budget_s, out_dir, overrides,
                                             lambda seconds, stage=stage: progress.update(stage, seconds))
            say(f'      {name}: {trained[name].iterations} iterations in {trained[name].seconds:.0f} s')
        say(f'[4/5] comparing on the held-out photos of {demo.test_opt}')
        rows = compare([ModelSpec(n, r.option, r.checkpoint) for n, r in trained.items()], demo.test_opt, out_dir,
                       latency_runs=latency_runs, say=say)
        pictures = os.path.join(out_dir, SIDE_BY_SIDE)
        photos = demo_photos({n: (r.option, r.checkpoint) for n, r in trained.items()}, demo.test_opt,
                             bm3d=any(r['model'] == BM3D for r in rows))
        save_side_by_side(photos, pictures, caption=f'{demo.what}: the same crop of each held-out photo; '
                                                    f'PSNR ({demo.metric}) of the whole photo')
        progress.update('comparing', stages['comparing'])
    print('[5/5] results\n')
    print(markdown_table(rows, demo.task, 2 if demo.task == 'sr' else 1))
    found = _psnr(rows, 'hinas')
    print(f'Found net vs {DISPLAY_NAMES[demo.reference]}: {found - _psnr(rows, demo.reference):+.2f} dB PSNR '
          f'({demo.metric}) on photos neither net nor the search saw.')
    others = [m for m in dict.fromkeys(r['model'] for r in rows) if m not in ('hinas', demo.reference)]
    print('Found net vs ' + ', vs '.join(f'{DISPLAY_NAMES.get(m, m)}: {found - _psnr(rows, m):+.2f} dB'
                                         for m in others) + '.')
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
    """One held-out photo for the side-by-side figure: GT-sized BGR (or gray) images by method, and their PSNR.

    The ground truth (the clean photo) is the last image; it has no PSNR.
    """

    name: str
    images: dict[str, np.ndarray]
    psnr: dict[str, float]


def demo_photos(models: Mapping[str, tuple[str, str]], test_opt: str = TEST_OPT, device: torch.device | None = None,
                bm3d: bool = False) -> list[PhotoRow]:
    """The references, each model (name -> (option, checkpoint)) and the ground truth on the held-out photos.

    The photos are the items of the first dataset of ``test_opt``, read as ``hinas compare`` reads them (so a
    denoising set's noisy inputs are its fixed ones). The references are bicubic for SR, the noisy input (and
    BM3D with ``bm3d``) for denoising; each PSNR is the table's (:func:`hinas_basicsr.tools.compare.score`).
    """
    device = device or default_device()
    task, scale, test_sets = load_test_sets(test_opt)
    references: dict[str, Callable[[torch.Tensor, dict[str, Any]], torch.Tensor]] = (
        {BICUBIC: lambda lq, _: bicubic_tensor(lq, scale)} if task == 'sr' else
        {NOISY: lambda lq, _: lq, **({BM3D: lambda lq, item: bm3d_tensor(lq, item['sigma'])} if bm3d else {})})
    nets = {name: load_network(option, checkpoint, device) for name, (option, checkpoint) in models.items()}
    clean = next(d.clean for d in TASKS.values() if d.task == task)
    photos = []
    for item in test_sets[0].items:
        lq, gt = item['lq'][None], item['gt'][None]
        outputs = {DISPLAY_NAMES[name]: predict(lq, item) for name, predict in references.items()}
        with torch.no_grad():
            for name, net in nets.items():
                outputs[DISPLAY_NAMES.get(name, name)] = net(lq.to(device)).cpu()
        images = {method: to_image(out) for method, out in outputs.items()}
        psnr = {method: score(out, gt, task, scale)[0] for method, out in outputs.items()}
        photos.append(PhotoRow(os.path.splitext(os.path.basename(str(item['gt_path'])))[0],
                               {**images, clean: to_image(gt)}, psnr))
    return sorted(photos, key=lambda p: p.name)


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
        window = detail_crop(photo.images[methods[-1]], crop)  # the last column: the ground truth
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

