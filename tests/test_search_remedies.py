"""The search remedies as options of a search: selection by perturbation, the decoder head, a FLOPs target."""
from __future__ import annotations

import json
import os

import pytest
import torch
from judge_helpers import inherited_psnrs
from search_helpers import make_subimage_folders, search_options, write_search_options

from hinas_basicsr.archs.hinas_net_arch import low_level_cell
from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.cli import basicsr_main
from hinas_basicsr.research.judge import judge_of_search
from hinas_basicsr.research.remedies import REMEDIES, apply_overrides
from hinas_basicsr.search.judge import one_hot_weights, valid_paths
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.path_probs import low_level_probs
from hinas_basicsr.tools.options_check import check_options
from hinas_basicsr.utils.options_file import load_yaml

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.mark.slow
def test_a_search_with_every_remedy_selects_by_perturbation_at_the_end(tmp_path, monkeypatch, basicsr_log):
    monkeypatch.chdir(tmp_path)
    gt, lq = make_subimage_folders(str(tmp_path / 'data'))
    opt = search_options(gt, lq, name='remedies')
    opt['network_g']['search_head'] = 'decoder'
    opt['train'].update(selection_opt={'type': 'perturbation', 'bn': 'calibrate', 'calib_batches': 1},
                        flops_opt={'type': 'target', 'gflops': 0.2, 'input': [32, 32]},
                        optim_arch={'type': 'Adam', 'lr': 3e-3, 'weight_decay': 0})
    path = write_search_options(str(tmp_path / 'remedies.yml'), opt)
    assert basicsr_main(['train', '-opt', path]) == 0
    out = tmp_path / 'experiments' / 'remedies' / 'genotypes'
    assert sorted(os.listdir(out)) == ['best.json', 'best.png', 'best.search.json', 'iter_3.json', 'iter_3.png',
                                       'iter_6.json', 'iter_6.png', 'perturbation.json', 'perturbation.png',
                                       'perturbation.search.json']
    best, selected = Genotype.load(out / 'best.json'), Genotype.load(out / 'perturbation.json')
    assert best == selected and best.search == selected.search
    # the genotype file holds the architecture and the one-hot weights it decodes from, no selection scores
    for name in ('best', 'perturbation'):
        assert set(json.loads((out / f'{name}.json').read_text())['search']) == {'alpha_softmax', 'transitions',
                                                                                 'iteration'}
    assert best.search['iteration'] == 6
    # what the selection measured is in the record beside it
    record = json.loads((out / 'best.search.json').read_text())
    assert record == json.loads((out / 'perturbation.search.json').read_text())
    assert record['format'] == 'hinas-search-record' and record['iteration'] == 6
    assert record['selection_opt'] == {'type': 'perturbation', 'bn': 'calibrate', 'calib_batches': 1,
                                       'val_batches': None, 'val_crop': None}
    assert record['flops_opt'] == {'type': 'target', 'gflops': 0.2, 'input': [32, 32], 'num_feat': 16, 'weight': 0.1}
    assert len(record['path_psnr']) == 5 and record['path_psnr'][','.join(map(str, best.widths))] == max(
        record['path_psnr'].values())
    assert Genotype.load(out / 'iter_6.json').search['alpha_softmax'] == record['supernet']['alpha_softmax']
    assert not (out / 'iter_6.search.json').exists()
    log = basicsr_log.getvalue()
    assert 'l_flops' in log and 'gflops' in log and 'Genotype selected by perturbation at iter 6' in log
    # the benchmark's entry point: the finished search's supernet, val split and A-split calibration
    judge = judge_of_search(path, bn='calibrate', calib_batches=2)
    assert judge.net.search_head == 'decoder' and len(judge.val) == 2 and len(judge.calibration) == 2
    assert judge_of_search(path).bn == 'batch'
    assert torch.equal(judge.net.alpha, torch.load(tmp_path / 'experiments' / 'remedies' / 'models' /
                                                   'net_g_latest.pth', weights_only=True)['params']['alpha'])
    scores = inherited_psnrs(judge, [best, Genotype.load(out / 'iter_6.json')])
    assert all(10 < s < 60 for s in scores)


def _refused_before_anything_is_written(tmp_path, capsys, path) -> str:
    """``basicsr train -opt path``: exit 2, one line on stderr (returned), no experiments/ folder."""
    capsys.readouterr()
    os.chdir(tmp_path)
    try:
        assert basicsr_main(['train', '-opt', path]) == 2
    finally:
        os.chdir(REPO)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'Traceback' not in err, err
    assert not (tmp_path / 'experiments').exists()
    return err


@pytest.mark.parametrize('key, value, message', [
    ('selection_opt', 'perturbation', "train.selection_opt: expected a mapping {type: alpha | perturbation, ...}, "
                                      "got 'perturbation'"),
    ('selection_opt', {'bn': 'batch'}, 'train.selection_opt.type: missing (alpha | perturbation)'),
    ('selection_opt', {'type': 'largest'}, "train.selection_opt.type: 'largest' is not one of alpha, perturbation"),
    ('selection_opt', {'type': 'alpha', 'val_crop': 64},
     'train.selection_opt.val_crop: not an option of type alpha (it takes none)'),
    ('selection_opt', {'type': 'perturbation', 'bn': 'eval'},
     "train.selection_opt.bn: 'eval' is not one of batch, calibrate, running"),
    ('selection_opt', {'type': 'perturbation', 'val_crop': 0},
     'train.selection_opt.val_crop: expected an integer >= 1, got 0'),
    ('selection_opt', {'type': 'perturbation', 'calib_batches': 1.5},
     'train.selection_opt.calib_batches: expected an integer >= 0, got 1.5'),
    ('flops_opt', {'type': 'target', 'gflops': 'big'}, "train.flops_opt.gflops: expected a number > 0, got 'big'"),
    ('flops_opt', {'type': 'target', 'gflops': 8, 'input': [0, 64]},
     'train.flops_opt.input: expected [height, width] of the LR input in pixels, got [0, 64]'),
    ('flops_opt', {'type': 'target', 'target': 8},
     'train.flops_opt.target: not an option of type target (it takes gflops, input, num_feat, weight)'),
    ('search_head', 'deeplab', "network_g.search_head: 'deeplab' is not one of reference, decoder")])
def test_bad_remedy_options_are_refused_before_anything_is_written(tmp_path, capsys, key, value, message):
    gt, lq = make_subimage_folders(str(tmp_path / 'data'), num_images=5, subs=1, size=16)
    opt = search_options(gt, lq)
    (opt['network_g'] if key == 'search_head' else opt['train'])[key] = value
    path = write_search_options(str(tmp_path / 'bad.yml'), opt)
    with pytest.raises(ValueError) as refused:
        check_options(path)
    assert str(refused.value) == f'{path}: {message}'
    assert _refused_before_anything_is_written(tmp_path, capsys, path).endswith(f'{path}: {message}')


OLD_KEYS = [  # the flat train keys before the groups, and the hint each gets
    ('selection', 'perturbation', 'train.selection_opt: {type: perturbation}'),
    ('selection_bn', 'calibrate', 'train.selection_opt: {type: perturbation, bn: ...}'),
    ('selection_calib_batches', 4, 'train.selection_opt: {type: perturbation, calib_batches: ...}'),
    ('selection_val_batches', 1, 'train.selection_opt: {type: perturbation, val_batches: ...}'),
    ('selection_val_crop', 64, 'train.selection_opt: {type: perturbation, val_crop: ...}'),
    ('flops_target', 8.2, 'train.flops_opt: {type: target, gflops: ...}'),
    ('flops_input', [128, 128], 'train.flops_opt: {type: target, input: ...}'),
    ('flops_num_feat', 16, 'train.flops_opt: {type: target, num_feat: ...}'),
    ('flops_weight', 0.1, 'train.flops_opt: {type: target, weight: ...}')]


@pytest.mark.parametrize('key, value, hint', OLD_KEYS)
def test_the_flat_remedy_keys_are_refused_with_the_new_spelling(key, value, hint):
    from hinas_basicsr.search.flops_model import check_flops_options
    from hinas_basicsr.search.judge import check_selection_options

    check = check_flops_options if key.startswith('flops') else check_selection_options
    # beside a valid group of the new spelling too: the old key is not silently ignored
    group = {'flops_opt': {'type': 'target', 'gflops': 8.2}} if key.startswith('flops') else {
        'selection_opt': {'type': 'perturbation'}}
    for train in ({key: value}, {**group, key: value}):
        with pytest.raises(ValueError) as refused:
            check(train)
        assert str(refused.value) == f'train.{key}: replaced by {hint}; see docs/remedies.md'


def test_an_option_file_with_the_flat_keys_is_refused_in_one_line(tmp_path, capsys):
    gt, lq = make_subimage_folders(str(tmp_path / 'data'), num_images=5, subs=1, size=16)
    opt = search_options(gt, lq)
    opt['train'].update(flops_target=8.2, flops_weight=0.1)
    err = _refused_before_anything_is_written(tmp_path, capsys, write_search_options(str(tmp_path / 'bad.yml'), opt))
    assert err.endswith('bad.yml: train.flops_target: replaced by train.flops_opt: {type: target, gflops: ...}; '
                        'see docs/remedies.md'), err


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(REMEDIES))
def test_remedy_option_files_are_the_demo_search_with_one_change(name):
    path = os.path.join(REPO, 'options', 'remedies', f'search_sr_x2_{name}.yml')
    opt = check_options(path)
    demo = load_yaml(os.path.join(REPO, 'options', 'demo', 'search_sr_x2.yml'))
    expected = apply_overrides(demo, REMEDIES[name])
    expected['name'] = f'remedy_search_sr_x2_{name}'
    assert json.loads(json.dumps(opt)) == json.loads(json.dumps(expected))
    assert opt != demo


@pytest.mark.parametrize('task, upscale, in_ch', [('sr', 3, 3), ('denoise', 1, 1)])
def test_decoder_search_head_shapes_and_its_low_level_input(task, upscale, in_ch):
    net = HiNASSupernet(task=task, upscale=upscale, num_in_ch=in_ch, num_out_ch=in_ch, num_layers=3, num_nodes=2,
                        num_feat=4, search_head='decoder')
    out = net(torch.rand(2, in_ch, 6, 5))
    assert out.shape == (2, in_ch, 6 * upscale, 5 * upscale)
    out.mean().backward()
    assert net.beta.grad[-1].abs().sum() > 0 and net.low_proj[0].weight.grad.abs().sum() > 0
    # at each one-hot path, the head's low-level input is the derived net's: the stem (depth 0) or a level-0 cell
    for widths in valid_paths(3, 3):
        genotype = Genotype.from_json(json.dumps({**json.loads(net.genotype().to_json()), 'widths': list(widths),
                                                  'search': None}))
        probs = low_level_probs(one_hot_weights(genotype)[1])
        cell = low_level_cell(widths)
        assert probs.tolist() == [float(d == (0 if cell is None else cell + 1)) for d in range(3)], widths


@pytest.mark.parametrize('base, recommended, draws', [
    ('options/search_sr_x4.yml', 'options/search_sr_x4_recommended.yml', 100),
    ('options/demo/search_sr_x2.yml', 'options/demo/search_sr_x2_recommended.yml', 8)])
def test_recommended_searches_are_the_reference_with_the_cost_target(base, recommended, draws):
    import random
    import statistics

    from hinas_basicsr.research.random_genotype import random_genotype
    from hinas_basicsr.research.remedies import flops_target_overrides
    from hinas_basicsr.search.flops_model import FlopsModel
    from hinas_basicsr.search.judge import one_hot_weights

    reference = load_yaml(os.path.join(REPO, base))
    opt = load_yaml(os.path.join(REPO, recommended))
    target = opt['train']['flops_opt']['gflops']  # the rule below checks where this number comes from
    expected = apply_overrides(reference, flops_target_overrides(target))
    expected['name'] = f'{reference["name"]}_recommended'
    assert json.loads(json.dumps(opt)) == json.loads(json.dumps(expected))
    # the target is the median cost of uniform random genotypes of the file's space: at x2 the photo benchmark's 8
    # randoms (search_vs_random's draws, seed 0), where it was measured; at x4, 100 draws (within 2%)
    net = opt['network_g']
    model = FlopsModel(net['ops'], net['num_nodes'], net['width_factors'], 16, 3, net['upscale'], True, (128, 128))
    rng = random.Random(0)
    costs = [float(model(*one_hot_weights(random_genotype(
        rng, task='sr', scale=net['upscale'], num_in_ch=3, num_nodes=net['num_nodes'], num_layers=net['num_layers'],
        width_factors=tuple(net['width_factors']), ops=tuple(net['ops']))))) / 1e9 for _ in range(draws)]
    assert abs(statistics.median(costs) / target - 1) < 0.02


def test_perturbation_on_a_supernet_of_too_many_width_paths_is_refused(tmp_path, capsys):
    """Selection by perturbation validates every width path one-hot: 12 layers of 3 widths have 33,461 of them
    (counted by the trellis, listed by valid_paths); 2 layers have 5."""
    from hinas_basicsr.space.trellis import count_paths, valid_paths

    assert count_paths(12, 3) == 33_461 and count_paths(2, 3) == len(valid_paths(2, 3)) == 5
    gt, lq = make_subimage_folders(str(tmp_path / 'data'), num_images=5, subs=1, size=16)
    opt = search_options(gt, lq)
    opt['train']['selection_opt'] = {'type': 'perturbation'}
    check_options(write_search_options(str(tmp_path / 'two.yml'), opt))
    opt['network_g']['num_layers'] = 12
    path = write_search_options(str(tmp_path / 'bad.yml'), opt)
    message = (f'{path}: train.selection_opt: type perturbation validates every width path, 33,461 at '
               'network_g.num_layers 12 of 3 widths; at most 1,000 (type alpha decodes the path from beta)')
    with pytest.raises(ValueError) as refused:
        check_options(path)
    assert str(refused.value) == message
    assert _refused_before_anything_is_written(tmp_path, capsys, path).endswith(message)
