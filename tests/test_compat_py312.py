"""The repairs the lent GPU machine needs too (Python 3.12, torch 2.11): distutils.version for BasicSR."""
from __future__ import annotations

import sys

import hinas_basicsr  # noqa: F401
from hinas_basicsr import compat


def test_loose_version_where_distutils_is_gone(monkeypatch):
    monkeypatch.setitem(sys.modules, 'distutils.version', None)  # as on Python 3.12 without setuptools' shim
    compat._alias_distutils_version()
    from distutils.version import LooseVersion  # what basicsr.archs.arch_util imports

    assert LooseVersion is compat.LooseVersion
    assert LooseVersion('0.26.0+cu130') >= LooseVersion('0.9.0') and LooseVersion('0.8.2') < '0.9.0'
    assert not LooseVersion('0.10') < LooseVersion('0.9')  # by numbers, not as strings
