"""Checks of values and command-line arguments, run before a command reads or writes anything.

Each raises ``ValueError`` (or ``FileNotFoundError``) whose message starts with the option and names
the path or value, so that the console scripts print it as one line and exit 2 (docs/bad-input.md).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any


def is_number(value: Any) -> bool:
    """A finite int or float, and not a bool (YAML and JSON give ``true`` as a bool, which Python counts as 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any, option: str, minimum: float | None = None, integer: bool = False,
           above: bool = False) -> None:
    """Refuse a value that is not a finite number (an integer with ``integer``), at least ``minimum``
    (greater than it with ``above``)."""
    if not is_number(value) or (integer and not float(value).is_integer()):
        raise ValueError(f'{option}: expected a finite {"integer" if integer else "number"}, got {value!r}')
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise ValueError(f'{option}: expected a value {">" if above else ">="} {minimum}, got {value!r}')


def sizes(values: Sequence[int], option: str) -> None:
    """Image sizes (``H W``): every one an integer >= 1."""
    if any(v < 1 for v in values):
        raise ValueError(f'{option}: expected sizes >= 1, got {" ".join(str(v) for v in values)}')


def input_file(path: str, option: str, what: str = 'file') -> None:
    """``path`` is an existing file (not a folder)."""
    if os.path.isdir(path):
        raise ValueError(f'{option}: {path} is a folder, not a {what}')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{option}: {path} does not exist')


def _blocking_file(path: str) -> str | None:
    """The first existing component of ``path`` (itself included) that is not a folder, or None."""
    parts = os.path.abspath(path).split(os.sep)
    for end in range(2, len(parts) + 1):
        prefix = os.sep.join(parts[:end]) or os.sep
        if not os.path.exists(prefix):
            return None
        if not os.path.isdir(prefix):
            return prefix
    return None


def _existing_ancestor(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def output_dir(path: str, option: str, target: str | None = None) -> None:
    """``path`` is a folder, or can be made one: no file stands on its way, and it can be written.

    ``target`` is the output inside it that the option names, for the message (default: ``path`` itself).
    """
    target = target or path
    blocking = _blocking_file(path)
    if blocking is not None:
        if os.path.abspath(blocking) == os.path.abspath(target):
            raise ValueError(f'{option}: {target} is a file, not a folder')
        raise ValueError(f'{option}: {target} cannot be made: {blocking} is a file, not a folder')
    ancestor = _existing_ancestor(path)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f'{option}: {target} cannot be written: {ancestor} is not writable')


def output_file(path: str, option: str, suffixes: Sequence[str] | None = None) -> None:
    """``path`` can be written as a file: not a folder, its folder possible, one of ``suffixes`` if given."""
    if os.path.isdir(path):
        raise ValueError(f'{option}: {path} is a folder; give a file name'
                         + (f' ending in {" or ".join(suffixes)}' if suffixes else ''))
    if suffixes and not path.lower().endswith(tuple(suffixes)):
        raise ValueError(f'{option}: expected a file name ending in {" or ".join(suffixes)}, got {path}')
    output_dir(os.path.dirname(path) or '.', option, target=path)
