"""Rules on what option values mean, each a small function that the option check calls.

Each raises ``ValueError`` whose message starts with the option file and the option (``X.yml: train.scheduler.gamma:
...``), so that the console scripts print it as one line and exit 2 (docs/bad-input.md). They check the parsed
option mapping only: nothing is read from disk and nothing is written.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hinas_basicsr.search.flops_model import FLOPS_GROUP
from hinas_basicsr.search.judge import SELECTION_GROUP
from hinas_basicsr.utils.arg_checks import is_integer, is_number

# BasicSR writes experiments/<name>_archived_<time>/ beside a run it archives, and --debug prefixes debug_: the
# name must leave room for both under the usual 255-byte limit of a file name
NAME_BYTES = 200
SCHEDULERS_WITH_MILESTONES = ('MultiStepLR', 'MultiStepRestartLR')


def experiment_name(path: str, opt: Mapping[str, Any]) -> None:
    """``name`` is one folder name: text, not empty, not ``.`` or ``..``, with no path separator.

    BasicSR makes ``experiments/<name>/``, ``tb_logger/<name>/`` and ``results/<name>/``, and renames an existing
    one to ``<name>_archived_<time>``: ``name: ../datasets`` renamed the user's own ``datasets/`` before.
    """
    name = opt.get('name')
    separators = [s for s in (os.sep, os.altsep, '/', '\\', '\0') if s]
    if not isinstance(name, str):
        raise ValueError(f'{path}: name: expected a folder name (text), got {name!r}')
    if not name.strip() or name in ('.', '..') or any(s in name for s in separators):
        raise ValueError(f'{path}: name: {name!r} is not one folder name (no path separator, not . or ..); BasicSR '
                         'writes experiments/<name>/, tb_logger/<name>/ and results/<name>/ with it')
    if len(name.encode('utf-8', 'surrogatepass')) > NAME_BYTES:
        raise ValueError(f'{path}: name: {len(name.encode("utf-8", "surrogatepass"))} bytes long, at most '
                         f'{NAME_BYTES} (BasicSR adds debug_ and _archived_<time> to it)')


def _losses(spec: Any, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """A loss and, inside a ``SumLoss``, each of its losses, with their option paths."""
    if not isinstance(spec, Mapping):
        return []
    found = [(where, spec)]
    inner = spec.get('losses')
    if isinstance(inner, list):
        for i, loss in enumerate(inner):
            found += _losses(loss, f'{where}.losses[{i}]')
    return found


SECTIONS = ('datasets', 'path', 'train', 'val', 'logger', 'dist_params')


def sections(path: str, opt: Mapping[str, Any]) -> None:
    """The sections BasicSR reads as mappings (``datasets``, ``path``, ``train``, ``val``, ``logger``,
    ``dist_params``, each ``network_*``) are mappings, or absent (``val: .nan`` failed deep in BasicSR)."""
    for key, value in opt.items():
        optional = key in ('val', 'logger', 'dist_params')  # BasicSR reads these with opt.get(...) or checks them
        if (key in SECTIONS or str(key).startswith('network_')) and not isinstance(value, Mapping) \
                and not (optional and value is None):
            raise ValueError(f'{path}: {key}: expected a mapping of options, got {value!r:.60}')


def typed_components(path: str, opt: Mapping[str, Any]) -> None:
    """Every component BasicSR builds by its ``type`` has one: each dataset (a wrapper's inner one too), each
    ``network_*``, each ``train.*_opt`` loss (or null: the model then leaves it out), each ``train.optim_*``, each
    metric."""
    found: list[tuple[str, Any]] = [(f'datasets.{k}', v) for k, v in (opt.get('datasets') or {}).items()]
    found += [(where, spec) for where, spec in _dataset_specs(opt) if where.endswith('.dataset')]
    found += [(str(k), v) for k, v in opt.items() if str(k).startswith('network_')]
    train = opt.get('train') or {}
    # the remedy groups are no losses: their owners check them (selection_opt: the judge; flops_opt: the FLOPs model)
    found += [(f'train.{k}', v) for k, v in train.items() if k not in (SELECTION_GROUP, FLOPS_GROUP)
              and ((str(k).endswith('_opt') and v is not None) or str(k).startswith('optim_'))]
    for where, spec in found:
        if not isinstance(spec, Mapping):
            raise ValueError(f'{path}: {where}: expected a mapping of options with a type, got {spec!r:.60}')
        if not isinstance(spec.get('type'), str) or not spec['type']:
            raise ValueError(f'{path}: missing option {where}.type' if 'type' not in spec else
                             f'{path}: {where}.type: expected a type name, got {spec["type"]!r:.60}')


def loss_weights(path: str, opt: Mapping[str, Any]) -> None:
    """Every loss's ``loss_weight`` (a ``SumLoss``'s inner losses too) is a positive number: a negative weight
    trains by gradient ascent, and a zero one not at all (leave such a loss out)."""
    for key, spec in (opt.get('train') or {}).items():
        if not str(key).endswith('_opt') or key in (SELECTION_GROUP, FLOPS_GROUP):
            continue
        for where, loss in _losses(spec, f'train.{key}'):
            weight = loss.get('loss_weight')
            if weight is not None and (not is_number(weight) or weight <= 0):
                raise ValueError(f'{path}: {where}.loss_weight: expected a positive number, got {weight!r} (a '
                                 'negative weight trains by gradient ascent; leave a loss out to disable it)')


def _integers(path: str, where: str, values: Any, minimum: int, maximum: int | None = None) -> list[int]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f'{path}: {where}: expected a list of integers, got {values!r}')
    for i, value in enumerate(values):
        if not is_integer(value) or value < minimum or (maximum is not None and value > maximum):
            bound = f'from {minimum} to {maximum}' if maximum is not None else f'>= {minimum}'
            raise ValueError(f'{path}: {where}[{i}]: expected an integer {bound}, got {value!r}'
                             + (' (the training has that many iterations)' if maximum is not None else ''))
    return list(values)


def _positives(path: str, where: str, values: Any) -> list[float]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f'{path}: {where}: expected a list of numbers, got {values!r}')
    for i, value in enumerate(values):
        if not is_number(value) or value <= 0:
            raise ValueError(f'{path}: {where}[{i}]: expected a positive number, got {value!r}')
    return list(values)


def _unknown_scheduler_keys(path: str, where: str, kind: str, spec: Mapping[str, Any]) -> None:
    import inspect

    from basicsr.models import lr_scheduler

    cls = lr_scheduler.MultiStepRestartLR if kind in SCHEDULERS_WITH_MILESTONES else getattr(lr_scheduler, kind)
    takes = [k for k in inspect.signature(cls).parameters if k not in ('optimizer', 'last_epoch')]
    unknown = [k for k in spec if k != 'type' and k not in takes]
    if unknown:
        raise ValueError(f'{path}: {where}.{unknown[0]}: not an option of {kind} (it takes {", ".join(takes)})')


def scheduler(path: str, opt: Mapping[str, Any]) -> None:
    """BasicSR's schedulers: ``gamma`` in (0, 1]; ``milestones`` and ``restarts`` integers within the training;
    ``restart_weights`` as many as the ``restarts`` (``periods`` for the cosine one), and positive; the cosine
    ``periods`` positive integers that cover ``total_iter`` (BasicSR fails past their sum)."""
    train = opt.get('train')
    spec = train.get('scheduler') if isinstance(train, Mapping) else None
    if not isinstance(spec, Mapping):
        return
    where, kind, total = 'train.scheduler', spec.get('type'), train.get('total_iter')
    total = total if is_integer(total) else None
    gamma = spec.get('gamma')
    if 'gamma' in spec and (not is_number(gamma) or not 0 < gamma <= 1):
        raise ValueError(f'{path}: {where}.gamma: expected a decay factor in (0, 1], got {gamma!r}')
    weights = spec.get('restart_weights', [1])
    if kind in SCHEDULERS_WITH_MILESTONES:
        _integers(path, f'{where}.milestones', spec.get('milestones'), 1, total)
        restarts = _integers(path, f'{where}.restarts', spec.get('restarts', [0]), 0, total)
        count, other = len(restarts), 'restarts'
    elif kind == 'CosineAnnealingRestartLR':
        periods = _integers(path, f'{where}.periods', spec.get('periods'), 1)
        if total is not None and sum(periods) < total:
            raise ValueError(f'{path}: {where}.periods: they sum to {sum(periods)}, fewer than train.total_iter '
                             f'{total} (BasicSR has no learning rate past their sum)')
        eta_min = spec.get('eta_min', 0)
        if not is_number(eta_min) or eta_min < 0:
            raise ValueError(f'{path}: {where}.eta_min: expected a number >= 0, got {eta_min!r}')
        count, other = len(periods), 'periods'
    else:
        return
    _unknown_scheduler_keys(path, where, kind, spec)
    weights = _positives(path, f'{where}.restart_weights', weights)
    if len(weights) != count:
        raise ValueError(f'{path}: {where}.restart_weights: {len(weights)} weight(s) for {count} {other} (one '
                         f'each)')


# the dataroots each of BasicSR's and the plugin's image datasets reads (the wrappers read their inner dataset's)
DATAROOTS = {'PairedImageDataset': ('dataroot_gt', 'dataroot_lq'), 'SingleImageDataset': ('dataroot_lq',),
             'HiNASNoisyImageDataset': ('dataroot_gt',)}


def _dataset_specs(opt: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    datasets = opt.get('datasets')
    found = []
    for key, entry in (datasets.items() if isinstance(datasets, Mapping) else ()):
        if isinstance(entry, Mapping):
            found.append((f'datasets.{key}', entry))
            if isinstance(entry.get('dataset'), Mapping):
                found.append((f'datasets.{key}.dataset', entry['dataset']))
    return found


def dataroots(path: str, opt: Mapping[str, Any]) -> None:
    """Every dataroot is a folder or LMDB path as text, never empty or null where the dataset reads it (an empty
    one skipped the folder check, and BasicSR then failed on it)."""
    for where, spec in _dataset_specs(opt):
        needed = DATAROOTS.get(spec.get('type'), ()) if isinstance(spec.get('type'), str) else ()
        for key in ('dataroot_gt', 'dataroot_lq', 'meta_info_file'):
            value = spec.get(key)
            if key in needed and not value:
                raise ValueError(f'{path}: {where}.{key}: {spec["type"]} reads it, got {value!r} (a folder or LMDB)')
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f'{path}: {where}.{key}: expected a path, got {value!r:.60}')


def path_options(path: str, opt: Mapping[str, Any]) -> None:
    """``path:``: checkpoints and training states are paths (or null), ``strict_load_*`` booleans, ``param_key_*``
    names, ``ignore_resume_networks`` a list of network names."""
    paths = opt.get('path')
    if paths is None:
        return
    if not isinstance(paths, Mapping):
        raise ValueError(f'{path}: path: expected a mapping of paths, got {paths!r:.60}')
    for key, value in paths.items():
        key = str(key)
        if key.startswith('pretrain_network_') or key == 'resume_state':
            ok, kind = value is None or isinstance(value, str), 'a path'
        elif key.startswith('strict_load_'):
            ok, kind = isinstance(value, bool), 'true or false'
        elif key.startswith('param_key_'):
            ok, kind = isinstance(value, str) and value != '', 'an entry name (params, params_ema)'
        elif key == 'ignore_resume_networks':
            ok, kind = value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value)), \
                'a list of network names'
        else:
            continue
        if not ok:
            raise ValueError(f'{path}: path.{key}: expected {kind}, got {value!r:.60}')


PREFETCH_MODES = (None, 'cpu', 'cuda')


def pipeline(path: str, opt: Mapping[str, Any], is_train: bool) -> None:
    """What BasicSR's train and test pipelines read directly (a KeyError or an assertion there, after
    ``experiments/<name>`` exists): each dataset's ``name``; for training a ``logger`` with ``print_freq`` and
    ``save_checkpoint_freq``, ``use_tb_logger`` on where ``wandb`` logs, a ``val`` with ``val_freq`` and
    ``save_img``, and the train set's ``prefetch_mode`` (``cuda`` with ``pin_memory: true``)."""
    for key, entry in (opt.get('datasets') or {}).items():
        if isinstance(entry, Mapping) and not isinstance(entry.get('name'), str):
            raise ValueError(f'{path}: datasets.{key}.name: expected a name (BasicSR logs it), got '
                             f'{entry.get("name")!r:.60}')
    metrics = (opt.get('val') or {}).get('metrics')
    if metrics is not None and (not isinstance(metrics, Mapping) or
                                not all(isinstance(m, Mapping) and 'type' in m for m in metrics.values())):
        raise ValueError(f'{path}: val.metrics: expected a mapping of metrics, each with a type, got {metrics!r:.60}')
    if not is_train:
        return
    logger = opt.get('logger')
    if not isinstance(logger, Mapping):
        raise ValueError(f'{path}: missing option logger (print_freq, save_checkpoint_freq; basicsr train reads it)')
    for key in ('print_freq', 'save_checkpoint_freq'):
        if key not in logger:
            raise ValueError(f'{path}: missing option logger.{key} (basicsr train reads it)')
    if 'use_tb_logger' in logger and not isinstance(logger['use_tb_logger'], bool):
        raise ValueError(f'{path}: logger.use_tb_logger: expected true or false, got {logger["use_tb_logger"]!r:.60}')
    wandb = logger.get('wandb')
    if wandb is not None and (not isinstance(wandb, Mapping) or
                              (wandb.get('project') is not None and logger.get('use_tb_logger') is not True)):
        raise ValueError(f'{path}: logger.wandb: a mapping (project, resume_id), and logging to wandb needs '
                         f'logger.use_tb_logger: true; got {wandb!r:.60}')
    val = opt.get('val')
    if val is not None:
        for key in ('val_freq', 'save_img'):
            if key not in val:
                raise ValueError(f'{path}: missing option val.{key} (basicsr train validates with it)')
        if not isinstance(val['save_img'], bool):
            raise ValueError(f'{path}: val.save_img: expected true or false, got {val["save_img"]!r:.60}')
    train_set = (opt.get('datasets') or {}).get('train')
    if isinstance(train_set, Mapping):
        mode = train_set.get('prefetch_mode')
        if not (mode is None or isinstance(mode, str)) or mode not in PREFETCH_MODES:
            raise ValueError(f'{path}: datasets.train.prefetch_mode: expected cpu, cuda or none, got {mode!r:.60}')
        if mode == 'cuda' and train_set.get('pin_memory') is not True:
            raise ValueError(f'{path}: datasets.train.prefetch_mode: cuda needs datasets.train.pin_memory: true')


def force_yml(opt: dict[str, Any], entries: list[str] | None) -> None:
    """Apply ``--force_yml`` entries (``train:ema_decay=0.999``) to ``opt`` in place, as BasicSR's ``parse_options``
    will apply them after the checks, so that the checks see the options BasicSR runs with. An entry BasicSR
    would fail on (``too many values to unpack``), or whose value it would ``eval`` as code, is refused."""
    import ast

    from basicsr.utils.options import _postprocess_yml_value

    for entry in entries or ():
        if entry.count('=') != 1:
            raise ValueError(f'--force_yml {entry}: expected KEY:KEY=VALUE with one =')
        keys, value = (part.strip() for part in entry.split('='))
        keys = keys.split(':')
        node: Any = opt
        for depth, key in enumerate(keys[:-1]):
            if not isinstance(node, dict) or key not in node:
                raise ValueError(f'--force_yml {entry}: no option {":".join(keys[:depth + 1])} in the option file')
            node = node[key]
        if not isinstance(node, dict) or not keys[-1]:
            raise ValueError(f'--force_yml {entry}: {":".join(keys[:-1]) or "the option file"} is not a mapping')
        try:
            parsed = ast.literal_eval(value) if value.startswith('[') else _postprocess_yml_value(value)
        except (ValueError, SyntaxError):
            raise ValueError(f'--force_yml {entry}: {value!r} is not a value (a number, true, false, ~, a [list] '
                             'of values, or text)') from None
        node[keys[-1]] = parsed


MAX_CROP_BORDER = 64  # pixels a metric crops from each side: the scale's border, far below any test image's size


def metrics(path: str, opt: Mapping[str, Any]) -> None:
    """Each ``val.metrics`` entry gives its metric function's required arguments (``crop_border``), of the kinds
    of their defaults, ``crop_border`` an integer from 0 to ``MAX_CROP_BORDER`` (a missing one, or one that crops
    the whole image, failed at the first validation)."""
    import inspect

    from basicsr.utils.registry import METRIC_REGISTRY

    for key, spec in ((opt.get('val') or {}).get('metrics') or {}).items():
        if not isinstance(spec, Mapping) or spec.get('type') not in METRIC_REGISTRY:
            continue
        where = f'val.metrics.{key}'
        params = inspect.signature(METRIC_REGISTRY.get(spec['type'])).parameters
        for name, param in params.items():
            if name in ('img', 'img2') or param.kind is inspect.Parameter.VAR_KEYWORD:
                continue
            if param.default is inspect.Parameter.empty and name not in spec:
                raise ValueError(f'{path}: missing option {where}.{name} (required by {spec["type"]})')
            kind = type(param.default)
            if name in spec and kind in (bool, str) and not isinstance(spec[name], kind):
                expected = 'true or false' if kind is bool else 'text'
                raise ValueError(f'{path}: {where}.{name}: expected {expected}, got {spec[name]!r:.60}')
        border = spec.get('crop_border', 0)
        if not is_integer(border) or not 0 <= border <= MAX_CROP_BORDER:
            raise ValueError(f'{path}: {where}.crop_border: expected an integer from 0 to {MAX_CROP_BORDER}, got '
                             f'{border!r:.60}')


# what each of BasicSR's IO backends takes beside its type (the LMDB one hands the rest to lmdb.open)
BACKEND_OPTIONS = {
    'disk': (),
    'lmdb': ('db_paths', 'client_keys', 'readonly', 'lock', 'readahead', 'map_size', 'subdir', 'metasync', 'sync',
             'map_async', 'mode', 'create', 'writemap', 'meminit', 'max_readers', 'max_dbs', 'max_spare_txns'),
    'memcached': ('server_list_cfg', 'client_cfg', 'sys_path'),
}
TRAINING_CROP = ('gt_size', 'use_hflip', 'use_rot')  # what BasicSR's PairedImageDataset reads in its train phase


def datasets(path: str, opt: Mapping[str, Any]) -> None:
    """Each dataset's ``io_backend`` options are those its backend takes (``HardDiskBackend() takes no arguments``
    failed at the first image), and a ``PairedImageDataset`` that crops (its phase is train, or it is a split's
    inner dataset of the train phase) has ``gt_size``, ``use_hflip`` and ``use_rot``."""
    for key, entry in (opt.get('datasets') or {}).items():
        if not isinstance(entry, Mapping):
            continue
        outer_phase = str(key).split('_')[0]
        specs = [(f'datasets.{key}', entry, entry.get('phase', outer_phase))]
        inner = entry.get('dataset')
        if isinstance(inner, Mapping):
            inherited = 'val' if entry.get('type') == 'HiNASMultiCropDataset' else entry.get('phase', outer_phase)
            specs.append((f'datasets.{key}.dataset', inner, inner.get('phase', inherited)))
        for where, spec, phase in specs:
            backend = spec.get('io_backend')
            if isinstance(backend, Mapping) and isinstance(backend.get('type'), str) \
                    and backend['type'] in BACKEND_OPTIONS:
                takes = BACKEND_OPTIONS[backend['type']]
                unknown = [k for k in backend if k != 'type' and k not in takes]
                if unknown:
                    raise ValueError(f'{path}: {where}.io_backend.{unknown[0]}: not an option of the '
                                     f'{backend["type"]} backend (it takes {", ".join(takes) or "none"})')
            if spec.get('type') == 'PairedImageDataset' and phase == 'train':
                missing = [k for k in TRAINING_CROP if k not in spec and not (k == 'gt_size' and
                                                                               'gt_size' in entry)]
                if missing:
                    raise ValueError(f'{path}: missing option {where}.{missing[0]} (PairedImageDataset crops and '
                                     'flips its training pairs with gt_size, use_hflip and use_rot)')
                for flag in ('use_hflip', 'use_rot'):
                    if not isinstance(spec[flag], bool):
                        raise ValueError(f'{path}: {where}.{flag}: expected true or false, got {spec[flag]!r:.60}')
