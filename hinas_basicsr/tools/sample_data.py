"""The embedded sample data (``sample_data: datasets/sample`` in option files), built after the options are checked.

See :mod:`hinas_basicsr.prep.sample`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hinas_basicsr.prep.sample import ensure_sample_data, is_sample_complete, make_sample_data
from hinas_basicsr.tools.options_check import check_dataroots

__all__ = ['ensure_sample_data', 'is_sample_complete', 'make_sample_data', 'prepare_sample_data']


def prepare_sample_data(path: str, opt: Mapping[str, Any]) -> None:
    """Build the embedded sample data that the options (read from ``path``) name with ``sample_data: DIR``, then
    check its folders as any other data's (the options check skips them while they may not exist yet)."""
    if opt.get('sample_data'):
        ensure_sample_data(opt['sample_data'])
        check_dataroots(path, opt)
