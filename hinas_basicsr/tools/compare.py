"""Evaluate trained networks side by side: PSNR/SSIM per test set, params, FLOPs and latency.

Used by ``hinas compare`` and ``hinas demo``. A score comes from the code path of ``basicsr test``:
each test set is BasicSR's ``build_dataset`` of a ``datasets:`` entry of the test option file
(prepared as BasicSR's ``parse_options`` prepares it: phase, scale), the network's output and the
ground truth become images with BasicSR's ``tensor2img``, and BasicSR's ``calculate_metric`` scores
them. So the datasets' own options hold: ``gray``, the noisy datasets' fixed noise, and so on.
Conventions (they are printed with the table):

* SR: PSNR/SSIM on the Y channel with ``scale`` pixels cropped from the border; the bicubic row
  upsamples the LR with BasicSR's MATLAB-compatible ``imresize`` (the kernel that made the LR).
  An LR image whose size times ``scale`` is not its GT's size is refused.
* Denoising: all channels of the dataset's images, no crop; the ``noisy`` row is the noisy input itself, and the
  ``bm3d`` row BM3D (the ``bm3d`` package, the optional extra ``bm3d``: ``bm3d.bm3d`` for gray images,
  ``bm3d.bm3d_rgb`` for colour) told each image's noise level; without the package it is skipped, in one line.
* params: the number of elements of the network's parameters (buffers excluded).
* FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` on one input of the stated size; it counts
  2 FLOPs per multiply-accumulate of convolutions and matrix products, nothing else (no bias,
  activation, PixelShuffle, interpolation or additions). Bicubic and noisy count 0, and so does BM3D (not
  counted: it is no torch network; the plot draws it as a line).
* latency_s: the median wall time of one forward pass on that input, on the current device.
"""
from __future__ import annotations

import copy
import csv
import importlib.util
import io
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from hinas_basicsr.tools.networks import default_device, load_network
from hinas_basicsr.tools.sample_data import prepare_sample_data
from hinas_basicsr.utils.arg_checks import count
from hinas_basicsr.utils.checkpoints import check_finite_output
from hinas_basicsr.utils.fileio import atomic_write, write_text
from hinas_basicsr.utils.options_file import load_yaml

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
CSV_COLUMNS = ('model', 'set', 'psnr', 'ssim', 'params', 'flops', 'latency_s', 'flops_input', 'device')
BICUBIC, NOISY, BM3D = 'bicubic', 'noisy', 'bm3d'
REFERENCES = (BICUBIC, NOISY, BM3D)  # rows compare adds; no model may take their names
MAX_LATENCY_RUNS = 10_000  # --latency-runs: a median settles within 100; 10,000 passes of a big net take hours
BM3D_EXTRA = "pip install -e '.[bm3d]'"
BM3D_LEAST = 16  # the bm3d package's binary crashes (segmentation fault) on some smaller images, e.g. 8x8


@dataclass(frozen=True)
class ModelSpec:
    """A model to compare: a name, a BasicSR option file (its ``network_g``) and a checkpoint.

    With no checkpoint, the option file's ``path.pretrain_network_g`` is used.
    """

    name: str
    option: str
    checkpoint: str | None = None


@dataclass(frozen=True)
class TestSet:
    """One test set: its name and the items of its BasicSR dataset (``lq``/``gt`` CHW tensors, paths)."""

    name: str
    items: list[dict[str, Any]]


def parse_model_spec(text: str) -> ModelSpec:
    """``NAME=YML[:WEIGHTS]`` -> :class:`ModelSpec`.

    A path may hold a colon: ``YML[:WEIGHTS]`` that is an existing file as a whole is the option file alone
    (``e=run:2.yml``); else it is split at its last colon (``e=run:2.yml:net.pth``), so only the weights' file name
    may not hold one. ``NAME`` is the text up to the first ``=``.
    """
    name, sep, rest = text.partition('=')
    if not sep or not name or not rest:
        raise ValueError(f'--model: expected NAME=YML[:WEIGHTS], got {text!r}')
    if os.path.isfile(rest) or ':' not in rest:
        return ModelSpec(name, rest)
    option, _, checkpoint = rest.rpartition(':')
    if not option:
        raise ValueError(f'--model {name}: expected NAME=YML[:WEIGHTS], got {text!r} (no option file before the colon)')
    return ModelSpec(name, option, checkpoint or None)


def dataset_options(opt: dict[str, Any], test_option: str) -> list[tuple[str, dict[str, Any]]]:
    """``(key, options)`` of each ``datasets:`` entry, completed as ``basicsr test`` completes them.

    BasicSR's ``parse_options`` sets ``phase`` (the key up to ``_``) and ``scale``, and expands ``~``.
    """
    entries = []
    for key, spec in sorted((opt.get('datasets') or {}).items()):  # basicsr test's order
        if not isinstance(spec, dict) or 'type' not in spec or 'dataroot_gt' not in spec:
            raise ValueError(f'{test_option}: datasets.{key}: needs type and dataroot_gt (as for basicsr test)')
        if str(key).split('_')[0] not in ('val', 'test'):
            raise ValueError(f'--test-opt: {test_option}: datasets.{key} is not a test set (phase '
                             f'{str(key).split("_")[0]}: random crops for training); give a test option file, '
                             'whose datasets are test_1, test_2, ... (or val)')
        spec = copy.deepcopy(spec)
        spec['phase'] = key.split('_')[0]
        if 'scale' in opt:
            spec['scale'] = opt['scale']
        for root in ('dataroot_gt', 'dataroot_lq'):
            if spec.get(root) is not None:
                spec[root] = os.path.expanduser(spec[root])
        entries.append((key, spec))
    if not entries:
        raise ValueError(f'{test_option}: datasets: no test sets')
    return entries


def _read_test_set(test_option: str, key: str, spec: dict[str, Any], scale: int) -> TestSet:
    """Every item of the dataset, its LR/GT sizes checked (BasicSR would crop a mismatched GT silently)."""
    from basicsr.data import build_dataset

    name = spec.get('name', key)
    for root in ('dataroot_gt', 'dataroot_lq'):
        if spec.get(root) and not os.path.exists(spec[root]):
            raise FileNotFoundError(f'{test_option}: datasets.{key}.{root}: {spec[root]} does not exist')
    try:
        dataset = build_dataset(spec)
    except (AssertionError, ValueError) as err:  # BasicSR's path pairing asserts (counts, names)
        raise ValueError(f'{test_option}: datasets.{key}: {err}') from None
    if len(dataset) == 0:
        raise ValueError(f"{name}: dataroot_gt: {spec['dataroot_gt']} holds no images")
    items = [dataset[i] for i in range(len(dataset))]
    for item in items:
        lq_size = tuple(item['lq'].shape[-2:])
        gt_size = tuple(item['gt'].shape[-2:])
        if os.path.isfile(item['gt_path']):  # the GT file itself, before BasicSR's crop to the LR size
            with Image.open(item['gt_path']) as image:
                gt_size = image.size[::-1]
        if (lq_size[0] * scale, lq_size[1] * scale) != gt_size:
            raise ValueError(f"{name}: {os.path.basename(item['gt_path'])}: LR {lq_size} x {scale} != GT {gt_size}")
    return TestSet(name, items)


def load_test_sets(test_option: str, task: str | None = None,
                   scale: int | None = None) -> tuple[str, int, list[TestSet]]:
    """Task, scale and test sets (BasicSR datasets, read) of a test option file's ``datasets:`` section.

    The task defaults to ``sr`` when the datasets have ``dataroot_lq``, else ``denoise``; the scale to
    the options' ``scale`` for SR, 1 for denoising.
    """
    opt = load_yaml(test_option, '--test-opt')
    prepare_sample_data(test_option, opt)
    entries = dataset_options(opt, test_option)
    task = task or ('sr' if entries[0][1].get('dataroot_lq') else 'denoise')
    scale = scale or (int(opt.get('scale', 1)) if task == 'sr' else 1)
    for key, spec in entries:
        if task == 'sr' and not spec.get('dataroot_lq'):
            raise ValueError(f'{test_option}: datasets.{key}: --task sr needs dataroot_lq')
        spec['scale'] = scale
    _check_metrics(opt, test_option, task, scale)
    return task, scale, [_read_test_set(test_option, key, spec, scale) for key, spec in entries]


def metric_options(task: str, scale: int) -> dict[str, dict[str, Any]]:
    """The PSNR and SSIM that compare reports, as ``val.metrics`` entries of BasicSR."""
    crop, y = (scale, True) if task == 'sr' else (0, False)
    return {name: {'type': f'calculate_{name}', 'crop_border': crop, 'test_y_channel': y} for name in ('psnr', 'ssim')}


def _check_metrics(opt: dict[str, Any], test_option: str, task: str, scale: int) -> None:
    """Refuse test options whose ``val.metrics`` would make ``basicsr test`` score otherwise than compare."""
    given = (opt.get('val') or {}).get('metrics') or {}
    for name, expected in metric_options(task, scale).items():
        spec = given.get(name)
        if not isinstance(spec, dict):
            continue
        for key in ('crop_border', 'test_y_channel'):
            if key in spec and spec[key] != expected[key]:
                raise ValueError(f'{test_option}: val.metrics.{name}.{key} is {spec[key]!r}, but hinas compare '
                                 f'scores {task} with {key} {expected[key]!r}')


# Image files <-> network tensors, for commands that run networks on image files of their own.
def to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    """HWC BGR float array (as cv2 reads it, or one gray channel) -> 1CHW RGB tensor."""
    img = img[..., ::-1] if img.shape[2] == 3 else img
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """1CHW RGB tensor -> HWC BGR uint8 array (clamped, rounded), ready for cv2."""
    img = tensor[0].detach().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
    img = img[..., ::-1] if img.shape[2] == 3 else img
    return np.round(img * 255.).astype(np.uint8)


def bicubic(lq: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-compatible bicubic upsampling (BasicSR's ``imresize``) of an HWC float image."""
    from basicsr.utils.matlab_functions import imresize

    return np.clip(imresize(lq, scale), 0., 1.)


def bicubic_tensor(lq: torch.Tensor, scale: int) -> torch.Tensor:
    """:func:`bicubic` of a 1CHW tensor (any channel order: each channel is resized alone)."""
    upsampled = bicubic(lq[0].cpu().numpy().transpose(1, 2, 0), scale).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(upsampled.transpose(2, 0, 1)))[None]


def bm3d_available() -> bool:
    """Whether the ``bm3d`` package (the optional extra ``bm3d``) is installed."""
    return importlib.util.find_spec('bm3d') is not None


def bm3d_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D of an HWC float image (0-1 scale, RGB or one gray channel) with white noise of ``sigma`` (0-255 scale):
    ``bm3d.bm3d`` for gray, ``bm3d.bm3d_rgb`` (its colour variant, CBM3D) for RGB. Returns HWC float32."""
    import bm3d

    if noisy.shape[2] == 1:
        return np.asarray(bm3d.bm3d(noisy[..., 0], sigma / 255.), dtype=np.float32)[..., None]
    return np.asarray(bm3d.bm3d_rgb(noisy, sigma / 255.), dtype=np.float32)


def bm3d_tensor(lq: torch.Tensor, sigma: float) -> torch.Tensor:
    """:func:`bm3d_denoise` of a 1CHW tensor (on the CPU)."""
    out = bm3d_denoise(lq[0].cpu().numpy().transpose(1, 2, 0), sigma)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))[None]


def score(output: torch.Tensor, gt: torch.Tensor, task: str, scale: int) -> tuple[float, float]:
    """PSNR and SSIM as SRModel's validation computes them (SR: Y channel, crop = scale; denoise: no crop).

    Both tensors become uint8 images with BasicSR's ``tensor2img``; ``calculate_metric`` scores them.
    """
    from basicsr.metrics import calculate_metric
    from basicsr.utils import tensor2img

    # tensor2img clamps its input in place: it gets copies, so a test set's tensors stay as read
    images = {'img': tensor2img([output.detach().cpu().clone()]), 'img2': tensor2img([gt.detach().cpu().clone()])}
    metrics = metric_options(task, scale)
    return float(calculate_metric(images, metrics['psnr'])), float(calculate_metric(images, metrics['ssim']))


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count_flops(net: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``x`` as ``FlopCounterMode`` counts them (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(x)
    return int(counter.get_total_flops())


def check_latency_runs(runs: int) -> None:
    """``--latency-runs`` of ``hinas compare`` and ``hinas demo``: from 1 to ``MAX_LATENCY_RUNS``."""
    count(runs, '--latency-runs', 1, MAX_LATENCY_RUNS, 'each a timed forward pass of every net')


def median_latency(func: Callable[[], Any], runs: int, device: torch.device) -> float:
    """Median seconds of ``func()`` over ``runs`` calls after one warm-up (CUDA synchronised)."""
    def sync() -> None:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    func()
    times = []
    for _ in range(max(runs, 1)):
        sync()
        start = time.perf_counter()
        func()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _evaluate(name: str, predict: Callable[[torch.Tensor, dict[str, Any]], torch.Tensor], test_sets: Sequence[TestSet],
              task: str, scale: int, device: torch.device) -> dict[str, tuple[float, float]]:
    """Mean PSNR and SSIM of ``predict(lq, item)`` per test set, as SRModel's validation averages them."""

    results = {}
    for test_set in test_sets:
        scores = [score(check_finite_output(predict(item['lq'][None].to(device), item),
                                            f'--model {name}: {item.get("lq_path", test_set.name)}'),
                        item['gt'][None], task, scale)
                  for item in tqdm(test_set.items, desc=f'{name} on {test_set.name}', unit='img', leave=False,
                                   disable=None)]  # a bar on a terminal only: an error stays one line
        results[test_set.name] = (float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores])))
    return results


def compare(models: Sequence[ModelSpec], test_option: str, out_dir: str, task: str | None = None,
            scale: int | None = None, flops_size: tuple[int, int] = (128, 128), latency_runs: int = 5,
            device: torch.device | None = None, say: Callable[[str], None] = print,
            bm3d: bool = True) -> list[dict[str, Any]]:
    """Evaluate ``models`` (plus bicubic for SR; the noisy input and BM3D for denoising) on the test sets.

    Writes ``compare.csv``, ``compare.md`` and ``psnr_vs_flops.png`` under ``out_dir`` and returns
    the CSV rows. Every input is checked (options, checkpoints, genotypes, test sets) before
    the first evaluation. ``say`` prints the line that says BM3D is skipped, where it is; ``bm3d=False`` leaves
    BM3D out (a harness that scores many nets on one test set).
    """
    device = device or default_device()
    names = [m.name for m in models]
    if len(set(names)) != len(names) or set(REFERENCES) & set(names):
        raise ValueError(f'--model: names must be unique and not {"/".join(REFERENCES)}, got {names}')
    task, scale, test_sets = load_test_sets(test_option, task, scale)
    nets = {m.name: load_network(m.option, m.checkpoint, device, task, scale, option_name=f'--model {m.name}',
                                 checkpoint_name=f'--model {m.name}') for m in models}
    channels = test_sets[0].items[0]['lq'].shape[0]
    probe = torch.rand(1, channels, *flops_size, device=device)
    flops_input = 'x'.join(str(v) for v in probe.shape)

    rows: list[dict[str, Any]] = []

    def add(name: str, results: dict[str, tuple[float, float]], params: int, flops: int, latency: float) -> None:
        for set_name, (psnr, ssim) in results.items():
            rows.append({'model': name, 'set': set_name, 'psnr': round(psnr, 4), 'ssim': round(ssim, 5),
                         'params': params, 'flops': flops, 'latency_s': round(latency, 6),
                         'flops_input': flops_input, 'device': device.type})

    cpu = torch.device('cpu')
    if task == 'sr':
        latency = median_latency(lambda: bicubic_tensor(probe.cpu(), scale), latency_runs, cpu)
        add(BICUBIC, _evaluate(BICUBIC, lambda lq, _: bicubic_tensor(lq, scale), test_sets, task, scale, cpu),
            0, 0, latency)
    else:
        add(NOISY, _evaluate(NOISY, lambda lq, _: lq, test_sets, task, scale, cpu), 0, 0, 0.0)
    if task != 'sr' and bm3d:
        skipped = bm3d_skipped(test_sets, flops_size)
        if skipped:
            say(f'{BM3D}: skipped, {skipped}')
        else:
            sigma = test_sets[0].items[0]['sigma']
            latency = median_latency(lambda: bm3d_tensor(probe.cpu(), sigma), latency_runs, cpu)
            add(BM3D, _evaluate(BM3D, lambda lq, item: bm3d_tensor(lq, item['sigma']), test_sets, task, scale, cpu),
                0, 0, latency)
    for name, net in nets.items():
        with torch.no_grad():
            results = _evaluate(name, lambda lq, _, net=net: net(lq), test_sets, task, scale, device)
            latency = median_latency(lambda net=net: net(probe), latency_runs, device)
        add(name, results, count_params(net), count_flops(net, probe), latency)
    write_outputs(rows, out_dir, task, scale)
    return rows


def bm3d_skipped(test_sets: Sequence[TestSet], flops_size: Sequence[int]) -> str:
    """Why the BM3D row cannot be computed ('' when it can): the package is missing, a test image has no noise
    level to tell it, or an image (a test image, or the latency input of ``flops_size``) is smaller than
    ``BM3D_LEAST`` on a side, where the package's binary may crash."""
    if not bm3d_available():
        return f'the bm3d package is not installed ({BM3D_EXTRA})'
    if min(flops_size) < BM3D_LEAST:
        return (f'its latency input {"x".join(map(str, flops_size))} (--flops-size) is smaller than '
                f'{BM3D_LEAST}x{BM3D_LEAST}, where the bm3d package may crash')
    for test_set in test_sets:
        for item in test_set.items:
            name = os.path.basename(str(item['gt_path']))
            if 'sigma' not in item:
                return f'the test set {test_set.name} gives no noise level (sigma) to tell it'
            if min(item['lq'].shape[-2:]) < BM3D_LEAST:
                return (f'{test_set.name}: {name} is smaller than {BM3D_LEAST}x{BM3D_LEAST}, where the bm3d package '
                        'may crash')
    return ''


def markdown_table(rows: Sequence[dict[str, Any]], task: str, scale: int) -> str:
    """One line per model: PSNR/SSIM per set, params, GFLOPs and latency."""
    models = list(dict.fromkeys(r['model'] for r in rows))
    set_names = list(dict.fromkeys(r['set'] for r in rows))
    by_key = {(r['model'], r['set']): r for r in rows}
    first = {m: by_key[(m, set_names[0])] for m in models}
    metric = f'Y channel, crop {scale}' if task == 'sr' else 'no crop'
    lines = [f'PSNR (dB) / SSIM ({metric}); FLOPs for one {first[models[0]]["flops_input"]} input '
             f'(FlopCounterMode, 2 per multiply-add); median latency on {first[models[0]]["device"]}.', '',
             '| model | ' + ' | '.join(set_names) + ' | params | GFLOPs | latency (ms) |',
             '|' + ' --- |' * (len(set_names) + 4)]
    for m in models:
        cells = [f"{by_key[(m, s)]['psnr']:.2f} / {by_key[(m, s)]['ssim']:.4f}" for s in set_names]
        r = first[m]
        lines.append(f"| {m} | " + ' | '.join(cells) +
                     f" | {r['params']:,} | {r['flops'] / 1e9:.3f} | {r['latency_s'] * 1e3:.1f} |")
    return '\n'.join(lines) + '\n'


def write_outputs(rows: Sequence[dict[str, Any]], out_dir: str, task: str, scale: int) -> dict[str, str]:
    """Write compare.csv, compare.md and psnr_vs_flops.png under ``out_dir`` (atomically); return their paths."""
    paths = {k: os.path.join(out_dir, f) for k, f in
             (('csv', 'compare.csv'), ('md', 'compare.md'), ('png', 'psnr_vs_flops.png'))}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    write_text(paths['csv'], buf.getvalue())
    write_text(paths['md'], markdown_table(rows, task, scale))
    atomic_write(paths['png'], lambda tmp: plot_psnr_vs_flops(rows, tmp))
    return paths


def plot_psnr_vs_flops(rows: Sequence[dict[str, Any]], path: str, yerr: dict[str, float] | None = None,
                       ylabel: str = 'PSNR (dB), mean over test sets', title: str = '') -> None:
    """Mean PSNR over the sets against GFLOPs, one labelled point per model (``yerr``: an error bar per model)."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    models = list(dict.fromkeys(r['model'] for r in rows))
    fig, ax = plt.subplots(figsize=(5, 4))
    for m in models:
        mine = [r for r in rows if r['model'] == m]
        x, y = mine[0]['flops'] / 1e9, float(np.mean([r['psnr'] for r in mine]))
        if m == BM3D:  # its FLOPs are not counted: a level to compare with, not a point
            ax.axhline(y, color='gray', linestyle='--', linewidth=1)
            ax.annotate(f'{m} (FLOPs not counted)', (0, y), xycoords=('axes fraction', 'data'),
                        textcoords='offset points', xytext=(4, 4), color='gray')
            continue
        ax.errorbar([x], [y], yerr=[(yerr or {}).get(m, 0.)], fmt='o', capsize=3)
        ax.annotate(m, (x, y), textcoords='offset points', xytext=(4, 4))
    ax.margins(y=0.1)  # room for the labels above the highest point or level
    ax.set_xlabel(f"GFLOPs (input {rows[0]['flops_input']})")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format='png', dpi=100)
    plt.close(fig)
