"""Sweeps: many configurations of one sheet at once (``sweep``), on numpy or torch."""
