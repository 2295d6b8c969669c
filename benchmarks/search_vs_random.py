"""Does the search find better networks than chance? ``hinas search-vs-random`` as a benchmark script.

    python benchmarks/search_vs_random.py --task sr --scale 2 --search-opt options/demo/search_sr_x2.yml \\
        --random 8 --seeds 2 --search-iters 1000 --train-iters 200 --out results/search_vs_random

See ``hinas_basicsr/research/search_vs_random.py`` for what it does and writes.
"""
from __future__ import annotations

import sys

from hinas_basicsr.cli import hinas_main

if __name__ == '__main__':
    sys.exit(hinas_main(['search-vs-random', *sys.argv[1:]]))
