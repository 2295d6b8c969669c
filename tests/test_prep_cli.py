"""Bad input to the datasets_prep scripts: one line on stderr naming the problem, exit 2, no LMDB left."""
import glob
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from prep_helpers import make_div2k_src

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, 'PYTHONPATH': REPO}
    return subprocess.run([sys.executable, os.path.join(REPO, 'datasets_prep', name), *args], capture_output=True,
                          text=True, env=env, timeout=300)


def _missing_src(tmp):
    return str(tmp / 'no_such_DIV2K'), 'no_such_DIV2K'


def _lr_missing(tmp):
    src = make_div2k_src(str(tmp / 'DIV2K'), sizes=((480, 480), (480, 492)))
    os.makedirs(os.path.join(src, 'DIV2K_train_LR_bicubic', 'X2'))
    cv2.imwrite(os.path.join(src, 'DIV2K_train_LR_bicubic', 'X2', '0001x2.png'), np.zeros((240, 240, 3), np.uint8))
    return src, '0002x2.png'


def _lr_wrong_size(tmp):
    src = make_div2k_src(str(tmp / 'DIV2K'), sizes=((480, 480),))
    os.makedirs(os.path.join(src, 'DIV2K_train_LR_bicubic', 'X2'))
    cv2.imwrite(os.path.join(src, 'DIV2K_train_LR_bicubic', 'X2', '0001x2.png'), np.zeros((240, 239, 3), np.uint8))
    return src, '0001x2.png'


def _corrupt_image(tmp):
    src = make_div2k_src(str(tmp / 'DIV2K'), sizes=((480, 480),))
    with open(os.path.join(src, 'DIV2K_train_HR', '0002.png'), 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n this is not an image')
    return src, '0002.png'


def _existing_dst(tmp):
    src = make_div2k_src(str(tmp / 'DIV2K'), sizes=((480, 480),))
    os.makedirs(tmp / 'out' / 'DIV2K_train_HR_sub.lmdb')  # e.g. left by BasicSR's own script
    return src, 'DIV2K_train_HR_sub.lmdb'


@pytest.mark.parametrize('make_case', [_missing_src, _lr_missing, _lr_wrong_size, _corrupt_image, _existing_dst],
                         ids=['missing-src', 'lr-missing', 'lr-wrong-size', 'corrupt-image', 'existing-dst'])
@pytest.mark.slow
def test_prepare_div2k_bad_input(tmp_path, make_case):
    src, culprit = make_case(tmp_path)
    dst = tmp_path / 'out'
    before = set(glob.glob(str(dst / '**' / '*.lmdb'), recursive=True))
    proc = run_script('prepare_div2k.py', '--src', src, '--dst', str(dst), '--scales', '2')
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('prepare_div2k: error: ') and culprit in lines[0]
    assert set(glob.glob(str(dst / '**' / '*.lmdb'), recursive=True)) == before  # nothing new, nothing partial
    assert not glob.glob(str(dst / '.partial-*'))


@pytest.mark.slow
def test_force_overwrites_existing_dst(tmp_path):
    src, _ = _existing_dst(tmp_path)
    proc = run_script('prepare_div2k.py', '--src', src, '--dst', str(tmp_path / 'out'), '--scales', '2', '--force')
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / 'out' / 'DIV2K_train_HR_sub.lmdb' / 'meta_info.txt') as f:
        assert f.read().split() == ['0001_s001.png', '(480,480,3)', '1']


@pytest.mark.slow
def test_prepare_bsd500_missing_layout(tmp_path):
    os.makedirs(tmp_path / 'BSR')
    proc = run_script('prepare_bsd500.py', '--src', str(tmp_path / 'BSR'), '--dst', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"prepare_bsd500: error: {tmp_path / 'BSR'}: no BSDS500/data/images/{{train,val,test}} folders inside"]
