"""One check per rule: each rule lives in the component that owns it, and the options check calls that check.

For each rule a bad value is planted in a valid option file; the options check's message is the owner's own
message prefixed with the file, and it says the rule once.
"""
from __future__ import annotations

import os

import pytest
import torch
from search_helpers import make_subimage_folders, search_options, write_search_options

from hinas_basicsr.compat import latest_state, optimizer_class
from hinas_basicsr.models.hinas_model import check_clip_grad_value
from hinas_basicsr.models.hinas_search_model import check_train_set
from hinas_basicsr.models.numerics import amp_dtype, check_amp
from hinas_basicsr.tools.options_check import check_options, dataset_entry_specs, resume_state_path


@pytest.fixture
def search_yml(tmp_path):
    gt_dir, lq_dir = make_subimage_folders(str(tmp_path / 'data'))
    return tmp_path, search_options(gt_dir, lq_dir)


def _as_training(opt: dict) -> dict:
    """The tiny search's data trained as a derived net (HiNASModel): the clip rule is that model's."""
    genotype = {'format': 'hinas-genotype', 'version': 1, 'task': 'sr', 'scale': 2, 'num_in_ch': 3, 'num_nodes': 2,
                'width_factors': [1, 1.5, 2], 'ops': ['conv_3x3', 'skip_connect', 'none'],
                'cells': [[['conv_3x3', 0], ['skip_connect', 1], ['conv_3x3', 1], ['conv_3x3', 2]]] * 2,
                'widths': [0, 0]}
    train_set = dict(opt['datasets']['train']['dataset'], phase='train')
    return dict(opt, model_type='HiNASModel', network_g={'type': 'HiNASNet', 'genotype': genotype, 'num_feat': 4},
                datasets={'train': {'name': 'TinyTrain', **train_set, 'num_worker_per_gpu': 0,
                                    'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1, 'prefetch_mode': None}},
                train={k: v for k, v in opt['train'].items() if k not in ('optim_arch', 'arch_warmup_iter',
                                                                         'best_after_ratio', 'scheduler')},
                val=None)


def plant(opt: dict, rule: str) -> tuple[dict, BaseException]:
    """``opt`` with the rule's bad value, and the error the rule's owner raises for it."""
    opt = {k: (dict(v) if isinstance(v, dict) else v) for k, v in opt.items()}
    train = opt['train'] = dict(opt['train'])
    if rule == 'amp value':
        train['amp'] = 'fp16'
        owner = _raised(amp_dtype, train)
    elif rule == 'amp model':
        opt = _as_training(opt)
        opt['model_type'], train = 'SRModel', opt['train']
        opt['network_g'] = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 4, 'num_block': 1,
                            'upscale': 2}
        train['amp'] = 'bf16'
        owner = _raised(check_amp, train, 'SRModel')
    elif rule == 'clip_grad_value':
        opt = _as_training(opt)
        opt['train']['clip_grad_value'] = -5
        owner = _raised(check_clip_grad_value, opt['train'])
    elif rule == 'split: w':
        opt['datasets'] = dict(opt['datasets'])
        opt['datasets']['train'] = dict(opt['datasets']['train'], split='a')
        owner = _raised(check_train_set, opt['datasets']['train'])
    elif rule == 'torch.optim':
        train['optim_g'] = dict(train['optim_g'], type='NoSuchOptimizer')
        owner = _raised(optimizer_class, 'NoSuchOptimizer', 'train.optim_g')
    else:
        raise AssertionError(rule)
    return opt, owner


def _raised(check, *args) -> BaseException:
    with pytest.raises(ValueError) as info:
        check(*args)
    return info.value


@pytest.mark.parametrize('rule', ['amp value', 'amp model', 'clip_grad_value', 'split: w', 'torch.optim'])
def test_the_options_check_says_the_owners_message_once(rule, search_yml, monkeypatch):
    tmp_path, opt = search_yml
    monkeypatch.chdir(tmp_path)
    check_options(write_search_options(str(tmp_path / 'good.yml'), opt))  # the unplanted file passes
    bad, owner = plant(opt, rule)
    path = write_search_options(str(tmp_path / 'bad.yml'), bad)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError) as info:
        check_options(path)
    assert str(info.value) == f'{path}: {owner}'
    key = str(owner).split(':')[0]  # the option the rule is about, e.g. train.amp
    assert str(info.value).count(key) == 1
    assert sorted(os.listdir(tmp_path)) == before


def test_the_latest_training_state_is_found_by_one_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / 'experiments' / 'run' / 'training_states'
    assert latest_state(str(folder)) is None
    folder.mkdir(parents=True)
    for name in ('5.state', '40.state', '300.state', 'x.state', '7.pth'):
        torch.save({}, folder / name)
    expected = os.path.join(str(folder), '300.state')  # highest iter, not the last name in sorted order
    assert latest_state(str(folder)) == expected
    assert resume_state_path({'name': 'run'}, auto_resume=True, debug=False) == os.path.join(
        'experiments', 'run', 'training_states', '300.state')


def test_an_inner_dataset_is_expanded_by_one_function():
    inner = {'type': 'PairedImageDataset'}
    assert dataset_entry_specs('train', {'type': 'HiNASSplitDataset', 'dataset': inner}) == [
        ('datasets.train', {'type': 'HiNASSplitDataset', 'dataset': inner}), ('datasets.train.dataset', inner)]
    assert dataset_entry_specs('val', {'type': 'PairedImageDataset'}) == [('datasets.val',
                                                                          {'type': 'PairedImageDataset'})]
