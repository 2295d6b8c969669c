"""Import the plugin before any test module imports BasicSR (it installs the torchvision compat shim)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/ helpers (prep_helpers)

import hinas_basicsr  # noqa: E402,F401
