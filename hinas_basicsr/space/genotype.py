"""The HiNAS genotype: the searched cells and width path, as a small typed value with JSON in and out.

The JSON file is the interface between search and training::

    {"format": "hinas-genotype", "version": 1, "task": "sr", "scale": 2, "num_in_ch": 3,
     "num_nodes": 3, "width_factors": [1, 1.5, 2], "ops": [...],
     "cells": [[["conv_3x3", 1], ["sep_conv_5x5", 0], ...2*num_nodes pairs], ...one per layer],
     "widths": [1, 2],
     "search": {"alpha_softmax": [layer][edge][op], "transitions": [l][level] = [p_down, p_same, p_up] | null,
                "iteration": 1000, "val_psnr": 30.1, "val_ssim": 0.9}}

``search`` holds the probabilities the architecture was decoded from and the validation that wrote it (the keys
of ``SEARCH_KEYS``), nothing else: what a selection measured to choose it goes into a search record beside the
file (``best.search.json``, :mod:`hinas_basicsr.search.record`). Older files that carry such payloads in
``search`` still load; the payloads are dropped.

Input index 0 is the input from two layers back, 1 the previous layer's, 2 + j node j.
``widths[l]`` is the level of layer l + 1's cell; the path starts at level 0 in the stem.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hinas_basicsr.space.trellis import MOVES, PRIMITIVES, num_edges, path_error
from hinas_basicsr.utils.arg_checks import is_number
from hinas_basicsr.utils.fileio import write_text
from hinas_basicsr.utils.options_file import parse_json, read_text_file

FORMAT = 'hinas-genotype'
VERSION = 1
TASK_SCALES = {'sr': (2, 3, 4, 8), 'denoise': (1,)}
# bounds on what a genotype may ask for: a file larger or nested deeper is not a genotype (its search record nests 4
# deep), a width factor above MAX_WIDTH_FACTOR multiplies num_feat past any machine, and an image has at most
# MAX_CHANNELS channels
MAX_FILE_BYTES = 64 << 20
MAX_DEPTH = 8
MAX_WIDTH_FACTOR = 64
MAX_CHANNELS = 64
SEARCH_KEYS = ('alpha_softmax', 'transitions', 'iteration', 'val_psnr', 'val_ssim')  # a genotype's ``search``

Cell = tuple[tuple[str, int], ...]


def task_of_scale(scale: int) -> str | None:
    """The task whose scales include ``scale`` (see ``TASK_SCALES``), or None."""
    return next((task for task, scales in TASK_SCALES.items() if scale in scales), None)


def decode_cell(alpha_softmax: Sequence[Sequence[float]], ops: Sequence[str], num_nodes: int) -> Cell:
    """Top-2 decoding of one layer's cell from its ``[edge][op]`` probabilities.

    For each node, its incoming edges are ranked by their strongest weight among the ops other than
    ``none``; the two best are kept (strongest first), each with its strongest non-``none`` op.
    """
    if len(alpha_softmax) != num_edges(num_nodes):
        raise ValueError(f'alpha_softmax: {len(alpha_softmax)} edges, expected {num_edges(num_nodes)}')
    candidates = [k for k, name in enumerate(ops) if name != 'none']
    pairs: list[tuple[str, int]] = []
    start = 0
    for node in range(num_nodes):
        edges = alpha_softmax[start:start + node + 2]
        best_op = [max(candidates, key=lambda k, e=e: e[k]) for e in edges]
        ranked = sorted(range(node + 2), key=lambda i: -edges[i][best_op[i]])
        pairs += [(ops[best_op[i]], i) for i in ranked[:2]]
        start += node + 2
    return tuple(pairs)


def viterbi_path(transitions: Sequence[Sequence[Sequence[float] | None]]) -> tuple[int, ...]:
    """The width path of highest probability product, starting at level 0 in the stem.

    ``transitions[l][level]`` holds ``[p_down, p_same, p_up]`` for leaving that grid position
    (l = 0 is the stem), or None where the level is absent. Returns one level per layer.
    """
    num_levels = len(transitions[0])
    best = {0: (0.0, ())}  # level -> (log-probability, path so far)
    for row in transitions:
        nxt: dict[int, tuple[float, tuple[int, ...]]] = {}
        for level, (logp, path) in sorted(best.items()):
            probs = row[level]
            if probs is None:
                raise ValueError(f'transitions: the path reaches level {level} where no probabilities are given')
            for move, p in zip(MOVES, probs):
                target = level + move
                if 0 <= target < num_levels and p > 0:
                    cand = (logp + math.log(p), path + (target,))
                    if target not in nxt or cand[0] > nxt[target][0]:
                        nxt[target] = cand
        best = nxt
    return max(best.values(), key=lambda v: v[0])[1]


def _integer(value: Any, key: str) -> int:
    """A JSON integer as it is: ``1.5``, ``2.0``, ``true`` or ``"1"`` are refused, never rounded."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f'genotype {key}: expected an integer, got {_shown(value)}')
    return value


def _number(value: Any, key: str) -> float:
    if not is_number(value):
        raise ValueError(f'genotype {key}: expected a number, got {_shown(value)}')
    return float(value)


def _name(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f'genotype {key}: expected an operation name, got {_shown(value)}')
    return value


def _shown(value: Any) -> str:
    """``value`` as JSON, cut to 60 characters (a message stays one short line)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + '...'


def _list(value: Any, key: str, length: int | None = None) -> list[Any]:
    """A JSON array (of ``length`` items where given)."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f'genotype {key}: expected a list, got {_shown(value)}')
    if length is not None and len(value) != length:
        raise ValueError(f'genotype {key}: {len(value)} items, expected {length}')
    return list(value)


def _pair(value: Any, key: str) -> tuple[str, int]:
    """One ``[operation, input index]`` pair of a cell."""
    op, index = _list(value, key, 2)
    return _name(op, f'{key} operation'), _integer(index, f'{key} input index')


def _depth(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, level)
            stack += [(child, level + 1) for child in (node.values() if isinstance(node, dict) else node)]
    return deepest


def _search_field(search: Any) -> Any:
    """A file's ``search`` without the payloads older searches kept there (selection scores: now a search record)."""
    return {k: v for k, v in search.items() if k in SEARCH_KEYS} if isinstance(search, Mapping) else search


@dataclass(frozen=True)
class Genotype:
    """A searched HiNAS architecture: one cell per layer and one width level per layer.

    Args:
        task (str): ``sr`` or ``denoise``.
        scale (int): Upscale factor (2, 3, 4 or 8 for sr; 1 for denoise).
        num_in_ch (int): Image channels (3 for RGB, 1 for gray).
        num_nodes (int): Nodes per cell (the paper's B).
        width_factors (tuple[float]): Width factor of each level.
        ops (tuple[str]): The candidate operations the search used, in alpha's order.
        cells (tuple[Cell]): Per layer, 2 * num_nodes (op, input index) pairs.
        widths (tuple[int]): Per layer, the width level of its cell.
        search (dict | None): The probabilities it was decoded from and the validation that wrote it
            (``SEARCH_KEYS``: alpha_softmax, transitions, iteration, val_psnr, val_ssim); absent in a
            hand-written genotype.
    """

    task: str
    scale: int
    num_in_ch: int
    num_nodes: int
    width_factors: tuple[float, ...]
    ops: tuple[str, ...]
    cells: tuple[Cell, ...]
    widths: tuple[int, ...]
    search: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def num_layers(self) -> int:
        return len(self.cells)

    def validate(self) -> None:
        """Raise ValueError, naming the key, for anything a derived net could not be built from."""
        if not isinstance(self.task, str) or self.task not in TASK_SCALES:
            raise ValueError(f'genotype task: {_shown(self.task)} is not one of {", ".join(TASK_SCALES)}')
        if self.scale not in TASK_SCALES[self.task]:
            raise ValueError(f'genotype scale: {self.scale} is not valid for task {self.task} '
                             f'(expected one of {TASK_SCALES[self.task]})')
        if self.num_in_ch < 1 or self.num_nodes < 1:
            raise ValueError(f'genotype num_in_ch/num_nodes: must be >= 1, got {self.num_in_ch}/{self.num_nodes}')
        if self.num_in_ch > MAX_CHANNELS:
            raise ValueError(f'genotype num_in_ch: {self.num_in_ch} image channels, at most {MAX_CHANNELS}')
        if not self.width_factors or any(not 0 < f <= MAX_WIDTH_FACTOR for f in self.width_factors):
            raise ValueError(f'genotype width_factors: each must be in (0, {MAX_WIDTH_FACTOR}], got '
                             f'{_shown(list(self.width_factors))}')
        unknown = [op for op in self.ops if op not in PRIMITIVES]
        if unknown:
            raise ValueError(f'genotype ops: unknown operation {unknown[0]!r}; known: {", ".join(PRIMITIVES)}')
        if not self.cells or len(self.widths) != len(self.cells):
            raise ValueError(f'genotype: {len(self.cells)} cells but {len(self.widths)} widths; '
                             'need one of each per layer (at least one layer)')
        for layer, cell in enumerate(self.cells):
            if len(cell) != 2 * self.num_nodes:
                raise ValueError(f'genotype cells[{layer}]: {len(cell)} pairs, expected 2 * num_nodes = '
                                 f'{2 * self.num_nodes}')
            for k, (op, index) in enumerate(cell):
                if op not in self.ops or op == 'none':
                    raise ValueError(f'genotype cells[{layer}][{k}]: operation {op!r} is not a chosen op of {self.ops}')
                if not 0 <= index < k // 2 + 2:
                    raise ValueError(f'genotype cells[{layer}][{k}]: input index {index} out of range for node '
                                     f'{k // 2} (0..{k // 2 + 1})')
        bad_path = path_error(self.widths, len(self.width_factors))
        if bad_path:
            raise ValueError(f'genotype {bad_path}')
        if self.search is not None:
            self._check_search()

    def _check_search(self) -> None:
        if not isinstance(self.search, Mapping):
            raise ValueError(f'genotype search: expected an object, got {_shown(self.search)}')
        unknown = [k for k in self.search if k not in SEARCH_KEYS]
        if unknown:
            raise ValueError(f'genotype search: {unknown[0]!r} is not one of {", ".join(SEARCH_KEYS)} (what a '
                             'selection measured goes into the search record beside the genotype file)')
        alpha, transitions = self.search.get('alpha_softmax'), self.search.get('transitions')
        if alpha is None or transitions is None:
            raise ValueError('genotype search: needs alpha_softmax and transitions')
        # every record of the search against the space (a record shorter than the space raised IndexError before)
        for layer, edges in enumerate(_list(alpha, 'search.alpha_softmax', self.num_layers)):
            for e, probs in enumerate(_list(edges, f'search.alpha_softmax[{layer}]', num_edges(self.num_nodes))):
                for k, p in enumerate(_list(probs, f'search.alpha_softmax[{layer}][{e}]', len(self.ops))):
                    _number(p, f'search.alpha_softmax[{layer}][{e}][{k}]')
        for layer, row in enumerate(_list(transitions, 'search.transitions', self.num_layers)):
            for level, probs in enumerate(_list(row, f'search.transitions[{layer}]', len(self.width_factors))):
                if probs is not None:
                    for k, p in enumerate(_list(probs, f'search.transitions[{layer}][{level}]', len(MOVES))):
                        _number(p, f'search.transitions[{layer}][{level}][{k}]')
        for key in ('iteration', 'val_psnr', 'val_ssim'):
            if self.search.get(key) is not None:
                _number(self.search[key], f'search.{key}')
        decoded = tuple(decode_cell(a, self.ops, self.num_nodes) for a in alpha)
        if decoded != self.cells:
            raise ValueError('genotype cells: differ from the top-2 decoding of search.alpha_softmax')
        if viterbi_path(transitions) != self.widths:
            raise ValueError('genotype widths: differ from the Viterbi path over search.transitions')

    def check_compatible(self, task: str | None = None, scale: int | None = None, source: str = 'genotype',
                         scale_option: str = 'scale') -> None:
        """Refuse a genotype searched for another task, naming ``source`` and both tasks.

        A genotype holds cells and widths, nothing scale-specific: an SR genotype serves every SR scale
        (the reference searches once at x4 and trains x2, x3, x4 and x8 from it). ``scale`` (the value of
        the option ``scale_option``) stands for its task: 1 is denoising, 2, 3, 4 and 8 are SR.
        """
        asked_by = ''
        if scale is not None:
            scale_task = task_of_scale(scale)
            if scale_task is None:
                raise ValueError(f'{source}: {scale_option}: {scale} is a scale of no task '
                                 f'({"; ".join(f"{t}: {list(s)}" for t, s in TASK_SCALES.items())})')
            if task is not None and task != scale_task:
                raise ValueError(f'{source}: {scale_option}: {scale} is a scale of task {scale_task!r}, not {task!r}')
            task, asked_by = scale_task, f' ({scale_option}: {scale})'
        if task is not None and task != self.task:
            raise ValueError(f'{source}: searched for task {self.task!r}, but {task!r} was asked for{asked_by}')

    @classmethod
    def from_search(cls, *, task: str, scale: int, num_in_ch: int, num_nodes: int,
                    width_factors: Sequence[float], ops: Sequence[str],
                    alpha_softmax: Sequence[Sequence[Sequence[float]]],
                    transitions: Sequence[Sequence[Sequence[float] | None]], **search_info: Any) -> Genotype:
        """Decode a genotype from the search's probabilities (plain nested lists of floats)."""
        alpha = [[[float(p) for p in edge] for edge in layer] for layer in alpha_softmax]
        trans = [[None if t is None else [float(p) for p in t] for t in row] for row in transitions]
        return cls(task=task, scale=int(scale), num_in_ch=int(num_in_ch), num_nodes=int(num_nodes),
                   width_factors=tuple(width_factors), ops=tuple(ops),
                   cells=tuple(decode_cell(a, ops, num_nodes) for a in alpha), widths=viterbi_path(trans),
                   search={'alpha_softmax': alpha, 'transitions': trans, **search_info})

    def to_dict(self) -> dict[str, Any]:
        data = {'format': FORMAT, 'version': VERSION, 'task': self.task, 'scale': self.scale,
                'num_in_ch': self.num_in_ch, 'num_nodes': self.num_nodes,
                'width_factors': list(self.width_factors), 'ops': list(self.ops),
                'cells': [[[op, index] for op, index in cell] for cell in self.cells],
                'widths': list(self.widths)}
        if self.search is not None:
            data['search'] = dict(self.search)
        return data

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = 'genotype') -> Genotype:
        if not isinstance(data, Mapping):
            raise ValueError(f'{source}: expected a JSON object, got {type(data).__name__}')
        if data.get('format') != FORMAT or data.get('version') != VERSION:
            raise ValueError(f'{source}: not a {FORMAT} version {VERSION} file '
                             f'(format={data.get("format")!r}, version={data.get("version")!r})')
        missing = [k for k in ('task', 'scale', 'num_in_ch', 'num_nodes', 'width_factors', 'ops', 'cells', 'widths')
                   if k not in data]
        if missing:
            raise ValueError(f'{source}: missing key {missing[0]!r}')
        try:
            if _depth(data) > MAX_DEPTH:
                raise ValueError(f'genotype: nested {_depth(data)} deep, at most {MAX_DEPTH}')
            cells = tuple(tuple(_pair(pair, f'cells[{layer}][{k}]')
                                for k, pair in enumerate(_list(cell, f'cells[{layer}]')))
                          for layer, cell in enumerate(_list(data['cells'], 'cells')))
            return cls(task=data['task'], scale=_integer(data['scale'], 'scale'),
                       num_in_ch=_integer(data['num_in_ch'], 'num_in_ch'),
                       num_nodes=_integer(data['num_nodes'], 'num_nodes'),
                       width_factors=tuple(_number(f, f'width_factors[{i}]')
                                           for i, f in enumerate(_list(data['width_factors'], 'width_factors'))),
                       ops=tuple(_name(op, f'ops[{i}]') for i, op in enumerate(_list(data['ops'], 'ops'))),
                       cells=cells,
                       widths=tuple(_integer(w, f'widths[{i}]') for i, w in enumerate(_list(data['widths'], 'widths'))),
                       search=_search_field(data.get('search')))
        except ValueError as err:
            raise ValueError(f'{source}: {err}') from None

    @classmethod
    def from_json(cls, text: str, source: str = 'genotype') -> Genotype:
        return cls.from_dict(parse_json(text, source, 'genotype', MAX_DEPTH), source)

    @classmethod
    def load(cls, spec: str | os.PathLike | Mapping[str, Any], option: str = 'genotype') -> Genotype:
        """A genotype from a JSON file path, or from the JSON object itself (inline in options); ``option`` names
        the file in the message that refuses it."""
        if isinstance(spec, Mapping):
            return cls.from_dict(spec, 'genotype (inline)')
        if not isinstance(spec, (str, os.PathLike)):
            raise ValueError(f'genotype: expected a genotype file path or a genotype object, got {_shown(spec)}')
        path = os.fspath(spec)
        text = read_text_file(path, option, 'genotype file', MAX_FILE_BYTES)
        return cls.from_json(text, source=path)

    def save(self, path: str | os.PathLike) -> None:
        """Write the JSON atomically (temporary file, then rename)."""
        write_text(path, self.to_json(indent=1))


GenotypeSpec = str | os.PathLike | Mapping[str, Any] | Genotype


def resolve_genotype(genotype: GenotypeSpec) -> Genotype:
    """A :class:`Genotype` from itself, a JSON path or the JSON object inline."""
    return genotype if isinstance(genotype, Genotype) else Genotype.load(genotype)
