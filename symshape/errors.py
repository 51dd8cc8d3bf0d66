"""One error family for everything symshape refuses.

    SymshapeError                 base: catch this to catch them all
    ├── SpecError                 the spec is malformed: where (file, line, layer, argument) and what
    │   └── ExpressionError       an expression did not parse (position, what was expected)
    ├── BindingError              evaluation values are missing, unknown or not integers
    └── LimitError                a size limit (layers, expression length/depth, batch) was exceeded

Inner code raises short messages with whatever context it knows; the public entry points
(`derive`, `Derivation.evaluate`) add the rest through `SpecError.at(...)` so that the final
message names the file, the line, the layer index and name, and the argument.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

__all__ = [
    "BindingError",
    "ExpressionError",
    "LimitError",
    "Location",
    "SpecError",
    "SymshapeError",
    "did_you_mean",
]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f" (did you mean '{lowered[word.lower()]}'?)"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)]
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass(frozen=True)
class Location:
    """Where in a spec something went wrong; every part optional."""

    source: str | None = None  # file path, "<string>", or a request field such as "spec"
    line: int | None = None
    layer_index: int | None = None
    layer_name: str | None = None
    layer_kind: str | None = None
    argument: str | None = None
    path: tuple[str | int, ...] = field(default=())  # path inside the document, for line lookup

    def render(self) -> str:
        parts: list[str] = []
        if self.source:
            parts.append(f"{self.source}:{self.line}" if self.line else self.source)
        elif self.line:
            parts.append(f"line {self.line}")
        if self.layer_index is not None:
            desc = f"layer {self.layer_index}"
            if self.layer_name:
                desc += f" '{self.layer_name}'"
            if self.layer_kind:
                desc += f" ({self.layer_kind})"
            parts.append(desc)
        if self.argument:
            parts.append(f"argument '{self.argument}'")
        return ": ".join(parts)


class SymshapeError(Exception):
    """Base of every error symshape raises on purpose."""


class SpecError(SymshapeError, ValueError):
    """A spec (file, string, dict or request) that cannot be derived."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location or Location()
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.location.render()
        return f"{where}: {self.message}" if where else self.message

    def at(self, **where: object) -> SpecError:
        """A copy with more context; context already present wins (it is more precise)."""
        merged = {k: v for k, v in where.items() if getattr(self.location, k) in (None, ())}
        err = copy.copy(self)
        err.location = replace(self.location, **merged)  # type: ignore[arg-type]
        err.args = (str(err),)
        return err


class ExpressionError(SpecError):
    """An expression that our grammar does not accept."""

    def __init__(self, message: str, text: str = "", position: int | None = None,
                 location: Location | None = None) -> None:
        self.text = text
        self.position = position
        if text and position is not None:
            message = f"{message} in {text!r} at column {position + 1}"
        elif text:
            message = f"{message} in {text!r}"
        super().__init__(message, location)


class BindingError(SymshapeError, ValueError):
    """Values given for evaluation that cannot be used."""


class LimitError(SpecError):
    """A spec or request over one of the size limits."""
