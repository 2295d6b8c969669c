"""The numerics of a training: ``train.amp: bf16`` (bf16 autocast of the network's forward passes, wherever
autocast runs: CUDA and the CPU) and ``train.deterministic: true`` (the condition of exact resumption)."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

AMP_MODES = ('bf16',)


AMP_MODELS = ('HiNASSearchModel', 'HiNASModel')  # the models whose forward passes autocast


def check_amp(train_opt: Mapping[str, Any], model_type: str) -> None:
    """``train.amp``: bf16 or absent, and only for a model that autocasts (another model would ignore it)."""
    if amp_dtype(train_opt) is not None and model_type not in AMP_MODELS:
        raise ValueError(f'train.amp: model_type {model_type} trains in fp32 and ignores it; use HiNASModel (or '
                         'HiNASSearchModel) for bf16')


def amp_dtype(train_opt: Mapping[str, Any]) -> torch.dtype | None:
    """The autocast dtype ``train.amp`` names (bf16), or None for fp32; anything else is refused."""
    amp = train_opt.get('amp')
    if amp is None:
        return None
    if amp not in AMP_MODES:
        raise ValueError(f'train.amp: {amp!r} is not supported: use bf16, or leave it out for fp32')
    return torch.bfloat16


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); without it bf16 is emulated and slow."""
    probe = getattr(torch._C, '_cpu', None)
    return bool(probe and getattr(probe, '_is_avx512_bf16_supported', lambda: False)())


def amp_note(device: torch.device, dtype: torch.dtype | None) -> str | None:
    """A log line for bf16 on a CPU without native bf16 (it runs, slower than fp32), else None."""
    if dtype is None or device.type != 'cpu' or cpu_has_native_bf16():
        return None
    return ('train.amp: bf16 on a CPU without native bf16 (AVX512-BF16/AMX): it runs, emulated, and is slower '
            'than fp32 here')


@contextlib.contextmanager
def autocast_forward(net: nn.Module, device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Within: ``net(...)`` runs under autocast to ``dtype`` on ``device``'s type and returns fp32 (the losses
    and the backward stay outside autocast). A no-op for ``dtype`` None."""
    if dtype is None:
        yield
        return
    forward = net.forward

    def run(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device.type, dtype=dtype):
            return forward(*args, **kwargs).float()

    net.forward = run
    try:
        yield
    finally:
        del net.forward


def set_deterministic(train_opt: dict[str, Any]) -> bool:
    """Apply ``train.deterministic`` (default false); return it.

    ``true``: ``torch.use_deterministic_algorithms`` (an operation without a deterministic kernel raises),
    cuDNN's benchmark off (BasicSR's ``train.py`` turns it on: it picks kernels by timing, run by run) and
    deterministic, TF32 off for convolutions and matmuls (on by default for cuDNN convolutions on Ampere and
    later), and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless set (deterministic cuBLAS). Then a run, and a run
    resumed from a checkpoint at an epoch boundary (``--auto_resume``), repeat each other exactly on the same
    machine and software. ``false`` leaves BasicSR's fast settings.
    """
    deterministic = train_opt.get('deterministic', False)
    if not isinstance(deterministic, bool):
        raise ValueError(f'train.deterministic: expected true or false, got {deterministic!r}')
    if deterministic:
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision('highest')
    return deterministic


def setup_numerics(train_opt: dict[str, Any], device: torch.device) -> torch.dtype | None:
    """What a model does with ``train.amp`` and ``train.deterministic`` when its training starts: apply
    :func:`set_deterministic`, log :func:`amp_note` where it applies, and return :func:`amp_dtype`."""
    from basicsr.utils import get_root_logger

    dtype = amp_dtype(train_opt)
    set_deterministic(train_opt)
    note = amp_note(device, dtype)
    if note:
        get_root_logger().warning(note)
    return dtype
