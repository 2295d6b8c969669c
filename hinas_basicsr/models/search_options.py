"""Checks of the ``train:`` options that only :class:`HiNASSearchModel` reads (its schedule of the search).

The model calls :func:`check_search_options` when it starts; the options check of ``basicsr train`` calls
it before anything is written. Each failure is a ``ValueError`` naming ``train.<key>``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hinas_basicsr.utils.arg_checks import is_number


def _fraction(train: Mapping[str, Any], key: str, default: float, closed: bool) -> None:
    value = train.get(key, default)
    if not is_number(value) or not (0 <= value <= 1 if closed else 0 <= value < 1):
        interval = '0 <= x <= 1' if closed else '0 <= x < 1'
        raise ValueError(f'train.{key}: expected a fraction of total_iter, {interval}, got {value!r}')


def check_search_options(train: Mapping[str, Any]) -> None:
    """``best_after_ratio`` in [0, 1]; the architecture warm-up (``arch_warmup_ratio`` in [0, 1), or
    ``arch_warmup_iter`` an integer below ``total_iter``) leaves architecture steps to take."""
    _fraction(train, 'best_after_ratio', 0.6, closed=True)
    warmup_iter = train.get('arch_warmup_iter')
    total = train.get('total_iter')
    if warmup_iter is None:
        _fraction(train, 'arch_warmup_ratio', 0.2, closed=False)
        ratio = train.get('arch_warmup_ratio', 0.2)
        if isinstance(total, (int, float)) and total >= 1 and round(ratio * total) >= total:
            raise ValueError(f'train.arch_warmup_ratio: {ratio} of total_iter {total} leaves no architecture step '
                             '(the search would decode a uniform alpha)')
        return
    if not is_number(warmup_iter) or not float(warmup_iter).is_integer() or warmup_iter < 0:
        raise ValueError(f'train.arch_warmup_iter: expected an integer >= 0, got {warmup_iter!r}')
    if isinstance(total, (int, float)) and warmup_iter >= total:
        raise ValueError(f'train.arch_warmup_iter: {warmup_iter} leaves no architecture step in total_iter {total} '
                         '(the search would decode a uniform alpha)')
