"""benchmarks/judge_search.py on a tiny supernet and a hand-made results.json: taus, table, selections."""
from __future__ import annotations

import json
import random
import sys

import pytest
import torch
from conftest import REPO

from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.research.random_genotype import random_genotype
from hinas_basicsr.research.stats import tau_interval
from hinas_basicsr.search.judge import SearchJudge, kendall_tau
from hinas_basicsr.space.genotype import Genotype

sys.path.insert(0, str(REPO / 'benchmarks'))

import judge_search  # noqa: E402


@pytest.mark.slow
def test_taus_table_and_selected_genotypes(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = HiNASSupernet(num_nodes=2, num_feat=4)
    lq = torch.rand(1, 3, 8, 8)
    judge = SearchJudge(net, [{'lq': lq, 'gt': torch.rand(1, 3, 16, 16)}], crop_border=2)
    monkeypatch.setattr(judge_search, 'judge_of_search', lambda *a, **k: judge)
    rng = random.Random(0)
    genotypes = {name: random_genotype(rng, task='sr', scale=2, num_in_ch=3, num_nodes=2, num_layers=2,
                                       width_factors=net.width_factors, ops=net.op_names)
                 for name in ('found', 'random_1', 'random_2', 'random_3', 'random_4')}
    inherited = {name: judge.inherited_psnr(g) for name, g in genotypes.items()}
    # stand-alone: the randoms in the judge's order, the found net (the judge's best) made the worst of all
    standalone = {n: (0.0 if n == 'found' else 30 + v / 100) for n, v in inherited.items()}
    results = {'genotypes': {n: {'kind': 'search' if n == 'found' else 'random', 'flops': 1e9,
                                 'psnr': [standalone[n], 0.0], 'genotype': g.to_dict()}
                             for n, g in genotypes.items()}}
    (tmp_path / 'results.json').write_text(json.dumps(results))
    (tmp_path / 'search.yml').write_text('name: x\n')
    out = tmp_path / 'judge.json'
    assert judge_search.main(['--search-opt', str(tmp_path / 'search.yml'), '--results', str(tmp_path / 'results.json'),
                              '--json', str(out), '--select', str(tmp_path / 'picked')]) == 0
    report = json.loads(out.read_text())
    assert report['tau_randoms'] == 1.0 and report['num_randoms'] == 4 and report['num_all'] == 5
    names = list(inherited)
    assert report['tau_all'] == pytest.approx(kendall_tau([inherited[n] for n in names],
                                                          [standalone[n] for n in names]), abs=1e-4)
    assert report['tau_all'] < 1
    # the bootstrap intervals: the randoms' ranks agree in every resample; all nets' interval holds the tau
    assert report['tau_randoms_interval90'] == [1.0, 1.0]
    listed = [report['nets'][n] for n in names]
    expected = tau_interval([v['inherited_psnr'] for v in listed], [v['standalone_psnr'] for v in listed])[1]
    assert report['tau_all_interval90'] == [round(v, 4) for v in expected]
    low, high = report['tau_all_interval90']
    assert low <= report['tau_all'] <= high and low < high
    line = f'all {report["tau_all"]:+.3f} (5 nets, 90% interval [{low:+.3f}, {high:+.3f}])'
    assert line in judge_search.table(report)
    # the stand-alone PSNR is the mean over the seeds trained
    assert {n: v['standalone_psnr'] for n, v in report['nets'].items()} == pytest.approx(
        {n: standalone[n] / 2 for n in names}, abs=1e-4)
    assert {n: v['inherited_psnr'] for n, v in report['nets'].items()} == pytest.approx(inherited, abs=1e-4)
    picked = Genotype.load(str(tmp_path / 'picked' / 'perturbation.json'))
    assert set(picked.search) == {'alpha_softmax', 'transitions'}  # the one-hot weights it decodes from
    record = json.loads((tmp_path / 'picked' / 'perturbation.search.json').read_text())
    assert record['selection'] == 'perturbation' and record['val_crop'] is None and len(record['path_psnr']) > 1
    assert report['selection']['files'][1] == str(tmp_path / 'picked' / 'perturbation.search.json')
    assert list(picked.widths) == report['selection']['perturbation']['widths']
    best = Genotype.load(str(tmp_path / 'picked' / 'best_widths.json'))
    assert best.cells == genotypes['found'].cells
    scores = report['selection']['found_path_psnr']
    assert ','.join(map(str, best.widths)) == max(scores, key=scores.get)
    assert judge_search.main(['--search-opt', str(tmp_path / 'nothing.yml'), '--results', str(out)]) == 2
