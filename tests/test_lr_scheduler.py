"""The plugin's scheduler registry: HiNAS's search lr (CosinePolyLR) and the derived nets' PolyLR."""
import math

import pytest
import torch

import hinas_basicsr  # noqa: F401
from hinas_basicsr.models.lr_scheduler import SCHEDULER_REGISTRY, build_scheduler


def _reference_search_lr(epoch: int) -> float:
    # the reference's formula, written out as HINAS.md states it
    return 0.001 + 0.024 * (1 + math.cos(math.pi * epoch / 10)) / 2 * (1 - epoch / 100) ** 0.9


def _lrs_by_iteration(scheduler, optimizer, iterations: int) -> list[float]:
    """The lr used at iterations 1..N, stepped as BasicSR's update_learning_rate steps (from iteration 2)."""
    lrs = []
    for current_iter in range(1, iterations + 1):
        if current_iter > 1:
            optimizer.step()  # no gradients: a no-op, in the order torch expects
            scheduler.step()
        lrs.append(optimizer.param_groups[0]['lr'])
    return lrs


def test_cosine_poly_lr_is_the_reference_search_lr():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.025, momentum=0.9)
    iters_per_epoch = 3
    scheduler = build_scheduler(optimizer, {'type': 'CosinePolyLR'}, {'iters_per_epoch': iters_per_epoch})
    lrs = _lrs_by_iteration(scheduler, optimizer, 100 * iters_per_epoch)
    for epoch in (0, 10, 20, 99):
        for k in range(iters_per_epoch):  # constant within an epoch
            assert lrs[epoch * iters_per_epoch + k] == pytest.approx(_reference_search_lr(epoch), rel=1e-12)
    assert lrs[0] == pytest.approx(0.025) and lrs[10 * iters_per_epoch] == pytest.approx(0.001)


def test_cosine_poly_lr_options_and_resume():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    opt = {'type': 'CosinePolyLR', 'iters_per_epoch': 2, 'eta_min': 0.0, 'period': 4, 'epochs': 8, 'power': 2}
    scheduler = build_scheduler(optimizer, opt, {'iters_per_epoch': 99})  # the option wins over the model's
    lrs = _lrs_by_iteration(scheduler, optimizer, 20)
    expected = [0.1 * (1 + math.cos(2 * math.pi * e / 4)) / 2 * max(0, 1 - e / 8) ** 2 for e in range(10)]
    assert lrs == pytest.approx([expected[i // 2] for i in range(20)], abs=1e-15)
    # a scheduler rebuilt from its state dict continues the same sequence (BasicSR's resume)
    state = scheduler.state_dict()
    optimizer2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    resumed = build_scheduler(optimizer2, opt, {})
    resumed.load_state_dict(state)
    optimizer.step()
    optimizer2.step()
    scheduler.step()
    resumed.step()
    assert optimizer2.param_groups[0]['lr'] == optimizer.param_groups[0]['lr']


def test_poly_lr_keeps_the_group_ratio():
    weights, biases = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([{'params': [weights], 'lr': 0.05}, {'params': [biases], 'lr': 0.1}], lr=0.05)
    scheduler = build_scheduler(optimizer, {'type': 'PolyLR', 'power': 0.9}, {'total_iter': 10, 'iters_per_epoch': 3})
    for it in range(1, 11):
        if it > 1:
            optimizer.step()
            scheduler.step()
        decay = (1 - (it - 1) / 10) ** 0.9
        assert [g['lr'] for g in optimizer.param_groups] == pytest.approx([0.05 * decay, 0.1 * decay], rel=1e-12)


def test_registry_and_bad_options():
    assert {'CosinePolyLR', 'PolyLR'} <= set(SCHEDULER_REGISTRY.keys())
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=r'^train.scheduler.iters_per_epoch: missing \(required by CosinePolyLR\)$'):
        build_scheduler(optimizer, {'type': 'CosinePolyLR'}, {})
    with pytest.raises(ValueError, match='^train.scheduler.iters_per_epoch: expected a value >= 1, got 0$'):
        build_scheduler(optimizer, {'type': 'CosinePolyLR', 'iters_per_epoch': 0}, {})


@pytest.mark.parametrize('model_type, scheduler, error', [
    # Python's words before ('<' not supported between instances of 'str' and 'int'), or a failure in training
    ('HiNASModel', {'type': 'PolyLR', 'power': 'x'}, "train.scheduler.power: expected a finite number, got 'x'"),
    ('HiNASModel', {'type': 'PolyLR', 'power': -1}, 'train.scheduler.power: expected a value >= 0, got -1'),
    ('HiNASModel', {'type': 'PolyLR', 'pwer': 0.9}, 'train.scheduler.pwer: not an option of PolyLR (it takes '
                                                    'total_iter, power, eta_min, last_epoch)'),
    ('HiNASModel', {'type': 'CosinePolyLR'}, 'train.scheduler.iters_per_epoch: missing (required by CosinePolyLR)'),
    ('HiNASSearchModel', {'type': 'CosinePolyLR', 'epochs': 2.0}, 'train.scheduler.epochs: expected a finite integer, '
                                                                  'got 2.0'),
    ('HiNASSearchModel', {'type': 'CosinePolyLR', 'epochs': 'x'}, "train.scheduler.epochs: expected a finite integer, "
                                                                  "got 'x'"),
    ('HiNASSearchModel', {'type': 'CosinePolyLR', 'period': 0}, 'train.scheduler.period: expected a value > 0, got 0'),
])
def test_options_check_refuses_a_plugin_schedulers_bad_options(tmp_path, model_type, scheduler, error):
    from conftest import edsr_options, write_options

    from hinas_basicsr.tools.options_check import check_options

    if model_type == 'HiNASSearchModel':
        from search_helpers import make_subimage_folders, search_options

        opt = search_options(*make_subimage_folders(str(tmp_path / 'data')))
    else:
        opt = edsr_options(tmp_path / 'data')
    opt.update(name='x', model_type=model_type, num_gpu=0)
    opt['train']['scheduler'] = scheduler
    path = write_options(tmp_path / 'x.yml', opt)
    with pytest.raises(ValueError) as refused:
        check_options(str(path))
    assert str(refused.value) == f'{path}: {error}'


@pytest.mark.parametrize('model_type, scheduler_type, error', [
    ('SRModel', 'MultiStepLR', None),
    ('HiNASModel', 'PolyLR', None),
    ('HiNASSearchModel', 'CosinePolyLR', None),
    ('SRModel', 'PolyLR', 'PolyLR is a plugin scheduler, which model_type SRModel does not build'),
    ('HiNASModel', 'StepLR', "unknown type 'StepLR'"),
])
def test_options_check_refuses_a_scheduler_the_model_cannot_build(tmp_path, model_type, scheduler_type, error):
    from conftest import edsr_options, write_options

    from hinas_basicsr.tools.options_check import check_options

    if model_type == 'HiNASSearchModel':  # a complete search option file: only the scheduler is in question
        from search_helpers import make_subimage_folders, search_options

        opt = search_options(*make_subimage_folders(str(tmp_path / 'data')))
    else:  # a complete training option file
        opt = edsr_options(tmp_path / 'data')
    opt.update(name='x', model_type=model_type, num_gpu=0)
    opt['train']['scheduler'] = {'type': scheduler_type}
    if scheduler_type == 'MultiStepLR':  # BasicSR's MultiStepRestartLR needs its milestones
        opt['train']['scheduler']['milestones'] = [10]
    path = write_options(tmp_path / 'x.yml', opt)
    if error is None:
        check_options(str(path))
    else:
        with pytest.raises(ValueError, match=f'x.yml: train.scheduler.type: {error}'):
            check_options(str(path))
