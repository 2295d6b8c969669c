"""benchmarks/first_steps.py on a tiny EDSR training: one row per step, the forced lr applied, bad input in one line;
its sharpness against the least-squares curvature computed by LAPACK."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import first_steps
import numpy as np
import pytest
import torch
from conftest import edsr_options, write_options

pytestmark = pytest.mark.usefixtures('one_thread')


def test_rows_follow_the_forced_recipe(tmp_path, capsys):
    option = write_options(tmp_path / 'o.yml', edsr_options(tmp_path / 'data'))
    out = tmp_path / 'rows.json'
    assert first_steps.main(['-opt', str(option), '--steps', '3', '--force_yml', 'train:optim_g:lr=0.0005',
                             '--json', str(out)]) == 0
    rows = json.loads(out.read_text())['rows']
    assert [r['step'] for r in rows] == [1, 2, 3]
    assert rows[0]['lr'] == pytest.approx(0.0005)  # the forced lr, not the example file's 2e-4
    assert all(math.isfinite(r['l_pix']) and r['l_pix'] > 0 and r['max_abs_weight'] > 0 for r in rows)
    assert 'step 3: lr' in capsys.readouterr().out


def test_bad_input_in_one_line(tmp_path, capsys):
    assert first_steps.main(['-opt', str(tmp_path / 'missing.yml')]) == 2
    assert 'missing.yml' in capsys.readouterr().err
    option = write_options(tmp_path / 'o.yml', edsr_options(tmp_path / 'data'))
    assert first_steps.main(['-opt', str(option), '--steps', '0']) == 2
    assert capsys.readouterr().err.startswith('first_steps: error: --steps: expected an integer from 1 to 100,000')


def least_squares(scale: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs with one strong direction (a clear eigengap) and targets, for a linear map without bias."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(64, 6, generator=generator, dtype=torch.float64)
    inputs[:, 0] *= 4 * scale
    return inputs, torch.randn(64, 1, generator=generator, dtype=torch.float64)


def test_power_iteration_finds_the_least_squares_curvature():
    inputs, targets = least_squares(1.0, 0)
    weight = torch.zeros(1, 6, dtype=torch.float64, requires_grad=True)
    loss = ((inputs @ weight.T - targets) ** 2).mean()
    quotients, (unit,), negative = first_steps.top_hessian_eigenvalue(loss, [weight], iters=60)
    # independently: the Hessian of mean((Xw - y)^2) is 2 X^T X / n, its top eigenpair by LAPACK
    values, vectors = np.linalg.eigh(2 * inputs.numpy().T @ inputs.numpy() / len(inputs))
    assert quotients[-1] == pytest.approx(values[-1], rel=1e-6)
    assert abs(float(unit.flatten() @ torch.from_numpy(vectors[:, -1]))) == pytest.approx(1, abs=1e-6)
    assert len(quotients) == 60 and quotients[0] < quotients[-1]  # a random start sees less than the top
    assert negative is None


def test_a_dominant_negative_eigenvalue_does_not_hide_the_top_one():
    rotation, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((4, 4)))
    hessian = rotation @ np.diag([-5., 2., 1., 0.5]) @ rotation.T
    weight = torch.ones(4, dtype=torch.float64, requires_grad=True)
    loss = 0.5 * weight @ torch.from_numpy(hessian) @ weight  # its Hessian is the matrix itself
    quotients, (unit,), negative = first_steps.top_hessian_eigenvalue(loss, [weight], iters=200)
    assert negative == pytest.approx(-5, rel=1e-6)
    assert quotients[-1] == pytest.approx(2, rel=1e-6) and max(quotients) <= 2 + 1e-9  # each a lower bound
    assert abs(float(unit @ torch.from_numpy(rotation[:, 1]))) == pytest.approx(1, abs=1e-6)


class TwoMaps(torch.nn.Module):
    """The sum of two linear maps of two inputs: a Hessian whose blocks are the inputs' covariances."""

    def __init__(self):
        super().__init__()
        self.soft, self.sharp = torch.nn.Linear(6, 1, bias=False), torch.nn.Linear(6, 1, bias=False)

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.soft(pair[0]) + self.sharp(pair[1])


def test_sharpness_names_the_sharp_parameter_and_the_sgd_ceiling():
    soft, _ = least_squares(1.0, 1)
    sharp, targets = least_squares(3.0, 2)
    model = SimpleNamespace(net_g=TwoMaps().double(), lq=(soft, sharp), gt=targets, cri_pix=torch.nn.MSELoss())
    measured = first_steps.sharpness(model, {'type': 'SGD', 'lr': 0.05, 'momentum': 0.9}, iters=80)
    # the sum of two maps: its Hessian is 2 [Xs Xh]^T [Xs Xh] / n
    both = np.concatenate([soft.numpy(), sharp.numpy()], axis=1)
    top = np.linalg.eigvalsh(2 * both.T @ both / len(both))[-1]
    assert measured['eigenvalue'] == pytest.approx(top, rel=1e-6)
    assert next(iter(measured['shares'])) == 'sharp.weight' and measured['shares']['sharp.weight'] > 0.95
    assert measured['lr_ceiling'] == pytest.approx(2 * 1.9 / top, rel=1e-6) and measured['converged']
    assert not first_steps.sharpness(model, {'type': 'SGD', 'lr': 0.05}, iters=1)['converged']  # one iterate: unknown
    adam = first_steps.sharpness(model, {'type': 'Adam', 'lr': 1e-3}, iters=5)
    assert 'lr_ceiling' not in adam and adam['optimizer'] == 'Adam'


def test_measuring_the_sharpness_leaves_the_steps_as_they_were(tmp_path, capsys):
    opt = edsr_options(tmp_path / 'data')
    opt['train']['optim_g'] = {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9}
    option = write_options(tmp_path / 'o.yml', opt)
    plain, measured = tmp_path / 'plain.json', tmp_path / 'measured.json'
    assert first_steps.main(['-opt', str(option), '--steps', '3', '--json', str(plain)]) == 0
    assert first_steps.main(['-opt', str(option), '--steps', '3', '--sharpness', '4', '--json', str(measured)]) == 0
    printed = capsys.readouterr().out
    plain_run, measured_run = json.loads(plain.read_text()), json.loads(measured.read_text())
    assert plain_run['sharpness'] is None
    assert [r['l_pix'] for r in measured_run['rows']] == [r['l_pix'] for r in plain_run['rows']]
    found = measured_run['sharpness']
    assert len(found['by_iteration']) == 4 and found['eigenvalue'] > 0
    assert found['lr_ceiling'] == pytest.approx(2 * 1.9 / found['eigenvalue'])
    assert f'unstable above lr {found["lr_ceiling"]:.3g}' in printed
    # 4 iterations: converged or not, as the last two say
    assert found['converged'] == (abs(found['by_iteration'][-1] - found['by_iteration'][-2])
                                  <= 0.01 * found['by_iteration'][-1])
    assert ('not converged' in printed) == (not found['converged'])


def test_sharpness_bad_input_in_one_line(tmp_path, capsys):
    option = write_options(tmp_path / 'o.yml', edsr_options(tmp_path / 'data'))
    assert first_steps.main(['-opt', str(option), '--sharpness', '-1']) == 2
    assert capsys.readouterr().err.startswith('first_steps: error: --sharpness: expected an integer from 0 to 1,000')


def test_the_sharpness_of_a_search_counts_its_ssim_loss_and_steps_only_the_weights(tmp_path):
    from search_helpers import build_search_model, make_subimage_folders, search_options

    model = build_search_model(search_options(*make_subimage_folders(str(tmp_path / 'data'))), str(tmp_path / 'exp'))
    generator = torch.Generator().manual_seed(0)
    model.feed_data({'lq': torch.rand(2, 3, 8, 8, generator=generator),
                     'gt': torch.rand(2, 3, 16, 16, generator=generator)})
    optim = {'type': 'SGD', 'lr': 0.025, 'momentum': 0.9}
    both = first_steps.sharpness(model, optim, iters=30)
    weights = {name for name, p in model.net_g.named_parameters()
               if any(p is w for w in model.net_g.weight_parameters())}
    assert set(both['shares']) <= weights
    assert both['parameters'] == sum(p.numel() for p in model.net_g.weight_parameters())
    assert both['parameters'] + model.net_g.alpha.numel() + model.net_g.beta.numel() == sum(
        p.numel() for p in model.net_g.parameters())
    model.cri_ssim = None
    l1_only = first_steps.sharpness(model, optim, iters=30)
    assert both['loss'] > l1_only['loss'] > 0  # the search's loss is L1 + its LogSSIM term
    assert abs(both['eigenvalue'] - l1_only['eigenvalue']) > 1e-3 * abs(both['eigenvalue'])
