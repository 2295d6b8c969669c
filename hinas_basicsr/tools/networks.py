"""A trained network from a BasicSR option file: ``network_g`` built by BasicSR, weights from a checkpoint.

Used by ``hinas compare`` (and so ``hinas demo``) and ``hinas export``.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from hinas_basicsr.space.genotype import resolve_genotype
from hinas_basicsr.tools.options_check import check_networks
from hinas_basicsr.utils.checkpoints import check_fits, load_state
from hinas_basicsr.utils.options_file import load_yaml


def default_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def check_network_task(network_opt: dict[str, Any], task: str, scale: int, source: str) -> None:
    """Refuse a network built for another task or scale (HiNASNet: its genotype's task; the scale it is
    built at, ``upscale`` or else the genotype's: an SR genotype serves every SR scale)."""
    built = network_opt.get('upscale', scale)
    if network_opt.get('type') == 'HiNASNet':
        genotype = resolve_genotype(network_opt['genotype'])
        genotype.check_compatible(task=task, source=f'{source} genotype')
        built = network_opt.get('upscale', genotype.scale)
    if task == 'sr' and built != scale:
        raise ValueError(f'{source}: network_g is built at x{built}, but the test scale is {scale}')


def load_network(option: str, checkpoint: str | None = None, device: torch.device | None = None,
                 task: str | None = None, scale: int | None = None, option_name: str = '-opt',
                 checkpoint_name: str = 'checkpoint') -> nn.Module:
    """Build ``network_g`` of a BasicSR option file, load its checkpoint, move it to ``device``, eval mode.

    The checkpoint defaults to the options' ``path.pretrain_network_g``; its entry is the options'
    ``path.param_key_g`` where they set one (see :func:`load_state`). With ``task``/``scale``, a
    network made for another task or scale is refused before any weight is read. ``option_name`` and
    ``checkpoint_name`` are the command-line options that gave the files, for the messages.
    """
    from basicsr.archs import build_network

    opt = load_yaml(option, option_name)
    if 'network_g' not in opt:
        raise ValueError(f'{option}: missing option network_g')
    if task is not None and scale is not None:
        check_network_task(opt['network_g'], task, scale, option)
    path_opt = opt.get('path') or {}
    if not checkpoint:
        checkpoint, checkpoint_name = path_opt.get('pretrain_network_g'), f'{option}: path.pretrain_network_g'
    if not checkpoint:
        raise ValueError(f'{option}: no checkpoint given and path.pretrain_network_g is empty')
    check_networks(option, opt)  # its type, options and shapes, on the meta device, before a weight is read
    weights = load_state(checkpoint, path_opt.get('param_key_g'), checkpoint_name)
    net = build_network(copy.deepcopy(opt['network_g']))
    check_fits(net, weights, checkpoint, f'network_g of {option}', option=checkpoint_name)
    net.load_state_dict(weights, strict=True)
    return net.to(device or default_device()).eval()
