"""num_gpu: auto without a launcher on a several-GPU machine (GPU count patched): one GPU, a line naming torchrun."""
from __future__ import annotations

import sys

import pytest
import torch
from conftest import REPO
from search_helpers import build_search_model, make_subimage_folders, search_options

import hinas_basicsr  # noqa: F401
from hinas_basicsr.utils.devices import resolve_num_gpu


def _gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: count > 0)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: count)


@pytest.mark.parametrize('count, dist, expected', [(0, False, 0), (1, False, 1), (4, False, 1), (4, True, 4)])
def test_auto_is_one_gpu_without_a_launcher(monkeypatch, count, dist, expected):
    _gpus(monkeypatch, count)
    num_gpu, note = resolve_num_gpu('auto', dist)
    assert num_gpu == expected
    assert (note is not None) == (count > 1 and not dist)
    assert resolve_num_gpu(2, False) == (2, None)  # an explicit count is the user's: kept


@pytest.mark.slow
def test_demo_search_on_four_gpus_still_gets_its_iterations(monkeypatch, tmp_path, capsys):
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.data.data_sampler import EnlargedSampler
    from basicsr.train import parse_options

    from hinas_basicsr.tools.sample_data import ensure_sample_data

    monkeypatch.chdir(tmp_path)
    ensure_sample_data('datasets/sample')
    _gpus(monkeypatch, 4)
    monkeypatch.setattr(sys, 'argv', ['basicsr', '-opt', str(REPO / 'options/demo/search_sr_x2.yml')])
    opt, _ = parse_options(str(tmp_path), is_train=True)
    assert opt['num_gpu'] == 1
    assert 'num_gpu: auto without a launcher: 1 of the 4 CUDA devices' in capsys.readouterr().out
    train_opt = opt['datasets']['train']
    train_set = build_dataset(train_opt)
    # BasicSR's train loader, as its train pipeline builds it: 2 iterations an epoch (10 W sub-images, batch 5);
    # with DataParallel over the 4 GPUs (batch 20) it would have none
    sampler = EnlargedSampler(train_set, 1, 0, train_opt['dataset_enlarge_ratio'])
    loader = build_dataloader(train_set, train_opt, num_gpu=opt['num_gpu'], dist=False, sampler=sampler, seed=0)
    assert len(train_set) == 10 and len(loader) == 2
    four = build_dataloader(train_set, train_opt, num_gpu=4, dist=False, sampler=sampler, seed=0)
    assert len(four) == 0


def test_search_refuses_an_epoch_without_a_batch(tmp_path):
    gt_dir, lq_dir = make_subimage_folders(str(tmp_path / 'data'), num_images=6, subs=2, size=24)
    opt = search_options(gt_dir, lq_dir, batch=9)  # W: 6 sub-images
    with pytest.raises(ValueError, match=r'^datasets.train: an epoch of the W split \(6 samples over 1 rank\(s\)\) '
                                         r'holds no batch of 9'):
        build_search_model(opt, str(tmp_path / 'exp'))
