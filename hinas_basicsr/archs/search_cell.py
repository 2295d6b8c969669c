"""The supernet's searchable cell: the DARTS weighted sum, computed with the edges leaving one state fused.

``Cell`` computes the sum that the straightforward DARTS way computes (every edge applies each operation to its
input and sums ``w_k * op_k(x)``) faster and with less memory. That straightforward cell, ``PlainCell``, lives
beside the benchmarks (``benchmarks/plain_cell.py``): it holds the same modules (``edges[e].ops[k]``), so the
benchmark swaps it in as the reference's stand-in and the tests use it as the oracle.
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from hinas_basicsr.archs.hinas_ops import NEGATIVE_SLOPE, ActConvBN, SepConv, Zero, make_act, make_op
from hinas_basicsr.space.trellis import node_edges, num_edges


@contextlib.contextmanager
def buffers_restored(module: nn.Module) -> Iterator[None]:
    """Restore ``module``'s buffers on exit: a recomputation leaves BN running statistics as they were."""
    saved = [(buffer, buffer.clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


def recomputed_in_backward(fn: Callable[..., Any], module: nn.Module, *args: torch.Tensor) -> Any:
    """``fn(*args)`` (which runs ``module``) through ``torch.utils.checkpoint``: autograd keeps only ``args``,
    and the recomputation in the backward pass restores ``module``'s buffers (BN running statistics are updated
    once) and sees the ``requires_grad`` its parameters had in the forward pass (the search model sets them per
    step and restores them before the backward)."""
    params = list(module.parameters())
    forward_flags: list[bool] | None = None

    def run(*inputs: torch.Tensor) -> Any:
        nonlocal forward_flags
        if forward_flags is None:
            forward_flags = [p.requires_grad for p in params]
            return fn(*inputs)
        now = [p.requires_grad for p in params]
        try:
            for p, flag in zip(params, forward_flags):
                p.requires_grad_(flag)
            with buffers_restored(module):
                return fn(*inputs)
        finally:
            for p, flag in zip(params, now):
                p.requires_grad_(flag)

    return checkpoint(run, *args, use_reentrant=False)


class MixedOp(nn.Module):
    """One cell edge: ``sum_k w_k * op_k(x)`` over the candidate operations (computed plainly)."""

    def __init__(self, channels: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, channels, affine=False) for name in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class _BatchNormLeakyReLU(torch.autograd.Function):
    """``leaky_relu(batch_norm(x))`` over the batch statistics (no affine), computed in place, keeping only the
    result for the backward: LeakyReLU is invertible, so the normalised input is recovered from it (as in
    in-place activated BatchNorm) and BN's input need not be kept."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                momentum: float, eps: float) -> torch.Tensor:
        out, _, invstd = torch.native_batch_norm(x, None, None, running_mean, running_var, True, momentum, eps)
        out = F.leaky_relu_(out, NEGATIVE_SLOPE)
        ctx.save_for_backward(out, invstd)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        out, invstd = ctx.saved_tensors
        normalised = F.leaky_relu(out, 1 / NEGATIVE_SLOPE)  # the inverse LeakyReLU
        grad_normalised = torch.ops.aten.leaky_relu_backward(grad_out, out, NEGATIVE_SLOPE, True)
        # BN's backward written for an input already normalised (mean 0, invstd 1), its true invstd as weight
        ones = torch.ones_like(invstd)
        grad_x, _, _ = torch.ops.aten.native_batch_norm_backward(
            grad_normalised, normalised, invstd, None, None, torch.zeros_like(invstd), ones, True, 0.0,
            [True, False, False])
        return grad_x, None, None, None, None


def batch_norm_fused(bns: Sequence[nn.BatchNorm2d], x: torch.Tensor, scale: torch.Tensor | None,
                     leaky_relu: bool = False) -> torch.Tensor:
    """``bns[i](x_i) * scale[i]`` for the channel blocks ``x_i`` of ``x``, in one BatchNorm call.

    BatchNorm is per channel, so one call over the concatenated channels is exact; the blocks' running
    statistics are gathered, updated by the call and written back, as ``nn.BatchNorm2d.forward`` updates them.
    ``scale`` (one entry per block, or None) is passed as the affine weight, so autograd keeps BN's input
    (which its backward needs anyway) and not the normalised output that ``scale * bn(x)`` would keep.
    ``leaky_relu`` (without ``scale``) applies the activation in place after BN; over batch statistics,
    autograd then keeps only the activated output.
    """
    bn = bns[0]
    if bn.affine:
        raise ValueError('batch_norm_fused: the BatchNorms must have affine=False')
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats:
        for b in bns:
            b.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    track = not bn.training or bn.track_running_stats
    use_batch_stats = bn.training or not track
    running_mean = torch.cat([b.running_mean for b in bns]) if track else None
    running_var = torch.cat([b.running_var for b in bns]) if track else None
    # each block's scale over its channels (repeat_interleave would read the output size back from the device)
    weight = None if scale is None else scale[:, None].expand(-1, x.shape[1] // len(bns)).contiguous().flatten()
    if leaky_relu and scale is None and use_batch_stats:
        out = _BatchNormLeakyReLU.apply(x, running_mean, running_var, momentum, bn.eps)
    else:
        out = F.batch_norm(x, running_mean, running_var, weight, None, use_batch_stats, momentum, bn.eps)
        if leaky_relu:
            out = F.leaky_relu_(out, NEGATIVE_SLOPE)
    if track and use_batch_stats:
        with torch.no_grad():
            for b, mean, var in zip(bns, running_mean.chunk(len(bns)), running_var.chunk(len(bns))):
                b.running_mean.copy_(mean)
                b.running_var.copy_(var)
    return out


def _cat_weights(convs: Sequence[nn.Conv2d]) -> torch.Tensor:
    return torch.cat([conv.weight for conv in convs])


def fan_out_conv_bn(ops: Sequence[ActConvBN], x_act: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``scale[i] * ops[i](x)`` for every op (given ``x_act = act(x)``), concatenated: one conv, one BN."""
    conv = ops[0][1]
    y = F.conv2d(x_act, _cat_weights([op[1] for op in ops]), padding=conv.padding, dilation=conv.dilation)
    return batch_norm_fused([op[2] for op in ops], y, scale)


class _DepthwisePointwise(torch.autograd.Function):
    """``pointwise(depthwise(x))`` that keeps only ``x`` for the backward and recomputes the depthwise output
    there: that output is as large as the result, and the depthwise convolution is cheap to redo.

    Under autocast (CUDA or CPU) its inputs are cast to bf16 and it runs without autocast, the backward too, so
    both convolutions and their gradients see one dtype (autocast does not reach the backward's
    ``convolution_backward``); autograd returns the weights' gradients in their own dtype."""

    @staticmethod
    @torch.amp.custom_fwd(device_type='cuda', cast_inputs=torch.bfloat16)
    @torch.amp.custom_fwd(device_type='cpu', cast_inputs=torch.bfloat16)
    def forward(ctx, x: torch.Tensor, dw_weight: torch.Tensor, pw_weight: torch.Tensor, padding: int,
                pw_groups: int) -> torch.Tensor:
        ctx.conf = padding, pw_groups
        ctx.save_for_backward(x, dw_weight, pw_weight)
        h = F.conv2d(x, dw_weight, padding=padding, groups=x.shape[1])
        return F.conv2d(h, pw_weight, groups=pw_groups)

    @staticmethod
    @torch.amp.custom_bwd(device_type='cuda')
    @torch.amp.custom_bwd(device_type='cpu')
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, dw_weight, pw_weight = ctx.saved_tensors
        grad_out = grad_out.to(x.dtype)
        padding, pw_groups = ctx.conf
        need_x, need_dw, need_pw = ctx.needs_input_grad[:3]
        h = F.conv2d(x, dw_weight, padding=padding, groups=x.shape[1])
        grad_h, grad_pw, _ = torch.ops.aten.convolution_backward(
            grad_out, h, pw_weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], pw_groups,
            [need_x or need_dw, need_pw, False])
        grad_x = grad_dw = None
        if need_x or need_dw:
            grad_x, grad_dw, _ = torch.ops.aten.convolution_backward(
                grad_h, x, dw_weight, None, [1, 1], [padding, padding], [1, 1], False, [0, 0], x.shape[1],
                [need_x, need_dw, False])
        return grad_x, grad_dw, grad_pw if need_pw else None, None, None


def fan_out_sep_conv(ops: Sequence[SepConv], x_act: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``scale[i] * ops[i](x)`` for every SepConv (given ``x_act = act(x)``), concatenated.

    Every layer is one depthwise convolution, one pointwise convolution and one BN over the ops' channels;
    each depthwise output is recomputed in the backward pass instead of being kept. The first depthwise
    convolution applies the n ops' filters to each input channel (channels in (channel, op) order), so the
    first pointwise convolution is one dense 1x1 convolution whose weight is the ops' block diagonal with its
    columns in that order: n times the pointwise work, which is small, instead of reordering the depthwise
    output; the second layer is one depthwise and one grouped pointwise convolution (one group per op).
    """
    n, channels = len(ops), x_act.shape[1]
    _, dw1, _, _, _, dw2, _, _ = ops[0]
    dw_weight = torch.stack([op[1].weight for op in ops], dim=1).flatten(0, 1)
    pw_weight = torch.block_diag(*(op[2].weight.flatten(1) for op in ops))
    pw_weight = pw_weight.unflatten(1, (n, channels)).transpose(1, 2).reshape(n * channels, n * channels, 1, 1)
    h = _DepthwisePointwise.apply(x_act, dw_weight, pw_weight, dw1.padding[0], 1)
    h = batch_norm_fused([op[3] for op in ops], h, None, leaky_relu=True)
    h = _DepthwisePointwise.apply(h, _cat_weights([op[5] for op in ops]), _cat_weights([op[6] for op in ops]),
                                  dw2.padding[0], n)
    return batch_norm_fused([op[7] for op in ops], h, scale)


class Cell(nn.Module):
    """A searchable cell: node j sums a MixedOp over every earlier state; the output concatenates the nodes.

    States are indexed as in the genotype: 0 = ``s_prev_prev``, 1 = ``s_prev``, 2 + j = node j. The sum is
    computed state by state: every edge leaving a state sees the same input, so the state is activated
    once and each operation runs for all those edges at once (one grouped convolution per layer and one
    BN: exact, as BN is per channel); each operation's weight is folded into its last BN; ``none`` is
    skipped (its weight still takes part in the softmax). With ``checkpoint_states`` (while autograd
    records), autograd keeps only the states: the backward pass recomputes the fan-out of each state, one
    state at a time, without updating BN running statistics again.

    Args:
        channels (int): Channels of each state (C).
        num_nodes (int): Nodes B; the output has B * C channels.
        ops (list[str]): Candidate operations (names from ``hinas_ops.OPS``).
        checkpoint_states (bool): Recompute each state's fan-out in the backward pass. Default: False.
    """

    def __init__(self, channels: int, num_nodes: int, ops: Sequence[str], checkpoint_states: bool = False) -> None:
        super().__init__()
        self.num_nodes, self.checkpoint_states = num_nodes, checkpoint_states
        self.act = make_act()
        self.edges = nn.ModuleList(MixedOp(channels, ops) for _ in range(num_edges(num_nodes)))
        # state i feeds nodes max(0, i - 1)..B-1, through edges node_edges[j][i]
        ranges = node_edges(num_nodes)
        self.fan_out = [[(j, ranges[j][i]) for j in range(max(0, i - 1), num_nodes)] for i in range(num_nodes + 1)]
        # the edges leaving each state as index tensors on the cell's device: selecting their weights makes no
        # host-to-device copy (a Python list index would, with a stream sync, once per operation per state)
        for i, targets in enumerate(self.fan_out):
            self.register_buffer(f'fan_out_edges_{i}', torch.tensor([e for _, e in targets]), persistent=False)

    def forward(self, s_prev_prev: torch.Tensor, s_prev: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [s_prev_prev, s_prev]
        nodes: list[torch.Tensor | None] = [None] * self.num_nodes
        recompute = self.checkpoint_states and torch.is_grad_enabled()
        for i in range(self.num_nodes + 1):
            if recompute:
                edges = nn.ModuleList(self.edges[e] for _, e in self.fan_out[i])
                parts = recomputed_in_backward(functools.partial(self.state_fan_out, i), edges, states[i], weights)
            else:
                parts = self.state_fan_out(i, states[i], weights)
            for (j, _), part in zip(self.fan_out[i], parts):
                nodes[j] = part if nodes[j] is None else nodes[j] + part
            if i > 0:  # node i - 1 has all its inputs now: it is state i + 1
                states.append(nodes[i - 1])
        return torch.cat(nodes, dim=1)

    def state_fan_out(self, i: int, x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The outputs of the edges leaving state ``i`` (input ``x``), one per target node."""
        edges = [e for _, e in self.fan_out[i]]
        edge_weights = weights.index_select(0, getattr(self, f'fan_out_edges_{i}'))  # (edges, ops)
        x_act = self.act(x)
        total: torch.Tensor | None = None
        skip: torch.Tensor | None = None
        for k, op in enumerate(self.edges[edges[0]].ops):
            if isinstance(op, Zero):
                continue
            scale = edge_weights[:, k]
            if isinstance(op, nn.Identity):
                skip = scale
                continue
            fused = fan_out_sep_conv if isinstance(op, SepConv) else fan_out_conv_bn
            out = fused([self.edges[e].ops[k] for e in edges], x_act, scale)
            total = out if total is None else total.add_(out)  # in place: BN's output is not kept by autograd
        parts = total.chunk(len(edges), dim=1) if total is not None else [None] * len(edges)
        if skip is None:
            return tuple(parts)
        return tuple(s * x if p is None else p + s * x for p, s in zip(parts, skip))


