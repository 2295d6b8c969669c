"""Atomic file writes: every output goes to a temporary file beside its target, then is renamed.

A reader (or an interrupted run) never sees a half-written genotype, checkpoint, table or plot. The
file gets the mode that the umask gives a new file (0644 under the usual umask 022), as ``open`` would
give it, not the 0600 of a temporary file. This module imports nothing from BasicSR, so
:mod:`hinas_basicsr.compat` can use it.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any


def new_file_mode() -> int:
    """The mode ``open`` gives a new file under the current umask (0o666 less the umask's bits)."""
    umask = os.umask(0o022)  # the only way to read it is to set it: set it back at once
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` for a temporary file beside ``path``, then rename it into place.

    The temporary file is ``.tmpXXXX<ext>`` (the target's extension, which writers such as matplotlib
    and ONNX read; ``.tmp`` for a target without one: torch's zip writer refuses a name that is a dot and
    letters alone). A target that is a folder is refused before anything is written.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, 'is a folder, not a file', path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp', suffix=os.path.splitext(path)[1] or '.tmp')
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, new_file_mode())
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
