"""Checks of values and command-line arguments, run before a command reads or writes anything.

Each raises ``ValueError`` (or ``FileNotFoundError``) whose message starts with the option and names
the path or value, so that the console scripts print it as one line and exit 2 (docs/bad-input.md).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

# the largest image: checked from its header before it is decoded (Pillow's own bomb check stops at 179 million
# pixels, and a PNG header claiming 30000x30000 raised its error): 8192 x 8192, 67 million pixels, 200 MB as 8-bit
# RGB and 800 MB as the float32 tensor a network reads
MAX_SIDE = 8192
MAX_PIXELS = MAX_SIDE * MAX_SIDE
# the largest side of a probe input that a network is run on to be measured or traced (compare --flops-size,
# export --input-size): 100000 x 100000 asked for 120 GB
MAX_PROBE_SIDE = 2048


def is_number(value: Any) -> bool:
    """A finite int or float, and not a bool (YAML and JSON give ``true`` as a bool, which Python counts as 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    """An ``int``, not a bool, and not a float however whole: one rule for every count, size and index.

    A whole-number float (``2.0``, YAML's ``!!float 5e3``) is refused where an integer is needed: BasicSR slices
    and counts with these values, and a float there fails deep inside a training (a crop of ``gt_size: 64.0``).
    """
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: Any, option: str, minimum: float | None = None, integer: bool = False,
           above: bool = False) -> None:
    """Refuse a value that is not a finite number (an integer with ``integer``), at least ``minimum``
    (greater than it with ``above``)."""
    if not is_number(value) or (integer and not is_integer(value)):
        raise ValueError(f'{option}: expected a finite {"integer" if integer else "number"}, got {value!r}')
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise ValueError(f'{option}: expected a value {">" if above else ">="} {minimum}, got {value!r}')


def count(value: Any, option: str, least: int, most: int, what: str) -> None:
    """A count asked for (nets, seeds, iterations, images, processes): an integer from ``least`` to ``most``, a bound
    no study reaches; ``what`` says what each one costs, for the message (``each a net trained and saved``)."""
    if not is_integer(value) or not least <= value <= most:
        raise ValueError(f'{option}: expected an integer from {least} to {most:,} ({what}), got {value!r}')


def sizes(values: Sequence[int], option: str, maximum: int = MAX_PROBE_SIDE) -> None:
    """Image sizes (``H W``) of a probe input: every one an integer from 1 to ``maximum``."""
    if any(v < 1 for v in values):
        raise ValueError(f'{option}: expected sizes >= 1, got {" ".join(str(v) for v in values)}')
    if any(v > maximum for v in values):
        raise ValueError(f'{option}: expected sizes <= {maximum}, got {" ".join(str(v) for v in values)} (a forward '
                         f'pass at {maximum}x{maximum} already holds gigabytes of activations)')


def input_file(path: str, option: str, what: str = 'file') -> None:
    """``path`` is a readable regular file; else one line naming ``option``, ``path`` and what is wrong (``what``:
    the kind of file asked for). The one check of an input file, for every reader (``options_file.read_text_file``,
    ``checkpoints.read_checkpoint``, the commands' arguments)."""
    kind = f'{article(what)} {what}'
    if os.path.isdir(path):
        raise ValueError(f'{option}: {path} is a folder, not {kind}')
    if not os.path.exists(path):
        raise FileNotFoundError(f'{option}: {path} does not exist')
    if not os.path.isfile(path):
        raise ValueError(f'{option}: {path} is not a regular file (a pipe or a device), not {kind}')
    if not os.access(path, os.R_OK):
        raise ValueError(f'{option}: {path} cannot be read (no read permission)')


def article(word: str) -> str:
    """``a`` or ``an`` before ``word``."""
    return 'an' if word[:1].lower() in tuple('aeiou') else 'a'


# exceptions whose text is Python's own, about the code that met a value ('NoneType' object is not subscriptable,
# list index out of range), not about the user's file or option; and Python's own words in a ValueError
PYTHON_ERRORS = (TypeError, AttributeError, KeyError, IndexError, NameError, AssertionError, ZeroDivisionError,
                 RecursionError)
PYTHON_PHRASES = ('values to unpack', 'invalid literal for', 'could not convert', 'math domain error')


def error_reason(err: BaseException, limit: int = 120) -> str | None:
    """What an exception raised by a library says about the input, for the parentheses of a one-line message: an
    OS error's strerror (``Permission denied``), else the first line of its text, at most ``limit`` characters.
    None where the text is Python's own (``PYTHON_ERRORS``, ``PYTHON_PHRASES``) or empty: the message then says
    what is wrong without it."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    lines = [' '.join(line.split()) for line in str(err).splitlines() if line.strip()]
    if isinstance(err, PYTHON_ERRORS) or not lines or any(phrase in lines[0] for phrase in PYTHON_PHRASES):
        return None
    return lines[0][:limit]


def with_reason(message: str, err: BaseException) -> str:
    """``message (reason)``, with the :func:`error_reason` of ``err`` where it has one."""
    reason = error_reason(err)
    return f'{message} ({reason})' if reason else message


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
