"""symshape: a symbolic shape algebra for neural networks.

    d = symshape.derive(Path("model.yaml"))     # a Path, YAML/JSON text or a dict -> Derivation
    d.closed_form, d.params, d.constraints()   # SymPy expressions and relations
    d.evaluate(I=32).to_dict()                 # exact integers and violations
    d.evaluate_batch({"I": np.arange(1, 10**6)})  # numpy columns and a validity mask
    symshape.document(Path("model.yaml"), format="html")  # the derivation document (symshape[docs])

The names below are imported on first use, so `import symshape` (and `symshape --version`) does not
load SymPy or numpy.
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
import types as _types
import typing as _typing

__version__ = "0.1.0"
__all__ = [
    "BatchResult",
    "BindingError",
    "Derivation",
    "Evaluation",
    "ExpressionError",
    "LayerResult",
    "LayerValues",
    "LimitError",
    "NetCondition",
    "SpecError",
    "SymshapeError",
    "Violation",
    "__version__",
    "clear_cache",
    "derive",
    "document",
    "from_keras",
    "from_onnx",
    "from_torch",
]

_HOME = {  # public name -> the submodule defining it
    "Derivation": "derive", "LayerResult": "derive", "NetCondition": "derive", "clear_cache": "derive",
    "derive": "derive", "document": "docs",
    "from_keras": "importers", "from_onnx": "importers", "from_torch": "importers",
    "BindingError": "errors", "ExpressionError": "errors", "LimitError": "errors", "SpecError": "errors",
    "SymshapeError": "errors",
    "BatchResult": "evaluate", "Evaluation": "evaluate", "LayerValues": "evaluate", "Violation": "evaluate",
}

if _typing.TYPE_CHECKING:
    from .derive import Derivation, LayerResult, NetCondition, clear_cache, derive
    from .docs import document
    from .errors import BindingError, ExpressionError, LimitError, SpecError, SymshapeError
    from .evaluate import BatchResult, Evaluation, LayerValues, Violation
    from .importers import from_keras, from_onnx, from_torch


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'symshape' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """Keeps `symshape.derive` the function: importing the submodule `symshape.derive` would
    otherwise rebind the package attribute to the module."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _HOME and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
