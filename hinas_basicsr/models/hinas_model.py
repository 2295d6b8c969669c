"""HiNASModel: SRModel with the reference's derived-net training recipe (param groups, clipping, poly lr)."""
from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from typing import Any

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import MODEL_REGISTRY
from torch import nn

from hinas_basicsr.models.lr_scheduler import setup_schedulers
from hinas_basicsr.models.numerics import autocast_forward, setup_numerics
from hinas_basicsr.utils.arg_checks import is_number


def bias_param_groups(net: nn.Module, lr: float, weight_decay: float, bias_lr_factor: float,
                      bias_weight_decay: float) -> list[dict[str, Any]]:
    """Two param groups: the weights (``lr``, ``weight_decay``) and the biases (``lr * bias_lr_factor``,
    ``bias_weight_decay``). A bias is a parameter whose name ends in ``bias`` (BN shifts included), as
    the reference's optimizer builder (maskrcnn-benchmark's) decides; frozen parameters are left out."""
    weights, biases = [], []
    for name, param in net.named_parameters():
        if param.requires_grad:
            (biases if name.rsplit('.', 1)[-1] == 'bias' else weights).append(param)
    groups = [{'params': weights, 'lr': lr, 'weight_decay': weight_decay},
              {'params': biases, 'lr': lr * bias_lr_factor, 'weight_decay': bias_weight_decay}]
    return [g for g in groups if g['params']]



def check_clip_grad_value(train_opt: Mapping[str, Any]) -> None:
    """``train.clip_grad_value``: absent (no clipping) or a positive number."""
    clip = train_opt.get('clip_grad_value')
    if clip is not None and not (is_number(clip) and clip > 0):
        raise ValueError(f'train.clip_grad_value: expected a positive value, got {clip!r}')

@MODEL_REGISTRY.register()
class HiNASModel(SRModel):
    """SRModel trained as the HiNAS reference trains derived nets (Zhang et al., IJCV 2022).

    Everything else is SRModel's (losses, validation, EMA, checkpoints). A training batch of (N, K, C, H, W)
    crops (``HiNASMultiCropDataset``: K crops of each of N images) is trained as N * K crops. It adds, as
    ``train:`` options:

    Args:
        optim_g (dict): As SRModel's, plus ``bias_lr_factor`` (float, lr multiplier of the biases,
            default 1) and ``bias_weight_decay`` (float, weight decay of the biases, default: the
            optimizer's ``weight_decay``). The reference: SGD, lr 0.05, momentum 0.9, weight_decay 4e-5,
            bias_lr_factor 2, bias_weight_decay 0.
        clip_grad_value (float): Clip each gradient element to [-v, v] before every step of
            ``optimizer_g`` (``torch.nn.utils.clip_grad_value_``; the reference: 5). Default: None (off).
        scheduler (dict): A BasicSR scheduler, or one of the plugin's (``PolyLR``: its ``total_iter``
            defaults to ``train.total_iter``).
        amp (str): ``bf16`` runs the training forward passes under bf16 autocast on the model's device (CUDA or
            CPU); the losses and the backward are computed in fp32. Default: None (fp32).
        deterministic (bool): Deterministic kernels, no cuDNN benchmark, no TF32
            (:func:`hinas_basicsr.models.numerics.set_deterministic`). Default: false.
    """

    def init_training_settings(self) -> None:
        self.amp_dtype = setup_numerics(self.opt['train'], self.device)
        super().init_training_settings()

    def optimize_parameters(self, current_iter: int) -> None:
        with autocast_forward(self.net_g, self.device, self.amp_dtype):
            super().optimize_parameters(current_iter)

    def setup_optimizers(self) -> None:
        optim_opt = deepcopy(self.opt['train']['optim_g'])
        optim_type = optim_opt.pop('type')
        lr, weight_decay = optim_opt.pop('lr'), optim_opt.pop('weight_decay', 0)
        bias_lr_factor = float(optim_opt.pop('bias_lr_factor', 1))
        bias_weight_decay = float(optim_opt.pop('bias_weight_decay', weight_decay))
        groups = bias_param_groups(self.net_g, lr, weight_decay, bias_lr_factor, bias_weight_decay)
        self.optimizer_g = self.get_optimizer(optim_type, groups, lr, **optim_opt)
        self.optimizers.append(self.optimizer_g)
        check_clip_grad_value(self.opt['train'])
        clip = self.opt['train'].get('clip_grad_value')
        if clip is not None:
            params = [p for g in groups for p in g['params']]
            # a pre-step hook: SRModel.optimize_parameters stays as it is, and clips between backward and step
            self.optimizer_g.register_step_pre_hook(
                lambda *_: torch.nn.utils.clip_grad_value_(params, float(clip)))

    def setup_schedulers(self) -> None:
        setup_schedulers(self, {'total_iter': self.opt['train'].get('total_iter')})

    def feed_data(self, data: dict[str, Any]) -> None:
        data = dict(data)
        for key in ('lq', 'gt'):
            if key in data and data[key].dim() == 5:  # (images, crops per image, C, H, W)
                data[key] = data[key].flatten(0, 1)
        super().feed_data(data)
