"""Reading a BasicSR option file (YAML, in BasicSR's ordered loader), refused in one line when it is not one."""
from __future__ import annotations

import os
from typing import Any

import yaml


def load_yaml(path: str, option: str = '-opt') -> dict[str, Any]:
    """Read an option file; refuse one that is missing, a folder, not text or not a YAML mapping.

    ``option`` is the command-line option that named the file (``-opt``, ``--test-opt``, ``--model``).
    """
    if os.path.isdir(path):
        raise ValueError(f'{option}: {path} is a folder, not an option file')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{option}: option file {path} does not exist')
    from basicsr.utils.options import ordered_yaml

    try:
        with open(path, encoding='utf-8') as f:
            opt = yaml.load(f, Loader=ordered_yaml()[0])
    except UnicodeDecodeError:
        raise ValueError(f'{option}: {path} is not a text file (not UTF-8): not an option file') from None
    except yaml.YAMLError as err:
        raise ValueError(f'{path}: not valid YAML ({str(err).splitlines()[0]})') from None
    if not isinstance(opt, dict):
        raise ValueError(f'{path}: expected a mapping of options, got {type(opt).__name__}')
    return opt
