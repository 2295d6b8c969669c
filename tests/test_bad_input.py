"""Bad input (issue 10's cases 1-6): one line naming the file or option, exit code 2, no traceback, nothing left."""
from __future__ import annotations

import copy
import json
import os
import sys

import cv2
import lmdb
import pytest
import yaml
from conftest import REPO, edsr_options, run_cli, write_options
from prep_helpers import smooth_image

from hinas_basicsr.cli import basicsr_main, hinas_main
from hinas_basicsr.prep.common import pack_lmdb

BASICSR = ['-m', 'hinas_basicsr.cli']


def one_line(returncode: int, stderr: str, *needles: str) -> str:
    assert returncode == 2, stderr
    assert 'Traceback' not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def run_in_process(main, argv, capsys) -> tuple[int, str]:
    capsys.readouterr()  # what the test's own setup printed
    code = main(argv)
    return code, capsys.readouterr().err


def left_behind(root) -> list[str]:
    return sorted(p for p in os.listdir(root) if p in ('experiments', 'results', 'tb_logger'))


# ----------------------------------------------------------------------------- 1. truncated JPEG in the prep
def _truncated_jpeg(path) -> None:
    cv2.imwrite(str(path), smooth_image(81, 121, seed=3))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.slow
def test_truncated_jpeg_in_bsd500(tmp_path):
    images = tmp_path / 'BSR' / 'BSDS500' / 'data' / 'images'
    for split in ('train', 'val', 'test'):
        os.makedirs(images / split)
        cv2.imwrite(str(images / split / f'{split}1.jpg'), smooth_image(81, 121, seed=1))
    _truncated_jpeg(images / 'train' / 'bad.jpg')
    out = run_cli([str(REPO / 'datasets_prep' / 'prepare_bsd500.py'), '--src', str(tmp_path / 'BSR'), '--dst',
                   str(tmp_path / 'out')], cwd=tmp_path)
    one_line(out.returncode, out.stderr, 'bad.jpg', 'not a readable image', 'image file is truncated')
    assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')


@pytest.mark.slow
def test_truncated_jpeg_in_sr_benchmarks(tmp_path):
    os.makedirs(tmp_path / 'src' / 'Set5')
    cv2.imwrite(str(tmp_path / 'src' / 'Set5' / 'baby.png'), smooth_image(60, 60, seed=1))
    _truncated_jpeg(tmp_path / 'src' / 'Set5' / 'bird.jpg')
    out = run_cli([str(REPO / 'datasets_prep' / 'prepare_sr_benchmarks.py'), '--src', str(tmp_path / 'src'),
                   '--dst', str(tmp_path / 'out'), '--scales', '2'], cwd=tmp_path)
    one_line(out.returncode, out.stderr, 'bird.jpg', 'not a readable image', 'image file is truncated')
    assert not (tmp_path / 'out').exists() or not os.listdir(tmp_path / 'out')


# ----------------------------------------------------------------------------- 2, 3, 6: dataset folders
def _test_options(tmp_path) -> dict:
    opt = edsr_options(tmp_path / 'data')
    train = opt['datasets']['train']
    opt['datasets'] = {'test_1': {'name': 'Tiny', 'type': 'PairedImageDataset', 'dataroot_gt': train['dataroot_gt'],
                                  'dataroot_lq': train['dataroot_lq'], 'io_backend': {'type': 'disk'}}}
    opt['path'] = {'pretrain_network_g': str(edsr_checkpoint(tmp_path / 'edsr.pth', opt)), 'strict_load_g': True}
    opt['val'] = {'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 2}}}
    del opt['train']
    return opt


def edsr_checkpoint(path, opt: dict, **changes):
    """A BasicSR checkpoint (``params``) of the options' EDSR, with ``changes`` to its options (another net)."""
    import torch
    from basicsr.archs.edsr_arch import EDSR

    spec = {k: v for k, v in {**opt['network_g'], **changes}.items() if k != 'type'}
    torch.save({'params': EDSR(**spec).state_dict()}, path)
    return path


def test_basicsr_test_refuses_an_lr_of_the_wrong_size(tmp_path, monkeypatch, capsys):
    opt = _test_options(tmp_path)
    lq = os.path.join(opt['datasets']['test_1']['dataroot_lq'], '0002.png')
    cv2.imwrite(lq, cv2.imread(lq)[:-3])
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(basicsr_main, ['test', '-opt', str(write_options(tmp_path / 't.yml', opt))], capsys)
    one_line(code, err, 't.yml', 'datasets.test_1', '0002', 'scale 2')
    assert left_behind(tmp_path) == []


@pytest.mark.parametrize('phase', ['train', 'val'])
def test_empty_dataset_folder(tmp_path, monkeypatch, capsys, phase):
    opt = edsr_options(tmp_path / 'data')
    empty = tmp_path / 'empty'
    empty.mkdir()
    if phase == 'val':
        opt['datasets']['val'] = {**opt['datasets']['train'], 'name': 'Val', 'dataroot_lq': str(empty)}
    else:
        opt['datasets']['train']['dataroot_gt'] = str(empty)
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'e.yml', opt))], capsys)
    one_line(code, err, 'e.yml', f'datasets.{phase}.', str(empty), 'no images')
    assert left_behind(tmp_path) == []


def test_training_pair_of_mismatched_size_names_the_file(tmp_path, monkeypatch, capsys):
    opt = edsr_options(tmp_path / 'data')
    gt = os.path.join(opt['datasets']['train']['dataroot_gt'], '0003.png')
    cv2.imwrite(gt, cv2.imread(gt)[:, :-2])
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'm.yml', opt))], capsys)
    one_line(code, err, 'm.yml', '0003', '96x94', '48x48')
    assert left_behind(tmp_path) == []


def test_unreadable_image_in_a_dataset_folder(tmp_path, monkeypatch, capsys):
    opt = edsr_options(tmp_path / 'data')
    bad = os.path.join(opt['datasets']['train']['dataroot_lq'], '0001.png')
    with open(bad, 'wb') as f:
        f.write(b'not an image')
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'u.yml', opt))], capsys)
    one_line(code, err, 'u.yml', bad, 'not a readable image')
    assert left_behind(tmp_path) == []


# ----------------------------------------------------------------------------- 5. the option file
def _lmdb_options(tmp_path) -> dict:
    opt = edsr_options(tmp_path / 'data')
    train = opt['datasets']['train']
    for key in ('dataroot_gt', 'dataroot_lq'):
        pack_lmdb(train[key], train[key] + '.lmdb')
        train[key] += '.lmdb'
    train['io_backend'] = {'type': 'lmdb'}
    return opt


def _set(opt: dict, dotted: str, value) -> dict:
    opt = copy.deepcopy(opt)
    *parents, last = dotted.split('.')
    node = opt
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return opt


_DELETE = object()
OPTION_CASES = {
    'no datasets.train': ('datasets.train', _DELETE, 'missing option datasets.train'),
    'no network_g': ('network_g', _DELETE, 'missing option network_g'),
    'total_iter abc': ('train.total_iter', 'abc', "train.total_iter: expected an integer, got 'abc'"),
    'batch 0': ('datasets.train.batch_size_per_gpu', 0, 'datasets.train.batch_size_per_gpu: expected a value >= 1'),
    'lr fast': ('train.optim_g.lr', 'fast', "train.optim_g.lr: expected a number, got 'fast'"),
    'lr .nan': ('train.optim_g.lr', float('nan'), 'train.optim_g.lr: expected a number, got nan'),
    'total_iter .inf': ('train.total_iter', float('inf'), 'train.total_iter: expected an integer, got inf'),
    'unknown loss in SumLoss': ('train.pixel_opt', {'type': 'SumLoss', 'losses': [
        {'type': 'L1Loss', 'loss_weight': 1.0}, {'type': 'NoSuchLoss'}]},
        "train.pixel_opt.losses[1].type: unknown type 'NoSuchLoss'"),
    'compile yes': ('train.compile', 'yes', "train.compile: 'yes' must be true, false or a mapping"),
}


@pytest.mark.parametrize('case', OPTION_CASES)
def test_bad_option_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys, case):
    dotted, value, message = OPTION_CASES[case]
    opt = _set(edsr_options(tmp_path / 'data'), dotted, value)
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'o.yml', opt))], capsys)
    one_line(code, err, 'o.yml', message)
    assert left_behind(tmp_path) == []


def test_lmdb_without_meta_info(tmp_path, monkeypatch, capsys):
    opt = _lmdb_options(tmp_path)
    os.remove(os.path.join(opt['datasets']['train']['dataroot_lq'], 'meta_info.txt'))
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'l.yml', opt))], capsys)
    one_line(code, err, 'l.yml', 'datasets.train.dataroot_lq', 'meta_info.txt does not exist')
    assert left_behind(tmp_path) == []


# ----------------------------------------------------------------------------- 6. data loading, output paths
@pytest.mark.slow
@pytest.mark.parametrize('workers', [0, 1])
def test_corrupt_lmdb_record_names_its_key(tmp_path, workers):
    opt = _lmdb_options(tmp_path)
    opt['train'].update(total_iter=4, scheduler={'type': 'MultiStepLR', 'milestones': [4], 'gamma': 0.5})
    opt['datasets']['train']['num_worker_per_gpu'] = workers
    db = opt['datasets']['train']['dataroot_gt']
    with lmdb.open(db, map_size=1 << 24) as env, env.begin(write=True) as txn:
        txn.put(b'0002', b'\x89PNG truncated')
    out = run_cli(BASICSR + ['train', '-opt', str(write_options(tmp_path / 'c.yml', opt))], cwd=tmp_path,
                  env={'OMP_NUM_THREADS': '1'})
    assert out.returncode == 2 and 'Traceback' not in out.stderr, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]  # the lines before are the training's log
    assert last == f'basicsr: error: {db}: key 0002: does not decode as an image (corrupt)'


UNWRITABLE = pytest.mark.skipif(sys.platform != 'linux', reason='needs /sys, which refuses new folders even to root')


@pytest.mark.slow
@UNWRITABLE
def test_unwritable_output_folder(tmp_path):
    opt = edsr_options(tmp_path / 'data')
    out = run_cli(BASICSR + ['train', '-opt', str(write_options(tmp_path / 'w.yml', opt))], cwd='/sys')
    one_line(out.returncode, out.stderr, 'basicsr: error: /sys/experiments')


# ----------------------------------------------------------------------------- 4. demo and export
def _genotype(tmp_path, task: str, scale: int) -> str:
    geno = json.loads((REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json').read_text())
    geno.update(task=task, scale=scale)
    path = tmp_path / f'{task}_x{scale}.json'
    path.write_text(json.dumps(geno))
    return str(path)


def test_demo_refuses_a_genotype_of_another_task(tmp_path, monkeypatch, capsys):
    """A denoising genotype cannot be the SR demo's net (an SR genotype of any scale is built at x2)."""
    monkeypatch.chdir(tmp_path)
    geno = _genotype(tmp_path, 'denoise', 1)
    code, err = run_in_process(hinas_main, ['demo', '--genotype', geno, '--out', 'results/demo'], capsys)
    one_line(code, err, f'--genotype {geno}', "searched for task 'denoise'")
    assert left_behind(tmp_path) == [] and not (tmp_path / 'datasets').exists()


def test_export_refuses_a_checkpoint_of_another_architecture(tmp_path, monkeypatch, capsys):
    import torch
    from basicsr.archs.edsr_arch import EDSR

    ckpt = tmp_path / 'edsr.pth'
    torch.save({'params': EDSR(3, 3, num_feat=8, num_block=1, upscale=2).state_dict()}, ckpt)
    opt = yaml.safe_load((REPO / 'options' / 'demo' / 'train_hinas_sr_x2.yml').read_text())
    opt['network_g']['genotype'] = str(REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json')
    path = write_options(tmp_path / 'h.yml', opt)
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(hinas_main, ['export', '-opt', str(path), '--weights', str(ckpt)], capsys)
    one_line(code, err, str(ckpt), 'does not fit network_g', 'h.yml')
    assert left_behind(tmp_path) == []


def test_export_refuses_a_genotype_of_another_task(tmp_path, monkeypatch, capsys):
    opt = yaml.safe_load((REPO / 'options' / 'demo' / 'train_hinas_sr_x2.yml').read_text())
    opt['network_g']['genotype'] = _genotype(tmp_path, 'denoise', 1)
    path = write_options(tmp_path / 'x.yml', opt)
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(hinas_main, ['export', '-opt', str(path), '--weights', str(path)], capsys)
    one_line(code, err, 'x.yml', 'network_g.genotype')
    assert left_behind(tmp_path) == []


@pytest.mark.slow
@UNWRITABLE
def test_prep_output_under_an_unwritable_folder(tmp_path):
    images = tmp_path / 'BSR' / 'BSDS500' / 'data' / 'images'
    for split in ('train', 'val', 'test'):
        os.makedirs(images / split)
        cv2.imwrite(str(images / split / f'{split}1.png'), smooth_image(64, 64, seed=1))  # holds the training crop
    out = run_cli([str(REPO / 'datasets_prep' / 'prepare_bsd500.py'), '--src', str(tmp_path / 'BSR'), '--dst',
                   '/sys/hinas_out'], cwd=tmp_path)
    one_line(out.returncode, out.stderr, 'prepare_bsd500: error: ', '/sys/hinas_out')


# ============================================================================= issue 19: every entry point
# Each class of bad input that was handled poorly: one test per class, every named example a case. A case
# runs its entry point in the process and returns (exit code, stderr, what the line must name); the test
# asserts exit 2, one stderr line naming the file or option, no traceback, and that nothing was written.
GENOTYPE = REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json'


def snapshot(root) -> set[str]:
    """Every path under ``root``."""
    return {os.path.relpath(os.path.join(d, f), root) for d, dirs, files in os.walk(root) for f in dirs + files}


def refused(case, tmp_path, monkeypatch, capsys) -> str:
    """Run ``case(tmp_path)`` from ``tmp_path``; assert the rule; return the line."""
    monkeypatch.chdir(tmp_path)
    main, argv, needles = case(tmp_path)
    before = snapshot(tmp_path)
    code, err = run_in_process(main, argv, capsys)
    line = one_line(code, err, *needles)
    assert 'Errno' not in line, line
    assert snapshot(tmp_path) == before, sorted(snapshot(tmp_path) - before)
    return line


def prep_main(name: str):
    """``main`` of a ``datasets_prep`` script, imported as the script runs it."""
    import importlib.util

    sys.path.insert(0, str(REPO / 'datasets_prep'))
    spec = importlib.util.spec_from_file_location(f'prep_{name}', REPO / 'datasets_prep' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def hinas_options(tmp_path, **network) -> dict:
    """The EDSR example's data and training, with a HiNASNet of the example genotype as network_g."""
    opt = edsr_options(tmp_path / 'data')
    opt['network_g'] = {'type': 'HiNASNet', 'genotype': str(GENOTYPE), 'num_feat': 4, **network}
    return opt


def genotype_file(tmp_path, edit) -> str:
    geno = json.loads(GENOTYPE.read_text())
    edit(geno)
    path = tmp_path / 'bad_genotype.json'
    path.write_text(json.dumps(geno))
    return str(path)


def hinas_checkpoint(tmp_path) -> tuple[str, str]:
    """An option file with a HiNASNet and its checkpoint, for export."""
    import torch
    from basicsr.archs import build_network

    opt = hinas_options(tmp_path)
    ckpt = tmp_path / 'hinas.pth'
    torch.save({'params': build_network(dict(opt['network_g'])).state_dict()}, ckpt)
    opt['path']['pretrain_network_g'] = str(ckpt)
    return str(write_options(tmp_path / 'hinas.yml', opt)), str(ckpt)


def train_case(opt_of, name='o.yml', *needles):
    def case(tmp_path):
        path = write_options(tmp_path / name, opt_of(tmp_path))
        return basicsr_main, ['train', '-opt', str(path)], (name, *needles)
    return case


# ----------------------------------------------------------------------------- A. accepted silently before
def _genotype_case(edit, *needles):
    def case(tmp_path):
        geno = genotype_file(tmp_path, edit)
        path = write_options(tmp_path / 'g.yml', hinas_options(tmp_path, genotype=geno))
        return basicsr_main, ['train', '-opt', str(path)], ('bad_genotype.json', *needles)
    return case


def _set_index(value):
    def edit(geno):
        geno['cells'][0][0][1] = value
    return edit


def _search_opt(tmp_path, **train) -> dict:
    from search_helpers import make_subimage_folders, search_options

    opt = search_options(*make_subimage_folders(str(tmp_path / 'data')))
    opt['train'].update(train)
    return opt


def _test_case(edit, *needles):
    def case(tmp_path):
        opt = _test_options(tmp_path)
        edit(opt)
        return basicsr_main, ['test', '-opt', str(write_options(tmp_path / 't.yml', opt))], ('t.yml', *needles)
    return case


def _compare_case(extra, *needles, test_opt=None):
    def case(tmp_path):
        opt = _test_options(tmp_path)
        path = write_options(tmp_path / 't.yml', opt)
        test = str(write_options(tmp_path / 'train.yml', edsr_options(tmp_path / 'train_data'))) if test_opt \
            else str(path)
        return hinas_main, ['compare', '--test-opt', test, '--model', f'edsr={path}', '--out',
                            str(tmp_path / 'results' / 'compare'), *extra], needles
    return case


def _export_case(extra, *needles):
    def case(tmp_path):
        opt_path, ckpt = hinas_checkpoint(tmp_path)
        return hinas_main, ['export', '-opt', opt_path, '--weights', ckpt, *extra(tmp_path)], needles
    return case


def _prep_workers(tmp_path):
    os.makedirs(tmp_path / 'src' / 'Set5')
    cv2.imwrite(str(tmp_path / 'src' / 'Set5' / 'baby.png'), smooth_image(60, 60, seed=1))
    return (prep_main('prepare_sr_benchmarks'), ['--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'out'),
                                                 '--workers', '-1'], ('--workers', '-1'))


def _no_datasets(opt):
    opt['datasets'] = {}


def _no_pretrain(opt):
    opt['path']['pretrain_network_g'] = None


SILENT = {
    'genotype input index 1.5': _genotype_case(_set_index(1.5), 'cells[0][0] input index', 'expected an integer'),
    'genotype input index true': _genotype_case(_set_index(True), 'cells[0][0] input index', 'got true'),
    'genotype widths [0.9, 1.2]': _genotype_case(lambda g: g.update(widths=[0.9, 1.2]), 'widths[0]', '0.9'),
    'genotype scale 2.9': _genotype_case(lambda g: g.update(scale=2.9), 'genotype scale', '2.9'),
    'arch_warmup_ratio 1.5': train_case(lambda t: _search_opt(t, arch_warmup_iter=None, arch_warmup_ratio=1.5),
                                        's.yml', 'train.arch_warmup_ratio', '1.5'),
    'test without pretrain_network_g': _test_case(_no_pretrain, 'path.pretrain_network_g', 'randomly initialised'),
    'test with datasets: {}': _test_case(_no_datasets, 'datasets: no dataset'),
    'compare a training file as --test-opt': _compare_case([], '--test-opt', 'train.yml', 'datasets.train',
                                                           'not a test set', test_opt='train'),
    'compare --latency-runs 0': _compare_case(['--latency-runs', '0'], '--latency-runs', '0'),
    'export --onnx X --out X': _export_case(lambda t: ['--out', str(t / 'x.pt'), '--onnx', str(t / 'x.pt')],
                                            '--onnx', 'x.pt', 'also the --out file'),
    'export --contiguous without --deploy': _export_case(lambda t: ['--contiguous'], '--contiguous', '--deploy'),
    'prepare_sr_benchmarks --workers -1': _prep_workers,
}


@pytest.mark.parametrize('case', SILENT)
def test_what_was_accepted_silently_is_refused(tmp_path, monkeypatch, capsys, case):
    refused(SILENT[case], tmp_path, monkeypatch, capsys)


def test_infer_reports_a_truncated_jpeg_and_writes_the_others(tmp_path, monkeypatch, capsys):
    """OpenCV fills a truncated JPEG with gray without an error: infer now reports it, skips it, exit 1."""
    opt = _test_options(tmp_path)
    opt_path = write_options(tmp_path / 't.yml', opt)
    photos = tmp_path / 'photos'
    photos.mkdir()
    for i in range(2):
        cv2.imwrite(str(photos / f'good{i}.jpg'), smooth_image(24, 32, seed=i))
    _truncated_jpeg(photos / 'cut.jpg')
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(hinas_main, ['infer', '-opt', str(opt_path), '-i', str(photos), '-o', 'out'], capsys)
    assert code == 1 and 'Traceback' not in err, err
    errors = [line for line in err.splitlines() if 'error' in line]
    assert len(errors) == 1 and 'cut.jpg' in errors[0] and 'truncated' in errors[0], err
    assert sorted(os.listdir(tmp_path / 'out')) == ['good0_hinas.png', 'good1_hinas.png']


# ----------------------------------------------------------------------------- B. the plugin's own components
def _search_case(edit, *needles, denoise=False):
    def opt_of(tmp_path):
        opt = _search_opt(tmp_path)
        if denoise:
            _as_denoising(opt)
        edit(opt)
        return opt
    return train_case(opt_of, 's.yml', *needles)


def _as_denoising(opt):
    """The tiny search made a gray denoising search on HiNASNoisyImageDataset (the GT folder alone)."""
    opt['scale'] = 1
    opt['network_g'].update(task='denoise', upscale=1, num_in_ch=1, num_out_ch=1)
    for phase in ('train', 'val'):
        inner = opt['datasets'][phase]['dataset']
        opt['datasets'][phase]['dataset'] = {'type': 'HiNASNoisyImageDataset', 'dataroot_gt': inner['dataroot_gt'],
                                             'io_backend': {'type': 'disk'}, 'gray': True, 'sigma': [30],
                                             'gt_size': 16}
    opt['val']['metrics'] = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}


def _net(**changes):
    return lambda opt: opt['network_g'].update(changes)


def _data(phase, inner=False, **changes):
    def edit(opt):
        (opt['datasets'][phase]['dataset'] if inner else opt['datasets'][phase]).update(changes)
    return edit


def _train(**changes):
    return lambda opt: opt['train'].update(changes)


def _hinasnet_case(*needles, **network):
    return train_case(lambda t: hinas_options(t, **network), 'n.yml', *needles)


COMPONENTS = {
    'HiNASSupernet num_feat 0': _search_case(_net(num_feat=0), 'network_g.num_feat'),
    'HiNASSupernet unknown op': _search_case(_net(ops=['conv_3x3', 'conv_9x9']), 'network_g.ops', 'conv_9x9'),
    'HiNASSupernet num_nodes 100000': _search_case(_net(num_nodes=100000), 'network_g.num_nodes', '100000'),
    'HiNASSupernet upscale 4 at scale 2': _search_case(_net(upscale=4), 'scale: 2', 'network_g.upscale is 4'),
    'HiNASNet num_feat 0': _hinasnet_case('network_g.num_feat', num_feat=0),
    'HiNASNet upscale 4 at scale 2': _hinasnet_case('scale: 2', 'network_g.upscale is 4', upscale=4),
    'HiNASSplitDataset split x': _search_case(_data('val', split='x'), 'datasets.val.split', "'x'"),
    'HiNASSplitDataset val_ratio 1.5': _search_case(_data('train', val_ratio=1.5), 'datasets.train.val_ratio'),
    'HiNASSplitDataset group_by (': _search_case(_data('train', group_by='(.+'), 'datasets.train.group_by',
                                                 'not a valid regular expression'),
    'HiNASNoisyImageDataset sigma -5': _search_case(_data('train', True, sigma=[-5]), 'datasets.train.dataset.sigma',
                                                    denoise=True),
    'HiNASNoisyImageDataset rescale_prob 1.5': _search_case(_data('train', True, rescale_prob=1.5),
                                                            'datasets.train.dataset.rescale_prob', denoise=True),
    'HiNASNoisyImageDataset gray against num_in_ch': _search_case(_data('train', True, gray=False),
                                                                  'datasets.train.dataset.gray',
                                                                  'network_g.num_in_ch is 1', denoise=True),
    'SumLoss with no losses': _search_case(_train(pixel_opt={'type': 'SumLoss', 'losses': []}),
                                           'train.pixel_opt.losses', 'at least one loss'),
    'best_after_ratio 1.5': _search_case(_train(best_after_ratio=1.5), 'train.best_after_ratio'),
    'gt_size larger than the images': _search_case(_data('train', True, gt_size=64), 'datasets.train.dataset.gt_size',
                                                   'larger than'),
    'optimizer type Adamm': _search_case(_train(optim_arch={'type': 'Adamm', 'lr': 1e-3}), 'train.optim_arch.type',
                                         'Adamm'),
    'io_backend type disc': _search_case(_data('train', True, io_backend={'type': 'disc'}),
                                         'datasets.train.dataset.io_backend.type', 'disc'),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', COMPONENTS)
def test_plugin_components_are_checked_before_anything_is_written(tmp_path, monkeypatch, capsys, case):
    refused(COMPONENTS[case], tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- C. checkpoints and training states
def _bad_checkpoint(tmp_path, kind: str, opt: dict) -> str:
    """A checkpoint for the EDSR of ``opt`` that is truncated, not a torch file, of another net, or a folder."""
    path = tmp_path / f'bad_{kind}.pth'
    if kind == 'truncated':
        data = edsr_checkpoint(path, opt).read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == 'not torch':
        path.write_text('not a checkpoint\n')
    elif kind == 'another architecture':
        edsr_checkpoint(path, opt, num_block=3)
    elif kind == 'not finite':  # a diverged training: a NaN in one tensor, an infinity in a later one
        import torch

        state = torch.load(edsr_checkpoint(path, opt))
        state['params']['conv_after_body.weight'][0, 0, 0, 0] = float('nan')
        state['params']['conv_last.weight'][0, 0, 0, 0] = float('inf')
        torch.save(state, path)
    else:
        path.mkdir()
    return str(path)


CHECKPOINT_WORDS = {'truncated': 'not a readable torch checkpoint', 'not torch': 'not a readable torch checkpoint',
                    'another architecture': 'does not fit network_g', 'folder': 'is a folder',
                    'not finite': 'weight conv_after_body.weight holds 1 non-finite value(s)'}


def _checkpoint_case(entry: str, kind: str):
    def case(tmp_path):
        opt = _test_options(tmp_path)
        bad = _bad_checkpoint(tmp_path, kind, opt)
        words = (os.path.basename(bad), CHECKPOINT_WORDS[kind])
        if entry == 'basicsr test':
            opt['path']['pretrain_network_g'] = bad
            return basicsr_main, ['test', '-opt', str(write_options(tmp_path / 't.yml', opt))], \
                ('t.yml: path.pretrain_network_g', *words)
        if entry == 'pretrain_network_g':
            train = edsr_options(tmp_path / 'train_data')
            train['path']['pretrain_network_g'] = bad
            return basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'p.yml', train))], \
                ('p.yml: path.pretrain_network_g', *words)
        if entry == '--auto_resume':
            train = edsr_options(tmp_path / 'train_data')
            root = tmp_path / 'experiments' / train['name']
            os.makedirs(root / 'training_states')
            os.makedirs(root / 'models')
            good = edsr_checkpoint(root / 'models' / 'net_g_4.pth', train)
            state = root / 'training_states' / '4.state'
            if kind in ('another architecture', 'not finite'):  # the network saved with the state
                os.replace(bad, good)
                words = ('net_g_4.pth', CHECKPOINT_WORDS[kind])
                import torch
                torch.save({'epoch': 0, 'iter': 4, 'optimizers': [], 'schedulers': []}, state)
            else:
                os.replace(bad, state)
                words = ('4.state', CHECKPOINT_WORDS[kind])
            path = write_options(tmp_path / 'r.yml', train)
            return basicsr_main, ['train', '-opt', str(path), '--auto_resume'], ('--auto_resume', *words)
        yml = str(write_options(tmp_path / 't.yml', opt))
        if entry == 'infer':
            cv2.imwrite(str(tmp_path / 'photo.png'), smooth_image(24, 24, seed=0))
            return hinas_main, ['infer', '-opt', yml, '--weights', bad, '-i', 'photo.png', '-o', 'out'], \
                ('--weights', *words)
        if entry == 'compare':
            return hinas_main, ['compare', '--test-opt', yml, '--model', f'edsr={yml}:{bad}', '--out',
                                'results/compare'], ('--model edsr', *words)
        return hinas_main, ['export', '-opt', yml, '--weights', bad, '--out', 'results/export/x.pt'], \
            ('--weights', *words)
    return case


@pytest.mark.parametrize('kind', list(CHECKPOINT_WORDS))
@pytest.mark.parametrize('entry', ['infer', 'compare', 'export', 'basicsr test', 'pretrain_network_g',
                                   '--auto_resume'])
def test_bad_checkpoints_and_training_states(tmp_path, monkeypatch, capsys, entry, kind):
    refused(_checkpoint_case(entry, kind), tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- D. images decoded, not only headers
def _truncate(path) -> None:
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])


def _truncated_png(phase: str):
    def opt_of(tmp_path):
        opt = edsr_options(tmp_path / 'data')
        if phase == 'val':
            import shutil
            val = {key: str(tmp_path / f'val_{key}') for key in ('dataroot_gt', 'dataroot_lq')}
            for key, folder in val.items():
                shutil.copytree(opt['datasets']['train'][key], folder)
            opt['datasets']['val'] = {'name': 'Val', 'type': 'PairedImageDataset', 'io_backend': {'type': 'disk'},
                                      **val}
            opt['val'] = {'val_freq': 2, 'save_img': False}
        _truncate(os.path.join(opt['datasets'][phase]['dataroot_gt'], '0001.png'))
        return opt
    return train_case(opt_of, 'i.yml', f'datasets.{phase}.dataroot_gt', '0001.png', 'not a readable image')


def _extra_lr(tmp_path):
    import shutil
    opt = edsr_options(tmp_path / 'data')
    lq = opt['datasets']['train']['dataroot_lq']
    shutil.copy(os.path.join(lq, '0001.png'), os.path.join(lq, '0009.png'))
    return opt


def _lmdb_without_data(tmp_path):
    opt = _lmdb_options(tmp_path)
    os.remove(os.path.join(opt['datasets']['train']['dataroot_gt'], 'data.mdb'))
    return opt


IMAGES = {
    'truncated PNG in the training folder': _truncated_png('train'),
    'truncated PNG in the validation folder': _truncated_png('val'),
    'LR folder with one extra file': train_case(_extra_lr, 'i.yml', 'datasets.train.dataroot_lq', '0009.png',
                                                'no GT partner'),
    'LMDB without data.mdb': train_case(_lmdb_without_data, 'i.yml', 'datasets.train.dataroot_gt', 'data.mdb'),
}


@pytest.mark.parametrize('case', IMAGES)
def test_dataset_images_are_decoded_and_paired_before_the_run(tmp_path, monkeypatch, capsys, case):
    refused(IMAGES[case], tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- E. messages that name the file
def _binary_options(tmp_path):
    (tmp_path / 'bin.yml').write_bytes(bytes(range(128, 256)) * 4)
    return basicsr_main, ['train', '-opt', 'bin.yml'], \
        ('-opt: bin.yml is not a text file (not UTF-8), not an option file',)


def _folder_options(tmp_path):
    (tmp_path / 'opts.yml').mkdir()
    return basicsr_main, ['train', '-opt', 'opts.yml'], ('-opt: opts.yml is a folder, not an option file',)


def _compare_names(which):
    def case(tmp_path):
        yml = str(write_options(tmp_path / 't.yml', _test_options(tmp_path)))
        model, test = ('missing.yml', yml) if which == '--model' else (yml, 'missing.yml')
        return hinas_main, ['compare', '--test-opt', test, '--model', f'edsr={model}', '--out', 'results/c'], \
            (f'{which}{" edsr" if which == "--model" else ""}: missing.yml does not exist',)
    return case


def _under_a_file(entry):
    def case(tmp_path):
        (tmp_path / 'afile').write_text('x')
        if entry == 'plot-genotype':
            return hinas_main, ['plot-genotype', str(GENOTYPE), '-o', 'afile/g.png'], ('-o', 'afile', 'is a file')
        if entry == 'compare':
            yml = str(write_options(tmp_path / 't.yml', _test_options(tmp_path)))
            return hinas_main, ['compare', '--test-opt', yml, '--out', 'afile/c'], ('--out', 'afile', 'is a file')
        if entry == 'demo':
            return hinas_main, ['demo', '--out', 'afile/demo'], ('--out', 'afile', 'is a file')
        if entry == 'infer':
            yml = str(write_options(tmp_path / 't.yml', _test_options(tmp_path)))
            cv2.imwrite(str(tmp_path / 'photo.png'), smooth_image(24, 24, seed=0))
            return hinas_main, ['infer', '-opt', yml, '-i', 'photo.png', '-o', 'afile/out'], ('-o', 'afile',
                                                                                             'is a file')
        return prep_main('make_sample_data'), ['--dst', 'afile/sample'], ('--dst', 'afile', 'is a file')
    return case


MESSAGES = {
    'binary option file': _binary_options,
    'folder as -opt': _folder_options,
    'compare --model file': _compare_names('--model'),
    'compare --test-opt file': _compare_names('--test-opt'),
    **{f'{entry} output under a file': _under_a_file(entry)
       for entry in ('plot-genotype', 'compare', 'demo', 'infer', 'make_sample_data')},
}


@pytest.mark.parametrize('case', MESSAGES)
def test_messages_name_the_file_and_the_option(tmp_path, monkeypatch, capsys, case):
    refused(MESSAGES[case], tmp_path, monkeypatch, capsys)


def _input_file_case(argv_of, expected):
    """A command given an input file that is no readable regular file: one wording for every reader."""
    def case(tmp_path):
        (tmp_path / 'folder.json').mkdir()
        os.mkfifo(tmp_path / 'pipe.pth')
        return hinas_main, argv_of(tmp_path), (expected,)
    return case


def _infer_argv(tmp_path, *extra):
    yml = str(write_options(tmp_path / 't.yml', _test_options(tmp_path)))
    cv2.imwrite(str(tmp_path / 'photo.png'), smooth_image(24, 24, seed=0))
    return ['infer', '-opt', yml, *extra, '-i', 'photo.png', '-o', 'out']


INPUT_FILES = {
    'demo --genotype a folder': _input_file_case(lambda t: ['demo', '--genotype', 'folder.json', '--out', 'd'],
                                                 '--genotype: folder.json is a folder, not a genotype file'),
    'plot-genotype a missing file': _input_file_case(lambda t: ['plot-genotype', 'nope.json'],
                                                     'G.json: nope.json does not exist'),
    'infer --weights a pipe': _input_file_case(
        lambda t: _infer_argv(t, '--weights', 'pipe.pth'),
        '--weights: pipe.pth is not a regular file (a pipe or a device), not a checkpoint file'),
    'infer --torchscript a folder': _input_file_case(
        lambda t: ['infer', '--torchscript', 'folder.json', '-i', 'x.png', '-o', 'out'],
        '--torchscript: folder.json is a folder, not a TorchScript file'),
}


@pytest.mark.parametrize('case', INPUT_FILES)
def test_input_files_are_refused_in_one_wording(tmp_path, monkeypatch, capsys, case):
    line = refused(INPUT_FILES[case], tmp_path, monkeypatch, capsys)
    assert line.startswith('hinas') and line.count(': error: ') == 1, line


def test_an_unreadable_input_file_is_named_with_its_option(tmp_path, monkeypatch, capsys):
    (tmp_path / 'o.yml').write_text('name: x\n')
    access = os.access  # the tests run as root, who may read anything: the file is made unreadable to the check

    def no_read(path, mode, **kwargs):
        return False if mode & os.R_OK and os.path.basename(path) == 'o.yml' else access(path, mode, **kwargs)

    monkeypatch.setattr(os, 'access', no_read)
    line = refused(lambda t: (basicsr_main, ['train', '-opt', 'o.yml'], ()), tmp_path, monkeypatch, capsys)
    assert line == 'basicsr: error: -opt: o.yml cannot be read (no read permission)'


# ----------------------------------------------------------------------------- F. numeric arguments
NUMBERS = {
    'compare --flops-size 0 0': _compare_case(['--flops-size', '0', '0'], '--flops-size', '0 0'),
    'export --input-size 0 0': _export_case(lambda t: ['--input-size', '0', '0'], '--input-size', '0 0'),
    'demo --budget-s inf': lambda t: (hinas_main, ['demo', '--budget-s', 'inf'], ('--budget-s', 'inf')),
    'demo --budget-s nan': lambda t: (hinas_main, ['demo', '--budget-s', 'nan'], ('--budget-s', 'nan')),
}


@pytest.mark.parametrize('case', NUMBERS)
def test_numeric_arguments(tmp_path, monkeypatch, capsys, case):
    refused(NUMBERS[case], tmp_path, monkeypatch, capsys)


# ----------------------------------------------------------------------------- F2. counts bounded by disk and time
def _demo(*argv):
    return lambda t: (hinas_main, ['demo', *argv], ())


def _prep_workers_count(workers):
    def case(tmp_path):
        main, argv, _ = _prep_workers(tmp_path)
        return main, [*argv[:-1], workers], ()
    return case


COUNTS = {
    'demo --budget-s 1e9': (_demo('--budget-s', '1e9'), 'hinas: error: --budget-s: expected a positive number of '
                            'seconds, at most 604,800 (a week of training for each net), got 1000000000.0'),
    'demo --threads 1025': (_demo('--threads', '1025'), 'hinas: error: --threads: expected an integer from 0 to 1,024 '
                            '(0 for one per core; each a thread), got 1025'),
    'demo --threads -1': (_demo('--threads', '-1'), 'hinas: error: --threads: expected an integer from 0 to 1,024 '
                          '(0 for one per core; each a thread), got -1'),
    'demo --latency-runs 10001': (_demo('--latency-runs', '10001'), 'hinas: error: --latency-runs: expected an '
                                  'integer from 1 to 10,000 (each a timed forward pass of every net), got 10001'),
    'compare --latency-runs 10001': (_compare_case(['--latency-runs', '10001']), 'hinas: error: --latency-runs: '
                                     'expected an integer from 1 to 10,000 (each a timed forward pass of every net), '
                                     'got 10001'),
    'prepare_sr_benchmarks --workers 1025': (_prep_workers_count('1025'), 'prepare_sr_benchmarks: error: --workers: '
                                             'expected an integer from 1 to 1,024 (each a process), got 1025'),
}


@pytest.mark.parametrize('case', COUNTS)
def test_counts_past_any_use_are_refused_with_their_bound(tmp_path, monkeypatch, capsys, case):
    make, expected = COUNTS[case]
    assert refused(make, tmp_path, monkeypatch, capsys) == expected


def test_infer_refuses_a_folder_of_more_images_than_one_run_writes(tmp_path, monkeypatch, capsys):
    """-i a folder: its images counted before any is read or written (the bound lowered to 2 for the test)."""
    from hinas_basicsr.tools import infer

    assert infer.MAX_IMAGES == 1_000_000
    monkeypatch.setattr(infer, 'MAX_IMAGES', 2)
    (tmp_path / 'photos').mkdir()
    for k in range(3):
        cv2.imwrite(str(tmp_path / 'photos' / f'{k}.png'), smooth_image(24, 24, seed=k))
    yml = str(write_options(tmp_path / 't.yml', _test_options(tmp_path)))
    line = refused(lambda t: (hinas_main, ['infer', '-opt', yml, '-i', 'photos', '-o', 'out'], ()), tmp_path,
                   monkeypatch, capsys)
    assert line == 'hinas: error: -i: photos holds 3 images, more than the 2 one run writes (each an output image); ' \
                   'give part of them'
    monkeypatch.setattr(infer, 'MAX_IMAGES', 3)
    assert infer.list_inputs(str(tmp_path / 'photos')) == [str(tmp_path / 'photos' / f'{k}.png') for k in range(3)]


# ----------------------------------------------------------------------------- G. export paths
def _unwritable_onnx(tmp_path):
    (tmp_path / 'afile').write_text('x')
    return ['--out', str(tmp_path / 'results' / 'x.pt'), '--onnx', str(tmp_path / 'afile' / 'x.onnx')]


def _out_folder(tmp_path):
    (tmp_path / 'exported').mkdir()
    return ['--out', str(tmp_path / 'exported')]


EXPORT_PATHS = {
    '--out without an extension': _export_case(lambda t: ['--out', str(t / 'model')], '--out', 'model', '.pt'),
    '--out an existing folder': _export_case(_out_folder, '--out', 'exported', 'is a folder'),
    '--onnx that cannot be written': _export_case(_unwritable_onnx, '--onnx', 'afile', 'is a file'),
}


@pytest.mark.parametrize('case', EXPORT_PATHS)
def test_export_paths_are_checked_before_anything_is_written(tmp_path, monkeypatch, capsys, case):
    refused(EXPORT_PATHS[case], tmp_path, monkeypatch, capsys)


@pytest.mark.slow
def test_export_replaces_an_existing_file(tmp_path, monkeypatch, capsys):
    opt_path, ckpt = hinas_checkpoint(tmp_path)
    (tmp_path / 'old.pt').write_text('an older export')
    monkeypatch.chdir(tmp_path)
    assert hinas_main(['export', '-opt', opt_path, '--weights', ckpt, '--out', 'old.pt']) == 0
    assert (tmp_path / 'old.pt').read_bytes()[:2] == b'PK'  # a TorchScript (zip) file now


# ----------------------------------------------------------------------------- H. interrupts
def test_ctrl_c_in_process_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    import basicsr.train

    def interrupted(root):
        raise KeyboardInterrupt

    monkeypatch.setattr(basicsr.train, 'train_pipeline', interrupted)
    opt = edsr_options(tmp_path / 'data')
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(basicsr_main, ['train', '-opt', str(write_options(tmp_path / 'o.yml', opt))], capsys)
    assert code == 130 and err.strip().splitlines() == ['basicsr: interrupted'], err


@pytest.mark.slow
def test_ctrl_c_during_training_is_one_line_and_exit_130(tmp_path):
    """SIGINT to the whole process group (as a terminal's Ctrl-C), DataLoader workers included."""
    import signal
    import subprocess
    import time

    opt = edsr_options(tmp_path / 'data', total_iter=4000)  # 800 checkpoints: under the option check's 1,000
    # one worker, forked once an epoch of 100 iterations: the signal reaches it in its loop, not while it forks
    opt['datasets']['train'].update(num_worker_per_gpu=1, dataset_enlarge_ratio=100)
    opt['logger'].update(save_checkpoint_freq=5)
    opt_path = write_options(tmp_path / 'c.yml', opt)
    env = {**os.environ, 'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1'}
    # a shell's background job (CI's, say) starts with SIGINT ignored, and Python then leaves it so: restore it
    proc = subprocess.Popen([sys.executable, *BASICSR, 'train', '-opt', str(opt_path)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    states = tmp_path / 'experiments' / opt['name'] / 'training_states'
    deadline = time.monotonic() + 240
    while not (states.is_dir() and any(states.glob('*.state'))) and time.monotonic() < deadline \
            and proc.poll() is None:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err[-3000:]
    assert err.strip().splitlines()[-1] == 'basicsr: interrupted', err[-3000:]


class _WorkerProbe:
    """In a DataLoader worker: its numpy seed, and what its excepthook prints for a cut transfer and for an error."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict:
        import contextlib
        import io

        import numpy as np

        printed = {}
        for kind in (BrokenPipeError, ConnectionResetError, ValueError):
            buffer = io.StringIO()
            with contextlib.redirect_stderr(buffer):
                try:
                    raise kind('cut')
                except kind:
                    sys.excepthook(*sys.exc_info())
            printed[kind.__name__] = buffer.getvalue()
        return {'seed': np.random.get_state()[1][0], 'cut': int(not printed['BrokenPipeError']
                                                                and not printed['ConnectionResetError']),
                'error': int('ValueError: cut' in printed['ValueError'])}


def test_dataloader_workers_keep_basicsr_seeds_and_print_no_traceback_for_a_cut_transfer():
    """A Ctrl-C can cut the main process's transfer of a batch from a worker: the worker's fd-sharing thread then
    reports BrokenPipeError through sys.excepthook; it prints nothing (other errors print as before)."""
    import numpy as np
    from basicsr.data import build_dataloader

    loader = build_dataloader(_WorkerProbe(), {'phase': 'train', 'batch_size_per_gpu': 1, 'num_worker_per_gpu': 1},
                              num_gpu=0, dist=False, sampler=None, seed=7)
    batch = next(iter(loader))
    assert int(batch['cut'][0]) == 1 and int(batch['error'][0]) == 1
    # BasicSR's worker_init_fn still seeds the worker: num_workers * rank + worker_id + seed = 7
    assert int(batch['seed'][0]) == np.random.RandomState(7).get_state()[1][0]


# ----------------------------------------------------------------------------- I. file modes
@pytest.mark.slow
def test_written_files_get_the_mode_of_the_umask(tmp_path, monkeypatch, capsys):
    import stat

    import torch

    from hinas_basicsr.space.genotype import Genotype
    from hinas_basicsr.utils.fileio import write_text, write_torch

    old = os.umask(0o027)
    try:
        write_text(tmp_path / 'a.md', 'text')
        write_torch(tmp_path / 'b.pth', {'x': torch.zeros(1)})
        write_torch(tmp_path / 'noext', {'x': torch.zeros(1)})
        Genotype.load(GENOTYPE).save(tmp_path / 'g.json')
        opt_path, ckpt = hinas_checkpoint(tmp_path)
        monkeypatch.chdir(tmp_path)
        assert hinas_main(['export', '-opt', opt_path, '--weights', ckpt, '--out', 'e/x.pt']) == 0
        cv2.imwrite(str(tmp_path / 'photo.png'), smooth_image(24, 24, seed=0))
        assert hinas_main(['infer', '-opt', opt_path, '-i', 'photo.png', '-o', 'inf']) == 0
        written = ['a.md', 'b.pth', 'noext', 'g.json', 'e/x.pt', 'inf/photo_hinas.png']
        modes = {name: stat.S_IMODE(os.stat(tmp_path / name).st_mode) for name in written}
        assert modes == dict.fromkeys(written, 0o640), modes
        os.umask(0o002)
        write_text(tmp_path / 'a.md', 'again')
        assert stat.S_IMODE(os.stat(tmp_path / 'a.md').st_mode) == 0o664
    finally:
        os.umask(old)
