"""Apply a trained network to one's own images, whole or in tiles (``hinas infer``).

What the network does is measured, not read from its options, so any BasicSR network and any
TorchScript file from ``hinas export`` work alike:

* channels: a 3-channel and a 1-channel probe input are tried; the one the net accepts is its input;
* scale: the output size over the input size (1 means same-size restoration, e.g. denoising);
* receptive-field radius: the farthest input pixel whose gradient on one output pixel (the
  ``scale x scale`` block of one input pixel) is non-zero, on random inputs in eval mode (BatchNorm
  then uses its running statistics, so the net is local). A net with global pooling (RCAN's channel
  attention) sees the whole image: no tile padding can reproduce its whole-image output exactly.

Tiles: the input is cut into ``tile x tile`` pieces, each run with ``pad`` extra input pixels on every
side (fewer at the image border, where the net's own padding applies as on the whole image), and the
output of the piece without its padding is pasted. With ``pad >=`` the radius the result equals the
whole-image output up to float rounding.

Colour: a colour image given to a gray net is converted to gray (OpenCV's BT.601 luma, as the gray
datasets read it); a gray image given to a colour net is replicated into three channels, and the
result is written in colour. An alpha channel is dropped; 16-bit images are scaled to [0, 1].
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from hinas_basicsr.prep.common import check_decodes
from hinas_basicsr.tools.compare import IMAGE_SUFFIXES, to_image, to_tensor
from hinas_basicsr.utils.fileio import atomic_write

GLOBAL_POOLING = ('AdaptiveAvgPool2d', 'AdaptiveMaxPool2d')
# an input pixel is in the receptive field where its gradient exceeds this fraction of the largest; below it
# lies the rounding noise that FFT or Winograd convolutions leave on every pixel (about 1e-7 of the largest)
SUPPORT_THRESHOLD = 1e-5
PROBE_SIZES = (24, 48, 96, 192)  # input sizes tried in turn to find the receptive-field radius
OUTPUT_SUFFIX = '_hinas.png'
MAX_IMAGES = 1_000_000  # the images of one run (-i a folder), each an output written: 10 hours of video at 30 fps


@dataclass(frozen=True)
class NetworkShape:
    """What a network maps: input and output channels, and the output-to-input size ratio."""

    in_channels: int
    out_channels: int
    scale: int

    @property
    def task(self) -> str:
        return f'x{self.scale} super-resolution' if self.scale > 1 else 'same-size restoration (denoising)'


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive-field radius in input pixels, or None when one output pixel sees the whole image."""

    radius: int | None
    reason: str = ''

    def describe(self) -> str:
        if self.radius is None:
            return f'the whole image ({self.reason}): tiled output cannot equal the whole-image output exactly'
        return f'radius {self.radius} input pixels (--tile-pad >= {self.radius} makes tiles exact)'


def probe_shape(net: nn.Module, device: torch.device, dtype: torch.dtype = torch.float32,
                size: int = 16) -> NetworkShape:
    """Run the net on a small 3-channel, then 1-channel input; the first it accepts tells its shape."""
    errors = []
    for channels in (3, 1):
        x = torch.rand(1, channels, size, size, device=device, dtype=dtype)
        try:
            with torch.no_grad():
                out = net(x)
        except RuntimeError as err:  # a channel mismatch in the first convolution
            errors.append(str(err).splitlines()[0])
            continue
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            got = type(out).__name__ if not isinstance(out, torch.Tensor) else f'a tensor of shape {tuple(out.shape)}'
            raise ValueError(f'the network returns {got}, not an image batch (one N x C x H x W tensor)')
        scale = out.shape[-1] // size
        if out.shape[-2:] != (size * scale, size * scale) or scale < 1:
            raise ValueError(f'the network maps a {size}x{size} input to {tuple(out.shape[-2:])}: '
                             'not an integer upscaling')
        return NetworkShape(channels, int(out.shape[1]), int(scale))
    raise ValueError(f'the network accepts neither a 3- nor a 1-channel input ({errors[-1]})')


def global_pooling_module(net: nn.Module) -> str | None:
    """The name of the first global-pooling submodule (also inside TorchScript files), if any."""
    for name, module in net.named_modules():
        kind = getattr(module, 'original_name', type(module).__name__)
        if kind in GLOBAL_POOLING:
            return f'{kind} at {name}'
    return None


def receptive_field(net: nn.Module, shape: NetworkShape, device: torch.device,
                    sizes: Sequence[int] = PROBE_SIZES, samples: int = 2) -> ReceptiveField:
    """Measure the receptive-field radius from the input gradient of the centre output pixel.

    The gradients of ``samples`` random inputs are summed, so that a ReLU closed on one input does
    not hide a path; a pixel counts where that sum exceeds ``SUPPORT_THRESHOLD`` times its maximum.
    The input grows through ``sizes`` until that support stops short of its border; if it never does,
    the net is reported as global.
    """
    pooling = global_pooling_module(net)
    if pooling:
        return ReceptiveField(None, f'{pooling} pools over the whole image')
    gen = torch.Generator().manual_seed(0)
    for size in sizes:
        centre = size // 2
        x = torch.rand(samples, shape.in_channels, size, size, generator=gen).to(device).requires_grad_(True)
        out = net(x)
        s = shape.scale
        out[:, :, centre * s:(centre + 1) * s, centre * s:(centre + 1) * s].sum().backward()
        grad = x.grad.abs().sum(dim=(0, 1))
        support = grad > SUPPORT_THRESHOLD * grad.max()
        rows, cols = (idx.cpu() for idx in torch.nonzero(support, as_tuple=True))
        if not len(rows):
            return ReceptiveField(0)
        if rows.min() > 0 and cols.min() > 0 and rows.max() < size - 1 and cols.max() < size - 1:
            return ReceptiveField(int(max((rows - centre).abs().max(), (cols - centre).abs().max())))
    return ReceptiveField(None, f'one output pixel depends on input pixels {sizes[-1] // 2} or more away')


def tile_boxes(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """``(top, bottom, left, right)`` of the tiles covering the image, row by row (``tile`` 0: one box)."""
    if tile <= 0:
        return [(0, height, 0, width)]
    return [(y, min(y + tile, height), x, min(x + tile, width))
            for y in range(0, height, tile) for x in range(0, width, tile)]


def tiled_forward(net: nn.Module, x: torch.Tensor, scale: int, tile: int, pad: int,
                  on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """``net(x)`` computed tile by tile: each tile is run with ``pad`` input pixels of context per side."""
    height, width = x.shape[-2:]
    boxes = tile_boxes(height, width, tile)
    if len(boxes) == 1:
        out = net(x)
        if on_tile:
            on_tile()
        return out
    out = None
    for top, bottom, left, right in boxes:
        t, b = max(top - pad, 0), min(bottom + pad, height)  # the tile with its context, inside the image
        lft, rgt = max(left - pad, 0), min(right + pad, width)
        piece = net(x[..., t:b, lft:rgt])
        if out is None:
            out = piece.new_zeros(*piece.shape[:2], height * scale, width * scale)
        out[..., top * scale:bottom * scale, left * scale:right * scale] = piece[
            ..., (top - t) * scale:(bottom - t) * scale, (left - lft) * scale:(right - lft) * scale]
        if on_tile:
            on_tile()
    return out


def read_image(path: str, channels: int) -> tuple[np.ndarray, str]:
    """An image as float32 HWC (BGR or gray) in [0, 1] with ``channels`` channels, and what was converted.

    Raises ValueError for a file that does not decode whole: OpenCV fills a truncated JPEG with gray without
    an error, so the file is first decoded (a PNG: its chunk CRCs checked) by Pillow where Pillow knows the format.
    """
    check_decodes(path, unknown_ok=True)
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ValueError(f'{path}: not a readable image')
    scale = 65535. if img.dtype == np.uint16 else 255.
    img = img.astype(np.float32) / scale
    if img.ndim == 2:
        img = img[..., None]
    note = ''
    if img.shape[2] == 4:
        img, note = img[..., :3], 'alpha channel dropped'
    if img.shape[2] == 3 and channels == 1:
        img, note = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None], 'colour converted to gray'
    elif img.shape[2] == 1 and channels == 3:
        img, note = np.repeat(img, 3, axis=2), 'gray replicated to 3 channels'
    return img, note


def list_inputs(source: str) -> list[str]:
    """The image files to process: ``source`` itself, or the image files of the folder (sorted)."""
    if os.path.isfile(source):
        return [source]
    if not os.path.isdir(source):
        raise FileNotFoundError(f'-i: {source} does not exist')
    files = sorted(os.path.join(source, f) for f in os.listdir(source)
                   if f.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(os.path.join(source, f)))
    if not files:
        raise ValueError(f'-i: {source} holds no images ({", ".join(IMAGE_SUFFIXES)})')
    if len(files) > MAX_IMAGES:
        raise ValueError(f'-i: {source} holds {len(files):,} images, more than the {MAX_IMAGES:,} one run writes '
                         '(each an output image); give part of them')
    return files


def output_path(source: str, out_dir: str) -> str:
    return os.path.join(out_dir, os.path.splitext(os.path.basename(source))[0] + OUTPUT_SUFFIX)


def restore(net: nn.Module, img: np.ndarray, shape: NetworkShape, device: torch.device, tile: int, pad: int,
            dtype: torch.dtype = torch.float32, on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """The network output (1CHW float32, not clamped) for an HWC BGR/gray image in [0, 1]."""
    with torch.no_grad():
        x = to_tensor(img, device).to(dtype)
        return tiled_forward(net, x, shape.scale, tile, pad, on_tile).float()


def save_image(tensor: torch.Tensor, path: str) -> None:
    """Write a 1CHW RGB/gray output in [0, 1] as an 8-bit PNG, atomically."""

    img = to_image(tensor)

    def write(tmp: str) -> None:
        if not cv2.imwrite(tmp, img):
            raise OSError(f'{path}: could not write the image')

    atomic_write(path, write)
