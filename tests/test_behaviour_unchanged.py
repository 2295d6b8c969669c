"""The reorganised package trains the same networks to the same numbers on the CPU: a tiny search's genotype and
losses and a tiny training's losses equal those recorded before the reorganisation (tests/behaviour_run.py)."""
from __future__ import annotations

import json
import pathlib

import pytest
from behaviour_run import run

REFERENCE = pathlib.Path(__file__).resolve().parent / 'data' / 'behaviour_reference.json'


@pytest.mark.slow
def test_a_tiny_search_and_training_give_the_recorded_genotype_and_losses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reference = json.loads(REFERENCE.read_text(encoding='utf-8'))
    now = run(str(tmp_path))
    assert (now['cells'], now['widths']) == (reference['cells'], reference['widths'])
    assert len(now['search_losses']) == len(reference['search_losses']) > 0
    assert now['search_losses'] == reference['search_losses']
    assert now['train_losses'] == reference['train_losses'] and len(now['train_losses']) == 4
