"""The README is an entry page whose links lead somewhere, and the test command's pins cover every requirement."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r'```.*?```', '', page.read_text(encoding='utf-8'), flags=re.S)  # code blocks hold no links
    return [t for t in LINK.findall(text) if not re.match(r'[a-z]+:', t) and not t.startswith('#')]


def test_the_pages_have_relative_links_to_check():
    links = {page.name: _relative_links(page) for page in PAGES}
    assert len(links['README.md']) >= 10 and sum(map(len, links.values())) >= 15


@pytest.mark.parametrize('page', PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    broken = [t for t in _relative_links(page) if not (page.parent / t.split('#')[0]).exists()]
    assert broken == [], f'{page.relative_to(ROOT)}: links to nothing: {broken}'


def test_readme_is_an_entry_page():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(readme.splitlines()) <= 250
    docs = {t.split('#')[0] for t in _relative_links(ROOT / 'README.md') if t.startswith('docs/')}
    pages = {f'docs/{p.name}' for p in (ROOT / 'docs').glob('*.md')}
    assert pages <= docs, f'docs pages the README does not lead to: {sorted(pages - docs)}'


def _names(requirements: list[str]) -> set[str]:
    return {re.sub(r'[-_.]+', '-', Requirement(r).name).lower() for r in requirements}


def test_constraints_pin_every_requirement_of_the_test_command():
    pinned = {}
    for line in (ROOT / 'constraints.txt').read_text().splitlines():
        if line and not line.startswith('#'):
            req = Requirement(line)
            assert str(req.specifier).startswith('=='), line
            pinned[re.sub(r'[-_.]+', '-', req.name).lower()] = req
    setup_py = (ROOT / 'setup.py').read_text()
    install = re.search(r'install_requires=\[(.*?)\]', setup_py, re.S).group(1)
    dev = re.search(r"'dev': \[(.*?)\]", setup_py, re.S).group(1)
    wanted = _names(re.findall(r"'([^']+)'", install)) | _names(re.findall(r"'([^']+)'", dev))
    assert {'pytest', 'ruff', 'torch'} <= wanted
    assert wanted - set(pinned) == set(), 'setup.py requirements missing from constraints.txt: re-run .ci/pin_tested.py'


def test_readme_names_the_pinned_dev_tool_versions():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    pins = dict(re.findall(r'^([a-z0-9-]+)==([^;\s]+)', (ROOT / 'constraints.txt').read_text(), re.M))
    for tool in ('pytest', 'ruff', 'torch'):
        assert f'{tool} {pins[tool]}' in readme
    assert "-c constraints.txt" in readme and "-c constraints.txt" in (ROOT / '.ci' / 'run').read_text()

