"""benchmarks/by_width_path.py on a planted run: the paths' medians and the searched nets' margins against numpy."""
from __future__ import annotations

import json

import by_width_path
import numpy as np
import pytest

from hinas_basicsr.research.stats import margin_interval


def net(widths, flops, crops, whole):
    return {'genotype': {'widths': widths}, 'flops': flops * 1e9, 'psnr': crops,
            'sets': {'Crops': {'psnr': crops}, 'HR': {'psnr': whole}}}


PLANTED = {
    'random_1': net([0, 0], 8.0, [41.0, 41.2], [42.4, 42.5]),
    'random_2': net([0, 0], 8.4, [40.8, 40.9], [42.3, 42.2]),
    'random_3': net([0, 0], 8.2, [41.1, 41.0], [42.6, 42.4]),
    'random_band_found_1': net([0, 1], 7.5, [40.5, 40.7], [42.0, 42.1]),
    'random_4': net([0, 1], 7.7, [40.6, 40.6], [42.1, 42.1]),
    'found': net([0, 1], 7.6, [40.9, 40.8], [42.3, 42.2]),
    'found_search2': net([0, 0], 8.1, [41.0, 40.9], [42.5, 42.4]),
    'found_search3': net([1, 1], 9.0, [41.5, 41.5], [42.9, 42.9]),  # no random on its path: no margin
}


def test_margins_over_each_paths_median_equal_numpy(tmp_path, capsys):
    results = tmp_path / 'results.json'
    results.write_text(json.dumps({'genotypes': PLANTED}))
    out = tmp_path / 'w.json'
    assert by_width_path.main(['--results', str(results), '--set', 'HR', '--json', str(out)]) == 0
    figures = json.loads(out.read_text())['sets']
    assert list(figures) == ['HR']
    hr = figures['HR']
    assert sorted(hr['paths']) == ['0-0', '0-1']
    median_00 = np.median([np.mean([42.4, 42.5]), np.mean([42.3, 42.2]), np.mean([42.6, 42.4])])
    median_01 = np.median([np.mean([42.0, 42.1]), np.mean([42.1, 42.1])])
    assert hr['paths']['0-0']['median_db'] == pytest.approx(median_00)
    assert hr['paths']['0-1']['median_gflops'] == pytest.approx(7.6)
    assert hr['nets']['found']['margin_db'] == pytest.approx(42.25 - median_01)
    assert hr['nets']['found_search2']['margin_db'] == pytest.approx(42.45 - median_00)
    assert hr['nets']['found_search3'] == {'path': '1-1', 'psnr_db': pytest.approx(42.9), 'gflops': 9.0,
                                           'randoms_on_path': 0, 'margin_db': None}
    # the mode's margin: the two searches that have randoms on their path, by the verdict's own bootstrap
    margin, interval = margin_interval([([42.3, 42.2], [[42.0, 42.1], [42.1, 42.1]]),
                                        ([42.5, 42.4], [[42.4, 42.5], [42.3, 42.2], [42.6, 42.4]])])
    assert hr['modes']['found'] == {'searches': 2, 'margin_db': pytest.approx(margin),
                                    'interval90_db': pytest.approx(list(interval))}
    printed = capsys.readouterr().out
    assert '| found | [0-1] | 42.250 | 7.60 | +0.175 |' in printed  # 42.25 over the median of 42.05 and 42.10
    assert '| found_search3 | [1-1] | 42.900 | 9.00 |  |' in printed


def test_every_set_by_default_and_bad_input_in_one_line(tmp_path, capsys):
    results = tmp_path / 'results.json'
    results.write_text(json.dumps({'genotypes': PLANTED}))
    assert by_width_path.main(['--results', str(results)]) == 0
    assert 'On Crops' in capsys.readouterr().out
    assert by_width_path.main(['--results', str(results), '--set', 'Set5', '--json', str(tmp_path / 'w.json')]) == 2
    assert capsys.readouterr().err == (f"by_width_path: error: --set: 'Set5' is not a test set of {results} "
                                       "(Crops, HR)\n")
    assert not (tmp_path / 'w.json').exists()
    only_randoms = tmp_path / 'r.json'
    only_randoms.write_text(json.dumps({'genotypes': {'random_1': PLANTED['random_1']}}))
    assert by_width_path.main(['--results', str(only_randoms)]) == 2
    assert 'holds no randoms or no searched nets' in capsys.readouterr().err
    assert by_width_path.main(['--results', str(tmp_path / 'missing.json')]) == 2
    assert 'missing.json' in capsys.readouterr().err
