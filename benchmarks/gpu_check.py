"""The checks and measurements of one lent GPU, in one run under 10 minutes (run by benchmarks/gpu_check.sh).

Stages, each in a process of its own with a time limit (a stage that fails or runs out is recorded as such and
the next one runs):

1. ``cuda``: the ``cuda``-marked tests (``pytest -m cuda``);
2. ``search_step``: ``benchmarks/search_step.py`` at the paper's setting (SR x4, L2 B3 F8, batch 24, LR crop 64):
   plain cells (the stand-in for the reference), the default, and ``checkpoint_cells``, fp32 and bf16;
3. ``search``: a 150-iteration search (``options/search_sr_x4.yml``: batch 24, LR crops 64, 15 iterations an
   epoch) on whole-image LMDBs of DIV2K's size made from the sample photos, with ``load_all`` and 8 workers,
   timed from BasicSR's log and extrapolated to the reference's 1,500 iterations (300 without an A step);
4. ``infer``: ``hinas infer --fp16`` of a derived net (the example genotype, x2, F16) on a 1920x1080 image.

Writes ``OUT/gpu_check.json`` (and the stages' own files under OUT) and prints a table.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_SEARCH_H = 3.5  # the paper's SR search on one GTX 1080 Ti
REFERENCE_ITERS, REFERENCE_WARMUP = 1500, 300


def run(cmd: list[str], timeout: float, cwd: str = REPO, log: str | None = None) -> dict:
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        rc, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        rc, out = 'timeout', (err.stdout or b'').decode(errors='replace') + (err.stderr or b'').decode(errors='replace')
    if log:
        with open(log, 'w') as f:
            f.write(out)
    return {'rc': rc, 'wall_s': round(time.perf_counter() - start, 1), 'tail': out[-1500:]}


def cuda_tests(out: str, timeout: float) -> dict:
    result = run([sys.executable, '-m', 'pytest', '-q', '-m', 'cuda', '-p', 'no:cacheprovider', 'tests'], timeout,
                 log=os.path.join(out, 'cuda_tests.log'))
    counts = dict((k, int(v)) for v, k in re.findall(r'(\d+) (passed|failed|skipped|error)', result['tail']))
    return {**result, **counts}


def search_step(out: str, timeout: float) -> dict:
    path = os.path.join(out, 'search_step.json')
    result = run([sys.executable, 'benchmarks/search_step.py', '--task', 'sr', '--scale', '4', '--batch', '24',
                  '--patch', '64', '--impl', 'plain', 'default', '--checkpoint-cells', 'off', 'on', '--amp', 'fp32',
                  'bf16', '--device', 'cuda', '--iters', '10', '--warmup', '3', '--rounds', '1', '--json', path],
                 timeout)
    if os.path.isfile(path):
        with open(path) as f:
            result['rows'] = [{k: r[k] for k in ('variant', 'step_s', 'peak_mem_mb', 'time_vs_plain', 'mem_vs_plain')
                               if k in r} for r in json.load(f)['rows']]
    return result


def _log_times(log: str) -> dict[int, datetime.datetime]:
    """Iteration -> time of BasicSR's log line for it."""
    times = {}
    for stamp, it in re.findall(r'^(\S+ \S+) INFO: \[.*?iter:\s*([\d,]+)', log, flags=re.M):
        times[int(it.replace(',', ''))] = datetime.datetime.strptime(stamp, '%Y-%m-%d %H:%M:%S,%f')
    return times


def search(out: str, timeout: float, images: int, iters: int, size: tuple[int, int] | None = None,
           batch: int = 24) -> dict:
    import yaml

    sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
    from data_loading import make_whole_image_lmdbs

    work = os.path.join('/tmp', 'hinas_gpu_check')
    os.makedirs(work, exist_ok=True)
    start = time.perf_counter()
    hr, lr = make_whole_image_lmdbs(os.path.join(work, 'data'), images, **({'size': size} if size else {}))
    data_s = time.perf_counter() - start
    with open(os.path.join(REPO, 'options', 'search_sr_x4.yml')) as f:
        opt = yaml.safe_load(f)
    opt['name'] = 'gpu_check_search'
    for phase in ('train', 'val'):
        opt['datasets'][phase]['dataset'] = dict(opt['datasets'][phase]['dataset'], dataroot_gt=hr, dataroot_lq=lr)
        opt['datasets'][phase]['load_all'] = True
    train = opt['datasets']['train']
    # 25 W images, each 15 times an epoch: 15 iterations of 24 an epoch, as the reference's 380 W images
    train.update(dataset_enlarge_ratio=15, persistent_workers=True, pin_memory=True, batch_size_per_gpu=batch)
    opt['train']['total_iter'] = iters
    opt['val']['val_freq'] = iters
    opt['logger'].update(print_freq=10, save_checkpoint_freq=iters, use_tb_logger=False)
    opt_path = os.path.join(work, 'search.yml')
    with open(opt_path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    env_cmd = [sys.executable, '-m', 'hinas_basicsr.cli', 'train', '-opt', opt_path]
    result = run(env_cmd, timeout, cwd=work, log=os.path.join(out, 'search.log'))
    result['data_prep_s'] = round(data_s, 1)
    logs = sorted(os.path.join(work, 'experiments', opt['name'], n)
                  for n in os.listdir(os.path.join(work, 'experiments', opt['name'])) if n.endswith('.log'))
    times = _log_times(open(logs[-1]).read()) if logs else {}
    warm = round(REFERENCE_WARMUP / REFERENCE_ITERS * iters)  # the weight-only warm-up (arch_warmup_ratio 0.2)
    logged = sorted(times)
    warm_its = [i for i in logged if i <= warm]  # the first logged line (10) starts the clock: start-up excluded
    full_its = [i for i in logged if i >= warm + 10]
    if len(warm_its) >= 2 and len(full_its) >= 2:
        warm_s = (times[warm_its[-1]] - times[warm_its[0]]).total_seconds() / (warm_its[-1] - warm_its[0])
        full_s = (times[full_its[-1]] - times[full_its[0]]).total_seconds() / (full_its[-1] - full_its[0])
        result.update(weight_step_s=round(warm_s, 4), iteration_s=round(full_s, 4))
        total = REFERENCE_WARMUP * warm_s + (REFERENCE_ITERS - REFERENCE_WARMUP) * full_s
        result['extrapolated_search_min'] = round(total / 60, 1)
        result['paper_search_min'] = PAPER_SEARCH_H * 60
    return result


def infer(out: str, timeout: float) -> dict:
    import cv2
    import numpy as np
    import torch
    import yaml

    import hinas_basicsr  # noqa: F401
    from hinas_basicsr.archs.hinas_net_arch import HiNASNet

    work = os.path.join('/tmp', 'hinas_gpu_check', 'infer')
    os.makedirs(work, exist_ok=True)
    genotype = os.path.join(REPO, 'options', 'demo', 'genotype_example_sr_x2.json')
    torch.manual_seed(0)
    net = HiNASNet(genotype, num_feat=16)
    weights = os.path.join(work, 'net_g.pth')
    torch.save({'params': net.state_dict()}, weights)
    opt = {'name': 'gpu_check_infer', 'model_type': 'SRModel', 'scale': 2, 'num_gpu': 1,
           'network_g': {'type': 'HiNASNet', 'genotype': genotype, 'num_feat': 16},
           'path': {'pretrain_network_g': weights, 'strict_load_g': True}}
    opt_path = os.path.join(work, 'infer.yml')
    with open(opt_path, 'w') as f:
        yaml.safe_dump(opt, f)
    from skimage import data

    image = cv2.resize(data.astronaut()[..., ::-1], (1920, 1080), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(os.path.join(work, 'frame_1080p.png'), np.ascontiguousarray(image))
    hinas = [sys.executable, '-c', 'import sys; from hinas_basicsr.cli import hinas_main; sys.exit(hinas_main())']
    result = run([*hinas, 'infer', '-opt', opt_path, '-i',
                  os.path.join(work, 'frame_1080p.png'), '-o', os.path.join(work, 'out'), '--device', 'cuda',
                  '--fp16'], timeout, cwd=work, log=os.path.join(out, 'infer.log'))
    written = os.path.join(work, 'out', 'frame_1080p_hinas.png')
    result['output'] = list(cv2.imread(written).shape) if os.path.isfile(written) else None
    return result


def table(result: dict) -> str:
    lines = [f"{result['device']}, torch {result['torch']}", '', '| stage | result | time (s) |',
             '| --- | --- | ---: |']
    stages = result['stages']
    c = stages.get('cuda', {})
    lines.append(f"| cuda tests | {c.get('passed', 0)} passed, {c.get('failed', 0)} failed (rc {c.get('rc')}) | "
                 f"{c.get('wall_s', '')} |")
    s = stages.get('search', {})
    if 'iteration_s' in s:
        lines.append(f"| search, {result['search_iters']} iterations | {s['iteration_s']:.3f} s an iteration "
                     f"({s['weight_step_s']:.3f} in the warm-up); 1,500 iterations: {s['extrapolated_search_min']} min "
                     f"(paper: {PAPER_SEARCH_H} h on a GTX 1080 Ti) | {s.get('wall_s', '')} |")
    else:
        lines.append(f"| search | rc {s.get('rc')} | {s.get('wall_s', '')} |")
    i = stages.get('infer', {})
    lines.append(f"| hinas infer --fp16, 1920x1080 x2 | output {i.get('output')} (rc {i.get('rc')}) | "
                 f"{i.get('wall_s', '')} |")
    rows = stages.get('search_step', {}).get('rows')
    if rows:
        lines += ['', '| search step (SR x4, batch 24, LR 64) | step (s) | peak (MB) | time / plain | mem / plain |',
                  '| --- | ---: | ---: | ---: | ---: |']
        lines += [f"| {r['variant']} | {r['step_s']:.4f} | {r['peak_mem_mb']:.0f} | {r.get('time_vs_plain', 0):.2f} | "
                  f"{r.get('mem_vs_plain', 0):.2f} |" for r in rows]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='folder for gpu_check.json and the stage logs')
    parser.add_argument('--stages', nargs='+', default=['cuda', 'search_step', 'search', 'infer'],
                        choices=['cuda', 'search_step', 'search', 'infer'])
    parser.add_argument('--search-iters', type=int, default=150)
    parser.add_argument('--search-images', type=int, default=52, help='whole images made for the search')
    parser.add_argument('--limits', type=float, nargs=4, default=[120, 150, 210, 60], metavar='S',
                        help='seconds for the stages cuda, search_step, search, infer')
    args = parser.parse_args(argv)
    import torch

    os.makedirs(args.out, exist_ok=True)
    result = {'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'python': sys.version.split()[0],
              'search_iters': args.search_iters, 'stages': {}}
    limits = dict(zip(['cuda', 'search_step', 'search', 'infer'], args.limits))
    for stage in args.stages:
        if stage == 'cuda':
            result['stages'][stage] = cuda_tests(args.out, limits[stage])
        elif stage == 'search_step':
            result['stages'][stage] = search_step(args.out, limits[stage])
        elif stage == 'search':
            result['stages'][stage] = search(args.out, limits[stage], args.search_images, args.search_iters)
        else:
            result['stages'][stage] = infer(args.out, limits[stage])
        with open(os.path.join(args.out, 'gpu_check.json'), 'w') as f:  # after each stage: a timeout keeps it
            json.dump(result, f, indent=1)
        print(f'{stage}: done in {result["stages"][stage].get("wall_s")} s', flush=True)
    print(table(result))
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
