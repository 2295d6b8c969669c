"""The search's reference schedule: CosinePolyLR on the W-split epochs, best genotype only late in the search."""
import math
import os

import pytest
import torch
from search_helpers import build_search_model, make_subimage_folders, search_options
from torch.nn import functional as F

import hinas_basicsr  # noqa: F401
from hinas_basicsr.losses.log_ssim_loss import LogSSIMLoss
from hinas_basicsr.space.genotype import Genotype


@pytest.mark.slow
def test_best_genotype_never_before_the_configured_fraction(tmp_path):
    gt, lq = make_subimage_folders(str(tmp_path), num_images=5, subs=2, size=16)
    opt = search_options(gt, lq, total_iter=10)
    opt['train']['best_after_ratio'] = 0.6
    model = build_search_model(opt, str(tmp_path / 'exp'))
    out = tmp_path / 'exp' / 'genotypes'
    # the best score of all comes early (iter 2); only iterations >= 6 may give best.json
    for current_iter, psnr, ssim in [(2, 40.0, 0.99), (5, 35.0, 0.95), (6, 20.0, 0.5), (8, 25.0, 0.8),
                                     (10, 22.0, 0.7)]:
        model.metric_results = {'psnr': psnr, 'ssim': ssim}
        model.export_genotypes(current_iter)
        assert (out / f'iter_{current_iter}.json').is_file()
        best = Genotype.load(out / 'best.json').search['iteration'] if (out / 'best.json').is_file() else None
        assert best == {2: None, 5: None, 6: 6, 8: 8, 10: 8}[current_iter]


def test_best_after_ratio_is_checked(tmp_path):
    gt, lq = make_subimage_folders(str(tmp_path), num_images=5, subs=2, size=16)
    opt = search_options(gt, lq)
    opt['train']['best_after_ratio'] = 1.5
    with pytest.raises(ValueError, match='train.best_after_ratio'):
        build_search_model(opt, str(tmp_path / 'exp'))


def test_search_lr_follows_the_w_split_epochs(tmp_path):
    gt, lq = make_subimage_folders(str(tmp_path), num_images=5, subs=2, size=16)
    opt = search_options(gt, lq, total_iter=20, batch=1)
    opt['train']['scheduler'] = {'type': 'CosinePolyLR', 'epochs': 5, 'period': 4}  # iters_per_epoch from the model
    model = build_search_model(opt, str(tmp_path / 'exp'))
    # 5 images: val 1, W 2 images = 4 sub-images = 4 batches of 1 a pass
    assert model.iters_per_epoch == 4 and model.schedulers[0].iters_per_epoch == 4
    for current_iter in range(1, 21):
        model.optimizer_g.step()
        model.update_learning_rate(current_iter)
        epoch = (current_iter - 1) // 4
        expected = 0.001 + 0.024 * (1 + math.cos(2 * math.pi * epoch / 4)) / 2 * (1 - epoch / 5) ** 0.9
        assert model.get_current_learning_rate()[0] == pytest.approx(expected, rel=1e-12)
    assert model.optimizer_arch.param_groups[0]['lr'] == 1e-3  # the arch lr is not scheduled


@pytest.mark.parametrize('name', ['search_sr_x2', 'search_sr_x3', 'search_sr_x4', 'search_denoise',
                                  'search_sr_x2_photos_full'])
def test_reference_search_options_train_the_reference_way(name):
    from hinas_basicsr.losses.sum_loss import SumLoss
    from hinas_basicsr.utils.options_file import load_yaml

    train = load_yaml(os.path.join(os.path.dirname(__file__), '..', 'options', f'{name}.yml'))['train']
    assert train['optim_g'] == {'type': 'SGD', 'lr': 0.025, 'momentum': 0.9, 'weight_decay': 3e-4}
    assert train['scheduler'] == {'type': 'CosinePolyLR', 'eta_min': 0.001, 'period': 20, 'epochs': 100, 'power': 0.9}
    assert train['best_after_ratio'] == 0.6 and 'ssim_opt' not in train
    loss = SumLoss(**{k: v for k, v in train['pixel_opt'].items() if k != 'type'})
    torch.manual_seed(0)
    pred, target = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    pixel, weight = (F.l1_loss, 0.6) if name.startswith('search_sr') else (F.mse_loss, 0.5)
    ssim_term = LogSSIMLoss(padding='same')(pred, target)
    assert loss(pred, target).item() == pytest.approx((pixel(pred, target) + weight * ssim_term).item() / 2, rel=1e-6)
