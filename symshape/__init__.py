"""symshape: a symbolic shape algebra for neural networks.

    d = symshape.derive("model.yaml")          # a path, YAML/JSON text or a dict -> Derivation
    d.closed_form, d.params, d.constraints()   # SymPy expressions and relations
    d.evaluate(I=32).to_dict()                 # exact integers and violations
    d.evaluate_batch({"I": np.arange(1, 10**6)})  # numpy columns and a validity mask
"""

from .derive import Derivation, LayerResult, NetCondition, clear_cache, derive
from .errors import BindingError, ExpressionError, LimitError, SpecError, SymshapeError
from .evaluate import BatchResult, Evaluation, LayerValues, Violation

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
]
