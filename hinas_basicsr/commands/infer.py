"""Apply a trained network to your own images (a file or a folder), whole or in tiles.

    hinas infer -opt options/test_hinas_sr_x2.yml [--weights net_g.pth] -i photos/ -o results/infer --tile 256
    hinas infer --torchscript results/export/hinas_x2_deploy.pt -i photo.png -o out/ --device cuda --fp16

Writes OUT/<stem>_hinas.png per input. Super-resolution or denoising follows from what the network
does (its output size over its input size); a gray image given to a colour net is replicated into 3
channels (the result is colour), a colour image given to a gray net is converted to gray. With
--tile N the image is processed in N x N input tiles, each with --tile-pad context pixels per side
(default: the network's receptive-field radius, measured and printed): with a pad at least that
radius, tiles give the whole-image output. A file that cannot be read is reported in one line and
skipped; the exit code is then 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

import torch

from hinas_basicsr.tools import infer
from hinas_basicsr.tools.networks import load_network
from hinas_basicsr.utils import arg_checks
from hinas_basicsr.utils.checkpoints import check_finite, check_finite_output

# Spellings of earlier releases, refused with the new one (``--model`` names NAME=YML in compare).
RENAMED_FLAGS = {'--model': '--torchscript PT'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('-opt', help='BasicSR test or train option file whose network_g is applied')
    source.add_argument('--torchscript', metavar='PT', help='TorchScript file written by hinas export')
    parser.add_argument('--weights', metavar='PTH',
                        help='with -opt: BasicSR checkpoint (default: path.pretrain_network_g of the options)')
    parser.add_argument('-i', '--input', required=True, metavar='FILE_OR_DIR', help='an image or a folder of images')
    parser.add_argument('-o', '--output', required=True, metavar='DIR', help='output folder')
    parser.add_argument('--tile', type=int, default=0, metavar='N',
                        help='input tile size in pixels, 0 for the whole image at once (default: 0)')
    parser.add_argument('--tile-pad', type=int, default=None, metavar='P',
                        help='context pixels around each tile (default: the receptive-field radius, or 32 '
                             'for a net that sees the whole image)')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto',
                        help='auto: cuda if available (default: auto)')
    parser.add_argument('--fp16', action='store_true', help='half precision (CUDA only)')


def _check_arguments(args: argparse.Namespace) -> torch.device:
    if args.weights and not args.opt:
        raise ValueError('--weights: only with -opt (a --torchscript file holds its weights)')
    if args.tile < 0:
        raise ValueError(f'--tile: expected 0 (whole image) or a positive size, got {args.tile}')
    if args.tile_pad is not None and args.tile_pad < 0:
        raise ValueError(f'--tile-pad: expected a non-negative number of pixels, got {args.tile_pad}')
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: CUDA is not available on this machine')
    if args.device == 'auto':
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    else:
        device = torch.device(args.device)
    if args.fp16 and device.type != 'cuda':
        raise ValueError(f'--fp16: half precision needs CUDA, but the device is {device.type}')
    arg_checks.output_dir(args.output, '-o')
    for path, option, what in ((args.opt, '-opt', 'option file'),
                               (args.torchscript, '--torchscript', 'TorchScript file'),
                               (args.weights, '--weights', 'checkpoint file')):
        if path:
            arg_checks.input_file(path, option, what)
    return device


def _load(args: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    if args.torchscript:
        try:
            net = torch.jit.load(args.torchscript, map_location=device).eval()
        except Exception as err:  # noqa: BLE001  (torch.jit.load raises RuntimeError, ValueError, ...)
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            raise ValueError(f'--torchscript: {args.torchscript} is not a TorchScript file '
                             f'({lines[0][:120] if lines else type(err).__name__})') from None
        check_finite(dict(net.state_dict()), args.torchscript, '--torchscript')
        return net

    return load_network(args.opt, args.weights, device, checkpoint_name='--weights')


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    device = _check_arguments(args)
    inputs = infer.list_inputs(args.input)
    outputs = [infer.output_path(p, args.output) for p in inputs]
    clashes = sorted(o for o, n in Counter(outputs).items() if n > 1)
    if clashes:
        raise ValueError(f'-i: several inputs would write {clashes[0]} (same file name stem)')
    net = _load(args, device)
    try:
        shape = infer.probe_shape(net, device)
    except ValueError as err:
        raise ValueError(f'{"--torchscript" if args.torchscript else "-opt"}: {args.torchscript or args.opt}: {err}'
                         ) from None
    print(f'network: {shape.task}, {shape.in_channels} -> {shape.out_channels} channels, on {device}')
    pad = args.tile_pad
    if args.tile:
        field = infer.receptive_field(net, shape, device)
        print(f'receptive field: {field.describe()}')
        pad = pad if pad is not None else (field.radius if field.radius is not None else 32)
        if field.radius is not None and pad < field.radius:
            print(f'note: --tile-pad {pad} < radius {field.radius}: tile seams will differ from the whole image')
        print(f'tiles of {args.tile}x{args.tile} input pixels, {pad} pixels of context per side')
    dtype = torch.float32
    if args.fp16:
        net, dtype = net.half(), torch.float16
    failed = []
    os.makedirs(args.output, exist_ok=True)
    with tqdm(total=len(inputs), desc='images', unit='img') as images:
        for source, target in zip(inputs, outputs):
            try:
                img, note = infer.read_image(source, shape.in_channels)
            except ValueError as err:
                failed.append(source)
                tqdm.write(f'hinas infer: error: {err}', file=sys.stderr)
                images.update()
                continue
            if note:
                tqdm.write(f'{source}: {note}')
            boxes = len(infer.tile_boxes(*img.shape[:2], args.tile))
            try:
                with tqdm(total=boxes, desc=os.path.basename(source), unit='tile', leave=False,
                          disable=boxes == 1) as tiles:
                    out = infer.restore(net, img, shape, device, args.tile, pad or 0, dtype, tiles.update)
                check_finite_output(out, source)
            except RuntimeError as err:  # out of memory, or a size the network cannot take
                failed.append(source)
                hint = ' (try a smaller --tile)' if 'out of memory' in str(err) else ''
                tqdm.write(f'hinas infer: error: {source}: the network failed: {str(err).splitlines()[0]}{hint}',
                           file=sys.stderr)
            except ValueError as err:  # a non-finite output: reported, never written as an image
                failed.append(source)
                tqdm.write(f'hinas infer: error: {err}', file=sys.stderr)
            else:
                infer.save_image(out, target)
            images.update()
    done = len(inputs) - len(failed)
    print(f'{done} of {len(inputs)} images written to {args.output}' +
          (f'; failed: {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0
