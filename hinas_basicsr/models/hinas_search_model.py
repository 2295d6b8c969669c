"""The HiNAS search: first-order bilevel optimisation of a HiNASSupernet, as a BasicSR model."""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from copy import deepcopy
from functools import partial
from typing import Any

import torch
from basicsr.data import build_dataset
from basicsr.data import worker_init_fn as basicsr_worker_init_fn
from basicsr.losses import build_loss
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from hinas_basicsr.data.hinas_split_dataset import loader_batch_size, loader_iters_per_epoch
from hinas_basicsr.models.lr_scheduler import setup_schedulers
from hinas_basicsr.models.numerics import setup_numerics
from hinas_basicsr.models.search_options import check_search_options
from hinas_basicsr.search.convergence import alpha_max_mean, genotype_changes, stability_line
from hinas_basicsr.search.flops_model import FlopsTarget, check_flops_options
from hinas_basicsr.search.judge import SearchJudge, check_selection_options
from hinas_basicsr.search.record import remove_record, save_record
from hinas_basicsr.search.report import alpha_figure, trellis_figure
from hinas_basicsr.space.genotype import Genotype
from hinas_basicsr.space.genotype_plot import save_genotype_png
from hinas_basicsr.space.trellis import MOVE_NAMES
from hinas_basicsr.utils.fileio import write_torch
from hinas_basicsr.utils.rng import rank_rng_state, rng_state, seeded_rngs, set_rng_state

DEFAULT_OPTIM_ARCH = {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 1e-3}


class SeededSamples(torch.utils.data.Dataset):
    """``dataset[index]`` for keys ``(seed, index)``, its random augmentation drawn from ``seed`` alone: the
    same crops, flips and noise in any worker, with any number of workers, and after a resume mid-pass."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        seed, index = key
        with seeded_rngs(seed):
            return self.dataset[index]


class ArchSampler(torch.utils.data.Sampler):
    """The A split's order for the search's current pass over this rank's shard, from its current batch on, as
    ``(seed, index)`` keys of :class:`SeededSamples`. Read at each ``iter()``, so one DataLoader (and its
    persistent workers) serves every pass; the order and the seeds depend on ``manual_seed``, the pass, the
    rank and the position only."""

    def __init__(self, model: HiNASSearchModel, batch: int) -> None:
        self.model, self.batch = model, batch
        self.rank, self.world = model.opt.get('rank', 0), model.opt.get('world_size', 1)
        self.seed = int(model.opt.get('manual_seed') or 0)
        size = len(model.arch_set)
        self.shard_size = len(range(size // self.world * self.world)[self.rank::self.world]) or size

    def _keys(self) -> list[tuple[int, int]]:
        arch_pass = self.model.arch_pass
        generator = torch.Generator().manual_seed(self.seed * 1000 + arch_pass)
        order = torch.randperm(len(self.model.arch_set), generator=generator).tolist()
        shard = order[:len(order) // self.world * self.world][self.rank::self.world] or order
        start = self.model.arch_batch * self.batch
        base = (self.seed * 100_003 + arch_pass) * 1_000_003 + self.rank * 100_019
        return [(base + pos, index) for pos, index in enumerate(shard) if pos >= start]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._keys())

    def __len__(self) -> int:
        return max(0, self.shard_size - self.model.arch_batch * self.batch)


@contextlib.contextmanager
def grads_only_for(net: nn.Module, params: Sequence[nn.Parameter], enabled: bool = True) -> Iterator[None]:
    """Within: of ``net``'s trainable parameters only ``params`` require grad (when ``enabled``).

    Autograd then records and keeps only what the gradients of ``params`` need (no weight gradients in
    the architecture step, no alpha/beta gradients in the weight step); the backward may run after exit.
    """
    chosen = {id(p) for p in params}
    frozen = [p for p in net.parameters() if p.requires_grad and id(p) not in chosen] if enabled else []
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)



def check_train_set(train_set_opt: Mapping[str, Any]) -> None:
    """``datasets.train``: a ``HiNASSplitDataset`` with ``split: w``; the model builds the A split beside it."""
    if train_set_opt.get('type') != 'HiNASSplitDataset' or train_set_opt.get('split') != 'w':
        raise ValueError(f'datasets.train: HiNASSearchModel needs type HiNASSplitDataset with split: w, '
                         f'got type {train_set_opt.get("type")!r} split {train_set_opt.get("split")!r}')

@MODEL_REGISTRY.register()
class HiNASSearchModel(SRModel):
    """The HiNAS architecture search (Zhang et al., IJCV 2022) on a ``HiNASSupernet``.

    ``datasets.train`` must be a ``HiNASSplitDataset`` with ``split: w``; the model builds the A-split
    loader from the same options with ``split: a``. After the warm-up, each iteration takes one
    architecture step (alpha, beta) on an A batch, then one weight step on the pipeline's W batch.
    Each validation exports the current genotype (``genotypes/iter_{N}.json`` + ``.png``); the best by
    ``ssim + psnr / 100`` among validations at or after ``best_after_ratio * total_iter`` goes to
    ``genotypes/best.json`` + ``.png`` (an absent metric counts 0).

    Args (``train:`` options, besides SRModel's ``optim_g``, ``scheduler``, ``total_iter``, ``pixel_opt``):
        optim_arch (dict): Optimizer of alpha and beta (any torch.optim name). Default: Adam, lr 1e-3,
            weight_decay 1e-3. It is not in ``self.optimizers``, so the scheduler leaves its lr alone.
        arch_warmup_ratio (float): Fraction of ``total_iter`` with weight steps only. Default: 0.2.
        arch_warmup_iter (int): Warm-up length in iterations; overrides arch_warmup_ratio. Default: None.
        ssim_opt (dict): Structural loss added to the pixel loss (e.g. LogSSIMLoss). Default: None.
        best_after_ratio (float): ``best.json`` is chosen only among validations at iterations
            >= this fraction of ``total_iter`` (the reference: after epoch 60 of 100). Default: 0.6.
        scheduler (dict): A BasicSR scheduler, or one of the plugin's (``CosinePolyLR``, the reference's
            weight lr); ``iters_per_epoch`` defaults to the batches in one pass over the W split.
        amp (str): ``bf16`` runs the supernet's training forward passes under bf16 autocast on the model's
            device (CUDA or CPU; slow on CPUs without native bf16); the losses are computed in fp32.
            Default: None (fp32).
        deterministic (bool): Deterministic kernels, no cuDNN benchmark, no TF32
            (:func:`hinas_basicsr.models.numerics.set_deterministic`): the condition under which a resumed search
            repeats an uninterrupted one exactly on a GPU. Default: false.
        compile (bool | dict): ``true`` runs the training forward passes through ``torch.compile`` of the
            supernet; a mapping is passed to ``torch.compile`` as keyword arguments (``mode``, ``backend``...).
            Validation and export use the supernet itself. On this project's 2-core CPU compiling took 6.5
            minutes for a step 3% to 9% faster (the README's search-step table). Default: false.
        selection_opt (dict): How the final genotype is chosen, ``{type: alpha | perturbation, ...}``.
            ``alpha`` (the reference, and the default when the group is absent): the largest alpha and the Viterbi
            path. ``perturbation``: at the last validation, by the supernet's validation PSNR (``search.judge``:
            DARTS-PT's perturbation for the cells, the best one-hot beta for the widths), written to
            ``genotypes/perturbation.json`` + ``.png`` and as ``best.json`` + ``.png``, what it measured to
            ``perturbation.search.json`` and ``best.search.json`` beside them (``search.record``). Its keys:
            ``bn``, BatchNorm statistics while it scores: ``batch`` (each val image's own), ``calibrate``
            (recomputed on A-split batches) or ``running`` (the supernet's), default batch; ``calib_batches``,
            A-split batches for ``bn: calibrate``, default 8; ``val_batches``, the first this many val images,
            default all; ``val_crop``, the central this many LR pixels (square) of each val image, default the
            whole image (the selection evaluates the supernet about 155 times: docs/remedies.md).
        flops_opt (dict): A cost target, ``{type: target, gflops, input, num_feat, weight}``: ``gflops`` of the
            derived net asked for (one LR input of ``input``, default [128, 128], at base width ``num_feat``,
            default 16) adds ``weight * |E[FLOPs] / gflops - 1|`` (TF-NAS; ``weight`` default 0.1) to each
            architecture step's loss, E[FLOPs] under softmax(alpha) and softmax(beta) (``search.flops_model``).
            Default: None (no cost term).
    """

    def init_training_settings(self) -> None:
        train_opt = self.opt['train']
        check_search_options(train_opt)
        self.selection_opt, self.selected_at = check_selection_options(train_opt), None
        self.selection = self.selection_opt['type']
        if self.selection != 'alpha' and self.opt.get('dist'):
            raise ValueError(f'train.selection_opt.type: {self.selection} runs in a non-distributed search only '
                             '(use alpha)')
        self.flops_target = FlopsTarget.from_options(train_opt, self.get_bare_model(self.net_g))
        self.best_after_ratio = float(train_opt.get('best_after_ratio', 0.6))
        self._build_arch_set()  # before the schedulers: it counts the iterations per epoch
        super().init_training_settings()
        self.cri_ssim = build_loss(train_opt['ssim_opt']).to(self.device) if train_opt.get('ssim_opt') else None
        if train_opt.get('arch_warmup_iter') is not None:
            self.arch_warmup_iter = int(train_opt['arch_warmup_iter'])
        else:
            self.arch_warmup_iter = round(float(train_opt.get('arch_warmup_ratio', 0.2)) * int(train_opt['total_iter']))
        self.amp_dtype = setup_numerics(train_opt, self.device)
        compile_opt = train_opt.get('compile') or False
        # the same parameters and buffers: saving, loading and validation keep using self.net_g
        self.net_forward = (torch.compile(self.net_g, **({} if compile_opt is True else compile_opt)) if compile_opt
                            else self.net_g)
        self.best_score: float | None = None
        self.genotype_history: list[tuple[int, Genotype]] = []  # (iteration, genotype) of each validation

    def setup_optimizers(self) -> None:
        net = self.get_bare_model(self.net_g)
        if not hasattr(net, 'arch_parameters'):
            raise ValueError(f'network_g.type: {type(net).__name__} has no arch_parameters(); use HiNASSupernet')
        train_opt = self.opt['train']
        optim_opt = deepcopy(train_opt['optim_g'])
        self.optimizer_g = self.get_optimizer(optim_opt.pop('type'), net.weight_parameters(), **optim_opt)
        self.optimizers.append(self.optimizer_g)
        arch_opt = deepcopy(train_opt.get('optim_arch') or DEFAULT_OPTIM_ARCH)
        self.optimizer_arch = self.get_optimizer(arch_opt.pop('type'), net.arch_parameters(), **arch_opt)

    def setup_schedulers(self) -> None:
        setup_schedulers(self, {'iters_per_epoch': self.iters_per_epoch, 'total_iter': self.opt['train']['total_iter']})

    # --- the A split -------------------------------------------------------------------------------
    def _build_arch_set(self) -> None:
        train_set_opt = self.opt['datasets']['train']
        check_train_set(train_set_opt)
        arch_opt = deepcopy(train_set_opt)
        arch_opt['split'] = 'a'
        arch_opt['name'] = f'{train_set_opt.get("name", "train")}_A'
        self.arch_set = build_dataset(arch_opt)
        batch, world = loader_batch_size(self.opt, train_set_opt), self.opt.get('world_size', 1)
        self.iters_per_epoch = loader_iters_per_epoch(len(self.arch_set.splits['w']), batch, world,
                                                      train_set_opt.get('dataset_enlarge_ratio', 1))
        if self.iters_per_epoch < 1:  # BasicSR's loader drops the last partial batch: the search would not step
            raise ValueError(f'datasets.train: an epoch of the W split ({len(self.arch_set.splits["w"])} samples '
                             f'over {world} rank(s)) holds no batch of {batch} (batch_size_per_gpu x num_gpu '
                             'without a launcher); lower batch_size_per_gpu or num_gpu, or raise '
                             'dataset_enlarge_ratio')
        self.arch_pass, self.arch_batch, self._arch_iter = 0, 0, None

    def _arch_loader(self) -> DataLoader:
        """The A-split loader, built once: its workers (``num_worker_per_gpu``, as the W loader) persist across
        passes, and each pass iterates :class:`ArchSampler`'s order for the model's current pass and batch."""
        if getattr(self, '_arch_dataloader', None) is None:
            set_opt = self.opt['datasets']['train']
            batch, workers = loader_batch_size(self.opt, set_opt), set_opt.get('num_worker_per_gpu', 0)
            rank = self.opt.get('rank', 0)
            sampler = ArchSampler(self, batch)
            seed = int(self.opt.get('manual_seed') or 0) * 1000
            self._arch_dataloader = DataLoader(
                SeededSamples(self.arch_set), batch_size=batch, sampler=sampler, drop_last=sampler.shard_size >= batch,
                num_workers=workers, persistent_workers=workers > 0,
                pin_memory=set_opt.get('pin_memory', self.device.type == 'cuda'),
                worker_init_fn=partial(basicsr_worker_init_fn, num_workers=workers, rank=rank, seed=seed))
        return self._arch_dataloader

    def _next_arch_batch(self) -> dict[str, Any]:
        for _ in range(2):
            if self._arch_iter is None:
                self._arch_iter = iter(self._arch_loader())
            try:
                batch = next(self._arch_iter)
                self.arch_batch += 1
                return batch
            except StopIteration:
                self.arch_pass, self.arch_batch, self._arch_iter = self.arch_pass + 1, 0, None
        raise ValueError('datasets.train: the A split yields no batch')

    # --- the bilevel step ----------------------------------------------------------------------------
    def feed_data(self, data: dict[str, Any]) -> None:
        """SRModel's, with the copies to the device asynchronous (from pinned memory on CUDA: no host wait)."""
        self.lq = data['lq'].to(self.device, non_blocking=True)
        if 'gt' in data:
            self.gt = data['gt'].to(self.device, non_blocking=True)

    def _losses(self, output: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, OrderedDict]:
        parts = OrderedDict()
        if self.cri_pix:
            parts['l_pix'] = self.cri_pix(output, gt)
        if self.cri_ssim:
            parts['l_ssim'] = self.cri_ssim(output, gt)
        return sum(parts.values()), parts

    def optimize_parameters(self, current_iter: int) -> None:
        loss_dict = OrderedDict()
        net = self.get_bare_model(self.net_g)
        # each step records (and keeps for its backward) only what its own parameters' gradients need; DDP
        # expects the same parameters to require grad in every step, so it records everything
        restrict = not isinstance(self.net_g, DistributedDataParallel)
        amp = self.amp_dtype is not None

        def forward(lq: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
            with (torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16, enabled=amp),
                  grads_only_for(net, params, restrict)):
                return self.net_forward(lq).float()  # the losses in fp32

        if current_iter > self.arch_warmup_iter:
            arch_data = self._next_arch_batch()
            self.optimizer_arch.zero_grad()
            lq, gt = (arch_data[k].to(self.device, non_blocking=True) for k in ('lq', 'gt'))  # pinned on CUDA
            l_arch, _ = self._losses(forward(lq, net.arch_parameters()), gt)
            if self.flops_target is not None:
                l_flops, expected = self.flops_target(net)
                l_arch = l_arch + l_flops.float()
                loss_dict['l_flops'], loss_dict['gflops'] = l_flops.detach().float(), expected.detach().float() / 1e9
            l_arch.backward()
            self.optimizer_arch.step()
            loss_dict['l_arch'] = l_arch.detach()
        self.optimizer_g.zero_grad()
        self.output = forward(self.lq, net.weight_parameters())
        l_total, parts = self._losses(self.output, self.gt)
        l_total.backward()
        self.optimizer_g.step()
        loss_dict.update(parts)
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    # --- validation and export -----------------------------------------------------------------------
    def dist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        self.check_arch_in_sync(current_iter)
        super().dist_validation(dataloader, current_iter, tb_logger, save_img)

    @torch.no_grad()
    def check_arch_in_sync(self, current_iter: int) -> None:
        """Check that alpha and beta are bit-identical on every rank (one all-reduce); stop if not.

        DDP keeps them equal by averaging their gradients; any rank-local step on them (a non-deterministic
        kernel, a missed all-reduce) would let the ranks search different architectures unnoticed.
        """
        import torch.distributed as dist

        digest = hashlib.sha256()
        for param in self.get_bare_model(self.net_g).arch_parameters():
            digest.update(param.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        checksum = int.from_bytes(digest.digest()[:7], 'little')  # 56 bits: -checksum fits in int64
        # max of (c, -c) over ranks gives (max c, -min c): equal on every rank iff max == min
        bounds = torch.tensor([checksum, -checksum], dtype=torch.int64, device=self.device)
        dist.all_reduce(bounds, op=dist.ReduceOp.MAX)
        highest, lowest = int(bounds[0]), -int(bounds[1])
        world = dist.get_world_size()
        if highest != lowest:
            raise RuntimeError(f'alpha/beta differ between the {world} ranks at iter {current_iter} (sha256 '
                               f'prefixes {lowest:014x} .. {highest:014x}): the ranks no longer search one '
                               'architecture; stopping')
        get_root_logger().info(f'alpha/beta checksum {checksum:014x} identical on all {world} ranks at iter '
                               f'{current_iter}')

    def nondist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        state = rng_state(self.device)  # validation must not shift the training's random streams (resume equality)
        super().nondist_validation(dataloader, current_iter, tb_logger, save_img)
        if self.opt['is_train']:
            self.export_genotypes(current_iter, tb_logger)
            if self.selection != 'alpha':
                self.select_by_validation(dataloader, current_iter)
        set_rng_state(state, self.device)

    def export_genotypes(self, current_iter: int, tb_logger=None) -> None:
        """Write ``genotypes/iter_{N}.json/.png``, and ``best.json/.png`` when ssim + psnr/100 improves
        (from ``best_after_ratio * total_iter`` on)."""
        # BasicSR's pipeline validates once more after the loop, with current_iter one past total_iter
        total_iter = int(self.opt['train']['total_iter'])
        current_iter = min(int(current_iter), total_iter)
        metrics = getattr(self, 'metric_results', {})
        psnr, ssim = metrics.get('psnr'), metrics.get('ssim')
        net = self.get_bare_model(self.net_g)
        if not all(torch.isfinite(p).all() for p in net.arch_parameters()):
            raise ValueError(f'the search diverged: alpha/beta are not finite at iter {current_iter}; lower '
                             'train.optim_g.lr or train.ssim_opt.loss_weight')
        genotype = net.genotype(iteration=current_iter, val_psnr=None if psnr is None else float(psnr),
                                val_ssim=None if ssim is None else float(ssim))
        out_dir = os.path.join(self.opt['path']['experiments_root'], 'genotypes')
        names = [f'iter_{current_iter}']
        score = float(ssim or 0) + float(psnr or 0) / 100
        if current_iter >= self.best_after_ratio * total_iter and (self.best_score is None or score > self.best_score):
            self.best_score = score
            names.append('best')
        for name in names:
            genotype.save(os.path.join(out_dir, f'{name}.json'))
            remove_record(os.path.join(out_dir, f'{name}.json'))  # a selection's record of another genotype
            save_genotype_png(genotype, os.path.join(out_dir, f'{name}.png'))
        get_root_logger().info(f'Genotype at iter {current_iter}: widths {list(genotype.widths)}, cells '
                               f'{[list(c) for c in genotype.cells]}' + (' (best)' if 'best' in names else ''))
        self.log_convergence(genotype, current_iter, tb_logger)
        if tb_logger:
            for tag, value in self.arch_scalars().items():
                tb_logger.add_scalar(tag, value, current_iter)
            # add_figure renders and closes each figure
            tb_logger.add_figure('arch/alpha_softmax', alpha_figure(genotype), current_iter)
            tb_logger.add_figure('arch/trellis_beta', trellis_figure(genotype), current_iter)

    def select_by_validation(self, dataloader, current_iter: int) -> Genotype | None:
        """At the search's last validation, the genotype that ``train.selection_opt`` picks by the supernet's
        validation PSNR on ``dataloader``; written to ``genotypes/<selection>.json/.png`` and ``best.json/.png``
        (replacing the largest-alpha ``best`` of :meth:`export_genotypes`). Returns it (None before the end)."""
        total_iter = int(self.opt['train']['total_iter'])
        current_iter = min(int(current_iter), total_iter)
        if current_iter < total_iter or self.selected_at == current_iter:
            return None
        selection_opt, start = self.selection_opt, time.perf_counter()
        judge = SearchJudge.from_model(self, dataloader, selection_opt['bn'], selection_opt['calib_batches'],
                                       selection_opt['val_batches'], selection_opt['val_crop'])
        metrics = getattr(self, 'metric_results', {})
        genotype, record = judge.perturbation_selection(seed=int(self.opt.get('manual_seed') or 0),
                                                        iteration=current_iter,
                                                        val_psnr_supernet=float(metrics.get('psnr') or 0))
        seconds = time.perf_counter() - start
        record = {'iteration': current_iter, 'seconds': round(seconds, 1), 'selection_opt': selection_opt,
                  'flops_opt': check_flops_options(self.opt['train']), **record}
        self.selected_at, self.selected = current_iter, genotype
        out_dir = os.path.join(self.opt['path']['experiments_root'], 'genotypes')
        for name in (self.selection, 'best'):
            genotype.save(os.path.join(out_dir, f'{name}.json'))
            save_record(os.path.join(out_dir, f'{name}.json'), record)
            save_genotype_png(genotype, os.path.join(out_dir, f'{name}.png'))
        get_root_logger().info(f'Genotype selected by {self.selection} at iter {current_iter} in {seconds:.0f} s: '
                               f'widths {list(genotype.widths)}, cells {[list(c) for c in genotype.cells]} (best)')
        return genotype

    def log_convergence(self, genotype: Genotype, current_iter: int, tb_logger=None) -> None:
        """Log (and send to tensorboard as ``convergence/*``) what changed since the previous validation's
        genotype and ``alpha_max_mean``; at ``total_iter``, one line saying whether the genotype was stable.

        The history lives only in this process: after a resume it restarts from the first validation.
        """
        history = self.genotype_history
        repeated = bool(history) and history[-1][0] == current_iter  # BasicSR's extra validation after the loop
        if repeated:
            history.pop()
        scalars = {'alpha_max_mean': alpha_max_mean(genotype.search['alpha_softmax'])}
        if history:
            scalars.update(genotype_changes(history[-1][1], genotype))
        history.append((current_iter, genotype))
        get_root_logger().info(f'Convergence at iter {current_iter}: ' + ', '.join(
            f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}' for k, v in scalars.items()))
        if tb_logger:
            for name, value in scalars.items():
                tb_logger.add_scalar(f'convergence/{name}', value, current_iter)
        if current_iter >= int(self.opt['train']['total_iter']) and not repeated:
            get_root_logger().info(stability_line([g for _, g in history]))

    @torch.no_grad()
    def arch_scalars(self) -> dict[str, float]:
        """``alpha_entropy/layer{l}`` (mean over edges, nats) and ``beta/l{d}_w{w}_{move}`` probabilities."""
        net = self.get_bare_model(self.net_g)
        alpha = net.cell_weights()
        entropy = -(alpha * alpha.clamp_min(1e-12).log()).sum(-1).mean(-1)
        scalars = {f'alpha_entropy/layer{layer + 1}': float(e) for layer, e in enumerate(entropy)}
        for d, row in enumerate(net.search_state()['transitions']):
            for w, probs in enumerate(row):
                for name, p, ok in zip(MOVE_NAMES, probs or (), net.move_mask[w].tolist()):
                    if ok:
                        scalars[f'beta/l{d}_w{w}_{name}'] = float(p)
        return scalars

    # --- checkpoint and resume -------------------------------------------------------------------------
    def save_training_state(self, epoch: int, current_iter: int) -> None:
        """Write ``training_states/{current_iter}.state``: BasicSR's training state and the search's own.

        Besides the optimizers and schedulers it holds, under ``hinas``, the arch optimizer, the A-loader
        position, the best score and every rank's RNG states (gathered: ranks seeded apart stay apart after a
        resume; rank 0 writes the file). Its ``epoch`` is the epoch the search continues
        from, which BasicSR's ``train.py`` starts its loop at: after a checkpoint at an epoch boundary the
        next batch belongs to the following epoch, not to the epoch ``train.py`` passes (unused here).
        """
        if current_iter == -1:  # BasicSR's 'latest' save at the end of training writes no state
            return
        rngs = [rng_state(self.device)]
        if self.opt.get('dist'):  # every rank calls save(): gather their states on each, rank 0 writes them
            import torch.distributed as dist

            rngs = [None] * dist.get_world_size()
            dist.all_gather_object(rngs, rng_state(self.device))
        if self.opt.get('rank', 0) != 0:
            return
        state = {'epoch': current_iter // self.iters_per_epoch, 'iter': current_iter,
                 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers],
                 'hinas': {'optimizer_arch': self.optimizer_arch.state_dict(), 'arch_pass': self.arch_pass,
                           'arch_batch': self.arch_batch, 'best_score': self.best_score, 'rng': rngs}}
        write_torch(os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'), state)

    def resume_training(self, resume_state: dict[str, Any]) -> None:
        """Restore what :meth:`save_training_state` wrote; BasicSR's loop goes on at its epoch and iter."""
        state = resume_state.get('hinas')
        if state is None:
            raise ValueError('path.resume_state: the state has no HiNAS search state (not written by HiNASSearchModel)')
        super().resume_training(resume_state)
        self.optimizer_arch.load_state_dict(state['optimizer_arch'])
        self.arch_pass, self.arch_batch, self._arch_iter = state['arch_pass'], state['arch_batch'], None
        self.best_score = state['best_score']
        rank = self.opt.get('rank', 0)
        rng = rank_rng_state(state['rng'], rank)
        if rng is None:
            get_root_logger().warning(f'Resuming rank {rank}: the state holds the RNG states of '
                                      f'{len(state["rng"])} rank(s) only; this rank keeps its seeded streams')
        else:
            set_rng_state(rng, self.device)
        current_iter = resume_state['iter']
        if current_iter % self.iters_per_epoch:
            get_root_logger().warning(
                f'Resuming at iter {current_iter}, inside an epoch of {self.iters_per_epoch} iterations: BasicSR '
                'replays this epoch from its start, so the search will not repeat an uninterrupted run exactly. '
                'Save checkpoints at epoch boundaries for exact resumption.')
