"""A differentiable model of the derived net's FLOPs under softmax(alpha) and softmax(beta), for a cost target.

FBNet (Wu et al., CVPR 2019) and ProxylessNAS (Cai et al., ICLR 2019) add the expected cost under the
architecture distribution to the loss; TF-NAS (Hu et al., ECCV 2020) drives it to a target:
``loss + weight * |E[FLOPs] / target - 1|``. Here the cost is the FLOPs of the derived network
(``HiNASNet`` at its own base width ``num_feat``, the reference 16, not the supernet's) on one LR input of a
stated size, counted as ``torch.utils.flop_counter`` (and ``hinas compare``) count them: 2 per
multiply-accumulate of every convolution, nothing else.

Every convolution of the derived net runs at stride 1 at the LR resolution, so its cost is the number of its
weights per pixel; the cost of each operation and of the decoder is read off the modules that build them, so
the model follows the operation table. The expectation:

* the width of each layer, and of pairs of layers (the 1x1 input projections of a cell join two widths),
  from the path's Markov-chain marginals (:mod:`hinas_basicsr.space.path_probs`);
* per node, the derived cell keeps two (operation, input) pairs: its cost is modelled as
  ``2 * sum_e sum_k p_ek cost_k / sum_e s_e`` over its incoming edges e and the operations k other than
  ``none``, with ``s_e = sum_{k != none} p_ek`` (the mass of edge e that decoding can choose);
* the decoder from the last layer's width; the stem's reduced feature (the decoder's low-level input where
  the path has no level-0 cell before the final layer) with the probability of such a path.

At one-hot alpha and beta (a genotype: :func:`hinas_basicsr.search.judge.one_hot_weights`) every part is
exact, so the model is the counter's figure for that derived net.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hinas_basicsr.archs.hinas_net_arch import STEM_CHANNELS, Decoder, conv_bn
from hinas_basicsr.archs.hinas_ops import make_op
from hinas_basicsr.space.path_probs import level_marginals, low_level_probs, pair_marginals
from hinas_basicsr.space.trellis import level_channels, node_edges
from hinas_basicsr.utils.arg_checks import is_integer, is_number
from hinas_basicsr.utils.options_file import REQUIRED, component_options, refuse_replaced_keys

DEFAULT_INPUT = (128, 128)  # LR (height, width): hinas compare's default FLOPs input
DEFAULT_NUM_FEAT = 16  # the derived SR net's reference F
DEFAULT_WEIGHT = 0.1  # TF-NAS's weight of |E[cost] / target - 1|
FLOPS_GROUP = 'flops_opt'  # train.flops_opt: the cost target's options (check_flops_options)
FLOPS_TYPES = {'target': {'gflops': REQUIRED, 'input': DEFAULT_INPUT, 'num_feat': DEFAULT_NUM_FEAT,
                          'weight': DEFAULT_WEIGHT}}
FLOPS_REPLACED = {'flops_target': 'gflops', 'flops_input': 'input', 'flops_num_feat': 'num_feat',
                  'flops_weight': 'weight'}  # the flat train keys before train.flops_opt


def conv_macs(module: nn.Module) -> int:
    """Multiply-accumulates per output pixel of every convolution in ``module`` (stride 1: its weight count)."""
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


@functools.cache
def op_macs(name: str, channels: int) -> int:
    """Multiply-accumulates per pixel of the operation ``name`` on ``channels`` channels."""
    return conv_macs(make_op(name, channels, affine=True))


@functools.cache
def decoder_macs(c_in: int, c_low: int, c_out: int, use_aspp: bool) -> int:
    """Multiply-accumulates per pixel of the derived net's decoder."""
    return conv_macs(Decoder(c_in, c_low, c_out, use_aspp))


class FlopsModel:
    """Expected FLOPs of the derived net under cell weights (L, E, n_ops) and transitions (L, W, 3).

    Args:
        ops (list[str]): The candidate operations, in alpha's order.
        num_nodes (int): Nodes per cell B.
        width_factors (list[float]): Width factor per level.
        num_feat (int): The derived net's base width F. Default: 16.
        num_in_ch (int): Image channels. Default: 3.
        scale (int): Upscale (1 for denoising). Default: 2.
        use_aspp (bool): The derived decoder's ASPP (the default HiNASNet: True for sr, False for denoise).
            Default: True.
        input_size (tuple[int, int]): LR input (height, width) the FLOPs are counted for. Default: (128, 128).
    """

    def __init__(self, ops: Sequence[str], num_nodes: int, width_factors: Sequence[float],
                 num_feat: int = DEFAULT_NUM_FEAT, num_in_ch: int = 3, scale: int = 2, use_aspp: bool = True,
                 input_size: Sequence[int] = DEFAULT_INPUT) -> None:
        if len(input_size) != 2 or min(input_size) < 1:
            raise ValueError(f'flops input size: expected (height, width) >= 1, got {list(input_size)}')
        self.ops, self.num_nodes = tuple(ops), num_nodes
        self.pixels = int(input_size[0]) * int(input_size[1])
        chans = level_channels(num_feat, width_factors)
        self.channels = torch.tensor(chans, dtype=torch.float64)
        self.choosable = torch.tensor([name != 'none' for name in ops])
        self.op_table = torch.tensor([[op_macs(name, c) for name in ops] for c in chans], dtype=torch.float64)
        self.decoder = torch.tensor([decoder_macs(num_nodes * c, num_nodes * chans[0], num_in_ch * scale ** 2,
                                                  use_aspp) for c in chans], dtype=torch.float64)
        stem = 9 * num_in_ch * STEM_CHANNELS + 9 * STEM_CHANNELS * STEM_CHANNELS
        self.stem, self.reduce = float(stem), float(conv_macs(conv_bn(STEM_CHANNELS, num_nodes * chans[0], 3)))

    @classmethod
    def for_supernet(cls, net: nn.Module, num_feat: int = DEFAULT_NUM_FEAT,
                     input_size: Sequence[int] = DEFAULT_INPUT, use_aspp: bool | None = None) -> FlopsModel:
        """The model of the nets a ``HiNASSupernet`` derives (its ops, nodes, widths, task, channels, scale)."""
        return cls(net.op_names, net.num_nodes, net.width_factors, num_feat, net.num_in_ch, net.upscale,
                   net.task == 'sr' if use_aspp is None else use_aspp, input_size)

    def cell_macs(self, weights: torch.Tensor) -> torch.Tensor:
        """Expected multiply-accumulates per pixel of one layer's cell at each level: (W,), from (E, n_ops)."""
        w = weights.to(self.op_table.dtype)
        choosable = self.choosable.to(w.device)
        per_edge = w[:, choosable] @ self.op_table.to(w.device)[:, choosable].T  # (E, W)
        mass = w[:, choosable].sum(-1)
        total = 0
        for edges in node_edges(self.num_nodes):
            node = slice(edges.start, edges.stop)
            total = total + 2 * per_edge[node].sum(0) / mass[node].sum().clamp_min(1e-12)
        return total

    def __call__(self, cell_weights: torch.Tensor, transitions: torch.Tensor) -> torch.Tensor:
        """Expected FLOPs (a 0-d float64 tensor, differentiable in both arguments)."""
        trans = transitions.to(torch.float64)
        device = trans.device
        chans, nodes = self.channels.to(device), self.num_nodes
        outs = nodes * chans
        q = level_marginals(trans)
        num_layers = trans.shape[0]
        macs = self.stem + self.reduce * low_level_probs(trans)[0]
        for depth in range(1, num_layers + 1):
            macs = macs + q[depth] @ self.cell_macs(cell_weights[depth - 1])
            for back in (1, 2):  # preprocess1 (the previous layer's output), preprocess0 (two layers back)
                if depth - back <= 0:
                    macs = macs + STEM_CHANNELS * (q[depth] @ chans)
                else:
                    macs = macs + outs @ pair_marginals(trans, depth - back, depth) @ chans
        macs = macs + q[num_layers] @ self.decoder.to(device)
        return 2 * self.pixels * macs


def flops_penalty(expected: torch.Tensor, target: float) -> torch.Tensor:
    """TF-NAS's penalty toward a target: ``|expected / target - 1|``."""
    return (expected / target - 1).abs()


def check_flops_options(train_opt: Mapping[str, Any]) -> dict[str, Any] | None:
    """The search's cost target, ``train.flops_opt: {type: target, gflops, input, num_feat, weight}``, with its
    defaults filled in; None when the group is absent (no cost term). Refuses bad values, and the flat keys it
    replaced (``train.flops_target``, ``flops_input``, ``flops_num_feat``, ``flops_weight``), in one line
    (ValueError naming the option)."""
    refuse_replaced_keys(train_opt, 'train', 'flops_', FLOPS_GROUP, 'target', FLOPS_REPLACED, 'docs/remedies.md')
    spec = train_opt.get(FLOPS_GROUP)
    if spec is None:
        return None
    opt = component_options(f'train.{FLOPS_GROUP}', spec, FLOPS_TYPES)
    for key, integer in (('gflops', False), ('weight', False), ('num_feat', True)):
        value = opt[key]
        if not is_number(value) or value <= 0 or (integer and not is_integer(value)):
            kind = 'an integer' if integer else 'a number'
            raise ValueError(f'train.{FLOPS_GROUP}.{key}: expected {kind} > 0, got {value!r}')
    size = opt['input']
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
        raise ValueError(f'train.{FLOPS_GROUP}.input: expected [height, width] of the LR input in pixels, got {size!r}')
    return opt


class FlopsTarget:
    """The search's ``train.flops_opt`` penalty: ``weight * |E[FLOPs] / target - 1|`` (TF-NAS), in GFLOPs.

    Args:
        model (FlopsModel): The FLOPs model of the supernet's derived nets.
        target_gflops (float): The target, in GFLOPs (1e9 FLOPs) for one input of the model's size.
        weight (float): The penalty's weight. Default: 0.1 (TF-NAS's).
    """

    def __init__(self, model: FlopsModel, target_gflops: float, weight: float = DEFAULT_WEIGHT) -> None:
        self.model, self.target, self.weight = model, float(target_gflops) * 1e9, float(weight)

    @classmethod
    def from_options(cls, train_opt: Mapping[str, Any], net: nn.Module) -> FlopsTarget | None:
        """The penalty of a search's ``train:`` options, or None without ``flops_opt``."""
        opt = check_flops_options(train_opt)
        if opt is None:
            return None
        model = FlopsModel.for_supernet(net, int(opt['num_feat']), tuple(opt['input']))
        return cls(model, opt['gflops'], opt['weight'])

    def __call__(self, net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """(the weighted penalty, the expected FLOPs) under the supernet's softmax(alpha) and softmax(beta)."""
        expected = self.model(net.cell_weights(), net.transition_probs())
        return self.weight * flops_penalty(expected, self.target), expected
