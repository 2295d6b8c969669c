"""The search's convergence numbers on a hand-made pair of genotypes."""
import copy
import io
import logging

from hinas_basicsr.search.convergence import alpha_max_mean, genotype_changes, stability_line
from hinas_basicsr.space.genotype import Genotype

OPS = ('conv_3x3', 'skip_connect', 'none')


def genotype(cells, widths):
    return Genotype(task='sr', scale=2, num_in_ch=3, num_nodes=2, width_factors=(1, 2), ops=OPS,
                    cells=cells, widths=widths)


# node 0: inputs {0, 1}; node 1: inputs {1, 2}
A = genotype(((('conv_3x3', 0), ('skip_connect', 1), ('conv_3x3', 1), ('conv_3x3', 2)),
              (('conv_3x3', 0), ('conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 1))), (0, 1))
# layer 1, node 0: same inputs in swapped order, input 1's op changed; node 1: input 2 -> 0 (1 edge), kept input 1.
# layer 2, node 1: inputs {0, 1} -> {2, 1}: one edge changed, input 1's op changed. widths: layer 2 changed.
B = genotype(((('conv_3x3', 1), ('conv_3x3', 0), ('conv_3x3', 1), ('skip_connect', 0)),
              (('conv_3x3', 0), ('conv_3x3', 1), ('skip_connect', 2), ('conv_3x3', 1))), (0, 0))


def test_changes_of_a_hand_made_pair():
    assert genotype_changes(A, B) == {'edges_changed': 2, 'ops_changed': 2, 'widths_changed': 1}
    assert genotype_changes(A, A) == {'edges_changed': 0, 'ops_changed': 0, 'widths_changed': 0}


def test_alpha_max_mean():
    alpha = [[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]], [[1 / 3] * 3, [0.2, 0.7, 0.1]]]
    assert abs(alpha_max_mean(alpha) - (0.5 + 0.8 + 1 / 3 + 0.7) / 4) < 1e-12


def test_stability_line():
    assert 'stability not judged' in stability_line([A, A])
    assert 'was stable over the last 3' in stability_line([B, A, A, A])
    line = stability_line([A, A, B])
    assert 'NOT stable' in line and '2 edges, 2 ops, 1 widths' in line


def with_alpha(g, alpha):
    """A copy of ``g`` carrying ``alpha`` as its search's alpha_softmax (not checked against its cells)."""
    copied = copy.copy(g)
    object.__setattr__(copied, 'search', {'alpha_softmax': alpha, 'transitions': None})
    return copied


def test_search_model_logs_convergence():
    """log_convergence: the numbers at each validation, one stability line at total_iter (not repeated)."""
    from hinas_basicsr.models.hinas_search_model import HiNASSearchModel

    class Recorder:
        def __init__(self):
            self.scalars = []

        def add_scalar(self, tag, value, step):
            self.scalars.append((tag, value, step))

    model = HiNASSearchModel.__new__(HiNASSearchModel)  # log_convergence needs opt and the history only
    model.opt = {'train': {'total_iter': 30}}
    model.genotype_history = []  # as init_training_settings sets it
    alpha = [[[0.5, 0.25, 0.25]] * 5] * 2
    tb = Recorder()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger('basicsr')  # BasicSR's get_root_logger; it does not propagate to pytest's
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        # 30 twice: BasicSR validates at total_iter in the loop and once more after it
        for it, g in ((10, A), (20, B), (30, B), (30, B)):
            model.log_convergence(with_alpha(g, alpha), it, tb)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = stream.getvalue()
    assert 'Convergence at iter 20: alpha_max_mean 0.5000, edges_changed 2, ops_changed 2, widths_changed 1' in text
    assert text.count('Search convergence:') == 1 and 'NOT stable' in text
    assert ('convergence/widths_changed', 1, 20) in tb.scalars and ('convergence/alpha_max_mean', 0.5, 10) in tb.scalars
    assert [h[0] for h in model.genotype_history] == [10, 20, 30]
