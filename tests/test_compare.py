"""hinas compare: values of the params/FLOPs columns, the table files, and one-line errors on bad input."""
import csv
import json
import re

import cv2
import numpy as np
import pytest
import torch
import yaml

import hinas_basicsr  # noqa: F401
from hinas_basicsr.cli import hinas_main
from hinas_basicsr.tools.compare import ModelSpec, compare, parse_model_spec

EDSR = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2, 'upscale': 2}


def edsr_params_by_hand(f=16, blocks=2, c=3, s=2):
    conv = lambda c_in, c_out: c_in * c_out * 9 + c_out  # noqa: E731  (3x3 with bias)
    return conv(c, f) + 2 * blocks * conv(f, f) + conv(f, f) + conv(f, 4 * f) + conv(f, c)


def edsr_flops_by_hand(h, w, f=16, blocks=2, c=3):
    """2 FLOPs per multiply-add of each 3x3 conv; x2 upsampling: conv f -> 4f, PixelShuffle, conv_last at 2h x 2w."""
    macs = h * w * 9 * (c * f + 2 * blocks * f * f + f * f + f * 4 * f) + (2 * h) * (2 * w) * 9 * f * c
    return 2 * macs


@pytest.fixture
def sr_setup(tmp_path):
    """Two tiny x2 test images (LR made with MATLAB bicubic), an EDSR checkpoint and its options."""
    from basicsr.archs import build_network
    from basicsr.utils.matlab_functions import imresize

    rng = np.random.default_rng(0)
    gt_dir, lq_dir = tmp_path / 'GTmod2', tmp_path / 'LRbicx2'
    gt_dir.mkdir()
    lq_dir.mkdir()
    for i in range(2):
        smooth = cv2.GaussianBlur(rng.random((24, 20, 3)).astype(np.float32), (0, 0), 2)
        gt = np.round(smooth * 255).astype(np.uint8)
        cv2.imwrite(str(gt_dir / f'{i}.png'), gt)
        cv2.imwrite(str(lq_dir / f'{i}.png'), np.round(np.clip(imresize(gt / 255., 0.5), 0, 1) * 255).astype(np.uint8))
    test_opt = tmp_path / 'test.yml'
    test_opt.write_text(yaml.safe_dump({'name': 't', 'scale': 2, 'datasets': {'test_1': {
        'name': 'Tiny', 'type': 'PairedImageDataset', 'dataroot_gt': str(gt_dir), 'dataroot_lq': str(lq_dir),
        'io_backend': {'type': 'disk'}}}}))
    torch.manual_seed(0)
    ckpt = tmp_path / 'edsr.pth'
    torch.save({'params': build_network(dict(EDSR)).state_dict()}, ckpt)
    net_opt = tmp_path / 'edsr.yml'
    net_opt.write_text(yaml.safe_dump({'network_g': EDSR, 'path': {'pretrain_network_g': str(ckpt)}}))
    return tmp_path, str(test_opt), str(net_opt), str(ckpt)


@pytest.mark.slow
def test_edsr_params_and_flops_columns_equal_hand_counts(sr_setup):
    tmp_path, test_opt, net_opt, ckpt = sr_setup
    out = tmp_path / 'out'
    rows = compare([ModelSpec('edsr', net_opt, ckpt)], test_opt, str(out), flops_size=(16, 12), latency_runs=2)
    with open(out / 'compare.csv') as f:
        written = list(csv.DictReader(f))
    assert [r['model'] for r in written] == ['bicubic', 'edsr']
    edsr = written[1]
    assert int(edsr['params']) == edsr_params_by_hand() == 21_763  # 448 + 4 * 2320 + 2320 + 9280 + 435
    assert int(edsr['flops']) == edsr_flops_by_hand(16, 12)
    assert int(written[0]['params']) == 0 and int(written[0]['flops']) == 0
    assert float(edsr['latency_s']) > 0 and edsr['flops_input'] == '1x3x16x12'
    assert set(['model', 'set', 'psnr', 'ssim', 'params', 'flops', 'latency_s']) <= set(written[0])
    # the bicubic row is MATLAB bicubic of the LR, scored on Y with crop 2: well above a random net's
    assert float(written[0]['psnr']) > 30 and rows[0]['psnr'] == pytest.approx(float(written[0]['psnr']))
    assert (out / 'psnr_vs_flops.png').read_bytes()[:4] == b'\x89PNG'
    table = (out / 'compare.md').read_text()
    assert '| edsr |' in table and f'{edsr_params_by_hand():,}' in table and '1x3x16x12' in table


def test_checkpoint_defaults_to_pretrain_path_and_cli_prints_table(sr_setup, capsys):
    tmp_path, test_opt, net_opt, _ = sr_setup
    code = hinas_main(['compare', '--test-opt', test_opt, '--model', f'e={net_opt}', '--latency-runs', '1',
                       '--flops-size', '8', '8', '--out', str(tmp_path / 'o')])
    assert code == 0
    assert '| e |' in capsys.readouterr().out


def test_parse_model_spec():
    assert parse_model_spec('a=x.yml:c.pth') == ModelSpec('a', 'x.yml', 'c.pth')
    assert parse_model_spec('a=x.yml') == ModelSpec('a', 'x.yml', None)
    with pytest.raises(ValueError, match='NAME=YML'):
        parse_model_spec('x.yml')


def _one_line_error(capsys, argv, monkeypatch):
    monkeypatch.delenv('HINAS_DEBUG', raising=False)
    assert hinas_main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('hinas: error: ')
    return lines[0]


def test_missing_checkpoint_is_one_line(sr_setup, capsys, monkeypatch):
    tmp_path, test_opt, net_opt, _ = sr_setup
    line = _one_line_error(capsys, ['compare', '--test-opt', test_opt, '--model', f'e={net_opt}:nope.pth',
                                    '--out', str(tmp_path / 'o')], monkeypatch)
    assert '--model e: nope.pth does not exist' in line
    assert not (tmp_path / 'o').exists()


def test_genotype_of_wrong_task_is_one_line(sr_setup, capsys, monkeypatch):
    tmp_path, test_opt, _, ckpt = sr_setup
    with open('options/demo/genotype_example_sr_x2.json') as f:
        geno = json.load(f)
    geno.update(task='denoise', scale=1, num_in_ch=1)
    net_opt = tmp_path / 'hinas.yml'
    net_opt.write_text(yaml.safe_dump({'network_g': {'type': 'HiNASNet', 'genotype': geno}}))
    line = _one_line_error(capsys, ['compare', '--test-opt', test_opt, '--task', 'sr',
                                    '--model', f'h={net_opt}:{ckpt}'], monkeypatch)
    assert "searched for task 'denoise', but 'sr' was asked for" in line


def test_empty_test_folder_is_one_line(sr_setup, capsys, monkeypatch):
    tmp_path, _, net_opt, ckpt = sr_setup
    empty = tmp_path / 'empty'
    empty.mkdir()
    test_opt = tmp_path / 'empty.yml'
    test_opt.write_text(yaml.safe_dump({'scale': 2, 'datasets': {'test_1': {
        'name': 'Empty', 'type': 'PairedImageDataset', 'dataroot_gt': str(empty), 'dataroot_lq': str(empty),
        'io_backend': {'type': 'disk'}}}}))
    line = _one_line_error(capsys, ['compare', '--test-opt', str(test_opt), '--model', f'e={net_opt}:{ckpt}'],
                           monkeypatch)
    assert f'Empty: dataroot_gt: {empty} holds no images' in line


def test_denoise_compare_with_gray_hinas_net(tmp_path):
    from basicsr.archs import build_network

    gt_dir = tmp_path / 'gray'
    gt_dir.mkdir()
    cv2.imwrite(str(gt_dir / 'a.png'), np.full((16, 16), 128, np.uint8))
    test_opt = tmp_path / 'test.yml'
    test_opt.write_text(yaml.safe_dump({'scale': 1, 'datasets': {'test_1': {
        'name': 'G', 'type': 'HiNASNoisyImageDataset', 'dataroot_gt': str(gt_dir), 'io_backend': {'type': 'disk'},
        'gray': True, 'sigma': [50], 'noise_seed': 0}}}))
    with open('options/demo/genotype_example_sr_x2.json') as f:
        geno = json.load(f)
    geno.update(task='denoise', scale=1, num_in_ch=1)
    network_g = {'type': 'HiNASNet', 'genotype': geno, 'num_feat': 4}
    ckpt = tmp_path / 'h.pth'
    torch.save({'params': build_network(dict(network_g)).state_dict()}, ckpt)
    net_opt = tmp_path / 'h.yml'
    net_opt.write_text(yaml.safe_dump({'network_g': network_g}))
    rows = compare([ModelSpec('h', str(net_opt), str(ckpt))], str(test_opt), str(tmp_path / 'o'),
                   flops_size=(8, 8), latency_runs=1)
    assert [r['model'] for r in rows] == ['noisy', 'h']
    # noisy input at sigma 50 on a flat image: PSNR = 20 log10(255 / ~50) ~ 14 dB (some noise clipped)
    assert 13.5 < rows[0]['psnr'] < 15.5
    assert rows[1]['flops_input'] == '1x1x8x8' and rows[1]['flops'] > 0


def test_lr_of_mismatched_size_is_one_line(sr_setup, capsys, monkeypatch):
    """BasicSR's PairedImageDataset would crop the GT to the LR's size; compare refuses the pair instead."""
    tmp_path, test_opt, net_opt, ckpt = sr_setup
    lq_dir = tmp_path / 'LRbicx2'
    cv2.imwrite(str(lq_dir / '1.png'), np.zeros((10, 10, 3), np.uint8))  # GT is 24x20: LR must be 12x10
    line = _one_line_error(capsys, ['compare', '--test-opt', test_opt, '--model', f'e={net_opt}:{ckpt}',
                                    '--out', str(tmp_path / 'o')], monkeypatch)
    assert 'Tiny: 1.png: LR (10, 10) x 2 != GT (24, 20)' in line
    assert not (tmp_path / 'o').exists()


def _logged_scores(log_text: str) -> dict[str, dict[str, float]]:
    """``{set: {metric: value}}`` from the 'Validation SET' blocks of a ``basicsr test`` log."""
    scores, current = {}, None
    for line in log_text.splitlines():
        if 'Validation ' in line:
            current = scores.setdefault(line.split('Validation ', 1)[1].strip(), {})
        elif current is not None and (found := re.search(r'# (\w+): (-?[\d.]+)', line)):
            current[found[1]] = float(found[2])
    return scores


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    """The repository's sample data (its held-out SR test photos and BSD500 test images), built once."""
    from hinas_basicsr.tools.sample_data import ensure_sample_data

    root = tmp_path_factory.mktemp('data') / 'sample'
    ensure_sample_data(str(root))
    return root


@pytest.mark.slow
@pytest.mark.parametrize('task', ['sr', 'denoise'])
def test_compare_scores_equal_basicsr_test(tmp_path, monkeypatch, sample, task):
    """On the sample test sets, hinas compare and basicsr test give one network the same PSNR and SSIM."""
    from basicsr.archs import build_network
    from conftest import REPO, run_cli

    monkeypatch.chdir(tmp_path)
    with open(REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json') as f:
        geno = json.load(f)
    if task == 'sr':
        dataset = {'name': 'SampleTest', 'type': 'PairedImageDataset', 'io_backend': {'type': 'disk'},
                   'dataroot_gt': str(sample / 'benchmark' / 'SampleTest' / 'GTmod2'),
                   'dataroot_lq': str(sample / 'benchmark' / 'SampleTest' / 'LRbicx2')}
    else:  # one gray image of the BSD500 test set (meta_info_file), with its fixed sigma-50 noise
        geno.update(task='denoise', scale=1, num_in_ch=1)
        (tmp_path / 'one.txt').write_text('camera.png\n')
        dataset = {'name': 'BSD500_test', 'type': 'HiNASNoisyImageDataset', 'io_backend': {'type': 'disk'},
                   'dataroot_gt': str(sample / 'BSD500' / 'BSD500_test'), 'meta_info_file': 'one.txt',
                   'gray': True, 'sigma': [50], 'noise_seed': 0}
    network_g = {'type': 'HiNASNet', 'genotype': geno, 'num_feat': 4}
    torch.manual_seed(0)
    net = build_network(dict(network_g))
    with torch.no_grad():  # weights away from the initialisation, so the output is not (nearly) the input
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.save({'params': net.state_dict()}, tmp_path / 'net.pth')
    metrics = {m: {'type': f'calculate_{m}', 'crop_border': geno['scale'] if task == 'sr' else 0,
                   'test_y_channel': task == 'sr'} for m in ('psnr', 'ssim')}  # compare's conventions
    opt = {'name': 'same', 'model_type': 'SRModel', 'scale': geno['scale'], 'num_gpu': 'auto', 'manual_seed': 0,
           'datasets': {'test_1': dataset}, 'network_g': network_g,
           'path': {'pretrain_network_g': str(tmp_path / 'net.pth'), 'strict_load_g': True, 'param_key_g': 'params'},
           'val': {'save_img': False, 'suffix': None, 'metrics': metrics}}
    (tmp_path / 'same.yml').write_text(yaml.safe_dump(opt, sort_keys=False))

    done = run_cli(['-m', 'hinas_basicsr.cli', 'test', '-opt', 'same.yml'], tmp_path)
    assert done.returncode == 0, done.stderr
    (log,) = (tmp_path / 'results' / 'same').glob('test_same_*.log')
    logged = _logged_scores(log.read_text())[dataset['name']]
    assert hinas_main(['compare', '--test-opt', 'same.yml', '--model', 'net=same.yml', '--latency-runs', '1',
                       '--flops-size', '8', '8', '--out', 'cmp']) == 0
    with open(tmp_path / 'cmp' / 'compare.csv') as f:
        rows = {r['model']: r for r in csv.DictReader(f)}
    assert rows['net']['set'] == dataset['name']
    # the log prints 4 decimals, the CSV 4 (PSNR) and 5 (SSIM): equal up to the two roundings
    assert float(rows['net']['psnr']) == pytest.approx(logged['psnr'], abs=1.5e-4)
    assert float(rows['net']['ssim']) == pytest.approx(logged['ssim'], abs=1.5e-4)
    # the reference row (bicubic / the noisy input) scores differently: the equality is the network's own
    reference = rows['bicubic' if task == 'sr' else 'noisy']
    assert abs(float(reference['psnr']) - logged['psnr']) > 0.1


def test_test_options_scoring_otherwise_are_one_line(sr_setup, capsys, monkeypatch):
    """A val.metrics that basicsr test would apply differently (here: no crop) is refused, not ignored."""
    tmp_path, test_opt, net_opt, ckpt = sr_setup
    opt = yaml.safe_load(open(test_opt))
    opt['val'] = {'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': True}}}
    (tmp_path / 'crop0.yml').write_text(yaml.safe_dump(opt))
    line = _one_line_error(capsys, ['compare', '--test-opt', str(tmp_path / 'crop0.yml'),
                                    '--model', f'e={net_opt}:{ckpt}', '--out', str(tmp_path / 'o')], monkeypatch)
    assert 'val.metrics.psnr.crop_border is 0, but hinas compare scores sr with crop_border 2' in line
    assert not (tmp_path / 'o').exists()


def test_compare_at_x8(tmp_path):
    """An x8 EDSR (BasicSR's upsampler: three x2 steps) and the bicubic row, scored on Y with crop 8."""
    from basicsr.archs import build_network
    from basicsr.metrics import calculate_psnr
    from basicsr.utils.matlab_functions import imresize

    gt_dir, lq_dir = tmp_path / 'GTmod8', tmp_path / 'LRbicx8'
    gt_dir.mkdir()
    lq_dir.mkdir()
    smooth = cv2.GaussianBlur(np.random.default_rng(1).random((48, 40, 3)).astype(np.float32), (0, 0), 4)
    gt = np.round(smooth * 255).astype(np.uint8)
    lq = np.round(np.clip(imresize(gt / 255., 1 / 8), 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(str(gt_dir / '0.png'), gt)
    cv2.imwrite(str(lq_dir / '0.png'), lq)
    test_opt = tmp_path / 'test.yml'
    test_opt.write_text(yaml.safe_dump({'name': 't', 'scale': 8, 'datasets': {'test_1': {
        'name': 'Tiny', 'type': 'PairedImageDataset', 'io_backend': {'type': 'disk'},
        'dataroot_gt': str(gt_dir), 'dataroot_lq': str(lq_dir)}}}))
    edsr = {**EDSR, 'num_feat': 8, 'num_block': 1, 'upscale': 8}
    ckpt = tmp_path / 'edsr.pth'
    torch.save({'params': build_network(dict(edsr)).state_dict()}, ckpt)
    net_opt = tmp_path / 'edsr.yml'
    net_opt.write_text(yaml.safe_dump({'network_g': edsr, 'path': {'pretrain_network_g': str(ckpt)}}))
    rows = compare([ModelSpec('edsr', str(net_opt), str(ckpt))], str(test_opt), str(tmp_path / 'out'),
                   flops_size=(6, 5), latency_runs=1)
    assert [r['model'] for r in rows] == ['bicubic', 'edsr']
    bicubic = np.round(np.clip(imresize(lq / 255., 8), 0, 1) * 255)  # as BasicSR saves predictions: uint8
    expected = calculate_psnr(bicubic, gt.astype(np.float64), crop_border=8, test_y_channel=True)
    assert rows[0]['psnr'] == pytest.approx(expected, abs=1e-3)
