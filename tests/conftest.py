"""Shared fixtures: small paired SR folders made from skimage photos, and option files pointing at them.

It also imports the plugin before any test module imports BasicSR (the plugin installs BasicSR's
torchvision compat shim), and puts tests/ on sys.path for the helper modules here (and benchmarks/ after it, for
the benchmarks' own modules such as plain_cell).
"""
from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'benchmarks'))

import cv2
import numpy as np
import pytest
import yaml

import hinas_basicsr  # noqa: E402,F401  (before basicsr)

REPO = Path(__file__).resolve().parents[1]


def make_paired_folders(root: Path, scale: int = 2, size: int = 96, count: int = 4) -> tuple[Path, Path]:
    """HR crops of an skimage photo and their MATLAB-bicubic LR, as PNG folders with equal names."""
    from basicsr.utils.matlab_functions import imresize
    from skimage import data

    photo = data.astronaut()[..., ::-1]  # RGB -> BGR, as cv2 writes
    gt_dir, lq_dir = root / 'GT', root / f'LRx{scale}'
    gt_dir.mkdir(parents=True)
    lq_dir.mkdir(parents=True)
    for i in range(count):
        hr = np.ascontiguousarray(photo[i * 100:i * 100 + size, i * 80:i * 80 + size])
        lr = np.clip(np.round(imresize(hr.astype(np.float64) / 255., 1 / scale) * 255.), 0, 255).astype(np.uint8)
        cv2.imwrite(str(gt_dir / f'{i:04d}.png'), hr)
        cv2.imwrite(str(lq_dir / f'{i:04d}.png'), lr)
    return gt_dir, lq_dir


def edsr_options(data_root: Path, **train_overrides) -> dict:
    """The repository's EDSR example, pointed at generated folders, with no validation."""
    opt = yaml.safe_load((REPO / 'options' / 'train_edsr_example_x2.yml').read_text())
    gt_dir, lq_dir = make_paired_folders(data_root)
    opt.pop('sample_data')
    opt.pop('val')
    opt['datasets'].pop('val')
    train = opt['datasets']['train']
    train.update(dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), io_backend={'type': 'disk'}, batch_size_per_gpu=2)
    opt['train'].update(train_overrides)
    opt['logger'].update(print_freq=1, use_tb_logger=False)
    return opt


def write_options(path: Path, opt: dict) -> Path:
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


def run_cli(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a console script's module in a subprocess from ``cwd``."""
    full_env = {**os.environ, 'PYTHONPATH': str(REPO), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(opt_path: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node 2 -m hinas_basicsr.cli train -opt X --launcher pytorch`` on gloo."""
    return run_cli(['-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
                    '--master_port', str(free_port()), '-m', 'hinas_basicsr.cli', 'train', '-opt', str(opt_path),
                    '--launcher', 'pytorch', *extra], cwd=cwd, env={'OMP_NUM_THREADS': '1'}, timeout=180)


@pytest.fixture
def repo() -> Path:
    return REPO


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``cuda`` skip where torch sees no CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs CUDA (torch.cuda.is_available() is False)')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def basicsr_log():
    """What BasicSR's root logger says during the test. (Its log file cannot serve: BasicSR's root logger is set up
    once per process, so every later in-process run writes to the first run's file, or to none.)"""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger('basicsr')
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # where an earlier test set it up without a log file, it stays at WARNING
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture(scope='module')
def one_thread():
    """Tiny tensors: on a shared CPU, a second intra-op thread only makes each op wait (up to 100x slower).
    A module uses it with ``pytestmark = pytest.mark.usefixtures('one_thread')``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
