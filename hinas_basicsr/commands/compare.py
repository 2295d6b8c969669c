"""Compare trained nets (and bicubic, or the noisy input and BM3D) on the same test sets: PSNR/SSIM, params, FLOPs.

Each --model is NAME=YML[:WEIGHTS]: the network is BasicSR's build_network(network_g) of
that option file, with the weights of WEIGHTS (a BasicSR .pth: the entry path.param_key_g names,
as basicsr test reads it; with no param_key_g, params_ema if saved, else params), or of the file's
path.pretrain_network_g when WEIGHTS is left out. A path may hold a colon: YML[:WEIGHTS] that is an
existing file as a whole is the option file alone (e=run:2.yml), else it is split at its last colon.
The test sets are the datasets: section of --test-opt, each built with BasicSR's build_dataset as
basicsr test builds it (e.g. PairedImageDataset for SR, HiNASNoisyImageDataset with its gray, sigma
and noise_seed for denoising), and scored with BasicSR's tensor2img and metrics, so the numbers are
basicsr test's. SR is scored on the Y channel with scale pixels cropped, against MATLAB-bicubic;
denoising on the dataset's channels with no crop, against the noisy input and BM3D (told each image's
sigma; with the optional extra bm3d, pip install -e '.[bm3d]'; without it one line says it is skipped).
FLOPs are FlopCounterMode's count (2 per multiply-add of convs and matmuls) for one input of
--flops-size; latency is the median of --latency-runs forward passes on the current device.
Writes OUT/compare.csv (model,set,psnr,ssim,params,flops,latency_s,flops_input,device),
OUT/compare.md and OUT/psnr_vs_flops.png.

  hinas compare --test-opt options/test_edsr_x2.yml \\
      --model edsr=options/test_edsr_x2.yml --model hinas=options/test_hinas_sr_x2.yml:net_g_latest.pth
"""
from __future__ import annotations

import argparse

from hinas_basicsr.tools.compare import check_latency_runs, compare, parse_model_spec
from hinas_basicsr.utils import arg_checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument('--model', action='append', default=[], metavar='NAME=YML[:WEIGHTS]',
                        help='a network to compare (repeat for several)')
    parser.add_argument('--test-opt', required=True, metavar='YML',
                        help='option file whose datasets: are the test sets')
    parser.add_argument('--task', choices=['sr', 'denoise'], default=None,
                        help='default: sr if the test sets have dataroot_lq, else denoise')
    parser.add_argument('--scale', type=int, default=None, help="SR scale (default: the test options' scale)")
    parser.add_argument('--flops-size', type=int, nargs=2, default=(128, 128), metavar=('H', 'W'),
                        help='network input size for FLOPs and latency (default: 128 128)')
    parser.add_argument('--latency-runs', type=int, default=5, metavar='N', help='timed forward passes (default: 5)')
    parser.add_argument('--out', default='results/compare', metavar='DIR', help='output folder (default: %(default)s)')


def run(args: argparse.Namespace) -> int:
    arg_checks.sizes(args.flops_size, '--flops-size')
    check_latency_runs(args.latency_runs)
    if args.scale is not None and args.scale < 1:
        raise ValueError(f'--scale: expected a scale >= 1, got {args.scale}')
    arg_checks.output_dir(args.out, '--out')
    compare([parse_model_spec(m) for m in args.model], args.test_opt, args.out, task=args.task,
            scale=args.scale, flops_size=tuple(args.flops_size), latency_runs=args.latency_runs)
    with open(f'{args.out}/compare.md', encoding='utf-8') as f:
        print(f.read(), end='')
    print(f'Wrote {args.out}/compare.csv, {args.out}/compare.md and {args.out}/psnr_vs_flops.png')
    return 0
