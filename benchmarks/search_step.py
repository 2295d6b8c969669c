"""Time HiNAS search iterations and measure their peak memory growth, side by side with a plain supernet.

One iteration is what the search model does each step after warm-up: an arch step (forward, search
loss, backward, Adam on alpha/beta) and a weight step (the same, SGD on the weights). The supernet is
built through BasicSR's ``build_network`` from the reference options. Variants:

- ``plain``: the same supernet with every cell a ``PlainCell`` (each edge computes every operation on
  its input and sums ``w_k * op_k(x)``, DARTS style), full backward passes and PyTorch's default memory
  format (NCHW): the stand-in for the reference implementation;
- ``plain-channels-last``: the same in the channels-last format (how much the format alone gives);
- ``default``: the supernet as the search runs it (fused ``Cell``, channels-last, each step computing only
  its own parameters' gradients, as ``HiNASSearchModel.optimize_parameters`` does); with
  ``--checkpoint-cells on`` also ``checkpoint_cells: true``;
- ``--levers``: the default with one lever changed (``all-grads``: every gradient in both steps;
  ``contiguous``: ``channels_last: false``; ``compile``: ``torch.compile`` of the supernet);
- ``--amp bf16``: the default (and ``checkpoint_cells``) with the forward passes under bf16 autocast.

Each variant runs in a fresh process (peak memory is per process), the variants alternate, each is run
``--rounds`` times and the best round counts. On the CPU, peak memory is measured in a run of its own (one
iteration after the warm-up) with glibc's ``MALLOC_MMAP_THRESHOLD_=65536``: every allocation of 64 KiB or more
gets a mapping of its own and is returned to the system when freed, so the growth of the peak resident set
follows the live tensors, as ``max_memory_allocated`` does on CUDA (with glibc's default, freed blocks stay in
the heap, and the timed runs' peak RSS growth, also reported, includes that slack). The table gives time and
memory and their ratios to plain.

    python benchmarks/search_step.py --task sr denoise --threads 2 --json search_step.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from plain_cell import use_plain_cells

import hinas_basicsr  # noqa: F401  (repairs BasicSR's imports: must come before basicsr)
from hinas_basicsr.archs.search_cell import Cell
from hinas_basicsr.losses.log_ssim_loss import LogSSIMLoss
from hinas_basicsr.models.hinas_search_model import grads_only_for
from hinas_basicsr.utils.fileio import write_json

# isort: split
from basicsr.archs import build_network

REFERENCE = {
    'sr': dict(num_layers=2, num_nodes=3, num_feat=8, num_in_ch=3, num_out_ch=3, ssim_weight=0.6, pixel=F.l1_loss),
    'denoise': dict(num_layers=3, num_nodes=4, num_feat=10, num_in_ch=1, num_out_ch=1, ssim_weight=0.5,
                    pixel=F.mse_loss),
}
LEVERS = ('all-grads', 'contiguous', 'compile')
# glibc: allocations of 64 KiB and more get mappings of their own, returned when freed (see the docstring)
LIVE_MEMORY_ENV = {'MALLOC_MMAP_THRESHOLD_': '65536'}


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args: argparse.Namespace, variant: dict) -> dict:
    """Build the variant's supernet and time ``args.iters`` search iterations after ``args.warmup``."""
    ref = dict(REFERENCE[args.task])
    ssim_weight, pixel_loss = ref.pop('ssim_weight'), ref.pop('pixel')
    scale = args.scale if args.task == 'sr' else 1
    channels_last = variant['impl'] != 'plain' and variant['lever'] != 'contiguous'
    opt = dict(type='HiNASSupernet', task=args.task, upscale=scale, cell_sharing=args.cell_sharing == 'on',
               checkpoint_cells=variant['checkpoint_cells'], channels_last=channels_last, **ref)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = build_network(opt).to(device).train()
    if variant['impl'] != 'default':
        use_plain_cells(net)
    model = torch.compile(net) if variant['lever'] == 'compile' else net
    restrict = variant['impl'] == 'default' and variant['lever'] != 'all-grads'
    amp = variant.get('amp') == 'bf16'  # train.amp: bf16 (the forward passes under bf16 autocast)
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=1e-3, weight_decay=1e-3)
    weight_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    log_ssim = LogSSIMLoss(ssim_weight)
    c = ref['num_in_ch']
    batches = [(torch.rand(args.batch, c, args.patch, args.patch, device=device),
                torch.rand(args.batch, c, args.patch * scale, args.patch * scale, device=device)) for _ in range(2)]

    def step(optimizer: torch.optim.Optimizer, lq: torch.Tensor, gt: torch.Tensor) -> None:
        net.zero_grad(set_to_none=True)
        params = optimizer.param_groups[0]['params']
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp), grads_only_for(net, params, restrict):
            out = model(lq).float()  # the losses in fp32, as the search model
        loss = pixel_loss(out, gt) + log_ssim(out, gt)
        loss.backward()
        optimizer.step()

    def iteration() -> float:
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(arch_opt, *batches[0])
        step(weight_opt, *batches[1])
        if device.type == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start

    base = rss_mb()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    for _ in range(args.warmup):
        iteration()
    times = [iteration() for _ in range(args.iters)]
    if device.type == 'cuda':
        peak = (torch.cuda.max_memory_allocated() - base_cuda) / 2**20
    else:
        # the kernel updates ru_maxrss lazily, so it can trail statm's current RSS by a few pages: no growth is 0
        peak = max(peak_rss_mb() - base, 0.0)
    return {'step_s': statistics.median(times), 'peak_mem_mb': round(peak, 1),
            'params': sum(p.numel() for p in net.weight_parameters()), 'channels_last': channels_last,
            'plain_cells': not any(isinstance(m, Cell) for m in net.modules())}


def variant_name(variant: dict) -> str:
    name = variant['impl'] + (' + checkpoint_cells' if variant['checkpoint_cells'] else '')
    name += ' bf16' if variant.get('amp') == 'bf16' else ''
    return name + (f' ({variant["lever"]})' if variant['lever'] else '')


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--task', nargs='+', choices=['sr', 'denoise'], default=['sr', 'denoise'])
    parser.add_argument('--scale', type=int, default=2)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--patch', type=int, default=32, help='LR patch size (input side)')
    parser.add_argument('--impl', nargs='+', choices=['plain', 'plain-channels-last', 'default'],
                        default=['plain', 'default'])
    parser.add_argument('--checkpoint-cells', nargs='+', choices=['off', 'on'], default=['off', 'on'],
                        help='checkpoint_cells of the default (plain runs off only)')
    parser.add_argument('--levers', nargs='*', choices=LEVERS, default=[],
                        help='also the default with one lever changed')
    parser.add_argument('--amp', nargs='+', choices=['fp32', 'bf16'], default=['fp32'],
                        help='precision of the default (bf16: train.amp: bf16; plain runs fp32 only)')
    parser.add_argument('--cell-sharing', choices=['on', 'off'], default='on')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=2, help='runs of each variant; the best counts')
    parser.add_argument('--json', help='write the result here')
    parser.add_argument('--one', help=argparse.SUPPRESS)  # internal: measure this variant (JSON) and print it
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.one:
        args.task = args.task[0]
        measured = measure(args, json.loads(args.one))
        print(json.dumps(measured))
        return measured

    variants = [dict(impl=impl, checkpoint_cells=ck == 'on', lever=None, amp=amp) for impl in args.impl
                for amp in args.amp for ck in args.checkpoint_cells
                if impl == 'default' or (ck == 'off' and amp == 'fp32')]
    variants += [dict(impl='default', checkpoint_cells=False, lever=lever) for lever in args.levers]
    common = ['--scale', str(args.scale), '--batch', str(args.batch), '--patch', str(args.patch),
              '--cell-sharing', args.cell_sharing, '--device', args.device, '--threads', str(args.threads),
              '--warmup', str(args.warmup)]
    exact_memory_run = args.device == 'cpu'

    def run_one(task: str, variant: dict, iters: int, env: dict[str, str] | None = None) -> dict:
        cmd = [sys.executable, os.path.abspath(__file__), '--task', task, *common, '--iters', str(iters),
               '--one', json.dumps(variant)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        return json.loads(done.stdout.strip().splitlines()[-1])

    rows = []
    for task in args.task:
        runs: dict[int, list[dict]] = {i: [] for i in range(len(variants))}
        memory: dict[int, float] = {}
        for round_ in range(args.rounds):  # alternate the variants: a load spike hits one round, not one variant
            for i, variant in enumerate(variants):
                runs[i].append(run_one(task, variant, args.iters))
                if exact_memory_run and round_ == 0:
                    memory[i] = run_one(task, variant, 1, {**os.environ, **LIVE_MEMORY_ENV})['peak_mem_mb']
        for i, variant in enumerate(variants):
            rss = min(r['peak_mem_mb'] for r in runs[i])
            rows.append({'task': task, 'variant': variant_name(variant), **variant,
                         'step_s': min(r['step_s'] for r in runs[i]), 'peak_mem_mb': memory.get(i, rss),
                         'peak_rss_mb': rss, 'params': runs[i][0]['params'], 'runs': runs[i]})
        plain = next((r for r in rows if r['task'] == task and r['impl'] == 'plain'), None)
        for row in rows:
            if row['task'] == task and plain is not None:
                row['time_vs_plain'] = round(row['step_s'] / plain['step_s'], 3)
                row['mem_vs_plain'] = round(row['peak_mem_mb'] / max(plain['peak_mem_mb'], 1e-9), 3)

    print(f'device {args.device}, {args.threads} threads, batch {args.batch}, LR patch {args.patch}, '
          f'median of {args.iters} iterations, best of {args.rounds} alternating runs')
    print(f'{"task":<8} {"variant":<34} {"step s":>8} {"peak MB":>8} {"time/plain":>10} {"mem/plain":>9} '
          f'{"RSS MB":>8}')
    for row in rows:
        print(f'{row["task"]:<8} {row["variant"]:<34} {row["step_s"]:>8.3f} {row["peak_mem_mb"]:>8.1f} '
              f'{row.get("time_vs_plain", float("nan")):>10.2f} {row.get("mem_vs_plain", float("nan")):>9.2f} '
              f'{row["peak_rss_mb"]:>8.1f}')
    result = {'device': args.device, 'threads': args.threads, 'batch': args.batch, 'patch': args.patch,
              'scale': args.scale, 'cell_sharing': args.cell_sharing == 'on', 'iters': args.iters,
              'rounds': args.rounds, 'rows': rows}
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
