"""How a refused catalog is reported: one `CatalogIssue` per problem (file, line,
product, field, reason) and one `CatalogError` that carries them all, so that a catalog
is refused whole with every problem listed at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic_core import PydanticCustomError

__all__ = ["CatalogError", "CatalogIssue", "describe", "fail"]


@dataclass(frozen=True, slots=True)
class CatalogIssue:
    """One problem in a catalog file.

    `product` is e.g. "plan P58" or "pack #3" (when the pack has no usable code);
    `field` is a dotted path inside the product or the top level, e.g. "prices.voice_fen_per_min",
    "apps[1]", "night_window.start".
    """

    source: str
    reason: str
    product: str | None = None
    field: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.line is not None:
            parts.append(
                f"line {self.line}" + (f", column {self.column}" if self.column is not None else "")
            )
        if self.product is not None:
            parts.append(self.product)
        if self.field is not None:
            parts.append(f"field {self.field}")
        parts.append(self.reason)
        return ": ".join(parts)


class CatalogError(ValueError):
    """A catalog was refused. `errors` lists every problem; the message joins them, one a line."""

    def __init__(self, source: str, errors: Sequence[CatalogIssue]) -> None:
        self.source = source
        self.errors: list[CatalogIssue] = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    @property
    def messages(self) -> list[str]:
        return [str(e) for e in self.errors]


def describe(value: object) -> str:
    """How a YAML value is shown in a message."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean; YAML reads yes/no/on/off as booleans)"
    if isinstance(value, int | float):
        return f"{value} (a number)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, datetime | date):
        return f"{value.isoformat()} (a date; quote it to make it a string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{value!r} ({type(value).__name__})"


def fail(reason: str) -> PydanticCustomError:
    """A validator's refusal whose message pydantic passes through unchanged."""
    return PydanticCustomError("catalog", "{reason}", {"reason": reason})
