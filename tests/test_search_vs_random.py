"""hinas search-vs-random end to end on the sample data: K=2 random, 1 seed, a 2-iteration search, 2 training steps."""
import argparse
import json
import os
import subprocess

import cv2
import numpy as np
import pytest
import torch
import yaml

from hinas_basicsr.cli import hinas_main
from hinas_basicsr.commands import search_vs_random as search_vs_random_command
from hinas_basicsr.research.search_vs_random import Settings, markdown_table, rank_among
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.tools.compare import count_flops, count_params, load_network

ENTRY_KEYS = {'kind', 'genotype', 'params', 'flops', 'flops_input', 'psnr', 'ssim', 'psnr_half', 'sets',
              'train_iterations', 'train_seconds', 'wall_seconds', 'commits', 'search_iterations'}


def argv(out, *extra):
    """The tiny benchmark; no band randoms unless a test asks (``--band-min`` given twice: the last counts)."""
    return ['search-vs-random', '--task', 'sr', '--scale', '2', '--random', '2', '--seeds', '1',
            '--search-iters', '2', '--train-iters', '2', '--out', out, '--device', 'cpu', '--band-min', '0', *extra]


def git_head(repo):
    """The checkout's commit and whether its tracked files changed, asked of git here."""
    def git(*args):
        return subprocess.run(['git', '-C', str(repo), *args], capture_output=True, text=True, check=True).stdout
    return {'commit': git('rev-parse', 'HEAD').strip(), 'dirty': git('status', '--porcelain', '-uno') != ''}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch, repo):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'options').symlink_to(repo / 'options')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_search_then_randoms_end_to_end_rerun_skips_and_a_remedy_adds_only_its_search(in_tmp, capsys, repo):
    assert hinas_main(argv('out', '--search-opt', 'options/demo/search_sr_x2.yml')) == 0
    out = in_tmp / 'out'
    results = json.loads((out / 'results.json').read_text())
    # the settings record the command line (every option but --out, as given or by its default): the rule, not a copy
    parser = argparse.ArgumentParser()
    search_vs_random_command.add_arguments(parser)
    args = vars(parser.parse_args(argv('out', '--search-opt', 'options/demo/search_sr_x2.yml')[1:]))
    assert set(results['settings']) == set(Settings.__dataclass_fields__) - {'out'}
    flag = {'extras': 'extra', 'remedies': 'remedy', 'tests': 'test'}  # the settings' plural of a repeatable flag
    assert results['settings'] == {k: dict(args[flag[k]]) if k == 'extras' else args[flag.get(k, k)]
                                   for k in results['settings']}
    assert results['settings']['search_iters'] == 2 and results['settings']['band_min'] == 0
    entries = results['genotypes']
    assert list(entries) == ['found', 'random_1', 'random_2']
    found = Genotype.load(str(out / 'genotypes' / 'found.json'))
    assert found.search['iteration'] == 2  # the search ran with total_iter = --search-iters
    # its val_freq was lowered to 2 // 3 -> 1 so that it validates at iterations 1 and 2 (and once more at 2)
    log = ''.join(p.read_text() for p in in_tmp.glob('experiments/search_vs_random_*_found/train_*.log'))
    assert 'Convergence at iter 1: alpha_max_mean' in log and 'Convergence at iter 2: alpha_max_mean' in log
    assert log.count('Search convergence: only 2 validation(s)') == 1
    # the search's schedule: total_iter = --search-iters, the warm-up round(0.2 x 2) = 0, best.json's iteration
    assert entries['found']['search_iterations'] == {'total_iter': 2, 'arch_warmup_iter': 0,
                                                     'selected_at': found.search['iteration']}
    assert entries['random_1']['search_iterations'] is None and entries['random_2']['search_iterations'] is None
    head = git_head(repo)
    for name, e in entries.items():
        assert set(e) == ENTRY_KEYS, name
        assert len(e['psnr']) == len(e['ssim']) == 1 and e['train_iterations'] == [2]
        assert e['commits'] == [head], name  # every seed: the commit of the code that trained it
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

    # a remedy added to the finished run: its search and its net only
    first = argv('out', '--search-opt', 'options/demo/search_sr_x2.yml')
    assert hinas_main([*first, '--remedy', 'arch_no_weight_decay']) == 0
    assert 'Resuming: 3 of 4 genotypes already scored' in capsys.readouterr().out
    assert [os.stat(p).st_mtime_ns for p in checkpoints] == stamps  # found and the randoms were not trained again
    assert len(set(os.listdir(in_tmp / 'experiments')) - set(searches)) == 1  # the remedy's search only
    base, opt = (yaml.safe_load((out / 'options' / f'search_{name}.yml').read_text())
                 for name in ('found', 'arch_no_weight_decay'))
    # the remedy's search is the found one but for its name and its architecture optimizer's weight decay
    assert {k for k in opt if opt[k] != base[k]} == {'name', 'train'}
    assert {k for k in opt['train'] if opt['train'][k] != base['train'][k]} == {'optim_arch'}
    assert base['train']['optim_arch']['weight_decay'] > 0
    assert opt['train']['optim_arch'] == {**base['train']['optim_arch'], 'weight_decay': 0}
    results = json.loads((out / 'results.json').read_text())
    assert list(results['genotypes']) == ['found', 'arch_no_weight_decay', 'random_1', 'random_2']
    assert results['genotypes']['arch_no_weight_decay']['kind'] == 'search'
    assert results['settings']['remedies'] == ['arch_no_weight_decay']
    assert set(results['summary']['modes']) == {'found', 'arch_no_weight_decay'}
    # the remedy cannot be dropped again
    assert hinas_main(first) == 2
    assert 'holds a run with other settings (remedies' in capsys.readouterr().err


@pytest.mark.slow
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


@pytest.mark.slow
def test_extra_genotype_added_to_a_finished_run_trains_only_it_as_the_others(in_tmp, capsys):
    genotype = 'options/demo/genotype_example_sr_x2.json'
    one = ['--genotype', genotype, '--random', '1']
    assert hinas_main(argv('out', *one)) == 0
    out = in_tmp / 'out'
    kept = os.stat(out / 'train' / 'random_1_seed0' / 'models' / 'net_g_latest.pth').st_mtime_ns
    (in_tmp / 'picked.json').write_bytes((out / 'genotypes' / 'random_1.json').read_bytes())
    capsys.readouterr()
    for bad, message in ((['--extra', 'random_9=picked.json'], "--extra: 'random_9' is not a free name"),
                         (['--extra', 'picked.json'], '--extra: expected NAME=JSON'),
                         (['--extra', 'x=nothing.json'], '--extra x: nothing.json does not exist')):
        assert hinas_main(argv('out', *one, *bad)) == 2
        assert message in capsys.readouterr().err
    assert hinas_main(argv('out', *one, '--extra', 'picked=picked.json')) == 0
    assert 'Resuming: 2 of 3 genotypes already scored' in capsys.readouterr().out
    assert os.stat(out / 'train' / 'random_1_seed0' / 'models' / 'net_g_latest.pth').st_mtime_ns == kept
    results = json.loads((out / 'results.json').read_text())
    assert list(results['genotypes']) == ['found', 'picked', 'random_1']
    assert results['settings']['extras'] == {'picked': 'picked.json'}
    picked, random_1 = results['genotypes']['picked'], results['genotypes']['random_1']
    # the same genotype, seed and recipe as random_1: the same net, the same score
    assert picked['kind'] == 'search' and picked['flops'] == random_1['flops']
    assert picked['psnr'] == pytest.approx(random_1['psnr'], abs=1e-3)
    ranks = results['summary']['searched_vs_randoms']['nets']
    assert set(ranks) == {'found', 'picked'} and ranks['picked']['rank_equal_flops'] == [1, 2]
    assert '| picked |' in (out / 'table.md').read_text()
    # a rerun that drops the extra is refused
    assert hinas_main(argv('out', *one)) == 2
    assert 'holds a run with other settings (extras' in capsys.readouterr().err


@pytest.mark.parametrize('extra,message', [
    (['--genotype', 'options/demo/genotype_example_sr_x2.json', '--ablations'], '--ablations: needs --search-opt'),
    (['--genotype', 'missing.json'], 'missing.json'),
    (['--search-opt', 'options/demo/search_denoise.yml'], '--search-opt:'),
    (['--genotype', 'options/demo/genotype_example_sr_x2.json', '--seeds', '0'],
     '--seeds: expected an integer from 1 to 100 (each a training of every net), got 0'),
])
def test_bad_arguments_one_line_exit_2_nothing_written(in_tmp, capsys, extra, message):
    assert hinas_main(argv('out', *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (in_tmp / 'out').exists() and not (in_tmp / 'datasets').exists()


@pytest.mark.parametrize('option, value, message', [
    ('--random', '1000000', '--random: expected an integer from 1 to 1,000 (each a net trained and saved), '
                            'got 1000000'),
    ('--random', '1001', '--random: expected an integer from 1 to 1,000 (each a net trained and saved), got 1001'),
    ('--seeds', '101', '--seeds: expected an integer from 1 to 100 (each a training of every net), got 101'),
    ('--random-seeds', '101', '--random-seeds: expected an integer from 1 to 100 (each a training of every net), '
                              'got 101'),
    ('--search-seeds', '101', '--search-seeds: expected an integer from 1 to 100 (each a search run and saved), '
                              'got 101'),
    ('--search-iters', '10000001', '--search-iters: expected an integer from 1 to 10,000,000 (each a step of every '
                                   'run), got 10000001'),
    ('--train-iters', '10000001', '--train-iters: expected an integer from 1 to 10,000,000 (each a step of every '
                                  'run), got 10000001'),
    ('--cells', '1001', '--cells: expected an integer from 0 to 1,000 (each a net trained and saved), got 1001'),
    ('--band-min', '1001', '--band-min: expected an integer from 0 to 1,000 (up to as many nets trained for each '
                           'searched one), got 1001'),
    ('--jobs', '1025', '--jobs: expected an integer from 1 to 1,024 (each a process), got 1025'),
])
def test_counts_past_any_study_are_refused_before_anything_is_written(in_tmp, capsys, option, value, message):
    """A count that would fill the disk (nets, seeds, iterations) or the process table: one line with the bound."""
    assert hinas_main(argv('out', '--genotype', 'options/demo/genotype_example_sr_x2.json', option, value)) == 2
    assert capsys.readouterr().err == f'hinas: error: {message}\n'
    assert os.listdir(in_tmp) == ['options']


def test_counts_at_their_bounds_are_taken():
    from hinas_basicsr.research.search_vs_random import MAX_ITERS, MAX_JOBS, MAX_NETS, MAX_SEEDS, _counts
    from hinas_basicsr.utils.arg_checks import count

    s = Settings(task='sr', scale=2, search_opt=None, genotype='g.json', random=MAX_NETS, seeds=MAX_SEEDS,
                 search_iters=MAX_ITERS, train_iters=MAX_ITERS, out='o', device='cpu', ablations=False,
                 random_seeds=MAX_SEEDS, cells=MAX_NETS, jobs=MAX_JOBS, search_seeds=MAX_SEEDS, band_min=MAX_NETS)
    for option, value, least, most, what in _counts(s):
        assert value == most, option
        count(value, option, least, most, what)  # the bound itself is allowed


def test_widths_of_a_space_with_too_many_paths_are_refused(in_tmp, capsys, repo):
    """--widths trains every width path of the space: 40 layers of 3 widths have 1.7 x 10^15."""
    from hinas_basicsr.space.trellis import count_paths, valid_paths

    assert [count_paths(layers, 3) for layers in range(6)] == [len(valid_paths(layers, 3)) for layers in range(6)]
    assert count_paths(4, 1) == 1 and count_paths(3, 2) == len(valid_paths(3, 2)) == 8
    opt = yaml.safe_load((repo / 'options' / 'demo' / 'search_sr_x2.yml').read_text())
    opt['network_g']['num_layers'] = 40
    (in_tmp / 'deep.yml').write_text(yaml.safe_dump(opt))
    paths = count_paths(40, len(opt['network_g']['width_factors']))
    assert hinas_main(argv('out', '--search-opt', 'deep.yml', '--widths')) == 2
    assert capsys.readouterr().err == (f'hinas: error: --widths: 40 layers of 3 widths have {paths:,} width paths, '
                                       'more than the 1,000 nets a run may train (each trained and saved)\n')
    assert sorted(os.listdir(in_tmp)) == ['deep.yml', 'options']


def test_rerun_with_other_settings_is_refused(in_tmp, capsys):
    (in_tmp / 'out').mkdir()
    (in_tmp / 'out' / 'results.json').write_text(json.dumps({'settings': {'random': 5}, 'genotypes': {}}))
    assert hinas_main(argv('out', '--genotype', 'options/demo/genotype_example_sr_x2.json')) == 2
    assert 'holds a run with other settings' in capsys.readouterr().err
    assert os.listdir(in_tmp / 'out') == ['results.json']


def test_ablations_may_be_added_to_a_finished_run_but_not_removed(tmp_path):
    from hinas_basicsr.research.search_vs_random import Settings, check_settings

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


FIGURES = ('psnr', 'ssim', 'psnr_half', 'sets', 'params', 'flops', 'genotype', 'train_iterations')


@pytest.mark.slow
def test_jobs_2_gives_the_figures_of_jobs_1(in_tmp):
    genotype = 'options/demo/genotype_example_sr_x2.json'
    extra = ['--genotype', genotype, '--random', '1', '--cells', '1']
    runs = {}
    for jobs in (1, 2):
        args = argv(f'out{jobs}', *extra, '--jobs', str(jobs))
        args[args.index('--random') + 1] = '1'
        assert hinas_main(args) == 0
        runs[jobs] = json.loads((in_tmp / f'out{jobs}' / 'results.json').read_text())
    assert list(runs[1]['genotypes']) == list(runs[2]['genotypes']) == ['found', 'cells_1', 'random_1']
    for name, entry in runs[1]['genotypes'].items():
        assert len(entry['psnr_half']) == 1 and entry['train_iterations'] == [2]
        for key in FIGURES:
            assert runs[2]['genotypes'][name][key] == entry[key], (name, key)
    # cells_1: the example's widths with other cells
    found, cells = (Genotype.from_dict(runs[1]['genotypes'][n]['genotype']) for n in ('found', 'cells_1'))
    assert cells.widths == found.widths and cells.cells != found.cells
    assert runs[1]['baseline'] == runs[2]['baseline']


@pytest.mark.slow
def test_test_dir_adds_a_column_scored_on_matlab_bicubic_lr(in_tmp):
    from basicsr.metrics import calculate_psnr
    from basicsr.utils.matlab_functions import imresize
    from skimage import data

    folder = in_tmp / 'my photos'
    folder.mkdir()
    hr = {'cat': data.chelsea()[40:142, 60:190, ::-1], 'coins': np.repeat(data.coins()[:90, :120, None], 3, 2)}
    for name, img in hr.items():
        cv2.imwrite(str(folder / f'{name}.png'), np.ascontiguousarray(img))
    assert hinas_main(argv('out', '--genotype', 'options/demo/genotype_example_sr_x2.json', '--test',
                           str(folder))) == 0
    out = in_tmp / 'out'
    results = json.loads((out / 'results.json').read_text())
    for entry in results['genotypes'].values():
        assert list(entry['sets']) == ['SampleTest', 'my_photos']
        assert entry['psnr'] == entry['sets']['SampleTest']['psnr']
        assert entry['sets']['my_photos']['psnr'] != entry['psnr']
    # the new set's bicubic baseline, computed here: MATLAB bicubic down (of the mod-2 crop) and up again
    expected = []
    for img in hr.values():
        img = img[:img.shape[0] // 2 * 2, :img.shape[1] // 2 * 2]
        lr = np.clip(np.round(imresize(img.astype(np.float32) / 255., 0.5) * 255), 0, 255).astype(np.uint8)
        up = np.clip(imresize(lr.astype(np.float32) / 255., 2), 0, 1)
        up = np.round(up * 255.).astype(np.uint8)
        expected.append(calculate_psnr(up, img, 2, test_y_channel=True))
    assert results['baseline']['sets']['psnr']['my_photos'] == pytest.approx(np.mean(expected), abs=2e-3)
    table = (out / 'table.md').read_text()
    assert '| genotype | PSNR SampleTest | SSIM SampleTest | PSNR my_photos | SSIM my_photos | params | GFLOPs |' \
        in table
    found = results['genotypes']['found']
    assert f'| found | {found["psnr"][0]:.3f} | {found["ssim"][0]:.4f} | ' \
           f'{found["sets"]["my_photos"]["psnr"][0]:.3f} | ' in table


def test_width_paths_pareto_front_and_summary_of_hand_made_results():
    from hinas_basicsr.research.search_vs_random import pareto_front, summary
    from hinas_basicsr.space.trellis import valid_paths as width_paths

    assert width_paths(2, 3) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert len(width_paths(3, 3)) == 2 + 3 + 2 + 3 + 2  # the 5 two-layer paths, each extended by its moves
    assert pareto_front([(1, 30), (2, 29), (2, 31), (3, 30.5), (4, 32)]) == [(1, 30), (2, 31), (4, 32)]
    entry = {'params': 10, 'flops_input': '1x3x128x128', 'ssim': [0.9], 'flops': 100}
    results = {'settings': {}, 'genotypes': {
        'found': {**entry, 'psnr': [30.0, 30.2], 'psnr_half': [29.0], 'genotype': {'widths': [0, 1]}},
        'widths_0-0': {**entry, 'psnr': [30.5], 'psnr_half': [29.5], 'genotype': {'widths': [0, 0]}},
        'widths_1-2': {**entry, 'psnr': [29.5], 'psnr_half': [28.0], 'genotype': {'widths': [1, 2]}},
        'cells_1': {**entry, 'psnr': [29.9], 'psnr_half': [29.2], 'genotype': {'widths': [0, 1]}},
        'random_1': {**entry, 'psnr': [31.0], 'psnr_half': [28.5], 'genotype': {}},
        'random_2': {**entry, 'psnr': [29.0], 'psnr_half': [28.9], 'genotype': {}}}}
    figures = summary(results)
    assert figures['widths'] == {'searched_path': 'widths_0-1', 'rank': [2, 3], 'seeds': 1,
                                 'psnr_mean': {'widths_0-0': 30.5, 'widths_0-1': 30.0, 'widths_1-2': 29.5}}
    assert figures['cells']['rank'] == [1, 2]
    assert figures['found_rank_among_randoms'] == [2, 3]
    assert figures['seed_spread_db'] == pytest.approx(0.1414, abs=1e-4)
    assert figures['random_spread_db'] == pytest.approx(1.4142, abs=1e-4)
    # half 29.0 29.5 28.0 29.2 28.5 28.9 vs full 30.0 30.5 29.5 29.9 31.0 29.0: 9 concordant, 6 discordant pairs
    assert figures['tau_nets'] == 6 and figures['tau_half_vs_full'] == pytest.approx(3 / 15)
    # with a second seed for every decomposition net, it compares the means of seeds 0 and 1
    for name, second in (('widths_0-0', 29.1), ('widths_1-2', 29.7), ('cells_1', 30.0)):
        results['genotypes'][name]['psnr'].append(second)
    figures = summary(results)
    assert figures['widths']['seeds'] == figures['cells']['seeds'] == 2
    assert figures['widths']['psnr_mean'] == pytest.approx({'widths_0-0': 29.8, 'widths_0-1': 30.1,
                                                            'widths_1-2': 29.6})
    assert figures['widths']['rank'] == [1, 3] and figures['cells']['rank'] == [1, 2]
    assert figures['cells']['found_psnr_mean'] == pytest.approx(30.1)
    settings = {'task': 'sr', 'scale': 2, 'search_iters': 5, 'train_iters': 5, 'seeds': 2}
    table = markdown_table({**results, 'settings': settings, 'baseline': None, 'summary': figures})
    assert 'Decomposition (mean of seeds 0..1 of each net' in table and '| widths_0-0 | found | 0-0 | 29.800 |' in table


def test_data_photos_goes_into_the_search_options_and_every_training(tmp_path):
    from hinas_basicsr.research.search_vs_random import Settings, search_options, test_options, training_options

    s = Settings(task='sr', scale=2, search_opt='options/demo/search_sr_x2.yml', genotype=None, random=2, seeds=1,
                 search_iters=4, train_iters=2, out=str(tmp_path), device='cpu', ablations=False, data='photos')
    search = search_options(s, 'found', {})
    assert 'sample_data' not in search
    for key in ('train', 'val'):
        inner = search['datasets'][key]['dataset']
        assert inner['dataroot_gt'] == 'datasets/photos/DIV2K_train_HR_sub.lmdb'
        assert inner['dataroot_lq'] == 'datasets/photos/DIV2K_train_LR_bicubic_X2_sub.lmdb'
    s3 = Settings(**{**s.__dict__, 'search_opt': 'options/search_sr_x4.yml', 'scale': 3})
    whole = search_options(s3, 'found', {})['datasets']['train']['dataset']
    assert (whole['dataroot_gt'], whole['dataroot_lq']) == ('datasets/photos/DIV2K_train_HR.lmdb',
                                                            'datasets/photos/DIV2K_train_LR_bicubic_X3.lmdb')
    train = training_options(s, 'random_1_seed0', 'g.json', 0)
    assert 'sample_data' not in train
    assert train['datasets']['train']['dataset']['dataroot_lq'] == 'datasets/photos/DIV2K_train_LR_bicubic_X2_sub.lmdb'
    assert train['datasets']['train']['batch_size_per_gpu'] == 8
    assert train['datasets']['train']['dataset']['gt_size'] == 64
    test = test_options(s)['datasets']['test_00']
    assert test['dataroot_gt'] == 'datasets/photos/benchmark/PhotosTestCrop/GTmod2'


def test_search_seeds_run_every_search_again_with_the_next_manual_seed(tmp_path):
    from hinas_basicsr.research.remedies import REMEDIES
    from hinas_basicsr.research.search_vs_random import Settings, check_settings, search_options

    common = dict(task='sr', scale=2, search_opt='options/demo/search_sr_x2.yml', genotype=None, random=2, seeds=1,
                  search_iters=4, train_iters=2, out=str(tmp_path), device='cpu', ablations=False,
                  remedies=('arch_no_weight_decay',))
    s = Settings(**common, search_seeds=2)
    remedy = REMEDIES['arch_no_weight_decay']
    assert s.searches() == {'found': ({}, 0), 'found_search2': ({}, 1), 'arch_no_weight_decay': (remedy, 0),
                            'arch_no_weight_decay_search2': (remedy, 1)}
    base, second = search_options(s, 'found', {}), search_options(s, 'found_search2', {}, 1)
    assert second['manual_seed'] == base['manual_seed'] + 1
    assert {k for k in second if second[k] != base[k]} == {'name', 'manual_seed'}
    # raised on a finished run: accepted; lowered: refused; a name it takes is not free for --extra
    (tmp_path / 'results.json').write_text(json.dumps({'settings': Settings(**common).as_dict(), 'genotypes': {}}))
    assert check_settings(s) is None
    (tmp_path / 'results.json').write_text(json.dumps({'settings': s.as_dict(), 'genotypes': {}}))
    with pytest.raises(ValueError, match='search_seeds: 2 there, 1 now'):
        check_settings(Settings(**common))
    with pytest.raises(ValueError, match="--extra: 'found_search2' is not a free name"):
        check_settings(Settings(**common, search_seeds=2,
                                extras=(('found_search2', 'options/demo/genotype_example_sr_x2.json'),)))


@pytest.mark.slow
def test_random_seeds_raised_on_a_finished_run_train_only_the_new_seed(in_tmp, capsys):
    first = argv('out', '--genotype', 'options/demo/genotype_example_sr_x2.json', '--random', '1')
    assert hinas_main(first) == 0
    out = in_tmp / 'out'
    before = json.loads((out / 'results.json').read_text())['genotypes']
    seed0 = out / 'train' / 'random_1_seed0' / 'models' / 'net_g_latest.pth'
    kept = os.stat(seed0).st_mtime_ns
    assert hinas_main([*first, '--random-seeds', '2']) == 0
    assert 'Resuming: 1 of 2 genotypes already scored, skipped; 1 get more seeds (random_1).' in capsys.readouterr().out
    assert os.stat(seed0).st_mtime_ns == kept
    after = json.loads((out / 'results.json').read_text())['genotypes']
    assert after['found'] == before['found']  # --seeds did not change: found is not touched
    random_1 = after['random_1']
    assert len(random_1['psnr']) == len(random_1['psnr_half']) == 2 and random_1['train_iterations'] == [2, 2]
    # seed 0 is scored again from its checkpoint: the same figures
    assert random_1['psnr'][0] == pytest.approx(before['random_1']['psnr'][0], abs=1e-6)
    assert random_1['train_seconds'][0] == before['random_1']['train_seconds'][0]
    assert (out / 'train' / 'random_1_seed1' / 'models' / 'net_g_latest.pth').is_file()
    assert hinas_main([*first, '--random-seeds', '1']) == 2  # lowered: refused
    assert 'holds a run with other settings (random_seeds' in capsys.readouterr().err


def test_remedy_specs_and_bad_ones_refused_in_one_line(in_tmp, capsys):
    from hinas_basicsr.research.remedies import REMEDIES, apply_overrides, flops_target_overrides
    from hinas_basicsr.research.search_vs_random import remedy_overrides

    assert remedy_overrides('perturbation+flops_target=8.2') == apply_overrides(REMEDIES['perturbation'],
                                                                                flops_target_overrides(8.2))
    assert remedy_overrides('flops_target')['train']['flops_opt'] == REMEDIES['flops_target']['train']['flops_opt']
    assert remedy_overrides('flops_target=8.2')['train']['flops_opt'] == {'type': 'target', 'gflops': 8.2,
                                                                          'input': [128, 128], 'num_feat': 16,
                                                                          'weight': 0.1}
    assert remedy_overrides('decoder_head') == {'network_g': {'search_head': 'decoder'}}
    search = ['--search-opt', 'options/demo/search_sr_x2.yml']
    for spec, message in (('nothing', "--remedy nothing: 'nothing' is not a remedy"),
                          ('flops_target=-1', '--remedy flops_target=-1: flops_target=-1 is not a positive'),
                          ('flops_target=nan', 'flops_target=nan is not a positive'),
                          ('perturbation=2', "'perturbation=2' is not a remedy")):
        assert hinas_main(argv('out', *search, '--remedy', spec)) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    for extra, message in ((['--remedy', 'decoder_head', '--remedy', 'decoder_head'], '--remedy: each remedy once'),
                           (['--search-seeds', '0'], '--search-seeds: expected an integer from 1 to 100')):
        assert hinas_main(argv('out', *search, *extra)) == 2
        assert message in capsys.readouterr().err
    genotype = ['--genotype', 'options/demo/genotype_example_sr_x2.json']
    assert hinas_main(argv('out', *genotype, '--remedy', 'decoder_head')) == 2
    assert '--remedy: needs --search-opt' in capsys.readouterr().err
    assert not (in_tmp / 'out').exists()


def test_search_modes_beat_chance_only_if_every_search_beats_the_median_and_the_interval_is_above_0():
    from hinas_basicsr.research.search_vs_random import mode_of, search_modes
    from hinas_basicsr.research.stats import margin_interval

    assert [mode_of(n) for n in ('found', 'found_search2', 'decoder_head_search12', 'a_search2x')] == [
        'found', 'found', 'decoder_head', 'a_search2x']
    tight = [[30.0, 30.0], [29.98, 30.02], [30.01, 29.99]]  # median of the means 30.0
    wide = [[29.0, 31.0], [29.5, 30.5], [28.8, 31.2]]  # median 30.0 too, seeds far apart
    samples = {'found': ([30.1, 30.1], tight), 'found_search2': ([30.2, 30.2], tight),
               'x': ([30.1, 30.1], tight), 'x_search2': ([29.9, 29.9], tight),
               'lone': ([31.0, 31.0], tight),
               'costly': ([31.0, 31.0], tight), 'costly_search2': ([31.0, 31.0], []),
               'noisy': ([30.1, 30.1], wide), 'noisy_search2': ([30.2, 30.2], wide)}

    def rank(name):
        seeds, band = samples[name]
        return {'psnr_mean': float(np.mean(seeds)),
                'median_equal_flops_db': float(np.median([np.mean(r) for r in band])) if band else None}

    modes = search_modes({n: rank(n) for n in samples}, samples)
    assert {m: v['beats_chance'] for m, v in modes.items()} == {'found': True, 'x': False, 'lone': False,
                                                                 'costly': False, 'noisy': False}
    assert modes['x']['beats_median_equal_flops'] == [True, False]
    assert modes['costly']['beats_median_equal_flops'] == [True, False]  # no random at its cost: not compared
    assert modes['costly']['margin_db'] is None and modes['costly']['interval90_db'] is None
    # found: margins 0.1 and 0.2 over tight randoms, the interval above 0; noisy: both searches beat the median,
    # but resampling its randoms' seeds moves the median by more than the margin: the interval holds 0
    assert modes['found']['margin_db'] == pytest.approx(0.15) and modes['found']['interval90_db'][0] > 0
    assert modes['noisy']['beats_median_equal_flops'] == [True, True]
    low, high = modes['noisy']['interval90_db']
    assert low < 0 < high
    margin, interval = margin_interval([samples['noisy'], samples['noisy_search2']])
    assert modes['noisy']['margin_db'] == round(margin, 4) and modes['noisy']['interval90_db'] == [
        round(v, 4) for v in interval]


@pytest.mark.slow
def test_rerun_of_a_finished_run_with_widths_at_jobs_2_trains_nothing(in_tmp, capsys):
    # the searched width path is the found net itself: nothing to train, and nothing left to wait for
    args = argv('out', '--genotype', 'options/demo/genotype_example_sr_x2.json', '--random', '1', '--widths',
                '--jobs', '2')
    assert hinas_main(args) == 0
    out = in_tmp / 'out'
    entries = json.loads((out / 'results.json').read_text())['genotypes']
    found = Genotype.load('options/demo/genotype_example_sr_x2.json')
    assert sorted(entries) == sorted(['found', 'random_1'] + [f'widths_{a}-{b}' for a, b in
                                                              [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
                                                              if (a, b) != tuple(found.widths)])
    stamps = {p: os.stat(p).st_mtime_ns for p in (out / 'train').glob('*/models/net_g_latest.pth')}
    capsys.readouterr()
    assert hinas_main(args) == 0
    assert f'Resuming: {len(entries)} of {len(entries)} genotypes already scored' in capsys.readouterr().out
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps


def test_full_schedule_photo_search_options_run_the_reference_schedule(tmp_path, repo):
    """options/search_sr_x2_photos_full.yml: 1,500 iterations, 300 of warm-up, 15 an epoch, kept by --search-iters."""
    from hinas_basicsr.data.hinas_split_dataset import split_indices
    from hinas_basicsr.research.search_vs_random import Settings, search_options

    path = repo / 'options' / 'search_sr_x2_photos_full.yml'
    opt = yaml.safe_load(path.read_text())
    train, data = opt['train'], opt['datasets']['train']
    manifest = json.loads((repo / 'datasets_prep' / 'photos_manifest.json').read_text())
    photos = [p['name'] for p in manifest['photos'] if p['split'] == 'train']
    assert len(photos) == 17
    # the W split as HiNASSplitDataset makes it from the whole-image LMDB (one key per photo)
    w = split_indices(photos, data['val_ratio'], data['split_seed'])['w']
    assert len(w) == 8
    per_epoch = len(w) * data['dataset_enlarge_ratio'] // data['batch_size_per_gpu']
    assert per_epoch == 15  # the reference's epoch (options/search_sr_x4.yml: 15 iterations at batch 24)
    assert train['total_iter'] == 1500 == train['scheduler']['epochs'] * per_epoch
    assert round(train['arch_warmup_ratio'] * train['total_iter']) == 300 == 0.2 * train['total_iter']
    assert train['scheduler']['period'] == 20 and opt['val']['val_freq'] * 3 <= train['total_iter']
    # only the schedule differs from the 200-iteration photo search, and the photos are decoded once (the same
    # numbers: benchmarks/decoded_once.py)
    short = yaml.safe_load((repo / 'options' / 'search_sr_x2_photos.yml').read_text())
    assert {k for k in opt if opt[k] != short[k]} == {'name', 'datasets', 'train', 'val', 'logger'}
    assert {k for k in train if train[k] != short['train'][k]} == {'total_iter'}
    assert {k for k in data if data.get(k) != short['datasets']['train'].get(k)} == {'dataset_enlarge_ratio',
                                                                                      'load_all'}
    assert data['load_all'] is True and opt['datasets']['val']['load_all'] is True
    # a benchmark run with --search-iters 1500 executes the file's schedule
    s = Settings(task='sr', scale=2, search_opt=str(path), genotype=None, random=8, seeds=2, search_iters=1500,
                 train_iters=300, out=str(tmp_path), device='cpu', ablations=False, data='photos')
    ran = search_options(s, 'found', {})
    assert ran['train'] == train and ran['val']['val_freq'] == opt['val']['val_freq']
    assert ran['datasets']['train']['dataset_enlarge_ratio'] == 15
    assert ran['datasets']['train']['dataset']['dataroot_gt'] == 'datasets/photos/DIV2K_train_HR.lmdb'


def test_summary_and_table_keep_band_randoms_to_equal_flops_and_give_each_mode_its_interval():
    from hinas_basicsr.research.search_vs_random import summary
    from hinas_basicsr.research.stats import margin_interval

    entry = {'params': 10, 'flops_input': '1x3x128x128', 'ssim': [0.9, 0.9], 'genotype': {}}
    results = {'settings': {'task': 'sr', 'scale': 2, 'search_iters': 5, 'train_iters': 5, 'seeds': 2,
                            'random_seeds': 2, 'search_opt': 'x.yml'}, 'baseline': None, 'genotypes': {
        'found': {**entry, 'psnr': [30.3, 30.5], 'flops': 100},
        'found_search2': {**entry, 'psnr': [30.2, 30.4], 'flops': 150},
        'random_1': {**entry, 'psnr': [30.0, 30.2], 'flops': 105},
        'random_2': {**entry, 'psnr': [29.0, 29.4], 'flops': 200},
        'random_3': {**entry, 'psnr': [31.0, 31.2], 'flops': 151},
        'random_band_found_1': {**entry, 'psnr': [29.9, 30.1], 'flops': 95},
        'random_band_found_search2_1': {**entry, 'psnr': [29.6, 29.8], 'flops': 140}}}
    figures = summary(results)
    # the spread and the overall ranks: the 3 uniform randoms only (means 30.1, 29.2, 31.1)
    assert figures['random_spread_db'] == pytest.approx(float(np.std([30.1, 29.2, 31.1], ddof=1)), abs=1e-4)
    nets = figures['searched_vs_randoms']['nets']
    assert nets['found']['rank'] == [2, 4] and nets['found_search2']['rank'] == [2, 4]
    # at equal FLOPs (+-10%) the band randoms count: found 100 -> random_1 (105), the band one (95)
    assert nets['found']['randoms_equal_flops'] == 2 and nets['found']['median_equal_flops_db'] == pytest.approx(30.05)
    assert nets['found_search2']['randoms_equal_flops'] == 2  # random_3 (151) and its band one (140)
    mode = figures['modes']['found']
    margin, interval = margin_interval([([30.3, 30.5], [[30.0, 30.2], [29.9, 30.1]]),
                                        ([30.2, 30.4], [[31.0, 31.2], [29.6, 29.8]])])
    assert mode['margin_db'] == round(margin, 4) and mode['interval90_db'] == [round(v, 4) for v in interval]
    assert mode['margin_db'] == pytest.approx(((30.4 - 30.05) + (30.3 - 30.4)) / 2)
    assert mode['beats_median_equal_flops'] == [True, False] and not mode['beats_chance']
    table = markdown_table({**results, 'summary': figures})
    assert '3 random genotypes (and 2 drawn within +-10% of a searched net\'s FLOPs' in table
    assert '| random (mean +- std over 3 nets) | 30.133 +- 0.950 |' in table
    assert '| band random (mean +- std over 2 nets) | 29.850 +- 0.212 |' in table
    assert '| worst random (random_2) |' in table
    assert (f'| found | 2 | yes, no | {mode["margin_db"]:+.3f} | [{mode["interval90_db"][0]:+.3f}, '
            f'{mode["interval90_db"][1]:+.3f}] | no |') in table


@pytest.mark.slow
def test_band_min_draws_randoms_inside_the_band_of_a_net_with_too_few(in_tmp, capsys):
    from hinas_basicsr.research.search_vs_random import EQUAL_FLOPS

    genotype = 'options/demo/genotype_example_sr_x2.json'
    assert hinas_main(argv('out', '--genotype', genotype, '--random', '1', '--band-min', '2')) == 0
    out = in_tmp / 'out'
    results = json.loads((out / 'results.json').read_text())
    entries = results['genotypes']
    found = entries['found']['flops']
    band = sorted(n for n in entries if n.startswith('random_band_found_'))
    assert band and band == results['band_randoms']['nets']
    assert band == [f'random_band_found_{k}' for k in range(1, len(band) + 1)]
    # the flops compare counted on the trained nets lie in the band; with random_1, 2 randoms are in it (no more drawn
    # than needed: without the last band random, fewer than 2)
    for name in band:
        assert abs(entries[name]['flops'] - found) <= EQUAL_FLOPS * found, name
        assert entries[name]['kind'] == 'random' and entries[name]['train_iterations'] == [2]
    inside = [n for n, e in entries.items() if n != 'found' and abs(e['flops'] - found) <= EQUAL_FLOPS * found]
    assert len(inside) == 2
    assert results['summary']['searched_vs_randoms']['nets']['found']['randoms_equal_flops'] == 2
    genotypes = {n: Genotype.load(str(out / 'genotypes' / f'{n}.json')) for n in band}
    assert len(set(genotypes.values())) == len(band)
    # a rerun draws the same band randoms and trains nothing
    capsys.readouterr()
    assert hinas_main(argv('out', '--genotype', genotype, '--random', '1', '--band-min', '2')) == 0
    assert 'Resuming: ' in capsys.readouterr().out
    assert {n: Genotype.load(str(out / 'genotypes' / f'{n}.json')) for n in band} == genotypes
    assert json.loads((out / 'results.json').read_text())['genotypes'] == entries


def test_band_that_cannot_be_filled_is_an_error_naming_it(in_tmp, monkeypatch):
    from hinas_basicsr.research import search_vs_random as svr

    monkeypatch.setattr(svr, 'BAND_TRIES', 3)
    s = svr.Settings(task='sr', scale=2, search_opt=None, genotype='options/demo/genotype_example_sr_x2.json',
                     random=1, seeds=1, search_iters=2, train_iters=2, out=str(in_tmp / 'out'), device='cpu',
                     ablations=False, band_min=50)
    bench = svr.Benchmark(s, svr.check_settings(s))
    with pytest.raises(ValueError, match=r"--band-min 50: \d random\(s\) within \+-10% of found's .* GFLOPs after 3 "
                                         r'draws from the space; lower --band-min'):
        bench.jobs()


@pytest.mark.slow
def test_only_retrains_a_net_of_a_finished_run_and_reports_a_changed_seed_or_genotype(in_tmp, capsys, repo):
    run = in_tmp / 'run'
    # --jobs 2, as the photo benchmark: the run and the reruns train in processes of their own with one thread
    assert hinas_main(argv('run', '--genotype', 'options/demo/genotype_example_sr_x2.json', '--random', '1',
                           '--jobs', '2')) == 0
    recorded = json.loads((run / 'results.json').read_text())['genotypes']
    capsys.readouterr()
    only = ['search-vs-random', '--from', 'run', '--only']
    assert hinas_main([*only, 'random_1', '--out', 'again']) == 0
    printed = capsys.readouterr().out
    head = git_head(repo)['commit'][:10]
    psnr = recorded['random_1']['psnr'][0]
    assert (f'random_1 seed 0 on SampleTest: recorded {psnr:.4f} dB, now {psnr:.4f} dB: match; commit recorded {head}'
            in printed)
    assert 'All match: 1 of 1 recorded PSNRs within 0.001 dB' in printed
    again = json.loads((in_tmp / 'again' / 'results.json').read_text())
    assert again['all_match'] is True and list(again['genotypes']) == ['random_1'] and again['threads'] == 1
    assert again['genotypes']['random_1']['psnr'] == pytest.approx(recorded['random_1']['psnr'], abs=1e-3)
    assert not (in_tmp / 'again' / 'train' / 'found_seed0').exists()  # only the net asked for
    # another seed in the run's option file: a mismatch, exit 1
    option = run / 'options' / 'random_1_seed0.yml'
    opt = yaml.safe_load(option.read_text())
    opt['manual_seed'] = 7
    option.write_text(yaml.safe_dump(opt))
    assert hinas_main([*only, 'random_1', '--out', 'seed7']) == 1
    printed = capsys.readouterr().out
    assert f'random_1 seed 0 on SampleTest: recorded {psnr:.4f} dB, now ' in printed and 'MISMATCH (' in printed
    assert json.loads((in_tmp / 'seed7' / 'results.json').read_text())['checks'][0]['match'] is False
    # another genotype in the run's genotype file: a mismatch
    (run / 'genotypes' / 'found.json').write_bytes((run / 'genotypes' / 'random_1.json').read_bytes())
    assert hinas_main([*only, 'found', '--out', 'other']) == 1
    assert 'found seed 0 on SampleTest: recorded ' in capsys.readouterr().out


@pytest.mark.parametrize('args,message', [
    (['--from', 'run', '--only', 'random_9', '--out', 'new'], "--only: 'random_9' is not a net of run"),
    (['--from', 'empty', '--only', 'found', '--out', 'new'], '--from: empty/results.json does not exist'),
    (['--from', 'run', '--only', 'found', '--out', 'run'], '--out: run is the run given to --from'),
    (['--from', 'run', '--only', 'found', '--out', './run/'], '--out: ./run/ is the run given to --from'),
    (['--from', 'run', '--only', ',', '--out', 'new'], '--only: expected NAME[,NAME...]'),
    (['--from', 'run', '--out', 'new'], '--from: needs --only'),
    (['--only', 'found', '--out', 'new'], '--only: needs --from RUN'),
    (['--from', 'run', '--only', 'found', '--out', 'new', '--task', 'sr'], '--task: --from takes the settings'),
    (['--from', 'run', '--only', 'found', '--out', 'new', '--jobs', '2'], '--jobs: --from takes the settings'),
    (['--out', 'new', '--scale', '2'], '--task: required'),
])
def test_bad_only_input_one_line_exit_2_nothing_written(in_tmp, capsys, args, message):
    from hinas_basicsr.research.search_vs_random import Settings

    (in_tmp / 'empty').mkdir()
    (in_tmp / 'run' / 'genotypes').mkdir(parents=True)
    s = Settings(task='sr', scale=2, search_opt=None, genotype='g.json', random=1, seeds=1, search_iters=2,
                 train_iters=2, out='run', device='cpu', ablations=False)
    (in_tmp / 'run' / 'results.json').write_text(json.dumps({'settings': s.as_dict(), 'genotypes': {'found': {}}}))
    (in_tmp / 'run' / 'genotypes' / 'found.json').write_text('{}')
    before = sorted(p.relative_to(in_tmp) for p in in_tmp.rglob('*'))
    assert hinas_main(['search-vs-random', *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.relative_to(in_tmp) for p in in_tmp.rglob('*')) == before


_RUN = Settings(task='sr', scale=2, search_opt=None, genotype='g.json', random=1, seeds=1, search_iters=2,
                train_iters=2, out='run', device='cpu', ablations=False).as_dict()


@pytest.mark.parametrize('results,message', [
    ('', 'run/results.json: not valid JSON (Expecting value: line 1 column 1 (char 0))'),
    ([1], 'run/results.json is not a search-vs-random results file (a mapping), got list'),
    ({'genotypes': None}, 'run/results.json: genotypes: expected a mapping, got None'),
    ({'settings': [], 'genotypes': {}}, 'run/results.json: settings: expected a mapping, got []'),
    ({'settings': {**_RUN, 'scale': 2.0}, 'genotypes': {}}, 'run/results.json: settings.scale: expected an integer, '
                                                             'got 2.0'),
    ({'settings': {**_RUN, 'tests': 'x'}, 'genotypes': {}}, "run/results.json: settings.tests: expected a list of "
                                                            "text, got 'x'"),
    ({'settings': {k: v for k, v in _RUN.items() if k != 'task'}, 'genotypes': {}},
     'run/results.json: settings.task: missing'),
    ({'settings': _RUN, 'genotypes': {'found': None}}, 'run/results.json: genotypes.found: expected a mapping, '
                                                       'got None'),
    ({'settings': _RUN, 'genotypes': {'found': {'psnr': []}}}, 'run/results.json: genotypes.found.psnr: expected a '
                                                               'PSNR per seed, got []'),
    ({'settings': _RUN, 'genotypes': {'found': {'psnr': [30.0], 'sets': {'Set5': {'psnr': []}}}}},
     "run/results.json: genotypes.found.sets.Set5: expected a PSNR per seed on each set, got {'psnr': []}"),
])
def test_a_broken_results_file_is_named_not_a_traceback(in_tmp, capsys, results, message):
    """--from RUN whose results.json is not what the benchmark writes: the file and what is wrong in it, never
    Python's words ('list' object has no attribute 'get') or a traceback; nothing written."""
    (in_tmp / 'run' / 'genotypes').mkdir(parents=True)
    (in_tmp / 'run' / 'genotypes' / 'found.json').write_text('{}')
    (in_tmp / 'run' / 'results.json').write_text(results if isinstance(results, str) else json.dumps(results))
    before = sorted(p.relative_to(in_tmp) for p in in_tmp.rglob('*'))
    assert hinas_main(['search-vs-random', '--from', 'run', '--only', 'found', '--out', 'new']) == 2
    assert capsys.readouterr().err == f'hinas: error: --from: {message}\n'
    assert sorted(p.relative_to(in_tmp) for p in in_tmp.rglob('*')) == before


def test_a_broken_results_file_in_out_is_named(in_tmp, capsys):
    (in_tmp / 'out').mkdir()
    (in_tmp / 'out' / 'results.json').write_text('{"settings": {"random": "5"}}')
    before = sorted(p.relative_to(in_tmp) for p in in_tmp.rglob('*'))
    assert hinas_main(argv('out', '--genotype', 'options/demo/genotype_example_sr_x2.json')) == 2
    assert capsys.readouterr().err == "hinas: error: --out: out/results.json: settings.random: expected an integer, " \
                                      "got '5'\n"
    assert sorted(p.relative_to(in_tmp) for p in in_tmp.rglob('*')) == before


def test_code_commit_is_the_checkouts_head_and_none_without_git(repo, monkeypatch):
    from hinas_basicsr.research.search_vs_random import code_commit

    assert code_commit() == git_head(repo)
    monkeypatch.setenv('PATH', '')  # no git to ask: not known
    assert code_commit() is None


def test_band_randoms_are_scheduled_once_the_last_search_is_done(in_tmp, monkeypatch):
    """The scheduling alone (--jobs 1): searches and trainings stand-ins, the band draws real."""
    from hinas_basicsr.research import search_vs_random as svr

    example = 'options/demo/genotype_example_sr_x2.json'
    order = []

    def search(option, threads=None, log=None):
        order.append(('search', os.path.basename(option)))
        return example

    def train(s, name, genotype_file, test_opt, seeds, previous=None, options=None):
        order.append(('train', name))
        flops = svr.genotype_flops(s, Genotype.load(genotype_file))
        return {'kind': svr.kind_of(name), 'psnr': [30.0] * seeds, 'flops': flops, 'wall_seconds': 0.0,
                'baseline': {'name': 'bicubic', 'psnr': {'SampleTest': 29.0}, 'ssim': {'SampleTest': 0.9}}}

    monkeypatch.setattr(svr, 'search_genotype', search)
    monkeypatch.setattr(svr, 'train_and_score', train)
    s = svr.Settings(task='sr', scale=2, search_opt='options/demo/search_sr_x2.yml', genotype=None, random=1,
                     seeds=1, search_iters=2, train_iters=2, out=str(in_tmp / 'out'), device='cpu', ablations=False,
                     search_seeds=2, band_min=2)
    bench = svr.Benchmark(s, svr.check_settings(s))
    jobs = bench.jobs()
    assert not any(svr.is_band(j.name) for j in jobs)  # no searched genotype yet: nothing to draw for
    bench.schedule(jobs, 'test.yml')
    searched = [n for kind, n in order if kind == 'search']
    assert searched == ['search_found.yml', 'search_found_search2.yml']
    band = [n for kind, n in order if kind == 'train' and svr.is_band(n)]
    # both searches found the example: the band randoms drawn for found fill found_search2's band too
    assert band and all(n.startswith('random_band_found_') for n in band)
    assert order.index(('train', band[0])) > order.index(('search', 'search_found_search2.yml'))
    entries = bench.results['genotypes']
    target = entries['found']['flops']
    assert sum(abs(e['flops'] - target) <= 0.1 * target for n, e in entries.items() if n.startswith('random')) == 2
    assert bench.results['band_randoms']['nets'] == band
    # a second schedule of the same run: the band randoms are among the first jobs, and already done
    assert [j.name for j in bench.jobs() if j.kind == 'train'] == []


def test_a_remedy_search_keeps_its_search_record_beside_the_genotype(in_tmp, monkeypatch):
    import random

    from hinas_basicsr.research import search_vs_random
    from hinas_basicsr.research.random_genotype import random_genotype
    from hinas_basicsr.search.record import save_record
    from hinas_basicsr.utils.options_file import load_yaml

    settings = search_vs_random.Settings(task='sr', scale=2, search_opt='options/demo/search_sr_x2.yml', genotype=None,
                                         random=1, seeds=1, search_iters=2, train_iters=2, out='out', device='cpu',
                                         ablations=False, remedies=('perturbation',))
    bench = search_vs_random.Benchmark(settings, None)
    genotype = random_genotype(random.Random(0), **bench.space)
    searched = []

    def search(option, threads=None, log=None):  # what a perturbation search leaves: best.json and its record
        opt = load_yaml(option)
        searched.append(opt['train']['selection_opt'])
        best = os.path.join('experiments', opt['name'], 'genotypes', 'best.json')
        genotype.save(best)
        save_record(best, {'path_psnr': {'0,0': 30.5}})
        return best

    monkeypatch.setattr(search_vs_random, 'search_genotype', search)
    target = bench.search('perturbation', search_vs_random.remedy_overrides('perturbation'))
    assert searched == [{'type': 'perturbation', 'val_crop': 64}]
    assert Genotype.load(target) == genotype
    record = json.loads((in_tmp / 'out' / 'genotypes' / 'perturbation.search.json').read_text())
    assert record['format'] == 'hinas-search-record' and record['path_psnr'] == {'0,0': 30.5}


@pytest.mark.parametrize('bicubic,drawn', [(39.38, False), (40.80, True)])
def test_plot_keeps_a_far_baseline_off_the_axis(tmp_path, monkeypatch, bicubic, drawn):
    """The photo run's nets lie 0.5 dB apart, bicubic 1.3 dB below them: drawn, its line squashed them into the top
    third of the plot. A baseline further below the points than they are apart is named in the legend instead."""
    from matplotlib.figure import Figure

    from hinas_basicsr.research.search_vs_random import plot_psnr_vs_flops

    figures = []
    monkeypatch.setattr(Figure, 'savefig', lambda fig, *args, **kwargs: figures.append(fig))
    net = {'flops_input': '1x3x128x128'}
    results = {'settings': {'task': 'sr', 'scale': 2, 'data': 'photos', 'search_opt': 's.yml', 'search_iters': 1500,
                            'train_iters': 1000},
               'genotypes': {'random_1': {**net, 'flops': 8.1e9, 'psnr': [40.80, 40.75]},
                             'random_2': {**net, 'flops': 8.4e9, 'psnr': [41.10, 41.12]},
                             'found': {**net, 'flops': 8.9e9, 'psnr': [40.64, 40.64]}},
               'baseline': {'name': 'bicubic', 'psnr': bicubic}}
    plot_psnr_vs_flops(results, str(tmp_path / 'p.png'))
    ax = figures[0].axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    low, high = ax.get_ylim()
    if drawn:
        assert 'bicubic' in labels and low < bicubic < high
    else:
        assert 'bicubic: 39.38 dB, below the axis' in labels and low > 40.5
