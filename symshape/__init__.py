"""symshape: a symbolic shape algebra for neural networks."""

from .derive import Derivation, derive
from .errors import BindingError, ExpressionError, LimitError, SpecError, SymshapeError

__version__ = "0.1.0"
__all__ = ["BindingError", "Derivation", "ExpressionError", "LimitError", "SpecError", "SymshapeError",
           "__version__", "derive"]
