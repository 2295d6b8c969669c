"""Deploy form (BatchNorm folded) and ONNX export of a derived HiNAS net."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from conftest import REPO
from net_helpers import trained_like
from torch import nn

from hinas_basicsr.archs.hinas_net_arch import HiNASNet
from hinas_basicsr.cli import hinas_main
from hinas_basicsr.tools import deploy

GENOTYPE = json.loads((REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json').read_text())


@pytest.fixture
def net() -> nn.Module:
    torch.manual_seed(0)
    return trained_like(HiNASNet(GENOTYPE, num_feat=8))


def test_fold_batchnorm_removes_every_bn_and_keeps_outputs(net):
    x = torch.rand(2, 3, 24, 20)
    folded = deploy.fold_batchnorm(net)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) > 10
    assert not net.reduce[1].affine  # a BN without affine terms folds too
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        assert deploy.max_abs_diff(folded(x), net(x)) <= 1e-4
    assert sum(p.numel() for p in folded.parameters()) < sum(p.numel() for p in net.parameters())


@pytest.mark.slow
def test_onnx_matches_onnxruntime(net, tmp_path):
    pytest.importorskip('onnxruntime')
    folded = deploy.fold_batchnorm(net)
    path = str(tmp_path / 'net.onnx')
    deploy.export_onnx(folded, torch.rand(1, 3, 16, 16), path)
    x = torch.rand(1, 3, 24, 32)  # another size than the traced one: the axes are dynamic
    with torch.no_grad():
        expected = net(x)
    out = deploy.run_onnx(path, x)
    assert out.shape == (1, 3, 48, 64)
    assert deploy.max_abs_diff(out, expected) <= 1e-4


@pytest.mark.slow
def test_export_command_writes_checked_files(net, tmp_path, capsys):
    pytest.importorskip('onnxruntime')
    checkpoint = tmp_path / 'net.pth'
    torch.save({'params': net.state_dict()}, checkpoint)
    opt = {'network_g': {'type': 'HiNASNet', 'genotype': GENOTYPE, 'num_feat': 8}}
    opt_path = tmp_path / 'net.yml'
    opt_path.write_text(yaml.safe_dump(opt))
    ts, onnx_path = tmp_path / 'out' / 'net_deploy.pt', tmp_path / 'out' / 'net.onnx'
    code = hinas_main(['export', '-opt', str(opt_path), '--weights', str(checkpoint), '--deploy',
                       '--out', str(ts), '--onnx', str(onnx_path), '--input-size', '16', '16'])
    assert code == 0, capsys.readouterr().err
    scripted = torch.jit.load(str(ts))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert deploy.max_abs_diff(scripted(x), net(x)) <= 1e-4
    assert deploy.max_abs_diff(deploy.run_onnx(str(onnx_path), x), net(x)) <= 1e-4
    assert sorted(p.name for p in ts.parent.iterdir()) == ['net.onnx', 'net_deploy.pt']  # no temporary files


def test_export_missing_checkpoint_is_one_line(tmp_path, capsys):
    opt_path = tmp_path / 'net.yml'
    opt_path.write_text(yaml.safe_dump({'network_g': {'type': 'HiNASNet', 'genotype': GENOTYPE}}))
    code = hinas_main(['export', '-opt', str(opt_path), '--weights', str(tmp_path / 'nope.pth')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and 'nope.pth' in err[0] and 'does not exist' in err[0]
    assert not (tmp_path / 'results').exists()
