"""Atomic file writes: every output goes to a temporary file beside its target, then is renamed.

A reader (or an interrupted run) never sees a half-written genotype, checkpoint, table or plot.
This module imports nothing from BasicSR, so :mod:`hinas_basicsr.compat` can use it.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` for a temporary file beside ``path``, then rename it into place."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp', suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) atomically."""
    def write(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8', newline='') as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path: str | os.PathLike, obj: Any, indent: int = 1) -> None:
    """Write ``obj`` as JSON atomically."""
    write_text(path, json.dumps(obj, indent=indent))


def write_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` ``obj`` atomically (checkpoints and training states)."""
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))
