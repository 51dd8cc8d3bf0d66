"""Bring your own model: import PyTorch modules, Keras models and ONNX files as specs.

    imported = symshape.from_torch(model, torch.zeros(1, 3, 224, 224))   # torch.fx (torch.export fallback)
    imported = symshape.from_keras(keras_model)                         # get_config() graph, nested models
    imported = symshape.from_onnx(Path("model.onnx"))                   # the onnx package; dim_param -> symbols
    imported.spec, imported.derive(), imported.to_yaml()

Each importer needs its framework installed (none is a dependency of symshape). An op that cannot be
mapped raises :class:`UnsupportedOpError` naming the node, the op, its source and what is supported;
``allow_opaque=True`` keeps it as an ``Opaque`` layer with the shapes recorded at the example size.
"""

from __future__ import annotations

from typing import Any

from .common import Imported, SpecBuilder, UnsupportedOpError

__all__ = ["Imported", "SpecBuilder", "UnsupportedOpError", "from_keras", "from_onnx", "from_torch"]


def from_torch(module: Any, example_input: Any, *, allow_opaque: bool = False) -> Imported:
    """A torch ``nn.Module`` and an example input (batch axis first) -> an imported spec (torch vocabulary)."""
    from .torch import from_torch as run

    return run(module, example_input, allow_opaque=allow_opaque)


def from_keras(model: Any, *, allow_opaque: bool = False) -> Imported:
    """A keras 3 model (Sequential, functional, nested), or a path to a .keras/.json file -> an imported spec."""
    from .keras import from_keras as run

    return run(model, allow_opaque=allow_opaque)


def from_onnx(model: Any, *, allow_opaque: bool = False) -> Imported:
    """An ONNX file (a path) or ``onnx.ModelProto`` -> an imported spec (torch vocabulary, channels first)."""
    from .onnx import from_onnx as run

    return run(model, allow_opaque=allow_opaque)
