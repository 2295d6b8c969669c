"""HiNASNet: shapes per task and scale, parameter count by hand, skip-only cells, scale checks."""
import json
import logging
import os

import pytest
import torch
import yaml

import hinas_basicsr  # noqa: F401
from hinas_basicsr.archs.hinas_net_arch import HiNASNet
from hinas_basicsr.cli import basicsr_main
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.tools.options_check import check_options

OPS = ['conv_3x3', 'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5', 'skip_connect', 'none']


def genotype_dict(task='sr', scale=2, num_in_ch=3, cells=None, widths=(1, 2)):
    cells = cells or [
        [['conv_3x3', 1], ['skip_connect', 0], ['sep_conv_3x3', 2], ['dil_conv_3x3', 1]],
        [['sep_conv_5x5', 0], ['dil_conv_5x5', 1], ['conv_3x3', 2], ['skip_connect', 1]],
    ]
    return {'format': 'hinas-genotype', 'version': 1, 'task': task, 'scale': scale, 'num_in_ch': num_in_ch,
            'num_nodes': len(cells[0]) // 2, 'width_factors': [1, 1.5, 2], 'ops': OPS,
            'cells': cells, 'widths': list(widths)}


def count_params_by_hand(geno: dict, num_feat: int, use_aspp: bool, scale: int | None = None) -> int:
    """The parameter count of the derived net, from the genotype and the layer formulas alone."""
    scale = geno['scale'] if scale is None else scale
    def conv(c_in, c_out, k):  # no bias
        return c_in * c_out * k * k

    def bn(c):
        return 2 * c

    def op(name, c):
        return {'conv_3x3': conv(c, c, 3) + bn(c), 'dil_conv_3x3': conv(c, c, 3) + bn(c),
                'dil_conv_5x5': conv(c, c, 5) + bn(c), 'sep_conv_3x3': 2 * (c * 9 + c * c + bn(c)),
                'sep_conv_5x5': 2 * (c * 25 + c * c + bn(c)), 'skip_connect': 0}[name]

    def sep(c_in, c_out):  # decoder separable conv: depthwise 3x3, BN, act, pointwise, BN, act
        return c_in * 9 + bn(c_in) + c_in * c_out + bn(c_out)

    in_ch, nodes, widths = geno['num_in_ch'], geno['num_nodes'], geno['widths']
    total = conv(in_ch, 64, 3) + bn(64) + conv(64, 64, 3) + bn(64)
    c_pp, c_p = 64, 64
    for cell, level in zip(geno['cells'], widths):
        c = int(num_feat * geno['width_factors'][level])
        total += conv(c_pp, c, 1) + bn(c) + conv(c_p, c, 1) + bn(c) + sum(op(name, c) for name, _ in cell)
        c_pp, c_p = c_p, nodes * c
    if use_aspp:
        total += conv(c_p, 128, 1) + bn(128) + 3 * sep(c_p, 128) + conv(4 * 128, 128, 1) + bn(128)
    else:
        total += conv(c_p, 128, 1) + bn(128)
    c_low = nodes * int(num_feat * geno['width_factors'][0])
    if widths[-1] == 0 or 0 not in widths:  # low-level input from the stem: conv3x3 + BN without affine
        total += conv(64, c_low, 3)
    total += conv(c_low, 48, 1) + bn(48) + sep(176, 128) + sep(128, 128)
    c_out = in_ch * scale ** 2
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


@pytest.mark.parametrize('key,value,message', [
    ('upscale', 1, r"network_g.genotype: searched for task 'sr', but 'denoise' was asked for \(network_g.upscale: 1\)"),
    ('upscale', 5, 'network_g.upscale: 5 is a scale of no task'),
    ('num_in_ch', 1, 'network_g.num_in_ch: 1, but the genotype says 3'),
    ('num_out_ch', 1, 'network_g.num_out_ch: 1, but the genotype says 3')])
def test_disagreeing_arguments_name_both_values(key, value, message):
    with pytest.raises(ValueError, match=message):
        HiNASNet(genotype_dict(), **{key: value})


def test_denoise_genotype_refuses_an_sr_upscale():
    geno = genotype_dict(task='denoise', scale=1, num_in_ch=1, widths=(0, 1))
    message = r"searched for task 'denoise', but 'sr' was asked for \(network_g.upscale: 4\)"
    with pytest.raises(ValueError, match=message):
        HiNASNet(geno, upscale=4)
    assert HiNASNet(geno, upscale=1, num_feat=4).scale == 1


EXAMPLE = 'options/demo/genotype_example_sr_x2.json'
DENOISE_CELL = [['conv_3x3', 1], ['sep_conv_3x3', 0], ['dil_conv_3x3', 2], ['skip_connect', 1],
                ['sep_conv_5x5', 3], ['conv_3x3', 0], ['dil_conv_5x5', 4], ['conv_3x3', 2]]


@pytest.mark.parametrize('scale,widths,expected', [(4, [1, 1], 329_560), (4, [0, 1], 290_776),
                                                   (2, [1, 2], 326_940), (2, [0, 0], 245_132)])
def test_sr_param_count_equals_the_reference_net(scale, widths, expected):
    """The example genotype's cells, num_feat 16, ASPP: as many parameters as the reference's derived net."""
    with open(EXAMPLE) as f:
        geno = dict(json.load(f), scale=scale, widths=widths)
    net = HiNASNet(geno, num_feat=16)
    assert sum(p.numel() for p in net.parameters()) == expected == count_params_by_hand(geno, 16, True)


@pytest.mark.parametrize('widths,expected', [([1, 2, 2], 451_169), ([0, 1, 0], 269_809), ([0, 0, 1], 228_209)])
def test_denoise_param_count_equals_the_reference_net(widths, expected):
    geno = genotype_dict(task='denoise', scale=1, num_in_ch=1, cells=[DENOISE_CELL] * 3, widths=widths)
    net = HiNASNet(geno, num_feat=20)
    assert net.decoder.aspp[0].in_channels == 4 * int(20 * [1, 1.5, 2][widths[-1]])
    assert sum(p.numel() for p in net.parameters()) == expected == count_params_by_hand(geno, 20, False)


@pytest.mark.parametrize('widths,low_level', [((1, 1), None), ((0, 1), 0), ((0, 0), None), ((0, 1, 0), None),
                                              ((0, 0, 1), 1), ((1, 0, 1), 1), ((0, 1, 2), 0)])
def test_low_level_input_is_the_last_level0_cell_before_the_final_layer(widths, low_level):
    cells = [genotype_dict()['cells'][0]] * len(widths)
    net = HiNASNet(genotype_dict(cells=cells, widths=widths), num_feat=4)
    assert net.low_level_cell == low_level
    assert hasattr(net, 'reduce') == (low_level is None)  # the stem's reduce conv only where used
    seen = []
    net.decoder.proj.register_forward_hook(lambda module, inputs, out: seen.append(inputs[0]))
    outputs = []
    for cell in net.body:
        cell.register_forward_hook(lambda module, inputs, out: outputs.append(out))
    net.eval()(torch.rand(1, 3, 8, 8))
    expected = net.reduce(net.conv_second(net.conv_first(torch.rand(1, 3, 8, 8)))) if low_level is None \
        else outputs[low_level]
    assert seen[0].shape == expected.shape == (1, 2 * 4, 8, 8)
    if low_level is not None:
        assert seen[0] is outputs[low_level]


@pytest.mark.slow
def test_x4_genotype_built_and_trained_at_x2():
    """One SR search serves every scale: an x4 genotype, upscale 2, trains (loss falls, weights move)."""
    with open(EXAMPLE) as f:
        geno = dict(json.load(f), scale=4)
    torch.manual_seed(0)
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger('basicsr')  # BasicSR's root logger (it does not propagate; INFO while training)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        net = HiNASNet(geno, num_feat=4, upscale=2)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [r.getMessage() for r in records] == ['HiNASNet: genotype searched at x4, built at x2.']
    assert net.scale == 2 and net.decoder.conv_last.out_channels == 3 * 2 ** 2
    lq = torch.rand(2, 3, 8, 8)
    gt = torch.nn.functional.interpolate(lq, scale_factor=2, mode='bicubic', align_corners=False) + 0.1
    assert net(lq).shape == gt.shape == (2, 3, 16, 16)
    before = net.decoder.conv_last.weight.detach().clone()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        optimizer.zero_grad()
        loss = torch.nn.functional.l1_loss(net(lq), gt)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(0.1, abs=1e-6)  # the untrained net is bicubic
    assert losses[-1] < losses[0]
    assert not torch.equal(before, net.decoder.conv_last.weight)


def test_genotype_object_and_path_give_same_net(tmp_path):
    path = tmp_path / 'g.json'
    path.write_text(json.dumps(genotype_dict()))
    a = HiNASNet(str(path), num_feat=4)
    b = HiNASNet(Genotype.from_dict(genotype_dict()), num_feat=4)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def _write_option(tmp_path, scale, genotype=EXAMPLE, upscale=None):
    """options/train_hinas_sr_x2.yml with ``genotype``, top-level ``scale`` and ``network_g.upscale`` (None: unset)."""
    with open('options/train_hinas_sr_x2.yml') as f:
        opt = yaml.safe_load(f)
    opt['scale'] = scale
    opt['network_g']['genotype'] = os.path.abspath(genotype)
    opt['network_g'].pop('upscale', None)
    if upscale is not None:
        opt['network_g']['upscale'] = upscale
    path = tmp_path / 'opt.yml'
    path.write_text(yaml.safe_dump(opt))
    return str(path)


def _cli_refusal(tmp_path, monkeypatch, capsys, opt_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('HINAS_DEBUG', raising=False)
    assert basicsr_main(['train', '-opt', opt_path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert not (tmp_path / 'experiments').exists()
    return err


def test_top_level_scale_mismatch_without_upscale_is_one_line_before_anything_is_written(tmp_path, monkeypatch,
                                                                                         capsys):
    opt_path = _write_option(tmp_path, 3)
    with pytest.raises(ValueError, match='scale: 3, but network_g.genotype was searched at x2; '
                                         'set network_g.upscale: 3'):
        check_options(opt_path, is_train=True)
    err = _cli_refusal(tmp_path, monkeypatch, capsys, opt_path)
    assert 'scale: 3' in err and 'x2' in err


@pytest.mark.parametrize('upscale,option', [(None, 'scale: 2'), (2, 'network_g.upscale: 2')])
def test_denoise_genotype_for_sr_is_refused_in_one_line(tmp_path, monkeypatch, capsys, upscale, option):
    with open(EXAMPLE) as f:
        geno = dict(json.load(f), task='denoise', scale=1, num_in_ch=1)
    geno_path = tmp_path / 'denoise.json'
    geno_path.write_text(json.dumps(geno))
    opt_path = _write_option(tmp_path, 2, geno_path, upscale)
    err = _cli_refusal(tmp_path, monkeypatch, capsys, opt_path)
    assert f"network_g.genotype: searched for task 'denoise', but 'sr' was asked for ({option})" in err


def test_genotype_check_against_scale_and_upscale():
    from hinas_basicsr.tools.options_check import check_hinas_networks
    sr, denoise = genotype_dict(), genotype_dict(task='denoise', scale=1, num_in_ch=1)

    def check(scale, genotype, **network):
        check_hinas_networks({'scale': scale, 'network_g': {'type': 'HiNASNet', 'genotype': genotype, **network}},
                             'x.yml')

    check(2, sr)
    check(4, sr, upscale=4)  # an x2 search trains at x4
    check(8, sr, upscale=8)
    check(1, denoise)
    for args, message in [((4, sr), 'x.yml: scale: 4, but network_g.genotype was searched at x2; '
                                    'set network_g.upscale: 4 to build the net at x4'),
                          ((4, sr, 3), 'x.yml: scale: 4, but network_g.upscale is 3'),
                          ((1, sr), "x.yml: network_g.genotype: searched for task 'sr', but 'denoise' was asked for "
                                    r'\(scale: 1\)'),
                          ((2, sr, 1), "searched for task 'sr', but 'denoise' was asked for "
                                       r'\(network_g.upscale: 1\)'),
                          ((4, denoise), "searched for task 'denoise', but 'sr' was asked for \\(scale: 4\\)")]:
        with pytest.raises(ValueError, match=message):
            check(*args[:2], **({'upscale': args[2]} if len(args) > 2 else {}))


def test_compare_takes_an_sr_genotype_of_another_scale_built_at_the_test_scale():
    from hinas_basicsr.tools.networks import check_network_task
    x4 = genotype_dict(scale=4)
    check_network_task({'type': 'HiNASNet', 'genotype': x4, 'upscale': 2}, 'sr', 2, 'n.yml')
    check_network_task({'type': 'HiNASNet', 'genotype': x4}, 'sr', 4, 'n.yml')
    with pytest.raises(ValueError, match='n.yml: network_g is built at x4, but the test scale is 2'):
        check_network_task({'type': 'HiNASNet', 'genotype': x4}, 'sr', 2, 'n.yml')
    with pytest.raises(ValueError, match="n.yml genotype: searched for task 'sr', but 'denoise' was asked for"):
        check_network_task({'type': 'HiNASNet', 'genotype': x4, 'upscale': 2}, 'denoise', 1, 'n.yml')
