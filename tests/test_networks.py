"""hinas_basicsr.tools.networks: which weights of a BasicSR checkpoint a network gets."""
import pytest
import torch
import yaml

import hinas_basicsr  # noqa: F401
from hinas_basicsr.tools.networks import load_network

EDSR = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1, 'upscale': 2}


@pytest.mark.parametrize('param_key, expected', [(None, 'params_ema'), ('params', 'params'),
                                                 ('params_ema', 'params_ema'), ('absent', 'params')])
def test_checkpoint_entry_follows_param_key_g(tmp_path, param_key, expected):
    """As basicsr test: path.param_key_g, or params where that entry is missing; unset: params_ema first."""
    from basicsr.archs import build_network

    torch.manual_seed(0)
    saved = {key: build_network(dict(EDSR)).state_dict() for key in ('params', 'params_ema')}
    torch.save(saved, tmp_path / 'net.pth')
    path_opt = {'pretrain_network_g': str(tmp_path / 'net.pth')}
    if param_key:
        path_opt['param_key_g'] = param_key
    (tmp_path / 'net.yml').write_text(yaml.safe_dump({'network_g': EDSR, 'path': path_opt}))
    net = load_network(str(tmp_path / 'net.yml'), device=torch.device('cpu'))
    weight = net.state_dict()['conv_first.weight']
    assert torch.equal(weight, saved[expected]['conv_first.weight'])
    other = 'params' if expected == 'params_ema' else 'params_ema'
    assert not torch.equal(weight, saved[other]['conv_first.weight'])
