"""Rules on what option values mean, each a small function that the option check calls.

Each raises ``ValueError`` whose message starts with the option file and the option (``X.yml: train.scheduler.gamma:
...``), so that the console scripts print it as one line and exit 2 (docs/bad-input.md). They check the parsed
option mapping only: nothing is read from disk and nothing is written.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

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


def loss_weights(path: str, opt: Mapping[str, Any]) -> None:
    """Every loss's ``loss_weight`` (a ``SumLoss``'s inner losses too) is a positive number: a negative weight
    trains by gradient ascent, and a zero one not at all (leave such a loss out)."""
    for key, spec in (opt.get('train') or {}).items():
        if not str(key).endswith('_opt'):
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
