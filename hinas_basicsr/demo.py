"""The whole story on a CPU in minutes: sample data, a short x2 search, two equal-time trainings, a comparison.

1. builds the embedded sample data from ``skimage.data`` photos (``datasets/sample``);
2. runs the short x2 search of ``options/demo/search_sr_x2.yml`` through BasicSR's train pipeline;
   its best genotype is ``experiments/<name>/genotypes/best.json``;
3. trains the found net (HiNASNet, F = 16) and an EDSR-baseline (64 features, 16 blocks) for the
   SAME wall-clock budget each: BasicSR's own dataset, dataloader and SRModel, stepped until the
   budget runs out (the time to build them is not counted), then saved;
4. compares both with bicubic on the held-out SampleTest photos (:func:`hinas_basicsr.compare.compare`);
5. prints the table and where the files are.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

from hinas_basicsr.compare import BICUBIC, ModelSpec, compare, markdown_table
from hinas_basicsr.options_check import load_yaml

SAMPLE_ROOT = 'datasets/sample'
SEARCH_OPT = 'options/demo/search_sr_x2.yml'
HINAS_OPT = 'options/demo/train_hinas_sr_x2.yml'
EDSR_OPT = 'options/demo/train_edsr_x2.yml'
TEST_OPT = 'options/demo/test_sr_x2.yml'
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class TrainResult:
    """What a budgeted training produced: the checkpoint, its option file and the iterations done."""

    checkpoint: str
    option: str
    iterations: int
    seconds: float


def search_genotype(search_opt: str = SEARCH_OPT, threads: int | None = None) -> str:
    """Run the search options through ``basicsr train``; return the path of its best genotype.

    The search runs in a child process: its LMDB environments stay open for the process's lifetime
    (shared by the W, A and val splits), and LMDB refuses to open them again for the trainings.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_REPO, os.environ.get('PYTHONPATH')])))
    if threads is not None:
        env['OMP_NUM_THREADS'] = str(threads)
    if subprocess.run([sys.executable, '-m', 'hinas_basicsr.cli', 'train', '-opt', search_opt], env=env).returncode:
        raise ValueError(f'{search_opt}: the search failed')
    best = os.path.join('experiments', load_yaml(search_opt)['name'], 'genotypes', 'best.json')
    if not os.path.isfile(best):
        raise FileNotFoundError(f'{search_opt}: the search wrote no genotype at {best}')
    return best


def _training_options(option: str, root: str, network_overrides: dict[str, Any]) -> dict[str, Any]:
    """The option file as BasicSR's ``parse_options`` would prepare it, with its files under ``root``."""
    opt = load_yaml(option)
    opt['network_g'].update(network_overrides)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, auto_resume=False)
    if opt['num_gpu'] == 'auto':
        opt['num_gpu'] = torch.cuda.device_count()
    for phase, dataset in opt['datasets'].items():
        dataset.update(phase=phase.split('_')[0], scale=opt['scale'])
    opt['path'].update(experiments_root=root, models=os.path.join(root, 'models'), log=root,
                       training_states=os.path.join(root, 'training_states'),
                       visualization=os.path.join(root, 'visualization'))
    return opt


def train_for_budget(option: str, budget_s: float, out_dir: str,
                     network_overrides: dict[str, Any] | None = None, max_iters: int | None = None) -> TrainResult:
    """Train ``network_g`` of ``option`` with BasicSR's SRModel for ``budget_s`` seconds; save ``net_g_latest.pth``.

    The budget counts data loading and optimisation steps, not building the dataset and model. The
    learning rate follows a cosine from ``optim_g.lr`` to 0 over the wall-clock budget (the option
    file's ``scheduler``, counted in iterations, is not used: the iterations a budget buys vary by machine).
    With ``max_iters``, training also stops after that many iterations, and the cosine runs over
    whichever budget is spent faster (``budget_s = inf``: an iteration budget).
    The option file (with the overrides) is written beside the checkpoint, for ``hinas compare``.
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
    print(f'[1/5] sample data in {SAMPLE_ROOT}', flush=True)
    ensure_sample_data(SAMPLE_ROOT)
    if genotype is None:
        print(f'[2/5] short x2 search: basicsr train -opt {search_opt}', flush=True)
        genotype = search_genotype(search_opt, threads)
    else:
        print(f'[2/5] search skipped: genotype {genotype}', flush=True)
    print(f'[3/5] training the found net and an EDSR-baseline, {budget_s:.0f} s each', flush=True)
    trained = {'hinas': train_for_budget(HINAS_OPT, budget_s, out_dir, {'genotype': genotype}),
               'edsr_baseline': train_for_budget(EDSR_OPT, budget_s, out_dir)}
    for name, result in trained.items():
        print(f'      {name}: {result.iterations} iterations in {result.seconds:.0f} s', flush=True)
    print(f'[4/5] comparing on the held-out photos of {TEST_OPT}', flush=True)
    rows = compare([ModelSpec(n, r.option, r.checkpoint) for n, r in trained.items()], TEST_OPT, out_dir,
                   latency_runs=latency_runs)
    print('[5/5] results\n')
    print(markdown_table(rows, 'sr', 2))
    gain = _psnr(rows, 'hinas') - _psnr(rows, BICUBIC)
    print(f'Found net vs bicubic: {gain:+.2f} dB PSNR (Y, crop 2) on photos neither net nor the search saw.')
    print(f'Both nets trained {budget_s:.0f} s each (wall clock, same recipe); params and FLOPs are in the table: '
          'under an equal CPU budget the net with fewer FLOPs takes more steps.')
    print('\nFiles:')
    for what, path in (('comparison', f'{out_dir}/compare.csv'), ('table', f'{out_dir}/compare.md'),
                       ('plot', f'{out_dir}/psnr_vs_flops.png'), ('genotype', genotype),
                       *((f'{n} checkpoint', r.checkpoint) for n, r in trained.items()),
                       *((f'{n} options', r.option) for n, r in trained.items())):
        print(f'  {what:<24} {path}')
    print(f'Wall time {time.perf_counter() - started:.0f} s.')
    return rows


def _psnr(rows: list[dict[str, Any]], model: str) -> float:
    mine = [r['psnr'] for r in rows if r['model'] == model]
    return sum(mine) / len(mine)

