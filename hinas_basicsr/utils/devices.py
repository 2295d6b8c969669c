"""The device policy of a run: how many GPUs ``num_gpu: auto`` means, and the process group's backend.

A policy, not a repair of BasicSR: :mod:`hinas_basicsr.compat` applies it inside BasicSR's option parsing and
``init_dist``, and the runners apply it to the trainings they start.
"""
from __future__ import annotations

import torch


def dist_backend(num_gpu: int | str, cuda_available: bool) -> str:
    """The process group's backend for the options' ``num_gpu``: gloo where the ranks compute on the CPU
    (``num_gpu: 0``, or ``auto`` without CUDA), NCCL where they compute on CUDA (``auto`` or a count, with CUDA)."""
    if num_gpu == 0:
        return 'gloo'
    if num_gpu == 'auto':
        return 'nccl' if cuda_available else 'gloo'
    if not cuda_available:
        raise ValueError(f'num_gpu: {num_gpu} but this machine has no CUDA device; use num_gpu: 0 (gloo on the CPU)')
    return 'nccl'


def resolve_num_gpu(num_gpu: int | str, dist: bool) -> tuple[int, str | None]:
    """``num_gpu`` as a count, and the line to log when ``auto`` was narrowed.

    ``auto`` under a launcher is every CUDA device (one rank each). ``auto`` without a launcher is one GPU where
    there are several, not BasicSR's DataParallel over all of them: that multiplies the batch by their number,
    which changes the search's schedule and empties the epochs of small splits (the demo's 10 W images at
    batch 5 x 3 GPUs). Several GPUs in one run go through torchrun. An explicit count is kept as it is.
    """
    if num_gpu != 'auto':
        return int(num_gpu), None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if dist or count <= 1:
        return count, None
    return 1, (f'num_gpu: auto without a launcher: 1 of the {count} CUDA devices (DataParallel would multiply '
               f'the batch by {count}); to use all of them run torchrun --nproc_per_node {count} -m '
               'hinas_basicsr.cli train -opt OPT --launcher pytorch')
