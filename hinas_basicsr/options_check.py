"""Checks a BasicSR option file before any pipeline writes to experiments/ or results/.

Every failure is a ``ValueError`` or ``FileNotFoundError`` whose message names the file, the
option and what is wrong; the CLI prints it as one line.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import yaml

from hinas_basicsr.genotype import resolve_genotype


def load_yaml(path: str) -> dict[str, Any]:
    """Read an option file; refuse one that is missing or is not a YAML mapping."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'-opt: option file {path} does not exist')
    from basicsr.utils.options import ordered_yaml

    try:
        with open(path) as f:
            opt = yaml.load(f, Loader=ordered_yaml()[0])
    except yaml.YAMLError as err:
        raise ValueError(f'{path}: not valid YAML ({str(err).splitlines()[0]})') from None
    if not isinstance(opt, dict):
        raise ValueError(f'{path}: expected a mapping of options, got {type(opt).__name__}')
    return opt


def _check_type(path: str, where: str, spec: Any, registry) -> None:
    if not isinstance(spec, dict) or 'type' not in spec:
        return
    if spec['type'] not in registry:
        raise ValueError(f"{path}: {where}.type: unknown type {spec['type']!r} (not in BasicSR's {registry._name})")


def check_options(path: str, is_train: bool = True, launcher: str = 'none') -> dict[str, Any]:
    """Validate the option file at ``path`` for ``basicsr train``/``test``; return the parsed options."""
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

    opt = load_yaml(path)
    for key in ('name', 'model_type', 'num_gpu', 'datasets', 'path'):
        if key not in opt:
            raise ValueError(f'{path}: missing option {key!r}')
    if opt['model_type'] not in MODEL_REGISTRY:
        raise ValueError(f"{path}: model_type: unknown type {opt['model_type']!r} (not in BasicSR's model registry)")
    num_gpu = opt['num_gpu']
    if num_gpu != 'auto':
        if not isinstance(num_gpu, int) or num_gpu < 0:
            raise ValueError(f'{path}: num_gpu: expected auto or a count >= 0, got {num_gpu!r}')
        if num_gpu > torch.cuda.device_count():
            raise ValueError(f'{path}: num_gpu: {num_gpu} but this machine has {torch.cuda.device_count()} '
                             'CUDA device(s); use num_gpu: auto')
    if launcher != 'none' and 'RANK' not in os.environ and launcher == 'pytorch':
        raise ValueError('--launcher pytorch: RANK is not set; start the job with torchrun')
    for key, spec in opt.items():
        if key.startswith('network_'):
            _check_type(path, key, spec, ARCH_REGISTRY)
    check_hinas_networks(opt, path)
    for where, spec in _dataset_specs(opt):
        _check_type(path, where, spec, DATASET_REGISTRY)
    for key, spec in (opt.get('train') or {}).items():
        if key.endswith('_opt'):
            _check_type(path, f'train.{key}', spec, LOSS_REGISTRY)
    for key, spec in ((opt.get('val') or {}).get('metrics') or {}).items():
        _check_type(path, f'val.metrics.{key}', spec, METRIC_REGISTRY)
    if is_train and 'train' not in opt:
        raise ValueError(f'{path}: missing option train')
    amp = (opt.get('train') or {}).get('amp')
    if amp is not None and (amp != 'bf16' or num_gpu == 0 or not torch.cuda.is_available()):
        raise ValueError(f'{path}: train.amp: {amp!r} is not supported: use bf16, on a CUDA device (CPU runs fp32)')
    for key, value in (opt.get('path') or {}).items():
        if value and ('pretrain_network' in key or key == 'resume_state') and not os.path.exists(value):
            raise FileNotFoundError(f'{path}: path.{key}: {value} does not exist')
    if opt.get('sample_data') is None:
        _check_dataroots(path, opt)
    return opt


def _dataset_specs(opt: dict[str, Any]) -> list[tuple[str, Any]]:
    """Each dataset entry with its option path, a wrapper's inner ``dataset:`` (HiNASSplitDataset) included."""
    specs = []
    for phase, spec in (opt.get('datasets') or {}).items():
        specs.append((f'datasets.{phase}', spec))
        if isinstance(spec, dict) and isinstance(spec.get('dataset'), dict):
            specs.append((f'datasets.{phase}.dataset', spec['dataset']))
    return specs


def _check_dataroots(path: str, opt: dict[str, Any]) -> None:
    for where, spec in _dataset_specs(opt):
        for key in ('dataroot_gt', 'dataroot_lq'):
            root = spec.get(key) if isinstance(spec, dict) else None
            if root and not os.path.exists(os.path.expanduser(root)):
                raise FileNotFoundError(f'{path}: {where}.{key}: {root} does not exist')


def prepare_options(path: str, opt: dict[str, Any]) -> None:
    """Build the embedded sample data that the options (read from ``path``) name with ``sample_data: DIR``."""
    if opt.get('sample_data'):
        from hinas_basicsr.data.sample import ensure_sample_data

        ensure_sample_data(opt['sample_data'])
        _check_dataroots(path, opt)


def check_hinas_networks(opt: Mapping[str, Any], source: str) -> None:
    """For every ``network_*`` of type HiNASNet, load its genotype and check the top-level ``scale``."""
    for key, spec in opt.items():
        if key.startswith('network_') and isinstance(spec, Mapping) and spec.get('type') == 'HiNASNet':
            if 'genotype' not in spec:
                raise ValueError(f'{source}: {key}.genotype: missing (a genotype JSON path or object)')
            geno = resolve_genotype(spec['genotype'])
            geno.check_compatible(scale=opt.get('scale'), source=f'{source}: {key}.genotype')
