"""Time full HiNAS search iterations and measure their peak memory growth.

One iteration is what the search model does each step after warm-up: an arch step (forward, search
loss, backward, Adam on alpha/beta) and a weight step (the same, SGD on the weights). The supernet
is built through BasicSR's ``build_network`` from the reference options.

    python benchmarks/search_step.py --task sr --scale 2 --batch 8 --patch 32 --json out.json
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import hinas_basicsr  # noqa: F401  (repairs BasicSR's imports: must come before basicsr)
from hinas_basicsr.fileio import write_json
from hinas_basicsr.losses.log_ssim_loss import LogSSIMLoss

# isort: split
from basicsr.archs import build_network

REFERENCE = {
    'sr': dict(num_layers=2, num_nodes=3, num_feat=8, num_in_ch=3, num_out_ch=3, ssim_weight=0.6, pixel=F.l1_loss),
    'denoise': dict(num_layers=3, num_nodes=4, num_feat=10, num_in_ch=1, num_out_ch=1, ssim_weight=0.5,
                    pixel=F.mse_loss),
}


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--task', choices=['sr', 'denoise'], default='sr')
    parser.add_argument('--scale', type=int, default=2)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--patch', type=int, default=32, help='LR patch size (input side)')
    parser.add_argument('--cell-sharing', choices=['on', 'off'], default='on')
    parser.add_argument('--checkpoint-cells', choices=['on', 'off'], default='off')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--json', help='write the result here')
    args = parser.parse_args(argv)

    ref = dict(REFERENCE[args.task])
    ssim_weight, pixel_loss = ref.pop('ssim_weight'), ref.pop('pixel')
    scale = args.scale if args.task == 'sr' else 1
    opt = dict(type='HiNASSupernet', task=args.task, upscale=scale, cell_sharing=args.cell_sharing == 'on', **ref)
    if args.checkpoint_cells == 'on':
        opt['checkpoint_cells'] = True
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = build_network(opt).to(device).train()
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=1e-3, weight_decay=1e-3)
    weight_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    log_ssim = LogSSIMLoss(ssim_weight)
    c = ref['num_in_ch']
    batches = [(torch.rand(args.batch, c, args.patch, args.patch, device=device),
                torch.rand(args.batch, c, args.patch * scale, args.patch * scale, device=device)) for _ in range(2)]

    def step(optimizer: torch.optim.Optimizer, lq: torch.Tensor, gt: torch.Tensor) -> None:
        net.zero_grad(set_to_none=True)
        out = net(lq)
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
        peak = peak_rss_mb() - base
    result = {
        'task': args.task, 'scale': scale, 'batch': args.batch, 'patch': args.patch,
        'cell_sharing': args.cell_sharing == 'on', 'checkpoint_cells': args.checkpoint_cells == 'on',
        'device': str(device), 'threads': torch.get_num_threads(), 'iters': args.iters,
        'step_s_median': statistics.median(times), 'step_s_min': min(times),
        'peak_mem_mb': round(peak, 1), 'params': sum(p.numel() for p in net.weight_parameters()),
        'arch_params': sum(p.numel() for p in net.arch_parameters()),
    }
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f'{key:<{width}}  {value:.4f}' if isinstance(value, float) else f'{key:<{width}}  {value}')
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == '__main__':
    main(sys.argv[1:])
