"""CUDA checks (skipped without CUDA; benchmarks/gpu_check.sh runs them on a lent GPU): the production fp32
channels-last path, bf16, checkpoint_cells, the per-step gradients, no host-device sync, NCCL. The equality
tests turn TF32 off (on by default for cuDNN convolutions on Ampere and later)."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from plain_cell import use_plain_cells

import hinas_basicsr  # noqa: F401
from hinas_basicsr.archs.hinas_supernet_arch import HiNASSupernet
from hinas_basicsr.losses.log_ssim_loss import LogSSIMLoss
from hinas_basicsr.models.hinas_search_model import grads_only_for

pytestmark = pytest.mark.cuda
CUDA = torch.device('cuda')


@pytest.fixture
def no_tf32():
    flags = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision('highest')
    yield
    torch.backends.cudnn.allow_tf32 = flags[0]
    torch.set_float32_matmul_precision(flags[1])


def _batch(scale: int = 4, size: int = 16, count: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    from skimage import data

    img = torch.from_numpy(data.astronaut().copy()).permute(2, 0, 1).float() / 255
    s = size * scale
    gt = torch.stack([img[:, 100 * i:100 * i + s, 90 * i:90 * i + s] for i in range(count)]).to(CUDA)
    return F.interpolate(gt, scale_factor=1 / scale, mode='bicubic', align_corners=False).clamp(0, 1), gt


def _net(**kwargs) -> HiNASSupernet:
    torch.manual_seed(0)
    return HiNASSupernet(task='sr', upscale=4, num_layers=2, num_nodes=3, num_feat=8, **kwargs).to(CUDA)


def _grads(net: HiNASSupernet, lq, gt, bf16: bool = False, params=None) -> tuple[torch.Tensor, dict]:
    net = copy.deepcopy(net)
    with torch.autocast('cuda', dtype=torch.bfloat16, enabled=bf16), grads_only_for(
            net, params(net) if params else [], params is not None):
        out = net(lq).float()
    (F.l1_loss(out, gt) + LogSSIMLoss(0.6)(out, gt)).backward()
    grads = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
    return out.detach(), grads


def _close(a: dict, b: dict, rel: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert float((a[name] - b[name]).norm()) <= rel * float(b[name].norm()) + 1e-12, name


def test_fp32_channels_last_fused_equals_plain_cells(no_tf32):
    lq, gt = _batch()
    net = _net()
    out, grads = _grads(net, lq, gt)
    plain = use_plain_cells(_net(channels_last=False))
    ref_out, ref_grads = _grads(plain, lq, gt)
    assert torch.allclose(out, ref_out, atol=1e-5)
    _close(grads, ref_grads, 1e-4)


def test_checkpoint_cells_equal_on_cuda(no_tf32):
    lq, gt = _batch()
    out, grads = _grads(_net(), lq, gt)
    ck_out, ck_grads = _grads(_net(checkpoint_cells=True), lq, gt)
    assert torch.allclose(out, ck_out, atol=1e-6)
    _close(ck_grads, grads, 1e-5)


def test_per_step_gradients_are_those_of_the_full_backward(no_tf32):
    lq, gt = _batch()
    net = _net()
    _, full = _grads(net, lq, gt)
    _, arch = _grads(net, lq, gt, params=lambda n: n.arch_parameters())
    _, weights = _grads(net, lq, gt, params=lambda n: n.weight_parameters())
    assert set(arch) == {'alpha', 'beta'} and not {'alpha', 'beta'} & set(weights)
    _close(arch, {k: full[k] for k in arch}, 1e-5)
    _close(weights, {k: full[k] for k in weights}, 1e-5)


@pytest.mark.parametrize('checkpoint_cells', [False, True])
def test_bf16_gradients_near_fp32(checkpoint_cells, no_tf32):
    lq, gt = _batch()
    net = _net(checkpoint_cells=checkpoint_cells)
    _, fp32 = _grads(net, lq, gt)
    _, bf16 = _grads(net, lq, gt, bf16=True)
    groups = {'alpha': ['alpha'], 'beta': ['beta'], 'weights': [k for k in fp32 if k not in ('alpha', 'beta')]}
    for group, names in groups.items():
        a = torch.cat([bf16[n].flatten() for n in names])
        b = torch.cat([fp32[n].flatten() for n in names])
        assert torch.isfinite(a).all(), group
        assert F.cosine_similarity(a, b, dim=0) > 0.98, group  # the CPU test's bound is tighter; see test_amp.py


def test_search_step_makes_no_host_device_sync():
    lq, gt = _batch()
    net = _net()
    loss_fn = LogSSIMLoss(0.6)
    loss_fn(gt, gt)  # the window, once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')  # raises on any synchronising call
    try:
        out = net(lq)
        (F.l1_loss(out, gt) + loss_fn(out, gt)).backward()
    finally:
        torch.cuda.set_sync_debug_mode('default')


def test_search_model_bf16_step_on_cuda(tmp_path):
    from search_helpers import build_search_model, make_subimage_folders, search_options

    gt_dir, lq_dir = make_subimage_folders(str(tmp_path / 'data'), num_images=6, subs=2, size=24)
    opt = search_options(gt_dir, lq_dir, total_iter=4)
    opt.update(num_gpu=1)
    opt['train']['amp'] = 'bf16'
    model = build_search_model(opt, str(tmp_path / 'exp'))
    assert model.device.type == 'cuda' and model._arch_loader().pin_memory
    batch = next(iter(torch.utils.data.DataLoader(model.arch_set, batch_size=2)))
    model.feed_data(batch)
    model.optimize_parameters(3)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in model.log_dict.values())


def test_nccl_for_one_cuda_rank(monkeypatch):
    import torch.distributed as dist
    from conftest import free_port

    from hinas_basicsr.compat import init_dist

    for key, value in {'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(free_port()), 'RANK': '0',
                       'WORLD_SIZE': '1', 'LOCAL_RANK': '0', 'LOCAL_WORLD_SIZE': '1'}.items():
        monkeypatch.setenv(key, value)
    init_dist('pytorch', num_gpu='auto')
    try:
        assert dist.get_backend() == 'nccl'
        t = torch.ones(2, device=CUDA)
        dist.all_reduce(t)
        assert t.tolist() == [1.0, 1.0]
    finally:
        dist.destroy_process_group()
