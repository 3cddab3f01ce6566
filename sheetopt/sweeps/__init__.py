"""Sweeps: many configurations of one sheet at once (``sweep``), on numpy or torch; what they
vary by name (``swept``) and what ranks their configurations (``objective``)."""
