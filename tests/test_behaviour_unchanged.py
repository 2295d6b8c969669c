"""The reorganised package trains the same networks to the same numbers on the CPU: a tiny search's genotype and
losses and a tiny training's losses equal those recorded before the reorganisation (tests/behaviour_run.py)."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE / 'data' / 'behaviour_reference.json'


@pytest.mark.slow
def test_a_tiny_search_and_training_give_the_recorded_genotype_and_losses(tmp_path):
    # a process of its own, as the reference was recorded: BasicSR's logger is set up once per process, and the
    # losses are read from the run's log
    out = tmp_path / 'now.json'
    subprocess.run([sys.executable, str(HERE / 'behaviour_run.py'), str(out)], check=True, capture_output=True,
                   cwd=tmp_path, timeout=900)
    reference = json.loads(REFERENCE.read_text(encoding='utf-8'))
    now = json.loads(out.read_text(encoding='utf-8'))
    assert (now['cells'], now['widths']) == (reference['cells'], reference['widths'])
    assert len(now['search_losses']) == len(reference['search_losses']) > 0
    assert now['search_losses'] == reference['search_losses']
    assert now['train_losses'] == reference['train_losses'] and len(now['train_losses']) == 4
