"""Every bound symshape puts on its work, in one place.

Specs and requests are untrusted: each public entry point (``load_spec``, ``derive``, ``to_dict``,
the text views, ``evaluate``, ``evaluate_batch``, the CLI) bounds what it reads, what it builds and
how long it runs, and refuses with a :class:`~symshape.errors.LimitError` (exit status 2 in the CLI,
RESOURCE_EXHAUSTED over gRPC) rather than crash or hang.

    ==========================  ============  ===================================================
    limit                       default       what it bounds
    ==========================  ============  ===================================================
    ``max_bytes``               2,000,000     spec text or file size (characters)
    ``max_nodes``               200,000       values in a document, YAML aliases expanded
    ``max_nesting``             64            nesting of lists/mappings in a document
    ``max_layers``              5,000         layers in a spec
    ``max_symbols``             20,000        declared symbols
    ``max_rank``                8             axes of an input shape
    ``max_digits``              60            digits of an integer literal (YAML, JSON or text)
    ``max_expression_length``   2,000         characters of one expression
    ``max_expression_depth``    64            parentheses/unary nesting of one expression
    ``max_exponent``            64            a literal exponent ``x**k``
    ``max_degree``              64            total degree of a parsed expression (I**8 * J**8: 16)
    ``max_terms``               512           terms of a parsed expression once expanded
    ``max_expand_terms``        2,000         terms a view expands a total into (else: unexpanded)
    ``max_bits``                4,096         bits of any exact result (about 1,233 digits)
    ``seconds``                 10.0          wall time of one symbolic call (derive, to_dict, a
                                              view): then LimitError
    ``max_batch``               100,000,000   bindings in one batch
    ==========================  ============  ===================================================

``max_bits`` keeps every exact integer printable (Python refuses ``str`` of ints over 4,300 digits)
and every exact evaluation fast; a result over it is refused, not rounded. Batch evaluation runs in
int64 and flags rows whose exact value does not fit (:attr:`symshape.evaluate.BatchResult.overflow`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["LIMITS", "Limits", "current", "set_limits"]


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2_000_000
    max_nodes: int = 200_000
    max_nesting: int = 64
    max_layers: int = 5_000
    max_symbols: int = 20_000
    max_rank: int = 8
    max_digits: int = 60
    max_expression_length: int = 2_000
    max_expression_depth: int = 64
    max_exponent: int = 64
    max_degree: int = 64
    max_terms: int = 512
    max_expand_terms: int = 2_000
    max_bits: int = 4_096
    seconds: float = 10.0
    max_batch: int = 100_000_000

    def table(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


LIMITS = Limits()
_current = [LIMITS]


def current() -> Limits:
    """The limits in force (the defaults unless :func:`set_limits` changed them)."""
    return _current[0]


def set_limits(**changes: Any) -> Limits:
    """Change some limits process-wide (e.g. ``set_limits(seconds=60)``); returns the previous ones."""
    previous = _current[0]
    _current[0] = replace(previous, **changes)
    return previous
