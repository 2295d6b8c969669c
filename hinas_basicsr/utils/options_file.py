"""Reading a BasicSR option file (YAML, in BasicSR's ordered loader), refused in one line when it is not one, and
the shape of a component group in it (``*_opt: {type: ...}``), for the components that own such a group."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import yaml

from hinas_basicsr.utils.arg_checks import article, input_file

# bounds on what an option file may be: BasicSR's and the plugin's nest at most 8 deep (an inline genotype's search
# record included); deeper, or larger, is not an option file
MAX_BYTES = 16 << 20
MAX_DEPTH = 32


def read_text_file(path: str, option: str, what: str, max_bytes: int) -> str:
    """The text of the file ``path`` that ``option`` names; refused in one line when it is not a readable regular
    file (``arg_checks.input_file``), larger than ``max_bytes`` or not UTF-8 text (``what``: the kind of file)."""
    input_file(path, option, what)
    kind = f'{article(what)} {what}'
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ValueError(f'{option}: {path} is {size} bytes, larger than {kind} can be ({max_bytes >> 20} MB)')
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except UnicodeDecodeError:
        raise ValueError(f'{option}: {path} is not a text file (not UTF-8), not {kind}') from None


def parse_json(text: str, source: str, what: str, depth: int | None = None) -> Any:
    """The JSON value of ``text``, read from ``source`` (the file, after the option that names it); refused in one
    line when it is not JSON or nests too deep for Python's parser (``what``: the kind of file; ``depth``: the
    bound its reader keeps, for the message)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f'{source}: not valid JSON ({err})') from None
    except RecursionError:
        bound = f' (at most {depth} levels)' if depth else ''
        raise ValueError(f'{source}: nested too deep to be {article(what)} {what}{bound}') from None


def load_yaml(path: str, option: str = '-opt') -> dict[str, Any]:
    """Read an option file; refuse one that is missing, a folder, not text or not a YAML mapping.

    ``option`` is the command-line option that named the file (``-opt``, ``--test-opt``, ``--model``).
    """
    from basicsr.utils.options import ordered_yaml

    text = read_text_file(path, option, 'option file', MAX_BYTES)
    try:
        _check_nesting(path, text)  # before the C loader, which a deep file crashes (a stack overflow, no exception)
        opt = yaml.load(text, Loader=ordered_yaml()[0])
    except yaml.YAMLError as err:
        raise ValueError(f'{path}: not valid YAML ({str(err).splitlines()[0]})') from None
    except RecursionError:
        raise ValueError(f'{path}: nested too deep to be an option file (at most {MAX_DEPTH} levels)') from None
    if not isinstance(opt, dict):
        raise ValueError(f'{path}: expected a mapping of options, got {type(opt).__name__}')
    check_structure(path, opt)
    return opt


_OPENS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
          yaml.FlowSequenceStartToken)
_CLOSES = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _check_nesting(path: str, text: str) -> None:
    """Refuse YAML text that nests deeper than ``MAX_DEPTH``, from its tokens (PyYAML's scanner: no recursion)."""
    depth = 0
    for token in yaml.scan(text):
        depth += isinstance(token, _OPENS) - isinstance(token, _CLOSES)
        if depth > MAX_DEPTH:
            line = token.start_mark.line + 1
            raise ValueError(f'{path}: line {line}: nested deeper than {MAX_DEPTH} levels: not an option file')


def check_structure(path: str, opt: dict[str, Any]) -> None:
    """Every mapping's keys are text, and nothing nests deeper than ``MAX_DEPTH`` (walked without recursion)."""
    stack: list[tuple[Any, str, int]] = [(opt, '', 1)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f'{path}: {where}: nested deeper than {MAX_DEPTH} levels: not an option file')
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise ValueError(f'{path}: {where + "." if where else ""}{key!r}: an option name must be text, '
                                     f'got {type(key).__name__}')
                stack.append((value, f'{where}.{key}' if where else key, depth + 1))
        elif isinstance(node, list):
            stack += [(value, f'{where}[{i}]', depth + 1) for i, value in enumerate(node)]


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
