"""Helpers shared by the dataset-preparation tests: small DIV2K-shaped folders and independent formulas."""
from __future__ import annotations

import os

import cv2
import numpy as np

HR_SIZES = ((500, 700), (730, 481))  # non-square, not multiples of 480


def smooth_image(h: int, w: int, seed: int, channels: int = 3) -> np.ndarray:
    """A uint8 photo-like image: low-frequency colour blobs plus a little noise."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(h // 32, 2), max(w // 32, 2), channels)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, channels)
    img = img * 200 + rng.normal(0, 8, (h, w, channels))
    return np.clip(img, 0, 255).astype(np.uint8).squeeze()


def make_div2k_src(root: str, sizes=HR_SIZES) -> str:
    """``root/DIV2K_train_HR/0001.png ...`` of the given sizes; returns ``root``."""
    os.makedirs(os.path.join(root, 'DIV2K_train_HR'), exist_ok=True)
    for i, (h, w) in enumerate(sizes, 1):
        cv2.imwrite(os.path.join(root, 'DIV2K_train_HR', f'{i:04d}.png'), smooth_image(h, w, i))
    return root


def positions(length: int, crop: int, step: int) -> list[int]:
    """Sub-image start positions, written independently of the package: a grid plus one flush with the edge."""
    starts = [k * step for k in range((length - crop) // step + 1)]
    return starts + ([length - crop] if (length - crop) % step else [])


def expected_subimages(h: int, w: int, crop: int = 480, step: int = 240, mod: int = 24) -> list[tuple[int, int]]:
    h, w = h - h % mod, w - w % mod
    return [(x, y) for x in positions(h, crop, step) for y in positions(w, crop, step)]
