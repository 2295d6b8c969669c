"""The HiNAS supernet: a trellis of L layers by W width levels of mixed-op cells (the search space).

Zhang et al., "Memory-Efficient Hierarchical Neural Architecture Search for Image Restoration",
IJCV 2022 (arXiv 2012.13212). See docs/HINAS.md for the method; this module holds no optimizer.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from hinas_basicsr.archs.hinas_net_arch import (
    ASPP,
    ASPP_RATES,
    DECODER_CHANNELS,
    LOW_LEVEL_CHANNELS,
    ConvBNAct,
    SeparableConvBNAct,
    conv_bn,
)
from hinas_basicsr.archs.hinas_ops import make_act, make_norm
from hinas_basicsr.archs.search_cell import Cell, recomputed_in_backward
from hinas_basicsr.space.genotype import TASK_SCALES, Genotype
from hinas_basicsr.space.path_probs import level_marginals, low_level_probs
from hinas_basicsr.space.trellis import (
    MOVE_NAMES,
    PRIMITIVES,
    level_channels,
    levels_at,
    moves_from,
    num_edges,
    position_key,
    route_key,
)

STEM_FEAT = 64
# The reference's search head keeps Auto-DeepLab's atrous rate (made for output stride 16): what the search optimised.
SEARCH_HEAD_RATE = 16
SEARCH_HEADS = ('reference', 'decoder')


@ARCH_REGISTRY.register()
class HiNASSupernet(nn.Module):
    """HiNAS supernet for super-resolution and denoising (Zhang et al., IJCV 2022).

    Grid position (depth d, level w) exists for ``w <= min(d, W - 1)``; depth 0 is the stem (level 0).
    Every projection (routing, missing ``s_prev_prev``) is 1x1 conv, BN, with no activation (as the reference).
    With ``cell_sharing`` the beta-weighted projections arriving at a position are summed and one cell
    is computed; without it (Auto-DeepLab style) the cell runs once per incoming path on the unweighted
    projection and the outputs are beta-weighted and summed. In both modes a level's ``s_prev_prev`` is
    the beta-weighted sum of projections that arrived at that level one layer earlier (for layer 1,
    level 0: the stem's second branch; a level's first cell: 1x1 projection of the level below's).
    Head, as the reference: per last-layer level an ASPP (a 1x1 branch and a separable atrous 3x3 branch at
    rate 16, projected to B*F channels), the levels concatenated, conv3x3-BN-act to B*F*W channels, conv3x3
    (with bias) to the output. Every BN has no affine parameters except the two of the separable branch.
    SR output: PixelShuffle(upscale) (one step, x8 included) plus the bicubic-upsampled input (no sigmoid).
    Denoise output: input minus the predicted noise.
    ``search_head: decoder`` (a remedy, docs/remedies.md) replaces that head by one shaped like the derived net's
    decoder, which sees what the derived decoder sees: per last-layer level an ASPP (rates 2, 4, 6) on act(state),
    weighted by the probability that the width path ends at that level; concatenated with a 1x1 projection of
    the low-level input (the level-0 state at each depth below the last, weighted by the probability that it is
    the derived net's low-level input, see :func:`path_probs.low_level_probs`; depth 0 is the stem's
    ``stem_out``); two separable 3x3 convs and a conv3x3 to the output. So beta is trained through the network
    that decoding will build. Channels: B*F*W after the ASPP (the reference head's), 48/128 of that for the
    low-level projection (the derived decoder's ratio).

    Args:
        task (str): ``sr`` or ``denoise``. Default: 'sr'.
        upscale (int): 2, 3, 4 or 8 for sr; 1 for denoise. Default: 2.
        num_in_ch (int): Input image channels. Default: 3.
        num_out_ch (int): Output image channels (must equal num_in_ch: residual learning). Default: 3.
        num_layers (int): Layers L. Default: 2.
        num_nodes (int): Nodes per cell B. Default: 3.
        num_feat (int): Channels of one node at width factor 1 (F). Default: 8.
        width_factors (list[float]): Width factor per level. Default: [1, 1.5, 2].
        ops (list[str]): Candidate operations (names from ``hinas_ops.OPS``). Default: all seven.
        cell_sharing (bool): One cell per grid position (True) or one per incoming path. Default: True.
        layerwise_cells (bool): One alpha per layer (LWAS, True) or one tied across layers. Default: True.
        checkpoint_cells (bool): Keep only each cell's states for the backward pass: recompute one state's
            outgoing edges at a time there, and each level's search head (``torch.utils.checkpoint``).
            Outputs, gradients and BN running statistics are those of the default (the recomputation does
            not update the running statistics again); it costs one more forward pass of the cells and heads
            per step for 0.4x (SR) to 0.25x (denoising) of the default's peak memory (the README's search-step
            table). Default: False.
        channels_last (bool): Keep weights and activations in the channels-last memory format: the same
            results, and on the CPU the small grouped and depthwise convolutions of the cells run two to four
            times faster in it (the README's search-step table). Default: True.
        search_head (str): ``reference`` (the authors' head) or ``decoder`` (the derived decoder's shape, above).
            Default: 'reference'.
    """

    def __init__(self, task: str = 'sr', upscale: int = 2, num_in_ch: int = 3, num_out_ch: int = 3,
                 num_layers: int = 2, num_nodes: int = 3, num_feat: int = 8,
                 width_factors: Sequence[float] = (1, 1.5, 2), ops: Sequence[str] = PRIMITIVES,
                 cell_sharing: bool = True, layerwise_cells: bool = True, checkpoint_cells: bool = False,
                 channels_last: bool = True, search_head: str = 'reference') -> None:
        super().__init__()
        _check_options(task, upscale, num_in_ch, num_out_ch, num_layers, num_nodes, num_feat, width_factors, ops)
        if search_head not in SEARCH_HEADS:
            raise ValueError(f'network_g.search_head: {search_head!r} is not one of {", ".join(SEARCH_HEADS)}')
        self.search_head = search_head
        self._fixed: tuple[torch.Tensor, torch.Tensor] | None = None
        self.task, self.upscale, self.num_in_ch = task, upscale, num_in_ch
        self.num_layers, self.num_nodes, self.num_feat = num_layers, num_nodes, num_feat
        self.width_factors, self.op_names = tuple(width_factors), tuple(ops)
        self.cell_sharing, self.layerwise_cells = cell_sharing, layerwise_cells
        self.checkpoint_cells = checkpoint_cells
        self.channels = level_channels(num_feat, width_factors)
        num_levels = len(self.channels)
        chans, nodes = self.channels, num_nodes
        self.alpha = nn.Parameter(1e-3 * torch.randn(num_layers if layerwise_cells else 1, num_edges(nodes), len(ops)))
        self.beta = nn.Parameter(1e-3 * torch.randn(num_layers, num_levels, len(MOVE_NAMES)))
        move_mask = torch.zeros(num_levels, len(MOVE_NAMES), dtype=torch.bool)
        for w in range(num_levels):
            for m, _, _ in moves_from(w, num_levels):
                move_mask[w, m] = True
        self.register_buffer('move_mask', move_mask, persistent=False)

        self.conv_first = nn.Sequential(conv_bn(num_in_ch, STEM_FEAT, 3), make_act(inplace=True))
        self.stem_out = conv_bn(STEM_FEAT, nodes * chans[0], 3)
        self.stem_prev = conv_bn(STEM_FEAT, chans[0], 3)
        self.routes, self.expand, self.cells = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        for d in range(num_layers):
            for w in self.levels_at(d):
                for _, name, target in moves_from(w, num_levels):
                    self.routes[route_key(d, w, name)] = conv_bn(nodes * chans[w], chans[target], 1)
            for w in self.levels_at(d + 1):
                self.cells[position_key(d + 1, w)] = Cell(chans[w], nodes, ops, checkpoint_cells)
                if w not in self.levels_at(d):
                    self.expand[position_key(d + 1, w)] = conv_bn(chans[w - 1], chans[w], 1)
        last_levels = self.levels_at(num_layers)
        head_feat = nodes * chans[0]
        body_feat = num_levels * head_feat
        if search_head == 'decoder':
            low_feat = max(1, round(body_feat * LOW_LEVEL_CHANNELS / DECODER_CHANNELS))
            self.act = make_act()
            self.heads = nn.ModuleList(ASPP(nodes * chans[w], body_feat, rates=ASPP_RATES, affine=False)
                                       for w in last_levels)
            self.low_proj = ConvBNAct(nodes * chans[0], low_feat, affine=False)
            self.conv_after_body = nn.Sequential(SeparableConvBNAct(body_feat + low_feat, body_feat),
                                                 SeparableConvBNAct(body_feat, body_feat))
        else:
            self.heads = nn.ModuleList(ASPP(nodes * chans[w], head_feat, rates=(SEARCH_HEAD_RATE,), affine=False)
                                       for w in last_levels)
            self.conv_after_body = nn.Sequential(
                nn.Conv2d(len(last_levels) * head_feat, body_feat, 3, padding=1, bias=False),
                make_norm(body_feat, affine=False), make_act(inplace=True))
        self.conv_last = nn.Conv2d(body_feat, num_out_ch * upscale ** 2, 3, padding=1)
        self.upsample = nn.PixelShuffle(upscale) if task == 'sr' else nn.Identity()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def levels_at(self, depth: int) -> range:
        """Levels present at ``depth`` (0 = the stem), see :func:`trellis.levels_at`."""
        return levels_at(depth, len(self.channels))

    def arch_parameters(self) -> list[nn.Parameter]:
        """alpha and beta: the parameters of the architecture optimizer."""
        return [self.alpha, self.beta]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other trainable tensor: the parameters of the weight optimizer."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in arch]

    def transition_probs(self) -> torch.Tensor:
        """softmax(beta) over [down, same, up], moves off the grid masked: shape (L, W, 3)."""
        return F.softmax(self.beta.masked_fill(~self.move_mask, float('-inf')), dim=-1)

    def cell_weights(self) -> torch.Tensor:
        """softmax(alpha) with one entry per layer (the tied alpha repeated): shape (L, E, n_ops)."""
        weights = F.softmax(self.alpha, dim=-1)
        return weights if self.layerwise_cells else weights.expand(self.num_layers, -1, -1)

    @contextlib.contextmanager
    def fixed_architecture(self, cell_weights: torch.Tensor, transitions: torch.Tensor) -> Iterator[None]:
        """Within: ``forward`` mixes with ``cell_weights`` (L, E, n_ops) and ``transitions`` (L, W, 3) instead of
        softmax(alpha) and softmax(beta). The reference head also drops the levels where no path can end (at a
        one-hot path all but its end, so it computes only that path's net; see ``search_judge``); with mixture
        weights every level can be reached and the forward pass is the supernet's own."""
        expected = (self.num_layers, *self.alpha.shape[1:]), tuple(self.beta.shape)
        if (tuple(cell_weights.shape), tuple(transitions.shape)) != expected:
            raise ValueError(f'fixed_architecture: expected shapes {expected}, got '
                             f'{tuple(cell_weights.shape)} and {tuple(transitions.shape)}')
        previous, self._fixed = self._fixed, (cell_weights, transitions)
        try:
            yield
        finally:
            self._fixed = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fixed = self._fixed
        alphas, probs = fixed if fixed is not None else (self.cell_weights(), self.transition_probs())
        feat = self.conv_first(x.contiguous(memory_format=self.memory_format))
        hidden = {0: self.stem_out(feat)}  # level -> cell output at the current depth
        level0 = [hidden[0]]  # the level-0 state at each depth (the decoder head's low-level candidates)
        routed = {0: self.stem_prev(feat)}  # level -> s_prev_prev of the next layer
        for d in range(self.num_layers):
            arrivals: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
            for w, h in hidden.items():
                for m, name, target in moves_from(w, len(self.channels)):
                    arrivals.setdefault(target, []).append((probs[d, w, m], self.routes[route_key(d, w, name)](h)))
            hidden, prev_routed, routed = {}, routed, {}
            s_pp = prev_routed[0]
            for t in self.levels_at(d + 1):
                key = position_key(d + 1, t)
                # a level's first cell takes its s_prev_prev from the level below's (the previous t)
                s_pp = prev_routed[t] if t in prev_routed else self.expand[key](s_pp)
                routed[t] = sum(p * proj for p, proj in arrivals[t])
                cell = self.cells[key]
                if self.cell_sharing:
                    hidden[t] = cell(s_pp, routed[t], alphas[d])
                else:
                    hidden[t] = sum(p * cell(s_pp, proj, alphas[d]) for p, proj in arrivals[t])
            level0.append(hidden[0])
        recompute = self.checkpoint_cells and torch.is_grad_enabled()
        last = self.levels_at(self.num_layers)
        if self.search_head == 'decoder':
            ends = level_marginals(probs)[-1]
            heads = [recomputed_in_backward(head, head, self.act(hidden[w])) if recompute else head(self.act(hidden[w]))
                     for w, head in zip(last, self.heads)]
            low = sum(p * state for p, state in zip(low_level_probs(probs), level0))
            body = torch.cat([sum(ends[w] * h for w, h in zip(last, heads)), self.low_proj(low)], dim=1)
        else:
            heads = [recomputed_in_backward(head, head, hidden[w]) if recompute else head(hidden[w])
                     for w, head in zip(last, self.heads)]
            if fixed is not None:  # levels where no path can end (off a one-hot path) are masked out
                ends = level_marginals(probs)[-1] > 0
                heads = [h if ends[w] else torch.zeros_like(h) for w, h in zip(last, heads)]
            body = torch.cat(heads, dim=1)
        out = self.upsample(self.conv_last(self.conv_after_body(body)))
        if self.task == 'sr':
            out = out + F.interpolate(x, scale_factor=self.upscale, mode='bicubic', align_corners=False)
        else:
            out = x - out
        return out.contiguous()

    @torch.no_grad()
    def search_state(self) -> dict[str, Any]:
        """alpha_softmax ([layer][edge][op]) and transitions ([depth][level] = [down, same, up] or None)."""
        probs = self.transition_probs().cpu().tolist()
        transitions = [[probs[d][w] if w in self.levels_at(d) else None for w in range(len(self.channels))]
                       for d in range(self.num_layers)]
        return {'alpha_softmax': self.cell_weights().cpu().tolist(), 'transitions': transitions}

    def genotype(self, **search_info: Any) -> Genotype:
        """The decoded genotype (top-2 cells per layer, Viterbi width path); ``search_info`` is kept in it."""
        return Genotype.from_search(task=self.task, scale=self.upscale, num_in_ch=self.num_in_ch,
                                    num_nodes=self.num_nodes, width_factors=self.width_factors, ops=self.op_names,
                                    **self.search_state(), **search_info)


MAX_CANDIDATE_OPS = 100_000  # candidate operations of all cells: the reference searches hold under 1,000


def _check_options(task: str, upscale: int, num_in_ch: int, num_out_ch: int, num_layers: int, num_nodes: int,
                   num_feat: int, width_factors: Sequence[float], ops: Sequence[str]) -> None:
    """Refuse arguments the supernet cannot be built from (a ``ValueError`` naming ``network_g.<key>``), before
    anything is allocated: the constructor calls it, and so does the options check of ``basicsr train``."""
    if task not in TASK_SCALES:
        raise ValueError(f'network_g.task: {task!r} is not one of {", ".join(TASK_SCALES)}')
    if isinstance(upscale, bool) or upscale not in TASK_SCALES[task]:
        raise ValueError(f'network_g.upscale: {upscale} is not valid for task {task} (use one of {TASK_SCALES[task]})')
    for name, value in (('num_in_ch', num_in_ch), ('num_out_ch', num_out_ch), ('num_layers', num_layers),
                        ('num_nodes', num_nodes), ('num_feat', num_feat)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f'network_g.{name}: {value!r} must be an integer >= 1')
    if num_in_ch != num_out_ch:
        raise ValueError(f'network_g.num_out_ch: {num_out_ch} must equal num_in_ch {num_in_ch} (residual output)')
    if (isinstance(width_factors, (str, bytes)) or not isinstance(width_factors, Sequence) or not width_factors
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 for f in width_factors)):
        raise ValueError(f'network_g.width_factors: expected a list of positive numbers, got {width_factors!r}')
    if min(level_channels(num_feat, width_factors)) < 1:
        raise ValueError(f'network_g.width_factors: {list(width_factors)} with num_feat {num_feat} gives a level '
                         'with no channels')
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise ValueError(f'network_g.ops: expected a list of operation names, got {ops!r}')
    for name in ops:
        if name not in PRIMITIVES:
            raise ValueError(f'network_g.ops: unknown operation {name!r}; known: {", ".join(PRIMITIVES)}')
    if len(set(ops)) != len(ops) or all(name == 'none' for name in ops):
        raise ValueError(f'network_g.ops: {list(ops)} must be distinct and hold an operation other than none')
    positions = sum(len(levels_at(d, len(width_factors))) for d in range(1, num_layers + 1))
    candidates = positions * num_edges(num_nodes) * len(ops)
    if candidates > MAX_CANDIDATE_OPS:
        raise ValueError(f'network_g.num_nodes: {num_nodes} nodes in {num_layers} layers with {len(ops)} ops give '
                         f'{candidates:,} candidate operations, more than {MAX_CANDIDATE_OPS:,} (the reference '
                         'searches hold under 1,000)')
