"""hinas demo, end to end in seconds: sample data, a given genotype (no search), 3-second trainings, the comparison."""
import csv
import math

import cv2
import numpy as np
import pytest
import torch
import yaml

from hinas_basicsr.tools.compare import count_flops, count_params
from hinas_basicsr.tools.demo import (
    GROUND_TRUTH,
    SEARCH_OPT,
    TASKS,
    PhotoRow,
    RunProgress,
    demo_photos,
    detail_crop,
    run_demo,
    save_side_by_side,
)
from hinas_basicsr.tools.networks import load_network
from hinas_basicsr.tools.runners import budget_cosine

REQUIRED = ('model', 'set', 'psnr', 'ssim', 'params', 'flops', 'latency_s')


def tiny_search(source, path, name: str) -> None:
    """The demo search ``source`` cut to 4 iterations (2 of weights only), written as ``path``."""
    opt = yaml.safe_load(source.read_text())
    opt['name'] = name
    opt['train'].update(total_iter=4, arch_warmup_ratio=0.5)
    opt['train']['scheduler']['periods'] = [4]
    opt['val']['val_freq'] = 4
    opt['logger'].update(use_tb_logger=False, save_checkpoint_freq=4, print_freq=2)
    path.write_text(yaml.safe_dump(opt))


@pytest.mark.slow
def test_demo_writes_the_comparison(tmp_path, monkeypatch, repo, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'options').symlink_to(repo / 'options')
    genotype = str(repo / 'options' / 'demo' / 'genotype_example_sr_x2.json')
    threads = torch.get_num_threads()
    try:
        run_demo('out', budget_s=3., genotype=genotype, latency_runs=1, threads=1)
    finally:
        torch.set_num_threads(threads)

    with open(tmp_path / 'out' / 'compare.csv') as f:
        rows = list(csv.DictReader(f))
    assert set(REQUIRED) <= set(rows[0])
    assert [r['model'] for r in rows] == ['bicubic', 'hinas', 'edsr_baseline']
    assert {r['set'] for r in rows} == {'SampleTest'}
    for r in rows:
        assert all(math.isfinite(float(r[c])) for c in REQUIRED[2:]), r
    assert float(rows[0]['psnr']) > 30 and int(rows[0]['params']) == int(rows[0]['flops']) == 0
    probe = torch.rand(*(int(v) for v in rows[1]['flops_input'].split('x')))
    for r, name in zip(rows[1:], ('demo_train_hinas_sr_x2', 'demo_train_edsr_x2')):
        root = tmp_path / 'out' / 'train' / name
        net = load_network(str(root / f'{name}.yml'), str(root / 'models' / 'net_g_latest.pth'), torch.device('cpu'))
        assert int(r['params']) == count_params(net) > 0
        assert int(r['flops']) == count_flops(net, probe) > 0
    out = capsys.readouterr().out
    assert 'Found net vs bicubic' in out and 'out/compare.csv' in out and genotype in out
    for f in ('compare.md', 'psnr_vs_flops.png', 'side_by_side.png'):
        assert (tmp_path / 'out' / f).is_file()
    assert 'Totoal images' not in out  # BasicSR's LMDB messages stay in the log
    assert 'Totoal images' in (tmp_path / 'out' / 'demo.log').read_text()
    assert cv2.imread(str(tmp_path / 'out' / 'side_by_side.png')).shape[0] > 3 * 150  # one row per held-out photo
    trained = {n: (str(tmp_path / 'out' / 'train' / d / f'{d}.yml'),
                   str(tmp_path / 'out' / 'train' / d / 'models' / 'net_g_latest.pth'))
               for n, d in (('hinas', 'demo_train_hinas_sr_x2'), ('edsr_baseline', 'demo_train_edsr_x2'))}
    photos = demo_photos(trained, device=torch.device('cpu'))
    assert [p.name for p in photos] == ['chelsea', 'coffee', 'rocket']
    for r, method in zip(rows, ('bicubic', 'HiNAS', 'EDSR-baseline')):  # the pictures' PSNR average to the table's
        assert abs(np.mean([p.psnr[method] for p in photos]) - float(r['psnr'])) < 0.01


def test_budget_cosine():
    assert budget_cosine(1e-3, 0.) == 1e-3
    assert math.isclose(budget_cosine(1e-3, 0.5), 5e-4)
    assert budget_cosine(1e-3, 1.) == budget_cosine(1e-3, 2.) == 0.


@pytest.mark.slow
def test_demo_trains_after_searching_in_the_same_run(tmp_path, monkeypatch, repo, capsys):
    """A 4-iteration search, then the trainings (which must open the LMDBs the search used), then compare."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'options').symlink_to(repo / 'options')
    tiny_search(repo / SEARCH_OPT, tmp_path / 'tiny.yml', 'tiny_search')
    reported = []
    update = RunProgress.update
    monkeypatch.setattr(RunProgress, 'update', lambda self, stage, done: (reported.append((stage, done)),
                                                                         update(self, stage, done)))
    threads = torch.get_num_threads()
    try:
        rows = run_demo('out', budget_s=1., search_opt='tiny.yml', latency_runs=1, threads=1)
    finally:
        torch.set_num_threads(threads)
    assert [done for stage, done in reported if stage == 'search'] == [2, 4]  # followed from the child's log
    assert 'iter:' in (tmp_path / 'out' / 'demo.log').read_text()
    assert [r['model'] for r in rows] == ['bicubic', 'hinas', 'edsr_baseline']
    assert 'experiments/tiny_search/genotypes/best.json' in capsys.readouterr().out


def test_side_by_side_draws_rows_of_photos_and_columns_of_methods(tmp_path):
    rng = np.random.default_rng(0)
    flat = np.full((40, 50, 3), 120, np.uint8)
    photos = []
    for name in ('a', 'b'):
        gt = flat.copy()
        gt[24:40, 32:48] = rng.integers(0, 255, (16, 16, 3))  # the detailed corner the crop must find
        photos.append(PhotoRow(name, {'bicubic': flat, 'HiNAS': gt // 2, GROUND_TRUTH: gt},
                               {'bicubic': 20.5, 'HiNAS': 25.25}))
    assert detail_crop(photos[0].images[GROUND_TRUTH], 16) == (slice(24, 40), slice(32, 48))
    path = tmp_path / 'pictures.png'
    save_side_by_side(photos, str(path), crop=16)
    img = cv2.imread(str(path))
    assert img.shape[1] > img.shape[0] > 300  # 2 rows of 3 methods
    assert (img.min(axis=2) < 100).mean() > 0.01 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_run_progress_stages_add_up():
    with RunProgress({'a': 5., 'skipped': 0., 'b': 10.}) as progress:
        progress.update('a', 3.)
        assert progress.bar.n == 3 and progress.bar.total == 15
        progress.update('b', 99.)  # clipped to the stage's size
        assert progress.bar.n == 15


@pytest.mark.slow
def test_denoise_demo_searches_trains_and_compares(tmp_path, monkeypatch, repo, capsys):
    """hinas demo --task denoise at a tiny budget: a 4-iteration gray search, 3-second trainings of the found net and
    DnCNN at sigma 50, the comparison with the noisy input (and BM3D where the package is installed)."""
    from hinas_basicsr.tools.compare import bm3d_available

    monkeypatch.chdir(tmp_path)
    (tmp_path / 'options').symlink_to(repo / 'options')
    demo = TASKS['denoise']
    tiny_search(repo / demo.search_opt, tmp_path / 'tiny.yml', 'tiny_denoise_search')
    threads = torch.get_num_threads()
    try:
        rows = run_demo('out', budget_s=3., search_opt='tiny.yml', latency_runs=1, threads=1, task='denoise')
    finally:
        torch.set_num_threads(threads)

    with_bm3d = bm3d_available()
    assert [r['model'] for r in rows] == ['noisy', *(['bm3d'] if with_bm3d else []), 'hinas', 'dncnn']
    by = {r['model']: r for r in rows}
    assert {r['set'] for r in rows} == {'SampleBSD500_test'} and rows[0]['flops_input'] == '1x1x128x128'
    assert 13.5 < by['noisy']['psnr'] < 16  # 20 log10(255 / 50) = 14.2 dB, a little more where noise is clipped
    assert by['dncnn']['params'] == 556_096  # DnCNN-S as published
    root = tmp_path / 'out' / 'train' / 'demo_train_hinas_denoise_sigma50'
    net = load_network(str(root / 'demo_train_hinas_denoise_sigma50.yml'), str(root / 'models' / 'net_g_latest.pth'),
                       torch.device('cpu'))
    probe = torch.rand(1, 1, 128, 128)
    assert by['hinas']['params'] == count_params(net) and by['hinas']['flops'] == count_flops(net, probe)
    out = capsys.readouterr().out
    assert 'experiments/tiny_denoise_search/genotypes/best.json' in out and 'Found net vs noisy: ' in out
    assert ('vs BM3D: ' in out) == with_bm3d and 'vs DnCNN: ' in out
    assert ("bm3d: skipped, the bm3d package is not installed" in out) != with_bm3d
    for f in ('compare.csv', 'compare.md', 'psnr_vs_flops.png', 'side_by_side.png'):
        assert (tmp_path / 'out' / f).is_file()
    if with_bm3d:
        assert by['bm3d']['psnr'] > by['noisy']['psnr'] + 8  # BM3D at sigma 50 on photos: about +11 dB

    trained = {n: (str(tmp_path / 'out' / 'train' / d / f'{d}.yml'),
                   str(tmp_path / 'out' / 'train' / d / 'models' / 'net_g_latest.pth'))
               for n, d in (('hinas', 'demo_train_hinas_denoise_sigma50'), ('dncnn', 'demo_train_dncnn_sigma50'))}
    photos = demo_photos(trained, demo.test_opt, torch.device('cpu'), bm3d=with_bm3d)
    assert [p.name for p in photos] == ['camera', 'chelsea', 'coffee', 'rocket']
    assert list(photos[0].images) == ['noisy', *(['BM3D'] if with_bm3d else []), 'HiNAS', 'DnCNN', 'clean']
    assert photos[0].images['clean'].shape == (256, 256, 1)  # gray: one channel
    for model, method in (('noisy', 'noisy'), ('hinas', 'HiNAS'), ('dncnn', 'DnCNN')):  # the table's PSNR, averaged
        assert abs(np.mean([p.psnr[method] for p in photos]) - by[model]['psnr']) < 1e-3
    picture = cv2.imread(str(tmp_path / 'out' / 'side_by_side.png'))
    assert picture.shape[0] > 4 * 150 and picture.shape[1] > len(photos[0].images) * 150  # photos x methods
