"""Genotype decoding (top-2 cells, Viterbi widths) and its JSON format."""
import itertools
import json
import random

import pytest

import hinas_basicsr  # noqa: F401
from hinas_basicsr.space.genotype import Genotype, decode_cell, viterbi_path
from hinas_basicsr.space.trellis import MOVES, PRIMITIVES


def brute_force_path(transitions):
    """Score every sequence of moves by its probability product; return the best path."""
    num_levels = len(transitions[0])
    best_score, best_path = -1.0, ()
    for moves in itertools.product(range(3), repeat=len(transitions)):
        level, score, path = 0, 1.0, []
        for row, m in zip(transitions, moves):
            target = level + MOVES[m]
            if not 0 <= target < num_levels:
                score = 0.0
                break
            score *= row[level][m]
            level = target
            path.append(level)
        if score > best_score:
            best_score, best_path = score, tuple(path)
    return best_path


def random_transitions(rng, num_layers, num_levels=3):
    rows = []
    for layer in range(num_layers):
        row = []
        for level in range(num_levels):
            if level > min(layer, num_levels - 1):
                row.append(None)
                continue
            p = [rng.random() for _ in range(3)]
            p[0] *= level > 0
            p[2] *= level < num_levels - 1
            row.append([v / sum(p) for v in p])
        rows.append(row)
    return rows


@pytest.mark.parametrize('num_layers', [1, 2, 3, 4, 5])
def test_viterbi_equals_brute_force(num_layers):
    rng = random.Random(num_layers)
    for _ in range(50):
        transitions = random_transitions(rng, num_layers)
        assert viterbi_path(transitions) == brute_force_path(transitions)


def test_top2_decoding_of_hand_computed_alpha():
    ops = ['conv_3x3', 'skip_connect', 'none']
    # 2 nodes: node 0 has edges from inputs 0, 1; node 1 from inputs 0, 1, 2 (node 0).
    alpha = [
        [0.2, 0.1, 0.7],   # node 0, input 0: strongest non-none is conv 0.2
        [0.3, 0.6, 0.1],   # node 0, input 1: skip 0.6
        [0.5, 0.4, 0.1],   # node 1, input 0: conv 0.5
        [0.05, 0.05, 0.9],  # node 1, input 1: 0.05 (none is ignored even though it dominates)
        [0.1, 0.8, 0.1],   # node 1, input 2: skip 0.8
    ]
    assert decode_cell(alpha, ops, num_nodes=2) == (
        ('skip_connect', 1), ('conv_3x3', 0), ('skip_connect', 2), ('conv_3x3', 0))


def _genotype_dict(**overrides):
    data = {'format': 'hinas-genotype', 'version': 1, 'task': 'sr', 'scale': 2, 'num_in_ch': 3, 'num_nodes': 2,
            'width_factors': [1, 1.5, 2], 'ops': list(PRIMITIVES),
            'cells': [[['conv_3x3', 1], ['sep_conv_5x5', 0], ['skip_connect', 2], ['dil_conv_3x3', 1]]] * 2,
            'widths': [1, 2]}
    data.update(overrides)
    return data


def test_json_round_trip_and_file(tmp_path):
    rng = random.Random(0)
    ops = list(PRIMITIVES)
    alpha = [[[rng.random() for _ in ops] for _ in range(5)] for _ in range(3)]
    genotype = Genotype.from_search(task='sr', scale=3, num_in_ch=3, num_nodes=2, width_factors=[1, 1.5, 2],
                                    ops=ops, alpha_softmax=alpha, transitions=random_transitions(rng, 3),
                                    iteration=7, val_psnr=28.5, val_ssim=0.8)
    path = tmp_path / 'g.json'
    genotype.save(path)
    data = json.loads(path.read_text())
    assert data['format'] == 'hinas-genotype' and data['version'] == 1 and data['scale'] == 3
    assert data['cells'] == [[list(p) for p in decode_cell(a, ops, 2)] for a in alpha]
    assert data['search']['iteration'] == 7
    loaded = Genotype.load(path)
    assert loaded == genotype and loaded.search['val_psnr'] == 28.5
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_a_genotype_holds_no_selection_scores_and_old_files_with_them_still_load():
    from pathlib import Path

    rng = random.Random(1)
    alpha = [[[rng.random() for _ in PRIMITIVES] for _ in range(5)] for _ in range(2)]
    with pytest.raises(ValueError, match="genotype search: 'path_psnr' is not one of alpha_softmax, transitions"):
        Genotype.from_search(task='sr', scale=2, num_in_ch=3, num_nodes=2, width_factors=[1, 1.5, 2], ops=PRIMITIVES,
                             alpha_softmax=alpha, transitions=random_transitions(rng, 2), path_psnr={'0,0': 30.0})
    # a perturbation genotype of an older search kept the selection's scores in its search field
    old = Path(__file__).parent.parent / 'docs' / 'genotypes_photos' / 'perturbation.json'
    data = json.loads(old.read_text())
    assert 'path_psnr' in data['search'] and 'supernet' in data['search']
    loaded = Genotype.load(old)
    assert set(loaded.search) == {'alpha_softmax', 'transitions'}
    assert loaded.search['alpha_softmax'] == data['search']['alpha_softmax']
    assert [[list(p) for p in c] for c in loaded.cells] == data['cells'] and list(loaded.widths) == data['widths']


@pytest.mark.parametrize('overrides, message', [
    ({'format': 'other'}, 'not a hinas-genotype'),
    ({'cells': [[['conv_9x9', 1], ['conv_3x3', 0], ['conv_3x3', 0], ['conv_3x3', 1]]] * 2}, 'conv_9x9'),
    ({'cells': [[['conv_3x3', 2], ['conv_3x3', 0], ['conv_3x3', 0], ['conv_3x3', 1]]] * 2}, 'input index 2'),
    ({'widths': [2, 2]}, 'impossible step'),
    ({'widths': [1]}, 'widths'),
    ({'task': 'deblur'}, 'task'),
    ({'scale': 1}, 'scale'),
    ({'cells': 5}, 'cells: expected a list, got 5'),
])
def test_bad_genotypes_fail_with_one_line(overrides, message):
    with pytest.raises(ValueError, match=message) as info:
        Genotype.from_dict(_genotype_dict(**overrides))
    assert '\n' not in str(info.value)


def test_search_must_match_decoding():
    rng = random.Random(1)
    ops = list(PRIMITIVES)
    alpha = [[[rng.random() for _ in ops] for _ in range(5)] for _ in range(2)]
    genotype = Genotype.from_search(task='sr', scale=2, num_in_ch=3, num_nodes=2, width_factors=[1, 1.5, 2],
                                    ops=ops, alpha_softmax=alpha, transitions=random_transitions(rng, 2))
    data = genotype.to_dict()
    data['widths'] = [0, 0] if list(genotype.widths) != [0, 0] else [1, 1]
    with pytest.raises(ValueError, match='Viterbi'):
        Genotype.from_dict(data)


def test_wrong_task_names_both_tasks_and_any_sr_scale_serves():
    genotype = Genotype.from_dict(_genotype_dict())
    for scale in (2, 3, 4, 8):  # one SR search serves every scale
        genotype.check_compatible(task='sr', scale=scale)
    with pytest.raises(ValueError, match=r"g.json: searched for task 'sr', but 'denoise' was asked for \(up: 1\)"):
        genotype.check_compatible(scale=1, source='g.json', scale_option='up')
    with pytest.raises(ValueError, match="'sr'.*'denoise'"):
        genotype.check_compatible(task='denoise')
    with pytest.raises(ValueError, match='scale: 5 is a scale of no task'):
        genotype.check_compatible(scale=5)
    with pytest.raises(ValueError, match="scale: 1 is a scale of task 'denoise', not 'sr'"):
        genotype.check_compatible(task='sr', scale=1)
    denoise = Genotype.from_dict(dict(_genotype_dict(), task='denoise', scale=1))
    denoise.check_compatible(scale=1)
    with pytest.raises(ValueError, match=r"searched for task 'denoise', but 'sr' was asked for \(scale: 4\)"):
        denoise.check_compatible(scale=4)
