"""The child-process and in-process runners that the demo and the search-vs-random benchmark share.

* :func:`search_genotype` runs a search option file through ``basicsr train`` in a child process and
  returns its best genotype;
* :func:`train_for_budget` trains ``network_g`` of an option file with BasicSR's own dataset, loader and
  ``SRModel`` for a wall-clock or iteration budget, with the learning rate decayed by a cosine over it.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import torch
import yaml

from hinas_basicsr.utils.devices import resolve_num_gpu
from hinas_basicsr.utils.fileio import write_text
from hinas_basicsr.utils.options_file import load_yaml

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A training line of BasicSR's MessageLogger: "[demo_..][epoch:  0, iter:      10, lr:(...".
ITERATION = re.compile(r'\[epoch:\s*\d+, iter:\s*([\d,]+)')


@dataclass(frozen=True)
class TrainResult:
    """What a budgeted training produced: the checkpoint, its option file and the iterations done."""

    checkpoint: str
    option: str
    iterations: int
    seconds: float
    snapshot: str | None = None  # the weights at ``snapshot_at`` iterations, where asked for


def search_genotype(search_opt: str, threads: int | None = None, log: TextIO | None = None,
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
        dataset['phase'] = phase.split('_')[0]
        if 'scale' in opt:  # as parse_options: a search's option file may leave it out
            dataset['scale'] = opt['scale']
    opt['path'].update(experiments_root=root, models=os.path.join(root, 'models'), log=root,
                       training_states=os.path.join(root, 'training_states'),
                       visualization=os.path.join(root, 'visualization'))
    return opt


def train_for_budget(option: str, budget_s: float, out_dir: str, network_overrides: dict[str, Any] | None = None,
                     on_progress: Callable[[float], None] | None = None, max_iters: int | None = None,
                     snapshot_at: int | None = None) -> TrainResult:
    """Train ``network_g`` of ``option`` with BasicSR's SRModel for ``budget_s`` seconds; save ``net_g_latest.pth``.

    The budget counts data loading and optimisation steps, not building the dataset and model. The
    learning rate follows a cosine from ``optim_g.lr`` to 0 over the wall-clock budget (the option
    file's ``scheduler``, counted in iterations, is not used: the iterations a budget buys vary by machine).
    With ``max_iters``, training also stops after that many iterations, and the cosine runs over
    whichever budget is spent faster (``budget_s = inf``: an iteration budget).
    The option file (with the overrides) is written beside the checkpoint, for ``hinas compare``.
    ``on_progress`` gets the seconds spent after every step. With ``snapshot_at``, the weights after that
    many iterations are saved too (``net_g_{snapshot_at}.pth``; the learning rate is then mid-schedule).
    """
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
            if iterations == snapshot_at:
                model.save_network(model.net_g, 'net_g', iterations)
            if on_progress:
                on_progress(time.perf_counter() - start)
    seconds = time.perf_counter() - start
    model.save(-1, -1)
    saved_opt = load_yaml(option)
    saved_opt['network_g'].update(overrides)
    saved_opt_path = write_options(os.path.join(root, f'{name}.yml'), saved_opt)
    snapshot = os.path.join(opt['path']['models'], f'net_g_{snapshot_at}.pth')
    return TrainResult(os.path.join(opt['path']['models'], 'net_g_latest.pth'), saved_opt_path, iterations, seconds,
                       snapshot if os.path.isfile(snapshot) else None)


def budget_cosine(base_lr: float, fraction: float) -> float:
    """Cosine decay from ``base_lr`` at the start of the budget to 0 at its end (``fraction`` of it spent)."""
    return 0.5 * base_lr * (1. + math.cos(math.pi * min(max(fraction, 0.), 1.)))


def set_budget_lr(optimizers: list[torch.optim.Optimizer], base_lrs: list[list[float]], fraction: float) -> None:
    """Set every parameter group's learning rate to :func:`budget_cosine` of its initial one."""
    for optimizer, lrs in zip(optimizers, base_lrs):
        for group, lr in zip(optimizer.param_groups, lrs):
            group['lr'] = budget_cosine(lr, fraction)


def write_options(path: str, opt: dict[str, Any]) -> str:
    """Write option tree ``opt`` as a YAML option file (atomically, keys in their order); return ``path``."""
    write_text(path, yaml.safe_dump(plain_options(opt), sort_keys=False))
    return path


def plain_options(value: Any) -> Any:
    """OrderedDicts (BasicSR's YAML loader) -> dicts, for a plain YAML dump."""
    if isinstance(value, dict):
        return {k: plain_options(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_options(v) for v in value]
    return value


__all__ = ['ITERATION', 'TrainResult', 'budget_cosine', 'plain_options', 'search_genotype', 'set_budget_lr',
           'train_for_budget', 'write_options']
