"""Dataset preparation (the scripts BasicSR's PyPI package lacks), importable after ``pip install``.

``datasets_prep/*.py`` are thin command lines over these functions.
"""
