"""Write constraints.txt: the versions the test suite last passed with, for the README's test command.

Run it in the environment where `pip install -e '.[dev]' -c constraints.txt && python -m pytest` just passed, after
upgrading what you want to move (e.g. `pip install -U pytest ruff torch`). It walks the requirements of
hinas-basicsr[dev] through the installed distributions and pins each one it reaches, so a release of pytest, ruff,
torch or any other dependency cannot change the test command's environment until someone re-pins. Users' installs
(`pip install -e .`) keep setup.py's open ranges.
"""
from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _closure(root: str, extras: set[str]) -> dict[str, str]:
    pinned: dict[str, str] = {}
    todo: list[tuple[str, set[str]]] = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        dist = metadata.distribution(name)
        key = re.sub(r'[-_.]+', '-', dist.metadata['Name']).lower()
        if key in pinned and not wanted:
            continue
        pinned[key] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({'extra': e}) for e in (wanted or {''})):
                continue
            try:
                metadata.distribution(req.name)
            except metadata.PackageNotFoundError:
                continue  # a marker-excluded or optional requirement not installed here
            todo.append((req.name, set(req.extras)))
    return pinned


def main() -> int:
    pins = _closure('hinas-basicsr', {'dev'})
    pins.pop('hinas-basicsr')
    python = f'{sys.version_info.major}.{sys.version_info.minor}'
    # The pins hold on the Python they were tested on; on another one pip resolves the open ranges of setup.py.
    lines = ["# Tested versions for the README test command (pip install -e '.[dev]' -c constraints.txt).",
             f'# Written by .ci/pin_tested.py on Python {python}; on another Python these lines do not apply.',
             *(f'{name}=={version}; python_version == "{python}"' for name, version in sorted(pins.items()))]
    (ROOT / 'constraints.txt').write_text('\n'.join(lines) + '\n')
    print(f'{len(pins)} pins written to constraints.txt')
    return 0


if __name__ == '__main__':
    sys.exit(main())
