"""The public API: __all__ is complete and importable, and the error family is one tree."""

from __future__ import annotations

import types

import symshape
from symshape import errors


def test_all_names_exist() -> None:
    for name in symshape.__all__:
        assert hasattr(symshape, name), name


def test_all_is_complete() -> None:
    public = {n for n in dir(symshape) if not n.startswith("_")
              and not isinstance(getattr(symshape, n), types.ModuleType)}
    assert public <= set(symshape.__all__) | {"annotations"}, public - set(symshape.__all__)


def test_one_error_family() -> None:
    for cls in (errors.SpecError, errors.ExpressionError, errors.LimitError, errors.BindingError):
        assert issubclass(cls, errors.SymshapeError)
    assert issubclass(errors.ExpressionError, errors.SpecError) and issubclass(errors.LimitError, errors.SpecError)
