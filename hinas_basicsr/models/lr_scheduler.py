"""The plugin's learning-rate schedulers, in a registry that the plugin's models consult before BasicSR's names.

BasicSR 1.4.2's ``BaseModel.setup_schedulers`` knows three scheduler names through an if/elif; a model
here calls :func:`setup_schedulers` instead, which builds ``train.scheduler`` from
:data:`SCHEDULER_REGISTRY` when its ``type`` is registered there and hands every other name to BasicSR.

BasicSR steps the schedulers once per iteration (from iteration 2 on), so ``last_epoch`` of a scheduler
here counts iterations; the epoch-based :class:`CosinePolyLR` converts with ``iters_per_epoch``.
"""
from __future__ import annotations

import inspect
import math
from copy import deepcopy
from typing import Any

import torch
from basicsr.utils.registry import Registry
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from hinas_basicsr.utils.arg_checks import number

SCHEDULER_REGISTRY = Registry('scheduler')
BASICSR_SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')  # BaseModel's if/elif


@SCHEDULER_REGISTRY.register()
class CosinePolyLR(LRScheduler):
    """HiNAS's weight lr during the search: a cosine wave under a poly decay, constant within an epoch.

    For epoch ``e = iteration // iters_per_epoch`` and each param group's initial lr ``base``::

        lr = eta_min + (base - eta_min) * (1 + cos(2 * pi * e / period)) / 2 * max(0, 1 - e / epochs) ** power

    With the defaults and ``optim_g.lr: 0.025`` this is the reference search's
    ``0.001 + 0.024 * (1 + cos(pi * e / 10)) / 2 * (1 - e / 100) ** 0.9``. Past ``epochs`` it stays at eta_min.

    Args:
        optimizer (Optimizer): The wrapped optimizer.
        iters_per_epoch (int): Iterations in one epoch. The plugin's models fill it in when the options
            leave it out (HiNASSearchModel: batches of the W split per pass). Required otherwise.
        eta_min (float): The lr that the wave and the decay fall to. Default: 0.001.
        period (float): Period of the cosine wave, in epochs. Default: 20.
        epochs (int): Epochs of the poly decay (the search's length). Default: 100.
        power (float): Power of the poly decay. Default: 0.9.
        last_epoch (int): The index of the last iteration (torch's name). Default: -1.
    """

    def __init__(self, optimizer: Optimizer, iters_per_epoch: int, eta_min: float = 0.001, period: float = 20,
                 epochs: int = 100, power: float = 0.9, last_epoch: int = -1) -> None:
        number(iters_per_epoch, 'train.scheduler.iters_per_epoch', 1, integer=True)
        number(eta_min, 'train.scheduler.eta_min', 0)
        number(period, 'train.scheduler.period', 0, above=True)
        number(epochs, 'train.scheduler.epochs', 1, integer=True)
        number(power, 'train.scheduler.power', 0)
        self.iters_per_epoch, self.eta_min, self.period = iters_per_epoch, eta_min, period
        self.epochs, self.power = epochs, power
        super().__init__(optimizer, last_epoch)

    def lr_at_epoch(self, epoch: int, base_lr: float) -> float:
        """The lr of a param group whose initial lr is ``base_lr``, during epoch ``epoch``."""
        wave = (1 + math.cos(2 * math.pi * epoch / self.period)) / 2
        decay = max(0.0, 1 - epoch / self.epochs) ** self.power
        return self.eta_min + (base_lr - self.eta_min) * wave * decay

    def get_lr(self) -> list[float]:
        epoch = max(0, self.last_epoch) // self.iters_per_epoch
        return [self.lr_at_epoch(epoch, base) for base in self.base_lrs]


@SCHEDULER_REGISTRY.register()
class PolyLR(LRScheduler):
    """Poly decay per iteration: ``lr = eta_min + (base - eta_min) * (1 - it / total_iter) ** power``.

    The derived-net training of HiNAS (and DeepLab): lr 0.05, power 0.9 over the whole training. Each
    param group decays from its own initial lr, so groups keep their ratio (biases at 2x lr).

    Args:
        optimizer (Optimizer): The wrapped optimizer.
        total_iter (int): Iterations of the decay; the plugin's models fill in ``train.total_iter``.
        power (float): Power of the decay. Default: 0.9.
        eta_min (float): The lr reached at ``total_iter``. Default: 0.
        last_epoch (int): The index of the last iteration (torch's name). Default: -1.
    """

    def __init__(self, optimizer: Optimizer, total_iter: int, power: float = 0.9, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        number(total_iter, 'train.scheduler.total_iter', 1, integer=True)
        number(power, 'train.scheduler.power', 0)
        number(eta_min, 'train.scheduler.eta_min', 0)
        self.total_iter, self.power, self.eta_min = total_iter, power, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        decay = max(0.0, 1 - max(0, self.last_epoch) / self.total_iter) ** self.power
        return [self.eta_min + (base - self.eta_min) * decay for base in self.base_lrs]


def build_scheduler(optimizer: Optimizer, scheduler_opt: dict[str, Any], defaults: dict[str, Any]) -> LRScheduler:
    """Build a registered scheduler from ``scheduler_opt`` (with its ``type``).

    Args:
        optimizer (Optimizer): The optimizer to schedule.
        scheduler_opt (dict): ``train.scheduler``; its keys are the scheduler's keyword arguments.
        defaults (dict): Values the model knows (``iters_per_epoch``, ``total_iter``), passed to a scheduler
            whose signature takes them and whose options leave them out.
    """
    opt = deepcopy(dict(scheduler_opt))
    cls = SCHEDULER_REGISTRY.get(opt.pop('type'))
    params = {k: p for k, p in inspect.signature(cls).parameters.items() if k != 'optimizer'}
    for key, value in defaults.items():
        if key in params and key not in opt and value is not None:
            opt[key] = value
    unknown = [k for k in opt if k not in params]
    if unknown:
        raise ValueError(f'train.scheduler.{unknown[0]}: not an option of {cls.__name__} (it takes '
                         f'{", ".join(params)})')
    missing = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in opt]
    if missing:
        raise ValueError(f'train.scheduler.{missing[0]}: missing (required by {cls.__name__})')
    return cls(optimizer, **opt)


def check_scheduler_options(scheduler_opt: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Refuse the options of a plugin scheduler before training, as :func:`build_scheduler` builds it (on a dummy
    optimizer, through its constructor's checks); ``defaults``: what the model fills in. BasicSR's schedulers are
    left alone."""
    if scheduler_opt.get('type') in SCHEDULER_REGISTRY:
        build_scheduler(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), scheduler_opt, defaults)


def setup_schedulers(model: Any, defaults: dict[str, Any]) -> None:
    """``BaseModel.setup_schedulers`` with the plugin's registry first: one scheduler per optimizer of ``model``.

    A ``train.scheduler.type`` in :data:`SCHEDULER_REGISTRY` is built here (``defaults`` as in
    :func:`build_scheduler`); any other type goes to BasicSR's own ``setup_schedulers``.
    """
    from basicsr.models.base_model import BaseModel

    scheduler_opt = model.opt['train']['scheduler']
    if scheduler_opt.get('type') not in SCHEDULER_REGISTRY:
        BaseModel.setup_schedulers(model)
        return
    for optimizer in model.optimizers:
        model.schedulers.append(build_scheduler(optimizer, scheduler_opt, defaults))


def check_scheduler_type(scheduler_type: str, model_cls: type) -> None:
    """Refuse a ``train.scheduler.type`` that neither BasicSR nor, through ``model_cls``, the plugin builds."""
    from basicsr.models.base_model import BaseModel

    if not isinstance(scheduler_type, str):
        raise ValueError(f'train.scheduler.type: expected a scheduler name, got {scheduler_type!r:.60}')
    if scheduler_type in BASICSR_SCHEDULERS:
        return
    if scheduler_type not in SCHEDULER_REGISTRY:
        raise ValueError(f'train.scheduler.type: unknown type {scheduler_type!r} (BasicSR has '
                         f'{", ".join(BASICSR_SCHEDULERS)}; the plugin {", ".join(sorted(SCHEDULER_REGISTRY.keys()))})')
    if getattr(model_cls, 'setup_schedulers', None) is BaseModel.setup_schedulers:
        raise ValueError(f'train.scheduler.type: {scheduler_type} is a plugin scheduler, which model_type '
                         f'{model_cls.__name__} does not build; use HiNASModel (or HiNASSearchModel)')
