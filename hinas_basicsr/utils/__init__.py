"""Small helpers at the bottom of the package: atomic file writes, YAML, checkpoints, RNG streams, argument checks."""
