"""Export a trained network: TorchScript, deploy form (BatchNorm folded) and ONNX, each checked.

    hinas export -opt options/train_hinas_sr_x2.yml --weights net_g_latest.pth --deploy \\
        --out results/export/hinas_x2_deploy.pt --onnx results/export/hinas_x2.onnx

The deploy form must reproduce the trained network to --tolerance (default 1e-4) on a random
input, and the ONNX file must do the same under onnxruntime; otherwise nothing is written.
"""
from __future__ import annotations

import argparse
import os

import torch
from torch import nn

from hinas_basicsr.tools import deploy
from hinas_basicsr.tools.networks import load_network
from hinas_basicsr.tools.options_check import check_hinas_networks
from hinas_basicsr.utils import arg_checks
from hinas_basicsr.utils.options_file import load_yaml

TOLERANCE = 1e-4
TORCHSCRIPT_SUFFIXES = ('.pt', '.pth', '.ts', '.torchscript')


# Spellings of earlier releases, refused with the new one (a checkpoint is --weights in every command).
RENAMED_FLAGS = {'--checkpoint': '--weights PTH'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('-opt', required=True, help='option file whose network_g is exported')
    parser.add_argument('--weights', metavar='PTH',
                        help='BasicSR .pth (default: path.pretrain_network_g of the options)')
    parser.add_argument('--deploy', action='store_true',
                        help='fold BatchNorm into the preceding convolutions, channels-last layout')
    parser.add_argument('--contiguous', action='store_true', help='with --deploy: keep the NCHW layout')
    parser.add_argument('--out', help='TorchScript file (default: results/export/<options>[_deploy].pt)')
    parser.add_argument('--onnx', help='also write an ONNX file here, checked with onnxruntime')
    parser.add_argument('--input-size', type=int, nargs=2, default=[64, 64], metavar=('H', 'W'),
                        help='size of the input used to trace and check (default: 64 64)')
    parser.add_argument('--tolerance', type=float, default=TOLERANCE, help='largest allowed output difference')


def input_channels(net: nn.Module) -> int:
    """Channels of the network's input: those of its first convolution."""
    return next(m for m in net.modules() if isinstance(m, nn.Conv2d)).in_channels


def _check_arguments(args: argparse.Namespace) -> str:
    """Every argument checked before anything is read or written; returns the TorchScript path."""

    if args.contiguous and not args.deploy:
        raise ValueError('--contiguous: only with --deploy (it keeps the deploy form in NCHW; the network as '
                         'trained is exported as it is)')
    arg_checks.sizes(args.input_size, '--input-size')
    arg_checks.number(args.tolerance, '--tolerance', 0)
    stem = os.path.splitext(os.path.basename(args.opt))[0] + ('_deploy' if args.deploy else '')
    out = args.out or os.path.join('results', 'export', f'{stem}.pt')
    if args.onnx and os.path.abspath(args.onnx) == os.path.abspath(out):
        raise ValueError(f'--onnx: {args.onnx} is also the --out file; give the two files different names')
    arg_checks.output_file(out, '--out', TORCHSCRIPT_SUFFIXES)
    if args.onnx:
        arg_checks.output_file(args.onnx, '--onnx', ('.onnx',))
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as err:
            raise ValueError(f"--onnx: needs the onnx and onnxruntime packages ({err}; pip install -e '.[onnx]')"
                             ) from None
    return out


def run(args: argparse.Namespace) -> int:
    out = _check_arguments(args)
    check_hinas_networks(load_yaml(args.opt), args.opt)
    net = load_network(args.opt, args.weights, device=torch.device('cpu'), checkpoint_name='--weights')
    example = torch.rand(1, input_channels(net), *args.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = net(example)
    exported = deploy.deploy_form(net, channels_last=not args.contiguous) if args.deploy else net
    with torch.no_grad():
        diff = deploy.max_abs_diff(exported(example), reference)
    if diff > args.tolerance:
        raise ValueError(f'{args.opt}: the deploy form differs from the network by {diff:.2e} > {args.tolerance}')
    if args.onnx:  # written and checked first: a failing ONNX export leaves no TorchScript file either
        deploy.export_onnx(exported, example, args.onnx)
        onnx_diff = deploy.max_abs_diff(deploy.run_onnx(args.onnx, example), reference)
        if onnx_diff > args.tolerance:
            os.remove(args.onnx)
            raise ValueError(f'{args.onnx}: onnxruntime output differs by {onnx_diff:.2e} > {args.tolerance}')
    deploy.save_torchscript(exported, example, out)
    print(f'TorchScript: {out} (max |diff| {diff:.2e}; BatchNorms left: '
          f'{sum(isinstance(m, nn.BatchNorm2d) for m in exported.modules())})')
    if args.onnx:
        print(f'ONNX: {args.onnx} (onnxruntime max |diff| {onnx_diff:.2e})')
    return 0
