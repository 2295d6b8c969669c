"""The ``basicsr`` launcher: CPU training and resume, 2-process gloo, and bad input."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from basicsr.archs.edsr_arch import EDSR
from conftest import REPO, edsr_options, run_cli, torchrun, write_options

BASICSR = ['-m', 'hinas_basicsr.cli']


def _load_params(path):
    return torch.load(path, map_location='cpu')['params']


@pytest.mark.slow
def test_help_of_both_console_scripts(tmp_path):
    out = run_cli(BASICSR + ['--help'], cwd=tmp_path)
    assert out.returncode == 0 and 'train' in out.stdout and 'test' in out.stdout
    out = run_cli(['-c', 'import sys; from hinas_basicsr.cli import hinas_main; sys.exit(hinas_main([]))'], tmp_path)
    assert out.returncode == 0 and out.stdout.startswith('usage: hinas')


@pytest.mark.slow
def test_train_kill_and_auto_resume_on_cpu(tmp_path):
    # The first run is far too long to finish before it is killed; the last resume sets the real end.
    opt = edsr_options(tmp_path / 'data', total_iter=4000)  # 800 checkpoints: under the option check's 1,000
    opt['train']['scheduler']['milestones'] = [5]  # within every total_iter the resumes below force
    opt['logger']['save_checkpoint_freq'] = 5
    opt_path = write_options(tmp_path / 'edsr.yml', opt)
    states = tmp_path / 'experiments' / opt['name'] / 'training_states'
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    proc = subprocess.Popen([sys.executable, *BASICSR, 'train', '-opt', str(opt_path)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (states / '10.state').exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # a kill during a state's atomic write leaves its temporary file (.tmpXXXX.state) beside the states
    saved = sorted(int(p.stem) for p in states.glob('*.state') if p.stem.isdigit())
    assert proc.returncode == -signal.SIGKILL
    assert saved and saved[-1] >= 10, saved
    last, end = saved[-1], saved[-1] + 10
    models = tmp_path / 'experiments' / opt['name'] / 'models'

    # Resume through path.resume_state with the iteration budget already spent: no step is taken, so
    # the latest weights must be exactly the ones saved at `last`.
    out = run_cli(BASICSR + ['train', '-opt', str(opt_path), '--force_yml', f'train:total_iter={last}',
                             f'path:resume_state={states / f"{last}.state"}'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    restored, saved_params = _load_params(models / 'net_g_latest.pth'), _load_params(models / f'net_g_{last}.pth')
    assert restored.keys() == saved_params.keys()
    assert all(torch.equal(restored[k], saved_params[k]) for k in saved_params)

    # Resume to the end: the counter continues from `last`, and so does Adam's step count; a temporary file
    # left by a kill during a state's write (made here, whatever the kill above hit) is not taken for a state.
    (states / '.tmpkilled.state').write_bytes(b'truncated')
    out = run_cli(BASICSR + ['train', '-opt', str(opt_path), '--auto_resume', '--force_yml',
                             f'train:total_iter={end}'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    log = max((tmp_path / 'experiments' / opt['name']).glob('train_*.log'), key=os.path.getmtime).read_text()
    assert 'Resuming training from epoch' in log and f'iter: {last}.' in log
    assert f'iter:{last + 1:8,d}' in log and f'iter:{last:8,d}' not in log
    final = torch.load(states / f'{end}.state', map_location='cpu', weights_only=False)
    assert final['iter'] == end
    adam_steps = {int(s['step']) for s in final['optimizers'][0]['state'].values()}
    assert adam_steps == {end}
    assert not any(torch.equal(v, saved_params[k]) for k, v in _load_params(models / f'net_g_{end}.pth').items()
                   if v.dtype.is_floating_point)


@pytest.mark.slow
def test_two_process_gloo_launch(tmp_path):
    opt = edsr_options(tmp_path / 'data', total_iter=6)
    opt['train']['scheduler']['milestones'] = [6]  # within the training
    opt['name'] = 'dist_edsr'
    opt_path = write_options(tmp_path / 'edsr.yml', opt)
    out = torchrun(opt_path, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    models = tmp_path / 'experiments' / 'dist_edsr' / 'models'
    assert sorted(p.name for p in models.glob('*.pth')) == ['net_g_latest.pth']
    saved = _load_params(models / 'net_g_latest.pth')
    assert saved.keys() == EDSR(**{k: v for k, v in opt['network_g'].items() if k != 'type'}).state_dict().keys()
    log = next((tmp_path / 'experiments' / 'dist_edsr').glob('train_*.log')).read_text()
    assert 'World size (gpu number): 2' in log
    # 4 images, 2 per batch per rank, 2 ranks: one iteration per epoch.
    assert 'Require iter number per epoch: 1' in log


def _one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert all(n in lines[0] for n in needles), lines[0]


@pytest.mark.slow
def test_missing_option_file(tmp_path):
    out = run_cli(BASICSR + ['train', '-opt', 'missing.yml'], cwd=tmp_path)
    _one_line_error(out, '-opt: missing.yml does not exist')
    assert not (tmp_path / 'experiments').exists()


@pytest.mark.slow
def test_unknown_type(tmp_path):
    opt = edsr_options(tmp_path / 'data')
    opt['network_g']['type'] = 'NoSuchNet'
    out = run_cli(BASICSR + ['train', '-opt', str(write_options(tmp_path / 'bad.yml', opt))], cwd=tmp_path)
    _one_line_error(out, 'bad.yml', 'network_g.type', 'NoSuchNet')
    assert not (tmp_path / 'experiments').exists()


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_num_gpu_without_cuda(tmp_path):
    opt = edsr_options(tmp_path / 'data')
    opt['num_gpu'] = 1
    out = run_cli(BASICSR + ['train', '-opt', str(write_options(tmp_path / 'gpu.yml', opt))], cwd=tmp_path)
    _one_line_error(out, 'gpu.yml', 'num_gpu: 1', 'CUDA')
    assert not (tmp_path / 'experiments').exists()


def test_ci_runs_the_readme_test_command():
    readme = (REPO / 'README.md').read_text()
    command = (REPO / '.ci' / 'run').read_text().strip().splitlines()[-1]
    assert command in readme
