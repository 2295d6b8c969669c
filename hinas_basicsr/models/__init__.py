"""Imports every `*_model.py` here, so that its classes register in BasicSR's MODEL_REGISTRY."""
import importlib
from pathlib import Path

_modules = [importlib.import_module(f'{__name__}.{p.stem}') for p in sorted(Path(__file__).parent.glob('*_model.py'))]
