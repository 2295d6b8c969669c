"""The benchmark scripts run on tiny inputs and write their JSON keys."""
from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO

from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet

sys.path.insert(0, str(REPO / 'benchmarks'))

import inference  # noqa: E402
import search_step  # noqa: E402


@pytest.mark.slow
def test_inference_benchmark(tmp_path):
    out = tmp_path / 'inference.json'
    rows = inference.main(['--size', '16', '--runs', '1', '--models', 'hinas', 'hinas_deploy', 'hinas_deploy_cl',
                           '--json', str(out)])
    assert [r['model'] for r in json.loads(out.read_text())] == [r['model'] for r in rows]
    for row in rows:
        assert row['flops'] > 0 and row['latency_s'] > 0 and row['gflops_per_s'] > 0
    assert all(r['max_abs_diff_vs_hinas'] <= 1e-4 for r in rows if r['model'] != 'hinas')


@pytest.mark.parametrize('variant', [dict(impl='plain', checkpoint_cells=False, lever=None),
                                     dict(impl='default', checkpoint_cells=True, lever=None),
                                     dict(impl='default', checkpoint_cells=False, lever='contiguous'),
                                     dict(impl='plain-channels-last', checkpoint_cells=False, lever=None)])
@pytest.mark.slow
def test_search_step_benchmark_measures_one_variant(variant):
    """One variant, measured in this process (the script runs each in a process of its own)."""
    measured = search_step.main(['--task', 'sr', '--batch', '2', '--patch', '8', '--iters', '1', '--warmup', '0',
                                 '--device', 'cpu', '--one', json.dumps(variant)])
    assert measured['step_s'] > 0 and measured['peak_mem_mb'] >= 0
    assert measured['plain_cells'] == variant['impl'].startswith('plain')
    assert measured['channels_last'] == (variant['impl'] != 'plain' and variant['lever'] != 'contiguous')
    net = HiNASSupernet(task='sr', upscale=2, num_layers=2, num_nodes=3, num_feat=8)
    assert measured['params'] == sum(p.numel() for p in net.weight_parameters())
