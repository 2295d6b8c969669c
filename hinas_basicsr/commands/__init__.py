"""Subcommands of the ``hinas`` console script, one module each (see ``hinas_basicsr.cli``)."""
