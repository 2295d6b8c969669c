"""hinas demo, end to end in seconds: sample data, a given genotype (no search), 3-second trainings, the comparison."""
import csv
import math

import torch
import yaml

from hinas_basicsr.compare import count_flops, count_params
from hinas_basicsr.demo import SEARCH_OPT, budget_cosine, run_demo
from hinas_basicsr.networks import load_network

REQUIRED = ('model', 'set', 'psnr', 'ssim', 'params', 'flops', 'latency_s')


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
    for f in ('compare.md', 'psnr_vs_flops.png'):
        assert (tmp_path / 'out' / f).is_file()


def test_budget_cosine():
    assert budget_cosine(1e-3, 0.) == 1e-3
    assert math.isclose(budget_cosine(1e-3, 0.5), 5e-4)
    assert budget_cosine(1e-3, 1.) == budget_cosine(1e-3, 2.) == 0.


def test_demo_trains_after_searching_in_the_same_run(tmp_path, monkeypatch, repo, capsys):
    """A 4-iteration search, then the trainings (which must open the LMDBs the search used), then compare."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'options').symlink_to(repo / 'options')
    opt = yaml.safe_load((repo / SEARCH_OPT).read_text())
    opt['name'] = 'tiny_search'
    opt['train'].update(total_iter=4, arch_warmup_ratio=0.5)
    opt['train']['scheduler']['periods'] = [4]
    opt['val']['val_freq'] = 4
    opt['logger'].update(use_tb_logger=False, save_checkpoint_freq=4)
    (tmp_path / 'tiny.yml').write_text(yaml.safe_dump(opt))
    threads = torch.get_num_threads()
    try:
        rows = run_demo('out', budget_s=1., search_opt='tiny.yml', latency_runs=1, threads=1)
    finally:
        torch.set_num_threads(threads)
    assert [r['model'] for r in rows] == ['bicubic', 'hinas', 'edsr_baseline']
    assert 'experiments/tiny_search/genotypes/best.json' in capsys.readouterr().out
