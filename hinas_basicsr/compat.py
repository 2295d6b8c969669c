"""Make BasicSR 1.4.2 work on current torch / torchvision, without editing site-packages.

BasicSR 1.4.2 (the PyPI release) breaks in these places on torch >= 2.6, torchvision >= 0.17 and Python 3.12:

* ``basicsr.data.degradations`` imports ``torchvision.transforms.functional_tensor``, which is gone;
* ``basicsr.archs.arch_util`` imports ``distutils.version``, gone from Python 3.12 (without setuptools' shim);
* resuming maps the saved state to CUDA and loads it with ``weights_only=True`` (the new default),
  which rejects the ``Counter`` inside a MultiStepLR state;
* distributed launch hard-codes NCCL and ``torch.cuda.set_device`` (the backend now follows ``num_gpu``, more
  ranks than GPUs are refused, and the timeout covers rank 0's validation); DDP is built with CUDA device ids;
* the optimizer factory only knows Adam;
* distributed validation runs on rank 0 alone through the DDP wrapper, whose forward broadcasts the
  BatchNorm buffers to ranks that are not there: the run hangs or dies with "Connection closed by peer";
* a record that does not decode (a corrupt LMDB value or file) ends in ``AttributeError: 'NoneType'``,
  far from the key or file that holds it;
* RIDNet's mean shift is three channels whatever its ``in_channels``, so it cannot denoise gray images (its
  channels now follow ``rgb_mean``: one value for gray; three, as before, for RGB).

``install()`` repairs each of them at run time, once, before anything imports ``basicsr``.
It also makes checkpoint writes atomic (temporary file, then rename), so that a run killed while
saving never leaves a truncated ``.pth`` or ``.state`` that ``--auto_resume`` would pick up.
"""
from __future__ import annotations

import functools
import os
import sys
import types
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch

from hinas_basicsr.utils.devices import dist_backend, resolve_num_gpu
from hinas_basicsr.utils.fileio import write_torch

_installed = False


class LooseVersion:
    """The part of ``distutils.version.LooseVersion`` BasicSR uses: comparing version strings by their numbers."""

    def __init__(self, vstring: str) -> None:
        import re

        self.vstring = vstring
        self.version = tuple(int(part) for part in re.findall(r'\d+', vstring.split('+')[0]))

    def _cmp(self, other: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return self.version, (other if isinstance(other, LooseVersion) else LooseVersion(str(other))).version

    def __eq__(self, other: Any) -> bool:
        a, b = self._cmp(other)
        return a == b

    def __lt__(self, other: Any) -> bool:
        a, b = self._cmp(other)
        return a < b

    def __le__(self, other: Any) -> bool:
        a, b = self._cmp(other)
        return a <= b

    def __gt__(self, other: Any) -> bool:
        a, b = self._cmp(other)
        return a > b

    def __ge__(self, other: Any) -> bool:
        a, b = self._cmp(other)
        return a >= b

    __hash__ = None


def _alias_distutils_version() -> None:
    """``basicsr.archs.arch_util`` imports ``distutils.version``, which Python 3.12 no longer has (unless
    setuptools' shim provides it): give it a module holding :class:`LooseVersion`."""
    try:
        import distutils.version  # noqa: F401
    except ImportError:
        package = sys.modules.get('distutils') or types.ModuleType('distutils')
        package.__path__ = getattr(package, '__path__', [])
        module = types.ModuleType('distutils.version')
        module.LooseVersion = LooseVersion
        package.version = module
        sys.modules['distutils'], sys.modules['distutils.version'] = package, module


def _alias_functional_tensor() -> None:
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401
    except ImportError:
        from torchvision.transforms import functional

        module = types.ModuleType('torchvision.transforms.functional_tensor')
        module.rgb_to_grayscale = functional.rgb_to_grayscale
        sys.modules['torchvision.transforms.functional_tensor'] = module


DIST_TIMEOUT_MINUTES = 60


def _local_rank_and_size(launcher: str) -> tuple[int, int]:
    if launcher == 'slurm':
        return int(os.environ['SLURM_LOCALID']), int(os.environ.get('SLURM_NTASKS_PER_NODE', '1').split('(')[0])
    local_rank = int(os.environ.get('LOCAL_RANK', os.environ.get('RANK', '0')))
    return local_rank, int(os.environ.get('LOCAL_WORLD_SIZE', local_rank + 1))


def _slurm_environment(port: int | None) -> None:
    """BasicSR's slurm setup of the ``torch.distributed`` environment variables (``_init_dist_slurm``)."""
    import subprocess

    node_list = os.environ['SLURM_NODELIST']
    os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ['MASTER_PORT'] = str(port) if port is not None else os.environ.get('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']


def init_dist(launcher: str, backend: str | None = None, num_gpu: int | str = 'auto',
              timeout_minutes: float = DIST_TIMEOUT_MINUTES, port: int | None = None, **kwargs: Any) -> None:
    """BasicSR's ``init_dist`` with the backend chosen from the options' ``num_gpu`` (:func:`dist_backend`).

    With NCCL each rank takes the CUDA device of its local rank, and more ranks on a machine than its CUDA
    devices are refused (two ranks on one GPU: NCCL refuses them later, less clearly). The collectives time out
    after ``timeout_minutes`` (``dist_params.timeout_minutes``, default 60): the other ranks wait at the next
    collective while rank 0 validates alone, which the NCCL default of 10 minutes may not cover.
    """
    import datetime

    import torch.distributed as dist

    if launcher not in ('pytorch', 'slurm'):
        raise ValueError(f'--launcher: unknown launcher {launcher!r}; use none, pytorch or slurm')
    if launcher == 'slurm':
        _slurm_environment(port)
    backend = backend or dist_backend(num_gpu, torch.cuda.is_available())
    if backend == 'nccl':
        local_rank, local_size = _local_rank_and_size(launcher)
        count = torch.cuda.device_count()
        if max(local_rank + 1, local_size) > count:
            raise ValueError(f'--launcher {launcher}: {max(local_rank + 1, local_size)} ranks on this machine but '
                             f'{count} CUDA device(s): run at most {count} ranks per machine (torchrun '
                             f'--nproc_per_node {count}), or num_gpu: 0 for CPU ranks on gloo')
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=float(timeout_minutes)), **kwargs)


def _dist_options(argv: list[str]) -> dict[str, Any]:
    """``num_gpu`` and ``dist_params.timeout_minutes`` of the option file on a BasicSR command line (with its
    ``--force_yml`` overrides of ``num_gpu``): ``parse_options`` initialises the process group before it
    resolves the options."""
    import argparse

    import yaml

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    parser.add_argument('--force_yml', nargs='+', default=None)
    args, _ = parser.parse_known_args(argv)
    if not args.opt:
        return {}
    with open(args.opt) as f:
        opt = yaml.safe_load(f) or {}
    num_gpu = opt.get('num_gpu', 'auto')
    for entry in args.force_yml or ():
        key, _, value = entry.partition('=')
        if key.strip() == 'num_gpu':
            num_gpu = value.strip() if value.strip() == 'auto' else int(value)
    found = {'num_gpu': num_gpu}
    timeout = (opt.get('dist_params') or {}).get('timeout_minutes')
    if timeout is not None:
        found['timeout_minutes'] = float(timeout)
    return found


def _parse_options_with_dist(parse_options):
    """Wrap BasicSR's ``parse_options`` so that its ``init_dist`` call knows the options (:func:`_dist_options`)
    and ``num_gpu: auto`` follows :func:`resolve_num_gpu`."""
    @functools.wraps(parse_options)
    def wrapped(root_path, is_train=True):
        import basicsr.utils.options

        found = _dist_options(sys.argv[1:])
        basicsr.utils.options.init_dist = functools.partial(init_dist, **found)
        try:
            opt, args = parse_options(root_path, is_train)
        finally:
            basicsr.utils.options.init_dist = init_dist
        if found.get('num_gpu') == 'auto':  # BasicSR resolved it to every visible GPU
            opt['num_gpu'], note = resolve_num_gpu('auto', opt['dist'])
            if note:
                print(note, flush=True)
        return opt, args
    return wrapped


def latest_state(folder: str) -> str | None:
    """The training state ``--auto_resume`` loads: the ``<iter>.state`` of the highest iter in ``folder``."""
    if not os.path.isdir(folder):
        return None
    states = [int(f[:-len('.state')]) for f in os.listdir(folder)
              if f.endswith('.state') and f[:-len('.state')].isdigit()]
    return os.path.join(folder, f'{max(states)}.state') if states else None


def load_resume_state(opt: dict) -> dict | None:
    """BasicSR's ``load_resume_state``, loading onto the options' device (CPU included)."""
    from basicsr.train import check_resume

    resume_state_path = None
    if opt['auto_resume']:
        resume_state_path = latest_state(os.path.join('experiments', opt['name'], 'training_states'))
        if resume_state_path:
            opt['path']['resume_state'] = resume_state_path
    elif opt['path'].get('resume_state'):
        resume_state_path = opt['path']['resume_state']
    if resume_state_path is None:
        return None
    if not os.path.isfile(resume_state_path):
        raise FileNotFoundError(f'path.resume_state: {resume_state_path} does not exist')
    device = torch.device('cuda', torch.cuda.current_device()) if opt['num_gpu'] != 0 else torch.device('cpu')
    # The state holds optimizer and scheduler states (a MultiStepLR keeps a Counter), written by
    # this very training: it is trusted, so the full unpickler is used.
    resume_state = torch.load(resume_state_path, map_location=device, weights_only=False)
    check_resume(opt, resume_state['iter'])
    return resume_state


def _model_to_device(self, net: torch.nn.Module) -> torch.nn.Module:
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    net = net.to(self.device)
    if self.opt['dist']:
        find_unused = self.opt.get('find_unused_parameters', False)
        device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
        net = DistributedDataParallel(net, device_ids=device_ids, find_unused_parameters=find_unused)
    elif self.opt['num_gpu'] > 1:
        net = DataParallel(net)
    return net


def optimizer_class(type_name: Any, where: str = 'train.optim') -> type[torch.optim.Optimizer]:
    """The ``torch.optim`` optimizer named ``type_name`` (BasicSR 1.4.2 knows only Adam and AdamW)."""
    cls = getattr(torch.optim, type_name, None) if isinstance(type_name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f'{where}.type: {type_name!r} is not an optimizer in torch.optim')
    return cls


def _get_optimizer(self, optim_type: str, params, lr: float, **kwargs: Any) -> torch.optim.Optimizer:
    optimizer_cls = optimizer_class(optim_type)
    return optimizer_cls(params, lr, **kwargs)


def _save_network(self, net, net_label: str, current_iter, param_key='params') -> None:
    if current_iter == -1:
        current_iter = 'latest'
    nets = net if isinstance(net, list) else [net]
    keys = param_key if isinstance(param_key, list) else [param_key]
    if len(nets) != len(keys):
        raise ValueError('save_network: the lengths of net and param_key differ')
    save_dict = {}
    for net_, key_ in zip(nets, keys):
        state_dict = self.get_bare_model(net_).state_dict()
        save_dict[key_] = {k.removeprefix('module.'): v.cpu() for k, v in state_dict.items()}
    write_torch(os.path.join(self.opt['path']['models'], f'{net_label}_{current_iter}.pth'), save_dict)


def _save_training_state(self, epoch: int, current_iter: int) -> None:
    if current_iter == -1:
        return
    state = {'epoch': epoch, 'iter': current_iter,
             'optimizers': [o.state_dict() for o in self.optimizers],
             'schedulers': [s.state_dict() for s in self.schedulers]}
    write_torch(os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'), state)


def _dist_validation(self, dataloader, current_iter, tb_logger, save_img) -> None:
    """BasicSR's ``SRModel.dist_validation`` (rank 0 validates), through the bare networks.

    A DDP forward is a collective (it broadcasts buffers such as BatchNorm's running statistics); on one
    rank alone it waits on, or breaks against, ranks that are training or have already left.
    """
    if self.opt['rank'] != 0:
        return
    wrapped = {name: getattr(self, name) for name in ('net_g', 'net_g_ema') if hasattr(self, name)}
    for name, net in wrapped.items():
        setattr(self, name, self.get_bare_model(net))
    try:
        self.nondist_validation(dataloader, current_iter, tb_logger, save_img)
    finally:
        for name, net in wrapped.items():
            setattr(self, name, net)


class _SourcedBytes(bytes):
    """Bytes read by a BasicSR file client, with the file or ``LMDB:key`` they came from."""

    source: str


def _sourced(get):
    """Wrap a file client's ``get`` so that its bytes name their source (``client_key`` is the LMDB's)."""
    @functools.wraps(get)
    def wrapped(self, filepath, client_key=None):
        value = get(self, filepath, client_key) if client_key is not None else get(self, filepath)
        source = str(filepath)
        if client_key is not None and hasattr(self, 'db_paths'):
            source = f'{self._client[client_key].path()}: key {filepath}'
            if value is None:
                raise ValueError(f'{source}: no such record (the LMDB and its meta_info.txt disagree)')
        data = _SourcedBytes(value)
        data.source = source
        return data
    return wrapped


def _checked_imfrombytes(imfrombytes):
    @functools.wraps(imfrombytes)
    def wrapped(content: bytes, flag: str = 'color', float32: bool = False):
        """BasicSR's ``imfrombytes``, refusing bytes that do not decode with the file or LMDB key named; bytes kept
        in memory with their decoded images (``decoded``, ``HiNASSplitDataset``'s ``load_all``) decode once."""
        decoded = getattr(content, 'decoded', None)
        img = decoded.get(flag) if decoded is not None else None
        if img is None:
            try:
                img = imfrombytes(content, flag=flag, float32=False)
            except cv2.error:  # empty bytes
                img = None
            if img is None:
                raise ValueError(f"{getattr(content, 'source', 'image bytes')}: does not decode as an image (corrupt)")
            if decoded is not None:
                img.setflags(write=False)  # shared by every later read (and forked worker)
                decoded[flag] = img
        return img.astype(np.float32) / 255. if float32 else img
    return wrapped


# What a DataLoader worker's fd-sharing thread (multiprocessing.resource_sharer) raises when the main process
# goes away in the middle of taking a batch from it: Ctrl-C. The main process reports the interruption in one line.
_TRANSFER_CUT = (BrokenPipeError, ConnectionResetError, EOFError)


def _quiet_cut_transfers(excepthook: Callable[..., Any]) -> Callable[..., Any]:
    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if not issubclass(kind, _TRANSFER_CUT):
            excepthook(kind, value, tb)
    return hook


def _mean_shift_init(self: torch.nn.Conv2d, rgb_range: float, rgb_mean: Any, rgb_std: Any, sign: int = -1,
                     requires_grad: bool = True) -> None:
    """``basicsr.archs.ridnet_arch.MeanShift.__init__`` with as many channels as ``rgb_mean`` has values (BasicSR
    builds three whatever the image's channels); the same weights as BasicSR's for three."""
    channels = len(rgb_mean)
    if len(rgb_std) != channels:
        raise ValueError(f'network_g.rgb_std: expected {channels} value(s), one per value of rgb_mean '
                         f'{list(rgb_mean)}, got {list(rgb_std)}')
    torch.nn.Conv2d.__init__(self, channels, channels, kernel_size=1)
    std = torch.tensor(rgb_std, dtype=torch.float32)
    self.weight.data = torch.eye(channels).view(channels, channels, 1, 1) / std.view(channels, 1, 1, 1)
    self.bias.data = sign * rgb_range * torch.tensor(rgb_mean, dtype=torch.float32) / std
    self.requires_grad = requires_grad


def _worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int) -> None:
    """BasicSR's ``worker_init_fn`` (the worker's seeds), in a worker that prints no traceback when a Ctrl-C cuts
    the main process's transfer of a batch from it (torch's file-descriptor sharing; seen once in a test run)."""
    import basicsr.data

    sys.excepthook = _quiet_cut_transfers(sys.excepthook)
    getattr(basicsr.data, '_basicsr_worker_init_fn', basicsr.data.worker_init_fn)(worker_id, num_workers, rank, seed)


def install() -> None:
    """Apply the repairs; idempotent. Must run before the first ``import basicsr``."""
    global _installed
    if _installed:
        return
    _alias_functional_tensor()
    _alias_distutils_version()

    import basicsr.data
    import basicsr.test
    import basicsr.train
    import basicsr.utils.dist_util
    import basicsr.utils.options
    from basicsr.models.base_model import BaseModel
    from basicsr.models.sr_model import SRModel
    from basicsr.utils.dist_util import master_only

    basicsr.utils.dist_util.init_dist = init_dist
    basicsr.utils.options.init_dist = init_dist
    basicsr.utils.options.parse_options = _parse_options_with_dist(basicsr.utils.options.parse_options)
    basicsr.train.parse_options = basicsr.test.parse_options = basicsr.utils.options.parse_options
    basicsr.train.load_resume_state = load_resume_state
    BaseModel.model_to_device = _model_to_device
    BaseModel.get_optimizer = _get_optimizer
    BaseModel.save_network = master_only(_save_network)
    BaseModel.save_training_state = master_only(_save_training_state)
    SRModel.dist_validation = _dist_validation
    basicsr.data._basicsr_worker_init_fn = basicsr.data.worker_init_fn
    basicsr.data.worker_init_fn = _worker_init_fn  # build_dataloader looks the name up when it builds a loader
    from basicsr.archs import ridnet_arch

    ridnet_arch.MeanShift.__init__ = _mean_shift_init
    from basicsr.utils import file_client, img_util

    file_client.LmdbBackend.get = _sourced(file_client.LmdbBackend.get)
    file_client.HardDiskBackend.get = _sourced(file_client.HardDiskBackend.get)
    original, checked = img_util.imfrombytes, _checked_imfrombytes(img_util.imfrombytes)
    for name, module in list(sys.modules.items()):  # the dataset modules bound the name at import
        if name.startswith('basicsr') and getattr(module, 'imfrombytes', None) is original:
            module.imfrombytes = checked
    _installed = True
