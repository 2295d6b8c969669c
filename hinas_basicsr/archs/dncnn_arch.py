"""DnCNN, the classical AWGN denoiser that BasicSR lacks.

Zhang, Zuo, Chen, Meng and Zhang, "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
Denoising", IEEE TIP 2017. The layout is the authors' own code (``cszn/DnCNN``, its PyTorch and Keras training
code): conv + ReLU, then conv (no bias) + BatchNorm + ReLU, then a final conv (no bias) that predicts the noise;
the output is the input minus that prediction (residual learning). With 17 convolutions of 64 channels on gray
images (DnCNN-S) it has 556,096 parameters.
"""
from __future__ import annotations

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

BN_EPS = 1e-4  # the authors' code


@ARCH_REGISTRY.register()
class DnCNN(nn.Module):
    """DnCNN: a plain stack of 3x3 convolutions that predicts the noise of its input (Zhang et al., TIP 2017).

    Args:
        num_in_ch (int): Channel number of inputs (1 for gray). Default: 1.
        num_out_ch (int): Channel number of outputs; must equal ``num_in_ch`` (output = input - noise). Default: 1.
        num_feat (int): Channel number of intermediate features. Default: 64.
        num_conv (int): Number of convolutions, the first and the last included (the paper's depth D; 17 for
            DnCNN-S, 20 for the blind DnCNN-B). Default: 17.
    """

    def __init__(self, num_in_ch: int = 1, num_out_ch: int = 1, num_feat: int = 64, num_conv: int = 17) -> None:
        super().__init__()
        if num_out_ch != num_in_ch:
            raise ValueError(f'network_g.num_out_ch: DnCNN subtracts its output from its input, so num_out_ch must '
                             f'equal num_in_ch ({num_in_ch}), got {num_out_ch}')
        if num_conv < 2:
            raise ValueError(f'network_g.num_conv: expected at least 2 convolutions, got {num_conv}')
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False),
                                                  nn.BatchNorm2d(num_feat, eps=BN_EPS), nn.ReLU(inplace=True))
                                    for _ in range(num_conv - 2)))
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        for m in self.modules():  # the authors' initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.orthogonal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = self.conv_last(self.body(self.relu(self.conv_first(x))))
        return x - noise
