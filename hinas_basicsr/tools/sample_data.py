"""The embedded sample data (``sample_data: datasets/sample`` in option files).

See :mod:`hinas_basicsr.prep.sample`.
"""
from hinas_basicsr.prep.sample import ensure_sample_data, is_sample_complete, make_sample_data

__all__ = ['ensure_sample_data', 'is_sample_complete', 'make_sample_data']
