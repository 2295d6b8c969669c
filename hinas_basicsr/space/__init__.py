"""The search space and its values: the trellis geometry, the genotype (JSON in and out), the path
probabilities and the genotype drawing. Below the networks: it imports no network."""
