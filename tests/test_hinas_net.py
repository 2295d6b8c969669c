"""HiNASNet: shapes per task and scale, parameter count by hand, skip-only cells, scale checks."""
import copy
import json
import os

import pytest
import torch

import hinas_basicsr  # noqa: F401
from hinas_basicsr.archs.hinas_net_arch import HiNASNet
from hinas_basicsr.cli import basicsr_main
from hinas_basicsr.genotype import Genotype
from hinas_basicsr.options_check import check_options

OPS = ['conv_3x3', 'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5', 'skip_connect', 'none']


def genotype_dict(task='sr', scale=2, num_in_ch=3, cells=None, widths=(1, 2)):
    cells = cells or [
        [['conv_3x3', 1], ['skip_connect', 0], ['sep_conv_3x3', 2], ['dil_conv_3x3', 1]],
        [['sep_conv_5x5', 0], ['dil_conv_5x5', 1], ['conv_3x3', 2], ['skip_connect', 1]],
    ]
    return {'format': 'hinas-genotype', 'version': 1, 'task': task, 'scale': scale, 'num_in_ch': num_in_ch,
            'num_nodes': len(cells[0]) // 2, 'width_factors': [1, 1.5, 2], 'ops': OPS,
            'cells': cells, 'widths': list(widths)}


def count_params_by_hand(geno: dict, num_feat: int, use_aspp: bool) -> int:
    """The parameter count of the derived net, from the genotype and the layer formulas alone."""
    def conv(c_in, c_out, k):  # no bias
        return c_in * c_out * k * k

    def bn(c):
        return 2 * c

    def op(name, c):
        return {'conv_3x3': conv(c, c, 3) + bn(c), 'dil_conv_3x3': conv(c, c, 3) + bn(c),
                'dil_conv_5x5': conv(c, c, 5) + bn(c), 'sep_conv_3x3': 2 * (c * 9 + c * c + bn(c)),
                'sep_conv_5x5': 2 * (c * 25 + c * c + bn(c)), 'skip_connect': 0}[name]

    def sep(c_in, c_out):  # decoder separable conv: depthwise 3x3, pointwise, BN
        return c_in * 9 + c_in * c_out + bn(c_out)

    in_ch, nodes = geno['num_in_ch'], geno['num_nodes']
    total = conv(in_ch, 64, 3) + bn(64) + conv(64, 64, 3) + bn(64)
    c_pp, c_p = 64, 64
    for cell, level in zip(geno['cells'], geno['widths']):
        c = int(num_feat * geno['width_factors'][level])
        total += conv(c_pp, c, 1) + bn(c) + conv(c_p, c, 1) + bn(c) + sum(op(name, c) for name, _ in cell)
        c_pp, c_p = c_p, nodes * c
    if use_aspp:
        total += conv(c_p, 128, 1) + bn(128) + 3 * sep(c_p, 128) + conv(4 * 128, 128, 1) + bn(128)
    else:
        total += conv(c_p, 128, 1) + bn(128)
    total += conv(64, 48, 1) + bn(48) + sep(176, 128) + sep(128, 128)
    c_out = in_ch * geno['scale'] ** 2
    return total + conv(128, c_out, 3) + c_out


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_sr_output_shape(scale):
    net = HiNASNet(genotype_dict(scale=scale), num_feat=8).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 10, 12))
    assert out.shape == (1, 3, 10 * scale, 12 * scale)


def test_gray_denoise_output_shape_and_residual():
    geno = genotype_dict(task='denoise', scale=1, num_in_ch=1, widths=(0, 1))
    net = HiNASNet(geno, num_feat=6)
    assert not any('aspp.branches' in name for name, _ in net.named_parameters())
    x = torch.rand(2, 1, 12, 12)
    out = net(x)
    assert out.shape == (2, 1, 12, 12)
    out.mean().backward()  # trains


@pytest.mark.parametrize('task,scale,num_in_ch,use_aspp', [('sr', 2, 3, True), ('sr', 4, 3, True),
                                                            ('denoise', 1, 1, False), ('sr', 3, 3, False)])
def test_param_count_matches_hand_count(task, scale, num_in_ch, use_aspp):
    geno = genotype_dict(task=task, scale=scale, num_in_ch=num_in_ch)
    net = HiNASNet(geno, num_feat=10, use_aspp=use_aspp)
    assert sum(p.numel() for p in net.parameters()) == count_params_by_hand(geno, 10, use_aspp)


def test_example_genotype_file_param_count():
    with open('options/demo/genotype_example_sr_x2.json') as f:
        geno = json.load(f)
    net = HiNASNet('options/demo/genotype_example_sr_x2.json', num_feat=16)
    assert sum(p.numel() for p in net.parameters()) == count_params_by_hand(geno, 16, True)


def test_skip_connect_only_cell_builds_and_runs():
    cells = [[['skip_connect', 0], ['skip_connect', 1], ['skip_connect', 2], ['skip_connect', 0]]] * 2
    geno = genotype_dict(cells=cells, widths=(0, 0))
    net = HiNASNet(geno, num_feat=4, drop_path=0.5)
    out = net(torch.rand(1, 3, 8, 8))
    assert out.shape == (1, 3, 16, 16)
    assert sum(p.numel() for p in net.parameters()) == count_params_by_hand(geno, 4, True)


def test_drop_path_only_while_training():
    torch.manual_seed(0)
    net = HiNASNet(genotype_dict(), num_feat=4, drop_path=0.5).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


@pytest.mark.parametrize('key,value', [('upscale', 3), ('num_in_ch', 1), ('num_out_ch', 1)])
def test_disagreeing_arguments_name_both_values(key, value):
    with pytest.raises(ValueError, match=f'network_g.{key}: {value}, but the genotype says'):
        HiNASNet(genotype_dict(), **{key: value})


def test_genotype_object_and_path_give_same_net(tmp_path):
    path = tmp_path / 'g.json'
    path.write_text(json.dumps(genotype_dict()))
    a = HiNASNet(str(path), num_feat=4)
    b = HiNASNet(Genotype.from_dict(genotype_dict()), num_feat=4)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def _write_option(tmp_path, scale):
    with open('options/train_hinas_sr_x2.yml') as f:
        text = f.read()
    example = os.path.abspath('options/demo/genotype_example_sr_x2.json')
    text = text.replace('experiments/search_sr_x4/genotypes/best.json', example)
    text = text.replace('\nscale: 2\n', f'\nscale: {scale}\n')
    path = tmp_path / 'opt.yml'
    path.write_text(text)
    return str(path)


def test_top_level_scale_mismatch_is_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys):
    opt_path = _write_option(tmp_path, 3)
    with pytest.raises(ValueError, match='searched for scale 2, but the options say scale 3'):
        check_options(opt_path, is_train=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('HINAS_DEBUG', raising=False)
    assert basicsr_main(['train', '-opt', opt_path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'scale 2' in err and 'scale 3' in err
    assert not (tmp_path / 'experiments').exists()


def test_matching_scale_passes_the_genotype_check(tmp_path):
    opt = copy.deepcopy(genotype_dict())
    assert opt['scale'] == 2
    from hinas_basicsr.options_check import check_hinas_networks
    check_hinas_networks({'scale': 2, 'network_g': {'type': 'HiNASNet', 'genotype': opt}}, 'x.yml')
    message = 'x.yml: network_g.genotype: searched for scale 2, but the options say scale 4'
    with pytest.raises(ValueError, match=message):
        check_hinas_networks({'scale': 4, 'network_g': {'type': 'HiNASNet', 'genotype': opt}}, 'x.yml')
