"""hinas search-vs-random end to end on the sample data: K=2 random, 1 seed, a 2-iteration search, 2 training steps."""
import json
import os

import pytest
import torch

from hinas_basicsr.cli import hinas_main
from hinas_basicsr.compare import count_flops, count_params, load_network
from hinas_basicsr.genotype import Genotype
from hinas_basicsr.search_vs_random import markdown_table, rank_among

ENTRY_KEYS = {'kind', 'genotype', 'params', 'flops', 'flops_input', 'psnr', 'ssim', 'psnr_half', 'sets',
              'train_iterations', 'train_seconds', 'wall_seconds'}


def argv(out, *extra):
    return ['search-vs-random', '--task', 'sr', '--scale', '2', '--random', '2', '--seeds', '1',
            '--search-iters', '2', '--train-iters', '2', '--out', out, '--device', 'cpu', *extra]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch, repo):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'options').symlink_to(repo / 'options')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(threads)


def test_search_then_randoms_end_to_end_and_rerun_skips(in_tmp, capsys):
    assert hinas_main(argv('out', '--search-opt', 'options/demo/search_sr_x2.yml')) == 0
    out = in_tmp / 'out'
    results = json.loads((out / 'results.json').read_text())
    assert results['settings'] == {'task': 'sr', 'scale': 2, 'search_opt': 'options/demo/search_sr_x2.yml',
                                   'genotype': None, 'random': 2, 'seeds': 1, 'search_iters': 2, 'train_iters': 2,
                                   'device': 'cpu', 'ablations': False, 'data': 'sample', 'random_seeds': 1,
                                   'widths': False, 'cells': 0, 'tests': [], 'jobs': 1}
    entries = results['genotypes']
    assert list(entries) == ['found', 'random_1', 'random_2']
    found = Genotype.load(str(out / 'genotypes' / 'found.json'))
    assert found.search['iteration'] == 2  # the search ran with total_iter = --search-iters
    # its val_freq was lowered to 2 // 3 -> 1 so that it validates at iterations 1 and 2 (and once more at 2)
    log = ''.join(p.read_text() for p in in_tmp.glob('experiments/search_vs_random_*_found/train_*.log'))
    assert 'Convergence at iter 1: alpha_max_mean' in log and 'Convergence at iter 2: alpha_max_mean' in log
    assert log.count('Search convergence: only 2 validation(s)') == 1
    for name, e in entries.items():
        assert set(e) == ENTRY_KEYS, name
        assert len(e['psnr']) == len(e['ssim']) == 1 and e['train_iterations'] == [2]
        assert 20 < e['psnr'][0] < 50 and 0 < e['ssim'][0] <= 1
        genotype = Genotype.from_dict(e['genotype'])
        assert (genotype.num_layers, genotype.num_nodes, genotype.width_factors) == (
            found.num_layers, found.num_nodes, found.width_factors)
        root = out / 'train' / f'{name}_seed0'
        net = load_network(str(root / f'{name}_seed0.yml'), str(root / 'models' / 'net_g_latest.pth'),
                           torch.device('cpu'))
        assert e['params'] == count_params(net)
        assert e['flops'] == count_flops(net, torch.rand(*(int(v) for v in e['flops_input'].split('x'))))
    assert entries['random_1']['genotype'] != entries['random_2']['genotype']
    table = (out / 'table.md').read_text()
    for label in ('| found |', 'random (mean +- std over 2 nets)', 'best random', 'worst random', '| bicubic |',
                  'rank among randoms within +-25% of its FLOPs'):
        assert label in table
    assert (out / 'psnr_vs_flops.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert table in capsys.readouterr().out

    # a rerun retrains nothing: every checkpoint keeps its time and the search is not run again
    checkpoints = sorted((out / 'train').glob('*/models/net_g_latest.pth'))
    stamps = [os.stat(p).st_mtime_ns for p in checkpoints]
    searches = sorted(os.listdir(in_tmp / 'experiments'))
    assert hinas_main(argv('out', '--search-opt', 'options/demo/search_sr_x2.yml')) == 0
    assert 'Resuming: 3 of 3 genotypes already scored' in capsys.readouterr().out
    assert [os.stat(p).st_mtime_ns for p in checkpoints] == stamps
    assert sorted(os.listdir(in_tmp / 'experiments')) == searches
    assert json.loads((out / 'results.json').read_text())['genotypes'] == entries


def test_resume_after_an_interrupted_run_trains_only_the_rest(in_tmp, capsys):
    genotype = 'options/demo/genotype_example_sr_x2.json'
    assert hinas_main(argv('out', '--genotype', genotype)) == 0
    out = in_tmp / 'out'
    results = json.loads((out / 'results.json').read_text())
    assert Genotype.from_dict(results['genotypes']['found']['genotype']) == Genotype.load(genotype)
    # forget random_2, as if the run had stopped after random_1
    del results['genotypes']['random_2']
    (out / 'results.json').write_text(json.dumps(results))
    kept = os.stat(out / 'train' / 'random_1_seed0' / 'models' / 'net_g_latest.pth').st_mtime_ns
    assert hinas_main(argv('out', '--genotype', genotype)) == 0
    assert 'Resuming: 2 of 3 genotypes already scored' in capsys.readouterr().out
    assert os.stat(out / 'train' / 'random_1_seed0' / 'models' / 'net_g_latest.pth').st_mtime_ns == kept
    assert list(json.loads((out / 'results.json').read_text())['genotypes']) == ['found', 'random_1', 'random_2']


@pytest.mark.parametrize('extra,message', [
    (['--genotype', 'options/demo/genotype_example_sr_x2.json', '--ablations'], '--ablations: needs --search-opt'),
    (['--genotype', 'missing.json'], 'missing.json'),
    (['--search-opt', 'options/demo/search_denoise.yml'], '--search-opt:'),
    (['--genotype', 'options/demo/genotype_example_sr_x2.json', '--seeds', '0'], '--seeds: expected an integer >= 1'),
])
def test_bad_arguments_one_line_exit_2_nothing_written(in_tmp, capsys, extra, message):
    assert hinas_main(argv('out', *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (in_tmp / 'out').exists() and not (in_tmp / 'datasets').exists()


def test_rerun_with_other_settings_is_refused(in_tmp, capsys):
    (in_tmp / 'out').mkdir()
    (in_tmp / 'out' / 'results.json').write_text(json.dumps({'settings': {'random': 5}, 'genotypes': {}}))
    assert hinas_main(argv('out', '--genotype', 'options/demo/genotype_example_sr_x2.json')) == 2
    assert 'holds a run with other settings' in capsys.readouterr().err
    assert os.listdir(in_tmp / 'out') == ['results.json']


def test_ablations_may_be_added_to_a_finished_run_but_not_removed(tmp_path):
    from hinas_basicsr.search_vs_random import Settings, check_settings

    common = dict(task='sr', scale=2, search_opt='options/demo/search_sr_x2.yml', genotype=None, random=2, seeds=1,
                  search_iters=4, train_iters=2, out=str(tmp_path), device='cpu')
    for before, after, refused in ((False, True, False), (True, False, True), (False, False, False)):
        old = Settings(**common, ablations=before)
        (tmp_path / 'results.json').write_text(json.dumps({'settings': old.as_dict(), 'genotypes': {}}))
        if refused:
            with pytest.raises(ValueError, match='ablations: True there, False now'):
                check_settings(Settings(**common, ablations=after))
        else:
            assert check_settings(Settings(**common, ablations=after)) is None


def test_ranks_and_table_of_hand_made_results():
    assert rank_among(30.0, [29.0, 31.0, 30.0]) == (2, 4)
    entry = {'params': 10, 'flops_input': '1x3x128x128', 'ssim': [0.9], 'genotype': {}}
    results = {'settings': {'task': 'sr', 'scale': 2, 'search_iters': 5, 'train_iters': 5, 'seeds': 1},
               'baseline': None, 'genotypes': {
                   'found': {**entry, 'psnr': [30.0], 'flops': 100},
                   'random_1': {**entry, 'psnr': [31.0], 'flops': 200},   # better, but not FLOPs-matched
                   'random_2': {**entry, 'psnr': [29.0], 'flops': 110},
                   'random_3': {**entry, 'psnr': [30.5], 'flops': 80}}}
    table = markdown_table(results)
    assert '| found | 3 of 4 | 2 of 3 |' in table
    assert '| random (mean +- std over 3 nets) | 30.167 +- 1.041 |' in table
    assert '| best random (random_1) | 31.000 |' in table and '| worst random (random_2) | 29.000 |' in table
