"""A TorchFunctionMode that records what would move data between host and device inside a CUDA computation."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

# reading a tensor's value on the host: a device-to-host copy and a stream sync on CUDA
READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu, torch.Tensor.__bool__,
         torch.Tensor.__int__, torch.Tensor.__float__, torch.Tensor.__index__, torch.Tensor.nonzero,
         torch.nonzero, torch.masked_select, torch.Tensor.masked_select, torch.unique, torch.Tensor.unique}
# a tensor made from Python or numpy data: a host-to-device copy
CREATES = {torch.tensor, torch.as_tensor, torch.asarray, torch.Tensor.new_tensor}


def _has_host_data(index: Any) -> bool:
    if isinstance(index, (list, np.ndarray)):
        return True
    return isinstance(index, tuple) and any(_has_host_data(i) for i in index)


class HostTraffic(TorchFunctionMode):
    """Within: ``found`` lists each call that reads a tensor's value back or makes a tensor from host data
    (``torch.tensor``, indexing with a Python list, ``.item()``, ``bool(t)``...)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __enter__(self) -> HostTraffic:
        # torch.from_numpy takes no tensor, so no mode sees it: it is wrapped while the mode is on
        self._from_numpy = torch.from_numpy

        def from_numpy(array: np.ndarray) -> torch.Tensor:
            self.found.append('creates from host data: from_numpy')
            return self._from_numpy(array)

        torch.from_numpy = from_numpy
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        torch.from_numpy = self._from_numpy
        super().__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, '__qualname__', str(func))
        if func in READS:
            self.found.append(f'reads back: {name}')
        elif func in CREATES:
            self.found.append(f'creates from host data: {name}')
        elif func in (torch.Tensor.__getitem__, torch.Tensor.__setitem__) and _has_host_data(args[1]):
            self.found.append(f'indexes with host data: {name}')
        return func(*args, **(kwargs or {}))
