"""Per-rank RNG states in the search's training state, and resuming where fewer (or no) GPUs are visible."""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from search_helpers import build_search_model, make_subimage_folders, search_options

import hinas_basicsr  # noqa: F401
from hinas_basicsr.models import hinas_search_model as hsm


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_rng_state_round_trip_on_the_cpu():
    torch.manual_seed(3)
    state = hsm.rng_state(torch.device('cpu'))
    assert 'cuda' not in state  # a CPU rank touches no CUDA state (nor initialises CUDA)
    first = _draws()
    hsm.set_rng_state(state, torch.device('cpu'))
    assert _draws() == first


def test_cuda_state_of_this_rank_only_and_resumable_with_fewer_gpus(monkeypatch):
    """CUDA patched: the state holds this rank's device's CUDA state; restoring it, or an older state's list of
    every visible GPU's, onto a machine that sees fewer GPUs (or none) is no error."""
    set_calls = []
    monkeypatch.setattr(torch.cuda, 'get_rng_state',
                        lambda device='cuda': torch.full((8,), device.index, dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, 'set_rng_state', lambda s, device='cuda': set_calls.append((int(s[0]), device)))
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 0)
    state = hsm.rng_state(torch.device('cuda', 3))  # rank 3 of a 4-GPU machine
    assert state['cuda'].tolist() == [3] * 8
    hsm.set_rng_state(state, torch.device('cuda', 0))  # resumed as rank 3 on a machine showing it one GPU
    assert set_calls == [(3, torch.device('cuda', 0))]
    set_calls.clear()
    hsm.set_rng_state(state, torch.device('cpu'))  # resumed on CPU ranks: CUDA left alone
    assert set_calls == []
    old = dict(state, cuda=[torch.full((8,), i, dtype=torch.uint8) for i in range(4)])  # get_rng_state_all, 4 GPUs
    hsm.set_rng_state(old, torch.device('cuda', 1))
    hsm.set_rng_state(old, torch.device('cuda', 5))  # a device the saving machine did not have: skipped
    assert set_calls == [(1, torch.device('cuda', 1))]


def test_each_rank_resumes_its_own_streams(tmp_path, monkeypatch):
    import torch.distributed as dist

    gt_dir, lq_dir = make_subimage_folders(str(tmp_path / 'data'), num_images=6, subs=2, size=24)
    opt = search_options(gt_dir, lq_dir)
    opt['path']['training_states'] = str(tmp_path / 'states')
    os.makedirs(opt['path']['training_states'])
    model = build_search_model(opt, str(tmp_path / 'exp'))
    # rank 1's streams, seeded apart (BasicSR seeds manual_seed + rank), as all_gather_object brings them
    random.seed(101)
    np.random.seed(101)
    torch.manual_seed(101)
    rank1 = hsm.rng_state(torch.device('cpu'))
    rank1_draws = _draws()
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    rank0 = hsm.rng_state(torch.device('cpu'))
    rank0_draws = _draws()

    def gather(out, obj):
        out[:] = [obj, rank1]

    monkeypatch.setattr(dist, 'get_world_size', lambda: 2)
    monkeypatch.setattr(dist, 'all_gather_object', gather)
    model.opt['dist'] = True
    hsm.set_rng_state(rank0)
    model.save_training_state(0, 3)
    state = torch.load(tmp_path / 'states' / '3.state', weights_only=False)
    assert len(state['hinas']['rng']) == 2

    for rank, expected in ((0, rank0_draws), (1, rank1_draws)):
        model.opt['rank'] = rank
        random.seed(7)
        model.resume_training(state)
        assert _draws() == expected, rank
    model.opt['rank'] = 2  # more ranks than saved: that rank keeps its own seeded streams
    random.seed(7)
    expected = random.random()
    random.seed(7)
    model.resume_training(state)
    assert random.random() == expected
