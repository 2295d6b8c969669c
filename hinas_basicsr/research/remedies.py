"""The search remedies of docs/remedies.md as option overrides, for the benchmark and the remedy option files.

Each remedy changes one thing of a search's options (merged into ``network_g`` and ``train``); the reference
(no override) stays the default of every reference option file. :func:`apply_overrides` merges one into a
search's options, as ``search_vs_random``'s ablations change ``network_g``.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from hinas_basicsr.search.flops_model import DEFAULT_INPUT, DEFAULT_NUM_FEAT, DEFAULT_WEIGHT

DEMO_FLOPS_TARGET = 8.0  # GFLOPs at 128x128: the lower quartile of uniform random x2 genotypes of the demo's space

REMEDIES: dict[str, dict[str, Any]] = {
    # cells by DARTS-PT's perturbation, widths by the best one-hot beta, both on the supernet's validation
    # (the central 64 x 64 LR pixels of each val image: the selection evaluates the supernet about 155 times)
    'perturbation': {'train': {'selection_opt': {'type': 'perturbation', 'val_crop': 64}}},
    # a search head shaped like the derived decoder (it sees the low-level input that decoder will see)
    'decoder_head': {'network_g': {'search_head': 'decoder'}},
    # the architecture optimizer without weight decay (the reference: Adam lr 1e-3, weight decay 1e-3)
    'arch_no_weight_decay': {'train': {'optim_arch': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0}}},
    # the architecture optimizer at 3x the reference lr, without weight decay
    'arch_lr_3e-3': {'train': {'optim_arch': {'type': 'Adam', 'lr': 3e-3, 'weight_decay': 0}}},
}


def flops_target_overrides(gflops: float, input_size: Sequence[int] = DEFAULT_INPUT,
                           num_feat: int = DEFAULT_NUM_FEAT, weight: float = DEFAULT_WEIGHT) -> dict[str, Any]:
    """The cost-target remedy: ``train.flops_opt`` asking for ``gflops`` GFLOPs of the derived net (F =
    ``num_feat``) on one LR input of ``input_size``, with the TF-NAS penalty's ``weight``."""
    return {'train': {'flops_opt': {'type': 'target', 'gflops': float(gflops), 'input': [int(v) for v in input_size],
                                    'num_feat': int(num_feat), 'weight': float(weight)}}}


# a cost target for the demo's space (x2, L = 2, B = 3, the derived net at F = 16): ask for a cheaper net than most
REMEDIES['flops_target'] = flops_target_overrides(DEMO_FLOPS_TARGET)


def apply_overrides(opt: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``opt`` with ``overrides`` merged in: mappings key by key, every other value replaced."""
    merged = copy.deepcopy(dict(opt))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = apply_overrides(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
