"""Lets ``python datasets_prep/X.py`` run from a checkout: puts the repository root first on ``sys.path``."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
