"""The research harness: search-vs-random, random genotypes, the remedies as option overrides.

Nothing in the plugin core (archs, models, data, losses, space, search, utils) nor the user's tools imports it.
"""
