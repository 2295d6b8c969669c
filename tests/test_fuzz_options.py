"""A fuzzer of the checks: the shipped option files and genotypes, one value changed at a time.

The property, for every mutant: the checks accept it (and then its networks have been built on the meta device by
those checks, and a genotype's net builds there too), or they refuse it with exactly one user error (a
``ValueError``-style exception that the console scripts print as one line) that names the file or the key changed;
either way nothing is written (the working folder and the data are listed before and after).

A mutation picks one node of the option tree (a value, a list or a mapping) and replaces it (other types, signs,
sizes, whole-number floats, numbers as text, unicode, paths that leave the folder, deep nesting), deletes it, or adds
an unknown key beside it. The option files are pointed at the sample data (built once per module) and at stand-in
checkpoints of the right shapes, so that each unchanged file is accepted: the fuzzer then tells the checks' answers
apart from a missing dataset.

Deterministic (``derandomize``): the fast tier runs ``FAST`` examples per property, the slow tier ``SLOW``.
"""
from __future__ import annotations

import copy
import gc
import glob
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import yaml
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hinas_basicsr.cli import USER_ERRORS, error_message

FAST, SLOW = 300, 3000
DEEP = json.loads('[' * 40 + '1' + ']' * 40)
REPLACEMENTS: tuple[Any, ...] = (
    'x', '', 'é✓\u202e\u0000', 'a' * 5000, '../escaped', '/tmp/abs', '~', '1e-3', '2', 0, -1, 1, 2 ** 63, -2 ** 31,
    0.5, -0.5, 1e308, float('nan'), float('inf'), -float('inf'), True, False, None, [], {}, [1, 2], {'zz': 1}, DEEP,
)
KINDS = ('replace', 'negate', 'grow', 'whole float', 'as text', 'delete', 'extra key', 'shorten', 'lengthen')
SCALE_8 = re.compile(r'_x8\.yml$')
# the fast tier's option files: one of each kind (EDSR, HiNASNet SR and denoising, training and testing, the
# multi-crop dataset, searches with and without remedies), each checked in well under a second; the slow tier
# mutates every shipped file (the large EDSR and RCAN test files take seconds: their checkpoints are read)
FAST_BASES = tuple(f'options/{name}.yml' for name in (
    'train_edsr_example_x2', 'demo/train_edsr_x2', 'demo/train_hinas_sr_x2', 'train_hinas_denoise_sigma30',
    'train_hinas_sr_x2', 'train_hinas_sr_x4_adam', 'train_edsr_x3', 'test_hinas_sr_x2', 'test_hinas_denoise_sigma30',
    'demo/search_sr_x2', 'remedies/search_sr_x2_flops_target', 'remedies/search_sr_x2_perturbation'))


# ----------------------------------------------------------------------------- mutation
def nodes(tree: Any) -> list[tuple[Any, ...]]:
    """The path (keys and indices) of every node under ``tree``, the root excluded, in a fixed order."""
    found, stack = [], [((), tree)]
    while stack:
        path, node = stack.pop(0)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            found.append((*path, key))
            stack.append(((*path, key), child))
    return found


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


@dataclass(frozen=True)
class Mutation:
    path: tuple[Any, ...]
    kind: str
    value: Any = None

    def describe(self) -> str:
        where = '.'.join(str(k) for k in self.path)
        return f'{where}: {self.kind}' + (f' {self.value!r:.40}' if self.kind == 'replace' else '')

    def apply(self, tree: Any) -> Any:
        """A copy of ``tree`` changed at ``path``; None where the kind does not apply to the node."""
        tree = copy.deepcopy(tree)
        parent, key = _get(tree, self.path[:-1]), self.path[-1]
        old = parent[key]
        if self.kind == 'delete':
            del parent[key]
            return tree
        if self.kind == 'extra key':
            if not isinstance(old, dict):
                return None
            old['zz_unknown_option'] = 1
            return tree
        new = self._changed(old)
        if new is _SKIP:
            return None
        parent[key] = new
        return tree

    def _changed(self, old: Any) -> Any:
        number = isinstance(old, (int, float)) and not isinstance(old, bool)
        if self.kind == 'replace':
            return self.value
        if self.kind == 'negate':
            return -old if number and old else _SKIP
        if self.kind == 'grow':
            return old * 10 ** 6 if number else old * 1000 if isinstance(old, (str, list)) and old else _SKIP
        if self.kind == 'whole float':
            return float(old) if isinstance(old, int) and not isinstance(old, bool) else _SKIP
        if self.kind == 'as text':
            return str(old) if number or isinstance(old, bool) else _SKIP
        if self.kind == 'shorten':
            return old[:-1] if isinstance(old, (list, str)) and old else _SKIP
        if self.kind == 'lengthen':
            return [*old, old[-1]] if isinstance(old, list) and old else _SKIP
        raise AssertionError(self.kind)


_SKIP = object()


@st.composite
def mutations(draw: Callable[..., Any], tree: Any) -> Mutation:
    paths = nodes(tree)
    path = paths[draw(st.integers(0, len(paths) - 1))]
    kind = draw(st.sampled_from(KINDS))
    value = draw(st.sampled_from(REPLACEMENTS)) if kind == 'replace' else None
    return Mutation(path, kind, value)


# ----------------------------------------------------------------------------- the shipped files, made checkable
def _sample_root(root: str, sample: str) -> str:
    """A shipped dataroot mapped onto the sample data (same kind: LMDB or folder, train or benchmark, gray or not)."""
    rel = root.replace('datasets/sample/', '')
    rel = rel.replace('datasets/photos_gray/Photos_train.lmdb', 'BSD500/BSD500_train.lmdb')  # the gray photos
    rel = re.sub(r'^datasets/photos_gray/Photos_test(_crop)?$', 'BSD500/BSD500_test', rel)
    rel = re.sub(r'^datasets/(photos|DIV2K)/', 'DIV2K/', rel)
    rel = re.sub(r'^datasets/benchmarks/[^/]+/', 'benchmark/SampleTest/', rel)
    rel = rel.replace('datasets/BSD500/', 'BSD500/').replace('DIV2K_train_HR.lmdb', 'DIV2K_train_HR_sub.lmdb')
    rel = re.sub(r'_X(\d)\.lmdb$', r'_X\1_sub.lmdb', rel)
    return os.path.join(sample, rel)


def _stand_in_genotype(scale: int, folder: str) -> str:
    """The example genotype, searched at ``scale`` (1: a gray denoising one)."""
    data = json.loads((REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json').read_text())
    data.update(scale=scale, **({'task': 'denoise', 'num_in_ch': 1} if scale == 1 else {}))
    path = os.path.join(folder, f'genotype_x{scale}.json')
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def _stand_in_checkpoint(opt: dict[str, Any], path: str) -> None:
    """A BasicSR checkpoint of ``network_g``'s keys and shapes whose tensors are one zero each, expanded (a few
    bytes on disk, whatever the network's size)."""
    from hinas_basicsr.tools.options_check import build_for_check

    net = build_for_check('stand-in', 'network_g', opt['network_g'])
    torch.save({'params': {k: torch.zeros(()).expand(v.shape) for k, v in net.state_dict().items()}}, path)


def checkable(option_file: str, sample: str, folder: str) -> dict[str, Any]:
    """The shipped option file, its dataroots on the sample data, its genotype path absolute, and a stand-in
    checkpoint where it names one."""
    with open(option_file, encoding='utf-8') as f:
        opt = yaml.safe_load(f)
    opt.pop('sample_data', None)
    opt['num_gpu'] = 'auto'
    if 'network_g' not in opt:  # compare's --test-opt (the test sets alone): checked as compare reads it
        return opt
    for entry in opt['datasets'].values():
        for spec in (entry, entry.get('dataset') or {}):
            for key in ('dataroot_gt', 'dataroot_lq'):
                if spec.get(key):
                    spec[key] = _sample_root(spec[key], sample)
    geno = opt.get('network_g', {}).get('genotype')
    if isinstance(geno, str) and not os.path.isabs(geno):
        opt['network_g']['genotype'] = str(REPO / geno)
        if not os.path.isfile(REPO / geno):  # a search's output (experiments/...): the example genotype stands in
            opt['network_g']['genotype'] = _stand_in_genotype(opt.get('scale', 2), folder)
    paths = opt.setdefault('path', {}) or {}
    if paths.get('pretrain_network_g'):
        stem = os.path.relpath(option_file, REPO).replace('/', '_')
        paths['pretrain_network_g'] = os.path.join(folder, stem + '.pth')
        _stand_in_checkpoint(opt, paths['pretrain_network_g'])
    return opt


def option_files() -> list[str]:
    files = sorted(glob.glob(str(REPO / 'options' / '**' / '*.yml'), recursive=True))
    return [f for f in files if not SCALE_8.search(f)]  # the sample data has no x8 LR


def genotype_files() -> list[str]:
    found = [str(REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json')]
    found += sorted(glob.glob(str(REPO / 'docs' / 'genotypes_photos*' / '*.json')))
    found += sorted(glob.glob(str(REPO / 'docs' / 'judge_photos_modes' / '*.json')))
    return [f for f in found if json.loads(open(f).read()).get('format') == 'hinas-genotype']


@pytest.fixture(scope='module')
def world(tmp_path_factory) -> dict[str, Any]:
    """The sample data, and every shipped option file made checkable (with whether it trains)."""
    from hinas_basicsr.prep.sample import make_sample_data

    root = tmp_path_factory.mktemp('fuzz')
    sample = str(root / 'sample')
    make_sample_data(sample)
    bases = {os.path.relpath(f, REPO): (checkable(f, sample, str(root)), not os.path.basename(f).startswith('test_'))
             for f in option_files()}
    bases = {k: v for k, v in bases.items() if 'network_g' in v[0]}  # compare's test sets: not a basicsr file
    genotypes = {os.path.basename(os.path.dirname(f)) + '/' + os.path.basename(f): json.loads(open(f).read())
                 for f in genotype_files()}
    return {'sample': sample, 'root': str(root), 'options': bases, 'genotypes': genotypes}


# ----------------------------------------------------------------------------- the property
def listing(*roots: str) -> dict[str, float]:
    """Every path under ``roots`` with its modification time."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                found[path] = os.lstat(path).st_mtime_ns
    return found


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    message: str = ''
    problem: str = ''  # what breaks the property (empty: it holds)


def _in_scratch(run: Callable[[str], Outcome], watched: tuple[str, ...]) -> Outcome:
    """``run(folder)`` from a fresh working folder; a file written there or under ``watched`` breaks the property."""
    folder = tempfile.mkdtemp(prefix='fuzz-')
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        before = listing(*watched)
        inside = set(os.listdir(folder))
        outcome = run(folder)
        written = sorted(set(os.listdir(folder)) - inside - {'mutant.yml', 'mutant.json'})
        changed = sorted(p for p, t in listing(*watched).items() if before.get(p) != t)
        if written or changed:
            return Outcome(outcome.accepted, outcome.message, f'wrote {(written + changed)[:3]}')
        return outcome
    finally:
        os.chdir(cwd)
        shutil.rmtree(folder, ignore_errors=True)


def _judge(call: Callable[[], Any], names: tuple[str, ...]) -> Outcome:
    """Accepted, or one user error that names one of ``names``; anything else is the problem."""
    try:
        call()
    except USER_ERRORS as err:
        message = error_message(err)
        if '\n' in str(err).strip() and 'Original Traceback' not in str(err):
            return Outcome(False, message, f'a message of several lines: {str(err)[:200]!r}')
        if not any(n and n in message for n in names):
            return Outcome(False, message, f'the message names none of {names}: {message[:200]}')
        return Outcome(False, message)
    except OSError as err:
        return Outcome(False, str(err), f'{type(err).__name__} (an OS error, not a user error): {str(err)[:200]}')
    except Exception as err:  # noqa: BLE001  (what the property looks for: any other exception is a traceback)
        return Outcome(False, str(err), f'{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ""}')
    return Outcome(True)


def check_option_mutant(world: dict[str, Any], base: str, mutation: Mutation) -> Outcome | None:
    """The property on one mutant option file (None where the mutation does not apply to the node)."""
    from hinas_basicsr.tools.options_check import check_options

    opt, is_train = world['options'][base]
    mutant = mutation.apply(opt)
    if mutant is None:
        return None
    key = str(mutation.path[-1]) if mutation.kind != 'extra key' else 'zz_unknown_option'

    def run(folder: str) -> Outcome:
        path = os.path.join(folder, 'mutant.yml')
        with open(path, 'w', encoding='utf-8') as f:
            yaml.safe_dump(mutant, f, allow_unicode=True, sort_keys=False)
        outcome = _judge(lambda: check_options(path, is_train=is_train), ('mutant.yml', key))
        if outcome.accepted:
            try:
                build_components(path)
            except Exception as err:  # noqa: BLE001  (accepted, then BasicSR fails: what the checks missed)
                first = str(err).splitlines()[0][:160] if str(err) else ''
                return Outcome(True, '', f'accepted, then BasicSR fails: {type(err).__name__}: {first}')
        return outcome

    return _in_scratch(run, (world['sample'], world['root']))


def build_components(path: str) -> None:
    """What BasicSR builds first from an accepted file, cheaply: each dataset (its first item read), the losses,
    and each metric on a small image pair; the networks, optimizers and schedulers the checks built already."""
    from hinas_basicsr.utils.options_file import load_yaml

    built: list[Any] = []
    try:
        _build_components(load_yaml(path), built)
    finally:
        from hinas_basicsr.data.hinas_split_dataset import SharedFileClient

        # one process may open each LMDB once, and the checks of the next mutant open it again
        for holder in [*built, *SharedFileClient._clients.values()]:
            _close_lmdbs(holder)
        SharedFileClient._clients.clear()
        gc.collect()


def _close_lmdbs(obj: Any, depth: int = 0) -> None:
    """Close the LMDB environments a BasicSR dataset (or a wrapper of one) holds open."""
    import lmdb

    if depth > 3 or obj is None:
        return
    if isinstance(obj, lmdb.Environment):
        obj.close()
        return
    if isinstance(obj, dict):
        for value in obj.values():
            _close_lmdbs(value, depth + 1)
        return
    for name in ('file_client', 'client', '_client', 'dataset', 'datasets'):
        value = getattr(obj, name, None)
        if isinstance(value, list):
            for item in value:
                _close_lmdbs(item, depth + 1)
        elif value is not None and value is not obj:
            _close_lmdbs(value, depth + 1)


def _build_components(opt: dict[str, Any], built: list[Any]) -> None:
    import numpy as np
    from basicsr.data import build_dataset
    from basicsr.losses import build_loss
    from basicsr.metrics import calculate_metric

    for key, spec in opt['datasets'].items():
        spec = copy.deepcopy(spec)
        spec['phase'] = key.split('_')[0]  # as BasicSR's parse_options completes each dataset
        if 'scale' in opt:
            spec['scale'] = opt['scale']
        dataset = build_dataset(spec)
        built.append(dataset)
        assert len(dataset) > 0, f'datasets.{key}: empty'
        dataset[0]
    from hinas_basicsr.tools.options_check import REMEDY_GROUPS

    for key, spec in (opt.get('train') or {}).items():
        if key.endswith('_opt') and key not in REMEDY_GROUPS and spec:
            build_loss(copy.deepcopy(spec))
    image = np.random.default_rng(0).integers(0, 255, (160, 160, 3)).astype(np.float64)
    for spec in ((opt.get('val') or {}).get('metrics') or {}).values():
        calculate_metric({'img': image, 'img2': image[::-1].copy()}, copy.deepcopy(spec))


def check_genotype_mutant(world: dict[str, Any], base: str, mutation: Mutation) -> Outcome | None:
    """The property on one mutant genotype file: loaded and its net built on meta, or one error naming the file."""
    from hinas_basicsr.archs.hinas_net_arch import HiNASNet
    from hinas_basicsr.space.genotype import Genotype

    mutant = mutation.apply(world['genotypes'][base])
    if mutant is None:
        return None

    def build(path: str) -> None:
        genotype = Genotype.load(path)
        with torch.device('meta'):
            HiNASNet(genotype, num_feat=8)

    def run(folder: str) -> Outcome:
        path = os.path.join(folder, 'mutant.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(mutant, f)
        return _judge(lambda: build(path), ('mutant.json',))

    return _in_scratch(run, (world['root'],))


def _examples(count: int):
    return settings(max_examples=count, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _option_cases(data: st.DataObject, world: dict[str, Any], bases: tuple[str, ...] = ()) -> tuple[str, Mutation]:
    base = data.draw(st.sampled_from(sorted(bases or world['options'])), label='option file')
    return base, data.draw(mutations(world['options'][base][0]), label='mutation')


def _genotype_cases(data: st.DataObject, world: dict[str, Any]) -> tuple[str, Mutation]:
    base = data.draw(st.sampled_from(sorted(world['genotypes'])), label='genotype file')
    return base, data.draw(mutations(world['genotypes'][base]), label='mutation')


def _holds(outcome: Outcome | None, base: str, mutation: Mutation) -> None:
    assert outcome is None or not outcome.problem, f'{base}: {mutation.describe()}: {outcome.problem}'


# ----------------------------------------------------------------------------- the tests
def _baseline(world: dict[str, Any], names: tuple[str, ...]) -> None:
    """Unchanged, each file passes the checks and its components build (else every mutant would be refused, or
    reported, for that)."""
    from hinas_basicsr.space.genotype import Genotype
    from hinas_basicsr.tools.options_check import check_options

    assert len(world['options']) >= 40 and len(world['genotypes']) >= 4 and set(FAST_BASES) <= set(world['options'])
    for base, (opt, is_train) in world['options'].items():
        if names and base not in names:
            continue

        def run(folder: str, opt: dict[str, Any] = opt, is_train: bool = is_train) -> Outcome:
            path = _dump(folder, opt)
            return _judge(lambda: (check_options(path, is_train=is_train), build_components(path)), ('mutant.yml',))

        outcome = _in_scratch(run, (world['sample'],))
        assert outcome.accepted and not outcome.problem, f'{base}: {outcome.message} {outcome.problem}'
    for base, data in world['genotypes'].items():
        assert Genotype.from_dict(data, base).num_layers >= 1


def test_the_fast_tiers_files_are_accepted_unchanged(world):
    _baseline(world, FAST_BASES)


@pytest.mark.slow
def test_every_shipped_file_is_accepted_unchanged(world):
    _baseline(world, ())


def _dump(folder: str, opt: dict[str, Any]) -> str:
    path = os.path.join(folder, 'mutant.yml')
    with open(path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(opt, f, allow_unicode=True, sort_keys=False)
    return path


def test_mutations_apply_as_described():
    tree = {'a': {'b': 2, 'c': [1, 2]}, 'd': 'x'}
    assert nodes(tree) == [('a',), ('d',), ('a', 'b'), ('a', 'c'), ('a', 'c', 0), ('a', 'c', 1)]
    assert Mutation(('a', 'b'), 'whole float').apply(tree)['a']['b'] == 2.0
    assert isinstance(Mutation(('a', 'b'), 'whole float').apply(tree)['a']['b'], float)
    assert Mutation(('a', 'b'), 'negate').apply(tree)['a']['b'] == -2
    assert Mutation(('a', 'c'), 'lengthen').apply(tree)['a']['c'] == [1, 2, 2]
    assert 'b' not in Mutation(('a', 'b'), 'delete').apply(tree)['a']
    assert Mutation(('a',), 'extra key').apply(tree)['a']['zz_unknown_option'] == 1
    assert Mutation(('d',), 'negate').apply(tree) is None
    assert tree == {'a': {'b': 2, 'c': [1, 2]}, 'd': 'x'}  # the base is never changed
    assert math.isnan(Mutation(('d',), 'replace', float('nan')).apply(tree)['d'])


@_examples(FAST)
@given(data=st.data())
def test_option_mutants_fast(world, data):
    base, mutation = _option_cases(data, world, FAST_BASES)
    _holds(check_option_mutant(world, base, mutation), base, mutation)


@_examples(FAST)
@given(data=st.data())
def test_genotype_mutants_fast(world, data):
    base, mutation = _genotype_cases(data, world)
    _holds(check_genotype_mutant(world, base, mutation), base, mutation)


@pytest.mark.slow
@_examples(SLOW)
@given(data=st.data())
def test_option_mutants_slow(world, data):
    base, mutation = _option_cases(data, world)
    _holds(check_option_mutant(world, base, mutation), base, mutation)


@pytest.mark.slow
@_examples(SLOW)
@given(data=st.data())
def test_genotype_mutants_slow(world, data):
    base, mutation = _genotype_cases(data, world)
    _holds(check_genotype_mutant(world, base, mutation), base, mutation)


def explore(world: dict[str, Any], count: int, kind: str = 'options', names: tuple[str, ...] = (),
            seed: int = 0) -> Iterator[tuple[str, Mutation, Outcome]]:
    """Every mutant of a deterministic walk (not Hypothesis): for reading what the property finds, all at once."""
    import random

    rng = random.Random(seed)
    bases = world['options'] if kind == 'options' else world['genotypes']
    bases = {k: v for k, v in bases.items() if not names or k in names}
    check = check_option_mutant if kind == 'options' else check_genotype_mutant
    for _ in range(count):
        base = rng.choice(sorted(bases))
        tree = bases[base][0] if kind == 'options' else bases[base]
        kind_ = rng.choice(KINDS)
        mutation = Mutation(rng.choice(nodes(tree)), kind_, rng.choice(REPLACEMENTS) if kind_ == 'replace' else None)
        outcome = check(world, base, mutation)
        if outcome is not None:
            yield base, mutation, outcome


def test_the_property_can_fail(tmp_path):
    """The judge sees each way the property breaks: another exception, a message naming nothing, a file written."""
    def raises(err: Exception) -> Callable[[], None]:
        def call() -> None:
            raise err
        return call

    assert _judge(raises(TypeError('unhashable type')), ('x.yml',)).problem.startswith('TypeError')
    assert 'names none' in _judge(raises(ValueError('something is wrong')), ('x.yml',)).problem
    assert 'several lines' in _judge(raises(ValueError('x.yml: a\nb')), ('x.yml',)).problem
    assert not _judge(raises(ValueError('x.yml: wrong')), ('x.yml',)).problem
    assert _judge(lambda: None, ('x.yml',)).accepted

    def writes(folder: str) -> Outcome:
        open(os.path.join(folder, 'experiments'), 'w').close()
        return Outcome(True)

    assert 'wrote' in _in_scratch(writes, (str(tmp_path),)).problem
    assert not _in_scratch(lambda folder: Outcome(True), (str(tmp_path),)).problem
