"""The ``ops`` namespace for torch tensors, the same functions as ``sheetopt.ops.numpy_ops``.

Rules call these on a mix of tensors and plain numbers (a step number, a spec's constant), so
each function accepts numbers too and answers with a tensor only when one is involved.
"""
from __future__ import annotations

import math
from functools import lru_cache
from types import SimpleNamespace

from .device import require_torch


@lru_cache(maxsize=1)
def torch_ops() -> SimpleNamespace:
    """The namespace (built on first use, so that torch is imported only when needed)."""
    torch = require_torch()
    Tensor = torch.Tensor

    def tensor_like(value, *others):
        if isinstance(value, Tensor):
            return value
        for other in others:
            if isinstance(other, Tensor):
                return torch.as_tensor(value, dtype=other.dtype, device=other.device)
        return None

    def unary(tensor_fn, number_fn):
        def fn(value):
            if isinstance(value, Tensor):
                return tensor_fn(value)
            return number_fn(value)
        return fn

    def binary(tensor_fn, number_fn):
        def fn(a, b):
            if isinstance(a, Tensor) or isinstance(b, Tensor):
                return tensor_fn(tensor_like(a, b), tensor_like(b, a))
            return number_fn(a, b)
        return fn

    def where(cond, yes, no):
        if not isinstance(cond, Tensor):
            return yes if cond else no
        yes, no = tensor_like(yes, no, cond), tensor_like(no, yes, cond)
        if not yes.is_floating_point():
            yes = yes.to(no.dtype if no.is_floating_point() else torch.get_default_dtype())
        return torch.where(cond, yes, no.to(yes.dtype))

    def broadcast(value, like):
        if not isinstance(like, Tensor):
            return value
        return torch.as_tensor(value, dtype=like.dtype, device=like.device).expand(like.shape)

    return SimpleNamespace(
        name="torch",
        sqrt=unary(torch.sqrt, math.sqrt),
        cos=unary(torch.cos, math.cos),
        sin=unary(torch.sin, math.sin),
        exp=unary(torch.exp, math.exp),
        log=unary(torch.log, math.log),
        maximum=binary(torch.maximum, max),
        relu=unary(torch.relu, lambda v: max(0.0, v)),  # autograd: 0 at the kink, as nn.ReLU
        minimum=binary(torch.minimum, min),
        abs=unary(torch.abs, abs),
        floor=unary(torch.floor, math.floor),
        sign=unary(torch.sign, lambda v: float((v > 0) - (v < 0)) if v == v else v),
        broadcast=broadcast,
        power=binary(torch.pow, lambda a, b: a ** b),
        where=where,
        eq=binary(torch.eq, lambda a, b: a == b),
        pi=math.pi,
    )
