"""Inference speed of the derived HiNAS net (training and deploy form), EDSR-baseline and RCAN on one input.

For each model: params, FLOPs (``compare.count_flops``: 2 per multiply-add of convolutions), the median
latency of one forward pass (``compare.median_latency``) and the achieved GFLOP/s = FLOPs / latency / 1e9.
The deploy form is the training form with BatchNorm folded into the convolutions (``deploy.deploy_form``);
``hinas_deploy_cl`` is the same in channels-last layout (weights and input), the form `hinas export --deploy` writes.

    python benchmarks/inference.py --size 128 --runs 10 --json out.json
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import torch
from torch import nn

import hinas_basicsr  # noqa: F401  (repairs BasicSR's imports: must come before basicsr)
from hinas_basicsr.archs.hinas_net_arch import HiNASNet
from hinas_basicsr.tools.compare import count_flops, count_params, median_latency
from hinas_basicsr.tools.deploy import deploy_form, max_abs_diff
from hinas_basicsr.utils.fileio import write_json

# isort: split
from basicsr.archs.edsr_arch import EDSR
from basicsr.archs.rcan_arch import RCAN

GENOTYPE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'options', 'demo',
                        'genotype_example_sr_x2.json')


def build_models(genotype: str, num_feat: int) -> dict[str, Callable[[], nn.Module]]:
    """Model name -> factory (in eval mode): the HiNAS net in both forms, EDSR-baseline and RCAN (x2)."""
    def hinas() -> nn.Module:
        torch.manual_seed(0)
        net = HiNASNet(genotype, num_feat=num_feat).eval()
        with torch.no_grad():  # non-trivial BN statistics and last conv, so the deploy check means something
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
            net.decoder.conv_last.weight.normal_(0, 0.01)
        return net

    return {
        'hinas': hinas,
        'hinas_deploy': lambda: deploy_form(hinas(), channels_last=False),
        'hinas_deploy_cl': lambda: deploy_form(hinas()),
        'edsr_baseline': lambda: EDSR(3, 3, num_feat=64, num_block=16, upscale=2).eval(),
        'rcan': lambda: RCAN(3, 3, upscale=2).eval(),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--genotype', default=GENOTYPE)
    parser.add_argument('--num-feat', type=int, default=16)
    parser.add_argument('--models', nargs='+', default=['hinas', 'hinas_deploy', 'hinas_deploy_cl', 'edsr_baseline'],
                        choices=['hinas', 'hinas_deploy', 'hinas_deploy_cl', 'edsr_baseline', 'rcan'])
    parser.add_argument('--size', type=int, default=128, help='input side (1x3xSxS)')
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    factories = build_models(args.genotype, args.num_feat)
    x = torch.rand(1, 3, args.size, args.size, device=device)
    rows, outputs = [], {}
    for name in args.models:
        net = factories[name]().to(device)
        x = x.contiguous(memory_format=torch.channels_last if name.endswith('_cl') else torch.contiguous_format)
        with torch.no_grad():
            outputs[name] = net(x)
            flops = count_flops(net, x)
            latency = median_latency(lambda net=net, x=x: net(x), args.runs, device)
        rows.append({'model': name, 'params': count_params(net), 'flops': flops, 'latency_s': latency,
                     'gflops_per_s': flops / latency / 1e9, 'input': list(x.shape), 'device': str(device),
                     'threads': torch.get_num_threads()})
    for row in rows:
        if row['model'].startswith('hinas_deploy') and 'hinas' in outputs:
            row['max_abs_diff_vs_hinas'] = max_abs_diff(outputs['hinas'], outputs[row['model']])

    print(f'{"model":<16} {"params":>10} {"GFLOPs":>8} {"latency ms":>11} {"GFLOP/s":>8}')
    for r in rows:
        print(f'{r["model"]:<16} {r["params"]:>10} {r["flops"] / 1e9:>8.2f} {r["latency_s"] * 1e3:>11.1f} '
              f'{r["gflops_per_s"]:>8.1f}')
    if args.json:
        write_json(args.json, rows)
    return rows


if __name__ == '__main__':
    main(sys.argv[1:])
