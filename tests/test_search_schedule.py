"""The search's reference schedule: CosinePolyLR on the W-split epochs, best genotype only late in the search."""
import math

import pytest
from search_helpers import build_search_model, make_subimage_folders, search_options

import hinas_basicsr  # noqa: F401
from hinas_basicsr.genotype import Genotype


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
