"""Imports every `*_loss.py` here, so that its classes register in BasicSR's LOSS_REGISTRY."""
import importlib
from pathlib import Path

_modules = [importlib.import_module(f'{__name__}.{p.stem}') for p in sorted(Path(__file__).parent.glob('*_loss.py'))]
