"""docs/commands.md: its flag table lists exactly the flags of every command's parser; old spellings are refused."""
from __future__ import annotations

import argparse
import pathlib
import re

import pytest

from hinas_basicsr.cli import _add_basicsr_flags, _discover_commands, hinas_main

DOC = pathlib.Path(__file__).resolve().parents[1] / 'docs' / 'commands.md'


def parser_flags() -> set[tuple[str, str]]:
    """(command, flag) of every argument of ``basicsr train/test`` and of each ``hinas`` command."""
    parsers = {}
    for name in ('basicsr train', 'basicsr test'):
        parsers[name] = argparse.ArgumentParser()
        _add_basicsr_flags(parsers[name])
    for name, module in _discover_commands().items():
        parsers[f'hinas {name}'] = argparse.ArgumentParser()
        module.add_arguments(parsers[f'hinas {name}'])
    flags = set()
    for command, parser in parsers.items():
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction):
                names = action.option_strings or [action.metavar or action.dest]
                flags.add((command, ', '.join(names)))
    return flags


def doc_flags() -> set[tuple[str, str]]:
    """(command, flag) of every row of the doc's flag table (the flag cell without its metavar)."""
    rows = re.findall(r'^\| `((?:basicsr|hinas) [\w-]+)` \| `([^`]+)` \|', DOC.read_text(encoding='utf-8'), re.M)
    flags = set()
    for command, cell in rows:
        names = [token for token in re.split(r',? ', cell) if token.startswith('-')] or [cell.split()[0]]
        flags.add((command, ', '.join(names)))
    return flags


def test_the_flag_table_lists_every_flag_of_every_command_and_nothing_else():
    expected = parser_flags()
    assert len(expected) > 50 and ('hinas export', '--weights') in expected
    assert doc_flags() == expected


@pytest.mark.parametrize('argv, old, new', [
    (['export', '-opt', 'x.yml', '--checkpoint', 'a.pth'], '--checkpoint', '--weights PTH'),
    (['infer', '--model=a.pt', '-i', 'a', '-o', 'b'], '--model', '--torchscript PT'),
])
def test_an_old_spelling_is_refused_in_one_line_with_the_new_one(argv, old, new, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hinas_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and old in err and new in err
    assert list(tmp_path.iterdir()) == []
