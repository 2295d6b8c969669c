"""The genotype drawing: left-to-right cell layout and ``hinas plot-genotype`` writing a real PNG."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import REPO

from hinas_basicsr.cli import hinas_main
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.genotype_plot import cell_edges, cell_layout, genotype_figure

SR = REPO / 'options' / 'demo' / 'genotype_example_sr_x2.json'
DENOISE_CELL = [['sep_conv_3x3', 0], ['conv_3x3', 1], ['skip_connect', 2], ['dil_conv_3x3', 0],
                ['sep_conv_5x5', 3], ['conv_3x3', 1], ['dil_conv_5x5', 4], ['skip_connect', 2]]


def _denoise_genotype() -> Genotype:
    data = json.loads(SR.read_text())
    data.update(task='denoise', scale=1, num_in_ch=1, num_nodes=4, widths=[1, 2, 1], cells=[DENOISE_CELL] * 3)
    return Genotype.from_dict(data)


def test_cell_layout_flows_left_to_right():
    genotype = _denoise_genotype()
    pos = cell_layout(genotype.cells[0], genotype.num_nodes)
    assert pos[0][0] == pos[1][0] == min(x for x, _ in pos.values())  # the inputs on the left
    assert pos[-1][0] > max(pos[2 + j][0] for j in range(4))  # the output on the right
    edges = cell_edges(genotype, 0)
    assert len(edges) == 2 * 4 + 4  # the searched edges, then every node into the concatenation
    assert [op for _, _, op, _ in edges[:8]] == [op for op, _ in DENOISE_CELL]
    assert all(pos[src][0] < pos[dst][0] for src, dst, _, _ in edges)
    assert len({pos[s] for s in pos}) == len(pos)  # no two states drawn on one spot


@pytest.mark.slow
@pytest.mark.parametrize('source', ['sr', 'denoise'])
def test_plot_genotype_writes_a_png(tmp_path, source, capsys):
    path = SR if source == 'sr' else tmp_path / 'g.json'
    if source == 'denoise':
        _denoise_genotype().save(path)
    out = tmp_path / 'drawn.png'
    assert hinas_main(['plot-genotype', str(path), '-o', str(out)]) == 0
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 600
    assert img.shape[1] > img.shape[0]  # the cells run left to right
    dark = (img.min(axis=2) < 128).mean()
    assert 0.005 < dark < 0.3  # lines and text drawn, not a blank or black page
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # coloured nodes, arrows, anti-aliased text
    assert str(out) in capsys.readouterr().out


def test_plot_genotype_refuses_a_bad_file(tmp_path, capsys):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"format": "hinas-genotype"')
    assert hinas_main(['plot-genotype', str(bad), '-o', str(tmp_path / 'x.png')]) == 2
    assert 'bad.json: not valid JSON' in capsys.readouterr().err
    assert not (tmp_path / 'x.png').exists()


@pytest.mark.parametrize('source', ['sr', 'denoise'])
def test_edge_labels_overlap_neither_nodes_nor_each_other(source):
    import matplotlib.pyplot as plt

    genotype = Genotype.load(SR) if source == 'sr' else _denoise_genotype()
    fig, overlap = genotype_figure(genotype)
    plt.close(fig)
    labels = [t for ax in fig.axes[1:] for t in ax.texts if t.get_text() in genotype.ops]
    assert len(labels) == 2 * genotype.num_nodes * genotype.num_layers  # one label per searched edge
    assert overlap == 0
