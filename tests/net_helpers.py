"""Networks in a trained-like state for tests of exported and tiled inference."""
from __future__ import annotations

import torch
from torch import nn


def trained_like(net: nn.Module, he_convs: bool = False) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine terms; eval mode.

    Convolutions: with ``he_convs`` all get He-scaled random weights (so that far pixels matter to an
    output), otherwise only zero-initialised ones get small random weights.
    """
    gen = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
            if m.affine:  # the stem's reduce BN has no affine terms, as the reference's
                m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=gen))
        elif isinstance(m, nn.Conv2d) and he_convs:
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=gen) * (2 / m.weight[0].numel()) ** 0.5)
        elif isinstance(m, nn.Conv2d) and not m.weight.abs().sum():
            m.weight.data.copy_(0.01 * torch.randn(m.weight.shape, generator=gen))
    return net.eval()
