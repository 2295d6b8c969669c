"""The bm3d row of ``hinas compare`` on denoising test sets: BM3D's score equals an independent call of the package,
and without the package one line says it is skipped."""
from __future__ import annotations

import csv
import zlib

import cv2
import numpy as np
import pytest
import yaml
from prep_helpers import smooth_image

from hinas_basicsr.cli import hinas_main
from hinas_basicsr.tools import compare as compare_module

SIGMA = 50


def planted(tmp_path) -> tuple[np.ndarray, str]:
    """One 64x64 gray image and a test option file that adds its fixed sigma-50 noise."""
    (tmp_path / 'gt').mkdir()
    gt = smooth_image(64, 64, seed=4, channels=1)
    cv2.imwrite(str(tmp_path / 'gt' / 'plant.png'), gt)
    opt = {'name': 'plant', 'model_type': 'SRModel', 'scale': 1, 'num_gpu': 0,
           'datasets': {'test_1': {'name': 'Plant', 'type': 'HiNASNoisyImageDataset', 'io_backend': {'type': 'disk'},
                                   'dataroot_gt': str(tmp_path / 'gt'), 'gray': True, 'sigma': [SIGMA],
                                   'noise_seed': 0}}}
    path = tmp_path / 'test.yml'
    path.write_text(yaml.safe_dump(opt))
    return gt, str(path)


def rows_of(path) -> dict[str, dict[str, str]]:
    with open(path) as f:
        return {r['model']: r for r in csv.DictReader(f)}


@pytest.mark.slow
def test_bm3d_row_equals_the_package_and_basicsr_psnr(tmp_path, capsys):
    bm3d = pytest.importorskip('bm3d')
    from basicsr.metrics import calculate_psnr, calculate_ssim

    gt, test_opt = planted(tmp_path)
    assert hinas_main(['compare', '--test-opt', test_opt, '--latency-runs', '1', '--flops-size', '16', '16',
                       '--out', str(tmp_path / 'cmp')]) == 0
    rows = rows_of(tmp_path / 'cmp' / 'compare.csv')
    assert list(rows) == ['noisy', 'bm3d'] and 'skipped' not in capsys.readouterr().out

    # independently: the same fixed noise (seed 0, the image's key), BM3D told sigma, rounded to 8 bits, BasicSR's PSNR
    rng = np.random.default_rng([0, zlib.crc32(b'plant')])
    rng.integers(1)  # the dataset draws the sigma (among one) before the noise
    noisy = gt.astype(np.float32) / 255. + rng.standard_normal(gt.shape, dtype=np.float32) * np.float32(SIGMA / 255.)
    # BasicSR's tensor2img rounds a float32 image: rounding the package's float64 moves a few pixels by one level
    denoised = np.round(np.clip(bm3d.bm3d(noisy, SIGMA / 255.).astype(np.float32), 0, 1) * 255.).astype(np.uint8)
    expected_psnr = calculate_psnr(denoised, gt, crop_border=0)
    expected_ssim = calculate_ssim(denoised, gt, crop_border=0)
    # The bm3d package's last bits depend on the machine (its compiled filters, numpy's SIMD paths): on another CPU a
    # few of the 4,096 pixels round one level apart, which moves SSIM by ~1e-5 (1.3e-5 in CI) and PSNR by less. The
    # tolerances allow that and no more: BM3D told sigma 45 or 55, or another noise draw, moves PSNR by 0.1 to 0.3 dB
    # and SSIM by 1.5e-3 or more.
    assert float(rows['bm3d']['psnr']) == pytest.approx(expected_psnr, abs=2e-3)
    assert float(rows['bm3d']['ssim']) == pytest.approx(expected_ssim, abs=1e-4)
    assert expected_psnr > float(rows['noisy']['psnr']) + 5  # BM3D denoises: a score worth comparing
    assert (rows['bm3d']['params'], rows['bm3d']['flops']) == ('0', '0') and float(rows['bm3d']['latency_s']) > 0


def test_without_the_package_bm3d_is_skipped_in_one_line(tmp_path, capsys, monkeypatch):
    _, test_opt = planted(tmp_path)
    monkeypatch.setattr(compare_module, 'bm3d_available', lambda: False)
    assert hinas_main(['compare', '--test-opt', test_opt, '--latency-runs', '1', '--out', str(tmp_path / 'cmp')]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith('bm3d')]
    assert said == ["bm3d: skipped, the bm3d package is not installed (pip install -e '.[bm3d]')"]
    assert list(rows_of(tmp_path / 'cmp' / 'compare.csv')) == ['noisy']


def test_no_model_may_take_the_name_bm3d(tmp_path, capsys):
    _, test_opt = planted(tmp_path)
    assert hinas_main(['compare', '--test-opt', test_opt, '--model', f'bm3d={test_opt}', '--out',
                       str(tmp_path / 'cmp')]) == 2
    assert 'not bicubic/noisy/bm3d' in capsys.readouterr().err


def test_bm3d_is_skipped_below_the_size_its_binary_takes(tmp_path, capsys):
    pytest.importorskip('bm3d')
    _, test_opt = planted(tmp_path)
    assert hinas_main(['compare', '--test-opt', test_opt, '--latency-runs', '1', '--flops-size', '8', '8',
                       '--out', str(tmp_path / 'cmp')]) == 0  # BM3D on 8x8 crashes the process: never called
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith('bm3d')]
    assert said == ['bm3d: skipped, its latency input 8x8 (--flops-size) is smaller than 16x16, where the bm3d '
                    'package may crash']
