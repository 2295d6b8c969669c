"""benchmarks/denoise_photos.py: the gray-photo denoising table, end to end on a tiny gray set (the sample data's gray
patches for training, two 64x64 crops as the held-out photos), its resume, its refusals, its table and its plan."""
from __future__ import annotations

import json
import os
import statistics

import cv2
import denoise_photos
import pytest
import torch
import yaml
from basicsr.archs import build_network

from hinas_basicsr.research import denoise_photos as dp
from hinas_basicsr.tools.compare import count_flops
from hinas_basicsr.utils.options_file import load_yaml

pytestmark = pytest.mark.usefixtures('one_thread')
GENOTYPE = 'options/demo/genotype_example_denoise.json'
TINY = ['--latency-size', '32', '32', '--latency-runs', '1']


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    """Photos_train.lmdb: the sample data's gray BSD500 patches; Photos_test: two 64x64 gray crops."""
    from hinas_basicsr.tools.sample_data import ensure_sample_data

    root = tmp_path_factory.mktemp('gray')
    ensure_sample_data(str(root / 'sample'))
    data = root / 'tiny'
    (data / 'Photos_test').mkdir(parents=True)
    (data / 'Photos_train.lmdb').symlink_to(root / 'sample' / 'BSD500' / 'BSD500_train.lmdb')
    for name in ('camera', 'coffee'):
        image = cv2.imread(str(root / 'sample' / 'BSD500' / 'BSD500_test' / f'{name}.png'), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(data / 'Photos_test' / f'{name}.png'), image[100:164, 90:154])
    return data


@pytest.fixture
def in_tmp(tmp_path, monkeypatch, repo, tiny_data):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'options').symlink_to(repo / 'options')
    (tmp_path / 'tiny').symlink_to(tiny_data)
    return tmp_path


def tiny_search(path, total_iter: int = 2) -> str:
    """options/search_denoise_photos.yml, tiny: L=2, B=2, F=4, batch 2, crops 32, 2 iterations."""
    opt = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), '..', dp.SEARCH_OPT)))
    opt['network_g'].update(num_feat=4, num_layers=2, num_nodes=2)
    opt['datasets']['train'].update(batch_size_per_gpu=2, dataset_enlarge_ratio=1)
    opt['datasets']['train']['dataset']['gt_size'] = 32
    opt['train'].update(total_iter=total_iter, best_after_ratio=0)
    opt['val']['val_freq'] = total_iter
    opt['logger'].update(print_freq=1, save_checkpoint_freq=total_iter, use_tb_logger=False)
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return str(path)


def argv(out: str, *extra: str) -> list[str]:
    return ['--sigma', '50', '--iters', '2', '--seeds', '1', '--out', out, '--data', 'tiny', *TINY, *extra]


def listing(root) -> dict[str, int]:
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, files in os.walk(root)
            for f in files}


# ----------------------------------------------------------------------------- the option files
def test_the_three_nets_train_alike_and_keep_their_own_recipes(repo):
    files = {net: load_yaml(str(repo / option)) for net, option in dp.TRAIN_OPTS.items()}
    first = files['hinas']
    for net, opt in files.items():
        assert opt['datasets'] == first['datasets'], net  # the same photos, crops, batch, sigma and test photos
        assert opt['train']['total_iter'] == first['train']['total_iter'] == 1000, net
        assert opt['train']['scheduler'] == first['train']['scheduler'] == {
            'type': 'CosineAnnealingRestartLR', 'periods': [1000], 'restart_weights': [1], 'eta_min': 0}, net
        assert opt['manual_seed'] == 0 and opt['scale'] == 1, net
    train = first['datasets']['train']
    assert (train['batch_size_per_gpu'], train['gt_size'], train['sigma']) == (8, 48, [50])
    assert train['dataroot_gt'] == 'datasets/photos_gray/Photos_train.lmdb'
    # each keeps its published loss, and all but HiNAS their optimizer and lr: those of the BSD500 files. HiNAS's SGD at
    # lr 0.05 diverged on the photos from its second step: it trains with DnCNN's Adam 1e-3
    for net, bsd in (('hinas', 'hinas_denoise'), ('dncnn', 'dncnn'), ('ridnet', 'ridnet')):
        published = load_yaml(str(repo / 'options' / f'train_{bsd}_sigma50.yml'))
        assert files[net]['network_g'] == {**published['network_g'], **(
            {'genotype': 'experiments/search_denoise_photos/genotypes/best.json'} if net == 'hinas' else {})}
        optimizer = files['dncnn' if net == 'hinas' else net]['train']['optim_g']
        assert files[net]['train']['optim_g'] == (optimizer if net == 'hinas' else published['train']['optim_g'])
        assert files[net]['train']['pixel_opt'] == published['train']['pixel_opt']
        assert files[net]['model_type'] == published['model_type']
        test = load_yaml(str(repo / 'options' / f'test_{bsd}_photos_sigma50.yml'))
        assert test['datasets'] == load_yaml(str(repo / dp.TEST_OPT))['datasets']
        assert test['datasets']['test_1']['dataroot_gt'] == 'datasets/photos_gray/Photos_test'
        assert test['network_g'] == files[net]['network_g']


def test_the_photo_search_keeps_the_reference_schedule_shape(repo):
    photos = load_yaml(str(repo / dp.SEARCH_OPT))
    reference = load_yaml(str(repo / 'options' / 'search_denoise.yml'))
    assert photos['network_g'] == reference['network_g']
    assert photos['train']['scheduler'] == reference['train']['scheduler']  # 100 epochs, period 20, poly 0.9
    for key in ('optim_g', 'optim_arch', 'pixel_opt', 'arch_warmup_ratio', 'best_after_ratio'):
        assert photos['train'][key] == reference['train'][key], key
    train = photos['datasets']['train']
    assert (train['batch_size_per_gpu'], train['dataset']['gt_size']) == (6, 64)
    assert train['dataset']['sigma'] == [30, 50, 70]
    # 17 photos: 1 held out, W = 8; an epoch = 3 crops of each W photo = 24 // 6 = 4 iterations; 100 epochs
    assert train['val_ratio'] == 0.02 and round(0.02 * 17) == 0  # the split holds out max(1, 0) = 1 photo
    w_photos = (17 - 1 + 1) // 2
    assert photos['train']['total_iter'] == 100 * (w_photos * train['dataset_enlarge_ratio'] // 6) == 400
    text = (repo / dp.SEARCH_OPT).read_text()
    assert text.count('# CHANGED') == 6  # dataroot, workers, enlarge ratio, total_iter, val_freq, checkpoints


# ----------------------------------------------------------------------------- the plan
def times(search: bool = True) -> dict:
    """Hand-made --time-steps figures: steps in CPU seconds, forward passes on a 100-pixel latency input."""
    found = {'hinas': {'cpu': [2., 1., 3.], 'forward': {'cpu': 10.}},
             'dncnn': {'cpu': [1., 1., 1.], 'forward': {'cpu': 4.}},
             'ridnet': {'cpu': [3., 3., 3.], 'forward': {'cpu': 20.}},
             'bm3d': {'cpu': 6.}, 'latency_size': [10, 10], 'test_pixels': 250}
    if search:
        found.update(search={'cpu': [5., 5., 5.], 'warmup_cpu': [2., 2., 2.], 'val_forward': {'cpu': 7.}},
                     search_schedule={'total_iter': 100, 'arch_warmup_ratio': 0.2, 'val_freq': 25})
    return found


def test_job_seconds_and_the_estimated_wall_time_of_the_schedule():
    seconds = dp.job_seconds(times(), iters=10, latency_runs=1)
    # a training: 10 steps at the median step, and its score: the test photos are 2.5 latency inputs
    assert seconds['hinas'] == 10 * 2. + 2.5 * 10. == 45.
    assert seconds['dncnn'] == 10 * 1. + 2.5 * 4. == 20.
    assert seconds['ridnet'] == 10 * 3. + 2.5 * 20. == 80.
    assert seconds['references'] == 2.5 * 6. == 15.
    assert seconds['measure'] == 2 * (10. + 4. + 20. + 6.) == 80.
    assert seconds['search'] == 20 * 2. + 80 * 5. + 4 * 7. == 468.
    # one slot: everything one after the other
    assert dp.estimate_wall(seconds, seeds=2, jobs=1) == 468 + 2 * (45 + 20 + 80) + 15 + 80
    # two slots, by the schedule's rule: the search | dncnn0 (0-20), dncnn1 (20-40), ridnet0 (40-120), ridnet1
    # (120-200), references (200-215); then the found net's two trainings start when the search ends (468) or a
    # slot frees: hinas0 on the search's slot 468-513, hinas1 on the other 468-513; the measurement alone: 80
    assert dp.estimate_wall(seconds, seeds=2, jobs=2) == 513 + 80
    # with a given genotype there is no search: hinas0 | hinas1 (0-45), then dncnn0, dncnn1 (45-65), ridnet0,
    # ridnet1 (65-145), references (145-160)
    given = dp.job_seconds(times(search=False), iters=10, latency_runs=1)
    assert 'search' not in given and dp.estimate_wall(given, seeds=2, jobs=2) == 160 + 80


def test_the_plan_is_the_most_iterations_that_fit_the_budget():
    t = times()
    found = dp.plan(t, seeds=2, jobs=2, latency_runs=1, budget_s=2000.)
    assert found['iters'] % dp.PLAN_STEP == 0 and found['estimated_wall_s'] <= 2000
    assert dp.estimate_wall(dp.job_seconds(t, found['iters'] + dp.PLAN_STEP, latency_runs=1), 2, 2) > 2000
    assert found['estimated_wall_s'] == round(dp.estimate_wall(dp.job_seconds(t, found['iters'], latency_runs=1), 2, 2))


# ----------------------------------------------------------------------------- the report
def results(psnr: dict[str, list[float]]) -> dict:
    """Hand-made results.json of a finished run."""
    def seeds(values):
        return [{'seed': k, 'psnr': v, 'ssim': 0.5 + v / 100, 'iterations': 10, 'train_seconds': 100. + 2 * k,
                 'score_seconds': 5., 'commit': {'commit': 'abcdef0123456', 'dirty': False}} for k, v in
                enumerate(values)]
    return {'settings': {'sigma': 50., 'iters': 10, 'jobs': 2}, 'test_photos': ['a.png', 'b.png'],
            'references': {'noisy': {'psnr': 14.9, 'ssim': 0.13}, 'bm3d': {'psnr': 28.6, 'ssim': 0.79}, 'seconds': 9.},
            'nets': {net: {'seeds': seeds(v)} for net, v in psnr.items()},
            'cost': {'input': '1x1x960x1280', 'threads': 1, 'runs': 3, 'seconds': 60.,
                     'bm3d': {'latency_s': 33.}, **{net: {'params': 1000 * k, 'flops': int(2e12) * k, 'latency_s': 10.}
                                                   for k, net in enumerate(dp.NETS, 1)}},
            'search': {'search_opt': dp.SEARCH_OPT, 'total_iter': 400, 'selected_at': 360, 'widths': [0, 1, 1],
                       'seconds': 3000.}, 'wall_seconds': {'runs': [4000., 500.], 'total': 4500.}}


def test_table_gives_mean_and_std_over_seeds_and_every_seed(tmp_path):
    psnr = {'hinas': [27.0, 27.5], 'dncnn': [26.0, 26.2], 'ridnet': [25.0, 25.9]}
    run = results(psnr)
    table = dp.markdown_table(run)
    for net, values in psnr.items():
        mean, std = statistics.fmean(values), statistics.stdev(values)
        assert f'| {dp.LABELS[net]} | {mean:.3f} +- {std:.3f} |' in table
        for k, v in enumerate(values):
            row = f'| {dp.LABELS[net]} | {k} | {v:.3f} | {0.5 + v / 100:.4f} | 10 | {100 + 2 * k} | 5 | abcdef0123 |'
            assert row in table
    assert '| noisy input | 14.900 | 0.1300 | 0 | 0 |' in table
    assert '| BM3D | 28.600 | 0.7900 | | not counted | 33.00 |' in table
    assert '| DnCNN | 26.100 +- 0.141 | 0.7610 +- 0.0014 | 2,000 | 4000.0 | 10.00 | 101 |' in table
    assert 'on the 2 held-out gray photographs' in table and 'mean +- std over 2 training seed(s)' in table
    assert 'best genotype from iteration 360, widths [0, 1, 1], 3000 s' in table
    assert 'Wall time: 4500 s in 2 run(s) (--jobs 2)' in table
    dp.plot(run, str(tmp_path / 'p.png'))
    assert cv2.imread(str(tmp_path / 'p.png')).shape[2] == 3


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize('extra,message', [
    (['--sigma', '0'], '--sigma: expected a noise level in (0, 255]'),
    (['--sigma', 'nan'], '--sigma: expected a noise level in (0, 255]'),
    (['--sigma', '300'], '--sigma: expected a noise level in (0, 255]'),
    (['--sigma', 'x'], "--sigma: invalid float value: 'x'"),
    (['--iters', '0'], '--iters: expected an integer from 1 to 10,000,000 (each a step of every training), got 0'),
    (['--iters', '2.0'], "--iters: invalid int value: '2.0'"),
    (['--seeds', '0'], '--seeds: expected an integer from 1 to 100 (each a training of every net), got 0'),
    (['--seeds', '101'], '--seeds: expected an integer from 1 to 100'),
    (['--jobs', '0'], '--jobs: expected an integer from 1 to 1,024 (each a process), got 0'),
    (['--latency-runs', '0'], '--latency-runs: expected an integer from 1 to 10,000'),
    (['--latency-runs', '10001'], '--latency-runs: expected an integer from 1 to 10,000'),
    (['--latency-size', '8', '8'], '--latency-size: BM3D needs at least 16x16'),
    (['--latency-size', '4096', '8'], '--latency-size: expected sizes <= 2048'),
    (['--data', 'nowhere'], '--data: nowhere/Photos_train.lmdb is not an LMDB'),
    (['--genotype', 'options/demo/genotype_example_sr_x2.json'], 'task'),
    (['--genotype', 'missing.json'], 'missing.json'),
    (['--search-opt', 'missing.yml'], '--search-opt: missing.yml does not exist'),
    (['--search-opt', 'options/demo/search_sr_x2.yml'], 'not a gray denoising HiNASSupernet'),
    (['--time-steps', '0'], '--time-steps: expected an integer from 1 to 1,000 (each a timed step of every net), '
     'got 0'),
    (['--time-steps', '1001'], '--time-steps: expected an integer from 1 to 1,000'),
    (['--time-steps', '2', '--iters', '5'], '--iters: not with --time-steps (which plans them)'),
])
def test_bad_arguments_one_line_exit_2_nothing_written(in_tmp, capsys, extra, message):
    before = sorted(os.listdir(in_tmp))
    args = argv('out', *extra) if extra[0] != '--time-steps' else ['--out', 'out', '--data', 'tiny', *extra]
    assert denoise_photos.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith('denoise_photos: error: ') and err.count('\n') == 1 and message in err, err
    assert sorted(os.listdir(in_tmp)) == before  # no out/, no experiments/


def test_missing_required_and_out_a_file_refused(in_tmp, capsys):
    assert denoise_photos.main(['--sigma', '50', '--out', 'out']) == 2
    assert capsys.readouterr().err == 'denoise_photos: error: --iters: required (but with --time-steps)\n'
    (in_tmp / 'afile').write_text('x')
    assert denoise_photos.main(argv('afile/out')) == 2
    assert 'afile is a file, not a folder' in capsys.readouterr().err
    assert not os.path.exists('out')


def test_a_rerun_with_other_settings_is_refused_and_changes_nothing(in_tmp, capsys):
    settings = dp.Settings(sigma=50., iters=2, seeds=1, out='out', data='tiny', latency_size=(32, 32), latency_runs=1)
    os.makedirs('out')
    (in_tmp / 'out' / 'results.json').write_text(json.dumps({'settings': settings.as_dict()}))
    before = listing(in_tmp / 'out')
    assert denoise_photos.main(argv('out', '--iters', '3')) == 2
    assert 'out/results.json holds a run with other settings (iters: 2 there, 3 now)' in capsys.readouterr().err
    assert listing(in_tmp / 'out') == before
    # --jobs is free and --seeds may be raised: those pass the check
    dp.check_settings(dp.Settings(**{**settings.__dict__, 'jobs': 2, 'seeds': 2}))
    with pytest.raises(ValueError, match='seeds: 1 there, 0 now|--seeds'):
        dp.check_settings(dp.Settings(**{**settings.__dict__, 'seeds': 0}))


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_given_genotype_end_to_end_then_a_rerun_skips_and_a_second_seed_trains_only_it(in_tmp, capsys, repo):
    assert denoise_photos.main(argv('out', '--genotype', GENOTYPE)) == 0
    out = in_tmp / 'out'
    run = json.loads((out / 'results.json').read_text())
    assert run['settings'] == {'sigma': 50., 'iters': 2, 'seeds': 1, 'genotype': GENOTYPE, 'search_opt': dp.SEARCH_OPT,
                               'data': 'tiny', 'latency_size': [32, 32], 'latency_runs': 1, 'jobs': 1}
    assert run['test_photos'] == ['camera.png', 'coffee.png'] and run['search']['given'] == GENOTYPE
    refs = run['references']
    assert 10 < refs['noisy']['psnr'] < 20 and refs['bm3d']['psnr'] > refs['noisy']['psnr'] + 5
    for net in dp.NETS:
        (entry,) = run['nets'][net]['seeds']
        assert entry['seed'] == 0 and entry['iterations'] == 2 and 3 < entry['psnr'] < 40 and 0 < entry['ssim'] < 1
        assert entry['commit']['commit'] and entry['train_seconds'] > 0
        option = load_yaml(str(out / entry['option']))
        assert option['manual_seed'] == 0 and option['datasets']['train']['sigma'] == [50.]
        assert option['datasets']['train']['dataroot_gt'] == 'tiny/Photos_train.lmdb'
        # the cost: params and FLOPs of the trained net on the latency input, counted again here
        net_opt = dict(option['network_g'])
        model = build_network(net_opt)
        assert run['cost'][net]['params'] == sum(p.numel() for p in model.parameters())
        assert run['cost'][net]['flops'] == count_flops(model.eval(), torch.rand(1, 1, 32, 32))
        assert run['cost'][net]['latency_s'] > 0
    assert run['cost']['dncnn']['params'] == 556_096 and run['cost']['input'] == '1x1x32x32'
    assert load_yaml(str(out / 'train' / 'hinas_seed0' / 'hinas_seed0.yml'))['network_g']['genotype'] == str(
        out / 'genotypes' / 'found.json')
    table = (out / 'table.md').read_text()
    dncnn = run['nets']['dncnn']['seeds'][0]
    assert f'| DnCNN | {dncnn["psnr"]:.3f} | {dncnn["ssim"]:.4f} | 556,096 |' in table
    assert (out / 'psnr_vs_flops.png').stat().st_size > 1000
    capsys.readouterr()

    before = listing(out / 'train')
    assert denoise_photos.main(argv('out', '--genotype', GENOTYPE)) == 0
    assert 'Resuming: 4 of 4 steps done, skipped' in capsys.readouterr().out
    assert listing(out / 'train') == before  # nothing trained again
    again = json.loads((out / 'results.json').read_text())
    assert again['nets'] == run['nets'] and again['cost'] == run['cost'] and len(again['wall_seconds']['runs']) == 2

    assert denoise_photos.main(argv('out', '--genotype', GENOTYPE, '--seeds', '2', '--jobs', '2')) == 0
    assert 'Resuming: 4 of 7 steps done, skipped' in capsys.readouterr().out
    more = json.loads((out / 'results.json').read_text())
    for net in dp.NETS:
        assert more['nets'][net]['seeds'][0] == run['nets'][net]['seeds'][0]  # seed 0 kept as it was
        assert [e['seed'] for e in more['nets'][net]['seeds']] == [0, 1]
    assert {p: t for p, t in listing(out / 'train').items() if p in before} == before
    assert f'+- {statistics.stdev([e["psnr"] for e in more["nets"]["dncnn"]["seeds"]]):.3f}' in (
        out / 'table.md').read_text()


@pytest.mark.slow
def test_search_end_to_end_at_jobs_2_trains_the_found_net(in_tmp):
    search = tiny_search(in_tmp / 'tiny_search.yml')
    assert denoise_photos.main(argv('out', '--search-opt', search, '--jobs', '2')) == 0
    out = in_tmp / 'out'
    run = json.loads((out / 'results.json').read_text())
    assert run['search']['total_iter'] == 2 and run['search']['selected_at'] == 2 and run['search']['seconds'] > 0
    assert run['search']['search_opt'] == search and run['search']['commit']['commit']
    found = json.loads((out / 'genotypes' / 'found.json').read_text())
    assert run['search']['widths'] == found['widths'] and len(found['cells']) == 2
    # the search ran on --data, under a name of this output folder's
    options = load_yaml(str(out / 'options' / 'search.yml'))
    assert options['datasets']['train']['dataset']['dataroot_gt'] == 'tiny/Photos_train.lmdb'
    assert (in_tmp / 'experiments' / options['name'] / 'genotypes' / 'best.json').is_file()
    hinas = load_yaml(str(out / run['nets']['hinas']['seeds'][0]['option']))
    assert hinas['network_g']['genotype'] == str(out / 'genotypes' / 'found.json')
    assert 'The search: ' in (out / 'table.md').read_text()


@pytest.mark.slow
def test_time_steps_times_every_net_and_the_search_and_plans(in_tmp, capsys):
    search = tiny_search(in_tmp / 'tiny_search.yml')
    assert denoise_photos.main(['--time-steps', '2', '--out', 'steps', '--data', 'tiny', '--search-opt', search,
                                '--latency-size', '32', '32', '--jobs', '2']) == 0
    found = json.loads((in_tmp / 'steps' / 'step_times.json').read_text())
    for net in dp.NETS:
        assert len(found[net]['cpu']) == len(found[net]['wall']) == 2 and found[net]['forward']['cpu'] > 0
    assert len(found['search']['warmup_cpu']) == len(found['search']['cpu']) == 2
    assert found['search']['val_size'] and found['bm3d']['cpu'] > 0 and found['test_pixels'] == 2 * 64 * 64
    assert found['search_schedule'] == {'total_iter': 2, 'arch_warmup_ratio': 0.2, 'val_freq': 2}
    assert found['plan'] == dp.plan(found, seeds=2, jobs=2, latency_runs=3)
    assert found['genotype'] == 'stand_in_genotype.json' and not found['given']
    assert sorted(os.listdir(in_tmp / 'steps')) == ['stand_in_genotype.json', 'step_times.json']
    assert not (in_tmp / 'experiments').exists()  # the timing trains in temporary folders
    assert f'Plan: {found["plan"]["iters"]} iterations per net' in capsys.readouterr().out
