"""train.deterministic: true turns off what makes GPU runs differ run by run (and so resumed runs differ)."""
from __future__ import annotations

import pytest
import torch
from search_helpers import build_search_model, make_subimage_folders, search_options

import hinas_basicsr  # noqa: F401
from hinas_basicsr.models.numerics import set_deterministic


@pytest.fixture
def restored(monkeypatch):
    """Put the process-wide flags back after the test."""
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    yield
    torch.use_deterministic_algorithms(flags[0])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32 = flags[1:4]
    torch.set_float32_matmul_precision(flags[4])


@pytest.mark.slow
def test_deterministic_search_sets_the_flags_and_steps(tmp_path, restored):
    import os

    torch.backends.cudnn.benchmark = True  # as BasicSR's train.py leaves it
    torch.backends.cudnn.allow_tf32 = True
    gt_dir, lq_dir = make_subimage_folders(str(tmp_path / 'data'), num_images=6, subs=2, size=24)
    opt = search_options(gt_dir, lq_dir, total_iter=4)
    opt['train']['deterministic'] = True
    model = build_search_model(opt, str(tmp_path / 'exp'))
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.allow_tf32 and torch.get_float32_matmul_precision() == 'highest'
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
    batch = next(iter(torch.utils.data.DataLoader(model.arch_set, batch_size=2)))
    model.feed_data(batch)
    model.optimize_parameters(3)  # an arch and a weight step: no op without a deterministic kernel
    assert torch.isfinite(torch.as_tensor(model.log_dict['l_pix']))


def test_default_leaves_the_fast_settings(restored):
    torch.backends.cudnn.benchmark = True
    assert set_deterministic({}) is False
    assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError, match=r"^train.deterministic: expected true or false, got 'yes'"):
        set_deterministic({'deterministic': 'yes'})
