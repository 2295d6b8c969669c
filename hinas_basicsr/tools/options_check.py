"""Checks a BasicSR option file before any pipeline writes to experiments/ or results/.

Every failure is a ``ValueError`` or ``FileNotFoundError`` whose message names the file, the
option and what is wrong; the CLI prints it as one line.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from hinas_basicsr.archs.hinas_supernet_arch import SEARCH_HEADS, HiNASSupernet
from hinas_basicsr.compat import latest_state, optimizer_class
from hinas_basicsr.data import hinas_noisy_dataset, hinas_split_dataset
from hinas_basicsr.losses import sum_loss
from hinas_basicsr.models.hinas_model import check_clip_grad_value
from hinas_basicsr.models.hinas_search_model import check_train_set
from hinas_basicsr.models.lr_scheduler import check_scheduler_options, check_scheduler_type
from hinas_basicsr.models.numerics import check_amp
from hinas_basicsr.models.search_options import check_search_options
from hinas_basicsr.prep.common import image_size
from hinas_basicsr.search.flops_model import FLOPS_GROUP, check_flops_options
from hinas_basicsr.search.judge import SELECTION_GROUP, check_judged_paths, check_selection_options
from hinas_basicsr.space.genotype import resolve_genotype
from hinas_basicsr.tools import option_rules
from hinas_basicsr.utils.arg_checks import is_integer, is_number, with_reason
from hinas_basicsr.utils.checkpoints import check_fits, read_checkpoint, weights_of
from hinas_basicsr.utils.options_file import load_yaml

REMEDY_GROUPS = (SELECTION_GROUP, FLOPS_GROUP)  # train's *_opt groups that are no losses (check_remedy_options)
# a training's checkpoints and validations over train.total_iter: the shipped files make at most 120 of each
# (BasicSR's EDSR 60); save_checkpoint_freq: 1 kept a 1 MB checkpoint and its training state at every iteration
MAX_CHECKPOINTS = 1_000
MAX_VALIDATIONS = 10_000


def _check_type(path: str, where: str, spec: Any, registry) -> None:
    if not isinstance(spec, dict) or 'type' not in spec:
        return
    if not isinstance(spec['type'], str):
        raise ValueError(f"{path}: {where}.type: expected a type name, got {spec['type']!r:.60}")
    if spec['type'] not in registry:
        raise ValueError(f"{path}: {where}.type: unknown type {spec['type']!r} (not in BasicSR's {registry._name})")


def _check_number(path: str, where: str, value: Any, integer: bool, minimum: float | None = None,
                  required: bool = True) -> None:
    """Refuse a value that is not a finite number (an ``int`` with ``integer``) at least ``minimum``."""
    if value is None and not required:
        return
    # one rule for every integer (arg_checks.is_integer): a whole-number float such as ``!!float 5e3`` is refused,
    # not rounded (YAML's .inf and .nan are floats, and refused: no count, rate or size is infinite)
    if not is_number(value) or (integer and not is_integer(value)):
        expected = 'an integer' if integer else 'a number'
        hint = '; YAML reads 1e-3 as text: write 1.0e-3 or !!float 1e-3' if isinstance(value, str) and not integer \
            else ''
        if integer and is_number(value) and float(value).is_integer():
            hint = f' (write {int(value)}: a whole-number float is not an integer)'
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
        _check_number(path, 'val.val_freq', _get(opt, path, 'val').get('val_freq'), True, 1, required=False)
    total = train['total_iter']
    for where, every, most, things, why in (
            ('logger.save_checkpoint_freq', logger.get('save_checkpoint_freq'), MAX_CHECKPOINTS, 'checkpoints',
             'each kept: net_g_<iter>.pth and its training state'),
            ('val.val_freq', (opt.get('val') or {}).get('val_freq'), MAX_VALIDATIONS, 'validations',
             'each over the whole val set')):
        if every is not None and total // every > most:
            raise ValueError(f'{path}: {where}: {every} makes {total // every:,} {things} over train.total_iter '
                             f'{total:,} ({why}); at most {most:,}')


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
        if spec.get('losses') is not None and not isinstance(spec['losses'], list):
            raise ValueError(f'{path}: {where}.losses: expected a list of losses, got {spec["losses"]!r:.60}')
        for i, inner in enumerate(spec.get('losses') or []):
            if not isinstance(inner, Mapping) or 'type' not in inner:
                raise ValueError(f'{path}: {where}.losses[{i}]: expected a loss with a type, got {inner!r}')
            _check_loss(path, f'{where}.losses[{i}]', inner, registry)


def check_options(path: str, is_train: bool = True, launcher: str = 'none',
                  force_yml: list[str] | None = None) -> dict[str, Any]:
    """Validate the option file at ``path`` for ``basicsr train``/``test``, with the ``--force_yml`` entries that
    BasicSR will apply to it; return the parsed options."""
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

    opt = load_yaml(path)
    option_rules.force_yml(opt, force_yml)
    for key in ('name', 'model_type', 'num_gpu', 'datasets', 'path'):
        if key not in opt:
            raise ValueError(f'{path}: missing option {key}')
    option_rules.experiment_name(path, opt)
    option_rules.sections(path, opt)
    option_rules.pipeline(path, opt, is_train)
    option_rules.typed_components(path, opt)
    option_rules.datasets(path, opt)
    option_rules.path_options(path, opt)
    option_rules.dataroots(path, opt)
    _check_number(path, 'scale', opt.get('scale'), True, 1, required=False)
    _check_number(path, 'manual_seed', opt.get('manual_seed'), True, 0, required=False)
    if is_train:
        _check_train_types(path, opt)
    _check_dataset_types(path, opt, is_train)
    if not isinstance(opt['model_type'], str) or opt['model_type'] not in MODEL_REGISTRY:
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
    unset = [name for name in SLURM_VARIABLES if name not in os.environ]
    if launcher == 'slurm' and unset:
        raise ValueError(f'--launcher slurm: {unset[0]} is not set; start the job with srun (inside a SLURM '
                         'allocation)')
    for key, spec in opt.items():
        if key.startswith('network_'):
            _check_type(path, key, spec, ARCH_REGISTRY)
    check_hinas_networks(opt, path)
    if is_train and opt['model_type'] == 'HiNASSearchModel':
        check_remedy_options(opt, path)
    for where, spec in _dataset_specs(opt):
        _check_type(path, where, spec, DATASET_REGISTRY)
    for key, spec in (opt.get('train') or {}).items():
        if key.endswith('_opt') and key not in REMEDY_GROUPS:
            _check_loss(path, f'train.{key}', spec, LOSS_REGISTRY)
    if is_train:
        option_rules.loss_weights(path, opt)
        option_rules.scheduler(path, opt)
    scheduler = (opt.get('train') or {}).get('scheduler')
    if is_train and isinstance(scheduler, dict) and 'type' in scheduler:
        # what the plugin's models fill in: total_iter, and the search model its iterations per pass over the W split
        defaults = {'total_iter': opt['train']['total_iter'],
                    'iters_per_epoch': 1 if opt['model_type'] == 'HiNASSearchModel' else None}
        _with_path(path, check_scheduler_type, scheduler['type'], MODEL_REGISTRY.get(opt['model_type']))
        _with_path(path, check_scheduler_options, scheduler, defaults)
    for key, spec in ((opt.get('val') or {}).get('metrics') or {}).items():
        _check_type(path, f'val.metrics.{key}', spec, METRIC_REGISTRY)
    option_rules.metrics(path, opt)
    _with_path(path, check_amp, opt.get('train') or {}, opt['model_type'])
    compile_opt = (opt.get('train') or {}).get('compile')
    if compile_opt is not None and not isinstance(compile_opt, (bool, dict)):
        raise ValueError(f'{path}: train.compile: {compile_opt!r} must be true, false or a mapping of torch.compile '
                         'keyword arguments')
    if not is_train and not isinstance((opt.get('val') or {}).get('save_img'), bool):
        raise ValueError(f'{path}: missing option val.save_img (true or false; basicsr test reads it)')
    for key, value in (opt.get('path') or {}).items():
        if value and ('pretrain_network' in key or key == 'resume_state') and not os.path.exists(value):
            raise FileNotFoundError(f'{path}: path.{key}: {value} does not exist')
    check_components(path, opt, is_train)
    check_pretrained(path, opt, is_train)
    if opt.get('sample_data') is None:
        check_dataroots(path, opt)
    return opt


def dataset_entry_specs(key: str, entry: Any) -> list[tuple[str, Any]]:
    """The dataset entry ``datasets.<key>`` with its option path, and a wrapper's inner ``dataset:``
    (HiNASSplitDataset, HiNASMultiCropDataset) after it."""
    specs = [(f'datasets.{key}', entry)]
    if isinstance(entry, Mapping) and isinstance(entry.get('dataset'), Mapping):
        specs.append((f'datasets.{key}.dataset', entry['dataset']))
    return specs


def _dataset_specs(opt: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every dataset entry of the options, inner datasets included (see :func:`dataset_entry_specs`)."""
    return [spec for key, entry in (opt.get('datasets') or {}).items() for spec in dataset_entry_specs(key, entry)]


SLURM_VARIABLES = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST', 'SLURM_LOCALID')  # what a slurm launch reads


def check_lmdb_keys(path: str, where: str, root: str, meta: str, keys: set[str]) -> None:
    """The LMDB opens (a truncated ``data.mdb`` was found only while training) and holds every key its
    ``meta_info.txt`` lists (its keys only are read, not its images)."""
    import lmdb

    try:
        with lmdb.open(root, readonly=True, lock=False, readahead=False, meminit=False) as env, \
                env.begin(write=False) as txn:
            stored = {key.decode('utf-8', 'replace') for key in txn.cursor().iternext(values=False)}
    except lmdb.Error as err:
        if 'already open in this process' in str(err):  # a dataset of this process reads it: it opens
            return
        raise ValueError(f'{path}: {where}: {root} is not a readable LMDB ({str(err).splitlines()[0][:120]})'
                         ) from None
    missing = sorted(keys - stored)
    if missing:
        raise ValueError(f'{path}: {where}: key {missing[0]} of {meta} is not in {root} ({len(missing)} of '
                         f'{len(keys)} keys missing)')


def _check_backend_kind(path: str, where: str, spec: Mapping[str, Any], root: str) -> None:
    """``io_backend.type`` against what the dataroot is: ``lmdb`` reads an LMDB (a folder with ``data.mdb``),
    ``disk`` a folder of images."""
    backend = (spec.get('io_backend') or {}).get('type')
    is_lmdb = root.endswith('.lmdb') or os.path.isfile(os.path.join(root, 'data.mdb'))
    if backend == 'lmdb' and not is_lmdb:
        raise ValueError(f'{path}: {where}: {root} is a folder of images, but io_backend.type is lmdb (use disk)')
    if backend == 'disk' and is_lmdb:
        raise ValueError(f'{path}: {where}: {root} is an LMDB, but io_backend.type is disk (use lmdb)')


def _folder_images(path: str, where: str, root: str) -> dict[str, tuple[int, int]]:
    """``{file name: (height, width)}`` of a dataset folder or LMDB (keys, from its meta_info.txt).

    Every file of a folder must be an image that decodes: a PNG's chunks are checked against their CRCs, any
    other format is decoded whole (a truncated JPEG included), as the dataset preparation checks them. An
    LMDB needs its ``data.mdb`` and ``meta_info.txt``.
    """
    if root.endswith('.lmdb') or os.path.isfile(os.path.join(root, 'data.mdb')):
        if not os.path.isfile(os.path.join(root, 'data.mdb')):
            raise FileNotFoundError(f'{path}: {where}: {root} is not an LMDB ({os.path.join(root, "data.mdb")} '
                                    'does not exist)')
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
        check_lmdb_keys(path, where, root, meta, set(sizes))
    else:
        from basicsr.utils import scandir

        if not os.path.isdir(root):
            raise ValueError(f'{path}: {where}: {root} is a file, not a folder of images or an LMDB')
        sizes = {}
        for rel in sorted(scandir(root)):  # BasicSR pairs every file of the folder
            try:
                sizes[rel] = image_size(os.path.join(root, rel))
            except ValueError as err:
                raise ValueError(f'{path}: {where}: {err}') from None
    if not sizes:
        raise ValueError(f'{path}: {where}: {root} holds no images')
    return sizes


def _pair_sizes(path: str, where: str, spec: Mapping[str, Any], found: dict[str, dict[str, tuple[int, int]]]
                ) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """``(LR name, GT size, LR size)`` of each pair, as BasicSR pairs them: LMDB records by equal keys, folder
    images by ``filename_tmpl`` with the GT's extension, every file of each folder paired."""
    gt_sizes, lq_sizes = found['dataroot_gt'], found['dataroot_lq']
    lmdb = (spec.get('io_backend') or {}).get('type') == 'lmdb'
    template = '{}' if lmdb else spec.get('filename_tmpl', '{}')
    pairs, partners = [], set()
    for gt_name, gt_size in gt_sizes.items():
        stem, ext = os.path.splitext(gt_name)
        lq_name = template.format(stem) + ext
        if lq_name not in lq_sizes:
            raise FileNotFoundError(f'{path}: {where}.dataroot_lq: no image {lq_name} in {spec["dataroot_lq"]} '
                                    f'for {gt_name} of {spec["dataroot_gt"]}')
        partners.add(lq_name)
        pairs.append((lq_name, gt_size, lq_sizes[lq_name]))
    extra = sorted(set(lq_sizes) - partners)
    if extra:
        raise ValueError(f'{path}: {where}.dataroot_lq: {extra[0]} in {spec["dataroot_lq"]} has no GT partner in '
                         f'{spec["dataroot_gt"]} ({len(lq_sizes)} LR against {len(gt_sizes)} GT '
                         f'{"records" if lmdb else "files"}; BasicSR pairs them one to one)')
    return pairs


def check_dataroots(path: str, opt: Mapping[str, Any]) -> None:
    """Every dataset folder exists, holds readable images, and its LR/GT pairs agree with ``scale``.

    A training pair must be exact (GT = scale x LR, as BasicSR's random crop requires); a validation or
    test pair may have up to ``scale - 1`` extra GT pixels, which BasicSR crops. A training crop
    (``gt_size``) must fit in every GT image and be a multiple of ``scale``.
    """
    scale = opt.get('scale') or 1
    for key, entry in (opt.get('datasets') or {}).items():
        specs = dataset_entry_specs(key, entry)
        outer_gt_size = entry.get('gt_size') if isinstance(entry, Mapping) else None
        for where, spec in specs:
            if not isinstance(spec, Mapping):
                continue
            found = {}
            for root_key in ('dataroot_gt', 'dataroot_lq'):
                root = spec.get(root_key)
                if not root:
                    continue
                root = os.path.expanduser(root)
                if not os.path.exists(root):
                    raise FileNotFoundError(f'{path}: {where}.{root_key}: {root} does not exist')
                _check_backend_kind(path, f'{where}.{root_key}', spec, root)
                found[root_key] = _folder_images(path, f'{where}.{root_key}', root)
            gt_size = spec.get('gt_size', outer_gt_size)
            exact = str(key).split('_')[0] == 'train'
            if exact and gt_size and 'dataroot_gt' in found:
                _check_gt_size(path, where, spec, gt_size, scale, found['dataroot_gt'])
            if len(found) < 2 or spec.get('meta_info_file'):
                continue
            for lq_name, (gh, gw), (lh, lw) in _pair_sizes(path, where, spec, found):
                fits = (gh, gw) == (lh * scale, lw * scale) if exact else (gh // scale, gw // scale) == (lh, lw)
                if not fits:
                    raise ValueError(f'{path}: {where}: {lq_name} is {lh}x{lw} in {spec["dataroot_lq"]} but its GT '
                                     f'is {gh}x{gw} in {spec["dataroot_gt"]}; scale {scale} needs the GT '
                                     f'{"to be" if exact else "to be about"} {lh * scale}x{lw * scale}')


def _check_gt_size(path: str, where: str, spec: Mapping[str, Any], gt_size: Any, scale: int,
                   gt_sizes: Mapping[str, tuple[int, int]]) -> None:
    option = f'{where}.gt_size' if 'gt_size' in spec else f'{where.rsplit(".dataset", 1)[0]}.gt_size'
    if isinstance(gt_size, (int, float)) and not isinstance(gt_size, bool) and gt_size % scale:
        raise ValueError(f'{path}: {option}: {gt_size} is not a multiple of scale {scale} (the LR crop is '
                         f'gt_size / scale)')
    name, (h, w) = min(gt_sizes.items(), key=lambda item: min(item[1]))
    if min(h, w) < gt_size:
        raise ValueError(f'{path}: {option}: {gt_size} is larger than {name} ({h}x{w}) in {spec["dataroot_gt"]}')


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


def check_remedy_options(opt: Mapping[str, Any], source: str) -> None:
    """The search remedies' options (``train.selection_opt``, ``train.flops_opt``, ``network_g.search_head``)."""

    net = opt.get('network_g') or {}
    try:
        selection = check_selection_options(opt.get('train') or {})
        check_flops_options(opt.get('train') or {})
        if selection['type'] == 'perturbation' and net.get('type') == 'HiNASSupernet':
            defaults = inspect.signature(HiNASSupernet).parameters
            layers = net.get('num_layers', defaults['num_layers'].default)
            widths = net.get('width_factors', defaults['width_factors'].default)
            if is_integer(layers) and 1 <= layers <= MAX_COUNT and isinstance(widths, (list, tuple)):
                check_judged_paths(layers, len(widths))  # bad values: the supernet's own check names them
    except ValueError as err:
        raise ValueError(f'{source}: {err}') from None
    head = net.get('search_head', 'reference')
    if head not in SEARCH_HEADS:
        raise ValueError(f'{source}: network_g.search_head: {head!r} is not one of {", ".join(SEARCH_HEADS)}')
# ----------------------------------------------------------------------------- the plugin's components
PLUGIN_ARCHS = ('HiNASNet', 'HiNASSupernet', 'DnCNN')
WRAPPER_DATASETS = ('HiNASSplitDataset', 'HiNASMultiCropDataset')


def _unknown_keys(path: str, where: str, cls: Any, kwargs: Mapping[str, Any], given: Sequence[str] = ()) -> None:
    """Refuse keys that ``cls(*given, **kwargs)`` would not take, and required arguments left out."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # no signature to read: the construction will tell
        return
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in kwargs if k not in params]
        if unknown:
            raise ValueError(f'{path}: {where}.{unknown[0]}: not an option of {getattr(cls, "__name__", cls)} '
                             f'(it takes {", ".join(k for k in params if k not in given) or "none"})')
    for name, p in params.items():
        if (name not in kwargs and name not in given and p.default is inspect.Parameter.empty
                and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)):
            raise ValueError(f'{path}: missing option {where}.{name} (required by {getattr(cls, "__name__", cls)})')


def _build_on_meta(path: str, key: str, spec: Mapping[str, Any]) -> torch.nn.Module:
    """``network_*`` built as its class builds it, on the meta device: every check of the constructor runs and
    no weight is allocated (a supernet of 100000 nodes costs nothing)."""
    from basicsr.utils.registry import ARCH_REGISTRY

    kwargs = {k: v for k, v in spec.items() if k != 'type'}
    cls = ARCH_REGISTRY.get(spec['type'])
    bound = module_bound(path, key) if spec['type'] != 'HiNASSupernet' else contextlib.nullcontext()
    try:  # the supernet is bounded by its candidate operations, counted before it is built
        with torch.device('meta'), bound:
            return cls(**copy.deepcopy(kwargs))
    except TooManyModules as err:
        raise ValueError(str(err)) from None
    except (ValueError, FileNotFoundError) as err:
        message = str(err)
        if key != 'network_g' and message.startswith('network_g'):
            message = key + message[len('network_g'):]
        raise ValueError(f'{path}: {message}') from None
    except Exception as err:  # noqa: BLE001  (a value its own checks let through: named, never a traceback)
        raise ValueError(with_reason(f'{path}: {key}: {spec["type"]} cannot be built from these options', err)
                         ) from None


def build_for_check(path: str, key: str, spec: Mapping[str, Any]) -> torch.nn.Module:
    """The network of ``spec`` to check a checkpoint against: on the meta device where it builds there, else on
    the CPU (a BasicSR arch that makes plain tensors in its constructor)."""
    from basicsr.utils.registry import ARCH_REGISTRY

    if spec['type'] in PLUGIN_ARCHS:
        return _build_on_meta(path, key, spec)
    kwargs = {k: v for k, v in spec.items() if k != 'type'}
    cls = ARCH_REGISTRY.get(spec['type'])
    try:
        with torch.device('meta'), module_bound(path, key):
            return cls(**copy.deepcopy(kwargs))
    except TooManyModules as err:
        raise ValueError(str(err)) from None
    except Exception:  # noqa: BLE001  (any failure on meta: the CPU build below says what is wrong)
        pass
    try:
        with module_bound(path, key):
            return cls(**copy.deepcopy(kwargs))
    except TooManyModules as err:
        raise ValueError(str(err)) from None
    except Exception as err:  # noqa: BLE001  (a BasicSR arch may raise anything on options it cannot take)
        raise ValueError(with_reason(f'{path}: {key}: {spec["type"]} cannot be built from these options', err)
                         ) from None


def network_channels(opt: Mapping[str, Any]) -> tuple[int | None, str]:
    """The input channels ``network_g`` takes, and the option that says so (None where it is not known)."""
    spec = opt.get('network_g')
    if not isinstance(spec, Mapping):
        return None, ''
    if spec.get('type') == 'HiNASNet' and 'genotype' in spec:
        try:
            return resolve_genotype(spec['genotype']).num_in_ch, 'network_g.genotype num_in_ch'
        except (ValueError, FileNotFoundError):
            return None, ''
    if spec.get('type') == 'HiNASSupernet':
        return spec.get('num_in_ch', 3), 'network_g.num_in_ch'
    return spec.get('num_in_ch'), 'network_g.num_in_ch'


def check_networks(path: str, opt: Mapping[str, Any]) -> None:
    """Every ``network_*`` of the option file at ``path``: a known type, built (and BasicSR's run) on the meta device
    through their checks; for the commands that build ``network_g`` from an option file (compare, infer, export)."""
    from basicsr.utils.registry import ARCH_REGISTRY

    for key, spec in opt.items():
        if str(key).startswith('network_'):
            if not isinstance(spec, Mapping) or 'type' not in spec:
                raise ValueError(f'{path}: {key}: expected a mapping with a type, got {spec!r:.60}')
            _check_type(path, key, spec, ARCH_REGISTRY)
    _check_networks(path, opt)


def _check_networks(path: str, opt: Mapping[str, Any]) -> None:
    from basicsr.utils.registry import ARCH_REGISTRY

    scale = opt.get('scale')
    for key, spec in opt.items():
        if not (key.startswith('network_') and isinstance(spec, Mapping) and spec.get('type') in ARCH_REGISTRY):
            continue
        kwargs = {k: v for k, v in spec.items() if k != 'type'}
        _unknown_keys(path, key, ARCH_REGISTRY.get(spec['type']), kwargs)
        if spec['type'] in PLUGIN_ARCHS:
            _typed_like_defaults(path, key, ARCH_REGISTRY.get(spec['type']), kwargs)
            _build_on_meta(path, key, spec)
        else:
            check_basicsr_network(path, key, spec, opt)
        if spec['type'] == 'HiNASSupernet':
            upscale = spec.get('upscale', 2)
            if scale is not None and scale != upscale:
                raise ValueError(f'{path}: scale: {scale}, but {key}.upscale is {upscale} (the supernet is built at '
                                 f'x{upscale}; set {key}.upscale: {scale})')


# a network of more parameters (4 GB in fp32, and as much again for each optimizer state) is refused
MAX_PARAMS = 1 << 30
PROBE = 16  # the side of the meta input a BasicSR network is run on


# the most submodules one of BasicSR's networks may register while it is built: past it the build stops (EDSR
# num_block: 16000000 took hours to build, even on the meta device). The shipped ones have at most 2,440 (RCAN); the
# plugin's networks have their own bounds (the supernet's candidate operations). A count option (num_*) of more than
# MAX_COUNT is refused before the build
MAX_MODULES = 10_000
MAX_COUNT = 4096


class TooManyModules(Exception):
    """Raised from the registration hook of :func:`module_bound`."""


@contextlib.contextmanager
def module_bound(path: str, key: str, limit: int = MAX_MODULES) -> Iterator[None]:
    """Within: building a network stops with :class:`TooManyModules` once it registers more than ``limit``
    submodules."""
    count = 0

    def hook(module: torch.nn.Module, name: str, submodule: torch.nn.Module) -> None:
        nonlocal count
        count += 1
        if count > limit:
            raise TooManyModules(f'{path}: {key}: more than {limit:,} layers (modules): a network this deep is '
                                 'refused here')

    handle = torch.nn.modules.module.register_module_module_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _typed_like_defaults(path: str, key: str, cls: Any, kwargs: Mapping[str, Any]) -> None:
    """Each option of a BasicSR arch or loss or a torch optimizer is of the kind of its default: a number for a number
    (``num_feat: wide`` failed deep in torch), a bool for a bool, text for text, as many numbers for a tuple of
    numbers (Adam's ``betas: [0.9]``, EDSR's ``rgb_mean``), or a number per input channel for a mean shift's (RIDNet's
    ``rgb_mean`` on gray images)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    for name, value in kwargs.items():
        default = params[name].default if name in params else inspect.Parameter.empty
        if name.startswith('num_') and not isinstance(default, (bool, float, str)):  # a count: of channels, blocks
            least = 1 if name in ('num_in_ch', 'num_out_ch', 'num_feat', 'num_grow_ch') else 0
            if not is_integer(value) or not least <= value <= MAX_COUNT:
                raise ValueError(f'{path}: {key}.{name}: expected an integer from {least} to {MAX_COUNT}, got '
                                 f'{value!r:.60}')
            continue
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), 'true or false'
        elif isinstance(default, int):
            ok, kind = is_number(value), f'a number (its default is {default})'
        elif isinstance(default, float):
            ok, kind = is_number(value), f'a number (its default is {default})'
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), f'text (its default is {default!r})'
        elif isinstance(default, (tuple, list)) and default and all(map(is_number, default)):
            lengths, kind = {len(default)}, f'{len(default)} numbers (its default is {list(default)})'
            channels = next((kwargs[c] for c in CHANNEL_OPTIONS if c in kwargs), len(default))
            if name in PER_CHANNEL and is_integer(channels) and channels != len(default):  # RIDNet on gray images
                lengths.add(channels)
                kind += f' or {channels}, one per input channel'
            ok = isinstance(value, (tuple, list)) and len(value) in lengths and all(map(is_number, value))
        else:
            continue
        if not ok:
            raise ValueError(f'{path}: {key}.{name}: expected {kind}, got {value!r:.60}')


CHANNEL_OPTIONS = ('num_in_ch', 'in_channels', 'in_nc')  # how BasicSR's networks name their input channels
PER_CHANNEL = ('rgb_mean', 'rgb_std')  # a mean shift's: as many numbers as its default, or one per input channel


def _data_channels(opt: Mapping[str, Any]) -> tuple[int, str] | None:
    """The channels the datasets read (BasicSR's paired ones 3, 1 with ``color: y``; the noisy one 1 with
    ``gray``), and the dataset that says so."""
    for key, entry in (opt.get('datasets') or {}).items():
        inner = entry.get('dataset') if isinstance(entry, Mapping) else None
        for where, spec in ((f'datasets.{key}', entry), (f'datasets.{key}.dataset', inner)):
            if not isinstance(spec, Mapping):
                continue
            if spec.get('type') in ('PairedImageDataset', 'SingleImageDataset'):
                return (1 if spec.get('color') == 'y' else 3), f'{where} ({spec["type"]})'
            if spec.get('type') == 'HiNASNoisyImageDataset':
                return (1 if spec.get('gray') else 3), f'{where} (HiNASNoisyImageDataset)'
    return None


def check_basicsr_network(path: str, key: str, spec: Mapping[str, Any], opt: Mapping[str, Any]) -> None:
    """A BasicSR network (EDSR, RCAN, ...): its options of the kinds of their defaults, built on the meta device
    (nothing allocated) with at most ``MAX_PARAMS`` parameters, and run on a meta input of the data's channels,
    whose output must be ``scale`` times its size. An arch that cannot live on the meta device is left to BasicSR."""
    from basicsr.utils.registry import ARCH_REGISTRY

    cls = ARCH_REGISTRY.get(spec['type'])
    kwargs = {k: v for k, v in spec.items() if k != 'type'}
    _typed_like_defaults(path, key, cls, kwargs)
    try:
        with torch.device('meta'), warnings.catch_warnings(), module_bound(path, key):
            warnings.simplefilter('ignore')  # a line on stderr each (zero-element tensors, deprecated arguments)
            net = cls(**copy.deepcopy(kwargs))
    except (NotImplementedError, RuntimeError):  # an op or a tensor the meta device does not have
        return
    except TooManyModules as err:
        raise ValueError(str(err)) from None
    except Exception as err:  # noqa: BLE001  (an arch may raise anything on options it cannot take)
        raise ValueError(with_reason(f'{path}: {key}: {spec["type"]} cannot be built from these options', err)
                         ) from None
    params = sum(p.numel() for p in net.parameters())
    if params > MAX_PARAMS:
        raise ValueError(f'{path}: {key}: {params:,} parameters, more than the {MAX_PARAMS:,} a network may have here')
    data = _data_channels(opt) if key == 'network_g' else None
    named = next((name for name in CHANNEL_OPTIONS if name in spec), None)
    channels = spec[named] if named else data[0] if data else 3
    if data and named and is_integer(channels) and channels != data[0]:
        raise ValueError(f'{path}: {key}.{named}: {channels}, but {data[1]} reads {data[0]}-channel images')
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            out = net(torch.empty(1, channels, PROBE, PROBE, device='meta'))
    except NotImplementedError:
        return
    except Exception as err:  # noqa: BLE001  (a shape the network cannot take)
        raise ValueError(with_reason(f'{path}: {key}: {spec["type"]} fails on a {channels}-channel {PROBE}x{PROBE} '
                                     'input', err)) from None
    scale = opt.get('scale')
    if key == 'network_g' and isinstance(out, torch.Tensor) and out.dim() == 4 and is_integer(scale):
        height, width = out.shape[-2:]
        if (height, width) != (PROBE * scale, PROBE * scale):
            raise ValueError(f'{path}: {key}: {spec["type"]} maps a {PROBE}x{PROBE} input to {height}x{width}, but '
                             f'scale is {scale} (set its upscale to {scale})')


def _check_datasets(path: str, opt: Mapping[str, Any], is_train: bool) -> None:
    from basicsr.utils.file_client import FileClient

    datasets = _get(opt, path, 'datasets')
    if not datasets:
        raise ValueError(f'{path}: datasets: no dataset' + (' to test on' if not is_train else ''))
    channels, channel_option = network_channels(opt)
    for key, entry in datasets.items():
        phase = str(key).split('_')[0]
        if is_train and key != 'train' and phase != 'val':
            raise ValueError(f'{path}: datasets.{key}: basicsr train reads datasets.train and datasets.val*, '
                             f'not {key}')
        if not is_train and phase not in ('val', 'test'):
            raise ValueError(f'{path}: datasets.{key}: basicsr test scores every dataset entry, and {key} is of '
                             f'phase {phase} (a random crop for training); name test sets test_1, test_2, ...')
        for where, spec in dataset_entry_specs(key, entry):
            if not isinstance(spec, Mapping):
                continue
            kind = spec.get('type')
            if kind == 'HiNASSplitDataset':
                _with_path(path, hinas_split_dataset.check_options, dict(spec, phase=phase), where)
            elif kind == 'HiNASNoisyImageDataset':
                _with_path(path, hinas_noisy_dataset.check_options, dict(spec, phase=spec.get('phase', phase)), where)
                gray = spec.get('gray', False)
                if channels is not None and channels != (1 if gray else 3):
                    raise ValueError(f'{path}: {where}.gray: {str(bool(gray)).lower()} reads {1 if gray else 3}-'
                                     f'channel images, but {channel_option} is {channels}')
            elif kind == 'HiNASMultiCropDataset':
                crops = spec.get('crops_per_image', 4)
                _check_number(path, f'{where}.crops_per_image', crops, True, 1)
                if crops > MAX_COUNT:
                    raise ValueError(f'{path}: {where}.crops_per_image: {crops}, at most {MAX_COUNT}')
                if 'gt_size' not in spec:
                    raise ValueError(f'{path}: missing option {where}.gt_size (HiNASMultiCropDataset crops it)')
                if not isinstance(spec.get('dataset'), Mapping) or 'type' not in spec['dataset']:
                    raise ValueError(f'{path}: {where}.dataset: HiNASMultiCropDataset needs the inner dataset '
                                     'options, with a type')
            if kind in WRAPPER_DATASETS:
                continue
            backend = spec.get('io_backend')
            if not isinstance(backend, Mapping) or 'type' not in backend:
                raise ValueError(f'{path}: missing option {where}.io_backend.type (disk or lmdb)')
            if not isinstance(backend['type'], str) or backend['type'] not in FileClient._backends:
                raise ValueError(f'{path}: {where}.io_backend.type: unknown backend {backend["type"]!r} '
                                 f'(BasicSR has {", ".join(FileClient._backends)})')


def _with_path(path: str, check, *args: Any) -> None:
    """``check(*args)``, its ``ValueError`` prefixed with the option file."""
    try:
        check(*args)
    except ValueError as err:
        raise ValueError(f'{path}: {err}') from None


def _check_optimizers(path: str, opt: Mapping[str, Any]) -> None:
    """Each ``train.optim_*``: a torch.optim optimizer taking these options (built on one dummy tensor)."""
    train = opt.get('train') or {}
    own_keys = ('bias_lr_factor', 'bias_weight_decay') if opt.get('model_type') == 'HiNASModel' else ()
    for key, spec in train.items():
        if not (key.startswith('optim_') and isinstance(spec, Mapping)):
            continue
        where = f'train.{key}'
        try:
            cls = optimizer_class(spec.get('type'), where)
        except ValueError as err:
            raise ValueError(f'{path}: {err}') from None
        for own in own_keys:
            _check_number(path, f'{where}.{own}', spec.get(own), False, 0, required=False)
        kwargs = {k: v for k, v in spec.items() if k != 'type' and k not in own_keys}
        _unknown_keys(path, where, cls, kwargs, given=('params',))
        _typed_like_defaults(path, where, cls, kwargs)
        try:
            cls([torch.zeros(1, requires_grad=True)], **copy.deepcopy(kwargs))
        except Exception as err:  # noqa: BLE001  (an optimizer may fail anyhow on options it cannot take)
            raise ValueError(with_reason(f'{path}: {where}: {cls.__name__} cannot take these options', err)) from None


# BasicSR's losses that are built to check their options (a reduction of another name failed at the model's start);
# the perceptual loss would load VGG weights, the GAN losses are not the plugin's
BUILT_BASICSR_LOSSES = ('L1Loss', 'MSELoss', 'CharbonnierLoss', 'WeightedTVLoss')


def _check_losses(path: str, opt: Mapping[str, Any]) -> None:
    """Each ``train.*_opt`` loss takes its options; the plugin's losses are checked as their constructors check."""
    from basicsr.utils.registry import LOSS_REGISTRY

    def check(where: str, spec: Any) -> None:
        if not isinstance(spec, Mapping) or spec.get('type') not in LOSS_REGISTRY:
            return
        cls = LOSS_REGISTRY.get(spec['type'])
        kwargs = {k: v for k, v in spec.items() if k != 'type'}
        _unknown_keys(path, where, cls, kwargs)
        if cls is sum_loss.SumLoss:
            _with_path(path, sum_loss.check_options, spec.get('losses'), spec.get('reduction', 'sum'), where)
            for i, inner in enumerate(spec['losses']):
                check(f'{where}.losses[{i}]', inner)
        elif cls.__module__.startswith('hinas_basicsr') or spec['type'] in BUILT_BASICSR_LOSSES:
            if spec['type'] in BUILT_BASICSR_LOSSES:
                _typed_like_defaults(path, where, cls, kwargs)
            try:
                cls(**copy.deepcopy(kwargs))
            except ValueError as err:  # the loss's own message
                raise ValueError(f'{path}: {where}: {str(err)[:160]}') from None
            except TypeError:  # Python's words about a value of another type: not shown
                raise ValueError(f'{path}: {where}: {spec["type"]} cannot take these options') from None

    for key, spec in (opt.get('train') or {}).items():
        if key.endswith('_opt') and key not in REMEDY_GROUPS:
            check(f'train.{key}', spec)


def _check_models(path: str, opt: Mapping[str, Any], is_train: bool) -> None:
    """What the plugin's models read when they start, and what they need of the networks and datasets."""

    model, train = opt.get('model_type'), opt.get('train') or {}
    if model == 'HiNASSearchModel' and is_train:
        _with_path(path, check_search_options, train)
        net_type = (opt.get('network_g') or {}).get('type')
        if net_type != 'HiNASSupernet':
            raise ValueError(f'{path}: network_g.type: HiNASSearchModel searches a HiNASSupernet, got {net_type!r}')
        _with_path(path, check_train_set, opt['datasets']['train'])
    if model == 'HiNASModel' and is_train:
        _with_path(path, check_clip_grad_value, train)


def check_components(path: str, opt: Mapping[str, Any], is_train: bool) -> None:
    """The plugin's networks, datasets, losses and models, and the optimizers and IO backends they name, checked
    through the validation their constructors use, before anything is written."""
    _check_networks(path, opt)
    _check_datasets(path, opt, is_train)
    if is_train:
        _check_optimizers(path, opt)
        _check_losses(path, opt)
    _check_models(path, opt, is_train)


# ----------------------------------------------------------------------------- checkpoints and training states
def check_pretrained(path: str, opt: Mapping[str, Any], is_train: bool) -> None:
    """Every ``path.pretrain_network_*`` is a torch checkpoint that fits its network (keys and shapes, as BasicSR's
    ``load_network`` with ``strict_load_*`` loads it); ``basicsr test`` needs one for ``network_g``."""

    paths = opt.get('path') or {}
    if not is_train and isinstance(opt.get('network_g'), Mapping) and not paths.get('pretrain_network_g'):
        raise ValueError(f'{path}: path.pretrain_network_g: empty, but basicsr test needs the trained weights '
                         '(it would score a randomly initialised network)')
    for key, spec in opt.items():
        if not (key.startswith('network_') and isinstance(spec, Mapping) and 'type' in spec):
            continue
        suffix = key[len('network_'):]
        checkpoint = paths.get(f'pretrain_network_{suffix}')
        if not checkpoint:
            continue
        option = f'{path}: path.pretrain_network_{suffix}'
        state = read_checkpoint(os.path.expanduser(checkpoint), option)
        weights = weights_of(state, checkpoint, paths.get(f'param_key_{suffix}', 'params'), basicsr=True,
                             option=option)
        net = build_for_check(path, key, spec)
        check_fits(net, weights, checkpoint, f'{key} of {path}', strict=paths.get(f'strict_load_{suffix}', True),
                   option=option)


def _run_name(opt: Mapping[str, Any], debug: bool) -> str:
    """The run's name as BasicSR's ``parse_options`` makes it (``debug_`` prefixed with ``--debug``)."""
    name = str(opt['name'])
    return 'debug_' + name if debug and not name.startswith('debug') else name


def resume_state_path(opt: Mapping[str, Any], auto_resume: bool, debug: bool) -> str | None:
    """The training state BasicSR's ``load_resume_state`` will load: with ``--auto_resume`` the latest
    ``experiments/<name>/training_states/<iter>.state``, else ``path.resume_state``."""
    if auto_resume:
        return latest_state(os.path.join('experiments', _run_name(opt, debug), 'training_states'))
    return (opt.get('path') or {}).get('resume_state') or None


def check_resume(path: str, opt: Mapping[str, Any], auto_resume: bool = False, debug: bool = False) -> None:
    """The training state to resume from is a torch file holding BasicSR's state, and each network checkpoint
    saved with it (``experiments/<name>/models/net_<x>_<iter>.pth``, which BasicSR then loads) fits its network."""

    state_path = resume_state_path(opt, auto_resume, debug)
    if state_path is None:
        return
    option = '--auto_resume' if auto_resume else f'{path}: path.resume_state'
    state = read_checkpoint(state_path, option, weights_only=False)  # written by this very training: trusted
    if not isinstance(state, Mapping) or not {'iter', 'optimizers', 'schedulers'} <= set(state):
        raise ValueError(f'{option}: {state_path} is not a BasicSR training state (no iter, optimizers, schedulers)')
    ignored = (opt.get('path') or {}).get('ignore_resume_networks') or ()
    models = os.path.join('experiments', _run_name(opt, debug), 'models')
    for key, spec in opt.items():
        if not (key.startswith('network_') and isinstance(spec, Mapping) and 'type' in spec) or key in ignored:
            continue
        checkpoint = os.path.join(models, f'net_{key[len("network_"):]}_{state["iter"]}.pth')
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f'{option}: {state_path} is at iter {state["iter"]}, but {checkpoint}, the '
                                    'network saved with it, does not exist')
        weights = weights_of(read_checkpoint(checkpoint, option), checkpoint, 'params', basicsr=True, option=option)
        check_fits(build_for_check(path, key, spec), weights, checkpoint, f'{key} of {path}', option=option)
