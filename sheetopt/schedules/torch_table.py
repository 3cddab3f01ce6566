"""Every torch.optim.lr_scheduler class sheetopt has, by torch's name, and a spec's scheduler
table built into a :class:`Node`."""
from __future__ import annotations

from typing import Mapping

from . import torch_composite, torch_cosine, torch_cyclic, torch_decay, torch_plateau
from .torch_base import Node, TorchScheduler

# every torch.optim.lr_scheduler class sheetopt has, by torch's name
TORCH_SCHEDULERS: dict[str, TorchScheduler] = {
    cls.name: cls for cls in (*torch_decay.CLASSES, *torch_cosine.CLASSES,
                              *torch_cyclic.CLASSES, *torch_plateau.CLASSES,
                              *torch_composite.CLASSES)}


def build_node(table: Mapping) -> Node:
    """A spec's scheduler table (already checked) as a Node with torch's defaults filled in."""
    cls = TORCH_SCHEDULERS[table["torch"]]
    args = {key: table.get(key, default) for key, default in cls.args.items()}
    children = ()
    if cls.composite:
        children = tuple(build_node(child) for child in table["schedulers"])
        args.pop("schedulers")
    return Node(cls, args, children)
