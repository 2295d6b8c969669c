"""Bad input never harms and never slips through: nothing is written outside the asked place, a file the tool did
not write is never removed, numbers mean something, weights and outputs are finite, and no traceback reaches the
user. Each case asserts the rule of docs/bad-input.md: exit code 2, one line naming the file or option, no
traceback, nothing added under the run's folder and nothing outside it changed."""
from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import REPO, edsr_options, write_options
from test_bad_input import _test_options, hinas_checkpoint, hinas_options, prep_main, refused, run_in_process, snapshot

from hinas_basicsr.cli import basicsr_main, hinas_main


def contents(root) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def _edited(edit, name='o.yml', *needles):
    def case(tmp_path):
        opt = edsr_options(tmp_path / 'data')
        edit(opt)
        return basicsr_main, ['train', '-opt', str(write_options(tmp_path / name, opt))], (name, *needles)
    return case


def _set(**changes):
    return lambda opt: opt.update(changes)


def _train(**changes):
    return lambda opt: opt['train'].update(changes)


def _scheduler(**changes):
    return lambda opt: opt['train']['scheduler'].update(changes)


def _optimizer(**changes):
    return lambda opt: opt['train']['optim_g'].update(changes)


def _network(**changes):
    return lambda opt: opt['network_g'].update(changes)


def _dataset(**changes):
    return lambda opt: opt['datasets']['train'].update(changes)


# ----------------------------------------------------------------------------- 1. never outside the asked place
NAMES = {
    '../datasets': "name: '../datasets' is not one folder name",
    '../escaped_run': "name: '../escaped_run' is not one folder name",
    'a/b': "name: 'a/b' is not one folder name",
    '..': "name: '..' is not one folder name",
    '.': "name: '.' is not one folder name",
    '': "name: '' is not one folder name",
    '/tmp/abs': "name: '/tmp/abs' is not one folder name",
    123: 'name: expected a folder name (text), got 123',
    'x' * 201: 'name: 201 bytes long, at most 200',
}


@pytest.mark.parametrize('name', NAMES, ids=[str(n)[:20] for n in NAMES])
@pytest.mark.parametrize('command', ['train', 'test'])
def test_an_experiment_name_is_one_folder_name(tmp_path, monkeypatch, capsys, name, command):
    """``name: '../datasets'`` made BasicSR rename the user's datasets/ to datasets_archived_<time> before."""
    planted = tmp_path / 'datasets' / 'mine'
    planted.mkdir(parents=True)
    (planted / 'photo.txt').write_bytes(b'the user\'s own file\n')
    before = contents(tmp_path / 'datasets')

    def case(tmp_path):
        opt = {**(edsr_options(tmp_path / 'data') if command == 'train' else _test_options(tmp_path)), 'name': name}
        return basicsr_main, [command, '-opt', str(write_options(tmp_path / 'n.yml', opt))], ('n.yml', NAMES[name])

    refused(case, tmp_path, monkeypatch, capsys)
    assert contents(tmp_path / 'datasets') == before
    assert not os.path.exists(tmp_path.parent / 'escaped_run')


# ----------------------------------------------------------------------------- 4. numbers that mean something
RULES = {
    'loss_weight -1': _edited(_train(pixel_opt={'type': 'L1Loss', 'loss_weight': -1.0, 'reduction': 'mean'}),
                              'o.yml', 'train.pixel_opt.loss_weight: expected a positive number, got -1.0'),
    'loss_weight 0 in a SumLoss': _edited(_train(pixel_opt={'type': 'SumLoss', 'losses': [
        {'type': 'L1Loss', 'loss_weight': 1.0}, {'type': 'L1Loss', 'loss_weight': 0}]}),
        'o.yml', 'train.pixel_opt.losses[1].loss_weight: expected a positive number, got 0'),
    'gamma -0.5': _edited(_scheduler(gamma=-0.5), 'o.yml', 'train.scheduler.gamma: expected a decay factor in (0, 1]'),
    'gamma 2': _edited(_scheduler(gamma=2), 'o.yml', 'train.scheduler.gamma', 'got 2'),
    "milestones ['1']": _edited(_scheduler(milestones=['1']), 'o.yml', 'train.scheduler.milestones[0]',
                                "expected an integer from 1 to", "got '1'"),
    'milestones past total_iter': _edited(_scheduler(milestones=[10 ** 9]), 'o.yml', 'train.scheduler.milestones[0]',
                                          'got 1000000000'),
    'restart_weights against restarts': _edited(_scheduler(restarts=[0, 2], restart_weights=[1]), 'o.yml',
                                                'train.scheduler.restart_weights: 1 weight(s) for 2 restarts'),
    'periods against restart_weights': _edited(
        _train(scheduler={'type': 'CosineAnnealingRestartLR', 'periods': [10 ** 6, 10], 'restart_weights': [1]}),
        'o.yml', 'train.scheduler.restart_weights: 1 weight(s) for 2 periods'),
    'periods shorter than total_iter': _edited(
        _train(scheduler={'type': 'CosineAnnealingRestartLR', 'periods': [2], 'restart_weights': [1]}),
        'o.yml', 'train.scheduler.periods: they sum to 2, fewer than train.total_iter'),
    'scheduler key gama': _edited(_scheduler(gama=0.5), 'o.yml', 'train.scheduler.gama: not an option of'),
    'scale 2.0': _edited(_set(scale=2.0), 'o.yml', 'scale: expected an integer, got 2.0 (write 2'),
    'gt_size !!float 64': _edited(_dataset(gt_size=64.0), 'o.yml', 'datasets.train.gt_size: expected an integer, '
                                                                   'got 64.0 (write 64'),
    'total_iter 5e3 as a float': _edited(_train(total_iter=5000.0), 'o.yml', 'train.total_iter', 'got 5000.0'),
    'dataroot_gt -1': _edited(_dataset(dataroot_gt=-1), 'o.yml', 'datasets.train.dataroot_gt: expected a path, '
                                                                  'got -1'),
    'dataroot_lq empty': _edited(_dataset(dataroot_lq=''), 'o.yml', 'datasets.train.dataroot_lq: PairedImageDataset '
                                                                    "reads it, got ''"),
    'dataroot_gt null': _edited(_dataset(dataroot_gt=None), 'o.yml', 'datasets.train.dataroot_gt', 'got None'),
    'io_backend type [1, 2]': _edited(_dataset(io_backend={'type': [1, 2]}), 'o.yml',
                                      'datasets.train.io_backend.type: unknown backend [1, 2]'),
    'pretrain_network_g true': _edited(lambda opt: opt['path'].update(pretrain_network_g=True), 'o.yml',
                                       'path.pretrain_network_g: expected a path, got True'),
    'strict_load_g yes': _edited(lambda opt: opt['path'].update(strict_load_g='yes'), 'o.yml',
                                 "path.strict_load_g: expected true or false, got 'yes'"),
    "logger: '../escaped'": _edited(_set(logger='../escaped'), 'o.yml', 'logger: expected a mapping of options'),
    'val: .nan': _edited(_set(val=float('nan')), 'o.yml', 'val: expected a mapping of options, got nan'),
    'model_type [1, 2]': _edited(_set(model_type=[1, 2]), 'o.yml', 'model_type: unknown type [1, 2]'),
    # options of the kind of their defaults: Python's own words ('list index out of range', "'<=' not supported
    # between instances of 'float' and 'str'", "too many dimensions 'str'") were shown before, or nothing at all
    'Adam betas [0.9]': _edited(_optimizer(betas=[0.9]), 'o.yml', 'o.yml: train.optim_g.betas: expected 2 numbers '
                                '(its default is [0.9, 0.999]), got [0.9]'),
    'Adam weight_decay text': _edited(_optimizer(weight_decay='x'), 'o.yml', "o.yml: train.optim_g.weight_decay: "
                                      "expected a number (its default is 0), got 'x'"),
    'EDSR rgb_mean of text': _edited(_network(rgb_mean=['a', 'b', 'c']), 'o.yml', 'o.yml: network_g.rgb_mean: '
                                     'expected 3 numbers (its default is [0.4488, 0.4371, 0.404]), got '
                                     "['a', 'b', 'c']"),
    'EDSR rgb_mean [0.4]': _edited(_network(rgb_mean=[0.4]), 'o.yml', 'o.yml: network_g.rgb_mean: expected 3 numbers'),
    'CharbonnierLoss eps text': _edited(_train(pixel_opt={'type': 'CharbonnierLoss', 'eps': 'x'}), 'o.yml',
                                        'o.yml: train.pixel_opt.eps: expected a number (its default is 1e-12), '
                                        "got 'x'"),
    'no logger.print_freq': _edited(lambda opt: opt['logger'].pop('print_freq'), 'o.yml',
                                    'missing option logger.print_freq'),
    'prefetch_mode gpu': _edited(_dataset(prefetch_mode='gpu'), 'o.yml', 'datasets.train.prefetch_mode: expected '
                                 "cpu, cuda or none, got 'gpu'"),
    'prefetch_mode cuda without pin_memory': _edited(_dataset(prefetch_mode='cuda'), 'o.yml', 'pin_memory: true'),
    'a dataset without a name': _edited(lambda opt: opt['datasets']['train'].pop('name'), 'o.yml',
                                        'datasets.train.name: expected a name'),
    'EDSR num_block 16,000,000': _edited(_network(num_block=16_000_000), 'o.yml', 'network_g.num_block: expected an '
                                         'integer from 0 to 4096, got 16000000'),
    'EDSR num_block 4096': _edited(_network(num_block=4096), 'o.yml', 'network_g: more than 10,000 layers (modules)'),
    'L1Loss reduction meanmean': _edited(_train(pixel_opt={'type': 'L1Loss', 'loss_weight': 1.0,
                                                           'reduction': 'meanmean'}),
                                         'o.yml', 'train.pixel_opt: Unsupported reduction mode: meanmean'),
    'no crop_border': _edited(lambda opt: opt.update(val={'val_freq': 5, 'save_img': False, 'metrics': {
        'psnr': {'type': 'calculate_psnr'}}}), 'o.yml', 'missing option val.metrics.psnr.crop_border'),
    'crop_border ~': _edited(lambda opt: opt.update(val={'val_freq': 5, 'save_img': False, 'metrics': {
        'psnr': {'type': 'calculate_psnr', 'crop_border': '~'}}}), 'o.yml',
        "val.metrics.psnr.crop_border: expected an integer from 0 to 64, got '~'"),
    'io_backend disk with an extra key': _edited(lambda opt: opt['datasets']['train']['io_backend'].update(x=1),
                                                 'o.yml', 'datasets.train.io_backend.x: not an option of the disk '
                                                 'backend (it takes none)'),
    'a training pair without use_rot': _edited(lambda opt: opt['datasets']['train'].pop('use_rot'), 'o.yml',
                                               'missing option datasets.train.use_rot'),
    'a scheduler type that is a mapping': _edited(_scheduler(type={'zz': 1}), 'o.yml',
                                                  'train.scheduler.type: expected a scheduler name, got'),
    'DnCNN num_conv 17,000,000': _edited(_set(network_g={'type': 'DnCNN', 'num_in_ch': 3, 'num_out_ch': 3,
                                                         'num_conv': 17_000_000}, scale=1), 'o.yml',
                                         'network_g.num_conv: expected an integer from 0 to 4096, got 17000000'),
    'a checkpoint at every one of 10,000,000 iterations': _edited(
        lambda opt: (opt['train'].update(total_iter=10_000_000), opt['logger'].update(save_checkpoint_freq=1)),
        'o.yml', 'o.yml: logger.save_checkpoint_freq: 1 makes 10,000,000 checkpoints over train.total_iter '
        '10,000,000 (each kept: net_g_<iter>.pth and its training state); at most 1,000'),
    'a validation every 10 of 1,000,000 iterations': _edited(
        lambda opt: (opt['train'].update(total_iter=1_000_000), opt['logger'].update(save_checkpoint_freq=10_000),
                     opt.update(val={
            'val_freq': 10, 'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 2}}})),
        'o.yml', 'o.yml: val.val_freq: 10 makes 100,000 validations', 'at most 10,000'),
    'a loss without a type': _edited(lambda opt: opt['train']['pixel_opt'].pop('type'), 'o.yml',
                                     'missing option train.pixel_opt.type'),
    'a dataset without a type': _edited(lambda opt: opt['datasets']['train'].pop('type'), 'o.yml',
                                        'missing option datasets.train.type'),
    'a loss of text': _edited(_train(ssim_opt='aaa'), 'o.yml', "train.ssim_opt: expected a mapping of options with a "
                                                             "type, got 'aaa'"),
    'test_y_channel yes': _edited(lambda opt: opt.update(val={'val_freq': 5, 'save_img': False, 'metrics': {
        'psnr': {'type': 'calculate_psnr', 'crop_border': 2, 'test_y_channel': 'yes'}}}), 'o.yml',
        "val.metrics.psnr.test_y_channel: expected true or false, got 'yes'"),
}


@pytest.mark.parametrize('case', RULES)
def test_numbers_that_mean_something(tmp_path, monkeypatch, capsys, case):
    refused(RULES[case], tmp_path, monkeypatch, capsys)


def test_the_shipped_options_follow_the_rules():
    """The rules refuse no shipped option file (their counts are integers, their milestones within the run)."""
    import glob

    from hinas_basicsr.tools import option_rules
    from hinas_basicsr.utils.options_file import load_yaml

    files = sorted(glob.glob(str(REPO / 'options' / '**' / '*.yml'), recursive=True))
    assert len(files) > 30
    for path in files:
        opt = load_yaml(path)
        option_rules.experiment_name(path, opt)
        option_rules.loss_weights(path, opt)
        option_rules.scheduler(path, opt)


def test_snapshot_sees_an_escape(tmp_path):
    """The helper the cases rely on: a folder made beside experiments/ is seen."""
    before = snapshot(tmp_path)
    (tmp_path / 'escaped_run').mkdir()
    assert snapshot(tmp_path) - before == {'escaped_run'}


# ----------------------------------------------------------------------------- prep: inside --dst, --force
def _benchmark_source(tmp_path) -> list[str]:
    import cv2
    from prep_helpers import smooth_image

    os.makedirs(tmp_path / 'src' / 'Set5')
    cv2.imwrite(str(tmp_path / 'src' / 'Set5' / 'baby.png'), smooth_image(60, 60, seed=1))
    return ['--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'out'), '--scales', '2']


def _photo_manifest(tmp_path, entry=None, **changes) -> str:
    """The generated photos' manifest, its first entry replaced by ``entry`` or updated with ``changes``."""
    from test_prep_photos import make_source

    manifest = make_source(tmp_path)
    data = json.loads(open(manifest).read())
    data['photos'][0] = entry if entry is not None else {**data['photos'][0], **changes}
    with open(manifest, 'w') as f:
        json.dump(data, f)
    return manifest


def _photos_case(*needles, workers='1', entry=None, **changes):
    def case(tmp_path):
        manifest = _photo_manifest(tmp_path, entry, **changes)
        return prep_main('prepare_photos'), ['--dst', str(tmp_path / 'out'), '--manifest', manifest, '--root',
                                             str(tmp_path), '--workers', workers], needles
    return case


def _sample_force_case(tmp_path):
    """A folder of the user's own, given to make_sample_data --force: it deleted the folder before."""
    os.makedirs(tmp_path / 'mine' / 'sub')
    (tmp_path / 'mine' / 'sub' / 'thesis.tex').write_text('months of work\n')
    return prep_main('make_sample_data'), ['--dst', str(tmp_path / 'mine'), '--force'], \
        ('--dst', 'thesis.tex', 'did not write')


def _sample_force_beside_sample_data(tmp_path):
    """Sample data (its marker lists its files), and a file of the user's put inside it."""
    from hinas_basicsr.prep.sample import COMPLETE_MARKER

    os.makedirs(tmp_path / 'sample' / 'DIV2K')
    (tmp_path / 'sample' / 'DIV2K' / '0001.png').write_bytes(b'png')
    (tmp_path / 'sample' / COMPLETE_MARKER).write_text('hinas-basicsr sample data v1\nDIV2K/0001.png\n')
    (tmp_path / 'sample' / 'notes.txt').write_text('mine\n')
    return prep_main('make_sample_data'), ['--dst', str(tmp_path / 'sample'), '--force'], \
        ('--dst', 'notes.txt', 'did not write')


def _prep_force_unrecorded(tmp_path):
    """An output folder that the destination's manifest does not record: --force replaced it before."""
    args = _benchmark_source(tmp_path)
    os.makedirs(tmp_path / 'out' / 'Set5' / 'GTmod2')
    (tmp_path / 'out' / 'Set5' / 'GTmod2' / 'mine.png').write_bytes(b'mine')
    return prep_main('prepare_sr_benchmarks'), [*args, '--force'], ('GTmod2/mine.png', 'did not write it',
                                                                    '.hinas_prep.json')


def _prep_force_foreign_file(tmp_path):
    """An output the tool wrote, holding a file it did not write: refused with --force, the file named."""
    args = _benchmark_source(tmp_path)
    assert prep_main('prepare_sr_benchmarks')(args) == 0
    (tmp_path / 'out' / 'Set5' / 'LRbicx2' / 'mine.txt').write_text('mine\n')
    return prep_main('prepare_sr_benchmarks'), [*args, '--force'], ('mine.txt', 'did not write it')


def _manifest_case(make, message):
    """prepare_photos given a --manifest that is no JSON text: named with the option, in words."""
    def case(tmp_path):
        make(tmp_path / 'm.json')
        return prep_main('prepare_photos'), ['--dst', 'out', '--manifest', 'm.json', '--root', str(tmp_path)], \
            (f'prepare_photos: error: --manifest: m.json{message}',)
    return case


PREP = {
    'a manifest that is not UTF-8': _manifest_case(lambda p: p.write_bytes(b'\xff\xfe{'),
                                                   ' is not a text file (not UTF-8), not a manifest file'),
    'a manifest that is a folder': _manifest_case(lambda p: p.mkdir(), ' is a folder, not a manifest file'),
    'a manifest that is not JSON': _manifest_case(lambda p: p.write_text('photos: []'),
                                                  ': not valid JSON (Expecting value: line 1 column 1 (char 0))'),
    'photo name ../escaped': _photos_case('photos[0].name', "'../escaped'", 'not a file stem', name='../escaped'),
    'photo name absolute': _photos_case('photos[0].name', 'not a file stem', name='/tmp/escaped_photo'),
    'photo path with ..': _photos_case('photos[0].path', 'leads out', path='/usr/share/../../etc/passwd'),
    'photo sha256 123': _photos_case('photos[0].sha256', 'expected text', sha256=123),
    'photo entry not a mapping': _photos_case('photos[0]', 'expected a mapping', entry='photo'),
    'prepare_photos --workers 0': _photos_case('--workers', 'got 0', workers='0'),
    'make_sample_data --force on a folder of the user': _sample_force_case,
    'make_sample_data --force beside a file of the user': _sample_force_beside_sample_data,
    'prep --force on an output it did not write': _prep_force_unrecorded,
    'prep --force on a file it did not write': _prep_force_foreign_file,
}


@pytest.mark.parametrize('case', PREP)
def test_prep_writes_inside_dst_and_force_removes_only_its_own_files(tmp_path, monkeypatch, capsys, case):
    refused(PREP[case], tmp_path, monkeypatch, capsys)
    assert not os.path.exists('/tmp/escaped_photo.png')
    assert not os.path.exists(tmp_path.parent / 'escaped.png')


def test_prep_force_rebuilds_what_it_wrote(tmp_path, capsys):
    """--force still rebuilds the tool's own outputs; the manifest lists each output's files."""
    args = _benchmark_source(tmp_path)
    run = prep_main('prepare_sr_benchmarks')
    assert run(args) == 0
    manifest = json.loads((tmp_path / 'out' / '.hinas_prep.json').read_text())
    assert manifest['.files'] == {'Set5/GTmod2': ['baby.png'], 'Set5/LRbicx2': ['baby.png']}
    assert run([*args, '--force']) == 0
    assert sorted(os.listdir(tmp_path / 'out' / 'Set5')) == ['GTmod2', 'LRbicx2']


@pytest.mark.slow
def test_make_sample_data_force_rebuilds_its_own_sample_data(tmp_path):
    from hinas_basicsr.prep.common import files_under
    from hinas_basicsr.prep.sample import COMPLETE_MARKER, make_sample_data

    dst = str(tmp_path / 'sample')
    assert make_sample_data(dst)
    listed = (tmp_path / 'sample' / COMPLETE_MARKER).read_text().splitlines()[1:]
    assert listed == [f for f in files_under(dst) if f != COMPLETE_MARKER] and len(listed) > 100
    assert make_sample_data(dst, force=True)
    assert files_under(dst) == sorted([*listed, COMPLETE_MARKER])


# ----------------------------------------------------------------------------- 2. outputs that are not finite
class _Nan(torch.nn.Module):
    """Same-size 'restoration' whose output is NaN everywhere (log of a negative number), with finite weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x - 2)


class _Pair(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x


def _script(tmp_path, module: torch.nn.Module, name: str) -> str:
    path = str(tmp_path / name)
    torch.jit.script(module).save(path)
    return path


def _photo(tmp_path) -> str:
    import cv2
    from prep_helpers import smooth_image

    cv2.imwrite(str(tmp_path / 'photo.png'), smooth_image(24, 24, seed=0))
    return str(tmp_path / 'photo.png')


def test_infer_reports_a_non_finite_output_and_writes_no_image(tmp_path, monkeypatch, capsys):
    model = _script(tmp_path, _Nan(), 'nan.pt')
    monkeypatch.chdir(tmp_path)
    argv = ['infer', '--torchscript', model, '-i', _photo(tmp_path), '-o', 'out']
    code, err = run_in_process(hinas_main, argv, capsys)
    assert code == 1 and 'Traceback' not in err, err
    errors = [line for line in err.splitlines() if 'error' in line]
    assert errors == [f'hinas infer: error: {tmp_path / "photo.png"}: the network output holds 1728 non-finite '
                      'value(s) (NaN or infinity) of 1728'], err
    assert os.listdir(tmp_path / 'out') == []


def _infer_model_case(module, name, *needles):
    def case(tmp_path):
        model = _script(tmp_path, module, name)
        argv = ['infer', '--torchscript', model, '-i', _photo(tmp_path), '-o', 'out']
        return hinas_main, argv, ('--torchscript', name, *needles)
    return case


def _nan_torchscript(tmp_path):
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    with torch.no_grad():
        net.bias[1] = float('nan')
    return hinas_main, ['infer', '--torchscript', _script(tmp_path, net, 'w.pt'), '-i', _photo(tmp_path), '-o',
                        'out'], ('--torchscript', 'w.pt', 'weight bias holds 1 non-finite value(s)')


def _export_nan_difference(tmp_path, monkeypatch):
    from hinas_basicsr.tools import deploy

    opt_path, ckpt = hinas_checkpoint(tmp_path)
    monkeypatch.setattr(deploy, 'max_abs_diff', lambda a, b: float('nan'))
    return hinas_main, ['export', '-opt', opt_path, '--weights', ckpt, '--out', 'results/export/x.pt'], \
        ('hinas.yml', 'the deploy form differs from the network by nan')


def _compare_nan_output(tmp_path, monkeypatch):
    from hinas_basicsr.tools import compare

    opt = _test_options(tmp_path)
    path = write_options(tmp_path / 't.yml', opt)
    monkeypatch.setattr(compare, 'load_network', lambda *a, **k: _Nan())
    return hinas_main, ['compare', '--test-opt', str(path), '--model', f'edsr={path}', '--out', 'results/compare'], \
        ('--model edsr', 'LRx2', '.png: the network output holds 6912 non-finite value(s)')


NOT_FINITE = {
    'infer: TorchScript with a NaN weight': lambda t, m: _nan_torchscript(t),
    'infer: TorchScript returning a tuple': lambda t, m: _infer_model_case(_Pair(), 'pair.pt', 'returns tuple')(t),
    'export: a NaN difference fails the tolerance': _export_nan_difference,
    'compare: a NaN output is an error, not a score': _compare_nan_output,
}


@pytest.mark.parametrize('case', NOT_FINITE)
def test_what_is_not_finite_is_an_error(tmp_path, monkeypatch, capsys, case):
    refused(lambda t: NOT_FINITE[case](t, monkeypatch), tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- 3. no traceback: genotype readers
SEARCHED = REPO / 'docs' / 'genotypes_photos' / 'perturbation.json'


def _searched(edit) -> dict:
    data = json.loads(SEARCHED.read_text())
    edit(data)
    return data


def _nested(depth: int) -> str:
    return '[' * depth + ']' * depth


def _genotype_train_case(text_of, *needles):
    """basicsr train with a HiNASNet whose genotype file holds ``text_of()``."""
    def case(tmp_path):
        geno = tmp_path / 'g.json'
        geno.write_text(text_of())
        path = write_options(tmp_path / 'n.yml', hinas_options(tmp_path, genotype=str(geno)))
        return basicsr_main, ['train', '-opt', str(path)], ('g.json', *needles)
    return case


def _genotype_plot_case(text_of, *needles):
    def case(tmp_path):
        geno = tmp_path / 'g.json'
        geno.write_text(text_of())
        return hinas_main, ['plot-genotype', str(geno), '-o', 'g.png'], ('g.json', *needles)
    return case


def _inline_genotype(value, *needles):
    def case(tmp_path):
        path = write_options(tmp_path / 'n.yml', hinas_options(tmp_path, genotype=value))
        return basicsr_main, ['train', '-opt', str(path)], needles
    return case


def _short_alpha(data):
    data['search']['alpha_softmax'][1][4] = data['search']['alpha_softmax'][1][4][:-2]


def _short_transitions(data):
    data['search']['transitions'][0] = data['search']['transitions'][0][:1]


def _fifo(tmp_path):
    os.mkfifo(tmp_path / 'g.json')
    path = write_options(tmp_path / 'n.yml', hinas_options(tmp_path, genotype=str(tmp_path / 'g.json')))
    return basicsr_main, ['train', '-opt', str(path)], \
        (f'genotype: {tmp_path / "g.json"} is not a regular file (a pipe or a device), not a genotype file',)


GENOTYPES = {
    'nested 100,000 deep (train)': _genotype_train_case(lambda: _nested(100_000), 'nested too deep', 'at most 8'),
    'nested 100,000 deep (plot-genotype)': _genotype_plot_case(lambda: _nested(100_000), 'nested too deep'),
    'nested 500 deep in an object': _genotype_train_case(
        lambda: json.dumps(_searched(lambda d: d.update(widths=json.loads(_nested(500))))), 'nested 501 deep'),
    'search record shorter than the space': _genotype_train_case(
        lambda: json.dumps(_searched(_short_alpha)), 'search.alpha_softmax[1][4]: 5 items, expected 7'),
    'transitions shorter than the levels': _genotype_train_case(
        lambda: json.dumps(_searched(_short_transitions)), 'search.transitions[0]: 1 items, expected 3'),
    'search record of text': _genotype_plot_case(
        lambda: json.dumps(_searched(lambda d: d['search'].update(alpha_softmax='abc'))),
        'search.alpha_softmax: expected a list, got "abc"'),
    'width factor 1e308': _genotype_train_case(
        lambda: json.dumps(_searched(lambda d: d.update(width_factors=[1, 1.5, 1e308]))),
        'width_factors: each must be in (0, 64]'),
    'a cell of numbers': _genotype_train_case(
        lambda: json.dumps(_searched(lambda d: d['cells'].__setitem__(0, [1, 2]))),
        'cells[0][0]: expected a list, got 1'),
    'genotype: 123': _inline_genotype(123, 'genotype: expected a genotype file path or a genotype object, got 123'),
    'genotype: [1, 2]': _inline_genotype([1, 2], 'genotype: expected a genotype file path', 'got [1, 2]'),
    'a FIFO as the genotype': _fifo,
}


@pytest.mark.parametrize('case', GENOTYPES)
def test_genotype_readers_bound_depth_and_check_every_field(tmp_path, monkeypatch, capsys, case):
    refused(GENOTYPES[case], tmp_path, monkeypatch, capsys)


def test_report_refuses_a_best_json_of_another_search_space(tmp_path, monkeypatch, capsys):
    from test_search_report import write_search_folder

    write_search_folder(tmp_path / 'run')
    write_search_folder(tmp_path / 'other', num_nodes=2)  # another search: cells of 2 nodes, not 3
    os.replace(tmp_path / 'other' / 'genotypes' / 'best.json', tmp_path / 'run' / 'genotypes' / 'best.json')

    def case(tmp_path):
        return hinas_main, ['report', str(tmp_path / 'run')], ('best.json', 'of another search space',
                                                               'num_nodes 2 against 3')

    refused(case, tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- 3. no traceback: images, sizes, flags
def _bomb_png(path, width: int = 30000, height: int = 30000) -> str:
    """A PNG whose header claims ``width x height`` pixels (with a valid CRC), and no image data."""
    import struct
    import zlib

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack('>I', len(ihdr)) + b'IHDR' + ihdr + struct.pack('>I', zlib.crc32(b'IHDR' + ihdr))
    end = struct.pack('>I', 0) + b'IEND' + struct.pack('>I', zlib.crc32(b'IEND'))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk + end)
    return str(path)


BOUND = '67,108,864'


def test_infer_refuses_an_image_over_the_pixel_bound_and_writes_the_others(tmp_path, monkeypatch, capsys):
    opt_path = write_options(tmp_path / 't.yml', _test_options(tmp_path))
    photos = tmp_path / 'photos'
    photos.mkdir()
    _bomb_png(photos / 'bomb.png')
    _photo(photos)
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(hinas_main, ['infer', '-opt', str(opt_path), '-i', str(photos), '-o', 'out'], capsys)
    assert code == 1 and 'Traceback' not in err, err
    errors = [line for line in err.splitlines() if 'error' in line]
    assert errors == [f'hinas infer: error: {photos / "bomb.png"}: more than the {BOUND} pixels (8192x8192) an image '
                      'may have here (its header says so)'], err
    assert os.listdir(tmp_path / 'out') == ['photo_hinas.png']


def _bomb_in_prep(tmp_path):
    args = _benchmark_source(tmp_path)
    _bomb_png(tmp_path / 'src' / 'Set5' / 'bomb.png')
    return prep_main('prepare_sr_benchmarks'), args, ('bomb.png', f'more than the {BOUND} pixels (8192x8192)')


def _bomb_in_a_dataset(tmp_path):
    opt = edsr_options(tmp_path / 'data')
    _bomb_png(os.path.join(opt['datasets']['train']['dataroot_gt'], '0009.png'))
    return basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'b.yml', opt))], \
        ('b.yml', 'datasets.train.dataroot_gt', '0009.png', f'more than the {BOUND} pixels')


def _exit_code(main):
    """``main``, with argparse's exit (SystemExit) returned as the exit code."""
    def run(argv):
        try:
            return main(argv)
        except SystemExit as end:
            return end.code
    return run


def _argv_case(main, argv, *needles):
    return lambda tmp_path: (_exit_code(main), argv, needles)


def _fifo_options(tmp_path):
    os.mkfifo(tmp_path / 'o.yml')
    return basicsr_main, ['train', '-opt', str(tmp_path / 'o.yml')], \
        (f'-opt: {tmp_path / "o.yml"} is not a regular file (a pipe or a device), not an option file',)


def _yaml_case(text, *needles):
    def case(tmp_path):
        (tmp_path / 'y.yml').write_text(text)
        return basicsr_main, ['train', '-opt', str(tmp_path / 'y.yml')], ('y.yml', *needles)
    return case


def _colon_in_the_option_path(tmp_path):
    """A model's option file whose name holds a colon is read whole; its refusal names the whole name."""
    opt = _test_options(tmp_path)
    test = write_options(tmp_path / 't.yml', opt)
    opt['network_g']['num_feat'] = 'wide'
    odd = write_options(tmp_path / 'run:2.yml', opt)
    return hinas_main, ['compare', '--test-opt', str(test), '--model', f'e={odd}', '--out', 'results/compare'], \
        ('run:2.yml', 'network_g')


NO_TRACEBACK = {
    'a PNG header of 30000x30000 in the prep': _bomb_in_prep,
    'a PNG header of 30000x30000 in a dataset folder': _bomb_in_a_dataset,
    'export --input-size 100000 100000': _argv_case(hinas_main, ['export', '-opt', 'x.yml', '--weights', 'x.pth',
                                                                 '--input-size', '100000', '100000'],
                                                    '--input-size: expected sizes <= 2048, got 100000 100000'),
    'compare --flops-size 100000 100000': _argv_case(hinas_main, ['compare', '--test-opt', 'x.yml', '--model',
                                                                  'a=x.yml', '--flops-size', '100000', '100000'],
                                                     '--flops-size: expected sizes <= 2048'),
    'argparse: hinas infer --tile x': _argv_case(hinas_main, ['infer', '-opt', 'x.yml', '-i', 'a', '-o', 'b',
                                                              '--tile', 'x'],
                                                 "hinas infer: error: --tile: invalid int value: 'x'; see hinas infer "
                                                 '--help'),
    'argparse: basicsr train without -opt': _argv_case(basicsr_main, ['train'], 'basicsr train: error: the following '
                                                       'arguments are required: -opt; see basicsr train --help'),
    'argparse: hinas no-such-command': _argv_case(hinas_main, ['no-such-command'], 'hinas: error: COMMAND: invalid '
                                                  "choice: 'no-such-command'", 'see hinas --help'),
    'argparse: prepare_div2k --workers x': lambda t: (_exit_code(prep_main('prepare_div2k')),
                                                      ['--src', 'a', '--workers', 'x'],
                                                      ('prepare_div2k: error: --workers: invalid int value',
                                                       'see prepare_div2k --help')),
    'a FIFO as -opt': _fifo_options,
    'an option file nested 100,000 deep': _yaml_case('a: ' + '[' * 100_000 + ']' * 100_000,
                                                     'line 1: nested deeper than 32 levels'),
    'an option file nested 40 deep': _yaml_case('name: x\na: ' + '[' * 40 + ']' * 40, 'line 2',
                                                'nested deeper than 32 levels'),
    'an option name that is a number': _yaml_case('name: x\ndatasets:\n  1: {}\n', 'datasets.1: an option name must '
                                                  'be text, got int'),
    'compare --model NAME=a:b.yml read whole': _colon_in_the_option_path,
}


@pytest.mark.parametrize('case', NO_TRACEBACK)
def test_no_traceback_reaches_the_user(tmp_path, monkeypatch, capsys, case):
    refused(NO_TRACEBACK[case], tmp_path, monkeypatch, capsys)


def test_a_message_keeps_what_a_library_says_and_leaves_out_what_python_says():
    from hinas_basicsr.utils.arg_checks import error_reason, with_reason

    assert error_reason(PermissionError(13, 'Permission denied', 'x.png')) == 'Permission denied'
    assert error_reason(OSError('image file is truncated (5 bytes not processed)\nmore')) == \
        'image file is truncated (5 bytes not processed)'
    assert error_reason(RuntimeError('x' * 300)) == 'x' * 120
    for internal in (TypeError("'NoneType' object is not subscriptable"), IndexError('list index out of range'),
                     KeyError('params'), ValueError('not enough values to unpack (expected 2, got 1)'),
                     ValueError("invalid literal for int() with base 10: 'a'"), RuntimeError('')):
        assert error_reason(internal) is None, internal
        assert with_reason('a.png: not a readable image', internal) == 'a.png: not a readable image'
    assert with_reason('a.png: not a readable image', OSError(21, 'Is a directory')) == \
        'a.png: not a readable image (Is a directory)'


@pytest.mark.parametrize('raised, shown', [(TypeError("'NoneType' object is not subscriptable"), ''),
                                           (ZeroDivisionError('division by zero'), ''),
                                           (ValueError('num_feat must be even'), ' (num_feat must be even)')])
def test_a_network_that_cannot_be_built_is_named_without_pythons_words(tmp_path, monkeypatch, capsys, raised, shown):
    """A BasicSR network whose constructor fails on options the checks let through: the file, the network and
    what is wrong, and a library's own words where it has some, never Python's."""
    from basicsr.archs.edsr_arch import EDSR

    def fails(self, **kwargs):
        raise raised

    monkeypatch.setattr(EDSR, '__init__', fails)
    line = refused(_edited(lambda opt: None), tmp_path, monkeypatch, capsys)
    assert line == f'basicsr: error: {tmp_path / "o.yml"}: network_g: EDSR cannot be built from these options{shown}'


def test_compare_model_spec_splits_at_the_last_colon_unless_the_whole_is_a_file(tmp_path):
    from hinas_basicsr.tools.compare import ModelSpec, parse_model_spec

    (tmp_path / 'run:2.yml').write_text('name: x\n')
    whole = str(tmp_path / 'run:2.yml')
    assert parse_model_spec(f'e={whole}') == ModelSpec('e', whole)
    assert parse_model_spec(f'e={whole}:net.pth') == ModelSpec('e', whole, 'net.pth')
    assert parse_model_spec('e=a.yml:net.pth') == ModelSpec('e', 'a.yml', 'net.pth')
    assert parse_model_spec('e=a.yml') == ModelSpec('e', 'a.yml')
    with pytest.raises(ValueError, match='no option file before the colon'):
        parse_model_spec('e=:net.pth')


# ----------------------------------------------------------------------------- BasicSR's own networks, before a run
BASICSR_NETWORKS = {
    'EDSR upscale 4 on an x2 set': _edited(_network(upscale=4), 'o.yml', 'network_g: EDSR maps a 16x16 input to '
                                           '64x64, but scale is 2'),
    'EDSR num_in_ch 1 on RGB data': _edited(_network(num_in_ch=1), 'o.yml', 'network_g.num_in_ch: 1, but '
                                            'datasets.train (PairedImageDataset) reads 3-channel images'),
    'EDSR num_feat 0': _edited(_network(num_feat=0), 'o.yml', 'network_g.num_feat: expected an integer from 1 to 4096, '
                               'got 0'),
    'EDSR num_feat wide': _edited(_network(num_feat='wide'), 'o.yml', 'network_g.num_feat: expected an integer from '
                                  "1 to 4096, got 'wide'"),
    'EDSR res_scale wide': _edited(_network(res_scale='wide'), 'o.yml', 'network_g.res_scale: expected a number (its '
                                   "default is 1), got 'wide'"),
    'EDSR num_feat 4096': _edited(_network(num_feat=4096, num_block=16), 'o.yml', 'network_g:', 'parameters, more '
                                  'than the 1,073,741,824'),
    'EDSR num_feat 10**6': _edited(_network(num_feat=10 ** 6), 'o.yml', 'network_g.num_feat: expected an integer from '
                                   '1 to 4096, got 1000000'),
    'EDSR num_block 2.0': _edited(_network(num_block=2.0), 'o.yml', 'network_g.num_block: expected an integer from 0'),
}


@pytest.mark.parametrize('case', BASICSR_NETWORKS)
def test_basicsr_networks_are_built_and_run_on_meta_before_anything_is_written(tmp_path, monkeypatch, capsys, case):
    refused(BASICSR_NETWORKS[case], tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- --force_yml, applied before the checks
def _forced(*entries):
    def case(tmp_path):
        path = write_options(tmp_path / 'f.yml', edsr_options(tmp_path / 'data'))
        return basicsr_main, ['train', '-opt', str(path), '--force_yml', *entries], ()
    return case


FORCED = {
    'train:total_iter=0': ('train.total_iter: expected a value >= 1, got 0',),
    'name=../datasets': ("name: '../datasets' is not one folder name",),
    'a=b=c': ('--force_yml a=b=c: expected KEY:KEY=VALUE with one =',),
    'train:nope:x=1': ('--force_yml train:nope:x=1: no option train:nope in the option file',),
    'train:total_iter=[__import__("os")]': ('is not a value',),
    'train:total_iter=!!float abc': ("'!!float abc' is not a value",),
    'scale=2.0': ('scale: expected an integer, got 2.0',),
}


@pytest.mark.parametrize('entry', FORCED)
def test_force_yml_is_applied_before_the_checks(tmp_path, monkeypatch, capsys, entry):
    def case(tmp_path):
        main, argv, _ = _forced(entry)(tmp_path)
        return main, argv, FORCED[entry]
    refused(case, tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- data: backends, LMDBs, launchers
def _lmdb_case(damage, *needles):
    def case(tmp_path):
        from test_bad_input import _lmdb_options

        opt = _lmdb_options(tmp_path)
        damage(opt['datasets']['train'])
        return basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'l.yml', opt))], ('l.yml', *needles)
    return case


def _truncate_data_mdb(spec):
    data = os.path.join(spec['dataroot_gt'], 'data.mdb')
    with open(data, 'r+b') as f:
        f.truncate(1000)


def _key_missing(spec):
    import lmdb

    with lmdb.open(spec['dataroot_lq'], map_size=1 << 24) as env, env.begin(write=True) as txn:
        txn.delete(b'0002')


def _disk_on_an_lmdb(spec):
    spec['io_backend'] = {'type': 'disk'}


def _lmdb_on_a_folder(tmp_path):
    opt = edsr_options(tmp_path / 'data')
    opt['datasets']['train']['io_backend'] = {'type': 'lmdb'}
    return basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'k.yml', opt))], \
        ('k.yml', 'datasets.train.dataroot_gt', 'is a folder of images, but io_backend.type is lmdb')


def _slurm_without_srun(tmp_path):
    path = write_options(tmp_path / 's.yml', edsr_options(tmp_path / 'data'))
    return basicsr_main, ['train', '-opt', str(path), '--launcher', 'slurm'], \
        ('--launcher slurm: SLURM_PROCID is not set', 'srun')


DATA = {
    'a truncated data.mdb': _lmdb_case(_truncate_data_mdb, 'datasets.train.dataroot_gt', 'is not a readable LMDB'),
    'a key missing from data.mdb': _lmdb_case(_key_missing, 'datasets.train.dataroot_lq', 'key 0002 of',
                                              'meta_info.txt is not in', '1 of 4 keys missing'),
    'io_backend disk on an LMDB': _lmdb_case(_disk_on_an_lmdb, 'is an LMDB, but io_backend.type is disk'),
    'io_backend lmdb on a folder': _lmdb_on_a_folder,
    '--launcher slurm outside SLURM': _slurm_without_srun,
}


@pytest.mark.parametrize('case', DATA)
def test_datasets_and_launchers_are_checked_before_anything_is_written(tmp_path, monkeypatch, capsys, case):
    for name in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST', 'SLURM_LOCALID'):
        monkeypatch.delenv(name, raising=False)
    refused(DATA[case], tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- the supernet's sizes, fast
def _supernet_case(*needles, **network):
    from test_bad_input import _net, _search_case

    return _search_case(_net(**network), *needles)


SUPERNET = {
    'num_nodes 2**63': (('network_g.num_nodes: expected an integer from 0 to 4096, got 9223372036854775808',),
                        {'num_nodes': 2 ** 63}),
    'num_layers 10**9': (('network_g.num_layers: expected an integer from 0 to 4096, got 1000000000',),
                         {'num_layers': 10 ** 9}),
    'num_nodes 4000': (('network_g.num_nodes: 4000 nodes in 2 layers', 'more than 100,000'), {'num_nodes': 4000}),
    'upscale 2.0': (('network_g.upscale: 2.0 is not valid',), {'upscale': 2.0}),
    'width factor 1e308': (('network_g.width_factors: expected a list of numbers in (0, 64]',),
                           {'width_factors': [1, 1.5, 1e308]}),
}


@pytest.mark.parametrize('case', SUPERNET)
def test_the_supernet_refuses_sizes_before_counting_them(tmp_path, monkeypatch, capsys, case):
    import time

    needles, network = SUPERNET[case]
    start = time.perf_counter()
    refused(_supernet_case(*needles, **network), tmp_path, monkeypatch, capsys)
    assert time.perf_counter() - start < 30  # num_nodes 2**63 counted its edges one by one before
