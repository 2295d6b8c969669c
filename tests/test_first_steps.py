"""benchmarks/first_steps.py on a tiny EDSR training: one row per step, the forced lr applied, bad input in one line."""
from __future__ import annotations

import json
import math

import first_steps
import pytest
from conftest import edsr_options, write_options

pytestmark = pytest.mark.usefixtures('one_thread')


def test_rows_follow_the_forced_recipe(tmp_path, capsys):
    option = write_options(tmp_path / 'o.yml', edsr_options(tmp_path / 'data'))
    out = tmp_path / 'rows.json'
    assert first_steps.main(['-opt', str(option), '--steps', '3', '--force_yml', 'train:optim_g:lr=0.0005',
                             '--json', str(out)]) == 0
    rows = json.loads(out.read_text())['rows']
    assert [r['step'] for r in rows] == [1, 2, 3]
    assert rows[0]['lr'] == pytest.approx(0.0005)  # the forced lr, not the example file's 2e-4
    assert all(math.isfinite(r['l_pix']) and r['l_pix'] > 0 and r['max_abs_weight'] > 0 for r in rows)
    assert 'step 3: lr' in capsys.readouterr().out


def test_bad_input_in_one_line(tmp_path, capsys):
    assert first_steps.main(['-opt', str(tmp_path / 'missing.yml')]) == 2
    assert 'missing.yml' in capsys.readouterr().err
    option = write_options(tmp_path / 'o.yml', edsr_options(tmp_path / 'data'))
    assert first_steps.main(['-opt', str(option), '--steps', '0']) == 2
    assert capsys.readouterr().err.startswith('first_steps: error: --steps: expected an integer from 1 to 100,000')
