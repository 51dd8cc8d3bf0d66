"""Every supported layer, registered on import; see :mod:`symshape.layers.base` for conventions."""

from . import attention, conv, dense, elementwise, imported, merge, norm, pool, recurrent, reshape  # noqa: F401

# (the imports register the rules)
from .base import REGISTRY, Condition, Ctx, LayerOut, LayerRule, Shape, find_rule, rules

__all__ = ["REGISTRY", "Condition", "Ctx", "LayerOut", "LayerRule", "Shape", "find_rule", "rules"]
