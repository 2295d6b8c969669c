"""The random streams of a run: python's, numpy's and torch's (and a CUDA device's), saved, restored and seeded.

The search model saves them in its training state, and the split dataset draws its A/W split inside
:func:`seeded_rngs`, so both layers take them from here.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """The python, numpy and torch CPU random states, and on a CUDA ``device`` that device's (this rank's)."""
    state = {'python': random.getstate(), 'numpy': np.random.get_state(), 'torch': torch.get_rng_state()}
    if device is not None and device.type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what :func:`rng_state` returned (tensors may come back on any device).

    The CUDA state goes to ``device`` when that is a CUDA device; a state saved where no CUDA ran (or resumed
    where none runs) leaves CUDA alone. A list (older states: every visible GPU's) gives ``device`` its own
    entry where it has one, so fewer visible GPUs than at saving is no error.
    """
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda is None or device is None or device.type != 'cuda':
        return
    if isinstance(cuda, (list, tuple)):
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= len(cuda):
            return
        cuda = cuda[index]
    torch.cuda.set_rng_state(cuda.cpu(), device)


def rank_rng_state(saved: dict[str, Any] | list[dict[str, Any]], rank: int) -> dict[str, Any] | None:
    """This rank's entry of the saved RNG states (one per rank, in rank order; older states: one dict, rank 0's),
    or None where the saving run had fewer ranks."""
    states = saved if isinstance(saved, list) else [saved]
    return states[rank] if rank < len(states) else None


@contextlib.contextmanager
def seeded_rngs(seed: int) -> Iterator[None]:
    """Within: python's, numpy's and torch's CPU random streams seeded with ``seed``; restored on exit."""
    state = rng_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        set_rng_state(state)
