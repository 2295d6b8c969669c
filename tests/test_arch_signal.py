"""benchmarks/arch_signal.py: drift, random walk or pulled-back walk, read from planted validations' genotype files."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from arch_signal import agreement, alpha_course, centered_logits, main

from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.trellis import PRIMITIVES, num_edges

ITERS = list(range(100, 1001, 100))  # validations; the architecture steps start at 200 (0.2 x 1000)
SHAPE = (2, num_edges(3), len(PRIMITIVES))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def write_search(root, logits: list[np.ndarray]) -> None:
    """A search folder whose validation k has alpha = ``logits[k]`` (its option file beside)."""
    (root / 'genotypes').mkdir(parents=True)
    transitions = [[[0.0, 0.5, 0.5], None, None], [[0.0, 0.5, 0.5], [1 / 3] * 3, None]]
    for it, alpha in zip(ITERS, logits):
        Genotype.from_search(task='sr', scale=2, num_in_ch=3, num_nodes=3, width_factors=(1, 1.5, 2),
                             ops=PRIMITIVES, alpha_softmax=_softmax(alpha).tolist(), transitions=transitions,
                             iteration=it).save(root / 'genotypes' / f'iter_{it}.json')
    (root / 'search.yml').write_text(yaml.safe_dump({'train': {'total_iter': 1000, 'arch_warmup_ratio': 0.2}}))


def _walk(rng, drift: np.ndarray, noise: float, decay: float) -> list[np.ndarray]:
    """Logits at each validation: still before 200, then per validation + drift + noise - decay x logits."""
    x, out = 1e-3 * rng.standard_normal(SHAPE), []
    for it in ITERS:
        if it > 200:
            x = x + drift + noise * rng.standard_normal(SHAPE) - decay * x
        out.append(x.copy())
    return out


def test_centered_logits_are_alpha_up_to_a_constant():
    alpha = np.random.default_rng(0).normal(size=SHAPE)
    assert np.allclose(centered_logits(_softmax(alpha)), alpha - alpha.mean(-1, keepdims=True))


@pytest.mark.parametrize('kind', ['drift', 'walk', 'pulled back'])
def test_the_halves_tell_drift_walk_and_pull_apart(tmp_path, kind):
    rng = np.random.default_rng(1)
    drift = 0.05 * rng.standard_normal(SHAPE) if kind == 'drift' else np.zeros(SHAPE)
    logits = _walk(rng, drift, noise=0.005 if kind == 'drift' else 0.03, decay=0.9 if kind == 'pulled back' else 0)
    write_search(tmp_path, logits)
    course = alpha_course(str(tmp_path))
    assert course['arch_start'] == 200 and course['halves']['from'] == 200 and course['halves']['to'] == 1000
    centered = [x - x.mean(-1, keepdims=True) for x in logits]
    assert course['spread'] == pytest.approx([float(x.std()) for x in centered], abs=1e-5)
    k = ITERS.index(course['halves']['middle'])
    expected = np.corrcoef((centered[k] - centered[1]).ravel(), (centered[-1] - centered[k]).ravel())[0, 1]
    assert course['halves']['correlation'] == pytest.approx(expected, abs=1e-4)
    assert {'drift': expected > 0.9, 'walk': abs(expected) < 0.2, 'pulled back': expected < -0.3}[kind]


def test_searches_that_read_one_signal_agree(tmp_path):
    rng = np.random.default_rng(2)
    shared = 0.05 * rng.standard_normal(SHAPE)
    a, b, c = (_walk(rng, d, 0.02, 0)[-1] for d in (shared, shared, np.zeros(SHAPE)))
    same = agreement(centered_logits(_softmax(a)), centered_logits(_softmax(b)))
    low, high = same['no_agreement_interval90']
    assert same['correlation'] > high and low < 0 < high
    unrelated = agreement(centered_logits(_softmax(a)), centered_logits(_softmax(c)))
    assert low - 0.05 < unrelated['correlation'] < high + 0.05


def test_command_writes_both_tables(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for name in ('s1', 's2'):
        write_search(tmp_path / name, _walk(rng, np.zeros(SHAPE), 0.03, 0.5))
    out = tmp_path / 'signal.json'
    assert main([str(tmp_path / 's1'), str(tmp_path / 's2'), '--json', str(out)]) == 0
    printed = capsys.readouterr().out
    assert '| s1 | 200 |' in printed and '| s1 / s2 |' in printed
    data = yaml.safe_load(out.read_text())  # JSON is YAML
    assert [s['halves']['middle'] for s in data['searches']] == [600, 600] and len(data['agreement']) == 1
    (tmp_path / 's1' / 'search.yml').unlink()
    assert main([str(tmp_path / 's1')]) == 2
    assert 'give --arch-start' in capsys.readouterr().err
