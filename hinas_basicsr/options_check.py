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


def _check_number(path: str, where: str, value: Any, integer: bool, minimum: float | None = None,
                  required: bool = True) -> None:
    """Refuse a value that is not a number (an ``int`` with ``integer``) at least ``minimum``."""
    if value is None and not required:
        return
    # BasicSR's own files write counts as ``!!float 5e3``: an integral float is a count too
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or (integer and not float(value).is_integer()):
        expected = 'an integer' if integer else 'a number'
        hint = '; YAML reads 1e-3 as text: write 1.0e-3 or !!float 1e-3' if isinstance(value, str) and not integer \
            else ''
        raise ValueError(f'{path}: {where}: expected {expected}, got {value!r}{hint}')
    if minimum is not None and value < minimum:
        raise ValueError(f'{path}: {where}: expected a value >= {minimum}, got {value!r}')


def _get(opt: Mapping[str, Any], path: str, where: str, mapping: bool = True) -> Any:
    """``opt[key]`` for the dotted ``where``, refusing a missing key (and a non-mapping with ``mapping``)."""
    value: Any = opt
    for key in where.split('.'):
        if not isinstance(value, Mapping) or key not in value:
            raise ValueError(f'{path}: missing option {where}')
        value = value[key]
    if mapping and not isinstance(value, Mapping):
        raise ValueError(f'{path}: {where}: expected a mapping of options, got {value!r}')
    return value


def _check_train_types(path: str, opt: Mapping[str, Any]) -> None:
    """The numbers BasicSR's pipeline computes with, and the required parts of a training."""
    _get(opt, path, 'network_g')
    train = _get(opt, path, 'train')
    _get(opt, path, 'datasets.train')
    _check_number(path, 'train.total_iter', _get(opt, path, 'train.total_iter', mapping=False), True, 1)
    for key, spec in train.items():
        if key.startswith('optim_') and isinstance(spec, Mapping):
            if not isinstance(spec.get('type'), str):
                raise ValueError(f'{path}: train.{key}.type: expected an optimizer name, got {spec.get("type")!r}')
            _check_number(path, f'train.{key}.lr', spec.get('lr'), False, 0)
    _check_number(path, 'train.warmup_iter', train.get('warmup_iter'), True, required=False)
    _check_number(path, 'train.ema_decay', train.get('ema_decay'), False, 0, required=False)
    logger = opt.get('logger') or {}
    for key in ('print_freq', 'save_checkpoint_freq'):
        _check_number(path, f'logger.{key}', logger.get(key), True, 1, required=False)
    if opt.get('val') is not None:
        _check_number(path, 'val.val_freq', _get(opt, path, 'val').get('val_freq'), False, 1, required=False)


def _check_dataset_types(path: str, opt: Mapping[str, Any], is_train: bool) -> None:
    for phase, spec in _get(opt, path, 'datasets').items():
        where = f'datasets.{phase}'
        if not isinstance(spec, Mapping):
            raise ValueError(f'{path}: {where}: expected a mapping of options, got {spec!r}')
        if is_train and phase.split('_')[0] == 'train':
            _check_number(path, f'{where}.batch_size_per_gpu', spec.get('batch_size_per_gpu'), True, 1)
            _check_number(path, f'{where}.num_worker_per_gpu', spec.get('num_worker_per_gpu', 0), True, 0)
            _check_number(path, f'{where}.dataset_enlarge_ratio', spec.get('dataset_enlarge_ratio', 1), True, 1)
    for where, spec in _dataset_specs(opt):
        _check_number(path, f'{where}.gt_size', spec.get('gt_size'), True, 1, required=False)


def _check_loss(path: str, where: str, spec: Any, registry) -> None:
    """A loss and, for a loss that sums others (``losses:``), each of them."""
    _check_type(path, where, spec, registry)
    if isinstance(spec, Mapping):
        _check_number(path, f'{where}.loss_weight', spec.get('loss_weight'), False, required=False)
        for i, inner in enumerate(spec.get('losses') or []):
            if not isinstance(inner, Mapping) or 'type' not in inner:
                raise ValueError(f'{path}: {where}.losses[{i}]: expected a loss with a type, got {inner!r}')
            _check_loss(path, f'{where}.losses[{i}]', inner, registry)


def check_options(path: str, is_train: bool = True, launcher: str = 'none') -> dict[str, Any]:
    """Validate the option file at ``path`` for ``basicsr train``/``test``; return the parsed options."""
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

    opt = load_yaml(path)
    for key in ('name', 'model_type', 'num_gpu', 'datasets', 'path'):
        if key not in opt:
            raise ValueError(f'{path}: missing option {key}')
    _check_number(path, 'scale', opt.get('scale'), True, 1, required=False)
    _check_number(path, 'manual_seed', opt.get('manual_seed'), True, 0, required=False)
    if is_train:
        _check_train_types(path, opt)
    _check_dataset_types(path, opt, is_train)
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
    if is_train and opt['model_type'] == 'HiNASSearchModel':
        check_search_options(opt, path)
    for where, spec in _dataset_specs(opt):
        _check_type(path, where, spec, DATASET_REGISTRY)
    for key, spec in (opt.get('train') or {}).items():
        if key.endswith('_opt'):
            _check_loss(path, f'train.{key}', spec, LOSS_REGISTRY)
    scheduler = (opt.get('train') or {}).get('scheduler')
    if is_train and isinstance(scheduler, dict) and 'type' in scheduler:
        from hinas_basicsr.models.lr_scheduler import check_scheduler_type

        try:
            check_scheduler_type(scheduler['type'], MODEL_REGISTRY.get(opt['model_type']))
        except ValueError as err:
            raise ValueError(f'{path}: {err}') from None
    for key, spec in ((opt.get('val') or {}).get('metrics') or {}).items():
        _check_type(path, f'val.metrics.{key}', spec, METRIC_REGISTRY)
    amp = (opt.get('train') or {}).get('amp')
    if amp is not None and amp != 'bf16':
        raise ValueError(f'{path}: train.amp: {amp!r} is not supported: use bf16, or leave it out for fp32')
    if amp is not None and opt['model_type'] not in ('HiNASSearchModel', 'HiNASModel'):
        raise ValueError(f'{path}: train.amp: model_type {opt["model_type"]} trains in fp32 and ignores it; use '
                         'HiNASModel (or HiNASSearchModel) for bf16')
    compile_opt = (opt.get('train') or {}).get('compile')
    if compile_opt is not None and not isinstance(compile_opt, (bool, dict)):
        raise ValueError(f'{path}: train.compile: {compile_opt!r} must be true, false or a mapping of torch.compile '
                         'keyword arguments')
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


def _folder_images(path: str, where: str, root: str) -> dict[str, tuple[int, int]]:
    """``{key: (height, width)}`` of a dataset folder (images read by header) or LMDB (its meta_info.txt)."""
    if root.endswith('.lmdb') or os.path.isfile(os.path.join(root, 'data.mdb')):
        meta = os.path.join(root, 'meta_info.txt')
        if not os.path.isfile(meta):
            raise FileNotFoundError(f'{path}: {where}: {meta} does not exist (BasicSR reads the LMDB keys from it)')
        sizes = {}
        with open(meta) as f:
            for number, line in enumerate(f, 1):
                name, _, rest = line.strip().partition(' ')
                try:
                    height, width = (int(v) for v in rest.split(')')[0].strip('( ').split(',')[:2])
                except ValueError:
                    raise ValueError(f'{path}: {where}: {meta} line {number}: expected "NAME.png (H,W,C) N", '
                                     f'got {line.strip()!r}') from None
                sizes[os.path.splitext(name)[0]] = (height, width)
    else:
        from basicsr.utils import scandir
        from PIL import Image, UnidentifiedImageError

        sizes = {}
        for rel in sorted(scandir(root)):
            try:
                with Image.open(os.path.join(root, rel)) as img:
                    sizes[os.path.splitext(rel)[0]] = img.size[::-1]
            except (UnidentifiedImageError, OSError) as err:
                raise ValueError(f'{path}: {where}: {os.path.join(root, rel)} is not a readable image '
                                 f'({err.__class__.__name__})') from None
    if not sizes:
        raise ValueError(f'{path}: {where}: {root} holds no images')
    return sizes


def _check_dataroots(path: str, opt: dict[str, Any]) -> None:
    """Every dataset folder exists, holds readable images, and its LR/GT pairs agree with ``scale``.

    A training pair must be exact (GT = scale x LR, as BasicSR's random crop requires); a validation or
    test pair may have up to ``scale - 1`` extra GT pixels, which BasicSR crops.
    """
    scale = opt.get('scale') or 1
    for where, spec in _dataset_specs(opt):
        if not isinstance(spec, Mapping):
            continue
        found = {}
        for key in ('dataroot_gt', 'dataroot_lq'):
            root = spec.get(key)
            if not root:
                continue
            root = os.path.expanduser(root)
            if not os.path.exists(root):
                raise FileNotFoundError(f'{path}: {where}.{key}: {root} does not exist')
            found[key] = _folder_images(path, f'{where}.{key}', root)
        if len(found) < 2 or spec.get('meta_info_file'):
            continue
        # BasicSR pairs LMDB records by equal keys, and folder images by filename_tmpl
        lmdb = (spec.get('io_backend') or {}).get('type') == 'lmdb'
        template = '{}' if lmdb else spec.get('filename_tmpl', '{}')
        exact = where.startswith('datasets.train')
        gt_sizes, lq_sizes = found['dataroot_gt'], found['dataroot_lq']
        for gt_key, (gh, gw) in gt_sizes.items():
            lq_key = template.format(gt_key)
            if lq_key not in lq_sizes:
                raise FileNotFoundError(f'{path}: {where}.dataroot_lq: no image {lq_key} in {spec["dataroot_lq"]} '
                                        f'for {gt_key} of {spec["dataroot_gt"]}')
            lh, lw = lq_sizes[lq_key]
            fits = (gh, gw) == (lh * scale, lw * scale) if exact else (gh // scale, gw // scale) == (lh, lw)
            if not fits:
                raise ValueError(f'{path}: {where}: {lq_key} is {lh}x{lw} in {spec["dataroot_lq"]} but {gt_key} '
                                 f'is {gh}x{gw} in {spec["dataroot_gt"]}; scale {scale} needs the GT '
                                 f'{"to be" if exact else "to be about"} {lh * scale}x{lw * scale}')


def prepare_options(path: str, opt: dict[str, Any]) -> None:
    """Build the embedded sample data that the options (read from ``path``) name with ``sample_data: DIR``."""
    if opt.get('sample_data'):
        from hinas_basicsr.data.sample import ensure_sample_data

        ensure_sample_data(opt['sample_data'])
        _check_dataroots(path, opt)


def check_hinas_networks(opt: Mapping[str, Any], source: str) -> None:
    """For every ``network_*`` of type HiNASNet, load its genotype and check it against the scales asked for.

    An SR genotype serves every SR scale, but the net is built at the genotype's scale unless the network's
    ``upscale`` says otherwise: so a top-level ``scale`` other than the genotype's needs ``upscale``, and the two
    must agree. A genotype of the other task (denoising for SR, SR for denoising) is refused.
    """
    scale = opt.get('scale')
    for key, spec in opt.items():
        if key.startswith('network_') and isinstance(spec, Mapping) and spec.get('type') == 'HiNASNet':
            if 'genotype' not in spec:
                raise ValueError(f'{source}: {key}.genotype: missing (a genotype JSON path or object)')
            geno = resolve_genotype(spec['genotype'])
            upscale = spec.get('upscale')
            for option, value in ((f'{key}.upscale', upscale), ('scale', scale)):
                if value is not None:
                    geno.check_compatible(scale=value, source=f'{source}: {key}.genotype', scale_option=option)
            if scale is not None and upscale is not None and scale != upscale:
                raise ValueError(f'{source}: scale: {scale}, but {key}.upscale is {upscale}')
            if scale is not None and upscale is None and scale != geno.scale:
                raise ValueError(f'{source}: scale: {scale}, but {key}.genotype was searched at x{geno.scale}; '
                                 f'set {key}.upscale: {scale} to build the net at x{scale}')


def check_search_options(opt: Mapping[str, Any], source: str) -> None:
    """The search remedies' options (``train.selection``, ``train.flops_*``, ``network_g.search_head``)."""
    from hinas_basicsr.archs.hinas_supernet_arch import SEARCH_HEADS
    from hinas_basicsr.search_judge import check_search_remedies

    try:
        check_search_remedies(opt.get('train') or {})
    except ValueError as err:
        raise ValueError(f'{source}: {err}') from None
    head = (opt.get('network_g') or {}).get('search_head', 'reference')
    if head not in SEARCH_HEADS:
        raise ValueError(f'{source}: network_g.search_head: {head!r} is not one of {", ".join(SEARCH_HEADS)}')
