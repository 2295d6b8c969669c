"""The loss and the largest weight over the first steps of a training: does an option file's recipe train, or diverge?

Builds the option file's train set and model as ``basicsr train`` does (with ``--force_yml`` entries applied, in
BasicSR's ``section:key=value`` form), runs ``--steps`` optimisation steps on one thread, and records after each the
model's logged losses, the largest absolute weight of ``net_g`` and the learning rate. A recipe that diverges shows
it within a few steps: the loss grows by orders of magnitude and the weights with it. Prints every ``--every``-th
step (and the first five); writes JSON.

    PYTHONPATH=$PWD python benchmarks/first_steps.py -opt options/train_hinas_denoise_photos_sigma50.yml --steps 80 \
        --force_yml network_g:genotype=docs/denoise_photos/sigma50/found.json --json first_steps.json
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import torch

from hinas_basicsr.tools import option_rules
from hinas_basicsr.tools.runners import _training_options, write_options
from hinas_basicsr.utils.arg_checks import count
from hinas_basicsr.utils.fileio import write_json
from hinas_basicsr.utils.options_file import load_yaml

MAX_STEPS = 100_000  # a look at the first steps, not a training


def first_steps(option: str, steps: int, force_yml: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per step: ``step``, ``lr``, ``max_abs_weight`` and the model's logged losses (``l_pix``, ...)."""
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model
    from basicsr.utils import set_random_seed

    opt = load_yaml(option, '-opt')
    option_rules.force_yml(opt, force_yml)
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
                model.optimize_parameters(step)
                largest = max(p.detach().abs().max().item() for p in model.net_g.parameters())
                rows.append({'step': step, 'lr': lr, 'max_abs_weight': largest,
                             **{k: float(v) for k, v in model.get_current_log().items()}})
                if len(rows) == steps:
                    break
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', required=True, metavar='YML', help='a training option file (basicsr train -opt)')
    parser.add_argument('--steps', type=int, default=80, help='optimisation steps (default: %(default)s)')
    parser.add_argument('--every', type=int, default=10, help='print every N-th step (default: %(default)s)')
    parser.add_argument('--force_yml', nargs='+', metavar='SECTION:KEY=VALUE', help="as basicsr train's")
    parser.add_argument('--json', metavar='OUT', help='write the rows here')
    args = parser.parse_args(argv)
    try:
        count(args.steps, '--steps', 1, MAX_STEPS, 'each an optimisation step')
        count(args.every, '--every', 1, MAX_STEPS, 'steps between printed rows')
        torch.set_num_threads(1)
        rows = first_steps(args.opt, args.steps, args.force_yml)
    except (ValueError, OSError) as err:
        print(f'first_steps: error: {err}', file=sys.stderr)
        return 2
    for row in rows:
        if row['step'] <= 5 or row['step'] % args.every == 0:
            losses = ', '.join(f'{k} {v:.4g}' for k, v in row.items() if k not in ('step', 'lr', 'max_abs_weight'))
            print(f'step {row["step"]}: lr {row["lr"]:.4g}, {losses}, largest weight {row["max_abs_weight"]:.4g}')
    if args.json:
        write_json(args.json, {'option': args.opt, 'force_yml': args.force_yml or [], 'rows': rows})
        print(f'Wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
