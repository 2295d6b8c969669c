"""Additive white Gaussian noise on clean images, for the HiNAS denoising search and training."""
from __future__ import annotations

import os
import random
import zlib
from typing import Any

import cv2
import numpy as np
from basicsr.data.data_util import paths_from_lmdb
from basicsr.data.degradations import generate_gaussian_noise
from basicsr.data.transforms import augment
from basicsr.utils import FileClient, imfrombytes, img2tensor, scandir
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data as data

from hinas_basicsr.utils.arg_checks import is_integer, is_number

MAX_RESCALE = 4  # the largest rescale factor: a 1280x800 photo becomes 5120x3200, 200 MB as float32 RGB


def noise_key(path: str) -> str:
    """The image key the fixed validation noise is derived from: the LMDB key, or the file name stem."""
    return os.path.splitext(os.path.basename(path))[0]


def fixed_noise_rng(noise_seed: int, key: str) -> np.random.Generator:
    """A generator seeded from ``noise_seed`` and a stable hash (CRC32) of ``key``: the same in every process."""
    return np.random.default_rng([int(noise_seed), zlib.crc32(key.encode('utf-8'))])


def fixed_noise(shape: tuple[int, ...], sigmas: list[float], noise_seed: int, key: str) -> tuple[np.ndarray, float]:
    """The fixed val/test noise of image ``key`` (float32, 0-1 scale) and its sigma (0-255 scale).

    The sigma is drawn from ``sigmas`` first, then the noise, both from :func:`fixed_noise_rng`. The
    dataset's val/test phases call this, and ``basicsr test`` and ``hinas compare`` both read the dataset,
    so every evaluation scores identical inputs.
    """
    rng = fixed_noise_rng(noise_seed, key)
    sigma = sigmas[int(rng.integers(len(sigmas)))]
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma / 255.), sigma


def check_options(opt: dict[str, Any], where: str = 'datasets') -> None:
    """Refuse options :class:`HiNASNoisyImageDataset` cannot be built from (a ``ValueError`` naming ``where.<key>``).

    The constructor calls it; so does the options check of ``basicsr train``/``test``, before anything is written.
    """
    sigma = opt.get('sigma', 25)
    sigmas = sigma if isinstance(sigma, (list, tuple)) else [sigma]
    if not sigmas or not all(is_number(s) and s >= 0 for s in sigmas):
        raise ValueError(f'{where}.sigma: expected one or more noise levels >= 0 (0-255 scale), got {sigma!r}')
    seed = opt.get('noise_seed', 0)
    if not is_integer(seed) or seed < 0:
        raise ValueError(f'{where}.noise_seed: expected an integer >= 0, got {seed!r}')
    if opt.get('phase', 'train') == 'train' and not opt.get('gt_size'):
        raise ValueError(f'{where}.gt_size: required for the train phase of HiNASNoisyImageDataset')
    prob = opt.get('rescale_prob', 0)
    if not is_number(prob) or not 0 <= prob <= 1:
        raise ValueError(f'{where}.rescale_prob: expected a probability in [0, 1], got {prob!r}')
    low_high = opt.get('rescale_range', (0.8, 1.2))
    if (not isinstance(low_high, (list, tuple)) or len(low_high) != 2 or not all(is_number(f) for f in low_high)
            or not 0 < low_high[0] <= low_high[1] <= MAX_RESCALE):
        raise ValueError(f'{where}.rescale_range: expected [low, high] with 0 < low <= high <= {MAX_RESCALE}, got '
                         f'{low_high!r:.60}')
    for key in ('gray', 'clip', 'use_hflip', 'use_rot'):
        if key in opt and not isinstance(opt[key], bool):
            raise ValueError(f'{where}.{key}: expected true or false, got {opt[key]!r}')


@DATASET_REGISTRY.register()
class HiNASNoisyImageDataset(data.Dataset):
    """Clean GT images with additive white Gaussian noise as ``lq``, for Gaussian denoising (HiNAS, Zhang et al.,
    "Memory-Efficient Hierarchical Neural Architecture Search for Image Restoration", IJCV 2022).

    In the train phase each sample is randomly rescaled (with ``rescale_prob``), cropped, flipped and
    rotated, and its sigma is drawn from ``sigma``. In the val/test phases the whole image is used, and both
    its sigma (from ``sigma``) and its noise come from a generator seeded with ``noise_seed`` and the image
    key, so every model is scored on identical noisy inputs. The noisy image is not clipped to [0, 1] (plain
    AWGN, as in HiNAS/DnCNN) unless ``clip`` is set.

    Args:
        opt (dict): Config for the dataset. It contains the following keys:
            dataroot_gt (str): Folder or ``.lmdb`` of clean images.
            io_backend (dict): ``{type: disk}`` or ``{type: lmdb}``.
            meta_info_file (str, optional): With the disk backend, a file whose first column lists the images.
            gray (bool): Read gray (1 channel) instead of RGB. Default: False.
            gt_size (int): Train crop size. Required in the train phase.
            rescale_prob (float): Probability that a training image is resized (bicubic) by a factor drawn
                uniformly from ``rescale_range`` before its crop; the HiNAS reference search uses 0.5. The
                factor is raised where needed so that the image still holds a ``gt_size`` crop. Default: 0.
            rescale_range (list[float]): Range of that factor. Default: [0.8, 1.2].
            use_hflip (bool): Random horizontal flips in training. Default: True.
            use_rot (bool): Random 90-degree rotations and vertical flips in training. Default: True.
            sigma (float | list[float]): Noise level(s) on the 0-255 scale. Default: 25.
            noise_seed (int): Seed of the fixed val/test noise. Default: 0.
            clip (bool): Clip the noisy image to [0, 1]. Default: False.
            phase (str): 'train', 'val' or 'test' (set by BasicSR).

    Returns (per item): ``{'lq', 'gt'`` (CHW float32 tensors), ``'lq_path', 'gt_path', 'sigma'}``.
    """

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        self.opt = opt
        self.file_client = None
        self.io_backend_opt = dict(opt['io_backend'])
        self.gt_folder = opt['dataroot_gt']
        self.gray = bool(opt.get('gray', False))
        check_options(opt, f'datasets.{opt.get("phase", "?")}')
        sigma = opt.get('sigma', 25)
        self.sigmas = [float(s) for s in (sigma if isinstance(sigma, (list, tuple)) else [sigma])]
        self.noise_seed = int(opt.get('noise_seed', 0))
        self.is_train = opt.get('phase', 'train') == 'train'
        self.rescale_prob = float(opt.get('rescale_prob', 0))
        self.rescale_range = tuple(float(f) for f in opt.get('rescale_range', (0.8, 1.2)))
        if not os.path.exists(self.gt_folder):
            raise FileNotFoundError(f'dataroot_gt: {self.gt_folder} does not exist')

        if self.io_backend_opt['type'] == 'lmdb':
            self.io_backend_opt['db_paths'] = [self.gt_folder]
            self.io_backend_opt['client_keys'] = ['gt']
            self.paths = paths_from_lmdb(self.gt_folder)
        elif opt.get('meta_info_file'):
            with open(opt['meta_info_file']) as fin:
                self.paths = [os.path.join(self.gt_folder, line.split(' ')[0].strip()) for line in fin if line.strip()]
        else:
            self.paths = sorted(scandir(self.gt_folder, full_path=True))
        if not self.paths:
            raise ValueError(f'dataroot_gt: no images in {self.gt_folder}')

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.file_client is None:
            self.file_client = FileClient(self.io_backend_opt.pop('type'), **self.io_backend_opt)
        gt_path = self.paths[index]
        img_gt = imfrombytes(self.file_client.get(gt_path, 'gt'), flag='grayscale' if self.gray else 'color',
                             float32=True)
        if img_gt.ndim == 2:
            img_gt = img_gt[..., None]

        if self.is_train:
            gt_size = self.opt['gt_size']
            h, w = img_gt.shape[:2]
            if h < gt_size or w < gt_size:
                raise ValueError(f'gt_size: {gt_size} is larger than {gt_path} ({h}x{w})')
            if self.rescale_prob and random.random() < self.rescale_prob:
                img_gt = self._rescale(img_gt, random.uniform(*self.rescale_range), gt_size)
                h, w = img_gt.shape[:2]
            top, left = random.randint(0, h - gt_size), random.randint(0, w - gt_size)
            img_gt = img_gt[top:top + gt_size, left:left + gt_size, ...]
            img_gt = augment(img_gt, self.opt.get('use_hflip', True), self.opt.get('use_rot', True))
            if img_gt.ndim == 2:
                img_gt = img_gt[..., None]
            sigma = random.choice(self.sigmas)
            noise = generate_gaussian_noise(img_gt, sigma)  # np.random, seeded per worker by BasicSR
        else:
            noise, sigma = fixed_noise(img_gt.shape, self.sigmas, self.noise_seed, noise_key(gt_path))
        img_lq = img_gt + noise
        if self.opt.get('clip', False):
            img_lq = np.clip(img_lq, 0, 1)
        img_gt, img_lq = img2tensor([img_gt, img_lq.astype(np.float32)], bgr2rgb=not self.gray, float32=True)
        return {'lq': img_lq, 'gt': img_gt, 'lq_path': gt_path, 'gt_path': gt_path, 'sigma': sigma}

    @staticmethod
    def _rescale(img: np.ndarray, factor: float, gt_size: int) -> np.ndarray:
        """``img`` (HWC, 0-1) resized by ``factor`` (at least enough to hold a ``gt_size`` crop), bicubic, clipped."""
        h, w = img.shape[:2]
        factor = max(factor, gt_size / min(h, w))
        size = (max(gt_size, round(w * factor)), max(gt_size, round(h * factor)))
        out = np.clip(cv2.resize(img, size, interpolation=cv2.INTER_CUBIC), 0, 1)
        return out[..., None] if out.ndim == 2 else out

    def __len__(self) -> int:
        return len(self.paths)
