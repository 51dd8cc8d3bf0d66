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


def test_limits_live_in_one_table() -> None:
    from symshape import limits, spec

    assert spec.Limits is limits.Limits and spec.LIMITS is limits.LIMITS
    table = dict(limits.LIMITS.table())
    for name in ("max_bytes", "max_digits", "max_exponent", "max_degree", "max_terms", "max_bits", "seconds",
                 "max_nesting", "max_nodes", "max_batch"):
        assert name in table and f"``{name}``" in limits.__doc__, name
    previous = limits.set_limits(max_bits=100)
    try:
        assert limits.current().max_bits == 100
        d = symshape.derive({"framework": "keras", "input": ["I"], "layers": [{"Dense": {"units": 4}}]})
        with __import__("pytest").raises(errors.LimitError, match="100 bits"):
            d.evaluate(I=2**200)
    finally:
        limits.set_limits(max_bits=previous.max_bits)
    assert limits.current() == limits.LIMITS
