"""Test helpers of the supernet as a judge: a genotype's one-hot net inside the supernet, and its PSNRs."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from torch import nn

from hinas_basicsr.search.judge import SearchJudge, one_hot_weights
from hinas_basicsr.space.genotype import Genotype


@contextlib.contextmanager
def inherited(net: nn.Module, genotype: Genotype) -> Iterator[None]:
    """Within: ``net`` (a HiNASSupernet) computes the genotype's one-hot net (:func:`one_hot_weights`)."""
    cells, transitions = one_hot_weights(genotype)
    device = next(net.parameters()).device
    with net.fixed_architecture(cells.to(device), transitions.to(device)):
        yield


def inherited_psnrs(judge: SearchJudge, genotypes: Iterable[Genotype]) -> list[float]:
    """:meth:`SearchJudge.inherited_psnr` of each genotype."""
    return [judge.inherited_psnr(g) for g in genotypes]
