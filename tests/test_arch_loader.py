"""The A-split loader: one DataLoader whose workers persist across passes, the same batches with any number of
workers, and a resume mid-pass that continues with the batch an uninterrupted search would take."""
from __future__ import annotations

import torch
from search_helpers import build_search_model, make_subimage_folders, search_options

import hinas_basicsr  # noqa: F401


def _model(tmp_path, workers: int):
    gt_dir, lq_dir = make_subimage_folders(str(tmp_path / 'data'), num_images=6, subs=2, size=24)
    opt = search_options(gt_dir, lq_dir, batch=2)  # A: 4 sub-images, 2 batches a pass
    opt['datasets']['train']['num_worker_per_gpu'] = workers
    return build_search_model(opt, str(tmp_path / f'exp{workers}'))


def _batches(model, count: int) -> list[torch.Tensor]:
    return [model._next_arch_batch()['gt'] for _ in range(count)]


def test_workers_persist_and_batches_do_not_depend_on_them(tmp_path):
    serial = _model(tmp_path, 0)
    expected = _batches(serial, 5)  # two and a half passes
    assert serial.arch_pass == 2 and serial.arch_batch == 1
    assert not torch.equal(expected[0], expected[2])  # each pass draws its own order and crops

    parallel = _model(tmp_path, 2)
    got = _batches(parallel, 2)
    pids = [w.pid for w in parallel._arch_iter._workers]
    loader = parallel._arch_loader()
    got += _batches(parallel, 3)
    assert parallel._arch_loader() is loader and [w.pid for w in parallel._arch_iter._workers] == pids
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert loader.pin_memory is False  # on the CPU; CUDA models pin by default


def test_resume_mid_pass_continues_with_the_uninterrupted_batch(tmp_path):
    first = _model(tmp_path, 0)
    expected = _batches(first, 4)
    resumed = _model(tmp_path, 0)
    resumed.arch_pass, resumed.arch_batch = 1, 1  # as resume_training restores them after 3 A steps
    torch.manual_seed(123)  # the main process's streams play no part in the A batches
    assert torch.equal(resumed._next_arch_batch()['gt'], expected[3])
