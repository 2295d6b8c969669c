"""Reading checkpoints: a torch file refused in one line when it cannot be read, its network weights found as
BasicSR finds them, and a check that they fit a network (which may live on the meta device)."""
from __future__ import annotations

import zipfile
from typing import Any

import torch
from torch import nn

from hinas_basicsr.utils.arg_checks import input_file


def read_checkpoint(path: str, option: str = 'checkpoint', weights_only: bool = True) -> Any:
    """``torch.load`` of a checkpoint on the CPU; a folder, a missing file or one that torch cannot read (truncated,
    not a torch file) is refused in one line naming ``option`` and the file."""
    input_file(path, option, 'checkpoint file')
    try:
        return torch.load(path, map_location='cpu', weights_only=weights_only)
    except Exception as err:  # torch.load raises many kinds: RuntimeError, UnpicklingError, EOFError, OSError...
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut one has no central directory
            detail = 'truncated, or not a torch file'
        else:
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            detail = f'torch cannot read it: {lines[0][:100]}' if lines else type(err).__name__
        raise ValueError(f'{option}: {path} is not a readable torch checkpoint ({detail})') from None


def weights_of(state: Any, checkpoint: str, param_key: str | None = None, basicsr: bool = False,
               option: str = 'checkpoint') -> dict[str, torch.Tensor]:
    """The network weights in a loaded checkpoint (see :func:`load_state`), ``module.`` prefixes removed.

    With ``basicsr``, as BasicSR's ``load_network`` finds them: the entry ``param_key``, else ``params``,
    and nothing else.
    """
    if basicsr:
        key = param_key if isinstance(state, dict) and param_key in state else 'params'
        if not isinstance(state, dict) or key not in state:
            raise ValueError(f'{option}: {checkpoint} has no entry {param_key or "params"!r} (nor params): not a '
                             'BasicSR network checkpoint')
        state = state[key]
    else:
        for key in ((param_key, 'params') if param_key else ('params_ema', 'params')):
            if isinstance(state, dict) and key in state:
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{option}: {checkpoint} holds no network weights (a dict of tensors)')
    return {k.removeprefix('module.'): v for k, v in state.items()}


def load_state(checkpoint: str, param_key: str | None = None, option: str = 'checkpoint') -> dict[str, torch.Tensor]:
    """The network weights of a BasicSR checkpoint.

    With ``param_key`` (an option file's ``path.param_key_g``), that entry, or ``params`` where it is
    missing, as BasicSR's ``load_network`` reads it for ``basicsr test``; without, ``params_ema`` if
    saved, else ``params``.
    """
    return weights_of(read_checkpoint(checkpoint, option), checkpoint, param_key, option=option)


def check_fits(net: nn.Module, weights: dict[str, torch.Tensor], checkpoint: str, network: str,
               strict: bool = True, option: str = '') -> None:
    """Refuse ``weights`` that ``net.load_state_dict`` would refuse (missing or unexpected keys with ``strict``,
    a shape that differs), naming the checkpoint, the network option and the first difference. ``net`` may
    live on the meta device."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    problems = []
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if strict and missing:
        problems.append(f'{len(missing)} missing key(s), e.g. {missing[0]}')
    if strict and unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}')
    shapes = [k for k in expected if k in weights and tuple(weights[k].shape) != expected[k]]
    if shapes:
        k = shapes[0]
        problems.append(f'{len(shapes)} of another shape, e.g. {k}: {tuple(weights[k].shape)} in the checkpoint, '
                        f'{expected[k]} in the network')
    if problems:
        raise ValueError(f'{option + ": " if option else ""}{checkpoint}: the checkpoint does not fit {network} '
                         f'({"; ".join(problems)}): another architecture or other options')
