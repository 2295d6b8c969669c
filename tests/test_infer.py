"""``hinas infer``: tiles equal the whole image, sizes per task, colour handling, bad files and arguments."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from net_helpers import trained_like
from torch import nn

from hinas_basicsr.archs.hinas_net_arch import HiNASNet
from hinas_basicsr.cli import hinas_main
from hinas_basicsr.tools import deploy, infer

SR_GENOTYPE = json.loads((REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json').read_text())
DENOISE_GENOTYPE = {**SR_GENOTYPE, 'task': 'denoise', 'scale': 1, 'num_in_ch': 1}
CPU = torch.device('cpu')


def _edsr(scale: int, num_block: int = 2) -> nn.Module:
    from basicsr.archs.edsr_arch import EDSR

    torch.manual_seed(0)
    return trained_like(EDSR(3, 3, num_feat=8, num_block=num_block, upscale=scale), he_convs=True)


def _write_option(tmp_path, network_g: dict, net: nn.Module, name: str = 'net') -> tuple[str, str]:
    """An option file with this network_g and a BasicSR checkpoint of ``net``'s weights."""
    checkpoint = tmp_path / f'{name}.pth'
    torch.save({'params': net.state_dict()}, checkpoint)
    option = tmp_path / f'{name}.yml'
    option.write_text(yaml.safe_dump({'name': name, 'network_g': network_g}))
    return str(option), str(checkpoint)


def _photo(size: tuple[int, int], gray: bool = False) -> np.ndarray:
    from skimage import data

    img = data.astronaut()[100:100 + size[0], 150:150 + size[1], ::-1]
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if gray else img)


@pytest.mark.slow
def test_tiled_equals_whole_image_for_a_trained_shape_hinas_net():
    torch.manual_seed(0)
    net = trained_like(HiNASNet(SR_GENOTYPE, num_feat=8), he_convs=True)
    shape = infer.probe_shape(net, CPU)
    field = infer.receptive_field(net, shape, CPU)
    assert shape == infer.NetworkShape(3, 3, 2)
    assert field.radius is not None and 4 < field.radius < 48
    x = torch.rand(1, 3, 70, 53, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = net(x)
        tiled = infer.tiled_forward(net, x, 2, 24, field.radius)
        unpadded = infer.tiled_forward(net, x, 2, 24, 0)
    assert len(infer.tile_boxes(70, 53, 24)) == 9
    assert tiled.shape == whole.shape == (1, 3, 140, 106)
    assert deploy.max_abs_diff(tiled, whole) <= 1e-4
    assert deploy.max_abs_diff(unpadded, whole) > 1e-2  # without context the seams show: the check can fail


@pytest.mark.slow
@pytest.mark.parametrize('scale', [2, 3])
def test_edsr_radius_is_its_conv_count(scale):
    # conv_first, 2 per residual block, conv_after_body, the LR conv of the upsampler, and conv_last
    # (one HR pixel, less than one LR pixel: it reaches into the next LR pixel).
    net = _edsr(scale, num_block=3)
    field = infer.receptive_field(net, infer.probe_shape(net, CPU), CPU)
    assert field.radius == 1 + 2 * 3 + 1 + 1 + 1
    x = torch.rand(1, 3, 40, 33)
    with torch.no_grad():
        whole = net(x)
        assert deploy.max_abs_diff(infer.tiled_forward(net, x, scale, 12, field.radius), whole) <= 1e-4
        assert deploy.max_abs_diff(infer.tiled_forward(net, x, scale, 12, field.radius - 2), whole) > 1e-4


def test_rcan_is_reported_as_global():
    from basicsr.archs.rcan_arch import RCAN

    net = RCAN(3, 3, num_feat=8, num_group=1, num_block=1, squeeze_factor=4, upscale=2).eval()
    field = infer.receptive_field(net, infer.probe_shape(net, CPU), CPU)
    assert field.radius is None and 'AdaptiveAvgPool2d' in field.reason
    assert 'cannot equal' in field.describe()
    traced = torch.jit.trace(net, torch.rand(1, 3, 12, 12))  # a TorchScript file from hinas export
    assert 'AdaptiveAvgPool2d' in infer.receptive_field(traced, infer.probe_shape(traced, CPU), CPU).reason


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_cli_output_sizes_sr(tmp_path, scale, capsys):
    net = _edsr(scale)
    option, checkpoint = _write_option(tmp_path, {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8,
                                                  'num_block': 2, 'upscale': scale}, net)
    cv2.imwrite(str(tmp_path / 'photo.png'), _photo((30, 41)))
    out = tmp_path / 'out'
    assert hinas_main(['infer', '-opt', option, '--weights', checkpoint, '-i', str(tmp_path / 'photo.png'),
                       '-o', str(out), '--device', 'cpu']) == 0
    written = cv2.imread(str(out / 'photo_hinas.png'), cv2.IMREAD_UNCHANGED)
    assert written.shape == (30 * scale, 41 * scale, 3)
    with torch.no_grad():
        expected = net(torch.from_numpy(_photo((30, 41))[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255.)
    expected = np.round(expected[0].clamp(0, 1).numpy().transpose(1, 2, 0)[..., ::-1] * 255.)
    assert np.abs(written.astype(float) - expected).max() <= 1
    assert f'x{scale} super-resolution' in capsys.readouterr().out


@pytest.mark.slow
def test_cli_tiles_match_whole_image_and_denoise_keeps_size(tmp_path, capsys):
    torch.manual_seed(0)
    net = trained_like(HiNASNet(DENOISE_GENOTYPE, num_feat=8), he_convs=True)
    option, checkpoint = _write_option(tmp_path, {'type': 'HiNASNet', 'genotype': DENOISE_GENOTYPE,
                                                  'num_feat': 8}, net)
    cv2.imwrite(str(tmp_path / 'noisy.png'), _photo((50, 37), gray=True))
    common = ['infer', '-opt', option, '--weights', checkpoint, '-i', str(tmp_path / 'noisy.png'), '--device', 'cpu']
    assert hinas_main([*common, '-o', str(tmp_path / 'whole')]) == 0
    assert hinas_main([*common, '-o', str(tmp_path / 'tiled'), '--tile', '16']) == 0
    printed = capsys.readouterr().out
    assert 'receptive field: radius' in printed and 'denoising' in printed
    whole = cv2.imread(str(tmp_path / 'whole' / 'noisy_hinas.png'), cv2.IMREAD_UNCHANGED)
    tiled = cv2.imread(str(tmp_path / 'tiled' / 'noisy_hinas.png'), cv2.IMREAD_UNCHANGED)
    assert whole.shape == tiled.shape == (50, 37)
    assert np.abs(whole.astype(int) - tiled).max() <= 1  # equal before rounding to 1e-4


@pytest.mark.slow
def test_cli_colour_conversions(tmp_path, capsys):
    """A gray photo to a colour net is replicated to 3 channels; a colour photo to a gray net becomes gray."""
    torch.manual_seed(0)
    colour_net = _edsr(2)
    gray_net = trained_like(HiNASNet(DENOISE_GENOTYPE, num_feat=8), he_convs=True)
    colour_opt = _write_option(tmp_path, {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8,
                                          'num_block': 2, 'upscale': 2}, colour_net, 'colour')
    gray_opt = _write_option(tmp_path, {'type': 'HiNASNet', 'genotype': DENOISE_GENOTYPE, 'num_feat': 8},
                             gray_net, 'gray')
    cv2.imwrite(str(tmp_path / 'g.png'), _photo((20, 24), gray=True))
    cv2.imwrite(str(tmp_path / 'c.png'), _photo((20, 24)))
    assert hinas_main(['infer', '-opt', colour_opt[0], '--weights', colour_opt[1], '-i', str(tmp_path / 'g.png'),
                       '-o', str(tmp_path / 'o1'), '--device', 'cpu']) == 0
    assert hinas_main(['infer', '-opt', gray_opt[0], '--weights', gray_opt[1], '-i', str(tmp_path / 'c.png'),
                       '-o', str(tmp_path / 'o2'), '--device', 'cpu']) == 0
    printed = capsys.readouterr().out
    assert 'gray replicated to 3 channels' in printed and 'colour converted to gray' in printed
    from_gray = cv2.imread(str(tmp_path / 'o1' / 'g_hinas.png'), cv2.IMREAD_UNCHANGED)
    assert from_gray.shape == (40, 48, 3)
    from_colour = cv2.imread(str(tmp_path / 'o2' / 'c_hinas.png'), cv2.IMREAD_UNCHANGED)
    gray_in = cv2.cvtColor(_photo((20, 24)).astype(np.float32) / 255., cv2.COLOR_BGR2GRAY)
    with torch.no_grad():
        expected = gray_net(torch.from_numpy(gray_in)[None, None])[0, 0].clamp(0, 1).numpy()
    assert from_colour.shape == (20, 24)
    assert np.abs(from_colour - np.round(expected * 255.)).max() <= 1


def test_cli_skips_a_corrupt_file_and_exits_1(tmp_path, capsys):
    net = _edsr(2)
    option, checkpoint = _write_option(tmp_path, {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8,
                                                  'num_block': 2, 'upscale': 2}, net)
    folder = tmp_path / 'in'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), _photo((16, 16)))
    (folder / 'b.png').write_bytes(b'not a png at all')
    cv2.imwrite(str(folder / 'c.jpg'), _photo((12, 20)))
    out = tmp_path / 'out'
    assert hinas_main(['infer', '-opt', option, '--weights', checkpoint, '-i', str(folder), '-o', str(out),
                       '--device', 'cpu', '--tile', '8']) == 1
    assert sorted(p.name for p in out.iterdir()) == ['a_hinas.png', 'c_hinas.png']
    assert cv2.imread(str(out / 'c_hinas.png')).shape == (24, 40, 3)
    err = capsys.readouterr().err
    assert f'{folder / "b.png"}: not a readable image' in err


def test_cli_torchscript_model(tmp_path):
    net = _edsr(2)
    model = tmp_path / 'net.pt'
    deploy.save_torchscript(net, torch.rand(1, 3, 16, 16), str(model))
    cv2.imwrite(str(tmp_path / 'p.png'), _photo((26, 19)))
    assert hinas_main(['infer', '--torchscript', str(model), '-i', str(tmp_path / 'p.png'), '-o', str(tmp_path / 'o'),
                       '--device', 'cpu', '--tile', '10']) == 0
    assert cv2.imread(str(tmp_path / 'o' / 'p_hinas.png')).shape == (52, 38, 3)


@pytest.mark.parametrize('extra, message', [
    (['--fp16', '--device', 'cpu'], '--fp16: half precision needs CUDA'),
    (['--tile', '-1'], '--tile: expected 0'),
    (['--weights', 'nowhere.pth'], 'nowhere.pth does not exist'),
    (['--device', 'cpu', '-i', 'SAME_STEM'], 'several inputs would write'),
])
def test_cli_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    net = _edsr(2)
    option, _ = _write_option(tmp_path, {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8,
                                         'num_block': 2, 'upscale': 2}, net)
    cv2.imwrite(str(tmp_path / 'p.png'), _photo((16, 16)))
    (tmp_path / 'same').mkdir()
    for name in ('p.png', 'p.jpg'):
        cv2.imwrite(str(tmp_path / 'same' / name), _photo((16, 16)))
    extra = [str(tmp_path / 'same') if arg == 'SAME_STEM' else arg for arg in extra]
    assert hinas_main(['infer', '-opt', option, '-i', str(tmp_path / 'p.png'), '-o', str(tmp_path / 'o'),
                       *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()


def test_receptive_field_ignores_gradients_at_rounding_level():
    """FFT or Winograd convolutions (cuDNN) leave gradients of about 1e-7 of the largest on every input pixel:
    the probe's threshold is relative, so they do not make a local net look global."""

    class RoundingNoise(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) + 1e-7 * x.sum(dim=(1, 2, 3), keepdim=True)  # every pixel, at rounding level

    torch.manual_seed(0)
    net = RoundingNoise()
    field = infer.receptive_field(net, infer.NetworkShape(3, 3, 1), CPU)
    assert field.radius == 1
    net.forward = lambda x: net.conv(x) + 1e-3 * x.sum(dim=(1, 2, 3), keepdim=True)  # a real, weak dependency
    assert infer.receptive_field(net, infer.NetworkShape(3, 3, 1), CPU).radius is None
