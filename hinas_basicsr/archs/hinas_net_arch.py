"""The derived HiNAS network: a fixed net rebuilt from a searched genotype alone.

Zhang et al., "Memory-Efficient Hierarchical Neural Architecture Search for Image Restoration",
IJCV 2022 (arXiv 2012.13212). The layout follows "The derived network" in docs/HINAS.md.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from hinas_basicsr.archs.hinas_ops import ActConvBN, make_act, make_norm, make_op
from hinas_basicsr.space.genotype import Genotype, GenotypeSpec, resolve_genotype
from hinas_basicsr.space.trellis import level_channels

STEM_CHANNELS = 64
ASPP_RATES = (2, 4, 6)
DECODER_CHANNELS = 128
LOW_LEVEL_CHANNELS = 48


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob``; rescale the kept ones."""
    keep = 1.0 - drop_prob
    mask = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(keep)
    return x * mask / keep


class DerivedCell(nn.Module):
    """One fixed cell: each node sums two chosen operations on two chosen inputs; nodes are concatenated.

    Input index 0 is the state from two layers back, 1 the previous layer's, 2 + j node j
    (the genotype's convention). Both inputs are first projected (act, 1x1 conv, BN) to
    ``channels``.

    Args:
        cell (tuple): 2 * num_nodes (operation name, input index) pairs.
        c_prev_prev (int): Channels of the state from two layers back.
        c_prev (int): Channels of the previous layer's state.
        channels (int): Channels of every node.
    """

    def __init__(self, cell: tuple[tuple[str, int], ...], c_prev_prev: int, c_prev: int, channels: int) -> None:
        super().__init__()
        self.preprocess0 = ActConvBN(c_prev_prev, channels, 1)
        self.preprocess1 = ActConvBN(c_prev, channels, 1)
        self.indices = [index for _, index in cell]
        self.ops = nn.ModuleList(make_op(name, channels, affine=True) for name, _ in cell)
        self.num_nodes = len(cell) // 2
        self.out_channels = self.num_nodes * channels

    def forward(self, s_prev_prev: torch.Tensor, s_prev: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s_prev_prev), self.preprocess1(s_prev)]
        for node in range(self.num_nodes):
            total = 0
            for k in (2 * node, 2 * node + 1):
                h = self.ops[k](states[self.indices[k]])
                if drop_prob > 0 and not isinstance(self.ops[k], nn.Identity):
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)
        return torch.cat(states[2:], dim=1)


def conv_bn(c_in: int, c_out: int, kernel_size: int) -> nn.Sequential:
    """conv k x k (no bias), BN without affine parameters, no activation: the reference's ``reduce`` of the
    derived net and the supernet's stem branches, routers and expansions."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
                         make_norm(c_out, affine=False))


class SeparableConvBNAct(nn.Sequential):
    """Depthwise 3x3 (dilation ``dilation``), BN, act, pointwise 1x1 to ``c_out``, BN, act (the reference's).

    Args:
        c_in (int): Input channels.
        c_out (int): Output channels.
        dilation (int): Dilation of the depthwise conv. Default: 1.
        affine (bool): Affine BatchNorms. Default: True.
    """

    def __init__(self, c_in: int, c_out: int, dilation: int = 1, affine: bool = True) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, padding=dilation, dilation=dilation, groups=c_in, bias=False),
            make_norm(c_in, affine), make_act(inplace=True),
            nn.Conv2d(c_in, c_out, 1, bias=False), make_norm(c_out, affine), make_act(inplace=True))


class ConvBNAct(nn.Sequential):
    """1x1 conv, BN, act.

    Args:
        c_in (int): Input channels.
        c_out (int): Output channels.
        affine (bool): Affine BatchNorm. Default: True.
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, 1, bias=False), make_norm(c_out, affine), make_act(inplace=True))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: a 1x1 branch and separable atrous 3x3 branches, concatenated, projected.

    Args:
        c_in (int): Input channels.
        c_out (int): Channels of every branch and of the output.
        rates (tuple[int]): Dilation rates of the atrous branches. Default: (2, 4, 6).
        affine (bool): Affine BatchNorms after the 1x1 convs (the separable branches' BNs are always
            affine, as in the reference). Default: True.
    """

    def __init__(self, c_in: int, c_out: int, rates: tuple[int, ...] = ASPP_RATES, affine: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList([ConvBNAct(c_in, c_out, affine)] +
                                      [SeparableConvBNAct(c_in, c_out, r) for r in rates])
        self.project = ConvBNAct(c_out * (len(rates) + 1), c_out, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class Decoder(nn.Module):
    """DeepLabv3+-style head: ASPP (or a 1x1 conv) to 128, the low-level feature projected to 48, two sep convs.

    Args:
        c_in (int): Channels of the last cell's output.
        c_low (int): Channels of the low-level feature ``x0``.
        c_out (int): Output channels of the final conv3x3.
        use_aspp (bool): ASPP on the cell output; a 1x1 conv + BN + act otherwise.
    """

    def __init__(self, c_in: int, c_low: int, c_out: int, use_aspp: bool) -> None:
        super().__init__()
        self.act = make_act()
        self.aspp = ASPP(c_in, DECODER_CHANNELS) if use_aspp else ConvBNAct(c_in, DECODER_CHANNELS)
        self.proj = ConvBNAct(c_low, LOW_LEVEL_CHANNELS)
        self.fuse = nn.Sequential(SeparableConvBNAct(DECODER_CHANNELS + LOW_LEVEL_CHANNELS, DECODER_CHANNELS),
                                  SeparableConvBNAct(DECODER_CHANNELS, DECODER_CHANNELS))
        self.conv_last = nn.Conv2d(DECODER_CHANNELS, c_out, 3, padding=1)
        # Zero-initialised: an untrained net returns exactly its residual base (bicubic / the input).
        nn.init.zeros_(self.conv_last.weight)
        nn.init.zeros_(self.conv_last.bias)

    def forward(self, x: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.aspp(self.act(x)), self.proj(low)], dim=1)
        return self.conv_last(self.fuse(x))


def low_level_cell(widths: tuple[int, ...]) -> int | None:
    """Index of the cell whose output is the decoder's low-level input, or None for the stem's ``reduce``.

    As the reference builds it (its parameter counts pin this down): the path's last level-0 cell, unless
    that cell is the final layer or the path has no level-0 cell; then the stem's reduced feature. So a
    path that ends at level 0 (``[0, 0]``, ``[0, 1, 0]``) takes the stem's feature.
    """
    level0 = [i for i, level in enumerate(widths) if level == 0]
    return level0[-1] if level0 and level0[-1] < len(widths) - 1 else None


def _agree(name: str, given: int | None, expected: int) -> None:
    if given is not None and given != expected:
        raise ValueError(f'network_g.{name}: {given}, but the genotype says {expected}')


def check_options(geno: Genotype, num_feat: int = 16, use_aspp: bool | None = None, drop_path: float = 0.0,
                  upscale: int | None = None, num_in_ch: int | None = None, num_out_ch: int | None = None) -> None:
    """Refuse arguments :class:`HiNASNet` cannot be built from (a ``ValueError`` naming ``network_g.<key>``).

    The constructor calls it; so does the options check of ``basicsr train``/``test``, before anything is written.
    """
    if upscale is not None:
        geno.check_compatible(scale=upscale, source='network_g.genotype', scale_option='network_g.upscale')
    _agree('num_in_ch', num_in_ch, geno.num_in_ch)
    _agree('num_out_ch', num_out_ch, geno.num_in_ch)
    if not isinstance(num_feat, int) or isinstance(num_feat, bool) or num_feat < 1:
        raise ValueError(f'network_g.num_feat: expected an integer >= 1, got {num_feat!r}')
    if min(level_channels(num_feat, geno.width_factors)) < 1:
        raise ValueError(f'network_g.num_feat: {num_feat} with the genotype\'s width_factors '
                         f'{list(geno.width_factors)} gives a level with no channels')
    if use_aspp is not None and not isinstance(use_aspp, bool):
        raise ValueError(f'network_g.use_aspp: expected true, false or null, got {use_aspp!r}')
    if isinstance(drop_path, bool) or not isinstance(drop_path, (int, float)) or not 0.0 <= drop_path < 1.0:
        raise ValueError(f'network_g.drop_path: expected 0 <= drop_path < 1, got {drop_path!r}')


@ARCH_REGISTRY.register()
class HiNASNet(nn.Module):
    """The derived HiNAS network for super-resolution or denoising, built from a genotype.

    HiNAS: Zhang et al., "Memory-Efficient Hierarchical Neural Architecture Search for Image
    Restoration", IJCV 2022. Stem (``h_pp``, ``h_p``), one searched cell per layer at the searched
    width, then the reference's DeepLabv3+-style decoder: ASPP (sr) or a 1x1 conv (denoise) on the last
    cell's output, fused with a low-level feature (see :func:`low_level_cell`). Super-resolution adds the
    bicubic-upsampled input to a PixelShuffle output; denoising predicts the noise and returns
    ``input - prediction``. Task and channels come from the genotype; an SR genotype (searched at any
    scale) serves every SR scale. The last conv starts at zero, so training starts from the residual base.

    Args:
        genotype (str | dict | Genotype): Path of a genotype JSON file, or the JSON object inline.
        num_feat (int): Base width F; a cell at level w has ``int(F * width_factors[w])`` channels
            per node. Default: 16.
        use_aspp (bool | None): ASPP in the decoder; None means True for sr, False for denoise.
            Default: None.
        drop_path (float): Probability of dropping a (non-identity) cell edge while training.
            Default: 0.0.
        upscale (int | None): Scale to build an SR net at (2, 3, 4 or 8; may differ from the scale the
            genotype was searched at); 1 for a denoising genotype. None: the genotype's. Default: None.
        num_in_ch (int | None): If given, must equal the genotype's num_in_ch. Default: None.
        num_out_ch (int | None): If given, must equal the genotype's num_in_ch. Default: None.
    """

    def __init__(self, genotype: GenotypeSpec, num_feat: int = 16, use_aspp: bool | None = None,
                 drop_path: float = 0.0, upscale: int | None = None, num_in_ch: int | None = None,
                 num_out_ch: int | None = None) -> None:
        super().__init__()
        geno = resolve_genotype(genotype)
        check_options(geno, num_feat, use_aspp, drop_path, upscale, num_in_ch, num_out_ch)
        scale = geno.scale if upscale is None else upscale
        if scale != geno.scale:  # BasicSR's logger; not get_root_logger(), which would set it up when a check builds
            logging.getLogger('basicsr').info(f'HiNASNet: genotype searched at x{geno.scale}, built at x{scale}.')
        self.genotype = geno
        self.task, self.scale, self.drop_path = geno.task, scale, drop_path
        channels = level_channels(num_feat, geno.width_factors)
        in_ch, nodes = geno.num_in_ch, geno.num_nodes

        self.conv_first = nn.Sequential(nn.Conv2d(in_ch, STEM_CHANNELS, 3, padding=1, bias=False),
                                        make_norm(STEM_CHANNELS, True), make_act(inplace=True))
        self.conv_second = ActConvBN(STEM_CHANNELS, STEM_CHANNELS, 3)
        self.body = nn.ModuleList()
        c_pp, c_p = STEM_CHANNELS, STEM_CHANNELS
        for cell, level in zip(geno.cells, geno.widths):
            self.body.append(DerivedCell(cell, c_pp, c_p, channels[level]))
            c_pp, c_p = c_p, self.body[-1].out_channels
        self.low_level_cell = low_level_cell(geno.widths)
        if self.low_level_cell is None:
            self.reduce = conv_bn(STEM_CHANNELS, nodes * channels[0], 3)
        if use_aspp is None:
            use_aspp = geno.task == 'sr'
        self.decoder = Decoder(c_p, nodes * channels[0], in_ch * scale ** 2, use_aspp)
        self.upsample = nn.PixelShuffle(scale) if geno.task == 'sr' else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.conv_first(x)
        h_pp, h_p = stem, self.conv_second(stem)
        low = self.reduce(h_p) if self.low_level_cell is None else None
        drop_prob = self.drop_path if self.training else 0.0
        for i, cell in enumerate(self.body):
            h_pp, h_p = h_p, cell(h_pp, h_p, drop_prob)
            if i == self.low_level_cell:
                low = h_p
        out = self.upsample(self.decoder(h_p, low))
        if self.task == 'denoise':
            return x - out
        return out + F.interpolate(x, scale_factor=self.scale, mode='bicubic', align_corners=False)
