"""The search remedies as options of a search: selection by perturbation, the decoder head, a FLOPs target."""
from __future__ import annotations

import os

import pytest
import torch
from search_helpers import make_subimage_folders, search_options, write_search_options

from hinas_basicsr.cli import basicsr_main
from hinas_basicsr.genotype import Genotype
from hinas_basicsr.options_check import check_options


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_search_with_every_remedy_selects_by_perturbation_at_the_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gt, lq = make_subimage_folders(str(tmp_path / 'data'))
    opt = search_options(gt, lq, name='remedies')
    opt['network_g']['search_head'] = 'decoder'
    opt['train'].update(selection='perturbation', selection_calib_batches=1, flops_target=0.2, flops_input=[32, 32],
                        optim_arch={'type': 'Adam', 'lr': 3e-3, 'weight_decay': 0})
    path = write_search_options(str(tmp_path / 'remedies.yml'), opt)
    assert basicsr_main(['train', '-opt', path]) == 0
    out = tmp_path / 'experiments' / 'remedies' / 'genotypes'
    assert sorted(os.listdir(out)) == ['best.json', 'best.png', 'iter_3.json', 'iter_3.png', 'iter_6.json',
                                       'iter_6.png', 'perturbation.json', 'perturbation.png']
    best, selected = Genotype.load(out / 'best.json'), Genotype.load(out / 'perturbation.json')
    assert best == selected and best.search == selected.search
    assert best.search['selection'] == 'perturbation' and best.search['iteration'] == 6
    assert len(best.search['path_psnr']) == 5 and best.search['path_psnr'][','.join(map(str, best.widths))] == max(
        best.search['path_psnr'].values())
    assert Genotype.load(out / 'iter_6.json').search['alpha_softmax'] == best.search['supernet']['alpha_softmax']
    log = next((tmp_path / 'experiments' / 'remedies').glob('train_remedies_*.log')).read_text()
    assert 'l_flops' in log and 'gflops' in log and 'Genotype selected by perturbation at iter 6' in log


@pytest.mark.parametrize('key, value, message', [
    ('selection', 'largest', 'train.selection'), ('flops_target', 'big', 'train.flops_target'),
    ('flops_input', [0, 64], 'train.flops_input'), ('search_head', 'deeplab', 'network_g.search_head')])
def test_bad_remedy_options_are_refused_before_anything_is_written(tmp_path, key, value, message):
    gt, lq = make_subimage_folders(str(tmp_path / 'data'), num_images=5, subs=1, size=16)
    opt = search_options(gt, lq)
    (opt['network_g'] if key == 'search_head' else opt['train'])[key] = value
    path = write_search_options(str(tmp_path / 'bad.yml'), opt)
    with pytest.raises(ValueError, match=f'bad.yml: {message}'):
        check_options(path)
