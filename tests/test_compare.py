"""hinas compare: values of the params/FLOPs columns, the table files, and one-line errors on bad input."""
import csv
import json
import os

import cv2
import numpy as np
import pytest
import torch
import yaml

import hinas_basicsr  # noqa: F401
from hinas_basicsr.cli import hinas_main
from hinas_basicsr.compare import ModelSpec, compare, parse_model_spec

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
        'name': 'Tiny', 'dataroot_gt': str(gt_dir), 'dataroot_lq': str(lq_dir)}}}))
    torch.manual_seed(0)
    ckpt = tmp_path / 'edsr.pth'
    torch.save({'params': build_network(dict(EDSR)).state_dict()}, ckpt)
    net_opt = tmp_path / 'edsr.yml'
    net_opt.write_text(yaml.safe_dump({'network_g': EDSR, 'path': {'pretrain_network_g': str(ckpt)}}))
    return tmp_path, str(test_opt), str(net_opt), str(ckpt)


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
    with pytest.raises(ValueError, match='NAME=OPTION_YML'):
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
    assert 'checkpoint nope.pth does not exist' in line
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
        'name': 'Empty', 'dataroot_gt': str(empty), 'dataroot_lq': str(empty)}}}))
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
        'name': 'G', 'dataroot_gt': str(gt_dir), 'sigma': [50], 'noise_seed': 0}}}))
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


@pytest.mark.parametrize('clip', [False, True])
def test_denoise_input_equals_the_datasets_test_lq(tmp_path, clip):
    """hinas compare and basicsr test (HiNASNoisyImageDataset, test phase) score identical noisy inputs."""
    from basicsr.data import build_dataset

    from hinas_basicsr.compare import load_test_sets, read_pairs

    gt_dir = tmp_path / 'gray'
    gt_dir.mkdir()
    rng = np.random.default_rng(0)
    for name in ('b', 'a', 'c'):
        cv2.imwrite(str(gt_dir / f'{name}.png'), rng.integers(0, 256, (12, 10), dtype=np.uint8))
    spec = {'name': 'G', 'type': 'HiNASNoisyImageDataset', 'dataroot_gt': str(gt_dir), 'io_backend': {'type': 'disk'},
            'gray': True, 'sigma': [50], 'noise_seed': 3, 'clip': clip}
    test_opt = tmp_path / 'test.yml'
    test_opt.write_text(yaml.safe_dump({'scale': 1, 'datasets': {'test_1': spec}}))
    task, scale, (test_set,) = load_test_sets(str(test_opt))
    pairs = read_pairs(test_set, task, scale)
    dataset = build_dataset({**spec, 'phase': 'test'})
    assert [p.name for p in pairs] == [os.path.basename(p) for p in dataset.paths] == ['a.png', 'b.png', 'c.png']
    for pair, item in zip(pairs, dataset):
        assert np.array_equal(pair.lq[..., 0], item['lq'].numpy()[0])
        assert not np.array_equal(pair.lq, pair.gt / 255.)


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
        'name': 'Tiny', 'dataroot_gt': str(gt_dir), 'dataroot_lq': str(lq_dir)}}}))
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
