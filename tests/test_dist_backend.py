"""The process group's backend from the options' num_gpu, with CUDA availability and the GPU count patched."""
from __future__ import annotations

import datetime
import sys

import pytest
import torch
import yaml

import hinas_basicsr  # noqa: F401
from hinas_basicsr import compat


@pytest.fixture
def calls(monkeypatch):
    """Patch torch.distributed's init and CUDA's set_device: record what init_dist asks of them."""
    import torch.distributed as dist

    seen: dict = {}
    monkeypatch.setattr(dist, 'init_process_group', lambda **kw: seen.update(kw))
    monkeypatch.setattr(torch.cuda, 'set_device', lambda d: seen.update(device=d))
    for key in ('LOCAL_WORLD_SIZE', 'LOCAL_RANK', 'RANK'):
        monkeypatch.delenv(key, raising=False)
    return seen


def _machine(monkeypatch, gpus: int) -> None:
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: gpus)


@pytest.mark.parametrize('num_gpu, gpus, backend', [
    (0, 0, 'gloo'), (0, 2, 'gloo'),  # CPU ranks on a GPU machine: gloo (NCCL would fail on CPU tensors)
    ('auto', 0, 'gloo'), ('auto', 2, 'nccl'),
    (1, 0, None), (1, 2, 'nccl')])  # None: refused
def test_backend_follows_num_gpu_and_the_machine(monkeypatch, calls, num_gpu, gpus, backend):
    _machine(monkeypatch, gpus)
    monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    if backend is None:
        with pytest.raises(ValueError, match=r'^num_gpu: 1 but this machine has no CUDA device; use num_gpu: 0'):
            compat.init_dist('pytorch', num_gpu=num_gpu)
        assert calls == {}
        return
    compat.init_dist('pytorch', num_gpu=num_gpu)
    assert calls['backend'] == backend
    assert calls.get('device') == (1 if backend == 'nccl' else None)  # the local rank's GPU, none for gloo
    assert calls['timeout'] == datetime.timedelta(minutes=60)


def test_more_ranks_than_gpus_refused_in_one_line(monkeypatch, calls):
    _machine(monkeypatch, 2)
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '3')  # rank 0 refuses too: every rank stops, none waits on the others
    with pytest.raises(ValueError) as err:
        compat.init_dist('pytorch', num_gpu='auto')
    assert str(err.value) == ('--launcher pytorch: 3 ranks on this machine but 2 CUDA device(s): run at most 2 '
                              'ranks per machine (torchrun --nproc_per_node 2), or num_gpu: 0 for CPU ranks on gloo')
    assert calls == {}
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    compat.init_dist('pytorch', num_gpu='auto', timeout_minutes=90)
    assert calls['backend'] == 'nccl' and calls['timeout'] == datetime.timedelta(minutes=90)


def test_parse_options_hands_num_gpu_and_timeout_to_init_dist(monkeypatch, calls, tmp_path):
    """BasicSR's parse_options initialises the process group before it reads num_gpu: the wrapper reads it first."""
    _machine(monkeypatch, 2)
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '1')
    import basicsr.train
    import torch.distributed as dist

    monkeypatch.setattr(dist, 'is_initialized', lambda: False)  # get_dist_info: rank 0 of 1
    opt = {'name': 'x', 'model_type': 'SRModel', 'num_gpu': 0, 'manual_seed': 0, 'datasets': {},
           'path': {}, 'dist_params': {'timeout_minutes': 30}}
    path = tmp_path / 'o.yml'
    path.write_text(yaml.safe_dump(opt))
    for argv, backend in (([], 'gloo'), (['--force_yml', 'num_gpu=auto'], 'nccl')):
        monkeypatch.setattr(sys, 'argv', ['basicsr', '-opt', str(path), '--launcher', 'pytorch', *argv])
        calls.clear()
        basicsr.train.parse_options(str(tmp_path), is_train=False)
        assert calls['backend'] == backend and calls['timeout'] == datetime.timedelta(minutes=30)
