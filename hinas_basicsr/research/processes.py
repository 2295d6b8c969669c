"""The processes the research harness trains and times in.

Spawned, not forked: each is a fresh interpreter, so it opens the LMDB environments its datasets read (LMDB opens
an environment once a process) and never inherits an OpenMP pool its parent already used. Where several run at once,
each computes with one torch thread, so that the processes are the parallelism and their figures are those of one
thread.
"""
from __future__ import annotations

import multiprocessing
from concurrent import futures

import torch


def _one_thread() -> None:
    torch.set_num_threads(1)


def training_pool(workers: int, one_thread: bool = True) -> futures.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each with one torch thread (``one_thread``) or torch's default."""
    return futures.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context('spawn'),
                                       initializer=_one_thread if one_thread else None)
