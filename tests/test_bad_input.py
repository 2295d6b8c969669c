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
    opt['path'] = {'pretrain_network_g': None, 'strict_load_g': True}
    opt['val'] = {'save_img': False, 'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 2}}}
    del opt['train']
    return opt


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
@pytest.mark.parametrize('workers', [0, 1])
def test_corrupt_lmdb_record_names_its_key(tmp_path, workers):
    opt = _lmdb_options(tmp_path)
    opt['train']['total_iter'] = 4
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
    code, err = run_in_process(hinas_main, ['export', '-opt', str(path), '--checkpoint', str(ckpt)], capsys)
    one_line(code, err, str(ckpt), 'does not fit network_g', 'h.yml')
    assert left_behind(tmp_path) == []


def test_export_refuses_a_genotype_of_another_task(tmp_path, monkeypatch, capsys):
    opt = yaml.safe_load((REPO / 'options' / 'demo' / 'train_hinas_sr_x2.yml').read_text())
    opt['network_g']['genotype'] = _genotype(tmp_path, 'denoise', 1)
    path = write_options(tmp_path / 'x.yml', opt)
    monkeypatch.chdir(tmp_path)
    code, err = run_in_process(hinas_main, ['export', '-opt', str(path), '--checkpoint', str(path)], capsys)
    one_line(code, err, 'x.yml', 'network_g.genotype')
    assert left_behind(tmp_path) == []


@UNWRITABLE
def test_prep_output_under_an_unwritable_folder(tmp_path):
    images = tmp_path / 'BSR' / 'BSDS500' / 'data' / 'images'
    for split in ('train', 'val', 'test'):
        os.makedirs(images / split)
        cv2.imwrite(str(images / split / f'{split}1.png'), smooth_image(41, 41, seed=1))
    out = run_cli([str(REPO / 'datasets_prep' / 'prepare_bsd500.py'), '--src', str(tmp_path / 'BSR'), '--dst',
                   '/sys/hinas_out'], cwd=tmp_path)
    one_line(out.returncode, out.stderr, 'prepare_bsd500: error: /sys/hinas_out')
