"""The benchmark scripts run on tiny inputs and write their JSON keys."""
from __future__ import annotations

import json
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / 'benchmarks'))

import inference  # noqa: E402
import search_step  # noqa: E402


def test_inference_benchmark(tmp_path):
    out = tmp_path / 'inference.json'
    rows = inference.main(['--size', '16', '--runs', '1', '--models', 'hinas', 'hinas_deploy', 'hinas_deploy_cl',
                           '--json', str(out)])
    assert [r['model'] for r in json.loads(out.read_text())] == [r['model'] for r in rows]
    for row in rows:
        assert row['flops'] > 0 and row['latency_s'] > 0 and row['gflops_per_s'] > 0
    assert all(r['max_abs_diff_vs_hinas'] <= 1e-4 for r in rows if r['model'] != 'hinas')


def test_search_step_benchmark(tmp_path):
    out = tmp_path / 'step.json'
    search_step.main(['--task', 'sr', '--batch', '2', '--patch', '8', '--iters', '1', '--warmup', '1',
                      '--checkpoint-cells', 'on', '--device', 'cpu', '--json', str(out)])
    result = json.loads(out.read_text())
    assert {'step_s_median', 'peak_mem_mb', 'params'} <= result.keys() and result['checkpoint_cells']
