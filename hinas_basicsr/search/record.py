"""What a search did to find a genotype, in a file beside it: ``genotypes/best.search.json`` next to ``best.json``.

A genotype file (``format: hinas-genotype``) holds the architecture and the probabilities it was decoded from;
what a selection measured to choose it (the remedies' options, the PSNR cost of every removal, the PSNR of every
width path, the supernet's own probabilities) goes into its search record::

    {"format": "hinas-search-record", "version": 1, "selection": "perturbation", "seed": 0, "iteration": 1000,
     "selection_opt": {"type": "perturbation", "bn": "batch", ...}, "flops_opt": null, "seconds": 148.2,
     "supernet": {"alpha_softmax": ..., "transitions": ...}, "op_removal_psnr_cost": ..., "path_psnr": ...}

Written atomically, like the genotype; a genotype chosen by the largest alpha (the reference) has none.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hinas_basicsr.utils.fileio import write_json

RECORD_FORMAT = 'hinas-search-record'
RECORD_VERSION = 1


def record_path(genotype_path: str | os.PathLike) -> str:
    """The search record beside a genotype file: ``best.json`` -> ``best.search.json``."""
    root, _ = os.path.splitext(os.fspath(genotype_path))
    return f'{root}.search.json'


def save_record(genotype_path: str | os.PathLike, record: Mapping[str, Any]) -> str:
    """Write ``record`` beside the genotype file ``genotype_path`` (atomically); returns the record's path."""
    path = record_path(genotype_path)
    write_json(path, {'format': RECORD_FORMAT, 'version': RECORD_VERSION, **record})
    return path


def remove_record(genotype_path: str | os.PathLike) -> None:
    """Remove the search record beside ``genotype_path``, if any (the genotype there is being replaced)."""
    path = record_path(genotype_path)
    if os.path.isfile(path):
        os.remove(path)
