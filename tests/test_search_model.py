"""HiNASSearchModel and HiNASSplitDataset: splits, optimizer isolation, a CLI search, exact resumption."""
from __future__ import annotations

import json
import os
import random
from copy import deepcopy

import cv2
import numpy as np
import pytest
import torch
from search_helpers import build_search_model, make_subimage_folders, search_options, write_search_options

from hinas_basicsr.cli import basicsr_main, hinas_main
from hinas_basicsr.data.hinas_split_dataset import HiNASSplitDataset, image_of, split_indices
from hinas_basicsr.models.hinas_search_model import HiNASSearchModel
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.trellis import num_edges

pytestmark = pytest.mark.usefixtures('one_thread')


def test_split_is_disjoint_covering_and_grouped_by_image():
    keys = [f'{i:04d}_s{s:03d}' for i in range(1, 41) for s in range(1, 4)] + ['lonely']
    splits = split_indices(keys, val_ratio=0.05, seed=3)
    sets = {name: set(idx) for name, idx in splits.items()}
    assert sets['w'].isdisjoint(sets['a']) and sets['w'].isdisjoint(sets['val']) and sets['a'].isdisjoint(sets['val'])
    assert sets['w'] | sets['a'] | sets['val'] == set(range(len(keys)))
    images = {name: {image_of(keys[i]) for i in idx} for name, idx in splits.items()}
    assert len(images['val']) == 2  # round(0.05 * 41 images)
    assert (len(images['w']), len(images['a'])) == (20, 19)  # the other 39 images halved, W rounded up
    assert images['w'].isdisjoint(images['a']) and images['val'].isdisjoint(images['w'] | images['a'])
    assert split_indices(keys, 0.05, 3) == splits
    assert split_indices(keys, 0.05, 4) != splits


def _to_lmdb(folder: str) -> str:
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    names = sorted(os.listdir(folder))
    make_lmdb_from_imgs(folder, f'{folder}.lmdb', names, [os.path.splitext(n)[0] for n in names])
    return f'{folder}.lmdb'


@pytest.mark.parametrize('backend', ['disk', 'lmdb'])
def test_split_dataset_wraps_a_basicsr_dataset(tmp_path, backend):
    gt, lq = make_subimage_folders(str(tmp_path), num_images=5, subs=2, size=16)
    opt = search_options(gt, lq)['datasets']['train']
    if backend == 'lmdb':
        opt['dataset'].update(dataroot_gt=_to_lmdb(gt), dataroot_lq=_to_lmdb(lq), io_backend={'type': 'lmdb'})
    names = {f'{i:04d}_s{s:03d}' for i in range(1, 6) for s in (1, 2)}
    seen = {}
    for split in ('w', 'a', 'val'):  # three datasets over the same files, read in one process
        dataset = HiNASSplitDataset({**deepcopy(opt), 'split': split, 'phase': 'train', 'scale': 2})
        items = [dataset[i] for i in range(len(dataset))]
        assert all(it['gt'].shape == (3, 16, 16) and it['lq'].shape == (3, 8, 8) for it in items)
        seen[split] = {os.path.splitext(os.path.basename(it['gt_path']))[0] for it in items}
    assert {k: len(v) for k, v in seen.items()} == {'w': 4, 'a': 4, 'val': 2}
    assert seen['w'] | seen['a'] | seen['val'] == names
    assert len({image_of(k) for k in seen['val']}) == 1  # both sub-images of the held-out image
    with pytest.raises(ValueError, match="split: 'x' is not one of w, a, val"):
        HiNASSplitDataset({**deepcopy(opt), 'split': 'x', 'phase': 'train'})


def test_split_group_by_option():
    keys = [f'photo{i}_{k}' for i in range(5) for k in range(8)]
    assert len(set(map(image_of, keys))) == 40  # the default groups only BasicSR's _s001 sub-images
    splits = split_indices(keys, 0.2, 0, group_by=r'^(.+)_\d+$')
    assert sorted(len(v) for v in splits.values()) == [8, 16, 16]
    assert all(len({image_of(keys[i], r'^(.+)_\d+$') for i in idx}) == len(idx) // 8 for idx in splits.values())


OPTION_FILES = ['search_sr_x2.yml', 'search_sr_x3.yml', 'search_sr_x4.yml', 'search_denoise.yml',
                'demo/search_sr_x2.yml', 'demo/search_denoise.yml']


@pytest.mark.parametrize('name', OPTION_FILES)
def test_search_option_files(name):
    from basicsr.archs import build_network

    from hinas_basicsr.utils.options_file import load_yaml

    opt = load_yaml(os.path.join(os.path.dirname(__file__), '..', 'options', name))
    assert opt['model_type'] == 'HiNASSearchModel' and opt['num_gpu'] == 'auto'
    train_set, val_set = opt['datasets']['train'], opt['datasets']['val']
    assert (train_set['type'], train_set['split'], val_set['type'], val_set['split']) == (
        'HiNASSplitDataset', 'w', 'HiNASSplitDataset', 'val')
    assert train_set['dataset'] == val_set['dataset'] and train_set['prefetch_mode'] is None
    assert train_set['val_ratio'] == val_set['val_ratio'] and train_set['split_seed'] == val_set['split_seed']
    train = opt['train']
    assert train['optim_g']['type'] == 'SGD'  # scheduler and loss of the reference files: test_search_schedule.py
    assert (train['optim_arch']['type'], train['optim_arch']['lr'], train['arch_warmup_ratio']) == ('Adam', 1e-3, 0.2)
    assert set(opt['val']['metrics']) == {'psnr', 'ssim'}
    net_opt = opt['network_g']
    net = build_network(deepcopy(net_opt))
    assert net.alpha.shape == (net_opt['num_layers'], num_edges(net_opt['num_nodes']), 7)
    inner = train_set['dataset']
    if net_opt['task'] == 'sr':
        scale = opt['scale']
        assert net_opt['upscale'] == scale and inner['type'] == 'PairedImageDataset'
        suffix = '_sub' if name.startswith('demo/') else ''  # the reference search crops whole images
        assert inner['dataroot_lq'].endswith(f'DIV2K_train_LR_bicubic_X{scale}{suffix}.lmdb')
        assert not name.startswith('demo/') or train['ssim_opt']['loss_weight'] == 0.6
    else:
        assert (net_opt['num_in_ch'], net_opt['upscale'], inner['gray'], inner['sigma']) == (1, 1, True, [30, 50, 70])
        assert not name.startswith('demo/') or train['pixel_opt']['type'] == 'MSELoss'
    if not name.startswith('demo/'):  # the reference settings
        sr = net_opt['task'] == 'sr'
        assert (net_opt['num_layers'], net_opt['num_nodes'], net_opt['num_feat']) == ((2, 3, 8) if sr else (3, 4, 10))
        assert train_set['batch_size_per_gpu'] == (24 if sr else 6)
        assert inner['gt_size'] == (64 * opt['scale'] if sr else 64)
        assert train_set['val_ratio'] == (0.05 if sr else 0.02)
        assert opt['logger']['save_checkpoint_freq'] == opt['val']['val_freq']
    else:
        assert opt['sample_data'] == 'datasets/sample' and inner['dataroot_gt'].startswith('datasets/sample/')


def _model(opt: dict, root: str) -> HiNASSearchModel:
    return build_search_model(opt, root)


def test_optimizers_touch_only_their_parameters(tmp_path):
    gt, lq = make_subimage_folders(str(tmp_path), num_images=5, subs=2, size=16)
    model = _model(search_options(gt, lq), str(tmp_path / 'exp'))
    net = model.net_g
    arch_ids = {id(p) for p in net.arch_parameters()}
    assert {id(p) for g in model.optimizer_arch.param_groups for p in g['params']} == arch_ids
    assert not arch_ids & {id(p) for g in model.optimizer_g.param_groups for p in g['params']}
    assert model.optimizer_arch not in model.optimizers
    batch = {'lq': torch.rand(2, 3, 8, 8), 'gt': torch.rand(2, 3, 16, 16)}

    def snapshot():
        return ([p.detach().clone() for p in net.arch_parameters()],
                [p.detach().clone() for p in net.weight_parameters()])

    def changed(before, params):
        return [not torch.equal(b, p) for b, p in zip(before, params)]

    def backward():
        for p in net.parameters():
            p.grad = None
        model._losses(net(batch['lq']), batch['gt'])[0].backward()  # gradients on every parameter

    backward()
    arch0, weights0 = snapshot()
    model.optimizer_arch.step()
    assert all(changed(arch0, net.arch_parameters()))
    assert not any(changed(weights0, net.weight_parameters()))
    backward()
    arch1, weights1 = snapshot()
    model.optimizer_g.step()
    assert not any(changed(arch1, net.arch_parameters()))
    assert sum(changed(weights1, net.weight_parameters())) > 0.9 * len(weights1)
    # a warm-up iteration (weights only) leaves alpha and beta alone, a later one moves them
    model.feed_data(batch)
    arch2, _ = snapshot()
    model.optimize_parameters(current_iter=model.arch_warmup_iter)
    assert not any(changed(arch2, net.arch_parameters()))
    model.optimize_parameters(current_iter=model.arch_warmup_iter + 1)
    assert all(changed(arch2, net.arch_parameters()))
    assert set(model.log_dict) == {'l_arch', 'l_pix', 'l_ssim'}


@pytest.mark.slow
def test_compiled_forward_takes_the_same_steps(tmp_path):
    """``train.compile`` (here with the eager backend: dynamo's graph capture without code generation, which
    takes minutes on this CPU) trains the same supernet as the plain forward: the same parameters after an
    arch step and a weight step."""
    gt, lq = make_subimage_folders(str(tmp_path), num_images=5, subs=2, size=16)
    batch = {'lq': torch.rand(2, 3, 8, 8), 'gt': torch.rand(2, 3, 16, 16)}
    models = []
    for compile_opt in (False, {'backend': 'eager'}):
        opt = search_options(gt, lq)
        opt['train']['compile'] = compile_opt
        torch.manual_seed(0)
        model = _model(opt, str(tmp_path / f'exp_{bool(compile_opt)}'))
        model.feed_data(batch)
        random.seed(0)  # the A batch's random crop and flips
        model.optimize_parameters(current_iter=model.arch_warmup_iter + 1)
        models.append(model)
    plain, compiled = models
    assert compiled.net_forward is not compiled.net_g and plain.net_forward is plain.net_g
    assert set(compiled.log_dict) == {'l_arch', 'l_pix', 'l_ssim'}
    for (name, a), b in zip(plain.net_g.state_dict().items(), compiled.net_g.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6), name


def _train(root, opt: dict, *extra: str) -> None:
    path = write_search_options(str(root / f'{opt["name"]}.yml'), opt)
    assert basicsr_main(['train', '-opt', path, *extra]) == 0


@pytest.fixture(scope='module')
def searches(tmp_path_factory):
    """An uninterrupted 6-iteration search, and the same search stopped at iter 3 and auto-resumed."""
    root = tmp_path_factory.mktemp('search')
    old = os.getcwd()
    os.chdir(root)
    try:
        gt, lq = make_subimage_folders(str(root / 'data'))
        # 12 sub-images of 6 images: val 1 image; W 3 images = 6 samples = 3 batches = one epoch
        _train(root, search_options(gt, lq, name='full'))
        _train(root, search_options(gt, lq, name='resumed'), '--force_yml', 'train:total_iter=3')
        first_part = sorted(os.listdir(root / 'experiments' / 'resumed' / 'genotypes'))
        _train(root, search_options(gt, lq, name='resumed'), '--auto_resume')
    finally:
        os.chdir(old)
    return root / 'experiments', first_part


@pytest.mark.slow
def test_search_writes_genotypes(searches):
    experiments, _ = searches
    out = experiments / 'full' / 'genotypes'
    assert sorted(os.listdir(out)) == ['best.json', 'best.png', 'iter_3.json', 'iter_3.png', 'iter_6.json',
                                       'iter_6.png']
    for name in ('iter_3', 'iter_6', 'best'):
        genotype = Genotype.load(out / f'{name}.json')
        assert (genotype.task, genotype.scale, genotype.num_layers, genotype.num_nodes) == ('sr', 2, 2, 2)
        assert set(genotype.search) == {'alpha_softmax', 'transitions', 'iteration', 'val_psnr', 'val_ssim'}
        assert genotype.search['val_psnr'] > 10 and 0 < genotype.search['val_ssim'] <= 1
        with open(out / f'{name}.png', 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    best = Genotype.load(out / 'best.json').search
    scores = [Genotype.load(out / f'iter_{i}.json').search for i in (3, 6)]
    assert best['val_ssim'] + best['val_psnr'] / 100 == max(s['val_ssim'] + s['val_psnr'] / 100 for s in scores)
    state = torch.load(experiments / 'full' / 'training_states' / '6.state', weights_only=False)
    assert state['hinas']['optimizer_arch']['state']  # the arch optimizer took steps and was saved
    assert (state['hinas']['arch_pass'], state['hinas']['arch_batch']) == (1, 2)  # 4 A steps, 2 batches a pass
    assert state['epoch'] == 2  # 6 iterations of 3 per epoch: the search continues in epoch 2 (counted from 0)


@pytest.mark.slow
def test_resumed_search_ends_with_the_same_genotype(searches):
    experiments, first_part = searches
    assert 'iter_6.json' not in first_part and 'iter_3.json' in first_part
    full = json.loads((experiments / 'full' / 'genotypes' / 'iter_6.json').read_text())
    resumed = json.loads((experiments / 'resumed' / 'genotypes' / 'iter_6.json').read_text())
    assert resumed['cells'] == full['cells'] and resumed['widths'] == full['widths']
    np.testing.assert_allclose(resumed['search']['alpha_softmax'], full['search']['alpha_softmax'], atol=1e-6)
    for row_full, row_resumed in zip(full['search']['transitions'], resumed['search']['transitions']):
        for p_full, p_resumed in zip(row_full, row_resumed):
            assert (p_full is None) == (p_resumed is None)
            if p_full is not None:
                np.testing.assert_allclose(p_resumed, p_full, atol=1e-6)
    assert resumed['search']['val_psnr'] == pytest.approx(full['search']['val_psnr'], abs=1e-6)
    # the search moved alpha: a check that resumed an untouched alpha would prove nothing
    assert np.abs(np.array(full['search']['alpha_softmax']) - 1 / 7).max() > 1e-5


def test_each_validation_sends_alpha_and_trellis_images_to_tensorboard(searches):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    experiments, _ = searches
    events = EventAccumulator(str(experiments.parent / 'tb_logger' / 'full'), size_guidance={'images': 0})
    events.Reload()
    assert {'arch/alpha_softmax', 'arch/trellis_beta'} <= set(events.Tags()['images'])
    for tag in ('arch/alpha_softmax', 'arch/trellis_beta'):
        images = events.Images(tag)
        assert sorted({i.step for i in images}) == [3, 6]  # one per validation (BasicSR's last repeats iter 6)
        picture = cv2.imdecode(np.frombuffer(images[-1].encoded_image_string, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape[0] > 100 and picture.std() > 10


@pytest.mark.slow
def test_hinas_report_on_a_search(searches):
    from hinas_basicsr.search.report import course_panels, load_search_course

    experiments, _ = searches
    assert hinas_main(['report', str(experiments / 'full')]) == 0
    assert cv2.imread(str(experiments / 'full' / 'report.png')) is not None
    panels = course_panels(load_search_course(str(experiments / 'full')))
    assert panels['iterations'] == [3, 6]
    assert panels['alpha_max_mean'][-1] > 1 / 7  # alpha moved, as the files say
    # (the log's losses are checked in test_search_report.py: in this process BasicSR's root logger writes every
    # run's messages to the first run's log file)
