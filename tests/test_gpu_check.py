"""benchmarks/gpu_check.sh refuses to start without CUDA; the data-loading benchmark runs on tiny images."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO

sys.path.insert(0, str(REPO / 'benchmarks'))

import data_loading  # noqa: E402
import gpu_check  # noqa: E402


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='refusal only where there is no CUDA')
def test_gpu_check_refuses_without_cuda_in_one_line(tmp_path):
    out = tmp_path / 'out'
    done = subprocess.run(['bash', str(REPO / 'benchmarks' / 'gpu_check.sh')], capture_output=True, text=True,
                          env={**os.environ, 'OUT': str(out), 'PYTHON': sys.executable}, timeout=120)
    assert done.returncode == 2 and done.stdout == ''
    assert done.stderr.count('\n') == 1 and done.stderr.startswith('gpu_check.sh: no CUDA device here')
    assert not out.exists()  # nothing written


def test_data_loading_benchmark_on_tiny_images(tmp_path):
    out = tmp_path / 'data_loading.json'
    rows = data_loading.main(['--images', '2', '--samples', '4', '--batch', '2', '--workers', '0', '2',
                              '--memory-workers', '0', '--size', '272', '300', '--data', str(tmp_path / 'data'),
                              '--json', str(out)])
    assert [(r['backend'], r['workers']) for r in rows] == [('lmdb', 0), ('lmdb', 2), ('memory', 0)]
    assert all(r['samples'] == 4 and r['samples_per_s'] > 0 and r['images'] == 2 for r in rows)
    assert json.loads(out.read_text())['rows'] == rows


def test_gpu_check_table_reads_the_stages():
    result = {'device': 'NVIDIA H200', 'torch': '2.11.0', 'search_iters': 150, 'stages': {
        'cuda': {'rc': 0, 'passed': 9, 'wall_s': 30.0},
        'search': {'rc': 0, 'iteration_s': 0.2, 'weight_step_s': 0.1, 'extrapolated_search_min': 4.5,
                   'wall_s': 90.0},
        'infer': {'rc': 0, 'output': [2160, 3840, 3], 'wall_s': 12.0},
        'search_step': {'rows': [{'variant': 'default bf16', 'step_s': 0.05, 'peak_mem_mb': 900.0,
                                  'time_vs_plain': 0.3, 'mem_vs_plain': 0.4}]}}}
    text = gpu_check.table(result)
    assert '| cuda tests | 9 passed, 0 failed (rc 0) | 30.0 |' in text
    assert '1,500 iterations: 4.5 min (paper: 3.5 h on a GTX 1080 Ti)' in text
    assert '| default bf16 | 0.0500 | 900 | 0.30 | 0.40 |' in text
