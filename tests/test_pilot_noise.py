"""benchmarks/pilot_noise.py on a planted run: spreads, ratio, taus and the chosen budget against numpy."""
from __future__ import annotations

import csv
import json

import numpy as np
import pilot_noise
from scipy.stats import kendalltau


def plant(tmp_path, scores: dict[str, dict[str, list[float]]], iters: int = 2000):
    """A run folder: results.json with train_iters, and scores/<net>/compare.csv with seed<k> and seed<k>_half rows."""
    (tmp_path / 'results.json').write_text(json.dumps({'settings': {'train_iters': iters}}))
    for net, rows in scores.items():
        folder = tmp_path / 'scores' / net
        folder.mkdir(parents=True)
        with open(folder / 'compare.csv', 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=['model', 'set', 'psnr', 'ssim'])
            writer.writeheader()
            writer.writerow({'model': 'bicubic', 'set': 'Crops', 'psnr': 1.0, 'ssim': 0.5})
            for model, values in rows.items():
                for k, v in enumerate(values):
                    suffix = '_half' if model == 'half' else ''
                    writer.writerow({'model': f'seed{k}{suffix}', 'set': 'Crops', 'psnr': v, 'ssim': 0.9})
    return str(tmp_path)


def test_spreads_ratio_tau_and_choice_equal_an_independent_computation(tmp_path):
    full = {'a': [40.0, 40.1, 40.2], 'b': [40.5, 40.6, 40.4], 'c': [39.0, 39.1, 39.05], 'd': [41.0, 41.2, 40.9]}
    half = {'a': [39.0, 39.5, 38.8], 'b': [39.4, 38.9, 39.6], 'c': [38.7, 39.2, 38.5], 'd': [39.1, 39.9, 39.3]}
    run = plant(tmp_path, {n: {'full': full[n], 'half': half[n]} for n in full})
    scores, iters = pilot_noise.run_scores(run)
    assert iters == 2000 and sorted(scores) == [1000, 2000] and scores[2000]['Crops']['b'] == [40.5, 40.6, 40.4]
    figures = pilot_noise.noise_floor(scores)
    for budget, planted in (('1000', half), ('2000', full)):
        s = figures['budgets'][budget]['Crops']
        values = np.array([planted[n] for n in sorted(planted)])
        assert np.isclose(s['seed_spread_db'], values.std(axis=1, ddof=1).mean())
        assert np.isclose(s['net_spread_db'], values.mean(axis=1).std(ddof=1))
        assert np.isclose(s['ratio'], s['seed_spread_db'] / s['net_spread_db'])
    expected_tau = kendalltau([np.mean(half[n]) for n in sorted(half)], [np.mean(full[n]) for n in sorted(full)])[0]
    assert np.isclose(figures['taus'][0]['tau'], expected_tau)
    # the half budget is noise-limited (ratio > 1/3), the full one is not: the choice is the full one
    assert figures['budgets']['1000']['Crops']['ratio'] > 1 / 3 >= figures['budgets']['2000']['Crops']['ratio']
    assert figures['choice']['budget'] == 2000 and 'shortest' in figures['choice']['why']


def test_no_budget_reaching_the_goal_chooses_the_longest_and_says_so(tmp_path):
    noisy = {'a': [40.0, 40.5], 'b': [40.2, 39.9], 'c': [40.1, 40.4]}
    run = plant(tmp_path, {n: {'full': v, 'half': v} for n, v in noisy.items()})
    figures = pilot_noise.noise_floor(pilot_noise.run_scores(run)[0])
    assert figures['choice']['budget'] == 2000 and 'noise-limited' in figures['choice']['why']


def test_an_earlier_run_adds_its_budgets_under_the_run_names(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    run = plant(tmp_path / "run", {'found': {'full': [40.0, 40.2]}, 'random_1': {'full': [39.0, 39.3]}})
    earlier = tmp_path / 'earlier.json'
    earlier.write_text(json.dumps({'settings': {'train_iters': 300}, 'genotypes': {
        'random_4': {'psnr': [38.0, 38.1], 'psnr_half': [37.0, 37.4]}, 'random_1': {'psnr': [37.5, 37.9]}}}))
    out = tmp_path / 'noise.json'
    assert pilot_noise.main(['--run', run, '--alias', 'found=random_4', '--earlier', str(earlier),
                             '--json', str(out)]) == 0
    figures = json.loads(out.read_text())
    assert sorted(figures['budgets'], key=int) == ['150', '300', '2000']
    assert figures['budgets']['300']['PhotosTestCrop']['means_db'] == {'found': 38.05, 'random_1': 37.7}
    assert 'Chosen training budget' in capsys.readouterr().out
    assert pilot_noise.main(['--run', str(tmp_path / 'nothing')]) == 2
