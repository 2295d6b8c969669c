"""Imports every `*_dataset.py` here, so that its classes register in BasicSR's DATASET_REGISTRY."""
import importlib
from pathlib import Path

_modules = [importlib.import_module(f'{__name__}.{p.stem}') for p in sorted(Path(__file__).parent.glob('*_dataset.py'))]
