"""hinas-basicsr: HiNAS (hierarchical NAS for image restoration) as a BasicSR plugin.

Importing this package repairs BasicSR 1.4.2 for current torch (see :mod:`hinas_basicsr.compat`)
and registers the plugin's archs, models, datasets and losses in BasicSR's registries.
"""
from hinas_basicsr import compat

compat.install()

from hinas_basicsr import archs, data, losses, models  # noqa: E402,F401  (registration)

__version__ = '0.1.0'
