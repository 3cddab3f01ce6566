"""The renderings that run a sheet: the compiled kernel (``compiled``) and torch tensors
(``torch``), beside the numpy loop of ``sheetopt.protocol.engine``."""
