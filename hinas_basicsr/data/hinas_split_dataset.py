"""Deterministic, disjoint splits of one training set: held-out val, W (weights) and A (architecture); or the
whole set (``all``), to train on it with its images decoded once (``load_all``)."""
from __future__ import annotations

import json
import math
import os
import random
import re
from copy import deepcopy
from typing import Any

from basicsr.data import build_dataset
from basicsr.utils import FileClient
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data

from hinas_basicsr.utils.arg_checks import is_integer, is_number
from hinas_basicsr.utils.rng import seeded_rngs

SPLITS = ('w', 'a', 'val', 'all')
SEARCH_SPLITS = SPLITS[:3]  # the disjoint ones (all: the whole set)
GROUP_BY = r'^(.+)_s\d+$'  # BasicSR's extract_subimages names: 0001_s001 is a part of image 0001


def loader_batch_size(opt: dict[str, Any], dataset_opt: dict[str, Any]) -> int:
    """Samples per batch of BasicSR's train loader (``build_dataloader``): ``batch_size_per_gpu`` on each rank,
    times ``num_gpu`` without a launcher (DataParallel splits the batch over the GPUs)."""
    num_gpu = opt.get('num_gpu', 0)
    data_parallel = not opt.get('dist', False) and isinstance(num_gpu, int) and num_gpu > 1
    return int(dataset_opt['batch_size_per_gpu']) * (num_gpu if data_parallel else 1)


def loader_iters_per_epoch(num_samples: int, batch_size: int, world_size: int = 1, enlarge_ratio: float = 1) -> int:
    """Batches in one epoch of BasicSR's train loader: its ``EnlargedSampler`` gives each rank
    ``ceil(num_samples * enlarge_ratio / world_size)`` samples and its DataLoader drops the last partial batch."""
    return math.ceil(num_samples * enlarge_ratio / world_size) // batch_size


def sample_keys(dataset: data.Dataset) -> list[str]:
    """One name per sample, read from the dataset's ``paths`` (BasicSR's convention) without loading images.

    A ``paths`` entry is a path/key string or a dict of them (``gt_path`` first). A dataset without
    ``paths`` gets one name per index, so every sample is its own group.
    """
    paths = getattr(dataset, 'paths', None)
    if paths is None or len(paths) != len(dataset):
        return [str(i) for i in range(len(dataset))]
    keys = []
    for entry in paths:
        if isinstance(entry, dict):
            entry = entry.get('gt_path', next(iter(entry.values())))
        keys.append(os.path.splitext(os.path.basename(str(entry)))[0])
    return keys


def image_of(key: str, group_by: str = GROUP_BY) -> str:
    """The source image of a sample: group 1 of the regex ``group_by`` if it matches (``0001_s001`` -> ``0001``),
    else the key itself."""
    match = re.match(group_by, key)
    return match.group(1) if match else key


def split_indices(keys: list[str], val_ratio: float, seed: int, group_by: str = GROUP_BY) -> dict[str, list[int]]:
    """Split sample indices by source image: ``val_ratio`` of the images held out, the rest halved into W and A.

    The images are sorted by name and shuffled with ``random.Random(seed)``; val takes
    ``max(1, round(val_ratio * n))`` images (none when val_ratio is 0), W the first half of the rest
    (rounded up) and A the remainder. Returns sorted sample indices for ``w``, ``a`` and ``val``.
    """
    images = sorted({image_of(k, group_by) for k in keys})
    num_val = 0 if val_ratio <= 0 else max(1, round(val_ratio * len(images)))
    if len(images) - num_val < 2:
        raise ValueError(f'HiNASSplitDataset: {len(images)} source image(s) cannot give val ({num_val}), W and A '
                         'splits; the dataset needs more images')
    random.Random(seed).shuffle(images)
    rest = images[num_val:]
    num_w = (len(rest) + 1) // 2
    owner = {img: 'val' for img in images[:num_val]}
    owner.update({img: 'w' for img in rest[:num_w]})
    owner.update({img: 'a' for img in rest[num_w:]})
    out: dict[str, list[int]] = {s: [] for s in SEARCH_SPLITS}
    for index, key in enumerate(keys):
        out[owner[image_of(key, group_by)]].append(index)
    return out


class SharedFileClient:
    """A BasicSR ``FileClient`` shared, per process, by every dataset reading the same LMDBs.

    LMDB refuses to open one environment twice in a process, and the W, A and val splits are three
    datasets over the same files. The client is opened on first use in each process (so DataLoader
    workers open their own, as BasicSR's datasets do).
    """

    _clients: dict[tuple[int, str], FileClient] = {}

    def __init__(self, io_backend_opt: dict[str, Any]) -> None:
        self.opt = deepcopy(io_backend_opt)
        self.key = json.dumps(self.opt, sort_keys=True, default=str)

    def _client(self) -> FileClient:
        key = (os.getpid(), self.key)
        if key not in self._clients:
            opt = deepcopy(self.opt)
            self._clients[key] = FileClient(opt.pop('type'), **opt)
        return self._clients[key]

    def get(self, filepath: str, client_key: str = 'default') -> bytes:
        return self._client().get(filepath, client_key)

    @classmethod
    def close_inherited(cls) -> None:
        """In a forked child (a DataLoader worker): close the LMDB environments inherited from the parent.

        py-lmdb refuses to open an environment that is open in the process, and after a fork the parent's
        count as open in the child: a worker forked after the main process read an LMDB (the val split, which
        shares W's files) could not open its own. Closing the child's copies unmaps only the child's view.
        """
        for key, client in list(cls._clients.items()):
            if key[0] != os.getpid():
                for env in getattr(getattr(client, 'client', None), '_client', {}).values():
                    env.close()
                del cls._clients[key]

    def get_text(self, filepath: str) -> str:
        return self._client().get_text(filepath)


class Record(bytes):
    """The bytes of one file or LMDB record, kept in memory with the images decoded from them (``decoded``: one
    per ``imfrombytes`` flag, which the plugin's ``imfrombytes`` fills and reuses)."""

    source: str
    decoded: dict[str, Any]


class MemoryFileClient:
    """A file client that reads each file or record once and keeps it (and its decoded image) in memory."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.records: dict[tuple[str, str], Record] = {}

    def get(self, filepath: str, client_key: str = 'default') -> Record:
        key = (client_key, str(filepath))
        if key not in self.records:
            value = self.client.get(filepath, client_key)
            record = Record(value)
            record.source, record.decoded = getattr(value, 'source', str(filepath)), {}
            self.records[key] = record
        return self.records[key]

    def get_text(self, filepath: str) -> str:
        return self.client.get_text(filepath)


os.register_at_fork(after_in_child=SharedFileClient.close_inherited)
def check_options(opt: dict[str, Any], where: str | None = None) -> None:
    """Refuse options :class:`HiNASSplitDataset` cannot split by (a ``ValueError`` naming ``where.<key>``).

    The constructor calls it; so does the options check of ``basicsr train``, before anything is written.
    """
    where = where or f'datasets.{opt.get("phase", "?")}'
    split = opt.get('split')
    if split not in SPLITS:
        raise ValueError(f'{where}.split: {split!r} is not one of {", ".join(SPLITS)}')
    if not isinstance(opt.get('dataset'), dict) or 'type' not in opt['dataset']:
        raise ValueError(f'{where}.dataset: HiNASSplitDataset needs the inner dataset options, with a type')
    val_ratio = opt.get('val_ratio', 0.05)
    if not is_number(val_ratio) or not 0 <= val_ratio < 1:
        raise ValueError(f'{where}.val_ratio: expected a fraction 0 <= val_ratio < 1, got {val_ratio!r}')
    seed = opt.get('split_seed', 0)
    if not is_integer(seed):
        raise ValueError(f'{where}.split_seed: expected an integer, got {seed!r}')
    group_by = opt.get('group_by', GROUP_BY)
    if not isinstance(group_by, str):
        raise ValueError(f'{where}.group_by: expected a regular expression, got {group_by!r}')
    try:
        groups = re.compile(group_by).groups
    except re.error as err:
        raise ValueError(f'{where}.group_by: {group_by!r} is not a valid regular expression ({err})') from None
    if groups < 1:
        raise ValueError(f'{where}.group_by: {group_by!r} has no group; group 1 must name the source image')


@DATASET_REGISTRY.register()
class HiNASSplitDataset(data.Dataset):
    r"""One split of a training set, for HiNAS's bilevel search (Zhang et al., IJCV 2022).

    The inner dataset is built from ``dataset`` (any registered dataset; it inherits this entry's
    ``phase`` and ``scale`` unless it sets them). Samples are split by source image: keys like
    ``0001_s001`` (sub-images of one image) are grouped, so the held-out val split never shares an
    image with W or A. The same ``split_seed`` and ``val_ratio`` always give the same split.

    Args:
        opt (dict): Config. It contains the following keys:
            split (str): ``w`` (weight steps), ``a`` (architecture steps) or ``val`` (held-out); or ``all``:
                every sample in the inner dataset's order, the inner dataset itself (with ``load_all``: a training
                on whole images that decodes each once, its samples and numbers those of the inner dataset).
            dataset (dict): Options of the inner dataset, with its ``type``.
            val_ratio (float): Fraction of source images held out for val. Default: 0.05.
            split_seed (int): Seed of the split. Default: 0.
            group_by (str): Regex whose group 1 names the source image of a sample key (path stem);
                keys that do not match are their own image. Default: ``^(.+)_s\d+$``.
            load_all (bool): Read and decode every image of this split once, when the dataset is built, and
                keep the decoded images in memory (the reference's ``DATASET.LOAD_ALL``): for whole-image
                datasets, whose samples are crops of large images (a 2K PNG takes about 0.15 s to decode).
                Built before the DataLoader forks, the images are shared by its workers. Memory: the raw
                images of the split (DIV2K x4: about 2.5 GB for W or A). Default: false.
    """

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        self.opt = opt
        check_options(opt)
        split = opt['split']
        inner_opt = deepcopy(opt['dataset'])
        inner_opt.setdefault('name', f'{opt.get("name", "split")}_inner')
        for key in ('phase', 'scale'):
            if key in opt:
                inner_opt.setdefault(key, opt[key])
        self.dataset = build_dataset(inner_opt)
        backend = getattr(self.dataset, 'io_backend_opt', None)
        lmdb = isinstance(backend, dict) and backend.get('type') == 'lmdb'
        if lmdb and getattr(self.dataset, 'file_client', 0) is None:
            self.dataset.file_client = SharedFileClient(backend)
        self.split = split
        self.splits = {'all': list(range(len(self.dataset)))} if split == 'all' else split_indices(
            sample_keys(self.dataset), float(opt.get('val_ratio', 0.05)), int(opt.get('split_seed', 0)),
            opt.get('group_by', GROUP_BY))
        self.indices = self.splits[split]
        if not self.indices:
            raise ValueError(f'HiNASSplitDataset: split {split!r} is empty (val_ratio {opt.get("val_ratio", 0.05)})')
        self.load_all = opt.get('load_all', False)
        if not isinstance(self.load_all, bool):
            raise ValueError(f'datasets.{opt.get("phase", "?")}.load_all: expected true or false, got '
                             f'{self.load_all!r}')
        if self.load_all:
            self._load_all(backend)

    def _load_all(self, backend: Any) -> None:
        """Read every sample of the split once through a :class:`MemoryFileClient` (the random streams are
        restored after), which keeps the records and their decoded images."""
        client = getattr(self.dataset, 'file_client', 0)  # None: made on first use; 0: no BasicSR file client
        if not isinstance(backend, dict) or not (client is None or isinstance(client, SharedFileClient)):
            raise ValueError(f'datasets.{self.opt.get("phase", "?")}.load_all: the inner dataset '
                             f'{type(self.dataset).__name__} does not read through a BasicSR file client')

        self.dataset.file_client = MemoryFileClient(client or SharedFileClient(backend))
        with seeded_rngs(0):
            for index in self.indices:
                self.dataset[index]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)
