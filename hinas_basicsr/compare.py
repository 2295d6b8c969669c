"""Evaluate trained networks side by side: PSNR/SSIM per test set, params, FLOPs and latency.

Used by ``hinas compare`` and ``hinas demo``. Conventions (they are printed with the table):

* SR: PSNR/SSIM on the Y channel with ``scale`` pixels cropped from the border; the bicubic row
  upsamples the LR with BasicSR's MATLAB-compatible ``imresize`` (the kernel that made the LR).
* Denoising: gray images, no crop; the ``noisy`` row is the noisy input itself. The noise is
  Gaussian with the test set's one ``sigma`` (0-255 scale), drawn exactly as HiNASNoisyImageDataset
  draws its val/test noise (from ``noise_seed`` and the image's file name stem), so every model, here
  and in ``basicsr test``, sees the same noisy images.
* params: the number of elements of the network's parameters (buffers excluded).
* FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` on one input of the stated size; it counts
  2 FLOPs per multiply-accumulate of convolutions and matrix products, nothing else (no bias,
  activation, PixelShuffle, interpolation or additions). Bicubic and noisy count 0.
* latency_s: the median wall time of one forward pass on that input, on the current device.
"""
from __future__ import annotations

import copy
import csv
import io
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hinas_basicsr.data.hinas_noisy_dataset import fixed_noise, noise_key
from hinas_basicsr.fileio import atomic_write, write_text
from hinas_basicsr.genotype import resolve_genotype
from hinas_basicsr.options_check import load_yaml

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
CSV_COLUMNS = ('model', 'set', 'psnr', 'ssim', 'params', 'flops', 'latency_s', 'flops_input', 'device')
BICUBIC, NOISY = 'bicubic', 'noisy'


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
    """One test set of a test option file: GT folder, LR folder (SR) or noise level (denoising)."""

    name: str
    gt_dir: str
    lq_dir: str | None = None
    sigma: float | None = None
    noise_seed: int = 0
    clip: bool = False


def parse_model_spec(text: str) -> ModelSpec:
    """``NAME=OPTION_YML[:CHECKPOINT]`` -> :class:`ModelSpec`."""
    name, sep, rest = text.partition('=')
    if not sep or not name or not rest:
        raise ValueError(f'--model: expected NAME=OPTION_YML[:CHECKPOINT], got {text!r}')
    option, _, checkpoint = rest.partition(':')
    return ModelSpec(name, option, checkpoint or None)


def default_device() -> torch.device:
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def check_network_task(network_opt: dict[str, Any], task: str, scale: int, source: str) -> None:
    """Refuse a network built for another task or scale (HiNASNet: its genotype's task; the scale it is
    built at, ``upscale`` or else the genotype's: an SR genotype serves every SR scale)."""
    built = network_opt.get('upscale', scale)
    if network_opt.get('type') == 'HiNASNet':
        genotype = resolve_genotype(network_opt['genotype'])
        genotype.check_compatible(task=task, source=f'{source} genotype')
        built = network_opt.get('upscale', genotype.scale)
    if task == 'sr' and built != scale:
        raise ValueError(f'{source}: network_g is built at x{built}, but the test scale is {scale}')


def load_state(checkpoint: str) -> dict[str, torch.Tensor]:
    """The network weights of a BasicSR checkpoint (``params_ema`` if saved, else ``params``)."""
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    for key in ('params_ema', 'params'):
        if isinstance(state, dict) and key in state:
            state = state[key]
            break
    return {k.removeprefix('module.'): v for k, v in state.items()}


def load_network(option: str, checkpoint: str | None = None, device: torch.device | None = None,
                 task: str | None = None, scale: int | None = None) -> nn.Module:
    """Build ``network_g`` of a BasicSR option file, load its checkpoint, move it to ``device``, eval mode.

    The checkpoint defaults to the options' ``path.pretrain_network_g``. With ``task``/``scale``,
    a network made for another task or scale is refused before any weight is read.
    """
    from basicsr.archs import build_network

    opt = load_yaml(option)
    if 'network_g' not in opt:
        raise ValueError(f'{option}: missing option network_g')
    if task is not None and scale is not None:
        check_network_task(opt['network_g'], task, scale, option)
    checkpoint = checkpoint or (opt.get('path') or {}).get('pretrain_network_g')
    if not checkpoint:
        raise ValueError(f'{option}: no checkpoint given and path.pretrain_network_g is empty')
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f'{option}: checkpoint {checkpoint} does not exist')
    net = build_network(copy.deepcopy(opt['network_g']))
    net.load_state_dict(load_state(checkpoint), strict=True)
    return net.to(device or default_device()).eval()


def load_test_sets(test_option: str, task: str | None = None) -> tuple[str, int, list[TestSet]]:
    """Task, scale and test sets of a test option file (its ``datasets:`` section)."""
    opt = load_yaml(test_option)
    sets = []
    for phase, spec in (opt.get('datasets') or {}).items():
        if not isinstance(spec, dict) or 'dataroot_gt' not in spec:
            raise ValueError(f'{test_option}: datasets.{phase}: needs dataroot_gt')
        sigma = spec.get('sigma')
        if isinstance(sigma, (list, tuple)):
            if len(sigma) != 1:
                raise ValueError(f'{test_option}: datasets.{phase}.sigma: a test needs one fixed sigma, got {sigma}')
            sigma = sigma[0]
        sets.append(TestSet(spec.get('name', phase), spec['dataroot_gt'], spec.get('dataroot_lq'),
                            None if sigma is None else float(sigma), int(spec.get('noise_seed') or 0),
                            bool(spec.get('clip', False))))
    if not sets:
        raise ValueError(f'{test_option}: datasets: no test sets')
    inferred = 'sr' if sets[0].lq_dir else 'denoise'
    task = task or inferred
    scale = int(opt.get('scale', 1))
    for s in sets:
        if task == 'sr' and not s.lq_dir:
            raise ValueError(f'{test_option}: datasets {s.name}: --task sr needs dataroot_lq')
        if task == 'denoise' and s.sigma is None:
            raise ValueError(f'{test_option}: datasets {s.name}: --task denoise needs sigma')
    return task, scale, sets


def _image_files(folder: str, what: str) -> list[str]:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'{what}: {folder} does not exist')
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        raise ValueError(f'{what}: {folder} holds no images')
    return files


def _read(path: str, gray: bool) -> np.ndarray:
    """An image as float32 HWC in [0, 1], BGR (or one gray channel)."""
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'{path}: not a readable image')
    return (img[..., None] if gray else img).astype(np.float32) / 255.


@dataclass
class Pair:
    """One test image: the network input (float HWC BGR in [0, 1]) and the ground truth (uint8)."""

    name: str
    lq: np.ndarray
    gt: np.ndarray


def read_pairs(test_set: TestSet, task: str, scale: int) -> list[Pair]:
    """The input/ground-truth pairs of a test set (SR: LR files of the same names; denoise: noise added).

    The denoising input is HiNASNoisyImageDataset's val/test ``lq`` of the same image.
    """
    files = _image_files(test_set.gt_dir, f'{test_set.name}: dataroot_gt')
    pairs = []
    for name in files:
        gt = _read(os.path.join(test_set.gt_dir, name), gray=task == 'denoise')
        if task == 'sr':
            lq_path = os.path.join(test_set.lq_dir, name)
            if not os.path.isfile(lq_path):
                raise FileNotFoundError(f'{test_set.name}: dataroot_lq: {lq_path} does not exist')
            lq = _read(lq_path, gray=False)
            if lq.shape[0] * scale != gt.shape[0] or lq.shape[1] * scale != gt.shape[1]:
                raise ValueError(f'{test_set.name}: {name}: LR {lq.shape[:2]} x {scale} != GT {gt.shape[:2]}')
        else:
            noise, _ = fixed_noise(gt.shape, [test_set.sigma], test_set.noise_seed, noise_key(name))
            lq = gt + noise
            if test_set.clip:
                lq = np.clip(lq, 0, 1)
        pairs.append(Pair(name, lq, np.round(gt * 255.).astype(np.uint8)))
    return pairs


def to_tensor(img: np.ndarray, device: torch.device) -> torch.Tensor:
    """HWC BGR float array -> 1CHW RGB tensor."""
    img = img[..., ::-1] if img.shape[2] == 3 else img
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(device)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """1CHW RGB tensor -> HWC BGR uint8 array (clamped, rounded)."""
    img = tensor[0].detach().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
    img = img[..., ::-1] if img.shape[2] == 3 else img
    return np.round(img * 255.).astype(np.uint8)


def bicubic(lq: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-compatible bicubic upsampling (BasicSR's ``imresize``) of an HWC float image."""
    from basicsr.utils.matlab_functions import imresize

    return np.clip(imresize(lq, scale), 0., 1.)


def score(pred: np.ndarray, gt: np.ndarray, task: str, scale: int) -> tuple[float, float]:
    """PSNR and SSIM as BasicSR computes them (SR: Y channel, crop = scale; denoise: gray, no crop)."""
    from basicsr.metrics import calculate_psnr, calculate_ssim

    crop, y = (scale, True) if task == 'sr' else (0, False)
    return (float(calculate_psnr(pred, gt, crop, test_y_channel=y)),
            float(calculate_ssim(pred, gt, crop, test_y_channel=y)))


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count_flops(net: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``x`` as ``FlopCounterMode`` counts them (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(x)
    return int(counter.get_total_flops())


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


def _evaluate(name: str, predict: Callable[[np.ndarray], np.ndarray], sets: dict[str, list[Pair]],
              task: str, scale: int) -> dict[str, tuple[float, float]]:
    results = {}
    for set_name, pairs in sets.items():
        scores = [score(predict(p.lq), p.gt, task, scale) for p in tqdm(pairs, desc=f'{name} on {set_name}',
                                                                         unit='img', leave=False)]
        results[set_name] = (float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores])))
    return results


def compare(models: Sequence[ModelSpec], test_option: str, out_dir: str, task: str | None = None,
            scale: int | None = None, flops_size: tuple[int, int] = (128, 128), latency_runs: int = 5,
            device: torch.device | None = None) -> list[dict[str, Any]]:
    """Evaluate ``models`` (plus bicubic for SR, the noisy input for denoising) on the test sets.

    Writes ``compare.csv``, ``compare.md`` and ``psnr_vs_flops.png`` under ``out_dir`` and returns
    the CSV rows. Every input is checked (options, checkpoints, genotypes, test folders) before
    the first evaluation.
    """
    device = device or default_device()
    task, opt_scale, test_sets = load_test_sets(test_option, task)
    scale = scale or (opt_scale if task == 'sr' else 1)
    names = [m.name for m in models]
    if len(set(names)) != len(names) or {BICUBIC, NOISY} & set(names):
        raise ValueError(f'--model: names must be unique and not {BICUBIC}/{NOISY}, got {names}')
    nets = {m.name: load_network(m.option, m.checkpoint, device, task, scale) for m in models}
    sets = {s.name: read_pairs(s, task, scale) for s in test_sets}
    channels = sets[test_sets[0].name][0].lq.shape[2]
    probe = torch.rand(1, channels, *flops_size, device=device)
    flops_input = 'x'.join(str(v) for v in probe.shape)

    rows: list[dict[str, Any]] = []

    def add(name: str, results: dict[str, tuple[float, float]], params: int, flops: int, latency: float) -> None:
        for set_name, (psnr, ssim) in results.items():
            rows.append({'model': name, 'set': set_name, 'psnr': round(psnr, 4), 'ssim': round(ssim, 5),
                         'params': params, 'flops': flops, 'latency_s': round(latency, 6),
                         'flops_input': flops_input, 'device': device.type})

    if task == 'sr':
        lq_probe = probe[0].cpu().numpy().transpose(1, 2, 0)
        add(BICUBIC, _evaluate(BICUBIC, lambda lq: np.round(bicubic(lq, scale) * 255.).astype(np.uint8), sets,
                               task, scale), 0, 0, median_latency(lambda: bicubic(lq_probe, scale), latency_runs,
                                                                  torch.device('cpu')))
    else:
        add(NOISY, _evaluate(NOISY, lambda lq: np.round(np.clip(lq, 0, 1) * 255.).astype(np.uint8), sets,
                             task, scale), 0, 0, 0.0)
    for name, net in nets.items():
        with torch.no_grad():
            results = _evaluate(name, lambda lq, net=net: to_image(net(to_tensor(lq, device))), sets, task, scale)
            latency = median_latency(lambda net=net: net(probe), latency_runs, device)
        add(name, results, count_params(net), count_flops(net, probe), latency)
    write_outputs(rows, out_dir, task, scale)
    return rows


def markdown_table(rows: Sequence[dict[str, Any]], task: str, scale: int) -> str:
    """One line per model: PSNR/SSIM per set, params, GFLOPs and latency."""
    models = list(dict.fromkeys(r['model'] for r in rows))
    set_names = list(dict.fromkeys(r['set'] for r in rows))
    by_key = {(r['model'], r['set']): r for r in rows}
    first = {m: by_key[(m, set_names[0])] for m in models}
    metric = f'Y channel, crop {scale}' if task == 'sr' else 'gray, no crop'
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


def plot_psnr_vs_flops(rows: Sequence[dict[str, Any]], path: str) -> None:
    """Mean PSNR over the sets against GFLOPs, one labelled point per model."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    models = list(dict.fromkeys(r['model'] for r in rows))
    fig, ax = plt.subplots(figsize=(5, 4))
    for m in models:
        mine = [r for r in rows if r['model'] == m]
        x, y = mine[0]['flops'] / 1e9, float(np.mean([r['psnr'] for r in mine]))
        ax.scatter([x], [y])
        ax.annotate(m, (x, y), textcoords='offset points', xytext=(4, 4))
    ax.set_xlabel(f"GFLOPs (input {rows[0]['flops_input']})")
    ax.set_ylabel('PSNR (dB), mean over test sets')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format='png', dpi=100)
    plt.close(fig)
