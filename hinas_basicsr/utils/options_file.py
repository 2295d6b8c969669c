"""Reading a BasicSR option file (YAML, in BasicSR's ordered loader), refused in one line when it is not one, and
the shape of a component group in it (``*_opt: {type: ...}``), for the components that own such a group."""
from __future__ import annotations

import os
from collections.abc import Mapping
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


REQUIRED = object()  # a key of a component group without a default (see component_options)


def component_options(option: str, spec: Any, types: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A component group as BasicSR writes one (``option: {type: NAME, key: value, ...}``) with the defaults of
    its type filled in. ``types`` maps each type to its keys and their defaults (``REQUIRED`` for none).

    Refuses (``ValueError`` naming ``option`` and the key) a group that is not a mapping, a missing or unknown
    ``type``, a key its type does not take and a required key left out; the values are the owner's to check.
    """
    names = ' | '.join(types)
    if not isinstance(spec, Mapping):
        raise ValueError(f'{option}: expected a mapping {{type: {names}, ...}}, got {spec!r}')
    kind = spec.get('type')
    if kind is None:
        raise ValueError(f'{option}.type: missing ({names})')
    if not isinstance(kind, str) or kind not in types:
        raise ValueError(f'{option}.type: {kind!r} is not one of {", ".join(types)}')
    keys = types[kind]
    unknown = [k for k in spec if k != 'type' and k not in keys]
    if unknown:
        raise ValueError(f'{option}.{unknown[0]}: not an option of type {kind} (it takes {", ".join(keys) or "none"})')
    missing = [k for k, default in keys.items() if default is REQUIRED and k not in spec]
    if missing:
        raise ValueError(f'{option}.{missing[0]}: missing (type {kind} needs it)')
    return {'type': kind, **{k: spec.get(k, default) for k, default in keys.items()}}


def refuse_replaced_keys(options: Mapping[str, Any], section: str, prefix: str, group: str, example: str,
                         fields: Mapping[str, str], doc: str) -> None:
    """Refuse the flat keys ``<prefix>*`` of ``options`` (the option file's ``section``) that the component group
    ``group`` replaced, in one line naming the new spelling: ``fields`` maps an old key to its key in the group
    (``type`` for the one that named the component: the hint shows its value), ``example`` is the type the
    hint shows with the other keys."""
    for key, value in options.items():
        if key.startswith(prefix) and key != group:
            field = fields.get(key, '...')
            if field == 'type':
                spelled = f'{{type: {value if isinstance(value, str) else "..."}}}'
            else:
                spelled = f'{{type: {example}, {field}: ...}}'
            raise ValueError(f'{section}.{key}: replaced by {section}.{group}: {spelled}; see {doc}')
