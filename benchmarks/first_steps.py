"""The loss and the largest weight over the first steps of a training: does an option file's recipe train, or diverge?

Builds the option file's train set and model as ``basicsr train`` does (with ``--force_yml`` entries applied, in
BasicSR's ``section:key=value`` form), runs ``--steps`` optimisation steps on one thread, and records after each the
model's logged losses, the largest absolute weight of ``net_g`` and the learning rate. A recipe that diverges shows
it within a few steps: the loss grows by orders of magnitude and the weights with it. Prints every ``--every``-th
step (and the first five); writes JSON.

``--sharpness K`` also measures, on the first batch before the first step, the largest eigenvalue of the Hessian of
the pixel loss (``cri_pix``; a search's ``cri_ssim`` too) with respect to the parameters ``optim_g`` steps (K power
iterations of Hessian-vector products; BatchNorm in training mode, as the step sees it), and which parameters its
eigenvector lies on. Each iteration's Rayleigh quotient is at most the top eigenvalue: a lower bound. Gradient descent
with momentum mu on a quadratic of curvature lambda is stable only while lr * lambda < 2 * (1 + mu): for SGD the
script prints that ceiling beside the option file's lr. A recipe whose lr exceeds it diverges from its first steps
unless the curvature falls first; Adam's steps are scaled per parameter and have no such ceiling.

    PYTHONPATH=$PWD python benchmarks/first_steps.py -opt options/train_hinas_denoise_photos_sigma50.yml --steps 80 \
        --force_yml network_g:genotype=docs/denoise_photos/sigma50/found.json --json first_steps.json
    PYTHONPATH=$PWD python benchmarks/first_steps.py -opt options/train_hinas_denoise_sigma50.yml --steps 1 \
        --sharpness 20 --force_yml network_g:genotype=docs/denoise_photos/sigma50/found.json \
        datasets:train:dataroot_gt=datasets/photos_gray/Photos_train.lmdb --json sharpness.json
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from hinas_basicsr.tools import option_rules
from hinas_basicsr.tools.runners import _training_options, write_options
from hinas_basicsr.utils.arg_checks import count
from hinas_basicsr.utils.fileio import write_json
from hinas_basicsr.utils.options_file import load_yaml

MAX_STEPS = 100_000  # a look at the first steps, not a training
MAX_POWER_ITERATIONS = 1_000  # each costs about three training steps
CONVERGED = 0.01  # the last two power iterations within this fraction of each other


def _power_iteration(hvp: Callable[[list[torch.Tensor]], list[torch.Tensor]], params: Sequence[torch.Tensor],
                     iters: int, seed: int, shift: float) -> tuple[list[float], list[torch.Tensor]]:
    """Power iteration on H + shift * I, H given by ``hvp``: the quotients of H (the shift taken off) and the unit
    vector of the last one."""
    generator = torch.Generator().manual_seed(seed)
    vector = [torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in params]
    quotients: list[float] = []
    unit: list[torch.Tensor] = []
    for _ in range(iters):
        norm = torch.sqrt(sum((v * v).sum() for v in vector))
        if not (torch.isfinite(norm) and norm > 0):
            raise ValueError('--sharpness: the Hessian-vector product is not finite or is zero')
        unit = [v / norm for v in vector]
        products = hvp(unit)
        quotients.append(float(sum((h * v).sum() for h, v in zip(products, unit))))
        vector = [h + shift * v for h, v in zip(products, unit)]
    return quotients, unit


def top_hessian_eigenvalue(loss: torch.Tensor, params: Sequence[torch.Tensor], iters: int,
                           seed: int = 0) -> tuple[list[float], list[torch.Tensor], float | None]:
    """The largest eigenvalue of the Hessian of ``loss`` with respect to ``params`` by power iteration: the Rayleigh
    quotient after each of ``iters`` Hessian-vector products (each at most the eigenvalue), the unit vector (one
    tensor per parameter) of the last, and the dominant negative eigenvalue where one outweighs it (else None).

    Power iteration finds the eigenvalue of largest magnitude; where that is negative, a second pass on
    H + |negative| * I, whose spectrum is shifted to be non-negative, finds the largest."""
    grads = torch.autograd.grad(loss, params, create_graph=True)

    def hvp(unit: list[torch.Tensor]) -> list[torch.Tensor]:
        return [h.detach() for h in torch.autograd.grad(grads, params, grad_outputs=unit, retain_graph=True)]

    quotients, unit = _power_iteration(hvp, params, iters, seed, 0.)
    if quotients[-1] >= 0:
        return quotients, unit, None
    quotients_shifted, unit = _power_iteration(hvp, params, iters, seed, -quotients[-1])
    return quotients_shifted, unit, quotients[-1]


def sharpness(model: Any, optim_opt: Mapping[str, Any], iters: int) -> dict[str, Any]:
    """The top Hessian eigenvalue of the model's pixel loss on its fed batch (a lower bound, ``converged`` when the last
    two power iterations agree within 1%), the parameters its eigenvector lies on (the largest shares of its squared
    norm), and for SGD the lr ceiling 2 * (1 + momentum) / eigenvalue, above which SGD is unstable.

    The loss is ``cri_pix``, or for a search the losses of its weight step (``_losses``: ``cri_pix`` + ``cri_ssim``);
    a search's parameters are those of its weight optimizer (``weight_parameters()``: alpha and beta left out), as
    ``optim_g`` steps them."""
    if getattr(model, 'cri_pix', None) is None:
        raise ValueError('--sharpness: the model has no pixel loss (train.pixel_opt)')
    weight_parameters = getattr(model.net_g, 'weight_parameters', None)
    stepped = {id(p) for p in weight_parameters()} if weight_parameters else None
    named = [(name, p) for name, p in model.net_g.named_parameters()
             if p.requires_grad and (stepped is None or id(p) in stepped)]
    output = model.net_g(model.lq)
    search_losses = getattr(model, '_losses', None)  # a search's own sum of its weight step's losses
    loss = search_losses(output, model.gt)[0] if search_losses else model.cri_pix(output, model.gt)
    quotients, vector, negative = top_hessian_eigenvalue(loss, [p for _, p in named], iters)
    shares = sorted(((float((v * v).sum()), name) for v, (name, _) in zip(vector, named)), reverse=True)
    result: dict[str, Any] = {'iterations': iters, 'eigenvalue': quotients[-1], 'by_iteration': quotients,
                              'dominant_negative': negative,
                              'converged': len(quotients) > 1 and
                              abs(quotients[-1] - quotients[-2]) <= CONVERGED * abs(quotients[-1]),
                              'parameters': sum(p.numel() for _, p in named),
                              'loss': float(loss.detach()), 'shares': {name: share for share, name in shares[:5]},
                              'optimizer': optim_opt['type'], 'lr': optim_opt['lr']}
    if optim_opt['type'] == 'SGD' and quotients[-1] > 0:
        momentum = float(optim_opt.get('momentum', 0))
        result.update(momentum=momentum, lr_ceiling=2 * (1 + momentum) / quotients[-1])
    return result


def first_steps(option: str, steps: int, force_yml: list[str] | None = None,
                sharpness_iters: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One row per step: ``step``, ``lr``, ``max_abs_weight`` and the model's logged losses (``l_pix``, ...); with
    ``sharpness_iters``, :func:`sharpness` on the first batch before the first step (else None)."""
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model
    from basicsr.utils import set_random_seed

    opt = load_yaml(option, '-opt')
    option_rules.force_yml(opt, force_yml)
    measured = None
    with tempfile.TemporaryDirectory() as root:
        train_opt = _training_options(write_options(os.path.join(root, 'options.yml'), opt), root, {})
        set_random_seed(train_opt.get('manual_seed') or 0)
        data = train_opt['datasets']['train']
        loader = build_dataloader(build_dataset(data), data, num_gpu=train_opt['num_gpu'], dist=False, sampler=None,
                                  seed=train_opt.get('manual_seed'))
        model = build_model(train_opt)
        rows: list[dict[str, Any]] = []
        while len(rows) < steps:
            for batch in loader:
                step = len(rows) + 1
                model.update_learning_rate(step, warmup_iter=train_opt['train'].get('warmup_iter', -1))
                lr = model.get_current_learning_rate()[0]
                model.feed_data(batch)
                if step == 1 and sharpness_iters:
                    measured = sharpness(model, train_opt['train']['optim_g'], sharpness_iters)
                model.optimize_parameters(step)
                largest = max(p.detach().abs().max().item() for p in model.net_g.parameters())
                rows.append({'step': step, 'lr': lr, 'max_abs_weight': largest,
                             **{k: float(v) for k, v in model.get_current_log().items()}})
                if len(rows) == steps:
                    break
    return rows, measured


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', required=True, metavar='YML', help='a training option file (basicsr train -opt)')
    parser.add_argument('--steps', type=int, default=80, help='optimisation steps (default: %(default)s)')
    parser.add_argument('--every', type=int, default=10, help='print every N-th step (default: %(default)s)')
    parser.add_argument('--force_yml', nargs='+', metavar='SECTION:KEY=VALUE', help="as basicsr train's")
    parser.add_argument('--sharpness', type=int, default=0, metavar='K',
                        help='measure the top Hessian eigenvalue before the first step, K power iterations '
                             '(default: 0, off)')
    parser.add_argument('--json', metavar='OUT', help='write the rows here')
    args = parser.parse_args(argv)
    try:
        count(args.steps, '--steps', 1, MAX_STEPS, 'each an optimisation step')
        count(args.every, '--every', 1, MAX_STEPS, 'steps between printed rows')
        count(args.sharpness, '--sharpness', 0, MAX_POWER_ITERATIONS, 'each a Hessian-vector product')
        torch.set_num_threads(1)
        rows, measured = first_steps(args.opt, args.steps, args.force_yml, args.sharpness)
    except (ValueError, OSError) as err:
        print(f'first_steps: error: {err}', file=sys.stderr)
        return 2
    if measured:
        path = ' -> '.join(f'{q:.4g}' for q in measured['by_iteration'][-3:])
        print(f'sharpness before step 1: top Hessian eigenvalue {measured["eigenvalue"]:.4g} (the last power '
              f'iterations: {path}); its eigenvector lies on '
              + ', '.join(f'{name} {share:.0%}' for name, share in measured['shares'].items() if share >= 0.01))
        if measured['dominant_negative'] is not None:
            print(f'(a negative eigenvalue, {measured["dominant_negative"]:.4g}, is larger in magnitude: the top one '
                  'was found on the Hessian shifted by it)')
        if 'lr_ceiling' in measured:
            print(f'SGD with momentum {measured["momentum"]:g} is unstable above lr {measured["lr_ceiling"]:.3g} (the '
                  f'top eigenvalue is at least the one measured); the option file\'s lr {measured["lr"]:g} is '
                  f'{measured["lr"] / measured["lr_ceiling"]:.2g}x that')
        if not measured['converged']:
            print(f'not converged: the last two power iterations differ by more than {CONVERGED:.0%}; '
                  'raise --sharpness')
    for row in rows:
        if row['step'] <= 5 or row['step'] % args.every == 0:
            losses = ', '.join(f'{k} {v:.4g}' for k, v in row.items() if k not in ('step', 'lr', 'max_abs_weight'))
            print(f'step {row["step"]}: lr {row["lr"]:.4g}, {losses}, largest weight {row["max_abs_weight"]:.4g}')
    if args.json:
        write_json(args.json, {'option': args.opt, 'force_yml': args.force_yml or [], 'rows': rows,
                                'sharpness': measured})
        print(f'Wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
