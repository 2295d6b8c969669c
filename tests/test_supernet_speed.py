"""The supernet's memory-saving forward computes what a plain forward computes; checkpoint_cells changes nothing."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.trellis import moves_from, position_key, route_key

CONFIGS = {
    'sr': dict(task='sr', upscale=2, num_layers=2, num_nodes=3, num_feat=4),
    'denoise': dict(task='denoise', upscale=1, num_in_ch=1, num_out_ch=1, num_layers=3, num_nodes=2, num_feat=4),
}


def plain_cell(cell, s_prev_prev, s_prev, weights):
    """Every operation applied whole (its own activation, ``none`` as zeros), weighted, summed."""
    states, edge = [s_prev_prev, s_prev], 0
    for _ in range(cell.num_nodes):
        node = 0
        for s in states:
            node = node + sum(w * op(s) for w, op in zip(weights[edge], cell.edges[edge].ops))
            edge += 1
        states.append(node)
    return torch.cat(states[2:], dim=1)


def plain_forward(net: HiNASSupernet, x: torch.Tensor) -> torch.Tensor:
    """A straightforward re-implementation of the supernet forward over the same modules."""
    alphas, probs = net.cell_weights(), net.transition_probs()
    feat = net.conv_first(x)
    hidden, routed = {0: net.stem_out(feat)}, {0: net.stem_prev(feat)}
    for d in range(net.num_layers):
        arrivals = {}
        for w, h in hidden.items():
            for m, name, target in moves_from(w, len(net.channels)):
                arrivals.setdefault(target, []).append((probs[d, w, m], net.routes[route_key(d, w, name)](h)))
        hidden, prev_routed, routed = {}, routed, {}
        s_pp = prev_routed[0]
        for t in net.levels_at(d + 1):
            key = position_key(d + 1, t)
            s_pp = prev_routed[t] if t in prev_routed else net.expand[key](s_pp)
            routed[t] = sum(p * proj for p, proj in arrivals[t])
            cell = net.cells[key]
            if net.cell_sharing:
                hidden[t] = plain_cell(cell, s_pp, routed[t], alphas[d])
            else:
                hidden[t] = sum(p * plain_cell(cell, s_pp, proj, alphas[d]) for p, proj in arrivals[t])
    body = torch.cat([head(hidden[w]) for w, head in zip(net.levels_at(net.num_layers), net.heads)], dim=1)
    out = net.upsample(net.conv_last(net.conv_after_body(body)))
    if net.task == 'sr':
        return out + F.interpolate(x, scale_factor=net.upscale, mode='bicubic', align_corners=False)
    return x - out


def run(net: torch.nn.Module, forward, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    net.zero_grad(set_to_none=True)
    out = forward(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), {name: p.grad.clone() for name, p in net.named_parameters()}


def make(task: str, **kwargs) -> HiNASSupernet:
    torch.manual_seed(0)
    net = HiNASSupernet(**CONFIGS[task], **kwargs)
    with torch.no_grad():
        net.alpha.normal_()
        net.beta.normal_()
    return net


@pytest.mark.parametrize('task', ['sr', 'denoise'])
@pytest.mark.parametrize('cell_sharing', [True, False])
@pytest.mark.parametrize('layerwise_cells', [True, False])
def test_forward_and_gradients_match_a_plain_forward(task, cell_sharing, layerwise_cells):
    net = make(task, cell_sharing=cell_sharing, layerwise_cells=layerwise_cells)
    ref = copy.deepcopy(net)
    x = torch.rand(2, CONFIGS[task].get('num_in_ch', 3), 6, 5)
    out, grads = run(net, net, x)
    ref_out, ref_grads = run(ref, lambda t: plain_forward(ref, t), x)
    assert torch.allclose(out, ref_out, rtol=0, atol=1e-5)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert torch.allclose(grad, ref_grads[name], rtol=1e-4, atol=1e-5), name
    for (name, a), b in zip(net.named_buffers(), ref.buffers()):  # BN running stats updated the same
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name


@pytest.mark.parametrize('task', ['sr', 'denoise'])
@pytest.mark.parametrize('cell_sharing', [True, False])
def test_checkpoint_cells_gives_identical_results(task, cell_sharing):
    net = make(task, cell_sharing=cell_sharing)
    saver = make(task, cell_sharing=cell_sharing, checkpoint_cells=True)
    saver.load_state_dict(net.state_dict())
    x = torch.rand(2, CONFIGS[task].get('num_in_ch', 3), 6, 5)
    out, grads = run(net, net, x)
    saver_out, saver_grads = run(saver, saver, x)
    assert torch.equal(out, saver_out)
    for name, grad in grads.items():
        assert torch.allclose(grad, saver_grads[name], rtol=1e-5, atol=1e-5), name  # summation order only
    for a, b in zip(net.buffers(), saver.buffers()):  # the recomputation does not update running stats again
        assert torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), saver.eval()(x))


def saved_bytes(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for the backward pass of ``net(x)``."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x)
    return sum(storages.values())


@pytest.mark.parametrize('task', ['sr', 'denoise'])
def test_checkpoint_cells_keeps_at_most_half(task):
    x = torch.rand(2, CONFIGS[task].get('num_in_ch', 3), 16, 16)
    default = saved_bytes(make(task), x)
    saver = saved_bytes(make(task, checkpoint_cells=True), x)
    assert saver <= default / 2, (saver, default)
