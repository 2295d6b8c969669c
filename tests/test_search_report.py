"""`hinas report`: the panels of report.png, computed from a search's files, against an independent reading."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from hinas_basicsr.cli import hinas_main
from hinas_basicsr.search.report import course_panels, end_state, load_search_course, report_figure, save_report
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.trellis import PRIMITIVES, num_edges

ITERS = (20, 40, 60, 80)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _transitions(rng: np.random.Generator, num_layers: int = 2, num_levels: int = 3) -> list:
    rows = []
    for d in range(num_layers):
        row = []
        for w in range(num_levels):
            if w > min(d, num_levels - 1):
                row.append(None)
                continue
            logits = rng.normal(size=3)
            ok = np.array([w > 0, True, w < num_levels - 1])
            p = np.where(ok, np.exp(logits), 0.0)
            row.append((p / p.sum()).tolist())
        rows.append(row)
    return rows


def write_search_folder(root, num_nodes: int = 3) -> dict:
    """genotypes/iter_*.json whose alpha sharpens over the validations, best.json and a BasicSR-style log."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, num_edges(num_nodes), len(PRIMITIVES)))
    genotypes = {}
    for k, it in enumerate(ITERS):
        alpha = _softmax(logits * 0.2 * (k + 1)).tolist()
        genotypes[it] = Genotype.from_search(task='sr', scale=2, num_in_ch=3, num_nodes=num_nodes,
                                             width_factors=(1, 1.5, 2), ops=PRIMITIVES, alpha_softmax=alpha,
                                             transitions=_transitions(rng), iteration=it, val_psnr=30 + k,
                                             val_ssim=0.8 + 0.01 * k)
        genotypes[it].save(root / 'genotypes' / f'iter_{it}.json')
    genotypes[60].save(root / 'genotypes' / 'best.json')
    losses = {it: (0.5 / it, 0.3 / it) for it in range(10, 81, 10)}
    (root / 'train_search_20261201_000000.log').write_text(''.join(
        f'2026-12-01 00:00:{it % 60:02d},000 INFO: [search..][epoch:  {it // 20}, iter:{it:8,d}, lr:(2.5e-02,)] '
        f'[eta: 0:00:10, time (data): 0.100 (0.001)] l_pix: {a:.4e} l_ssim: {b:.4e} \n'
        for it, (a, b) in losses.items()) + 'INFO: Validation SampleDIV2K_val\n')
    return {'genotypes': genotypes, 'losses': losses}


def test_panels_are_the_files_numbers(tmp_path):
    written = write_search_folder(tmp_path)
    course = load_search_course(str(tmp_path))
    panels = course_panels(course)
    files = [json.loads((tmp_path / 'genotypes' / f'iter_{it}.json').read_text()) for it in ITERS]
    assert panels['iterations'] == list(ITERS) and course.found_name == 'best.json'
    assert panels['val_psnr'] == [f['search']['val_psnr'] for f in files]
    assert panels['val_ssim'] == pytest.approx([f['search']['val_ssim'] for f in files])
    for f, max_mean, entropy in zip(files, panels['alpha_max_mean'], panels['entropy']):
        alpha = np.array(f['search']['alpha_softmax'])
        assert max_mean == pytest.approx(alpha.max(-1).mean())
        assert entropy == pytest.approx((-(alpha * np.log(alpha)).sum(-1)).mean(-1).tolist())
    # alpha sharpens by construction: decidedness rises, entropy falls
    assert np.all(np.diff(panels['alpha_max_mean']) > 0) and np.all(np.diff(np.array(panels['entropy']), axis=0) < 0)
    best = json.loads((tmp_path / 'genotypes' / 'best.json').read_text())
    levels = [0, *best['widths']]
    for f, beta in zip(files, panels['beta_path']):
        for d in range(2):
            assert beta[d] == f['search']['transitions'][d][levels[d]]
    assert [m for _, m in panels['path_moves']] == [levels[d + 1] - levels[d] + 1 for d in range(2)]
    for k, change in enumerate(panels['changes']):
        a, b = files[k], files[k + 1]
        assert change['widths_changed'] == sum(x != y for x, y in zip(a['widths'], b['widths']))
        edges = sum(len({i for _, i in cb[2 * n:2 * n + 2]} - {i for _, i in ca[2 * n:2 * n + 2]})
                    for ca, cb in zip(a['cells'], b['cells']) for n in range(3))
        assert change['edges_changed'] == edges
    assert sum(sum(c.values()) for c in panels['changes']) > 0  # the planted course changes the genotype
    assert dict(panels['losses']['l_pix']) == pytest.approx({it: a for it, (a, _) in written['losses'].items()},
                                                            rel=1e-4)
    assert set(panels['losses']) == {'l_pix', 'l_ssim'}


@pytest.mark.slow
def _last_change(files: list) -> int:
    """Independently: the first validation of the final run of equal genotypes (each node's inputs as a set, widths)."""
    key = [([sorted(map(tuple, c[2 * n:2 * n + 2])) for c in f['cells'] for n in range(len(c) // 2)], f['widths'])
           for f in files]
    k = len(key) - 1
    while k > 0 and key[k - 1] == key[k]:
        k -= 1
    return ITERS[k]


def test_end_state_is_the_last_validation_s_numbers(tmp_path):
    write_search_folder(tmp_path)
    state = end_state(load_search_course(str(tmp_path)))
    files = [json.loads((tmp_path / 'genotypes' / f'iter_{it}.json').read_text()) for it in ITERS]
    alpha = np.array(files[-1]['search']['alpha_softmax'])
    assert state['iteration'] == ITERS[-1] and state['validations'] == len(ITERS) and state['found'] == 'best.json'
    assert state['entropy'] == pytest.approx(float((-(alpha * np.log(alpha)).sum(-1)).mean()))
    assert state['entropy_uniform'] == pytest.approx(np.log(len(PRIMITIVES)))
    assert state['alpha_max_mean'] == pytest.approx(float(alpha.max(-1).mean()))
    assert state['alpha_max_mean_uniform'] == pytest.approx(1 / len(PRIMITIVES))
    best = json.loads((tmp_path / 'genotypes' / 'best.json').read_text())
    levels = [0, *best['widths']]
    transitions = files[-1]['search']['transitions']
    assert state['beta_path'] == [transitions[d][levels[d]][levels[d + 1] - levels[d] + 1] for d in range(2)]
    assert state['last_change'] == _last_change(files)


def _copy_genotype(root, source: int, targets: tuple[int, ...]) -> None:
    """Give the validations ``targets`` the genotype (and the alpha and beta it decodes from) of ``source``."""
    files = {it: json.loads((root / 'genotypes' / f'iter_{it}.json').read_text()) for it in (source, *targets)}
    for it in targets:
        for key in ('cells', 'widths'):
            files[it][key] = files[source][key]
        for key in ('alpha_softmax', 'transitions'):
            files[it]['search'][key] = files[source]['search'][key]
        (root / 'genotypes' / f'iter_{it}.json').write_text(json.dumps(files[it]))


def test_end_state_last_change(tmp_path):
    """The planted genotypes change widths at every validation (20, 40, 60, 80: [0,1], [0,0], [0,1], [0,0])."""
    write_search_folder(tmp_path)
    widths = [json.loads((tmp_path / 'genotypes' / f'iter_{it}.json').read_text())['widths'] for it in ITERS]
    assert widths == [[0, 1], [0, 0], [0, 1], [0, 0]]
    assert end_state(load_search_course(str(tmp_path)))['last_change'] == 80
    _copy_genotype(tmp_path, 60, (80,))  # stops changing at the third validation
    assert end_state(load_search_course(str(tmp_path)))['last_change'] == 60
    _copy_genotype(tmp_path, 20, (40, 60, 80))  # never changes
    assert end_state(load_search_course(str(tmp_path)))['last_change'] == 20


def test_hinas_report_prints_and_writes_end_states(tmp_path, capsys):
    for name in ('a', 'b'):
        write_search_folder(tmp_path / name)
    out = tmp_path / 'states.json'
    assert hinas_main(['report', str(tmp_path / 'a'), str(tmp_path / 'b'), '--json', str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    states = json.loads(out.read_text())
    assert [s['experiment'] for s in states] == [str(tmp_path / 'a'), str(tmp_path / 'b')]
    assert states[0] == end_state(load_search_course(str(tmp_path / 'a')))
    assert len(lines) == 4 and f'{states[1]["alpha_max_mean"]:.3f}' in lines[3]
    assert f'since iteration {states[1]["last_change"]}' in lines[3]
    assert (tmp_path / 'a' / 'report.png').is_file() and (tmp_path / 'b' / 'report.png').is_file()


def test_report_png_has_every_panel(tmp_path):
    write_search_folder(tmp_path)
    fig = report_figure(load_search_course(str(tmp_path)))
    titles = [ax.get_title() for ax in fig.axes]
    for wanted in ('validation PSNR / SSIM', 'training losses', 'how decided alpha is',
                   'softmax(beta) along the found path', 'genotype changes', 'found genotype (best.json)'):
        assert any(t.startswith(wanted) for t in titles), (wanted, titles)
    out = save_report(str(tmp_path))
    assert out == os.path.join(str(tmp_path), 'report.png')
    image = cv2.imread(out)
    assert image is not None and image.shape[0] > 1000 and image.shape[1] > 900
    assert image.std() > 20  # drawn, not blank


def test_hinas_report_refuses_what_is_not_a_search(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    write_search_folder(tmp_path / 'run')
    cases = [([str(tmp_path / 'missing')], 'not a folder'),
             ([str(tmp_path / 'empty')], 'no genotypes/iter_<N>.json'),
             ([str(tmp_path / 'run'), '-o', str(tmp_path / 'report.jpg')], 'ending in .png'),
             ([str(tmp_path / 'run'), str(tmp_path / 'run'), '-o', str(tmp_path / 'r.png')], 'one output for 2'),
             ([str(tmp_path / 'run'), '--json', str(tmp_path / 'states.txt')], 'ending in .json'),
             ([str(tmp_path / 'run'), str(tmp_path / 'empty')], 'no genotypes/iter_<N>.json')]
    for argv, message in cases:
        assert hinas_main(['report', *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and 'Traceback' not in err[0]
    hand_written = json.loads((tmp_path / 'run' / 'genotypes' / 'iter_20.json').read_text())
    del hand_written['search']
    (tmp_path / 'run' / 'genotypes' / 'iter_20.json').write_text(json.dumps(hand_written))
    assert hinas_main(['report', str(tmp_path / 'run')]) == 2
    assert 'iter_20.json: has no "search" field' in capsys.readouterr().err
    assert not (tmp_path / 'run' / 'report.png').exists() and not (tmp_path / 'empty' / 'report.png').exists()
    assert not (tmp_path / 'states.txt').exists() and not (tmp_path / 'r.png').exists()
