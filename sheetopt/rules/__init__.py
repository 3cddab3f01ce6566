"""Optimizer rules, each written once, in two flavours: the lecture's and torch.optim's.

A module per family (``lecture``, ``sgd``, ``rmsprop`` with Adagrad and Adadelta, ``adam``
with AdamW, Adamax, NAdam and RAdam, ``asgd``, ``rprop``, ``adafactor``), the pieces they share
written once (``pieces``), and one table of every optimizer (``registry.REGISTRY``). See
``base.Rule`` for what a rule is.

The torch flavour follows torch.optim's single-tensor code paths operation by operation, so
that float64 results agree to the last bit in practice.
"""
from __future__ import annotations

from .base import Reset, Rule, TorchClass
from .pieces import ewma, lerp
from .registry import (FLAVORS, HYPER_RANGES, LECTURE_RULES, OPTIMIZERS, REGISTRY, RULE_ALIASES,
                       STATE_NAMES, TORCH_RULES, hyper_range, rule_for, state_label,
                       torch_classes)

__all__ = ["FLAVORS", "HYPER_RANGES", "hyper_range", "LECTURE_RULES", "OPTIMIZERS", "REGISTRY",
           "RULE_ALIASES", "Reset", "Rule",
           "STATE_NAMES", "TORCH_RULES", "TorchClass", "ewma", "lerp", "rule_for", "state_label",
           "torch_classes"]
