"""Bad input never harms and never slips through: nothing is written outside the asked place, a file the tool did
not write is never removed, numbers mean something, weights and outputs are finite, and no traceback reaches the
user. Each case asserts the rule of docs/bad-input.md: exit code 2, one line naming the file or option, no
traceback, nothing added under the run's folder and nothing outside it changed."""
from __future__ import annotations

import os

import pytest
import torch
from conftest import edsr_options, write_options
from test_bad_input import _test_options, hinas_checkpoint, prep_main, refused, run_in_process, snapshot

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
}


@pytest.mark.parametrize('case', RULES)
def test_numbers_that_mean_something(tmp_path, monkeypatch, capsys, case):
    refused(RULES[case], tmp_path, monkeypatch, capsys)


def test_the_shipped_options_follow_the_rules():
    """The rules refuse no shipped option file (their counts are integers, their milestones within the run)."""
    import glob

    from conftest import REPO

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
    import json

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


PREP = {
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
    import json

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
